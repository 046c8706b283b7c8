r"""ANSI N42.42-2012 adapter: radiation portal monitor and spectrometer XML to a :class:`Scan`.

:func:`parse_n42` reads one ``RadInstrumentData`` document (namespace
:data:`N42_NAMESPACE`; the 2012 edition kept the "2011" URI) and returns a typed
:class:`~scan_attestation.scan.Scan`: the instrument, the detectors with their gross counts
and spectrum counts summed over every ``RadMeasurement``, occupancy, ``RadAlarm``\ s,
nuclide results, faults, and the ISO 6346 container numbers given as ``RadItemInformation``
characteristics (``ContainerID``).

Safety. The bytes are checked before parsing: at most :data:`MAX_N42_BYTES`, not empty,
UTF-8. Parsing uses ``defusedxml`` with document type declarations, entities and external
references all forbidden (billion laughs, XXE), so nothing outside the bytes is ever read.

Leniency. Instruments deviate from the schema; what can be read is read, and each deviation
becomes one line of ``parser_notes``: a missing required code, elements out of schema order,
elements from a vendor namespace or not defined by N42.42 (ignored), a document without
namespace (read by local names), other than 3 energy calibration coefficients, a time
without zone (UTC assumed), an invalid container number (left out of ``containers``),
unreadable numbers (left out of the totals). ``RadAlarm``, ``Nuclide`` and ``Fault``
elements found out of place are still read, since they can change the result.

Refused with :class:`~scan_attestation.scan.ScanParseError` (one line): empty, oversize or
non-UTF-8 input, broken XML, a DTD or entity declaration, the legacy N42.42-2006 format
(root ``N42InstrumentData``), any other root element, more than :data:`MAX_ELEMENTS`
elements, and a document with no readable time. No other exception escapes, whatever the
input bytes.

Figures: counts are summed over every ``RadMeasurement`` whatever its class (the list of
measurements gives class, start and occupancy); ``DerivedData`` is not counted, since it
repeats measured data. The scan time is the start of the first occupied measurement, else
of the first non-background one, else of the first one, else the first
``AnalysisStartDateTime``. The modality is ``spectroscopic-rpm`` when the document has
``Spectrum`` elements, else ``rpm``.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TypeVar, cast
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden

from scan_attestation.containers import (
    ContainerNumber,
    InvalidContainerNumberError,
    validate_container_number,
)
from scan_attestation.scan import (
    Detector,
    EnergyWindowSet,
    Fault,
    Instrument,
    Measurement,
    N42Summary,
    Nuclide,
    Number,
    Occupancy,
    RadAlarm,
    Scan,
    ScanParseError,
    decide_result,
    format_timestamp,
    parse_timestamp,
)

__all__ = ["MAX_ELEMENTS", "MAX_N42_BYTES", "N42_NAMESPACE", "parse_n42"]

N42_NAMESPACE = "http://physics.nist.gov/N42/2011/N42"
"""The namespace of ANSI N42.42-2011/2012 documents."""

MAX_N42_BYTES = 16 * 1024 * 1024
"""Largest accepted document; larger input is refused before parsing."""

MAX_ELEMENTS = 200_000
"""Largest accepted number of XML elements (a real occupancy has hundreds to a few thousand)."""

MAX_NOTES = 50
"""Parser notes kept; one more line says how many were left out."""

MAX_ITEMS = 4096
"""Entries kept per list of the summary (measurements, alarms, ...); totals count them all."""

_MAX_TEXT = 256
_MAX_VALUES = 1 << 20
_T = TypeVar("_T")


def _order(spec: str) -> dict[str, int]:
    """Rank child names by schema position; names joined by ``|`` are a choice (one rank)."""
    ranks = {"Remark": -1}
    rank, tokens = -1, spec.split()
    for i, name in enumerate(tokens):
        if name != "|":
            rank += 0 if i and tokens[i - 1] == "|" else 1
            ranks[name] = rank
    return ranks


# Child elements of the parts this adapter reads, in the order of the N42.42-2012 schema.
_ORDERS: dict[str, dict[str, int]] = {
    "RadInstrumentData": _order(
        "RadInstrumentDataCreatorName RadInstrumentInformation RadDetectorInformation "
        "RadItemInformation RadMeasurement | RadMeasurementGroup | EnergyCalibration | "
        "FWHMCalibration | TotalEfficiencyCalibration | FullEnergyPeakEfficiencyCalibration | "
        "IntrinsicFullEnergyPeakEfficiencyCalibration | "
        "IntrinsicSingleEscapePeakEfficiencyCalibration | "
        "IntrinsicDoubleEscapePeakEfficiencyCalibration | EnergyWindows | DerivedData | "
        "AnalysisResults | MultimediaData"
    ),
    "RadInstrumentInformation": _order(
        "RadInstrumentManufacturerName RadInstrumentIdentifier RadInstrumentModelName "
        "RadInstrumentDescription RadInstrumentClassCode RadInstrumentVersion "
        "RadInstrumentQualityControl RadInstrumentCharacteristics"
    ),
    "RadDetectorInformation": _order(
        "RadDetectorName RadDetectorCategoryCode RadDetectorKindCode "
        "RadDetectorDescription RadDetectorLengthValue RadDetectorWidthValue "
        "RadDetectorDepthValue RadDetectorDiameterValue RadDetectorVolumeValue "
        "RadDetectorCharacteristics"
    ),
    "RadItemInformation": _order(
        "RadItemDescription RadItemQuantity RadItemMeasurementGeometryDescription "
        "RadItemCharacteristics"
    ),
    "RadMeasurement": _order(
        "MeasurementClassCode StartDateTime RealTimeDuration Spectrum GrossCounts "
        "DoseRate TotalDose ExposureRate TotalExposure RadInstrumentState "
        "RadDetectorState RadItemState OccupancyIndicator"
    ),
    "GrossCounts": _order("LiveTimeDuration CountData TotalCountData"),
    "Spectrum": _order("LiveTimeDuration ChannelData"),
    "EnergyWindows": _order("WindowStartEnergyValues WindowEndEnergyValues"),
    "EnergyCalibration": _order(
        "CoefficientValues | EnergyBoundaryValues EnergyValues EnergyDeviationValues "
        "CalibrationDateTime"
    ),
    "RadInstrumentState": _order(
        "RadInstrumentModeCode RadInstrumentModeDescription StateVector Fault "
        "RadInstrumentCharacteristics"
    ),
    "RadDetectorState": _order("StateVector Fault RadDetectorCharacteristics"),
    "AnalysisResults": _order(
        "AnalysisStartDateTime AnalysisComputationDuration AnalysisAlgorithmName "
        "AnalysisAlgorithmCreatorName AnalysisAlgorithmDescription "
        "AnalysisAlgorithmVersion AnalysisAlgorithmSetting AnalysisResultStatusCode "
        "AnalysisConfidenceValue AnalysisResultDescription RadAlarm "
        "NuclideAnalysisResults SpectrumPeakAnalysisResults GrossCountAnalysisResults "
        "DoseAnalysisResults ExposureAnalysisResults Fault"
    ),
    "RadAlarm": _order(
        "RadAlarmDateTime RadAlarmCategoryCode RadAlarmDescription "
        "AlarmAudibleIndicator RadAlarmLightColor RadAlarmEnergyWindowIndices"
    ),
    "NuclideAnalysisResults": _order("Nuclide NuclideAnalysisReducedChiSquareValue"),
    "Nuclide": _order(
        "NuclideIdentifiedIndicator NuclideName NuclideActivityValue "
        "NuclideActivityUncertaintyValue NuclideMinimumDetectableActivityValue "
        "NuclideIDConfidenceValue | NuclideIDConfidenceDescription | "
        "NuclideIDConfidenceUncertaintyValue "
        "NuclideCategoryDescription NuclideSourceGeometryCode SourcePosition "
        "NuclideShieldingAtomicNumber NuclideShieldingArealDensityValue"
    ),
    "Fault": _order("FaultCodeValue FaultDescription FaultSeverityCode"),
}
_DETECTOR_CATEGORIES = {"Gamma", "Neutron", "Alpha", "Beta", "X-ray", "Other"}
_ALARM_CATEGORIES = {"Neutron", "Gamma", "Alpha", "Beta", "Isotope", "Other"}
_MEASUREMENT_CLASSES = {
    "Foreground",
    "Background",
    "Calibration",
    "IntrinsicActivity",
    "NotSpecified",
}
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_CONTAINER_NAMES = {"containerid", "containernumber", "containerno", "iso6346"}
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?\Z", re.ASCII)


def _show(text: str) -> str:
    """Quote a value from the file for a note: short and printable."""
    return ascii(text[:40]) if len(text) <= 40 else ascii(text[:40])[:-1] + "...'"


def _split(tag: object) -> tuple[str, str]:
    if not isinstance(tag, str):
        return "\0", ""  # A comment or processing instruction: never read.
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


class _Notes:
    """Parser notes: one line per deviation, repeated ones counted, at most MAX_NOTES."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._left_out = 0

    def add(self, line: str, times: int = 1) -> None:
        if line in self._counts:
            self._counts[line] += times
        elif len(self._counts) < MAX_NOTES:
            self._counts[line] = times
        else:
            self._left_out += 1

    def lines(self) -> tuple[str, ...]:
        out = [line if n == 1 else f"{line} ({n} times)" for line, n in self._counts.items()]
        if self._left_out:
            out.append(f"{self._left_out} more parser notes left out")
        return tuple(out)


class _Reader:
    """Reads N42 elements by local name in the document's namespace, noting deviations."""

    def __init__(self, namespace: str, notes: _Notes) -> None:
        self.namespace = namespace
        self.notes = notes
        self._index: dict[Element, dict[str, list[Element]]] = {}

    def kids(self, parent: Element, name: str) -> list[Element]:
        """Return the children named ``name`` (N42 namespace or none), in document order."""
        # One pass per parent, however many names are asked for: a parent with a million
        # children must not cost a million steps per lookup.
        index = self._index.get(parent)
        if index is None:
            index = self._index[parent] = {}
            for child in parent:
                namespace, local = _split(child.tag)
                if namespace in (self.namespace, ""):
                    index.setdefault(local, []).append(child)
        return index.get(name, [])

    def raw(self, parent: Element, name: str, where: str, *, required: bool = False) -> str | None:
        """Return the stripped text of the first child ``name`` (None if absent or empty)."""
        found = self.kids(parent, name)
        if not found:
            if required:
                self.notes.add(f"{where}: {name} is missing (required by N42.42)")
            return None
        if len(found) > 1:
            self.notes.add(f"{where}: {len(found)} {name} elements; the first was read")
        return (found[0].text or "").strip() or None

    def text(self, parent: Element, name: str, where: str, *, required: bool = False) -> str | None:
        """Like :meth:`raw`, cut to a length fit for the summary."""
        return self.clean(self.raw(parent, name, where, required=required), f"{where}: {name}")

    def clean(self, text: str | None, what: str) -> str | None:
        value = (text or "").strip()
        if len(value) > _MAX_TEXT:
            self.notes.add(f"{what} is longer than {_MAX_TEXT} characters; cut")
            value = value[:_MAX_TEXT]
        return value or None

    def check(self, element: Element, kind: str, where: str) -> None:
        """Note children that are foreign, undefined here or out of schema order."""
        ranks = _ORDERS[kind]
        # Per distinct tag: the note it earns (if any) and its schema rank (if defined).
        tags: dict[object, tuple[str | None, int | None, str]] = {}
        found: dict[str, int] = {}
        last_rank, last_name = -2, ""
        for child in element:
            known = tags.get(child.tag)
            if known is None:
                known = tags[child.tag] = self._classify(child.tag, kind, ranks)
            note, rank, local = known
            if note is not None:
                found[note] = found.get(note, 0) + 1
            if rank is None:
                continue
            if rank < last_rank:
                line = f"{where}: {local} comes after {last_name}, against the N42.42 element order"
                found[line + "; read anyway"] = 1
            else:
                last_rank, last_name = rank, local
        for line, times in found.items():
            self.notes.add(line, times)

    def _classify(
        self, tag: object, kind: str, ranks: dict[str, int]
    ) -> tuple[str | None, int | None, str]:
        namespace, local = _split(tag)
        if namespace == "\0":
            return None, None, local
        if namespace not in (self.namespace, ""):
            note = (
                f"ignored element {{{ascii(namespace[:80])[1:-1]}}}{local[:40]} in {kind}: "
                "vendor extension, not part of N42.42"
            )
            return note, None, local
        rank = ranks.get(local)
        if rank is None:
            defined = local.endswith("Extension")
            return (
                None if defined else f"ignored element {local[:40]} in {kind}: not defined there",
                None,
                local,
            )
        if namespace != self.namespace:
            return f"element {local[:40]} in {kind} has no namespace; read as N42", rank, local
        return None, rank, local

    def time(self, text: str | None, what: str) -> datetime | None:
        if text is None:
            return None
        try:
            when, zoned = parse_timestamp(text)
        except ValueError as e:
            self.notes.add(f"{what} {_show(text)} is not a valid date and time ({e}); ignored")
            return None
        if not zoned:
            self.notes.add(f"{what} without a time zone; UTC assumed")
        return when

    def numbers(self, text: str | None, what: str) -> tuple[Number, ...] | None:
        """Parse a list of non-negative xsd:double values, or note why it cannot be read."""
        if text is None:
            return None
        tokens = text.split(maxsplit=_MAX_VALUES)
        if len(tokens) > _MAX_VALUES:
            self.notes.add(f"{what} has more than {_MAX_VALUES} values; not counted")
            return None
        values: list[Number] = []
        for token in tokens:
            value = _number(token)
            if value is None or value < 0:
                self.notes.add(f"{what} holds {_show(token)}, not a count; not counted")
                return None
            values.append(value)
        return tuple(values)


def _number(token: str) -> Number | None:
    if token.isascii() and token.isdigit() and len(token) <= 18:
        return int(token)
    if len(token) > 64 or not _DECIMAL.match(token):
        return None  # Also NaN and INF, valid xsd:double but not counts.
    value = float(token)
    return value if math.isfinite(value) else None


def _capped(items: list[_T], what: str, notes: _Notes) -> tuple[_T, ...]:
    if len(items) > MAX_ITEMS:
        notes.add(f"{len(items)} {what}; only the first {MAX_ITEMS} are listed")
    return tuple(items[:MAX_ITEMS])


def _add(total: list[Number], values: Iterable[Number]) -> None:
    for i, value in enumerate(values):
        total[i] += value


def _parse_xml(data: bytes, max_bytes: int) -> Element:
    """Check the raw bytes, then parse them with every DTD and entity feature refused."""
    if not isinstance(data, bytes):
        raise ScanParseError(f"N42 input must be bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise ScanParseError(
            f"N42 document of {len(data)} bytes is over the {max_bytes}-byte limit; "
            "refused before parsing"
        )
    if not data.strip():
        raise ScanParseError("empty input: no N42 document")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScanParseError(
            f"not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start} is invalid"
        ) from e
    try:
        root = _build_tree(data)
    except DTDForbidden as e:
        raise ScanParseError(
            "document type declaration (DOCTYPE) refused: N42.42 documents have none, and "
            "DTDs carry entity expansion (billion laughs) and external entity (XXE) attacks"
        ) from e
    except EntitiesForbidden as e:
        raise ScanParseError("entity declaration refused (entity expansion attack)") from e
    except DefusedXmlException as e:
        raise ScanParseError(f"refused XML feature: {type(e).__name__}") from e
    except ParseError as e:
        raise ScanParseError(f"not well-formed XML: {e}") from e
    return root


def _build_tree(data: bytes) -> Element:
    """Parse with defusedxml, stopping as soon as the document has too many elements."""
    events = SafeET.iterparse(
        io.BytesIO(data),
        events=("start",),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    root: Element | None = None
    for count, (_, element) in enumerate(events, 1):
        if root is None:
            root = cast(Element, element)
        if count > MAX_ELEMENTS:
            raise ScanParseError(
                f"N42 document has more than {MAX_ELEMENTS} elements; refused "
                "(element count limit, which bounds memory and time)"
            )
    if root is None:  # pragma: no cover - expat reports "no element found" first
        raise ScanParseError("no XML element found")
    return root


def parse_n42(data: bytes, *, max_bytes: int = MAX_N42_BYTES) -> Scan:
    """Parse an ANSI N42.42-2012 document into a :class:`Scan`.

    Args:
        data: The raw document bytes, exactly as received (their SHA-256 is kept).
        max_bytes: Largest accepted input; larger input is refused before parsing.

    Returns:
        The scan, with one parser note per tolerated deviation.

    Raises:
        ScanParseError: The bytes cannot be read as an N42.42-2012 document; the one-line
            message says why (see the module docstring for the list).

    """
    root = _parse_xml(data, max_bytes)
    namespace, local = _split(root.tag)
    if local == "N42InstrumentData":
        raise ScanParseError(
            "legacy ANSI N42.42-2006 document (root N42InstrumentData) is not supported; "
            "only N42.42-2012 (root RadInstrumentData) is read"
        )
    if local != "RadInstrumentData":
        raise ScanParseError(
            f"not an N42.42 document: the root element is {_show(local)}, not RadInstrumentData"
        )
    notes = _Notes()
    if namespace == "":
        notes.add("the document has no namespace; N42.42 elements were read by local name")
    elif namespace != N42_NAMESPACE:
        notes.add(
            f"the document namespace is {_show(namespace)}, not {N42_NAMESPACE}; "
            "N42.42 elements were read by local name"
        )
    reader = _Reader(namespace, notes)
    reader.check(root, "RadInstrumentData", "RadInstrumentData")
    return _Document(reader, root).scan(data)


class _Document:
    """One parse: reads the parts of a RadInstrumentData element into the summary."""

    def __init__(self, reader: _Reader, root: Element) -> None:
        self.r = reader
        self.notes = reader.notes
        self.root = root
        self.detectors: dict[str, dict[str, str | None]] = {}
        self.gross: dict[str, list[Number]] = {}
        self.windows_of: dict[str, str | None] = {}
        self.spectra: dict[str, Number] = {}
        self.faults: dict[tuple[str | None, str | None, str | None], list[str]] = {}
        self.has_spectrum = False
        self.seen: set[Element] = set()  # RadAlarm, Nuclide and Fault elements read

    def parts(self, name: str) -> list[Element]:
        return self.r.kids(self.root, name)

    def scan(self, data: bytes) -> Scan:
        instrument = self.instrument()
        self.read_detectors()
        windows = self.energy_windows()
        self.calibrations()
        containers = self.containers()
        measurements, times = self.measurements()
        alarms, nuclides, analysis_times = self.analysis()
        self.has_spectrum |= any(self.r.kids(d, "Spectrum") for d in self.parts("DerivedData"))
        if not self.gross and not self.spectra:
            self.notes.add(
                "no GrossCounts or Spectrum data was counted: nothing was measured, so the "
                "result cannot be clear"
            )
        summary = N42Summary(
            detectors=_capped(self.detector_figures(), "detectors", self.notes),
            energy_windows=_capped(windows, "energy window sets", self.notes),
            measurements=_capped(measurements, "measurements", self.notes),
            occupancy=_occupancy(measurements, times),
            gross_count_totals=self.totals(),
            spectrum_count_totals=self.spectrum_totals(),
            alarms=_capped(alarms, "alarms", self.notes),
            nuclides=_capped(nuclides, "nuclides", self.notes),
            faults=_capped(
                [Fault(*key, tuple(src[:64])) for key, src in self.faults.items()],
                "distinct faults",
                self.notes,
            ),
        )
        return Scan(
            format="n42",
            modality="spectroscopic-rpm" if self.has_spectrum else "rpm",
            instrument=instrument,
            scan_time=format_timestamp(_scan_time(measurements, times, analysis_times)),
            containers=containers,
            result=decide_result(summary),
            summary=summary,
            parser_notes=self.notes.lines(),
            raw_sha256=hashlib.sha256(data).hexdigest(),
        )

    def instrument(self) -> Instrument:
        found = self.parts("RadInstrumentInformation")
        if not found:
            self.notes.add("RadInstrumentInformation is missing (required); instrument unknown")
            return Instrument()
        if len(found) > 1:
            self.notes.add(f"{len(found)} RadInstrumentInformation elements; the first was read")
        info, where = found[0], "RadInstrumentInformation"
        self.r.check(info, where, where)
        return Instrument(
            manufacturer=self.r.text(info, "RadInstrumentManufacturerName", where, required=True),
            model=self.r.text(info, "RadInstrumentModelName", where, required=True),
            identifier=self.r.text(info, "RadInstrumentIdentifier", where),
            class_code=self.r.text(info, "RadInstrumentClassCode", where, required=True),
        )

    def read_detectors(self) -> None:
        found = self.parts("RadDetectorInformation")
        if not found:
            self.notes.add("no RadDetectorInformation (at least one is required)")
        for i, element in enumerate(found, 1):
            ident = self.r.clean(element.get("id"), f"RadDetectorInformation #{i} id")
            where = f"RadDetectorInformation {_show(ident or f'#{i}')}"
            self.r.check(element, "RadDetectorInformation", where)
            if ident is None:
                self.notes.add(f"{where} has no id; named detector-{i}")
                ident = f"detector-{i}"
            if ident in self.detectors:
                self.notes.add(f"{where}: duplicate detector id; the first was kept")
                continue
            category = self.r.text(element, "RadDetectorCategoryCode", where, required=True)
            if category is not None and category not in _DETECTOR_CATEGORIES:
                self.notes.add(f"{where}: unknown RadDetectorCategoryCode {_show(category)}")
            self.detectors[ident] = {
                "name": self.r.text(element, "RadDetectorName", where),
                "category": category,
                "kind": self.r.text(element, "RadDetectorKindCode", where, required=True),
            }

    def detector_ref(self, element: Element, what: str) -> str | None:
        ref = (element.get("radDetectorInformationReference") or "").strip()
        if not ref and len(self.detectors) == 1:
            return next(iter(self.detectors))
        if ref not in self.detectors:
            problem = f"unknown detector {_show(ref)}" if ref else "no detector reference"
            self.notes.add(f"{what} with {problem}; not counted")
            return None
        return ref

    def energy_windows(self) -> list[EnergyWindowSet]:
        out = []
        for i, element in enumerate(self.parts("EnergyWindows"), 1):
            ident = self.r.clean(element.get("id"), "EnergyWindows id") or f"#{i}"
            where = f"EnergyWindows {_show(ident)}"
            self.r.check(element, "EnergyWindows", where)
            start = self.r.numbers(
                self.r.raw(element, "WindowStartEnergyValues", where, required=True), where
            )
            end = self.r.numbers(
                self.r.raw(element, "WindowEndEnergyValues", where, required=True), where
            )
            if start is None or end is None or len(start) != len(end):
                self.notes.add(f"{where}: start and end energies do not pair up; not listed")
                continue
            out.append(EnergyWindowSet(ident, start, end))
        return out

    def calibrations(self) -> None:
        """Check energy calibrations: the adapter does not use them, but notes deviations."""
        for i, element in enumerate(self.parts("EnergyCalibration"), 1):
            where = f"EnergyCalibration {_show(element.get('id') or f'#{i}')}"
            self.r.check(element, "EnergyCalibration", where)
            terms = (self.r.raw(element, "CoefficientValues", where) or "").split()
            if terms and len(terms) != 3:
                self.notes.add(
                    f"{where}: {len(terms)} CoefficientValues where N42.42-2012 allows "
                    "exactly 3; the calibration is not used by this parser"
                )

    def containers(self) -> tuple[ContainerNumber, ...]:
        found: list[ContainerNumber] = []
        for i, item in enumerate(self.parts("RadItemInformation"), 1):
            where = f"RadItemInformation {_show(item.get('id') or f'#{i}')}"
            self.r.check(item, "RadItemInformation", where)
            for characteristic in self.characteristics(item):
                name = self.r.text(characteristic, "CharacteristicName", where) or ""
                if re.sub(r"[^a-z0-9]", "", name.lower()) not in _CONTAINER_NAMES:
                    continue
                value = self.r.text(characteristic, "CharacteristicValue", where) or ""
                try:
                    number = validate_container_number(value)
                except InvalidContainerNumberError as e:
                    self.notes.add(f"{where}: {e.message}; left out of containers")
                    continue
                if number not in found:
                    found.append(number)
        return _capped(found, "container numbers", self.notes)

    def characteristics(self, item: Element) -> list[Element]:
        out = []
        for block in self.r.kids(item, "RadItemCharacteristics"):
            out += self.r.kids(block, "Characteristic")
            for group in self.r.kids(block, "CharacteristicGroup"):
                out += self.r.kids(group, "Characteristic")
        return out

    def measurements(self) -> tuple[list[Measurement], list[datetime | None]]:
        out: list[Measurement] = []
        times: list[datetime | None] = []
        for i, element in enumerate(self.parts("RadMeasurement"), 1):
            ident = self.r.clean(element.get("id"), "RadMeasurement id")
            where = f"RadMeasurement {_show(ident or f'#{i}')}"
            self.r.check(element, "RadMeasurement", where)
            class_code = self.r.text(element, "MeasurementClassCode", where, required=True)
            if class_code is not None and class_code not in _MEASUREMENT_CLASSES:
                self.notes.add(f"{where}: unknown MeasurementClassCode {_show(class_code)}")
            start = self.r.time(
                self.r.text(element, "StartDateTime", where, required=True),
                f"{where}: StartDateTime",
            )
            real_time = self.r.text(element, "RealTimeDuration", where, required=True)
            occupied_text = self.r.text(element, "OccupancyIndicator", where)
            occupied = _BOOLEANS.get(occupied_text or "")
            if occupied_text is not None and occupied is None:
                self.notes.add(f"{where}: OccupancyIndicator {_show(occupied_text)} not boolean")
            self.counts(element, where)
            self.state_faults(element, ident or where)
            times.append(start)
            out.append(
                Measurement(
                    ident,
                    class_code,
                    None if start is None else format_timestamp(start),
                    real_time,
                    occupied,
                )
            )
        return out, times

    def counts(self, measurement: Element, where: str) -> None:
        for element in self.r.kids(measurement, "GrossCounts"):
            what = f"{where}: GrossCounts {_show(element.get('id') or '')}"
            self.r.check(element, "GrossCounts", what)
            detector = self.detector_ref(element, what)
            text = self.r.raw(element, "CountData", what, required=True)
            values = self.r.numbers(text, f"{what} CountData")
            if detector is None or not values:
                continue
            total = self.gross.setdefault(detector, [0] * len(values))
            self.windows_of.setdefault(detector, element.get("energyWindowsReference"))
            if len(total) != len(values):
                self.notes.add(
                    f"{what}: {len(values)} values where detector {_show(detector)} had "
                    f"{len(total)}; not counted"
                )
                continue
            _add(total, values)
        for element in self.r.kids(measurement, "Spectrum"):
            self.has_spectrum = True
            what = f"{where}: Spectrum {_show(element.get('id') or '')}"
            self.r.check(element, "Spectrum", what)
            detector = self.detector_ref(element, what)
            channels = self.r.kids(element, "ChannelData")
            if not channels:
                self.notes.add(f"{what}: ChannelData is missing (required)")
            if detector is None or not channels:
                continue
            channel_sum = _channel_total(self.r, channels[0], what)
            if channel_sum is not None:
                self.spectra[detector] = self.spectra.get(detector, 0) + channel_sum

    def state_faults(self, measurement: Element, source: str) -> None:
        for kind in ("RadInstrumentState", "RadDetectorState"):
            for state in self.r.kids(measurement, kind):
                self.r.check(state, kind, f"{_show(source)} {kind}")
                self.read_faults(state, source)

    def read_faults(self, parent: Element, source: str) -> None:
        for fault in self.r.kids(parent, "Fault"):
            self.fault(fault, source)

    def fault(self, element: Element, source: str) -> None:
        self.seen.add(element)
        where = f"Fault in {_show(source)}"
        self.r.check(element, "Fault", where)
        key = (
            self.r.text(element, "FaultCodeValue", where, required=True),
            self.r.text(element, "FaultDescription", where, required=True),
            self.r.text(element, "FaultSeverityCode", where, required=True),
        )
        sources = self.faults.setdefault(key, [])
        if source not in sources:
            sources.append(source)

    def analysis(self) -> tuple[list[RadAlarm], list[Nuclide], list[datetime]]:
        alarms: list[RadAlarm] = []
        nuclides: list[Nuclide] = []
        times: list[datetime] = []
        for i, element in enumerate(self.parts("AnalysisResults"), 1):
            ident = self.r.clean(element.get("id"), "AnalysisResults id")
            where = f"AnalysisResults {_show(ident or f'#{i}')}"
            self.r.check(element, "AnalysisResults", where)
            start = self.r.time(
                self.r.text(element, "AnalysisStartDateTime", where),
                f"{where}: AnalysisStartDateTime",
            )
            if start is not None:
                times.append(start)
            alarms += [self.alarm(a, where) for a in self.r.kids(element, "RadAlarm")]
            for results in self.r.kids(element, "NuclideAnalysisResults"):
                self.r.check(results, "NuclideAnalysisResults", where)
                nuclides += [self.nuclide(n, where) for n in self.r.kids(results, "Nuclide")]
            self.read_faults(element, ident or where)
        self.strays(alarms, nuclides)
        return alarms, nuclides, times

    def strays(self, alarms: list[RadAlarm], nuclides: list[Nuclide]) -> None:
        """Read RadAlarm, Nuclide and Fault elements found outside their schema place.

        They can change the result, so a misplaced alarm must never be dropped.
        """
        for parent in self.root.iter():
            for child in parent:
                namespace, local = _split(child.tag)
                if (
                    local not in ("RadAlarm", "Nuclide", "Fault")
                    or namespace not in (self.r.namespace, "")
                    or child in self.seen
                ):
                    continue
                place = _split(parent.tag)[1][:40]
                where = f"{local} inside {place}"
                self.notes.add(f"{where}, out of its N42.42 place; read anyway")
                if local == "RadAlarm":
                    alarms.append(self.alarm(child, where))
                elif local == "Nuclide":
                    nuclides.append(self.nuclide(child, where))
                else:
                    self.fault(child, place)

    def alarm(self, element: Element, where: str) -> RadAlarm:
        self.seen.add(element)
        where = f"{where}: RadAlarm"
        self.r.check(element, "RadAlarm", where)
        category = self.r.text(element, "RadAlarmCategoryCode", where, required=True)
        if category is not None and category not in _ALARM_CATEGORIES:
            self.notes.add(f"{where}: unknown RadAlarmCategoryCode {_show(category)}")
        refs = (element.get("radDetectorInformationReferences") or "").split()
        for ref in refs:
            if ref not in self.detectors:
                self.notes.add(f"{where} names unknown detector {_show(ref)}")
        return RadAlarm(
            category=category,
            description=self.r.text(element, "RadAlarmDescription", where),
            light_color=self.r.text(element, "RadAlarmLightColor", where),
            detectors=tuple(ref[:_MAX_TEXT] for ref in refs[:64]),
        )

    def nuclide(self, element: Element, where: str) -> Nuclide:
        self.seen.add(element)
        where = f"{where}: Nuclide"
        self.r.check(element, "Nuclide", where)
        indicator = self.r.text(element, "NuclideIdentifiedIndicator", where, required=True)
        identified = _BOOLEANS.get(indicator or "")
        if indicator is not None and identified is None:
            self.notes.add(f"{where}: NuclideIdentifiedIndicator {_show(indicator)} not boolean")
        confidence = self.r.text(element, "NuclideIDConfidenceValue", where) or self.r.text(
            element, "NuclideIDConfidenceDescription", where
        )
        if confidence is None:
            self.notes.add(f"{where}: no NuclideIDConfidenceValue or Description (required)")
        return Nuclide(
            name=self.r.text(element, "NuclideName", where, required=True),
            identified=identified,
            confidence=confidence,
            category=self.r.text(element, "NuclideCategoryDescription", where),
        )

    def detector_figures(self) -> list[Detector]:
        return [
            Detector(
                id=ident,
                name=info["name"],
                category=info["category"],
                kind=info["kind"],
                energy_windows=self.windows_of.get(ident),
                gross_counts=tuple(self.gross[ident]) if ident in self.gross else None,
                spectrum_counts=self.spectra.get(ident),
            )
            for ident, info in self.detectors.items()
        ]

    def totals(self) -> tuple[tuple[str, tuple[Number, ...]], ...]:
        sums: dict[str, list[Number]] = {}
        for ident, values in self.gross.items():
            category = self.detectors[ident]["category"] or "unknown"
            total = sums.setdefault(category, [0] * len(values))
            if len(total) != len(values):
                self.notes.add(
                    f"{_show(category)} detectors have different numbers of energy windows; "
                    f"detector {_show(ident)} is left out of that total"
                )
                continue
            _add(total, values)
        return tuple((category, tuple(values)) for category, values in sums.items())

    def spectrum_totals(self) -> tuple[tuple[str, Number], ...]:
        sums: dict[str, Number] = {}
        for ident, value in self.spectra.items():
            category = self.detectors[ident]["category"] or "unknown"
            sums[category] = sums.get(category, 0) + value
        return tuple(sums.items())


def _channel_total(reader: _Reader, channels: Element, what: str) -> Number | None:
    """Sum a spectrum's channels, expanding ``CountedZeroes`` (a 0 is followed by a run)."""
    values = reader.numbers((channels.text or "").strip() or None, what)
    if values is None:
        return None
    code = (channels.get("compressionCode") or "None").strip()
    if code == "None":
        return sum(values)
    if code != "CountedZeroes":
        reader.notes.add(f"{what}: unknown compressionCode {_show(code)}; not counted")
        return None
    total: Number = 0
    run = False
    for value in values:
        if run:
            run = False
        elif value == 0:
            run = True
        else:
            total += value
    if run:
        reader.notes.add(f"{what}: CountedZeroes data ends with a 0 and no run length")
    return total


def _occupancy(measurements: list[Measurement], times: list[datetime | None]) -> Occupancy:
    flags = [m.occupied for m in measurements]
    occupied_times = [t for t, m in zip(times, measurements, strict=True) if m.occupied and t]
    return Occupancy(
        occupied=True if any(flags) else (False if False in flags else None),
        occupied_measurements=sum(1 for f in flags if f),
        first_occupied_time=format_timestamp(min(occupied_times)) if occupied_times else None,
    )


def _scan_time(
    measurements: list[Measurement], times: list[datetime | None], analysis: list[datetime]
) -> datetime:
    pairs = [(t, m) for t, m in zip(times, measurements, strict=True) if t is not None]
    for choose in (
        lambda m: m.occupied is True,
        lambda m: m.class_code != "Background",
        lambda m: True,
    ):
        chosen = [t for t, m in pairs if choose(m)]
        if chosen:
            return min(chosen)
    if analysis:
        return min(analysis)
    raise ScanParseError(
        "no readable StartDateTime or AnalysisStartDateTime: the scan time cannot be read"
    )
