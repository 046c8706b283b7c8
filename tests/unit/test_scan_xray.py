"""The X-ray result adapter, format sniffing and the Scan model's own checks."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scan_attestation.adapters import ADAPTERS, parse_scan, sniff_format
from scan_attestation.adapters.xray import MAX_XRAY_BYTES, parse_xray_result, xray_result_schema
from scan_attestation.scan import (
    AlgorithmVerdict,
    Instrument,
    Scan,
    ScanError,
    ScanParseError,
    XRaySummary,
    decide_result,
)
from support import VECTORS

IMAGE = b"II*\x00 pretend this is the 40 MB TIFF of container CSQU3054383"
IMAGE_DIGEST = "sha256:" + hashlib.sha256(IMAGE).hexdigest()

RECORD: dict[str, Any] = {
    "scannerId": "NII-NLRTM-07",
    "scanTime": "2024-05-02T11:14:03.250+02:00",
    "containerIds": ["CSQU3054383", "YMLU3030933"],
    "imageDigest": IMAGE_DIGEST,
    "algorithm": {"name": "ThreatFinder", "version": "4.1.0", "verdict": "suspect"},
    "operatorVerdict": {"verdict": "clear", "operatorId": "officer-118"},
    "regionsOfInterest": [
        {"x": 120, "y": 40, "width": 300, "height": 200, "label": "dense organic", "score": 0.82},
        {"x": 0, "y": 0, "width": 1, "height": 1, "label": "edge", "score": 1},
    ],
}


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


def with_changes(**changes: Any) -> dict[str, Any]:
    record = copy.deepcopy(RECORD)
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def test_valid_record() -> None:
    data = encode(RECORD)
    scan = parse_xray_result(data)
    assert (scan.format, scan.modality) == ("xray", "xray")
    assert scan.instrument == Instrument(identifier="NII-NLRTM-07")
    assert scan.scan_time == "2024-05-02T09:14:03.25Z"  # the +02:00 offset, in UTC
    assert scan.containers == ("CSQU3054383", "YMLU3030933")
    assert scan.raw_sha256 == hashlib.sha256(data).hexdigest()
    assert scan.parser_notes == ()
    summary = scan.summary
    assert isinstance(summary, XRaySummary)
    assert summary.image_digest == IMAGE_DIGEST
    assert summary.algorithm == AlgorithmVerdict("ThreatFinder", "4.1.0", "suspect")
    assert summary.operator_verdict is not None
    assert summary.operator_verdict.operator_id == "officer-118"
    assert [r.label for r in summary.regions_of_interest] == ["dense organic", "edge"]
    # The operator cleared what the algorithm flagged: the operator wins.
    assert scan.result == "clear"
    as_json = scan.to_json()
    assert as_json["summary"] == {
        "imageDigest": IMAGE_DIGEST,
        "algorithm": {"name": "ThreatFinder", "version": "4.1.0", "verdict": "suspect"},
        "operatorVerdict": {"verdict": "clear", "operatorId": "officer-118"},
        "regionsOfInterest": [
            {
                "x": 120,
                "y": 40,
                "width": 300,
                "height": 200,
                "label": "dense organic",
                "score": 0.82,
            },
            {"x": 0, "y": 0, "width": 1, "height": 1, "label": "edge", "score": 1.0},
        ],
    }
    assert json.dumps(as_json) == json.dumps(parse_xray_result(data).to_json())


@pytest.mark.parametrize(
    ("algorithm", "operator", "result"),
    [
        ("suspect", "clear", "clear"),
        ("clear", "suspect", "alarm"),
        ("clear", "inconclusive", "inconclusive"),
        ("suspect", None, "alarm"),
        ("clear", None, "clear"),
        ("inconclusive", None, "inconclusive"),
        (None, "suspect", "alarm"),
        (None, "clear", "clear"),
    ],
)
def test_result_rule_operator_wins(
    algorithm: str | None, operator: str | None, result: str
) -> None:
    record = with_changes(
        algorithm=None if algorithm is None else {**RECORD["algorithm"], "verdict": algorithm},
        operatorVerdict=None
        if operator is None
        else {**RECORD["operatorVerdict"], "verdict": operator},
    )
    assert parse_xray_result(encode(record)).result == result


def test_optional_parts() -> None:
    scan = parse_xray_result(encode(with_changes(regionsOfInterest=None, containerIds=[])))
    assert scan.containers == ()
    assert isinstance(scan.summary, XRaySummary)
    assert scan.summary.regions_of_interest == ()


REFUSED = [
    pytest.param(b'{"scannerId": "a", "scannerId": "b"}', "duplicate member name", id="dup-key"),
    pytest.param(b"{not json", "not strict JSON", id="not-json"),
    pytest.param(b'{"x": NaN}', "not strict JSON: NaN is not JSON", id="nan"),
    pytest.param(b"[]", "top-level JSON value must be an object", id="array"),
    pytest.param(b"\xff{}", "invalid UTF-8", id="not-utf8"),
    pytest.param(b"", "empty input", id="empty"),
    pytest.param(encode(with_changes(scannerId=None)), "scannerId: is required", id="no-scanner"),
    pytest.param(
        encode(with_changes(extra="x")), "extra: is not an allowed member", id="unknown-member"
    ),
    pytest.param(
        encode(with_changes(algorithm=None, operatorVerdict=None)),
        "(record): needs algorithm or operatorVerdict",
        id="no-verdict",
    ),
    pytest.param(
        encode(with_changes(algorithm={**RECORD["algorithm"], "verdict": "fine"})),
        "algorithm.verdict: must be one of clear, suspect, inconclusive (got 'fine')",
        id="bad-verdict",
    ),
    pytest.param(
        encode(with_changes(operatorVerdict={"verdict": "clear"})),
        "operatorVerdict.operatorId: is required",
        id="no-operator-id",
    ),
    pytest.param(
        encode(with_changes(containerIds=["CSQU3054383", "YMLU3030934"])),
        "containerIds[1]: container number 'YMLU3030934': check digit is 4, ISO 6346 gives 3",
        id="check-digit",
    ),
    pytest.param(
        encode(with_changes(containerIds=["csqu3054383"])),
        "containerIds[0]: must be an ISO 6346 container number",
        id="lowercase-container",
    ),
    pytest.param(
        encode(with_changes(containerIds=["CSQU3054383", "CSQU3054383"])),
        "containerIds: must not repeat an item",
        id="repeated-container",
    ),
    pytest.param(
        encode(with_changes(imageDigest=IMAGE_DIGEST.upper())),
        "imageDigest: must be sha256: followed by",
        id="digest-case",
    ),
    pytest.param(
        encode(with_changes(imageDigest=IMAGE_DIGEST + "\n")),
        "imageDigest: must not contain control characters",
        id="digest-trailing-newline",
    ),
    pytest.param(
        encode(with_changes(scanTime="2024-05-02T09:14:03")),
        "scanTime: must be an RFC 3339 date-time with Z or an offset",
        id="time-without-zone",
    ),
    pytest.param(
        encode(with_changes(scanTime="2024-02-30T09:14:03Z")),
        "scanTime: is not a valid date and time",
        id="impossible-date",
    ),
    pytest.param(
        encode(with_changes(regionsOfInterest=[{**RECORD["regionsOfInterest"][0], "x": -1}])),
        "regionsOfInterest[0].x: must be at least 0 (got -1)",
        id="negative-x",
    ),
    pytest.param(
        encode(with_changes(regionsOfInterest=[{**RECORD["regionsOfInterest"][0], "score": 2}])),
        "regionsOfInterest[0].score: must be at most 1 (got 2)",
        id="score-above-one",
    ),
    pytest.param(
        encode(with_changes(regionsOfInterest=[{**RECORD["regionsOfInterest"][0], "x": True}])),
        "regionsOfInterest[0].x: must be of type integer (got true)",
        id="bool-coordinate",
    ),
    pytest.param(
        encode(with_changes(scannerId="")),
        "scannerId: must have at least 1 characters (got 0)",
        id="empty-scanner",
    ),
]


@pytest.mark.parametrize(("data", "expected"), REFUSED)
def test_refused_with_the_field_named(data: bytes, expected: str) -> None:
    with pytest.raises(ScanParseError) as raised:
        parse_xray_result(data)
    assert expected in raised.value.message
    assert "\n" not in raised.value.message


def test_several_problems_are_counted() -> None:
    record = with_changes(scannerId=None, imageDigest="md5:abc", extra=1, more=2)
    with pytest.raises(ScanParseError, match=r"invalid: 4 problems: .*; and 1 more$"):
        parse_xray_result(encode(record))


def test_size_limit() -> None:
    assert MAX_XRAY_BYTES == 1024 * 1024
    with pytest.raises(ScanParseError, match="input larger than 100 bytes"):
        parse_xray_result(encode(RECORD), max_bytes=100)
    with pytest.raises(ScanParseError, match="must be bytes"):
        parse_xray_result(json.dumps(RECORD))  # type: ignore[arg-type]


def test_schema_is_bundled_draft_2020_12() -> None:
    schema = xray_result_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "changed"
    assert xray_result_schema()["title"] != "changed"  # a fresh copy each time
    jsonschema.Draft202012Validator(xray_result_schema()).validate(RECORD)


# --- format sniffing and dispatch ----------------------------------------------------------


def test_sniffing() -> None:
    n42 = (VECTORS / "n42" / "AnnexD.n42").read_bytes()
    assert sniff_format(n42) == "n42"
    assert sniff_format(b"\xef\xbb\xbf \r\n<RadInstrumentData/>") == "n42"
    assert sniff_format(b"\n  {}") == "xray"
    assert parse_scan(n42).format == "n42"
    assert parse_scan(encode(RECORD)).format == "xray"
    assert parse_scan(encode(RECORD), "xray").result == "clear"
    assert set(ADAPTERS) == {"n42", "xray"}


@pytest.mark.parametrize(
    ("data", "scan_format", "expected"),
    [
        (b"", None, "empty input"),
        (b"   ", None, "empty input"),
        (b"GIF89a", None, "cannot tell the scan format: the input starts with b'G'"),
        (encode(RECORD), "n42", "not well-formed XML"),
        (b"<RadInstrumentData/>", "xray", "not strict JSON"),
        (encode(RECORD), "dicos", "unknown scan format 'dicos'"),
    ],
)
def test_dispatch_errors(data: bytes, scan_format: str | None, expected: str) -> None:
    with pytest.raises(ScanParseError, match=expected.replace("(", r"\(").replace("[", r"\[")):
        parse_scan(data, scan_format)


# --- the Scan model checks itself ----------------------------------------------------------


def _scan(**changes: Any) -> Scan:
    good = parse_xray_result(encode(RECORD))
    fields = {
        "format": good.format,
        "modality": good.modality,
        "instrument": good.instrument,
        "scan_time": good.scan_time,
        "containers": good.containers,
        "result": good.result,
        "summary": good.summary,
        "parser_notes": good.parser_notes,
        "raw_sha256": good.raw_sha256,
    }
    return Scan(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"result": "alarm"}, "contradicts the summary"),
        ({"format": "dicos"}, "unknown scan format"),
        ({"modality": "ct"}, "unknown modality"),
        ({"modality": "rpm"}, "does not fit format"),
        ({"format": "n42", "modality": "rpm"}, "needs a N42Summary"),
        ({"scan_time": "2024-05-02T09:14:03+00:00"}, "not RFC 3339 UTC with Z"),
        ({"raw_sha256": "ABC"}, "64 lowercase hex"),
        ({"parser_notes": (1,)}, "must be strings"),
    ],
)
def test_scan_invariants(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(ScanError, match=expected):
        _scan(**changes)


def test_xray_summary_needs_a_verdict() -> None:
    with pytest.raises(ScanError, match="algorithm or an operator verdict"):
        XRaySummary(IMAGE_DIGEST, None, None, ())
    assert decide_result(XRaySummary(IMAGE_DIGEST, AlgorithmVerdict("a", "1", "suspect"), None, ()))
    assert _scan().result == "clear"


# --- fuzzing -------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, database=None)
@given(st.binary(max_size=256))
def test_fuzz_bytes(data: bytes) -> None:
    try:
        parse_xray_result(data)
    except ScanParseError:
        pass


@settings(max_examples=100, deadline=None, database=None)
@given(st.dictionaries(st.sampled_from(sorted(RECORD)), _JSON, max_size=7), st.booleans())
def test_fuzz_records(changes: dict[str, Any], keep_rest: bool) -> None:
    record = {**RECORD, **changes} if keep_rest else changes
    try:
        scan = parse_xray_result(json.dumps(record).encode())
    except ScanParseError as e:
        assert "\n" not in e.message
    else:
        json.dumps(scan.to_json())
