"""Verifying a presentation at a port: (presentation, trust snapshot, now, challenge) -> result.

PURE. A trader's wallet answers a port node's challenge with a W3C Verifiable Presentation
holding its credentials, signed by the trader's did:key. This module decides what the
presentation proves; the node redeems the challenge (one atomic database operation) and adds
the result of that as the ``challenge`` check (:meth:`PresentationVerification.with_challenge`).
Nothing is granted before that check passed.

Steps (each adds one named check to the presentation result, in this order):

1. ``data_model``: VC Data Model 2.0 §4.13 (``@context`` first entry the v2 context, ``type``
   includes ``VerifiablePresentation``, embedded credentials; see
   :class:`credentials.model.VerifiablePresentation`). When it fails nothing else runs.
2. ``proof``: exactly one Data Integrity proof (``eddsa-jcs-2022`` or, as other wallets
   and the VC 2.0 test suite sign, ``eddsa-rdfc-2022``), by a did:key, with
   ``proofPurpose`` ``authentication`` and carrying the issued ``challenge`` and this node's
   origin as ``domain`` (VC Data Integrity §4.3 steps on challenge and domain; vc-di-eddsa
   §3.3.2, §3.4.2).
3. ``holder``: the signer's DID is the presentation's ``holder`` and the
   ``credentialSubject.id`` of every credential inside (``HOLDER_MISMATCH``). Not run when
   the proof did not pass.
4. Every credential runs through :func:`registry.pipeline.verify_with_snapshot` on its own
   (data model, proof, issuer, validity, status, recognition) and gets a ``holder`` check of
   its own: a credential that fails fails alone; the others keep their own results.
5. Benefits: a credential's benefit codes are granted only when steps 1-3 and the node's
   ``challenge`` check passed and that credential (holder check included) verified. The
   presentation's benefits are the union of what its credentials were granted.
6. Scan attestation bundles (``scanAttestationBundles``, a JSON literal the holder's proof
   covers) are not credentials of the holder: the holder rule does not apply to them and
   they grant no benefit. The node audits each one as ``POST /attestations/verify`` does
   and adds its result with :meth:`PresentationVerification.with_attestations`, built by
   :func:`attestation_result`: a ``consignment`` check (:func:`consignment_check`: the scan
   names the consignment's declared containers or transport document), ``audit`` and
   ``authorization``. A bundle that fails, fails alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from credentials.data_integrity import (
    DIDKeyResolver,
    check_prepared_proofs,
    prepare_proofs,
    proofs_of,
)
from credentials.errors import MalformedInputError
from credentials.model import VerifiablePresentation
from credentials.prepared import PreparedCache
from credentials.result import Check, CheckStatus, VerificationResult
from credentials.signature_cache import SignatureCache
from credentials.strict_json import JSONObject
from credentials.verification import proof_check
from registry.pipeline import (
    PreparedForSnapshot,
    TrustedVerification,
    prepare_for_snapshot,
    verify_with_snapshot,
)
from registry.presentation_scans import (
    AttestationResult,
    ConsignmentFacts,
    attestation_result,
    consignment_check,
)
from registry.trust_snapshot import TrustSnapshot

__all__ = [
    "AttestationResult",
    "ConsignmentFacts",
    "PresentationVerification",
    "attestation_result",
    "consignment_check",
    "verify_presentation_with_snapshot",
]

_DID_KEYS = DIDKeyResolver()

# What each proof failure means for an officer at the port (the technical detail follows).
_EXPLAIN = {
    "INVALID_CHALLENGE": (
        "the presentation answers another challenge than the one issued for this inspection: "
        "a replayed presentation, or one made for another request"
    ),
    "INVALID_DOMAIN": (
        "the presentation was made for another verifier, not this node ({domain}): someone "
        "else's presentation passed on"
    ),
    "INVALID_PROOF_PURPOSE": (
        "the holder's proof is not an authentication proof: it does not show that the holder "
        "presented these credentials"
    ),
    "PROOF_VERIFICATION_ERROR": (
        "the holder's signature does not verify: the presentation was changed after it was "
        "signed, or was not signed with that key"
    ),
    "PROOF_EXPIRED": "the holder's proof has expired",
    "PROOF_NOT_YET_VALID": "the holder's proof is dated in the future",
    "UNSUPPORTED_CRYPTOSUITE": "the holder's proof is of a kind this node does not verify",
    "INVALID_KEY": "the holder's did:key is not a usable Ed25519 key",
}


@dataclass(frozen=True)
class PresentationVerification:
    """What a presentation proves, and (after :meth:`with_challenge`) what it grants.

    Attributes:
        presentation: The presentation's own checks (``data_model``, ``proof``,
            ``holder``, then ``challenge`` from the node).
        credentials: One full result per presented credential, in order (its pipeline
            checks plus ``holder``); benefits only once the challenge check passed.
        holder: The did:key that presented, when the holder check passed.
        refetch: Status list URLs to fetch in the background.
        pending: Per credential, the benefits it grants once the challenge is spent
            (empty after :meth:`with_challenge`).
        bundles: The scan attestation bundles the presentation carries, for the node to
            audit (:meth:`with_attestations`).
        attestations: One result per bundle, in order, once the node added them.

    """

    presentation: VerificationResult
    credentials: tuple[TrustedVerification, ...] = ()
    holder: str | None = None
    refetch: frozenset[str] = frozenset()
    pending: tuple[frozenset[str], ...] = field(default=(), repr=False)
    bundles: tuple[JSONObject, ...] = field(default=(), repr=False)
    attestations: tuple[AttestationResult, ...] = ()

    def __post_init__(self) -> None:
        if any(c.benefits for c in self.credentials) and not self.challenge_spent:
            raise ValueError("benefits are granted only once the challenge was spent")

    @property
    def challenge_spent(self) -> bool:
        """True when every presentation check passed, the node's ``challenge`` included."""
        check = self.presentation.check("challenge")
        return check is not None and check.status is CheckStatus.PASS and self.presentation.verified

    @property
    def verified(self) -> bool:
        """True when the presentation, its challenge, every credential and attestation verified."""
        return (
            self.challenge_spent
            and bool(self.credentials)
            and all(c.verified for c in self.credentials)
            and len(self.attestations) == len(self.bundles)
            and all(a.verified for a in self.attestations)
        )

    @property
    def benefits(self) -> frozenset[str]:
        """The benefit codes granted for this presentation (union over its credentials)."""
        return frozenset().union(*(c.benefits for c in self.credentials))

    def with_challenge(self, check: Check) -> PresentationVerification:
        """Add the node's ``challenge`` check; grant the pending benefits if everything passed.

        Raises:
            ValueError: The check is not a ``challenge`` check, or one was added already.
        """
        if check.name != "challenge" or self.presentation.check("challenge") is not None:
            raise ValueError("add exactly one 'challenge' check")
        presentation = self.presentation.with_checks(check)
        credentials = self.credentials
        if presentation.verified and self.pending:
            credentials = tuple(
                dataclasses.replace(c, benefits=granted) if c.verified else c
                for c, granted in zip(self.credentials, self.pending, strict=True)
            )
        return dataclasses.replace(
            self, presentation=presentation, credentials=credentials, pending=()
        )

    def with_attestations(self, results: tuple[AttestationResult, ...]) -> PresentationVerification:
        """Add the node's result of each bundle (in the order of :attr:`bundles`).

        Raises:
            ValueError: Not one result per bundle, or results were added already.
        """
        if self.attestations or len(results) != len(self.bundles):
            raise ValueError("add one result per bundle, once")
        return dataclasses.replace(self, attestations=results)

    def to_dict(self) -> dict[str, Any]:
        """The API body of the result.

        ``verified``, ``holder`` (when established), ``presentationResult``,
        ``credentialResults``, ``attestationResults``, ``errors`` (each naming its check
        and, for a credential's, ``credential``: its index in ``credentialResults``; for an
        attestation's, ``attestation``: its index in ``attestationResults``) and
        ``benefits``.
        """
        errors: list[dict[str, Any]] = [e.to_dict() for e in self.presentation.errors]
        for index, credential in enumerate(self.credentials):
            errors.extend({**e.to_dict(), "credential": index} for e in credential.result.errors)
        for index, attestation in enumerate(self.attestations):
            errors.extend({**e.to_dict(), "attestation": index} for e in attestation.result.errors)
        body: dict[str, Any] = {"verified": self.verified}
        if self.holder is not None:
            body["holder"] = self.holder
        body["presentationResult"] = self.presentation.to_dict()
        body["credentialResults"] = [c.to_dict() for c in self.credentials]
        body["attestationResults"] = [a.to_dict() for a in self.attestations]
        body["errors"] = errors
        body["benefits"] = sorted(self.benefits)
        return body


def _explained(check: Check, domain: str) -> Check:
    explanation = _EXPLAIN.get(check.code or "")
    if explanation is None:
        return check
    text = explanation.format(domain=domain)
    return Check(check.name, check.status, f"{text} ({check.detail})", check.code)


def _proof(
    document: JSONObject,
    *,
    now: datetime,
    challenge: str,
    domain: str,
    snapshot: TrustSnapshot,
    plain: bool,
) -> tuple[Check, str | None]:
    """Step 2: the holder's proof; returns the check and the signer's DID when it passed.

    ``plain``: the whole presentation is known to be plain JSON (its envelope and every
    credential inside), so canonicalizing it needs no walk over its value types.
    """
    try:
        proofs = proofs_of(document)
    except MalformedInputError as e:
        return Check.failed("proof", e.code, f"the holder's proof is malformed: {e.message}"), None
    if len(proofs) != 1:
        return (
            Check.failed(
                "proof",
                "HOLDER_PROOF_REQUIRED",
                f"a presentation carries exactly one proof, made by its holder ({len(proofs)} "
                "found)",
            ),
            None,
        )
    method = proofs[0].get("verificationMethod")
    if not isinstance(method, str) or not method.startswith("did:key:"):
        return (
            Check.failed(
                "proof",
                "HOLDER_KEY_UNSUPPORTED",
                f"the presentation must be signed with the holder's did:key; {method!r} is not one",
            ),
            None,
        )
    outcomes = check_prepared_proofs(
        prepare_proofs(document, plain=plain),
        resolver=_DID_KEYS,
        expected_purpose="authentication",
        now=now,
        challenge=challenge,
        domain=domain,
        clock_skew=snapshot.limits.clock_skew,
    )
    outcome = outcomes[0]
    if outcome.verified and outcome.method is not None:
        signer = outcome.method.controller
        return (
            Check.passed(
                "proof",
                f"signed by {signer} (authentication) for this challenge and {domain}",
            ),
            signer,
        )
    return _explained(proof_check(outcomes), domain), None


def _label(index: int, credential: JSONObject) -> str:
    credential_id = credential.get("id")
    if isinstance(credential_id, str):
        return f"credential {index} ({credential_id})"
    return f"credential {index}"


def _subject_ids(credential: JSONObject) -> list[str]:
    raw = credential.get("credentialSubject")
    subjects = raw if isinstance(raw, list) else [raw]
    ids: list[str] = []
    for subject in subjects:
        subject_id = subject.get("id") if isinstance(subject, dict) else None
        ids.append(subject_id if isinstance(subject_id, str) else "")
    return ids


def _holder(vp: VerifiablePresentation, signer: str | None) -> tuple[Check, tuple[Check, ...]]:
    """Step 3: the presentation's holder check, and one holder check per credential."""
    if signer is None:
        not_run = Check.unknown(
            "holder",
            "NOT_RUN",
            "not run: the holder's proof did not pass, so who presented is not established",
        )
        return not_run, tuple(not_run for _ in vp.credentials)
    per_credential: list[Check] = []
    for index, credential in enumerate(vp.credentials):
        subjects = _subject_ids(credential)
        if subjects and all(s == signer for s in subjects):
            per_credential.append(
                Check.passed("holder", f"issued to {signer}, who signed this presentation")
            )
            continue
        named = ", ".join(s or "a subject without id" for s in subjects)
        per_credential.append(
            Check.failed(
                "holder",
                "HOLDER_MISMATCH",
                f"{_label(index, credential)} was issued to {named}, not to {signer} who "
                "presented it: a credential copied from its holder counts for nothing",
            )
        )
    problems: list[str] = []
    if vp.holder is None:
        problems.append("the presentation names no holder")
    elif vp.holder != signer:
        problems.append(
            f"the presentation names {vp.holder} as its holder but was signed by {signer}"
        )
    problems.extend(c.detail for c in per_credential if c.status is not CheckStatus.PASS)
    if problems:
        return Check.failed("holder", "HOLDER_MISMATCH", "; ".join(problems)), tuple(per_credential)
    return (
        Check.passed("holder", f"{signer} is the holder and the subject of every credential"),
        tuple(per_credential),
    )


def _value_bytes(document: JSONObject) -> bytes | None:
    """The parsed credential written out as it is: member order kept, 1 and 1.0 distinct.

    Equal bytes mean an equal parsed value, of which the static phase is a pure function;
    None when orjson cannot write it (an integer beyond 64 bits, a lone surrogate), and the
    credential is then prepared without the cache.
    """
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        return None


def _prepared(
    document: JSONObject, cache: PreparedCache[PreparedForSnapshot] | None
) -> PreparedForSnapshot:
    """What ``document``'s value decides, from ``cache`` when it holds an equal value."""
    data = None if cache is None else _value_bytes(document)
    if cache is None or data is None:
        return prepare_for_snapshot(document)
    return cache.get_or_prepare(data, lambda _: prepare_for_snapshot(document))


def _plain(prepared: PreparedForSnapshot) -> bool:
    """Whether the credential was found to hold plain JSON values only."""
    credential = prepared.credential.credential
    return credential is not None and credential.plain_json


def _credential(
    document: JSONObject,
    holder: Check,
    snapshot: TrustSnapshot,
    now: datetime,
    signature_cache: SignatureCache | None,
    prepared: PreparedForSnapshot,
) -> tuple[TrustedVerification, frozenset[str]]:
    """Step 4: one credential's own result (benefits withheld) and what it would grant."""
    outcome = verify_with_snapshot(
        document, snapshot, now=now, signature_cache=signature_cache, prepared=prepared
    )
    result = outcome.result.with_checks(holder)
    verified = result.verified
    withheld = TrustedVerification(
        result,
        agreement=outcome.agreement if verified else None,
        refetch=outcome.refetch,
    )
    return withheld, outcome.benefits if verified else frozenset()


def verify_presentation_with_snapshot(
    document: JSONObject,
    snapshot: TrustSnapshot,
    *,
    now: datetime,
    challenge: str,
    domain: str,
    signature_cache: SignatureCache | None = None,
    prepared_cache: PreparedCache[PreparedForSnapshot] | None = None,
) -> PresentationVerification:
    """Verify a presentation and every credential in it (module steps 1-4); never raises.

    Args:
        document: The presentation, parsed strictly.
        snapshot: What this node trusts.
        now: The request's time (aware).
        challenge: The challenge the node issued for this presentation.
        domain: This node's origin (its base URL), which the holder's proof must name.
        signature_cache: Ed25519 checks of the credentials' proofs that passed before
            (:mod:`credentials.signature_cache`). The holder's proof never uses it: it signs
            a fresh challenge, so it would never be seen again.
        prepared_cache: The static phase of credentials seen before, by their parsed value
            (:func:`registry.pipeline.prepare_for_snapshot`; keys, time, status and
            recognition are checked every time). The presentation itself is new each time
            (a fresh challenge) and is never kept.

    Returns:
        The presentation's checks and one result per credential. Nothing is granted yet:
        the node adds the ``challenge`` check with
        :meth:`PresentationVerification.with_challenge` once it redeemed the challenge.

    """
    try:
        vp = VerifiablePresentation.from_dict(document)
    except MalformedInputError as e:
        return PresentationVerification(
            VerificationResult((Check.failed("data_model", e.code, e.message),))
        )
    checks = [Check.passed("data_model", "conforms to VC Data Model 2.0 (presentation)")]
    # The credentials' static phase first: it also tells whether each is plain JSON.
    prepared = [_prepared(credential, prepared_cache) for credential in vp.credentials]
    plain = vp.envelope_plain_json and all(_plain(p) for p in prepared)
    proof, signer = _proof(
        document, now=now, challenge=challenge, domain=domain, snapshot=snapshot, plain=plain
    )
    checks.append(proof)
    holder, per_credential = _holder(vp, signer)
    checks.append(holder)
    results = [
        _credential(credential, check, snapshot, now, signature_cache, ready)
        for credential, check, ready in zip(vp.credentials, per_credential, prepared, strict=True)
    ]
    presentation = VerificationResult(tuple(checks))
    return PresentationVerification(
        presentation,
        credentials=tuple(r for r, _ in results),
        holder=signer if holder.status is CheckStatus.PASS else None,
        refetch=frozenset().union(*(r.refetch for r, _ in results)),
        pending=tuple(granted if presentation.verified else frozenset() for _, granted in results),
        bundles=vp.attestation_bundles,
    )
