"""The ANSI N42.42-2012 adapter: NIST samples, hostile input, tolerated deviations, fuzzing.

Figures are checked against the sample files in tests/vectors/n42 (see its README); sums
are worked out by hand in the comments.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scan_attestation.adapters import n42
from scan_attestation.adapters.n42 import MAX_N42_BYTES, N42_NAMESPACE, parse_n42
from scan_attestation.scan import N42Summary, Scan, ScanParseError
from support import VECTORS

N42_DIR = VECTORS / "n42"
ANNEX_D = (N42_DIR / "AnnexD.n42").read_bytes()
ANNEX_D_ALARMED = (N42_DIR / "AnnexD_alarmed.n42").read_bytes()
ANNEX_E = (N42_DIR / "AnnexE.n42").read_bytes()

# From tests/vectors/n42/README.md.
SAMPLE_SHA256 = {
    "AnnexD.n42": "a38044ee3a1fe7e86dffb4b0632a82600eb3051d86e0e6d6342bbe3797176f12",
    "AnnexD_alarmed.n42": "35b53bce1da1b091f5bac9317ab24fad497a06124389b81b7b3e2db5970f3374",
    "AnnexE.n42": "9a7d43f66993744aa6cbdf1f104a553c8c99ad8935c93691e32d9dde57fbcc23",
}


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1, old
    return data.replace(old, new, 1)


def notes_matching(scan: Scan, pattern: str) -> list[str]:
    return [note for note in scan.parser_notes if re.search(pattern, note)]


def camel_keys_only(value: Any) -> bool:
    if isinstance(value, dict):
        return all("_" not in k and camel_keys_only(v) for k, v in value.items())
    if isinstance(value, list):
        return all(camel_keys_only(v) for v in value)
    return True


# --- the NIST samples ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLE_SHA256))
def test_samples_are_the_published_bytes_and_hash_is_kept(name: str) -> None:
    data = (N42_DIR / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SAMPLE_SHA256[name]
    scan = parse_n42(data)
    assert scan.raw_sha256 == SAMPLE_SHA256[name]
    assert scan.parser_notes == ()  # The NIST samples follow the schema.


def test_annex_d_portal_monitor_without_alarm() -> None:
    scan = parse_n42(ANNEX_D)
    assert (scan.format, scan.modality, scan.result) == ("n42", "rpm", "clear")
    assert scan.instrument.manufacturer == "RPMs R Us"
    assert scan.instrument.model == "RPM 3000"
    assert scan.instrument.identifier == "A1234b"
    assert scan.instrument.class_code == "Portal Monitor"
    assert scan.containers == ()
    summary = scan.summary
    assert isinstance(summary, N42Summary)
    assert [(d.id, d.category, d.kind) for d in summary.detectors] == [
        ("Aa1", "Gamma", "PVT"),
        ("Aa2", "Gamma", "PVT"),
        ("Ba1", "Gamma", "PVT"),
        ("Ba2", "Gamma", "PVT"),
        ("Aa1N", "Neutron", "He3"),
        ("Ba1N", "Neutron", "He3"),
    ]
    counts = {d.id: d.gross_counts for d in summary.detectors}
    # Each of the 7 measurements has the same CountData per detector, one value per energy
    # window (0-100, 0-3000, 100-400 keV): Aa1 "5 22 200", Aa2 "6 11 300", Ba1 "22 7 555",
    # Ba2 "3 7 345", Aa1N "0", Ba1N "1". So Aa1 = 7 x (5, 22, 200) = (35, 154, 1400).
    assert counts == {
        "Aa1": (35, 154, 1400),
        "Aa2": (42, 77, 2100),
        "Ba1": (154, 49, 3885),
        "Ba2": (21, 49, 2415),
        "Aa1N": (0,),
        "Ba1N": (7,),
    }
    # Gamma, per window: 7 x (5+6+22+3, 22+11+7+7, 200+300+555+345) = 7 x (36, 47, 1400).
    assert dict(summary.gross_count_totals) == {"Gamma": (252, 329, 9800), "Neutron": (7,)}
    assert summary.spectrum_count_totals == ()
    assert all(d.energy_windows == "GammaWindowSettings" for d in summary.detectors[:4])
    assert [(w.id, w.start_kev, w.end_kev) for w in summary.energy_windows] == [
        ("GammaWindowSettings", (0, 0, 100), (100, 3000, 400))
    ]
    assert summary.alarms == summary.nuclides == summary.faults == ()
    # OccupancyIndicator is 1 in M-3, M-4 and M-5; M-3 starts at 23:45:00.2-07:00.
    assert len(summary.measurements) == 7
    assert [m.occupied for m in summary.measurements] == [
        False,
        False,
        True,
        True,
        True,
        False,
        False,
    ]
    assert summary.occupancy.occupied is True
    assert summary.occupancy.occupied_measurements == 3
    assert summary.occupancy.first_occupied_time == "2003-11-23T06:45:00.2Z"
    assert scan.scan_time == "2003-11-23T06:45:00.2Z"
    assert summary.measurements[0].start_time == "2003-11-23T06:45:00Z"
    assert summary.measurements[0].real_time == "PT0.1S"
    assert summary.measurements[0].class_code == "Background"


def test_annex_d_alarmed_gamma_neutron_snm_and_overspeed() -> None:
    scan = parse_n42(ANNEX_D_ALARMED)
    assert scan.result == "alarm"
    summary = scan.summary
    assert isinstance(summary, N42Summary)
    assert [(a.category, a.light_color, a.detectors, a.description) for a in summary.alarms] == [
        ("Gamma", "Red", ("Aa1", "Aa2", "Ba1", "Ba2"), "SPRT alarm"),
        ("Neutron", "Red", ("Aa1N",), "SPRT alarm"),
    ]
    assert [(n.name, n.identified, n.confidence, n.category) for n in summary.nuclides] == [
        ("Unknown", True, "Low", "SNM")
    ]
    # The Overspeed fault is reported in measurements M-4 and M-5; listed once.
    assert [(f.code, f.description, f.severity, f.sources) for f in summary.faults] == [
        ("5", "Overspeed", "Warning", ("M-4", "M-5"))
    ]
    # Same counts as the unalarmed file.
    assert dict(summary.gross_count_totals) == {"Gamma": (252, 329, 9800), "Neutron": (7,)}


def _expand_counted_zeroes(text: str) -> list[float]:
    values = [float(v) for v in text.split()]
    out: list[float] = []
    i = 0
    while i < len(values):
        if values[i] == 0:
            out += [0.0] * int(values[i + 1])
            i += 2
        else:
            out.append(values[i])
            i += 1
    return out


def test_annex_e_spectroscopic_portal_with_container_and_isotopes() -> None:
    scan = parse_n42(ANNEX_E)
    assert (scan.modality, scan.result) == ("spectroscopic-rpm", "alarm")
    assert scan.containers == ("YMLU3030933",)
    assert scan.instrument.class_code == "Spectroscopic Portal Monitor"
    summary = scan.summary
    assert isinstance(summary, N42Summary)
    assert [(n.name, n.confidence, n.category, n.identified) for n in summary.nuclides] == [
        ("Co-57", "0.91", "Industrial", True),
        ("Cs-137", "0.99", "Industrial", True),
    ]
    assert [(a.category, a.light_color, a.detectors) for a in summary.alarms] == [
        ("Isotope", "Orange", ("Aa1", "Ba1"))
    ]
    by_id = {d.id: d for d in summary.detectors}
    # Neutron GrossCounts: background 301 (Aa1N) and 300 (Ba1N) over 300 s, then 1 in each of
    # the 6 one-second foreground slices: 301 + 6 = 307 and 300 + 6 = 306.
    assert by_id["Aa1N"].gross_counts == (307,)
    assert by_id["Ba1N"].gross_counts == (306,)
    assert dict(summary.gross_count_totals) == {"Neutron": (613,)}
    # Gamma (HPGe) data is only in CountedZeroes spectra: decode them independently here.
    text = ANNEX_E.decode()
    spectra = re.findall(
        r'radDetectorInformationReference="Aa1".*?<ChannelData compressionCode="CountedZeroes">'
        r"(.*?)</ChannelData>",
        text.split("<DerivedData")[0],
        re.S,
    )
    decoded = [_expand_counted_zeroes(s) for s in spectra]
    assert [len(d) for d in decoded] == [8192] * 7  # every spectrum has 8192 channels
    assert sum(sum(d) for d in decoded) == 33937 + 6 * 118
    assert by_id["Aa1"].spectrum_counts == by_id["Ba1"].spectrum_counts == 34645
    assert by_id["Aa1"].gross_counts is None
    assert dict(summary.spectrum_count_totals) == {"Gamma": 2 * 34645}
    # Occupancy true in the 13:02:20.4 and 13:02:21.4 slices; the background is earlier.
    assert summary.occupancy.occupied_measurements == 2
    assert scan.scan_time == "2010-01-27T13:02:20.4Z"
    assert summary.measurements[0].occupied is None  # background: no indicator


def test_to_json_is_plain_camel_case_and_deterministic() -> None:
    first = parse_n42(ANNEX_E).to_json()
    again = parse_n42(ANNEX_E).to_json()
    assert json.dumps(first) == json.dumps(again)
    assert camel_keys_only(first)
    assert list(first) == [
        "format",
        "modality",
        "instrument",
        "scanTime",
        "containers",
        "result",
        "summary",
        "parserNotes",
        "rawSha256",
    ]
    assert first["containers"] == ["YMLU3030933"]
    assert first["summary"]["grossCountTotals"] == {"Neutron": [613]}
    assert first["instrument"]["classCode"] == "Spectroscopic Portal Monitor"


# --- refused input -------------------------------------------------------------------------

LEGACY_2006 = b"""<?xml version="1.0"?>
<N42InstrumentData xmlns="http://physics.nist.gov/Divisions/Div846/Gp4/ANSIN4242/2005/ANSIN4242">
  <Measurement>
    <InstrumentInformation><InstrumentType>PortalMonitor</InstrumentType></InstrumentInformation>
    <Spectrum><RealTime>PT1S</RealTime><ChannelData>1 2 3</ChannelData></Spectrum>
  </Measurement>
</N42InstrumentData>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE RadInstrumentData [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<RadInstrumentData xmlns="http://physics.nist.gov/N42/2011/N42">&lol3;</RadInstrumentData>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE RadInstrumentData [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<RadInstrumentData xmlns="http://physics.nist.gov/N42/2011/N42">
  <RadInstrumentInformation><RadInstrumentManufacturerName>&xxe;</RadInstrumentManufacturerName>
  </RadInstrumentInformation>
</RadInstrumentData>
"""

REFUSED = [
    pytest.param(BILLION_LAUGHS, "DOCTYPE", id="billion-laughs"),
    pytest.param(XXE, "DOCTYPE", id="xxe-file-etc-passwd"),
    pytest.param(
        b'<!DOCTYPE RadInstrumentData SYSTEM "http://example.com/n42.dtd">'
        + ANNEX_D.split(b"?>", 2)[2],
        "DOCTYPE",
        id="external-dtd-only",
    ),
    pytest.param(b"<!DOCTYPE RadInstrumentData><RadInstrumentData/>", "DOCTYPE", id="empty-dtd"),
    pytest.param(LEGACY_2006, "legacy ANSI N42.42-2006", id="legacy-2006"),
    pytest.param(b'<?xml version="1.0"?><html><body/></html>', "root element is 'html'", id="html"),
    pytest.param((N42_DIR / "n42.xsd").read_bytes(), "root element is 'schema'", id="the-xsd"),
    pytest.param(ANNEX_D[:5000], "not well-formed XML", id="truncated"),
    pytest.param(ANNEX_D + b"<extra/>", "not well-formed XML", id="junk-after-root"),
    pytest.param(b"", "empty input", id="empty"),
    pytest.param(b" \n\t ", "empty input", id="whitespace"),
    pytest.param(b"\xef\xbb\xbf", "not well-formed XML", id="bom-only"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8", id="binary-garbage"),
    pytest.param(
        b'<?xml version="1.0" encoding="ISO-8859-1"?><RadInstrumentData>\xe9</RadInstrumentData>',
        "not UTF-8",
        id="latin-1",
    ),
    pytest.param("<RadInstrumentData/>".encode("utf-16"), "not UTF-8", id="utf-16"),
    pytest.param(b"<RadInstrumentData/>", "scan time cannot be read", id="no-time"),
    pytest.param(
        b"<RadInstrumentData><RadMeasurement><StartDateTime>yesterday</StartDateTime>"
        b"</RadMeasurement></RadInstrumentData>",
        "scan time cannot be read",
        id="unreadable-time",
    ),
]


@pytest.mark.parametrize(("data", "expected"), REFUSED)
def test_refused_with_one_clear_line(data: bytes, expected: str) -> None:
    with pytest.raises(ScanParseError) as raised:
        parse_n42(data)
    message = raised.value.message
    assert expected in message
    assert "\n" not in message
    assert raised.value.code == "SCAN_PARSE_ERROR"


def test_xxe_never_reads_the_file() -> None:
    with pytest.raises(ScanParseError) as raised:
        parse_n42(XXE)
    assert "root:" not in str(raised.value)


def test_oversize_is_refused_before_parsing() -> None:
    # Not XML at all: the size check must come first.
    with pytest.raises(ScanParseError, match="over the 16777216-byte limit"):
        parse_n42(b"<" * (MAX_N42_BYTES + 1))
    with pytest.raises(ScanParseError, match="over the 1000-byte limit"):
        parse_n42(ANNEX_D, max_bytes=1000)


def test_too_many_elements_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(n42, "MAX_ELEMENTS", 100)
    with pytest.raises(ScanParseError, match="more than 100 elements"):
        parse_n42(ANNEX_D)


def test_not_bytes_is_refused() -> None:
    with pytest.raises(ScanParseError, match="must be bytes"):
        parse_n42(ANNEX_D.decode())  # type: ignore[arg-type]


# --- tolerated deviations ------------------------------------------------------------------

# The first occurrence is in measurement M-1 (the files have CRLF line ends).
M1_OCCUPANCY = b"<OccupancyIndicator>0</OccupancyIndicator>"


def test_vendor_namespace_element_is_ignored_with_a_note() -> None:
    data = replace_once(
        ANNEX_D,
        M1_OCCUPANCY,
        b'<acme:LaneCamera xmlns:acme="urn:acme:rpm">frame-17.jpg</acme:LaneCamera>' + M1_OCCUPANCY,
    )
    scan = parse_n42(data)
    assert notes_matching(scan, r"\{urn:acme:rpm\}LaneCamera in RadMeasurement: vendor extension")
    assert scan.to_json()["summary"] == parse_n42(ANNEX_D).to_json()["summary"]


def test_undeclared_n42_element_is_ignored_with_a_note() -> None:
    data = replace_once(
        ANNEX_D, M1_OCCUPANCY, b"<LaneSpeedLimit>15</LaneSpeedLimit>" + M1_OCCUPANCY
    )
    scan = parse_n42(data)
    assert notes_matching(scan, r"ignored element LaneSpeedLimit in RadMeasurement: not defined")
    assert scan.result == "clear"


def test_missing_required_codes_are_noted() -> None:
    data = replace_once(ANNEX_D, b"<RadDetectorKindCode>PVT</RadDetectorKindCode>", b"")
    data = replace_once(
        data, b"<RadInstrumentClassCode>Portal Monitor</RadInstrumentClassCode>", b""
    )
    scan = parse_n42(data)
    assert notes_matching(scan, r"RadDetectorInformation 'Aa1': RadDetectorKindCode is missing")
    assert notes_matching(scan, r"RadInstrumentClassCode is missing \(required")
    assert scan.instrument.class_code is None
    summary = scan.summary
    assert isinstance(summary, N42Summary)
    assert summary.detectors[0].kind is None
    assert summary.detectors[0].gross_counts == (35, 154, 1400)


def test_alarm_without_category_code_is_still_an_alarm() -> None:
    data = replace_once(ANNEX_D_ALARMED, b"<RadAlarmCategoryCode>Gamma</RadAlarmCategoryCode>", b"")
    scan = parse_n42(data)
    assert scan.result == "alarm"
    assert notes_matching(scan, r"RadAlarm: RadAlarmCategoryCode is missing")
    summary = scan.summary
    assert isinstance(summary, N42Summary)
    assert summary.alarms[0].category is None


def test_elements_out_of_order_are_read_with_a_note() -> None:
    # Move M-1's OccupancyIndicator (last in the schema) before its GrossCounts.
    m1 = ANNEX_D.index(b'<RadMeasurement id="M-1"')
    head, tail = ANNEX_D[:m1], ANNEX_D[m1:]
    tail = replace_once(tail, M1_OCCUPANCY, b"")
    tail = replace_once(
        tail,
        b"<RealTimeDuration>PT0.1S</RealTimeDuration>",
        b"<RealTimeDuration>PT0.1S</RealTimeDuration><OccupancyIndicator>1</OccupancyIndicator>",
    )
    scan = parse_n42(head + tail)
    assert notes_matching(scan, r"RadMeasurement 'M-1': GrossCounts comes after OccupancyIndicator")
    summary = scan.summary
    assert isinstance(summary, N42Summary)
    assert summary.measurements[0].occupied is True
    assert dict(summary.gross_count_totals)["Gamma"] == (252, 329, 9800)


def test_misplaced_alarm_is_never_dropped() -> None:
    alarm = (
        b"<RadAlarm><RadAlarmCategoryCode>Neutron</RadAlarmCategoryCode></RadAlarm>" + M1_OCCUPANCY
    )
    scan = parse_n42(replace_once(ANNEX_D, M1_OCCUPANCY, alarm))
    assert scan.result == "alarm"
    assert notes_matching(scan, r"RadAlarm inside RadMeasurement, out of its N42.42 place")


def test_extra_calibration_terms_are_noted() -> None:
    data = replace_once(
        ANNEX_E,
        b"<CoefficientValues>0 .3662 0</CoefficientValues>",
        b"<CoefficientValues>0 .3662 0 1.2e-7 -3e-11</CoefficientValues>",
    )
    scan = parse_n42(data)
    assert notes_matching(scan, r"EnergyCalibration 'ENCAL': 5 CoefficientValues .* exactly 3")
    assert scan.result == "alarm"
    assert scan.containers == ("YMLU3030933",)


def test_document_without_namespace_is_read_by_local_names() -> None:
    plain = replace_once(ANNEX_D, b'xmlns="http://physics.nist.gov/N42/2011/N42"', b"")
    scan = parse_n42(plain)
    assert scan.parser_notes == (
        "the document has no namespace; N42.42 elements were read by local name",
    )
    assert scan.to_json()["summary"] == parse_n42(ANNEX_D).to_json()["summary"]


def test_other_namespace_is_read_with_a_note() -> None:
    data = replace_once(
        ANNEX_D_ALARMED, f'xmlns="{N42_NAMESPACE}"'.encode(), b'xmlns="urn:vendor:n42-ish"'
    )
    scan = parse_n42(data)
    assert notes_matching(scan, r"namespace is 'urn:vendor:n42-ish', not http://physics")
    assert scan.result == "alarm"


def test_unqualified_child_in_namespaced_document_is_read() -> None:
    data = replace_once(
        ANNEX_D,
        b"<RadInstrumentIdentifier>A1234b</RadInstrumentIdentifier>",
        b'<RadInstrumentIdentifier xmlns="">A1234b</RadInstrumentIdentifier>',
    )
    scan = parse_n42(data)
    assert scan.instrument.identifier == "A1234b"
    assert notes_matching(
        scan, r"RadInstrumentIdentifier in RadInstrumentInformation has no namespace"
    )


def test_time_without_zone_is_assumed_utc() -> None:
    data = ANNEX_D.replace(b"-07:00</StartDateTime>", b"</StartDateTime>")
    scan = parse_n42(data)
    assert scan.scan_time == "2003-11-22T23:45:00.2Z"
    assert notes_matching(scan, r"StartDateTime without a time zone; UTC assumed")


def test_container_with_wrong_check_digit_is_left_out() -> None:
    data = replace_once(ANNEX_E, b"YMLU3030933", b"YMLU3030934")
    scan = parse_n42(data)
    assert scan.containers == ()
    assert notes_matching(
        scan, r"'YMLU3030934': check digit is 4, ISO 6346 gives 3 .*left out of containers"
    )


def test_unreadable_count_is_left_out_of_the_totals() -> None:
    data = replace_once(
        ANNEX_D, b"<CountData>5 22 200</CountData>", b"<CountData>5 n/a 200</CountData>"
    )
    scan = parse_n42(data)
    assert notes_matching(scan, r"GrossCounts 'GC-1-1' CountData holds 'n/a', not a count")
    summary = scan.summary
    assert isinstance(summary, N42Summary)
    assert summary.detectors[0].gross_counts == (30, 132, 1200)  # 6 of the 7 measurements


def test_fault_without_alarm_is_inconclusive() -> None:
    fault = (
        b"<RadInstrumentState><Fault><FaultCodeValue>9</FaultCodeValue>"
        b"<FaultDescription>Neutron tube high voltage</FaultDescription>"
        b"<FaultSeverityCode>Error</FaultSeverityCode></Fault></RadInstrumentState>"
    )
    scan = parse_n42(replace_once(ANNEX_D, M1_OCCUPANCY, fault + M1_OCCUPANCY))
    assert scan.result == "inconclusive"
    assert scan.parser_notes == ()


def test_nothing_measured_is_inconclusive() -> None:
    data = (
        b'<RadInstrumentData xmlns="http://physics.nist.gov/N42/2011/N42">'
        b"<RadMeasurement><MeasurementClassCode>Foreground</MeasurementClassCode>"
        b"<StartDateTime>2024-01-01T00:00:00Z</StartDateTime>"
        b"<RealTimeDuration>PT1S</RealTimeDuration></RadMeasurement></RadInstrumentData>"
    )
    scan = parse_n42(data)
    assert scan.result == "inconclusive"
    assert notes_matching(scan, "RadInstrumentInformation is missing")
    assert notes_matching(scan, "nothing was measured")


@pytest.mark.parametrize(
    ("indicator", "result"),
    [
        (b"<NuclideIdentifiedIndicator>false</NuclideIdentifiedIndicator>", "clear"),
        (b"<NuclideIdentifiedIndicator>true</NuclideIdentifiedIndicator>", "alarm"),
        (b"", "alarm"),  # missing: counted as identified, to be safe
    ],
)
def test_nuclide_result_without_rad_alarm(indicator: bytes, result: str) -> None:
    nuclide = (
        b"<NuclideAnalysisResults><Nuclide>" + indicator + b"<NuclideName>K-40</NuclideName>"
        b"<NuclideIDConfidenceValue>80</NuclideIDConfidenceValue>"
        b"<NuclideCategoryDescription>NORM</NuclideCategoryDescription>"
        b"</Nuclide></NuclideAnalysisResults></AnalysisResults>"
    )
    scan = parse_n42(replace_once(ANNEX_D, b"</AnalysisResults>", nuclide))
    assert scan.result == result
    assert bool(notes_matching(scan, "NuclideIdentifiedIndicator is missing")) == (not indicator)


def test_notes_are_bounded() -> None:
    vendor = b"".join(b'<v%d:X xmlns:v%d="urn:v%d"/>' % (i, i, i) for i in range(200))
    scan = parse_n42(replace_once(ANNEX_D, M1_OCCUPANCY, vendor + M1_OCCUPANCY))
    assert len(scan.parser_notes) == n42.MAX_NOTES + 1
    assert scan.parser_notes[-1] == "150 more parser notes left out"


# --- fuzzing: a Scan or a ScanParseError, never anything else --------------------------------


def _parse_or_refuse(data: bytes) -> None:
    try:
        scan = parse_n42(data)
    except ScanParseError as e:
        assert "\n" not in e.message
    else:
        json.dumps(scan.to_json())
        assert not any("\n" in note for note in scan.parser_notes)


@settings(max_examples=150, deadline=None, database=None)
@given(st.binary(max_size=512))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _parse_or_refuse(data)


@settings(max_examples=150, deadline=None, database=None)
@given(
    st.sampled_from([ANNEX_D, ANNEX_D_ALARMED]),
    st.lists(st.tuples(st.integers(0, len(ANNEX_D) - 1), st.binary(max_size=3)), max_size=6),
    st.one_of(st.none(), st.integers(0, len(ANNEX_D))),
)
def test_fuzz_mutated_samples(base: bytes, edits: list[tuple[int, bytes]], cut: int | None) -> None:
    data = bytearray(base[:cut])
    for position, replacement in edits:
        data[position : position + len(replacement)] = replacement
    _parse_or_refuse(bytes(data))


_NAMES = sorted({name for order in n42._ORDERS.values() for name in order} | {"Characteristic"})
_TEXTS = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "1",
            "true",
            "-1",
            "5 22 200",
            "NaN",
            "1e400",
            "0 3",
            "Gamma",
            "Neutron",
            "2003-11-22T23:45:00.0-07:00",
            "2003-13-40T99:00:00",
            "ContainerID",
            "CSQU3054383",
            "YMLU3030934",
            "Background",
            "Isotope",
            "Warning",
            "0 .3662 0 1",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8),
)


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


_ELEMENTS = st.recursive(
    st.builds(lambda n, t: f"<{n}>{_xml_text(t)}</{n}>", st.sampled_from(_NAMES), _TEXTS),
    lambda children: st.builds(
        lambda n, attrs, kids: f"<{n}{attrs}>{''.join(kids)}</{n}>",
        st.sampled_from(_NAMES),
        st.sampled_from(
            [
                "",
                ' id="Aa1"',
                ' radDetectorInformationReference="Aa1"',
                ' radDetectorInformationReferences="Aa1 Zz9"',
                ' compressionCode="CountedZeroes"',
                ' compressionCode="Zip"',
            ]
        ),
        st.lists(children, max_size=4),
    ),
    max_leaves=25,
)


@settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(_ELEMENTS, max_size=6), st.booleans())
def test_fuzz_structured_documents(children: list[str], namespaced: bool) -> None:
    xmlns = f' xmlns="{N42_NAMESPACE}"' if namespaced else ""
    _parse_or_refuse(f"<RadInstrumentData{xmlns}>{''.join(children)}</RadInstrumentData>".encode())
