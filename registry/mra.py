"""Mutual recognition agreements (MRAs) between two customs administrations, as credentials.

An MRA is a VC 2.0 credential of type ``MutualRecognitionAgreement`` whose subject is the
agreement: the two parties, what each recognises of the other (programmes and levels,
credential types, operator roles, benefit codes), when it takes effect and ends, and the
notice period for termination. Both parties sign it, as a Data Integrity proof set (VC Data
Integrity 1.0 §4.2, not a chain): A proposes (:func:`build_mra`, :func:`propose_mra`), B
reviews and countersigns (:func:`countersign_mra`), both store the same document, and
:func:`verify_mra` accepts it only when both signed. Termination notices, whether an
agreement is in force and whether it covers a credential are in :mod:`registry.mra_recognition`.

Pure: no I/O, no clock (``now``/``created`` come from the caller); the only read is the
bundled subject schema, once per process. Keys come from the caller's
:class:`~credentials.data_integrity.VerificationMethodResolver`; storing agreements and
talking to the partner node are the node's business.

Decisions:

- The subject ``id`` is the agreement id (a URL without fragment, e.g. ``urn:uuid:...``); the
  credential has no ``id`` of its own. Proof ids default to ``<agreement id>#proposal`` and
  ``<agreement id>#countersignature``.
- ``issuer`` is the proposer and must be a party; ``validFrom``/``validUntil`` repeat
  ``effectiveFrom``/``effectiveUntil`` and must equal them.
- ``recognitions`` holds one object per direction (one or two: an MRA may be one-way):
  ``recognisingParty`` grants ``benefits`` to credentials issued by ``issuingParty``.
  Programmes, levels and roles use the AEO vocabulary of :mod:`credentials.aeo` (levels
  checked per programme); :func:`validate_mra_subject` adds the rules a schema cannot state.
- A signer is the controller its resolver reports for the proof's method; at signing time
  (no resolver) it is the method's DID, the part before ``#`` (:func:`signer_of`). Every
  proof must verify, every signer must be a party, and both parties must have signed: a
  stranger's extra proof is refused, not ignored. :func:`countersign_mra` verifies the
  proposer's proof first (it takes a resolver), so nobody countersigns a forged proposal.
- :func:`verify_mra` checks the agreement and its signatures, not dates: a signed agreement
  that is not yet, or no longer, in force still verifies.

Example:
    >>> from datetime import UTC, datetime
    >>> from credentials.data_integrity import DIDKeyResolver
    >>> from credentials.keys import PrivateKey
    >>> eu, us = PrivateKey.from_seed(bytes(32)), PrivateKey.from_seed(bytes([1]) * 32)
    >>> direction = {"recognisingParty": us.public_key.did, "issuingParty": eu.public_key.did,
    ...     "programmes": [{"programme": "EU-AEO", "levels": ["AEOS", "AEOF"]}],
    ...     "credentialTypes": ["AEOCertificate"], "roles": ["exporter"],
    ...     "benefits": ["reduced-examination"]}
    >>> unsigned = build_mra(agreement_id="urn:uuid:0b8e6a50-8f5e-4b7e-9d1a-1f6f6d1c0001",
    ...     parties=[eu.public_key.did, us.public_key.did], recognitions=[direction],
    ...     effective_from=datetime(2027, 1, 1, tzinfo=UTC), notice_period_days=90,
    ...     proposer=eu.public_key.did)
    >>> t = datetime(2026, 12, 1, tzinfo=UTC)
    >>> proposed = propose_mra(unsigned, eu,
    ...     verification_method=eu.public_key.verification_method_id, created=t)
    >>> signed = countersign_mra(proposed, us, resolver=DIDKeyResolver(),
    ...     verification_method=us.public_key.verification_method_id, created=t)
    >>> verify_mra(signed, resolver=DIDKeyResolver(), now=t).notice_period_days
    90

"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from credentials.data_integrity import (
    ProofOptions,
    VerificationMethodResolver,
    add_proof,
    get_proof_outcomes,
    proofs_of,
)
from credentials.datetimes import format_datetime, parse_datetime, require_aware
from credentials.errors import MalformedInputError, VerificationError
from credentials.keys import PrivateKey
from credentials.model import VC_V2_CONTEXT, VerifiableCredential
from credentials.strict_json import JSONObject, JSONValue
from registry._mra_schema import mra_subject_schema, validate_mra_subject

__all__ = [
    "BENEFIT_CODES",
    "MRA_CONTEXT_URL",
    "MRA_CREDENTIAL_TYPE",
    "MutualRecognitionAgreement",
    "ProgrammeScope",
    "Recognition",
    "build_mra",
    "countersign_mra",
    "get_mra_signature_status",
    "mra_subject_schema",
    "propose_mra",
    "signer_of",
    "validate_mra_subject",
    "verify_mra",
    "verify_party_proofs",
]

MRA_CREDENTIAL_TYPE = "MutualRecognitionAgreement"
"""The credential type (and the subject's ``type``), next to ``VerifiableCredential``."""

MRA_CONTEXT_URL = "https://ns.trustlane.org/mra/v1"
"""The URL of the MRA JSON-LD context (second ``@context`` entry); the node serves it."""

BENEFIT_CODES = frozenset(
    {
        # A lower risk score: fewer physical and non-intrusive examinations.
        "reduced-examination",
        # Priority processing when the consignment is selected for a control.
        "priority-processing",
        # Fewer documentary checks of the declaration.
        "fewer-documentary-checks",
        # Scan attestations from the issuing party's devices count (no second scan).
        "origin-scan-recognised",
        # Priority clearance when trade resumes after a disruption (WCO SAFE).
        "business-continuity",
    }
)
"""The facilitation an MRA may grant; the risk core maps each code to its policy."""


@dataclass(frozen=True)
class ProgrammeScope:
    """One programme recognised in one direction, with the levels recognised."""

    programme: str
    levels: frozenset[str]


@dataclass(frozen=True)
class Recognition:
    """One direction of an MRA: what ``recognising_party`` grants to ``issuing_party``'s traders.

    Attributes:
        recognising_party: The administration that grants the benefits (the verifier).
        issuing_party: The administration whose credentials are recognised.
        programmes: The programmes recognised, each with its recognised levels.
        credential_types: The credential types covered (e.g. ``AEOCertificate``).
        roles: The operator roles covered.
        benefits: The benefit codes granted (a subset of :data:`BENEFIT_CODES`).

    """

    recognising_party: str
    issuing_party: str
    programmes: tuple[ProgrammeScope, ...]
    credential_types: frozenset[str]
    roles: frozenset[str]
    benefits: frozenset[str]

    def levels_of(self, programme: str) -> frozenset[str]:
        """Return the recognised levels of ``programme`` (empty when it is not recognised)."""
        return next((s.levels for s in self.programmes if s.programme == programme), frozenset())


def _strs(value: JSONValue) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _recognition(raw: JSONObject) -> Recognition:
    scopes = raw.get("programmes")
    return Recognition(
        recognising_party=str(raw["recognisingParty"]),
        issuing_party=str(raw["issuingParty"]),
        programmes=tuple(
            ProgrammeScope(str(s["programme"]), frozenset(_strs(s["levels"])))
            for s in (scopes if isinstance(scopes, list) else [])
            if isinstance(s, dict)
        ),
        credential_types=frozenset(_strs(raw["credentialTypes"])),
        roles=frozenset(_strs(raw["roles"])),
        benefits=frozenset(_strs(raw["benefits"])),
    )


def _bad(message: str, code: str = "INVALID_MRA") -> MalformedInputError:
    return MalformedInputError(message, code=code)


def _single_subject(credential: VerifiableCredential, kind: str) -> JSONObject:
    if kind not in credential.types or MRA_CONTEXT_URL not in credential.contexts:
        raise _bad(
            f"not a {kind} credential (needs @context {MRA_CONTEXT_URL} and type {kind})",
            code="NOT_MRA_CREDENTIAL",
        )
    if len(credential.subjects) != 1:
        raise _bad(f"a {kind} must have exactly one credentialSubject")
    return credential.subjects[0]


@dataclass(frozen=True)
class MutualRecognitionAgreement:
    """A parsed MRA. Build it with :func:`verify_mra`; ``from_dict`` checks no proof.

    Attributes:
        id: The agreement id (the subject's ``id``).
        parties: The two parties' DIDs, in document order.
        proposer: The party that proposed it (the credential's ``issuer``).
        recognitions: One entry per direction (one or two).
        effective_from: When the agreement takes effect.
        effective_until: When it ends by itself, if it does.
        notice_period_days: Days between a termination notice and the end.
        document: The whole signed document, as parsed (not compared).

    """

    id: str
    parties: tuple[str, str]
    proposer: str
    recognitions: tuple[Recognition, ...]
    effective_from: datetime
    effective_until: datetime | None
    notice_period_days: int
    document: JSONObject = field(compare=False, repr=False)

    def __post_init__(self) -> None:
        require_aware(self.effective_from)
        if self.effective_until is not None:
            require_aware(self.effective_until)
        if len(set(self.parties)) != 2 or self.proposer not in self.parties:
            raise ValueError("an MRA has two distinct parties, one of which proposed it")

    @classmethod
    def from_dict(cls, document: JSONObject) -> MutualRecognitionAgreement:
        """Check the structure of an MRA document; proofs are NOT checked.

        Use it on documents this node verified with :func:`verify_mra` and stored; anything
        received goes through :func:`verify_mra`.

        Raises:
            SchemaValidationError: The subject breaks the schema or its rules.
            MalformedInputError: Not a VC 2.0 ``MutualRecognitionAgreement``, the issuer is
                not a party, or ``validFrom``/``validUntil`` disagree with the subject.

        """
        credential = VerifiableCredential.from_dict(document)
        subject = _single_subject(credential, MRA_CREDENTIAL_TYPE)
        validate_mra_subject(subject)
        parties = _strs(subject["parties"])
        if credential.issuer not in parties:
            raise _bad("the issuer must be one of the parties (the proposer)", "INVALID_ISSUER")
        effective_from = parse_datetime(subject["effectiveFrom"])
        until = subject.get("effectiveUntil")
        effective_until = None if until is None else parse_datetime(until)
        days = subject["noticePeriodDays"]  # An integer (90.0 counts as one in JSON Schema).
        if (credential.valid_from, credential.valid_until) != (effective_from, effective_until):
            raise _bad("validFrom/validUntil must equal effectiveFrom/effectiveUntil")
        return cls(
            id=str(subject["id"]),
            parties=(parties[0], parties[1]),
            proposer=credential.issuer,
            recognitions=tuple(
                _recognition(r) for r in _list(subject["recognitions"]) if isinstance(r, dict)
            ),
            effective_from=effective_from,
            effective_until=effective_until,
            notice_period_days=int(days) if isinstance(days, int | float) else 0,
            document=document,
        )

    @property
    def notice_period(self) -> timedelta:
        """The notice period as a duration."""
        return timedelta(days=self.notice_period_days)

    def recognition_for(self, recognising_party: str, issuing_party: str) -> Recognition | None:
        """Return the direction in which ``recognising_party`` recognises ``issuing_party``."""
        return next(
            (
                r
                for r in self.recognitions
                if (r.recognising_party, r.issuing_party) == (recognising_party, issuing_party)
            ),
            None,
        )


def _list(value: JSONValue) -> list[JSONValue]:
    return value if isinstance(value, list) else []


def build_mra(
    *,
    agreement_id: str,
    parties: Sequence[str],
    recognitions: Sequence[JSONObject],
    effective_from: datetime,
    effective_until: datetime | None = None,
    notice_period_days: int,
    proposer: str,
) -> JSONObject:
    """Build an unsigned VC 2.0 ``MutualRecognitionAgreement`` credential.

    Args:
        agreement_id: The agreement's URL (``urn:uuid:...``), no fragment.
        parties: The two parties' DIDs (``did:web`` or ``did:key``).
        recognitions: One or two direction objects (``recognisingParty``, ``issuingParty``,
            ``programmes``, ``credentialTypes``, ``roles``, ``benefits``); copied.
        effective_from: When the agreement takes effect (aware; written in whole seconds).
        effective_until: When it ends by itself (aware), or None.
        notice_period_days: Days from a termination notice to the end (0 to 730).
        proposer: The party proposing it; it becomes the ``issuer``.

    Returns:
        The credential, ready for :func:`propose_mra`.

    Raises:
        SchemaValidationError: The subject breaks the schema or its rules (all listed).
        MalformedInputError: The proposer is not a party.
        ValueError: A naive datetime.

    """
    subject: JSONObject = {
        "id": agreement_id,
        "type": MRA_CREDENTIAL_TYPE,
        "parties": list(parties),
        "recognitions": [copy.deepcopy(r) for r in recognitions],
        "effectiveFrom": format_datetime(effective_from),
    }
    if effective_until is not None:
        subject["effectiveUntil"] = format_datetime(effective_until)
    subject["noticePeriodDays"] = notice_period_days
    credential: JSONObject = {
        "@context": [VC_V2_CONTEXT, MRA_CONTEXT_URL],
        "type": ["VerifiableCredential", MRA_CREDENTIAL_TYPE],
        "issuer": proposer,
        "validFrom": subject["effectiveFrom"],
    }
    if effective_until is not None:
        credential["validUntil"] = subject["effectiveUntil"]
    credential["credentialSubject"] = subject
    validate_mra_subject(subject)  # First, so that every subject error is reported at once.
    MutualRecognitionAgreement.from_dict(credential)
    return credential


def signer_of(verification_method: str) -> str:
    """Return the DID that controls ``verification_method`` by its name: the part before ``#``.

    Used at signing time, when no resolver is at hand; verification uses the controller the
    resolver reports.
    """
    return verification_method.partition("#")[0]


def verify_party_proofs(
    document: JSONObject,
    parties: Sequence[str],
    *,
    resolver: VerificationMethodResolver,
    now: datetime,
) -> dict[str, bool]:
    """Verify every ``assertionMethod`` proof of ``document`` and say which parties signed.

    A document without proofs gives all False. Unlike :func:`get_mra_signature_status`,
    nothing is ignored: one bad proof or one signer outside ``parties`` fails it all.

    Args:
        document: The signed document.
        parties: The DIDs allowed to sign.
        resolver: Resolves the verification methods.
        now: The reference time for ``created``/``expires`` (aware).

    Returns:
        Each party mapped to True when it controls the key of a verified proof.

    Raises:
        MalformedInputError: The ``proof`` member is malformed.
        VerificationError: ``MRA_PROOF_INVALID`` (a proof fails or cannot be checked) or
            ``MRA_UNEXPECTED_SIGNER``.

    """
    status = dict.fromkeys(parties, False)
    if not proofs_of(document):
        return status
    outcomes = get_proof_outcomes(document, resolver=resolver, now=require_aware(now))
    for outcome in outcomes:
        if not outcome.verified or outcome.method is None:
            error = outcome.error
            reason = f"{error.code}: {error.message}" if error else "not verified"
            raise VerificationError(
                f"proof {outcome.index} does not verify ({reason})", code="MRA_PROOF_INVALID"
            )
        signer = outcome.method.controller
        if signer not in status:
            raise VerificationError(
                f"proof {outcome.index} is signed by {signer}, who is not a party",
                code="MRA_UNEXPECTED_SIGNER",
            )
        status[signer] = True
    return status


def _sign(
    document: JSONObject, key: PrivateKey, vm: str, created: datetime, pid: str
) -> JSONObject:
    options = ProofOptions(verification_method=vm, created=created, id=pid)
    return add_proof(document, key, options)


def propose_mra(
    unsigned: JSONObject,
    key: PrivateKey,
    *,
    verification_method: str,
    created: datetime,
    proof_id: str | None = None,
) -> JSONObject:
    """Sign an unsigned MRA as its proposer (the first proof of the set).

    Args:
        unsigned: The credential from :func:`build_mra`.
        key: The proposer's signing key.
        verification_method: The proposer's key URL (its DID + ``#`` + key id).
        created: The proof's creation time (aware).
        proof_id: The proof id; defaults to ``<agreement id>#proposal``.

    Returns:
        The proposal: the credential with one ``assertionMethod`` proof.

    Raises:
        MalformedInputError: Not a valid MRA, already signed (``MRA_ALREADY_SIGNED``), or the
            key is not the proposer's (``MRA_WRONG_SIGNER``).

    """
    mra = MutualRecognitionAgreement.from_dict(unsigned)
    if proofs_of(unsigned):
        raise _bad("the MRA already has a proof; countersign it instead", "MRA_ALREADY_SIGNED")
    if signer_of(verification_method) != mra.proposer:
        raise _bad(f"only the proposer {mra.proposer} may propose this MRA", "MRA_WRONG_SIGNER")
    return _sign(unsigned, key, verification_method, created, proof_id or f"{mra.id}#proposal")


def countersign_mra(
    proposed: JSONObject,
    key: PrivateKey,
    *,
    verification_method: str,
    created: datetime,
    resolver: VerificationMethodResolver,
    proof_id: str | None = None,
) -> JSONObject:
    """Countersign a proposed MRA as the other party (the second proof of the set).

    The proposer's proof is verified first (at ``created``), so that nobody countersigns a
    forged or tampered proposal.

    Args:
        proposed: The proposal from :func:`propose_mra`.
        key: The countersigning party's key.
        verification_method: The countersigner's key URL; its DID must be the other party.
        created: The proof's creation time (aware), also the time the proposal is checked at.
        resolver: Resolves the proposer's verification method.
        proof_id: The proof id; defaults to ``<agreement id>#countersignature``.

    Returns:
        The agreement signed by both parties.

    Raises:
        MalformedInputError: Not a valid MRA, or the countersigner is not the party other
            than the proposer (``MRA_WRONG_SIGNER``).
        VerificationError: A proof does not verify (``MRA_PROOF_INVALID``), a stranger signed
            (``MRA_UNEXPECTED_SIGNER``), the proposer has not signed
            (``MRA_SIGNATURE_MISSING``) or the countersigner already has
            (``MRA_ALREADY_SIGNED``).

    """
    mra = MutualRecognitionAgreement.from_dict(proposed)
    signer = signer_of(verification_method)
    other = next(p for p in mra.parties if p != mra.proposer)
    if signer != other:
        raise _bad(f"only {other} may countersign this MRA, not {signer}", "MRA_WRONG_SIGNER")
    status = verify_party_proofs(proposed, mra.parties, resolver=resolver, now=created)
    if not status[mra.proposer]:
        raise VerificationError(
            f"the proposer {mra.proposer} has not signed this MRA", code="MRA_SIGNATURE_MISSING"
        )
    if status[signer]:
        raise VerificationError(f"{signer} has already signed", code="MRA_ALREADY_SIGNED")
    pid = proof_id or f"{mra.id}#countersignature"
    return _sign(proposed, key, verification_method, created, pid)


def get_mra_signature_status(
    document: JSONObject, *, resolver: VerificationMethodResolver, now: datetime
) -> dict[str, bool]:
    """Say which parties have a verified proof on an MRA (a proposal shows one of two).

    Failed proofs and strangers' proofs are simply not counted here; :func:`verify_mra`
    refuses them.

    Args:
        document: The MRA, signed by none, one or both parties.
        resolver: Resolves the verification methods.
        now: The reference time for the proofs (aware).

    Returns:
        Each party's DID mapped to True when it has a verified ``assertionMethod`` proof.

    Raises:
        MalformedInputError: The document is not a structurally valid MRA.

    """
    mra = MutualRecognitionAgreement.from_dict(document)
    status = dict.fromkeys(mra.parties, False)
    if not proofs_of(document):
        return status
    for outcome in get_proof_outcomes(document, resolver=resolver, now=require_aware(now)):
        if outcome.verified and outcome.method and outcome.method.controller in status:
            status[outcome.method.controller] = True
    return status


def verify_mra(
    document: JSONObject, *, resolver: VerificationMethodResolver, now: datetime
) -> MutualRecognitionAgreement:
    """Verify an MRA signed by both parties.

    Steps: (1) VC 2.0 data model, MRA type and context, one subject (VC 2.0 §4); (2) subject
    schema and rules; (3) issuer is a party and the validity period matches the subject;
    (4) every proof verifies for ``assertionMethod`` (Data Integrity §4.5); (5) every signer
    is a party; (6) both parties signed. Whether it is in force is not checked here.

    Args:
        document: The MRA as received or stored.
        resolver: Resolves both parties' verification methods.
        now: The reference time for the proofs' ``created``/``expires`` (aware).

    Returns:
        The agreement.

    Raises:
        VerificationError: ``MRA_MALFORMED`` (steps 1-3; the cause is chained),
            ``MRA_PROOF_INVALID``, ``MRA_UNEXPECTED_SIGNER`` or ``MRA_SIGNATURE_MISSING``
            ("signed by 1/2 parties").

    """
    now = require_aware(now)
    try:
        mra = MutualRecognitionAgreement.from_dict(document)
        status = verify_party_proofs(document, mra.parties, resolver=resolver, now=now)
    except MalformedInputError as e:
        raise VerificationError(f"not a valid MRA: {e.message}", code="MRA_MALFORMED") from e
    missing = [party for party, signed in status.items() if not signed]
    if missing:
        raise VerificationError(
            f"MRA {mra.id} signed by {2 - len(missing)}/2 parties; missing: {', '.join(missing)}",
            code="MRA_SIGNATURE_MISSING",
        )
    return mra
