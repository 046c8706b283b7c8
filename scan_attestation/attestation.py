"""Device authorisations and scan attestations: building them and checking them.

A node authorises a device (X-ray scanner, radiation portal monitor) with a
``DeviceAuthorization`` credential it signs: the device's did:key, the modalities it may
attest, the site (UN/LOCODE) it stands at, the validity and the calibration due date. The
device signs each scan as a ``ScanAttestation`` credential whose issuer is its did:key (proof
``<id>#device``); the node checks the scan against the authorisation and countersigns with a
proof chained to the device proof (``<id>#node``, ``previousProof``).

The rules here are shared by the node (before it countersigns) and by auditors (offline):

* the attestation is a VC 2.0 credential of type ``ScanAttestation`` issued by a did:key;
* the consignment names at least one container, each a valid ISO 6346 number;
* the scan's modality, site and time fall inside the authorisation: modality listed, same
  site, scan time within the authorisation's validity and not after the calibration due date.

Pure: no I/O, no clock; identifiers and times are arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from credentials.data_integrity import (
    DIDKeyResolver,
    ProofOptions,
    ProofOutcome,
    VerificationMethodResolver,
    add_proof,
    get_proof_outcomes,
)
from credentials.datetimes import format_datetime, parse_datetime
from credentials.errors import MalformedInputError, ValidityError, VerificationError
from credentials.keys import PrivateKey
from credentials.model import VC_V2_CONTEXT, VerifiableCredential, issuer_id
from credentials.strict_json import JSONObject, JSONValue
from scan_attestation.containers import validate_container_number

__all__ = [
    "DEVICE_AUTHORIZATION_TYPE",
    "MODALITIES",
    "RESULTS",
    "SCAN_ATTESTATION_TYPE",
    "SCAN_CONTEXT_URL",
    "AttestationClaims",
    "DeviceGrant",
    "authorization_problems",
    "build_device_authorization",
    "build_scan_attestation",
    "check_authorized",
    "check_device_proof",
    "check_proof_chain",
    "device_proof_id",
    "node_proof_id",
    "read_device_authorization",
    "read_scan_attestation",
    "sign_as_device",
]

SCAN_ATTESTATION_TYPE = "ScanAttestation"
DEVICE_AUTHORIZATION_TYPE = "DeviceAuthorization"
SCAN_CONTEXT_URL = "https://ns.trustlane.org/scan/v1"
MODALITIES = ("xray", "rpm", "spectroscopic-rpm")
RESULTS = ("clear", "alarm", "inconclusive")

_LOCODE = re.compile(r"[A-Z]{2}[A-Z2-9]{3}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_SEALS = 20
_MAX_CONTAINERS = 50
_MAX_TEXT = 200


def _bad(message: str, code: str = "INVALID_ATTESTATION") -> MalformedInputError:
    return MalformedInputError(message, code=code)


def device_proof_id(attestation_id: str) -> str:
    """The id of the device's proof on an attestation."""
    return f"{attestation_id}#device"


def node_proof_id(attestation_id: str) -> str:
    """The id of the node's countersignature on an attestation."""
    return f"{attestation_id}#node"


@dataclass(frozen=True)
class DeviceGrant:
    """What a ``DeviceAuthorization`` credential grants."""

    credential_id: str
    issuer: str
    device: str
    name: str
    modalities: tuple[str, ...]
    site: str
    valid_from: datetime
    valid_until: datetime
    calibration_due: datetime | None


def _check_site(site: object) -> str:
    if not isinstance(site, str) or not _LOCODE.fullmatch(site):
        raise _bad(f"site must be a UN/LOCODE such as NLRTM, not {site!r}", "INVALID_SITE")
    return site


def _check_modalities(value: object) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or any(m not in MODALITIES for m in value)
        or len(set(value)) != len(value)
    ):
        raise _bad(
            f"modalities must be a non-empty list of distinct values from {list(MODALITIES)}",
            "INVALID_MODALITY",
        )
    return tuple(str(m) for m in value)


def build_device_authorization(
    *,
    credential_id: str,
    issuer: str,
    device: str,
    name: str,
    modalities: tuple[str, ...],
    site: str,
    valid_from: datetime,
    valid_until: datetime,
    calibration_due: datetime | None,
) -> JSONObject:
    """The unsigned ``DeviceAuthorization`` credential (the node signs it).

    Raises:
        MalformedInputError: A bad device id, modality, site or validity period.
    """
    if not device.startswith("did:key:z6Mk"):
        raise _bad("a device is identified by an Ed25519 did:key", "INVALID_DEVICE")
    if not valid_from < valid_until:
        raise _bad("the authorisation must end after it starts", "INVALID_VALIDITY")
    subject: JSONObject = {
        "id": device,
        "name": name,
        "modalities": list[JSONValue](_check_modalities(list(modalities))),
        "site": _check_site(site),
    }
    if calibration_due is not None:
        subject["calibrationDue"] = format_datetime(calibration_due)
    document: JSONObject = {
        "@context": [VC_V2_CONTEXT, SCAN_CONTEXT_URL],
        "id": credential_id,
        "type": ["VerifiableCredential", DEVICE_AUTHORIZATION_TYPE],
        "issuer": issuer,
        "validFrom": format_datetime(valid_from),
        "validUntil": format_datetime(valid_until),
        "credentialSubject": subject,
    }
    VerifiableCredential.from_dict(document)
    return document


def _subject(document: JSONObject, kind: str) -> JSONObject:
    parsed = VerifiableCredential.from_dict(document)
    if kind not in parsed.types:
        raise _bad(f"not a {kind} credential", "WRONG_TYPE")
    if len(parsed.subjects) != 1:
        raise _bad(f"a {kind} has exactly one credentialSubject")
    return parsed.subjects[0]


def read_device_authorization(document: JSONObject) -> DeviceGrant:
    """Read a ``DeviceAuthorization`` credential (its proof is checked elsewhere).

    Raises:
        MalformedInputError: Not a well-formed device authorisation.
    """
    subject = _subject(document, DEVICE_AUTHORIZATION_TYPE)
    device = subject.get("id")
    name = subject.get("name")
    credential_id = document.get("id")
    issuer = issuer_id(document)
    if not isinstance(device, str) or not device.startswith("did:key:"):
        raise _bad("the authorised device must be a did:key", "INVALID_DEVICE")
    if not isinstance(name, str) or not isinstance(credential_id, str) or issuer is None:
        raise _bad("a device authorisation needs an id, an issuer and a device name")
    if "validUntil" not in document:
        raise _bad("a device authorisation must end (validUntil)", "INVALID_VALIDITY")
    due = subject.get("calibrationDue")
    return DeviceGrant(
        credential_id=credential_id,
        issuer=issuer,
        device=device,
        name=name,
        modalities=_check_modalities(subject.get("modalities")),
        site=_check_site(subject.get("site")),
        valid_from=parse_datetime(document.get("validFrom"), field="validFrom"),
        valid_until=parse_datetime(document.get("validUntil"), field="validUntil"),
        calibration_due=None if due is None else parse_datetime(due, field="calibrationDue"),
    )


@dataclass(frozen=True)
class AttestationClaims:
    """What a ``ScanAttestation`` says."""

    id: str
    device: str
    authorization_id: str
    site: str
    modality: str
    result: str
    scan_time: datetime
    containers: tuple[str, ...]
    seals: tuple[str, ...]
    transport_document: str | None
    raw_sha256: str
    parser_notes: tuple[str, ...]


def build_scan_attestation(
    *,
    attestation_id: str,
    device: str,
    authorization_id: str,
    site: str,
    scan: JSONObject,
    containers: tuple[str, ...],
    seals: tuple[str, ...] = (),
    transport_document: str | None = None,
) -> JSONObject:
    """The unsigned ``ScanAttestation`` a device signs.

    ``scan`` is the typed scan's JSON (:meth:`scan_attestation.scan.Scan.to_json`): it
    carries ``modality``, ``scanTime``, ``result``, ``rawSha256``, ``parserNotes`` and the
    summary figures.

    Raises:
        MalformedInputError: The result would not pass :func:`read_scan_attestation`.
    """
    consignment: JSONObject = {
        "containers": list[JSONValue](containers),
        "seals": list[JSONValue](seals),
    }
    if transport_document is not None:
        consignment["transportDocument"] = transport_document
    document: JSONObject = {
        "@context": [VC_V2_CONTEXT, SCAN_CONTEXT_URL],
        "id": attestation_id,
        "type": ["VerifiableCredential", SCAN_ATTESTATION_TYPE],
        "issuer": device,
        "validFrom": scan.get("scanTime"),
        "credentialSubject": {
            "deviceAuthorization": authorization_id,
            "site": site,
            "consignment": consignment,
            "scan": scan,
        },
    }
    read_scan_attestation(document)
    return document


def _str_list(value: object, what: str, limit: int) -> list[str]:
    if not isinstance(value, list) or len(value) > limit:
        raise _bad(f"{what} must be a list of at most {limit} strings")
    if not all(isinstance(v, str) and 0 < len(v) <= _MAX_TEXT for v in value):
        raise _bad(f"every item of {what} must be a non-empty string of at most {_MAX_TEXT}")
    return [str(v) for v in value]


def read_scan_attestation(document: JSONObject) -> AttestationClaims:
    """Read a ``ScanAttestation`` and check its structure (its proofs are checked elsewhere).

    Raises:
        MalformedInputError: Not a well-formed scan attestation; the message names the field.
    """
    subject = _subject(document, SCAN_ATTESTATION_TYPE)
    attestation_id = document.get("id")
    device = issuer_id(document)
    if not isinstance(attestation_id, str):
        raise _bad("a scan attestation needs an id")
    if device is None or not device.startswith("did:key:"):
        raise _bad("a scan attestation is issued by the device's did:key", "INVALID_DEVICE")
    authorization = subject.get("deviceAuthorization")
    if not isinstance(authorization, str) or not authorization:
        raise _bad("credentialSubject.deviceAuthorization must name the device's authorisation")
    consignment = subject.get("consignment")
    scan = subject.get("scan")
    if not isinstance(consignment, dict) or not isinstance(scan, dict):
        raise _bad("credentialSubject needs a consignment object and a scan object")
    raw_containers = _str_list(
        consignment.get("containers"), "consignment.containers", _MAX_CONTAINERS
    )
    if not raw_containers:
        raise _bad("consignment.containers must name at least one container")
    containers = tuple(str(validate_container_number(c)) for c in raw_containers)
    if list(containers) != raw_containers:
        raise _bad("write container numbers as 11 characters, without spaces or hyphens")
    seals = tuple(_str_list(consignment.get("seals", []), "consignment.seals", _MAX_SEALS))
    transport = consignment.get("transportDocument")
    if transport is not None and (not isinstance(transport, str) or len(transport) > _MAX_TEXT):
        raise _bad("consignment.transportDocument must be a string of at most 200 characters")
    modality = scan.get("modality")
    if modality not in MODALITIES:
        raise _bad(f"scan.modality must be one of {list(MODALITIES)}", "INVALID_MODALITY")
    result = scan.get("result")
    if result not in RESULTS:
        raise _bad(f"scan.result must be one of {list(RESULTS)}")
    raw = scan.get("rawSha256")
    if not isinstance(raw, str) or not _SHA256_HEX.fullmatch(raw):
        raise _bad("scan.rawSha256 must be the 64 lowercase hex digits of the raw file's SHA-256")
    notes = scan.get("parserNotes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise _bad("scan.parserNotes must be a list of strings")
    scan_time = parse_datetime(scan.get("scanTime"), field="scan.scanTime")
    if document.get("validFrom") != scan.get("scanTime"):
        raise _bad("validFrom must be the scan time")
    return AttestationClaims(
        id=attestation_id,
        device=device,
        authorization_id=authorization,
        site=_check_site(subject.get("site")),
        modality=str(modality),
        result=str(result),
        scan_time=scan_time,
        containers=containers,
        seals=seals,
        transport_document=transport,
        raw_sha256=raw,
        parser_notes=tuple(str(n) for n in notes),
    )


def authorization_problems(claims: AttestationClaims, grant: DeviceGrant) -> list[str]:
    """Why the authorisation does not cover this scan (empty when it does)."""
    problems = []
    if claims.device != grant.device:
        problems.append(f"the authorisation is for {grant.device}, not {claims.device}")
    if claims.authorization_id != grant.credential_id:
        problems.append("the attestation names another authorisation")
    if claims.modality not in grant.modalities:
        problems.append(
            f"modality {claims.modality} is not authorised (only {', '.join(grant.modalities)})"
        )
    if claims.site != grant.site:
        problems.append(f"site {claims.site} is not the authorised site {grant.site}")
    if not grant.valid_from <= claims.scan_time <= grant.valid_until:
        problems.append(
            f"scan time {format_datetime(claims.scan_time)} is outside the authorisation "
            f"({format_datetime(grant.valid_from)} to {format_datetime(grant.valid_until)})"
        )
    if grant.calibration_due is not None and claims.scan_time > grant.calibration_due:
        problems.append(
            f"the device was past its calibration due date "
            f"({format_datetime(grant.calibration_due)}) at scan time"
        )
    return problems


def check_authorized(claims: AttestationClaims, grant: DeviceGrant) -> None:
    """Raise when the authorisation does not cover the scan.

    Raises:
        ValidityError: Code ``DEVICE_NOT_AUTHORIZED``, every problem in the message.
    """
    problems = authorization_problems(claims, grant)
    if problems:
        raise ValidityError("; ".join(problems), code="DEVICE_NOT_AUTHORIZED")


def check_device_proof(
    document: JSONObject, claims: AttestationClaims, *, now: datetime, clock_skew: timedelta
) -> datetime:
    """Check the device's proof, the only proof an attestation has before the node's.

    Returns:
        The proof's ``created`` time.

    Raises:
        VerificationError: Code ``DEVICE_PROOF``: a missing, extra, misnamed or invalid proof,
            or a proof by another key than the issuer's did:key.
    """
    outcomes = get_proof_outcomes(
        document, resolver=DIDKeyResolver(), now=now, clock_skew=clock_skew
    )
    if len(outcomes) != 1:
        raise VerificationError(
            "a submitted attestation carries exactly one proof, the device's", code="DEVICE_PROOF"
        )
    return _check_device_outcome(outcomes[0], claims)


def _check_device_outcome(outcome: ProofOutcome, claims: AttestationClaims) -> datetime:
    proof = outcome.proof
    if not outcome.verified or outcome.method is None:
        detail = outcome.error.message if outcome.error is not None else "it does not verify"
        raise VerificationError(f"the device proof does not verify: {detail}", code="DEVICE_PROOF")
    if outcome.method.controller != claims.device:
        raise VerificationError(
            "the attestation is signed by another key than its issuer's", code="DEVICE_PROOF"
        )
    if proof.get("id") != device_proof_id(claims.id):
        raise VerificationError(
            f"the device proof's id must be {device_proof_id(claims.id)}", code="DEVICE_PROOF"
        )
    return parse_datetime(proof.get("created"), field="proof.created")


def check_proof_chain(
    document: JSONObject,
    claims: AttestationClaims,
    *,
    node_resolver: VerificationMethodResolver,
    node_did: str,
) -> None:
    """Check a countersigned attestation: the device proof, then the node's chained proof.

    ``node_resolver`` resolves the node's keys (and did:key for the device proof).

    Raises:
        VerificationError: Code ``DEVICE_PROOF`` or ``NODE_PROOF``: which proof failed and why.
    """
    outcomes = get_proof_outcomes(document, resolver=node_resolver, now=None)
    if len(outcomes) != 2:
        raise VerificationError(
            "a countersigned attestation carries two proofs: the device's and the node's",
            code="NODE_PROOF",
        )
    _check_device_outcome(outcomes[0], claims)
    node = outcomes[1]
    if not node.verified or node.method is None:
        detail = node.error.message if node.error is not None else "it does not verify"
        raise VerificationError(f"the node proof does not verify: {detail}", code="NODE_PROOF")
    if node.method.controller != node_did:
        raise VerificationError(f"the countersignature is not by {node_did}", code="NODE_PROOF")
    if node.proof.get("previousProof") != device_proof_id(claims.id):
        raise VerificationError(
            "the node proof does not chain to the device proof (previousProof)", code="NODE_PROOF"
        )


def sign_as_device(document: JSONObject, key: PrivateKey, *, created: datetime) -> JSONObject:
    """The device's proof on an unsigned attestation (``<id>#device``, by its did:key).

    Raises:
        MalformedInputError: Not a well-formed attestation, or issued by another did:key.
    """
    claims = read_scan_attestation(document)
    if claims.device != key.public_key.did:
        raise _bad("the attestation's issuer is not this device's did:key", "INVALID_DEVICE")
    return add_proof(
        document,
        key,
        ProofOptions(
            verification_method=key.public_key.verification_method_id,
            created=created,
            id=device_proof_id(claims.id),
        ),
    )
