"""Turning verification outcomes into risk evidence (node side; the core stays pure).

The risk core (:mod:`risk`) verifies nothing: it weighs :class:`risk.CredentialEvidence` and
:class:`risk.ScanEvidence`. This module reads what this node's verification pipeline said
and writes it down in those terms, failing closed:

- A presented credential is ``verified`` only when the presentation itself (data model,
  the holder's proof, holder binding) and this node's ``challenge`` check passed *and* the
  credential's own checks passed: a replayed presentation, one for another consignment, or
  one whose challenge expired grants nothing. Its status is ``valid`` only when the status
  check passed (``REVOKED`` and ``SUSPENDED`` say so; anything else is ``unknown``); it is
  ``recognised`` only when the ``recognition`` check passed (an MRA in force covers it),
  and its benefit codes are the ones the pipeline granted.
- A scan attestation is ``verified`` when every audit step passed (device proof, node
  proof chain, inclusion, checkpoint, witnesses asked for), its device ``authorised`` when
  the authorisation's status passed now, and ``recognised`` when this node countersigned
  it itself or an MRA in force (recorded by this node's own workflow) grants this node
  ``origin-scan-recognised`` for the countersigning partner's scans. An attestation that
  cannot even be read counts for nothing, and the notes say so.
- A scan attestation carried inside the presentation is weighed the same way, as if given
  in ``attestations``, but fails closed on the presentation: it is ``verified`` only when
  the presentation's challenge was spent and its own result (consignment, audit,
  authorisation) verified. The same attestation (by id) given twice, inside the
  presentation and beside it, counts once: the verified copy is kept.

No I/O of its own: it takes outcomes and the trust snapshot the node already holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from credentials.errors import MalformedInputError, TrustlaneError
from credentials.model import VerifiablePresentation, issuer_id
from credentials.result import CheckStatus
from credentials.strict_json import JSONObject, JSONValue
from node.services.attestations import AttestationCheck
from registry.mra_recognition import mra_in_force
from registry.pipeline import TrustedVerification
from registry.presentation import PresentationVerification
from registry.trust_snapshot import TrustSnapshot
from risk import (
    CredentialEvidence,
    CredentialStatus,
    PartyIdentifier,
    ScanEvidence,
    ScanModality,
    ScanResult,
)
from scan_attestation.attestation import read_scan_attestation

__all__ = [
    "ORIGIN_SCAN_RECOGNISED",
    "credential_evidence",
    "merge_scans",
    "presented_scan_evidence",
    "scan_evidence",
    "scans_recognised",
]

#: The MRA benefit code under which a partner's scan attestations count here.
ORIGIN_SCAN_RECOGNISED = "origin-scan-recognised"

_MODALITIES = {
    "xray": ScanModality.XRAY,
    "rpm": ScanModality.RADIATION_PORTAL,
    "spectroscopic-rpm": ScanModality.RADIATION_PORTAL,
}
_STATUS_CODES = {"REVOKED": CredentialStatus.REVOKED, "SUSPENDED": CredentialStatus.SUSPENDED}


def _status(result: TrustedVerification) -> CredentialStatus:
    check = result.result.check("status")
    if check is None:
        return CredentialStatus.UNKNOWN
    if check.status is CheckStatus.PASS:
        return CredentialStatus.VALID
    return _STATUS_CODES.get(check.code or "", CredentialStatus.UNKNOWN)


def _recognised(result: TrustedVerification) -> bool:
    check = result.result.check("recognition")
    return check is not None and check.status is CheckStatus.PASS


def _subject(document: JSONObject) -> JSONObject:
    subject = document.get("credentialSubject")
    if isinstance(subject, list) and len(subject) == 1:
        subject = subject[0]
    return subject if isinstance(subject, dict) else {}


def _identifiers(subject: JSONObject, notes: list[str], label: str) -> tuple[PartyIdentifier, ...]:
    found: list[PartyIdentifier] = []
    raw = subject.get("identifiers")
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        scheme, value = item.get("scheme"), item.get("value")
        try:
            if not isinstance(scheme, str) or not isinstance(value, str):
                raise MalformedInputError("scheme and value must be strings")
            identifier = PartyIdentifier(scheme, value)
        except MalformedInputError as e:
            notes.append(f"{label}: an identifier is not usable and is ignored: {e.message}")
            continue
        if identifier not in found:
            found.append(identifier)
    return tuple(found)


def _text(value: JSONValue) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 2048 else None


def credential_evidence(
    document: JSONObject, outcome: PresentationVerification
) -> tuple[tuple[CredentialEvidence, ...], list[str]]:
    """The evidence of each credential of a verified (or not) presentation, and notes.

    Args:
        document: The presentation as received.
        outcome: What :class:`~node.services.presentations.PresentationService` said.

    Returns:
        One :class:`CredentialEvidence` per presented credential (none when the presentation
        is not a presentation at all), and sentences for the officer about what failed.
    """
    notes: list[str] = []
    spent = outcome.challenge_spent
    if not spent:
        errors = outcome.presentation.errors
        why = "; ".join(f"{e.check} {e.code}: {e.message}" for e in errors) or "not verified"
        notes.append(f"the presentation grants nothing: {why}")
    if not outcome.credentials:
        return (), notes
    try:
        documents = VerifiablePresentation.from_dict(document).credentials
    except MalformedInputError:  # the outcome says so already; nothing to read
        return (), notes
    evidence: list[CredentialEvidence] = []
    for index, (credential, result) in enumerate(zip(documents, outcome.credentials, strict=False)):
        label = f"credential {index}"
        credential_id = _text(credential.get("id")) or f"urn:trustlane:presented-credential:{index}"
        subject = _subject(credential)
        verified = spent and result.verified
        if spent and not result.verified:
            failed = "; ".join(f"{e.check} {e.code}" for e in result.result.errors)
            notes.append(f"{label} ({credential_id}) did not verify: {failed}")
        evidence.append(
            CredentialEvidence(
                credential_id=credential_id,
                issuer=_text(issuer_id(credential)) or "unknown",
                subject_identifiers=_identifiers(subject, notes, label),
                verified=verified,
                status=_status(result),
                recognised=_recognised(result),
                benefits=result.benefits if verified else frozenset(),
                programme=_text(subject.get("programme")),
                level=_text(subject.get("level")),
                agreement=result.agreement if verified else None,
            )
        )
    return tuple(evidence), notes


def scans_recognised(snapshot: TrustSnapshot, issuer: str, at: datetime) -> bool:
    """Whether this node accepts scans countersigned by ``issuer`` at ``at``.

    Its own, always; a partner's when an agreement that counts (signed through this node's
    own workflow) is in force and grants this node ``origin-scan-recognised`` for the
    partner's side.
    """
    if issuer == snapshot.own_did:
        return True
    for agreement in snapshot.agreements:
        if not agreement.counts or issuer not in agreement.mra.parties:
            continue
        if not mra_in_force(
            agreement.mra, at=at, termination_effective=agreement.termination_effective
        ):
            continue
        recognition = agreement.mra.recognition_for(snapshot.own_did, issuer)
        if recognition is not None and ORIGIN_SCAN_RECOGNISED in recognition.benefits:
            return True
    return False


def _one_scan(
    bundle: JSONObject,
    *,
    audit_ok: bool,
    authorised: bool,
    snapshot: TrustSnapshot,
    at: datetime,
) -> ScanEvidence:
    """The evidence of one bundle.

    Raises:
        TrustlaneError: It cannot be read (as KeyError, ValueError).
    """
    attestation = bundle.get("attestation")
    authorization = bundle.get("deviceAuthorization")
    if not isinstance(attestation, dict) or not isinstance(authorization, dict):
        raise MalformedInputError("the bundle holds no attestation and authorisation")
    claims = read_scan_attestation(attestation)
    issuer = issuer_id(authorization) or "unknown"
    return ScanEvidence(
        attestation_id=claims.id,
        issuer=issuer,
        containers=claims.containers,
        modality=_MODALITIES[claims.modality],
        result=ScanResult(claims.result),
        scanned_at=claims.scan_time,
        verified=audit_ok,
        device_authorised=authorised,
        recognised=audit_ok and scans_recognised(snapshot, issuer, at),
        parser_notes=tuple(n for n in claims.parser_notes if 0 < len(n) <= 2048)[:32],
    )


def _unreadable(label: str, e: Exception) -> str:
    # Hostile input is a failed read, never a server error.
    why = e.message if isinstance(e, TrustlaneError) else type(e).__name__
    return f"{label} cannot be read and counts for nothing: {why}"


def scan_evidence(
    bundles: Sequence[tuple[JSONObject, AttestationCheck]],
    snapshot: TrustSnapshot,
    at: datetime,
) -> tuple[tuple[ScanEvidence, ...], list[str]]:
    """The evidence of each attestation bundle and its check, and notes.

    Returns:
        One :class:`ScanEvidence` per readable attestation, and sentences about the ones
        that count for nothing (unreadable) or did not verify.
    """
    evidence: list[ScanEvidence] = []
    notes: list[str] = []
    for index, (bundle, check) in enumerate(bundles):
        label = f"attestation {index}"
        try:
            scan = _one_scan(
                bundle,
                audit_ok=check.audit.ok,
                authorised=(check.authorization_status or {}).get("status") == "pass",
                snapshot=snapshot,
                at=at,
            )
        except (TrustlaneError, KeyError, ValueError) as e:
            notes.append(_unreadable(label, e))
            continue
        if not check.verified:
            failed = ", ".join(check.audit.failed) or "the device authorisation's status"
            notes.append(f"{label} ({scan.attestation_id}) did not verify ({failed})")
        evidence.append(scan)
    return tuple(evidence), notes


def presented_scan_evidence(
    outcome: PresentationVerification, snapshot: TrustSnapshot, at: datetime
) -> tuple[tuple[ScanEvidence, ...], list[str]]:
    """The evidence of each scan attestation carried inside a presentation, and notes.

    Fails closed: a scan counts (``verified``) only when the presentation's challenge was
    spent and the attestation's own result verified (about this consignment, audited,
    device authorised now).
    """
    evidence: list[ScanEvidence] = []
    notes: list[str] = []
    spent = outcome.challenge_spent
    for index, result in enumerate(outcome.attestations):
        label = f"presented attestation {index}"
        try:
            scan = _one_scan(
                result.bundle,
                audit_ok=spent and result.verified,
                authorised=(result.authorization_status or {}).get("status") == "pass",
                snapshot=snapshot,
                at=at,
            )
        except (TrustlaneError, KeyError, ValueError) as e:
            notes.append(_unreadable(label, e))
            continue
        if not result.verified:
            failed = "; ".join(f"{e.check} {e.code}" for e in result.result.errors)
            notes.append(f"{label} ({scan.attestation_id}) did not verify: {failed}")
        elif not spent:
            notes.append(
                f"{label} ({scan.attestation_id}) counts for nothing: the presentation "
                "carrying it did not verify"
            )
        evidence.append(scan)
    return tuple(evidence), notes


def merge_scans(
    given: Sequence[ScanEvidence], presented: Sequence[ScanEvidence]
) -> tuple[tuple[ScanEvidence, ...], list[str]]:
    """Scans given beside a presentation and inside it, each attestation counted once.

    When an attestation (by id) appears more than once, the first verified copy is kept
    (else the first copy), and a note says so.
    """
    kept: dict[str, ScanEvidence] = {}
    notes: list[str] = []
    for scan in (*given, *presented):
        earlier = kept.get(scan.attestation_id)
        if earlier is None:
            kept[scan.attestation_id] = scan
            continue
        notes.append(f"attestation {scan.attestation_id} was given more than once; it counts once")
        if scan.verified and not earlier.verified:
            kept[scan.attestation_id] = scan
    return tuple(kept.values()), notes
