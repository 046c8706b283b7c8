"""What the console's device and agreement pages show, read from the node's services.

Read-only, like :mod:`node.services.console_overview`: devices with their authorisation's
status bits and how close calibration and validity are to their end; agreements in
readable form (who recognises what of whom, who signed, a termination notice) beside the raw
document. Nothing here changes state; the pages call :class:`DeviceService` and
:class:`AgreementService` for that.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from credentials.data_integrity import proofs_of
from credentials.errors import TrustlaneError
from credentials.strict_json import JSONObject, loads_object
from node.federation.agreements import AgreementService
from node.federation.peers import PeerService
from node.services.devices import DeviceService
from node.services.status import StatusService
from node.storage.devices_repo import DeviceRecord
from node.storage.federation_repo import MRARecord, PeerRecord
from registry.mra import MutualRecognitionAgreement, get_mra_signature_status
from registry.mra_recognition import mra_in_force

__all__ = [
    "BENEFITS",
    "SOON",
    "AgreementView",
    "ConsoleRegistry",
    "DeviceView",
    "Direction",
    "Signature",
    "due_state",
    "notice_effective",
    "terms_digest",
]

#: A calibration or an authorisation ending within this is highlighted as "soon".
SOON = timedelta(days=30)

#: What each benefit code of an agreement means, in words (registry.mra.BENEFIT_CODES).
BENEFITS = {
    "reduced-examination": "a lower risk score: fewer physical and non-intrusive examinations",
    "priority-processing": "priority processing when a consignment is selected for a control",
    "fewer-documentary-checks": "fewer documentary checks of the declaration",
    "origin-scan-recognised": "scan attestations from the issuing party's devices count "
    "(no second scan)",
    "business-continuity": "priority clearance when trade resumes after a disruption",
}


def due_state(when: datetime | None, now: datetime) -> str:
    """``none``, ``past`` (at or before ``now``), ``soon`` (within :data:`SOON`) or ``ok``."""
    if when is None:
        return "none"
    if when <= now:
        return "past"
    return "soon" if when - now <= SOON else "ok"


def terms_digest(record: MRARecord) -> str:
    """SHA-256 of the stored document.

    The countersign form carries it, so that what is signed is what the page showed.
    """
    return hashlib.sha256(record.document.encode()).hexdigest()


@dataclass(frozen=True)
class DeviceView:
    """A device and what the console says about it."""

    record: DeviceRecord
    calibration: str  # due_state of the calibration date
    validity: str  # due_state of the end of the authorisation
    revoked: bool | None = None  # the authorisation's status bits (None: not read)
    suspended: bool | None = None


@dataclass(frozen=True)
class Direction:
    """One direction of an agreement in words."""

    recognising: str
    issuing: str
    programmes: list[tuple[str, list[str]]]
    credential_types: list[str]
    roles: list[str]
    benefits: list[tuple[str, str]]
    scans_recognised: bool


@dataclass(frozen=True)
class Signature:
    """One party's signature on an agreement."""

    party: str
    signed: bool
    created: str | None
    method: str | None


@dataclass(frozen=True)
class AgreementView:
    """An agreement as the review page shows it."""

    record: MRARecord
    mra: MutualRecognitionAgreement
    proposer: str
    peer: str
    own_proposal: bool
    directions: list[Direction]
    signatures: list[Signature]
    in_force: bool
    in_force_reason: str
    termination_by: str | None
    termination_given: str | None
    raw: str
    terms: str
    digest: str


class ConsoleRegistry:
    """Gathers device and agreement views from the node's services."""

    def __init__(
        self,
        *,
        devices: DeviceService,
        status: StatusService,
        agreements: AgreementService,
        peers: PeerService,
        own_did: str,
    ) -> None:
        self._devices = devices
        self._status = status
        self._agreements = agreements
        self._peers = peers
        self._own = own_did

    # -- devices ----------------------------------------------------------------------

    def devices(self, now: datetime) -> list[DeviceView]:
        """Every device, by name."""
        return [self._view(r, now) for r in self._devices.list()]

    def device(self, name: str, now: datetime) -> DeviceView:
        """One device by name with its authorisation's status bits.

        Raises:
            NotFoundError: No such device.
        """
        record = self._devices.get(name)
        bits = {e.purpose: e.value for e in self._status.entries(record.authorization_id)}
        view = self._view(record, now)
        return DeviceView(
            record=view.record,
            calibration=view.calibration,
            validity=view.validity,
            revoked=bits.get("revocation"),
            suspended=bits.get("suspension"),
        )

    @staticmethod
    def _view(record: DeviceRecord, now: datetime) -> DeviceView:
        return DeviceView(
            record=record,
            calibration=due_state(record.calibration_due, now),
            validity=due_state(record.valid_until, now),
        )

    # -- agreements -------------------------------------------------------------------

    def peers(self) -> list[PeerRecord]:
        """Every pinned peer, by name."""
        return sorted(self._peers.peers(), key=lambda p: p.name)

    def names(self) -> dict[str, str]:
        """Peer DIDs to their registry names."""
        return {p.did: p.name for p in self._peers.peers()}

    def label(self, did: str, names: dict[str, str]) -> str:
        """``this node`` or the peer's name, for a DID."""
        if did == self._own:
            return "this node"
        name = names.get(did)
        return f"{name} ({did})" if name else f"unknown party ({did})"

    def agreements(self) -> list[tuple[MRARecord, MutualRecognitionAgreement]]:
        """Every agreement with its parsed terms."""
        return [
            (r, MutualRecognitionAgreement.from_dict(loads_object(r.document)))
            for r in self._agreements.list()
        ]

    def agreement(self, agreement_id: str, now: datetime) -> AgreementView:
        """One agreement in readable form.

        Raises:
            NotFoundError: Unknown agreement.
        """
        record = self._agreements.get(agreement_id)
        document = loads_object(record.document)
        mra = MutualRecognitionAgreement.from_dict(document)
        names = self.names()
        try:
            signed = get_mra_signature_status(document, resolver=self._peers, now=now)
        except TrustlaneError:  # pragma: no cover - stored documents were verified
            signed = dict.fromkeys(mra.parties, False)
        proofs = proofs_of(document)
        signatures = []
        for party in mra.parties:
            proof = next(
                (p for p in proofs if str(p.get("verificationMethod", "")).split("#")[0] == party),
                None,
            )
            signatures.append(
                Signature(
                    party=self.label(party, names),
                    signed=signed.get(party, False),
                    created=None if proof is None else str(proof.get("created", "")),
                    method=None if proof is None else str(proof.get("verificationMethod", "")),
                )
            )
        effective = record.termination_effective if record.state == "terminated" else None
        status = mra_in_force(mra, at=now, termination_effective=effective)
        in_force = record.state in ("active", "terminated") and bool(status)
        reason = status.reason if record.state in ("active", "terminated") else record.state
        terminating = given = None
        if record.termination_notice is not None:
            subject = loads_object(record.termination_notice).get("credentialSubject")
            if isinstance(subject, dict):
                terminating = self.label(str(subject.get("terminatingParty", "")), names)
                given = str(subject.get("noticeGivenAt", ""))
        terms = {k: v for k, v in document.items() if k != "proof"}
        return AgreementView(
            record=record,
            mra=mra,
            proposer=self.label(mra.proposer, names),
            peer=self.label(record.peer_did, names),
            own_proposal=mra.proposer == self._own,
            directions=self._directions(document, names),
            signatures=signatures,
            in_force=in_force,
            in_force_reason=reason,
            termination_by=terminating,
            termination_given=given,
            raw=json.dumps(document, indent=2, ensure_ascii=False),
            terms=json.dumps(terms, indent=2, ensure_ascii=False),
            digest=terms_digest(record),
        )

    def _directions(self, document: JSONObject, names: dict[str, str]) -> list[Direction]:
        subject = document.get("credentialSubject")
        raw = subject.get("recognitions") if isinstance(subject, dict) else None
        directions = []
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, dict):  # pragma: no cover - the schema requires objects
                continue
            programmes = item.get("programmes")
            benefits = _strs(item.get("benefits"))
            directions.append(
                Direction(
                    recognising=self.label(str(item.get("recognisingParty", "")), names),
                    issuing=self.label(str(item.get("issuingParty", "")), names),
                    programmes=[
                        (str(p.get("programme", "")), _strs(p.get("levels")))
                        for p in (programmes if isinstance(programmes, list) else [])
                        if isinstance(p, dict)
                    ],
                    credential_types=_strs(item.get("credentialTypes")),
                    roles=_strs(item.get("roles")),
                    benefits=[(b, BENEFITS.get(b, "")) for b in benefits],
                    scans_recognised="origin-scan-recognised" in benefits,
                )
            )
        return directions


def _strs(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def notice_effective(view: AgreementView, now: datetime) -> datetime:
    """When a notice given ``now`` would take effect (the agreement's notice period)."""
    return now + timedelta(days=view.mra.notice_period_days)
