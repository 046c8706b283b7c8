"""When a mutual recognition agreement grants recognition: termination, in force, scope.

Three questions about verified agreements (:func:`registry.mra.verify_mra`):

- *Has it been terminated?* A ``MutualRecognitionTerminationNotice`` credential, issued and
  signed by one party (:func:`build_termination_notice`, :func:`sign_termination_notice`),
  takes effect ``noticePeriodDays`` after ``noticeGivenAt``
  (:func:`verify_termination_notice` returns that instant).
- *Is it in force at a given time?* :func:`mra_in_force`.
- *Does it cover this credential?* :func:`get_recognition_check` builds the ``recognition``
  check of a verification result and the benefit codes granted;
  :func:`aeo_recognition_facts` reads what it needs from an AEO credential.

Pure: no I/O, no clock (``at``/``now`` come from the caller). It does not decide whether the
issuer is a trusted peer or whether the credential verifies: the caller does that first and
reports an untrusted issuer itself (``unknown``, ``ISSUER_NOT_TRUSTED``).

Decisions:

- The notice's subject ``id`` is the agreement id; its ``issuer`` is the terminating party
  and ``validFrom`` repeats ``noticeGivenAt``. A notice dated more than the clock skew before
  its own proof's ``created`` is refused (``MRA_NOTICE_BACKDATED``): backdating would
  shorten the notice period.
- In force means ``effectiveFrom <= at < effectiveUntil`` (when given) and ``at`` before any
  termination takes effect; :class:`InForceStatus` is falsy when not in force, and says why.
- Direction matters: only the recognition whose ``recognisingParty`` is the verifying node and
  whose ``issuingParty`` is the credential's issuer applies. A node's own credentials, and
  pairs without an agreement, get ``NO_MRA``; an agreement with no recognition in that
  direction (a one-way MRA) gets ``OUT_OF_SCOPE``.
- Scope: one of the credential's types is covered, its programme is covered, its level is
  one of that programme's covered levels, and **at least one** of its roles is covered. A
  credential that names no programme or level is out of scope (fail closed). Every gap is
  named in the detail.
- Several in-force agreements between the same two parties each stand on their own (both
  signed, neither terminated), so any one that covers the credential recognises it. The
  newest one (latest ``effectiveFrom``, then smallest id) decides the benefits: benefits are
  never a union of several agreements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from credentials.aeo import aeo_subject_of
from credentials.data_integrity import (
    DEFAULT_CLOCK_SKEW,
    ProofOptions,
    VerificationMethodResolver,
    add_proof,
    proofs_of,
)
from credentials.datetimes import format_datetime, parse_datetime, require_aware
from credentials.errors import MalformedInputError, VerificationError
from credentials.keys import PrivateKey
from credentials.model import VC_V2_CONTEXT, VerifiableCredential, type_list
from credentials.result import Check, CheckStatus
from credentials.strict_json import JSONObject
from registry.mra import (
    MRA_CONTEXT_URL,
    MutualRecognitionAgreement,
    Recognition,
    signer_of,
    verify_party_proofs,
)

__all__ = [
    "NOTICE_MAX_AGE",
    "TERMINATION_NOTICE_TYPE",
    "InForceStatus",
    "RecognitionFacts",
    "RecognitionResult",
    "accept_termination_notice",
    "aeo_recognition_facts",
    "agreement_formed_at",
    "build_termination_notice",
    "get_recognition_check",
    "mra_in_force",
    "sign_termination_notice",
    "verify_termination_notice",
]

TERMINATION_NOTICE_TYPE = "MutualRecognitionTerminationNotice"
"""The type of the credential that gives notice of termination."""

_NOTICE_MEMBERS = frozenset({"id", "terminatingParty", "noticeGivenAt"})


def _bad(message: str, code: str = "INVALID_TERMINATION_NOTICE") -> MalformedInputError:
    return MalformedInputError(message, code=code)


def _parse_notice(document: JSONObject) -> tuple[str, str, datetime]:
    """Return (agreement id, terminating party, noticeGivenAt) of a notice's structure."""
    credential = VerifiableCredential.from_dict(document)
    if (
        TERMINATION_NOTICE_TYPE not in credential.types
        or MRA_CONTEXT_URL not in credential.contexts
    ):
        raise _bad(f"not a {TERMINATION_NOTICE_TYPE} (needs @context {MRA_CONTEXT_URL})")
    if len(credential.subjects) != 1 or set(credential.subjects[0]) != _NOTICE_MEMBERS:
        raise _bad("the notice needs one subject with id, terminatingParty and noticeGivenAt")
    subject = credential.subjects[0]
    agreement, party = subject["id"], subject["terminatingParty"]
    if not isinstance(agreement, str) or "#" in agreement:
        raise _bad("the subject id must be an agreement id (a URL without fragment)")
    if party != credential.issuer or not party.startswith(("did:web:", "did:key:")):
        raise _bad("terminatingParty must be the issuer, a did:web or did:key DID")
    given = parse_datetime(subject["noticeGivenAt"], field="noticeGivenAt")
    if credential.valid_from != given:
        raise _bad("validFrom must equal noticeGivenAt")
    return agreement, party, given


def build_termination_notice(
    *, agreement_id: str, terminating_party: str, notice_given_at: datetime
) -> JSONObject:
    """Build an unsigned ``MutualRecognitionTerminationNotice`` credential.

    Args:
        agreement_id: The id of the agreement to terminate.
        terminating_party: The party giving notice (it becomes the issuer).
        notice_given_at: When notice is given (aware; whole seconds); the period runs from it.

    Returns:
        The notice, ready for :func:`sign_termination_notice`.

    Raises:
        MalformedInputError: The agreement id or the party is malformed.
        ValueError: ``notice_given_at`` is naive.

    """
    given = format_datetime(notice_given_at)
    notice: JSONObject = {
        "@context": [VC_V2_CONTEXT, MRA_CONTEXT_URL],
        "type": ["VerifiableCredential", TERMINATION_NOTICE_TYPE],
        "issuer": terminating_party,
        "validFrom": given,
        "credentialSubject": {
            "id": agreement_id,
            "terminatingParty": terminating_party,
            "noticeGivenAt": given,
        },
    }
    _parse_notice(notice)
    return notice


def sign_termination_notice(
    unsigned: JSONObject,
    key: PrivateKey,
    *,
    verification_method: str,
    created: datetime,
    proof_id: str | None = None,
) -> JSONObject:
    """Sign a termination notice as the terminating party.

    Args:
        unsigned: The notice from :func:`build_termination_notice`.
        key: The terminating party's key.
        verification_method: Its key URL; the DID before ``#`` must be the terminating party.
        created: The proof's creation time (aware), not after ``noticeGivenAt`` (+ skew).
        proof_id: Optional proof id.

    Returns:
        The signed notice.

    Raises:
        MalformedInputError: Not a valid notice, the key is not the terminating party's
            (``MRA_WRONG_SIGNER``), or ``created`` is after ``noticeGivenAt``
            (``MRA_NOTICE_BACKDATED``).

    """
    _, party, given = _parse_notice(unsigned)
    if signer_of(verification_method) != party:
        raise _bad(f"only {party} may sign its termination notice", code="MRA_WRONG_SIGNER")
    if require_aware(created) - DEFAULT_CLOCK_SKEW > given:
        raise _bad("noticeGivenAt is before the signature", code="MRA_NOTICE_BACKDATED")
    options = ProofOptions(verification_method=verification_method, created=created, id=proof_id)
    return add_proof(unsigned, key, options)


def verify_termination_notice(
    document: JSONObject,
    mra: MutualRecognitionAgreement,
    *,
    resolver: VerificationMethodResolver,
    now: datetime,
) -> datetime:
    """Verify a termination notice for ``mra``; return when the termination takes effect.

    Steps: (1) data model and subject; (2) it names ``mra``; (3) the terminating party is a
    party of ``mra``; (4) every proof verifies and is the terminating party's; (5) no proof
    was created after ``noticeGivenAt`` (+ clock skew).

    Args:
        document: The signed notice.
        mra: The (verified) agreement it terminates.
        resolver: Resolves the terminating party's verification method.
        now: The reference time for the proofs (aware).

    Returns:
        ``noticeGivenAt`` + ``noticePeriodDays`` (UTC): from then on the MRA is not in force.

    Raises:
        VerificationError: ``MRA_NOTICE_MALFORMED``, ``MRA_NOTICE_MISMATCH`` (another
            agreement), ``MRA_NOT_A_PARTY``, ``MRA_PROOF_INVALID``, ``MRA_UNEXPECTED_SIGNER``,
            ``MRA_SIGNATURE_MISSING`` or ``MRA_NOTICE_BACKDATED``.

    """
    try:
        agreement, party, given = _parse_notice(document)
        if agreement != mra.id:
            raise VerificationError(
                f"the notice is for {agreement}, not {mra.id}", code="MRA_NOTICE_MISMATCH"
            )
        if party not in mra.parties:
            raise VerificationError(f"{party} is not a party to {mra.id}", code="MRA_NOT_A_PARTY")
        signed = verify_party_proofs(document, [party], resolver=resolver, now=now)
    except MalformedInputError as e:
        raise VerificationError(
            f"not a valid notice: {e.message}", code="MRA_NOTICE_MALFORMED"
        ) from e
    if not signed[party]:
        raise VerificationError(f"{party} has not signed the notice", code="MRA_SIGNATURE_MISSING")
    for proof in proofs_of(document):
        created = proof.get("created")
        # Every proof verified, so a present ``created`` is a valid dateTimeStamp.
        if created is None or parse_datetime(created) - DEFAULT_CLOCK_SKEW > given:
            raise VerificationError(
                "noticeGivenAt is before the notice was signed (or the proof has no created)",
                code="MRA_NOTICE_BACKDATED",
            )
    return given + mra.notice_period


#: How old a termination notice may be when it arrives (a replayed old notice is refused).
NOTICE_MAX_AGE = timedelta(days=30)


def agreement_formed_at(document: JSONObject) -> datetime | None:
    """When the agreement was formed: the latest ``created`` among its (verified) proofs."""
    times = [
        parse_datetime(created)
        for proof in proofs_of(document)
        if isinstance(created := proof.get("created"), str)
    ]
    return max(times) if times else None


def accept_termination_notice(
    document: JSONObject,
    mra: MutualRecognitionAgreement,
    *,
    resolver: VerificationMethodResolver,
    now: datetime,
    delivered_by: str,
    formed_at: datetime | None,
    max_age: timedelta = NOTICE_MAX_AGE,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> datetime:
    """Decide whether a termination notice counts here; return when it takes effect.

    On top of :func:`verify_termination_notice` (signature, party, not back-dated against
    its own proof):

    1. it was delivered by the terminating party itself (``delivered_by``: the DID that
       signed the request or served the copy), never relayed by anyone else;
    2. it is dated after the agreement's ``effectiveFrom`` and after the agreement was
       formed (``formed_at``, the latest proof on the copy this node holds): a notice
       dated before the state it ends cannot end it;
    3. it is fresh: not older than ``max_age`` and not in the future beyond the skew.

    Raises:
        VerificationError: Any step fails (``MRA_NOTICE_RELAYED``, ``MRA_NOTICE_BACKDATED``,
            ``MRA_NOTICE_STALE``), or as :func:`verify_termination_notice`.

    """
    try:
        _, party, given = _parse_notice(document)
    except MalformedInputError as e:
        raise VerificationError(
            f"not a valid notice: {e.message}", code="MRA_NOTICE_MALFORMED"
        ) from e
    # Step 1.
    if delivered_by != party:
        raise VerificationError(
            f"a notice by {party} was delivered by {delivered_by}; only the terminating party "
            "may deliver its notice",
            code="MRA_NOTICE_RELAYED",
        )
    # Step 2.
    if given < mra.effective_from or (formed_at is not None and given < formed_at - clock_skew):
        raise VerificationError(
            f"the notice is dated {format_datetime(given)}, before the agreement it would end "
            f"(effective {format_datetime(mra.effective_from)})",
            code="MRA_NOTICE_BACKDATED",
        )
    # Step 3.
    if given > now + clock_skew or now - given > max_age:
        raise VerificationError(
            f"the notice is dated {format_datetime(given)}; notices are accepted up to "
            f"{max_age} old and not from the future",
            code="MRA_NOTICE_STALE",
        )
    return verify_termination_notice(document, mra, resolver=resolver, now=now)


@dataclass(frozen=True)
class InForceStatus:
    """Whether an agreement is in force, and why; falsy when it is not."""

    in_force: bool
    reason: str

    def __bool__(self) -> bool:
        return self.in_force


def mra_in_force(
    mra: MutualRecognitionAgreement, *, at: datetime, termination_effective: datetime | None = None
) -> InForceStatus:
    """Say whether ``mra`` is in force at ``at``.

    Args:
        mra: The agreement.
        at: The reference time (aware).
        termination_effective: When a verified termination notice takes effect, if any.

    Returns:
        In force iff ``effectiveFrom <= at``, ``at < effectiveUntil`` (when given) and
        ``at < termination_effective`` (when given).

    Raises:
        ValueError: A naive datetime.

    """
    at = require_aware(at)
    if at < mra.effective_from:
        return InForceStatus(
            False, f"not yet in force (from {format_datetime(mra.effective_from)})"
        )
    if mra.effective_until is not None and at >= mra.effective_until:
        until = format_datetime(mra.effective_until)
        return InForceStatus(False, f"no longer in force (ended at {until})")
    if termination_effective is not None and at >= require_aware(termination_effective):
        when = format_datetime(termination_effective)
        return InForceStatus(False, f"terminated with effect from {when}")
    return InForceStatus(True, f"in force since {format_datetime(mra.effective_from)}")


class RecognitionFacts(NamedTuple):
    """What recognition looks at in a credential (the keywords of :func:`get_recognition_check`)."""

    credential_types: tuple[str, ...]
    programme: str | None
    level: str | None
    roles: tuple[str, ...]


def aeo_recognition_facts(credential: JSONObject) -> RecognitionFacts:
    """Read the recognition facts of an AEO credential (verify the credential first).

    Args:
        credential: An ``AEOCertificate`` credential.

    Returns:
        Its types (without ``VerifiableCredential``), programme, level and roles.

    Raises:
        MalformedInputError: Not an AEO credential (``NOT_AEO_CREDENTIAL``), or its subject
            breaks the AEO schema (``SchemaValidationError``).

    """
    subject = aeo_subject_of(credential)
    types = type_list(credential.get("type"), "credential")
    programme, level, roles = subject.get("programme"), subject.get("level"), subject.get("roles")
    return RecognitionFacts(
        credential_types=tuple(t for t in types if t != "VerifiableCredential"),
        programme=programme if isinstance(programme, str) else None,
        level=level if isinstance(level, str) else None,
        roles=tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else (),
    )


@dataclass(frozen=True)
class RecognitionResult:
    """The ``recognition`` check and what it grants.

    Attributes:
        check: The check named ``recognition``: pass, or fail with ``NO_MRA``,
            ``MRA_NOT_IN_FORCE`` or ``OUT_OF_SCOPE``.
        benefits: The benefit codes granted; empty unless the check passed.
        agreement_id: The agreement that granted them, when it passed.

    """

    check: Check
    benefits: frozenset[str] = frozenset()
    agreement_id: str | None = None

    def __post_init__(self) -> None:
        if self.check.status is not CheckStatus.PASS and (self.benefits or self.agreement_id):
            raise ValueError("only a passing recognition check grants benefits")


def _names(values: frozenset[str] | Sequence[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def _gaps(rec: Recognition, facts: RecognitionFacts) -> list[str]:
    """Name every way the credential falls outside ``rec``."""
    gaps = []
    types = [t for t in facts.credential_types if t != "VerifiableCredential"]
    if not rec.credential_types.intersection(types):
        gaps.append(
            f"credential type {_names(types)} is not covered "
            f"(covers {_names(rec.credential_types)})"
        )
    levels = rec.levels_of(facts.programme) if facts.programme else frozenset()
    if facts.programme is None:
        gaps.append("the credential names no programme")
    elif not levels:
        covered = _names([s.programme for s in rec.programmes])
        gaps.append(f"programme {facts.programme} is not covered (covers {covered})")
    elif facts.level not in levels:
        gaps.append(
            f"level {facts.level or '(none)'} of {facts.programme} is not covered "
            f"(covers {_names(levels)})"
        )
    if not rec.roles.intersection(facts.roles):
        gaps.append(f"role {_names(facts.roles)} is not covered (covers {_names(rec.roles)})")
    return gaps


def get_recognition_check(
    mras: Sequence[MutualRecognitionAgreement],
    *,
    recognising_party: str,
    issuer: str,
    credential_types: Sequence[str],
    programme: str | None,
    level: str | None,
    roles: Sequence[str],
    at: datetime,
    terminations: Mapping[str, datetime] | None = None,
) -> RecognitionResult:
    """Decide whether ``recognising_party`` recognises a credential issued by ``issuer``.

    Steps: (1) agreements between the two parties (else ``NO_MRA``); (2) those in force at
    ``at`` (else ``MRA_NOT_IN_FORCE``); (3) the newest one whose recognition in this direction
    covers the type, programme, level and a role (else ``OUT_OF_SCOPE``, naming each gap).

    Args:
        mras: Verified agreements (any parties; the relevant ones are picked).
        recognising_party: The verifying node's DID.
        issuer: The credential's issuer.
        credential_types: The credential's types (``VerifiableCredential`` may be included).
        programme: The credential's programme (e.g. ``EU-AEO``), if any.
        level: Its level within the programme (e.g. ``AEOF``), if any.
        roles: The holder's roles.
        at: The reference time (aware).
        terminations: Agreement id -> when a verified termination notice takes effect.

    Returns:
        The ``recognition`` check and, when it passes, the benefits and the agreement id.

    Raises:
        ValueError: A naive datetime.

    """
    at = require_aware(at)
    ends = {recognising_party, issuer}
    pair = [m for m in mras if len(ends) == 2 and set(m.parties) == ends]
    if not pair:
        detail = (
            f"no mutual recognition agreement between {recognising_party} and {issuer}"
            if len(ends) == 2
            else f"{issuer} issued it itself; an MRA only recognises a partner's credentials"
        )
        return RecognitionResult(Check.failed("recognition", "NO_MRA", detail))
    in_force, reasons = [], []
    for mra in sorted(pair, key=lambda m: (-m.effective_from.timestamp(), m.id)):
        status = mra_in_force(mra, at=at, termination_effective=(terminations or {}).get(mra.id))
        if status:
            in_force.append(mra)
        else:
            reasons.append(f"agreement {mra.id} is {status.reason}")
    if not in_force:
        return RecognitionResult(
            Check.failed("recognition", "MRA_NOT_IN_FORCE", "; ".join(reasons))
        )
    facts = RecognitionFacts(tuple(credential_types), programme, level, tuple(roles))
    gaps = []
    for mra in in_force:
        rec = mra.recognition_for(recognising_party, issuer)
        found = ["it has no recognition in this direction"] if rec is None else _gaps(rec, facts)
        if rec is not None and not found:
            # The detail names no benefits: this check passing grants none by itself. The
            # result's `benefits` says what is granted: the agreement's benefit codes when
            # every check passes for a question about now, else none (registry.pipeline).
            detail = (
                f"{programme} {level} credential of {issuer} recognised by {recognising_party} "
                f"under agreement {mra.id} (its benefits are granted only when every check "
                "passes and the question is about now: see benefits)"
            )
            return RecognitionResult(Check.passed("recognition", detail), rec.benefits, mra.id)
        gaps.append(f"agreement {mra.id}: {'; '.join(found)}")
    return RecognitionResult(Check.failed("recognition", "OUT_OF_SCOPE", " | ".join(gaps)))
