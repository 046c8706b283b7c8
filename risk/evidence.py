"""Evidence for a decision: what verification said about credentials and scans, as plain data.

The risk core verifies nothing. The node verifies a presentation and scan attestations
through its pipeline (``registry`` and ``scan_attestation``) and hands the *outcomes* here:

- :class:`CredentialEvidence`: one credential of a presentation: whose identifiers it carries,
  who issued it, whether it verified, its status, whether an MRA in force recognises it and
  the benefit codes that MRA grants.
- :class:`ScanEvidence`: one scan attestation: the containers it names, the modality and
  result, when it was taken, whether it verified, whether the device was authorised, whether
  this administration recognises the issuer's scans, parser notes and whether an alarm was
  resolved (secondary inspection at origin).

Two more values belong to the administration, not to the trader, and are passed to
:func:`risk.decide` beside the evidence:

- :class:`IdentifierCrosswalk`: links the administration maintains between identifiers of one
  trader in different schemes (an EU EORI and the US MID it trades under). A credential
  counts for a party when one of its identifiers is one of the party's, or is linked to one
  of them by a single link. Links are symmetric and never chained: two links never make a
  third, so one wrong link cannot merge many traders.
- :class:`WatchList`: party identifiers and container numbers under targeting.

Pure: no I/O, no clock; times are aware datetimes given by the caller.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from credentials.datetimes import format_datetime, parse_datetime
from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject, JSONValue
from risk.declaration import PartyIdentifier
from risk.errors import MalformedEvidenceError
from risk.identifiers import container_issue

__all__ = [
    "CredentialEvidence",
    "CredentialStatus",
    "Evidence",
    "IdentifierCrosswalk",
    "ScanEvidence",
    "ScanModality",
    "ScanResult",
    "WatchList",
]


class CredentialStatus(enum.StrEnum):
    """A credential's status as the node's status lists say (``unknown``: stale or missing)."""

    VALID = "valid"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"


class ScanModality(enum.StrEnum):
    """How a scan was made: an image (X-ray, gamma) or a radiation measurement."""

    XRAY = "x-ray"
    GAMMA = "gamma-ray"
    RADIATION_PORTAL = "radiation-portal"
    RADIATION_HANDHELD = "radiation-handheld"

    @property
    def is_radiation(self) -> bool:
        """True for radiation portal monitors and handheld identifiers (RIID)."""
        return self in (ScanModality.RADIATION_PORTAL, ScanModality.RADIATION_HANDHELD)


class ScanResult(enum.StrEnum):
    """What a scan found."""

    CLEAR = "clear"
    ALARM = "alarm"
    INCONCLUSIVE = "inconclusive"


def _aware(value: datetime, where: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise MalformedEvidenceError([(where, "must be an aware datetime")])
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedEvidenceError([(where, "must be true or false")])
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 2048:
        raise MalformedEvidenceError([(where, "must be a string of 1 to 2048 characters")])
    return value


def _list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise MalformedEvidenceError([(where, "must be an array")])
    return value


def _enum(kind: type[enum.StrEnum], value: object, where: str) -> str:
    if not isinstance(value, str) or value not in kind.__members__.values():
        allowed = ", ".join(m.value for m in kind)
        raise MalformedEvidenceError([(where, f"must be one of {allowed}")])
    return value


def _identifier(value: object, where: str) -> PartyIdentifier:
    if not isinstance(value, dict):
        raise MalformedEvidenceError([(where, "must be an object with scheme and value")])
    try:
        return PartyIdentifier(_text(value.get("scheme"), where), _text(value.get("value"), where))
    except MalformedInputError as e:
        raise MalformedEvidenceError([(where, e.message)]) from e


@dataclass(frozen=True, slots=True)
class CredentialEvidence:
    """What verification said about one credential of a presentation.

    Attributes:
        credential_id: The credential's ``id`` (named in the reasons that rest on it).
        issuer: The issuing administration (its DID).
        subject_identifiers: The identifiers the credential subject carries.
        verified: Every check of the credential and of its presentation passed (proof,
            issuer, holder binding, challenge, validity). False grants nothing.
        status: From the issuer's status lists; anything but ``valid`` grants nothing.
        recognised: An MRA in force covers it (or this administration issued it).
        benefits: The benefit codes the recognising MRA grants (``reduced-examination``...).
        programme: The AEO programme (``EU-AEO``, ``CTPAT``...), for the explanation only.
        level: The level within the programme, for the explanation only.
        agreement: The id of the MRA that recognised it and grants ``benefits`` (named
            in the reasons that rest on it); None for this administration's own credentials
            and whenever nothing was granted.

    Raises:
        MalformedEvidenceError: A value has the wrong type.
    """

    credential_id: str
    issuer: str
    subject_identifiers: tuple[PartyIdentifier, ...]
    verified: bool
    status: CredentialStatus
    recognised: bool
    benefits: frozenset[str] = frozenset()
    programme: str | None = None
    level: str | None = None
    agreement: str | None = None

    def __post_init__(self) -> None:
        _text(self.credential_id, "credentialId")
        _text(self.issuer, "issuer")
        if self.agreement is not None:
            _text(self.agreement, "agreement")
        _bool(self.verified, "verified")
        _bool(self.recognised, "recognised")
        if not isinstance(self.status, CredentialStatus):
            raise MalformedEvidenceError([("status", "must be a CredentialStatus")])
        if not all(isinstance(i, PartyIdentifier) for i in self.subject_identifiers):
            raise MalformedEvidenceError([("subjectIdentifiers", "must be PartyIdentifiers")])
        if not all(isinstance(b, str) for b in self.benefits):
            raise MalformedEvidenceError([("benefits", "must be strings")])

    @classmethod
    def from_dict(cls, value: JSONObject) -> CredentialEvidence:
        """Build from the JSON object :meth:`to_dict` writes.

        Raises:
            MalformedEvidenceError: A member is missing or of the wrong type.
        """
        return cls(
            credential_id=_text(value.get("credentialId"), "credentialId"),
            issuer=_text(value.get("issuer"), "issuer"),
            subject_identifiers=tuple(
                _identifier(v, f"subjectIdentifiers/{i}")
                for i, v in enumerate(_list(value.get("subjectIdentifiers"), "subjectIdentifiers"))
            ),
            verified=_bool(value.get("verified"), "verified"),
            status=CredentialStatus(_enum(CredentialStatus, value.get("status"), "status")),
            recognised=_bool(value.get("recognised"), "recognised"),
            benefits=frozenset(
                _text(b, "benefits") for b in _list(value.get("benefits", []), "benefits")
            ),
            programme=None
            if value.get("programme") is None
            else _text(value["programme"], "programme"),
            level=None if value.get("level") is None else _text(value["level"], "level"),
            agreement=None
            if value.get("agreement") is None
            else _text(value["agreement"], "agreement"),
        )

    def to_dict(self) -> JSONObject:
        """Return a JSON object (benefits sorted)."""
        benefits: list[JSONValue] = []
        benefits.extend(sorted(self.benefits))
        out: JSONObject = {
            "credentialId": self.credential_id,
            "issuer": self.issuer,
            "subjectIdentifiers": [i.to_dict() for i in self.subject_identifiers],
            "verified": self.verified,
            "status": self.status.value,
            "recognised": self.recognised,
            "benefits": benefits,
        }
        if self.programme is not None:
            out["programme"] = self.programme
        if self.level is not None:
            out["level"] = self.level
        if self.agreement is not None:
            out["agreement"] = self.agreement
        return out


@dataclass(frozen=True, slots=True)
class ScanEvidence:
    """What verification said about one scan attestation.

    Attributes:
        attestation_id: The attestation's id (named in the reasons that rest on it).
        issuer: The administration that countersigned it (its DID).
        containers: The ISO 6346 numbers the scan names.
        modality: Image or radiation, see :class:`ScanModality`.
        result: ``clear``, ``alarm`` or ``inconclusive``.
        scanned_at: When the scan was made (aware).
        verified: The device proof and the node's proof chain verified.
        device_authorised: The device held a valid authorisation at ``scanned_at``.
        recognised: This administration accepts the issuer's scans (its own, or a partner's
            under an MRA in force with ``origin-scan-recognised``).
        alarm_resolved: An alarm was resolved at origin (secondary inspection found a
            nuisance source, e.g. NORM in ceramics); ignored unless ``result`` is ``alarm``.
        parser_notes: What the device-format parser noted (shown, never weighed).

    Raises:
        MalformedEvidenceError: A value has the wrong type, a time is naive or a container
            number is not ISO 6346.
    """

    attestation_id: str
    issuer: str
    containers: tuple[str, ...]
    modality: ScanModality
    result: ScanResult
    scanned_at: datetime
    verified: bool
    device_authorised: bool
    recognised: bool
    alarm_resolved: bool = False
    parser_notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _text(self.attestation_id, "attestationId")
        _text(self.issuer, "issuer")
        _aware(self.scanned_at, "scannedAt")
        for name in ("verified", "device_authorised", "recognised", "alarm_resolved"):
            _bool(getattr(self, name), name)
        if not isinstance(self.modality, ScanModality):
            raise MalformedEvidenceError([("modality", "must be a ScanModality")])
        if not isinstance(self.result, ScanResult):
            raise MalformedEvidenceError([("result", "must be a ScanResult")])
        problems = [
            (f"containers/{i}", issue)
            for i, number in enumerate(self.containers)
            if (issue := container_issue(number)) is not None
        ]
        if not self.containers:
            problems.append(("containers", "must name at least one container"))
        if problems:
            raise MalformedEvidenceError(problems)

    @classmethod
    def from_dict(cls, value: JSONObject) -> ScanEvidence:
        """Build from the JSON object :meth:`to_dict` writes.

        Raises:
            MalformedEvidenceError: A member is missing or of the wrong type.
        """
        try:
            scanned_at = parse_datetime(value.get("scannedAt"), field="scannedAt")
        except MalformedInputError as e:
            raise MalformedEvidenceError([("scannedAt", e.message)]) from e
        return cls(
            attestation_id=_text(value.get("attestationId"), "attestationId"),
            issuer=_text(value.get("issuer"), "issuer"),
            containers=tuple(
                _text(c, "containers") for c in _list(value.get("containers"), "containers")
            ),
            modality=ScanModality(_enum(ScanModality, value.get("modality"), "modality")),
            result=ScanResult(_enum(ScanResult, value.get("result"), "result")),
            scanned_at=scanned_at,
            verified=_bool(value.get("verified"), "verified"),
            device_authorised=_bool(value.get("deviceAuthorised"), "deviceAuthorised"),
            recognised=_bool(value.get("recognised"), "recognised"),
            alarm_resolved=_bool(value.get("alarmResolved", False), "alarmResolved"),
            parser_notes=tuple(
                _text(n, "parserNotes") for n in _list(value.get("parserNotes", []), "parserNotes")
            ),
        )

    def to_dict(self) -> JSONObject:
        """Return a JSON object."""
        return {
            "attestationId": self.attestation_id,
            "issuer": self.issuer,
            "containers": list(self.containers),
            "modality": self.modality.value,
            "result": self.result.value,
            "scannedAt": format_datetime(self.scanned_at),
            "verified": self.verified,
            "deviceAuthorised": self.device_authorised,
            "recognised": self.recognised,
            "alarmResolved": self.alarm_resolved,
            "parserNotes": list(self.parser_notes),
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything presented for one declaration: credentials and scans (either may be empty)."""

    credentials: tuple[CredentialEvidence, ...] = ()
    scans: tuple[ScanEvidence, ...] = ()

    def __post_init__(self) -> None:
        if not all(isinstance(c, CredentialEvidence) for c in self.credentials):
            raise MalformedEvidenceError([("credentials", "must be CredentialEvidence")])
        if not all(isinstance(s, ScanEvidence) for s in self.scans):
            raise MalformedEvidenceError([("scans", "must be ScanEvidence")])

    @classmethod
    def from_dict(cls, value: JSONObject) -> Evidence:
        """Build from ``{"credentials": [...], "scans": [...]}``.

        Raises:
            MalformedEvidenceError: A member is missing or of the wrong type; locations are
                prefixed with ``credentials/<i>/`` or ``scans/<i>/``.
        """
        parts: dict[str, list[object]] = {"credentials": [], "scans": []}
        problems: list[tuple[str, str]] = []
        builders = {"credentials": CredentialEvidence.from_dict, "scans": ScanEvidence.from_dict}
        for key, build in builders.items():
            for i, item in enumerate(_list(value.get(key, []), key)):
                try:
                    if not isinstance(item, dict):
                        raise MalformedEvidenceError([("", "must be an object")])
                    parts[key].append(build(item))
                except MalformedEvidenceError as e:
                    problems += [(f"{key}/{i}/{loc}".rstrip("/"), msg) for loc, msg in e.problems]
        if problems:
            raise MalformedEvidenceError(problems)
        return cls(
            credentials=tuple(c for c in parts["credentials"] if isinstance(c, CredentialEvidence)),
            scans=tuple(s for s in parts["scans"] if isinstance(s, ScanEvidence)),
        )

    def to_dict(self) -> JSONObject:
        """Return ``{"credentials": [...], "scans": [...]}``."""
        return {
            "credentials": [c.to_dict() for c in self.credentials],
            "scans": [s.to_dict() for s in self.scans],
        }


@dataclass(frozen=True)
class IdentifierCrosswalk:
    """Links between identifiers of one trader, maintained by the administration.

    Attributes:
        links: Unordered pairs of identifiers that name the same trader.
    """

    links: frozenset[frozenset[PartyIdentifier]] = frozenset()
    _index: Mapping[PartyIdentifier, frozenset[PartyIdentifier]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        index: dict[PartyIdentifier, set[PartyIdentifier]] = {}
        for link in self.links:
            if len(link) != 2 or not all(isinstance(i, PartyIdentifier) for i in link):
                raise MalformedEvidenceError([("links", "each link joins two identifiers")])
            a, b = tuple(link)
            index.setdefault(a, set()).add(b)
            index.setdefault(b, set()).add(a)
        object.__setattr__(self, "_index", {k: frozenset(v) for k, v in index.items()})

    @classmethod
    def from_pairs(
        cls, pairs: Iterable[tuple[PartyIdentifier, PartyIdentifier]]
    ) -> IdentifierCrosswalk:
        """Build from ``(identifier, identifier)`` pairs (a pair of equal ones is ignored)."""
        return cls(frozenset(frozenset(p) for p in pairs if p[0] != p[1]))

    def linked(self, identifier: PartyIdentifier) -> frozenset[PartyIdentifier]:
        """The identifiers one link away from ``identifier`` (not itself)."""
        return self._index.get(identifier, frozenset())

    def expand(self, identifiers: Iterable[PartyIdentifier]) -> set[PartyIdentifier]:
        """``identifiers`` and every identifier one link away from one of them."""
        out = set(identifiers)
        index = self._index
        if index:
            for identifier in tuple(out):
                linked = index.get(identifier)
                if linked:
                    out |= linked
        return out


@dataclass(frozen=True)
class WatchList:
    """Targets: party identifiers and container numbers that override every benefit.

    Attributes:
        parties: Identifiers of watched traders (crosswalk links are followed).
        containers: Watched container numbers.
    """

    parties: frozenset[PartyIdentifier] = frozenset()
    containers: frozenset[str] = frozenset()
