"""The typed scan: what one X-ray or radiation scan file says, in one shape for every format.

A device adapter (:mod:`scan_attestation.adapters`) turns the raw bytes of a scan file into a
:class:`Scan`. The scan keeps the identity of the instrument, the scan time, the ISO 6346
container numbers, a three-valued ``result``, the figures an officer or the risk engine looks
at (:class:`N42Summary` or :class:`XRaySummary`), one ``parserNotes`` line per deviation the
adapter tolerated, and the SHA-256 of the raw bytes, so that the scan can always be matched to
the signed file it came from. :meth:`Scan.to_json` gives plain dicts with camelCase keys; the
same scan always gives the same JSON.

Result rule (:func:`decide_result`; :class:`Scan` refuses a ``result`` that disagrees):

- N42 (radiation portal monitors, spectroscopic portals, RIIDs):

  1. ``alarm`` if the document holds any ``RadAlarm`` (any category: Gamma, Neutron, Isotope,
     ...) or any nuclide whose ``NuclideIdentifiedIndicator`` is true or missing. Nuisance
     alarms (NORM: ceramics, fertiliser, granite) are alarms too: adjudicating them is the
     job of secondary inspection, not of the parser.
  2. otherwise ``inconclusive`` if the instrument reported any ``Fault`` (every N42.42
     severity, Fatal, Error and Warning, says the data may not be trustworthy), or if no
     detector has any gross count or spectrum data (nothing was measured, so nothing is
     clear).
  3. otherwise ``clear``.

- X-ray: the operator's verdict when there is one, else the algorithm's; ``clear`` stays
  ``clear``, ``suspect`` becomes ``alarm``, ``inconclusive`` stays ``inconclusive``.

This module does no I/O and reads no clock. It does not parse files (the adapters do) and
does not sign or log scans.

Example::

    >>> from scan_attestation.adapters import parse_scan
    >>> scan = parse_scan(raw_bytes)  # doctest: +SKIP
    >>> scan.result, scan.to_json()["containers"]  # doctest: +SKIP
    ('alarm', ['YMLU3030933'])
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, TypeAlias

from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject, JSONValue

if TYPE_CHECKING:
    from scan_attestation.containers import ContainerNumber

__all__ = [
    "MODALITIES",
    "RESULTS",
    "SCAN_FORMATS",
    "VERDICTS",
    "AlgorithmVerdict",
    "Detector",
    "EnergyWindowSet",
    "Fault",
    "Instrument",
    "Measurement",
    "Modality",
    "N42Summary",
    "Nuclide",
    "Number",
    "Occupancy",
    "OperatorVerdict",
    "RadAlarm",
    "RegionOfInterest",
    "Scan",
    "ScanError",
    "ScanFormat",
    "ScanParseError",
    "ScanResult",
    "Verdict",
    "XRaySummary",
    "decide_result",
    "format_timestamp",
    "parse_timestamp",
]

ScanFormat = Literal["n42", "xray"]
Modality = Literal["xray", "rpm", "spectroscopic-rpm"]
ScanResult = Literal["clear", "alarm", "inconclusive"]
Verdict = Literal["clear", "suspect", "inconclusive"]
Number: TypeAlias = int | float
"""A count or a measured value: an exact int when the file wrote an integer."""

SCAN_FORMATS: tuple[ScanFormat, ...] = ("n42", "xray")
MODALITIES: tuple[Modality, ...] = ("xray", "rpm", "spectroscopic-rpm")
RESULTS: tuple[ScanResult, ...] = ("clear", "alarm", "inconclusive")
VERDICTS: tuple[Verdict, ...] = ("clear", "suspect", "inconclusive")


class ScanError(MalformedInputError, ValueError):
    """A scan, or a value inside one (such as a container number), is not acceptable."""

    code = "SCAN_ERROR"


class ScanParseError(ScanError):
    """The bytes cannot be read as a scan of the given format (the message says why)."""

    code = "SCAN_PARSE_ERROR"


# --- times -----------------------------------------------------------------------------

# xsd:dateTime / RFC 3339: the zone is optional here so that the N42 adapter can note it.
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,32}))?(Z|[+-]\d\d:\d\d)?\Z", re.ASCII
)
_UTC_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z\Z", re.ASCII)


def parse_timestamp(text: str) -> tuple[datetime, bool]:
    """Parse an xsd:dateTime / RFC 3339 date-time into an aware UTC datetime.

    Args:
        text: The date-time, e.g. ``2003-11-22T23:45:00.0-07:00``. Fractions beyond
            microseconds are cut.

    Returns:
        The instant in UTC, and whether ``text`` had a zone (if not, UTC is assumed; the
        caller decides whether that is acceptable).

    Raises:
        ValueError: ``text`` is not a date-time of that form, or names an impossible date,
            time or offset.

    """
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError("not a date-time of the form YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm]")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    local = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC
    )
    if zone is None or zone == "Z":
        return local, zone is not None
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError(f"impossible time zone offset {zone}")
    offset = timedelta(hours=hours, minutes=minutes)
    try:
        return (local - offset if zone[0] == "+" else local + offset), True
    except OverflowError as e:
        raise ValueError("date-time out of range") from e


def format_timestamp(when: datetime) -> str:
    """Write an aware datetime as RFC 3339 UTC with ``Z``, fraction only when non-zero.

    Raises:
        ValueError: ``when`` is naive.

    """
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    utc = when.astimezone(UTC)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


# --- shared parts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Instrument:
    """The scanning instrument as the file names it (every field may be missing)."""

    manufacturer: str | None = None
    model: str | None = None
    identifier: str | None = None
    class_code: str | None = None

    def to_json(self) -> JSONObject:
        """Return ``{"manufacturer", "model", "identifier", "classCode"}`` (nulls kept)."""
        return {
            "manufacturer": self.manufacturer,
            "model": self.model,
            "identifier": self.identifier,
            "classCode": self.class_code,
        }


# --- N42 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detector:
    """One ``RadDetectorInformation`` with the counts summed over every ``RadMeasurement``.

    Attributes:
        gross_counts: Per energy window (one value without windows), the sum of the
            detector's ``GrossCounts/CountData`` over all measurements; None if it has none.
        spectrum_counts: The sum of every channel of the detector's ``Spectrum`` elements
            over all measurements; None if it has none.

    """

    id: str
    name: str | None
    category: str | None
    kind: str | None
    energy_windows: str | None
    gross_counts: tuple[Number, ...] | None
    spectrum_counts: Number | None

    def to_json(self) -> JSONObject:
        """Return the detector as JSON (camelCase keys, nulls kept)."""
        return {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "kind": self.kind,
            "energyWindows": self.energy_windows,
            "grossCounts": None if self.gross_counts is None else list(self.gross_counts),
            "spectrumCounts": self.spectrum_counts,
        }


@dataclass(frozen=True)
class EnergyWindowSet:
    """An ``EnergyWindows`` element: window ``i`` spans ``start_kev[i]`` to ``end_kev[i]``."""

    id: str
    start_kev: tuple[Number, ...]
    end_kev: tuple[Number, ...]

    def to_json(self) -> JSONObject:
        """Return ``{"id", "startKeV", "endKeV"}``."""
        return {"id": self.id, "startKeV": list(self.start_kev), "endKeV": list(self.end_kev)}


@dataclass(frozen=True)
class Measurement:
    """One ``RadMeasurement``: class code, UTC start, real time as written, occupancy."""

    id: str | None
    class_code: str | None
    start_time: str | None
    real_time: str | None
    occupied: bool | None

    def to_json(self) -> JSONObject:
        """Return the measurement as JSON (camelCase keys, nulls kept)."""
        return {
            "id": self.id,
            "classCode": self.class_code,
            "startTime": self.start_time,
            "realTime": self.real_time,
            "occupied": self.occupied,
        }


@dataclass(frozen=True)
class Occupancy:
    """Whether a vehicle was in the portal: None when no ``OccupancyIndicator`` was given."""

    occupied: bool | None
    occupied_measurements: int
    first_occupied_time: str | None

    def to_json(self) -> JSONObject:
        """Return ``{"occupied", "occupiedMeasurements", "firstOccupiedTime"}``."""
        return {
            "occupied": self.occupied,
            "occupiedMeasurements": self.occupied_measurements,
            "firstOccupiedTime": self.first_occupied_time,
        }


@dataclass(frozen=True)
class RadAlarm:
    """A ``RadAlarm``: category code, description, light colour, detectors that raised it."""

    category: str | None
    description: str | None
    light_color: str | None
    detectors: tuple[str, ...]

    def to_json(self) -> JSONObject:
        """Return the alarm as JSON (camelCase keys, nulls kept)."""
        return {
            "category": self.category,
            "description": self.description,
            "lightColor": self.light_color,
            "detectors": list(self.detectors),
        }


@dataclass(frozen=True)
class Nuclide:
    """A ``Nuclide`` result; ``confidence`` is the value or description text as written."""

    name: str | None
    identified: bool | None
    confidence: str | None
    category: str | None

    def to_json(self) -> JSONObject:
        """Return ``{"name", "identified", "confidence", "category"}``."""
        return {
            "name": self.name,
            "identified": self.identified,
            "confidence": self.confidence,
            "category": self.category,
        }


@dataclass(frozen=True)
class Fault:
    """An instrument or detector ``Fault``, once, with the ids of the elements reporting it."""

    code: str | None
    description: str | None
    severity: str | None
    sources: tuple[str, ...]

    def to_json(self) -> JSONObject:
        """Return ``{"code", "description", "severity", "sources"}``."""
        return {
            "code": self.code,
            "description": self.description,
            "severity": self.severity,
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class N42Summary:
    """The figures read from an ANSI N42.42-2012 document.

    Attributes:
        gross_count_totals: Per detector category (as written, e.g. ``Gamma``), the
            per-window sum of the detectors' ``gross_counts``, in file order of categories.
        spectrum_count_totals: Per detector category, the sum of ``spectrum_counts``.

    """

    detectors: tuple[Detector, ...]
    energy_windows: tuple[EnergyWindowSet, ...]
    measurements: tuple[Measurement, ...]
    occupancy: Occupancy
    gross_count_totals: tuple[tuple[str, tuple[Number, ...]], ...]
    spectrum_count_totals: tuple[tuple[str, Number], ...]
    alarms: tuple[RadAlarm, ...]
    nuclides: tuple[Nuclide, ...]
    faults: tuple[Fault, ...]

    def to_json(self) -> JSONObject:
        """Return the summary as JSON (camelCase keys)."""
        return {
            "detectors": [d.to_json() for d in self.detectors],
            "energyWindows": [w.to_json() for w in self.energy_windows],
            "measurements": [m.to_json() for m in self.measurements],
            "occupancy": self.occupancy.to_json(),
            "grossCountTotals": {k: list(v) for k, v in self.gross_count_totals},
            "spectrumCountTotals": dict(self.spectrum_count_totals),
            "alarms": [a.to_json() for a in self.alarms],
            "nuclides": [n.to_json() for n in self.nuclides],
            "faults": [f.to_json() for f in self.faults],
        }


# --- X-ray ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlgorithmVerdict:
    """The automatic threat-detection algorithm and its verdict."""

    name: str
    version: str
    verdict: Verdict

    def to_json(self) -> JSONObject:
        """Return ``{"name", "version", "verdict"}``."""
        return {"name": self.name, "version": self.version, "verdict": self.verdict}


@dataclass(frozen=True)
class OperatorVerdict:
    """The image analyst's verdict."""

    verdict: Verdict
    operator_id: str

    def to_json(self) -> JSONObject:
        """Return ``{"verdict", "operatorId"}``."""
        return {"verdict": self.verdict, "operatorId": self.operator_id}


@dataclass(frozen=True)
class RegionOfInterest:
    """A rectangle of the image (pixels) flagged with a label and a score in [0, 1]."""

    x: int
    y: int
    width: int
    height: int
    label: str
    score: float

    def to_json(self) -> JSONObject:
        """Return ``{"x", "y", "width", "height", "label", "score"}``."""
        return {
            "x": self.x,
            "y": self.y,
            "width": self.width,
            "height": self.height,
            "label": self.label,
            "score": self.score,
        }


@dataclass(frozen=True)
class XRaySummary:
    """The figures of an X-ray result record; at least one verdict is present."""

    image_digest: str
    algorithm: AlgorithmVerdict | None
    operator_verdict: OperatorVerdict | None
    regions_of_interest: tuple[RegionOfInterest, ...]

    def __post_init__(self) -> None:
        if self.algorithm is None and self.operator_verdict is None:
            raise ScanError("an X-ray scan needs an algorithm or an operator verdict")

    def to_json(self) -> JSONObject:
        """Return the summary as JSON (camelCase keys, nulls kept)."""
        return {
            "imageDigest": self.image_digest,
            "algorithm": None if self.algorithm is None else self.algorithm.to_json(),
            "operatorVerdict": (
                None if self.operator_verdict is None else self.operator_verdict.to_json()
            ),
            "regionsOfInterest": [r.to_json() for r in self.regions_of_interest],
        }


# --- the scan ------------------------------------------------------------------------------

_VERDICT_RESULT: dict[Verdict, ScanResult] = {
    "clear": "clear",
    "suspect": "alarm",
    "inconclusive": "inconclusive",
}
_SHA256_HEX = re.compile(r"[0-9a-f]{64}\Z")


def decide_result(summary: N42Summary | XRaySummary) -> ScanResult:
    """Apply the result rule of the module docstring to a summary.

    Returns:
        ``clear``, ``alarm`` or ``inconclusive``.

    """
    if isinstance(summary, XRaySummary):
        chosen = summary.operator_verdict or summary.algorithm
        # XRaySummary guarantees one of the two.
        return _VERDICT_RESULT[chosen.verdict] if chosen is not None else "inconclusive"
    if summary.alarms or any(n.identified is not False for n in summary.nuclides):
        return "alarm"
    measured = any(
        d.gross_counts is not None or d.spectrum_counts is not None for d in summary.detectors
    )
    if summary.faults or not measured:
        return "inconclusive"
    return "clear"


@dataclass(frozen=True)
class Scan:
    """One scan, whatever the device format.

    Attributes:
        format: The file format, ``n42`` or ``xray``.
        modality: ``xray``, ``rpm`` (gross counting) or ``spectroscopic-rpm``.
        instrument: The instrument as the file names it.
        scan_time: RFC 3339 UTC with ``Z``, taken from the file.
        containers: ISO 6346 container numbers, in file order; the type says they come from
            :func:`~scan_attestation.containers.validate_container_number`.
        result: ``clear``, ``alarm`` or ``inconclusive`` (see :func:`decide_result`).
        summary: The format's figures.
        parser_notes: One line per deviation from the format the adapter tolerated.
        raw_sha256: Lowercase hex SHA-256 of the raw input bytes.

    """

    format: ScanFormat
    modality: Modality
    instrument: Instrument
    scan_time: str
    containers: tuple[ContainerNumber, ...]
    result: ScanResult
    summary: N42Summary | XRaySummary
    parser_notes: tuple[str, ...]
    raw_sha256: str

    def __post_init__(self) -> None:
        if self.format not in SCAN_FORMATS:
            raise ScanError(f"unknown scan format {self.format!r}")
        if self.modality not in MODALITIES:
            raise ScanError(f"unknown modality {self.modality!r}")
        expected = N42Summary if self.format == "n42" else XRaySummary
        if not isinstance(self.summary, expected):
            raise ScanError(f"a {self.format} scan needs a {expected.__name__}")
        if (self.format == "xray") != (self.modality == "xray"):
            raise ScanError(f"modality {self.modality!r} does not fit format {self.format!r}")
        if not _UTC_TIMESTAMP.match(self.scan_time):
            raise ScanError(f"scan time {self.scan_time!r} is not RFC 3339 UTC with Z")
        if not _SHA256_HEX.match(self.raw_sha256):
            raise ScanError("raw_sha256 must be 64 lowercase hex digits")
        if self.result != decide_result(self.summary):
            raise ScanError(f"result {self.result!r} contradicts the summary")
        if not all(isinstance(c, str) for c in self.containers) or not all(
            isinstance(n, str) for n in self.parser_notes
        ):
            raise ScanError("containers and parser notes must be strings")

    def to_json(self) -> JSONObject:
        """Return the scan as plain JSON-ready dicts with camelCase keys (deterministic)."""
        containers: list[JSONValue] = list(self.containers)
        notes: list[JSONValue] = list(self.parser_notes)
        return {
            "format": self.format,
            "modality": self.modality,
            "instrument": self.instrument.to_json(),
            "scanTime": self.scan_time,
            "containers": containers,
            "result": self.result,
            "summary": self.summary.to_json(),
            "parserNotes": notes,
            "rawSha256": self.raw_sha256,
        }
