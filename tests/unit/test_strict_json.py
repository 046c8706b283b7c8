"""Unit tests for credentials.strict_json: strict parsing, limits and the compact writer."""

from __future__ import annotations

import json
import math

import orjson
import pytest

from credentials.errors import MalformedInputError, MalformedJSONError
from credentials.strict_json import (
    MAX_BYTES,
    MAX_DEPTH,
    JSONValue,
    _loads_slow,
    dumps,
    loads,
    loads_object,
)


def _nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


# Each case: (input, substring expected in the error message).
NEGATIVE_CASES: dict[str, tuple[bytes | str, str]] = {
    "duplicate-key-top-level": (b'{"id":1,"id":2}', "duplicate member name 'id'"),
    "duplicate-key-nested": (b'{"a":[{"b":{"x":1,"y":2,"x":3}}]}', "duplicate member name 'x'"),
    "duplicate-key-pretty": (b'{\n  "id": 1,\n  "id": 1\n}', "duplicate member name 'id'"),
    "duplicate-key-via-escape": (b'{"id":1,"\\u0069d":2}', "duplicate member name 'id'"),
    "nan": (b"[NaN]", "NaN is not JSON"),
    "infinity": (b"[Infinity]", "Infinity is not JSON"),
    "negative-infinity": (b"[-Infinity]", "-Infinity is not JSON"),
    "number-overflows-double": (b"[1e400]", "overflows a double"),
    "negative-number-overflows-double": (b'{"n":-1.5e309}', "overflows a double"),
    "invalid-utf8": (b'{"a":"\xff"}', "invalid UTF-8 at byte 6"),
    "overlong-utf8": (b'["\xc0\xaf"]', "invalid UTF-8 at byte 2"),
    "utf8-encoded-surrogate": (b'["\xed\xa0\x80"]', "invalid UTF-8 at byte 2"),
    "truncated-utf8": (b'"\xe2\x82"', "invalid UTF-8 at byte 1"),
    "bom": (b'\xef\xbb\xbf{"a":1}', "byte order mark"),
    "bom-in-str-input": ('\ufeff{"a":1}', "byte order mark"),
    "lone-high-surrogate-escape": (b'["\\ud800"]', "lone surrogate \\ud800"),
    "lone-low-surrogate-escape": (b'["\\udc00"]', "lone surrogate \\udc00"),
    "reversed-surrogate-pair": (b'["\\ude02\\ud83d"]', "lone surrogate"),
    "lone-surrogate-in-member-name": (b'{"\\udbff":1}', "in member name"),
    "lone-surrogate-in-str-input": ('["\ud800"]', "lone surrogate in str input at index 2"),
    "trailing-garbage": (b'{"a":1} x', "Extra data at line 1 column 9"),
    "two-values": (b"1 2", "Extra data"),
    "trailing-comma": (b"[1,]", "invalid JSON"),
    "single-quotes": (b"{'a':1}", "invalid JSON"),
    "leading-zero": (b"[01]", "invalid JSON"),
    "raw-control-character": (b'["a\x01b"]', "Invalid control character"),
    "non-ascii-digit": ("[\u0661]", "invalid JSON"),
    "unterminated-string": (b'["abc', "Unterminated string"),
    "empty": (b"", "empty input"),
    "whitespace-only": (b" \n\t\r", "empty input"),
    "empty-str": ("", "empty input"),
    "too-deep-arrays-65": (_nested_arrays(MAX_DEPTH + 1), "nesting deeper than 64"),
    "too-deep-objects-65": (_nested_objects(MAX_DEPTH + 1), "nesting deeper than 64"),
    "too-deep-pretty": (b"[ " * 65 + b" ]" * 65, "nesting deeper than 64"),
    "too-large": (b" " * MAX_BYTES + b"1", "input larger than 1048576 bytes"),
    "too-large-str-utf8-length": (
        '"' + "\u20ac" * (MAX_BYTES // 3) + '"',
        "input larger than 1048576 bytes",
    ),
    "one-mib-of-open-brackets": (b"[" * MAX_BYTES, "nesting deeper than 64"),
    "one-mib-of-open-braces": (b'{"a":' * (MAX_BYTES // 5), "nesting deeper than 64"),
    "integer-too-long-for-python": (b"1" * 5000, "integer with 5000 digits is too long"),
}


@pytest.mark.parametrize(
    ("data", "message"), list(NEGATIVE_CASES.values()), ids=list(NEGATIVE_CASES)
)
def test_loads_rejects(data: bytes | str, message: str) -> None:
    with pytest.raises(MalformedJSONError) as excinfo:
        loads(data)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
    assert excinfo.value.code == "MALFORMED_JSON"
    # The slow path alone reaches the same verdict.
    with pytest.raises(MalformedJSONError):
        _loads_slow(data)


def test_errors_wrap_their_cause() -> None:
    with pytest.raises(MalformedJSONError) as excinfo:
        loads(b'"\xff"')
    assert isinstance(excinfo.value.__cause__, UnicodeDecodeError)
    with pytest.raises(MalformedJSONError) as excinfo:
        loads(b"[1,")
    assert isinstance(excinfo.value.__cause__, json.JSONDecodeError)


def test_depth_limit_is_inclusive_for_arrays() -> None:
    value = loads(_nested_arrays(MAX_DEPTH))
    depth = 0
    while isinstance(value, list) and value:
        value = value[0]
        depth += 1
    assert depth == MAX_DEPTH - 1
    assert value == []


def test_depth_limit_is_inclusive_for_objects() -> None:
    value = loads(_nested_objects(MAX_DEPTH))
    depth = 0
    while isinstance(value, dict):
        value = value["a"]
        depth += 1
    assert depth == MAX_DEPTH
    assert value == 1


def test_brackets_inside_strings_do_not_count_towards_depth() -> None:
    text = '{"s":"' + "[" * 100 + '\\"{{{' + '","t":["]]]"]}'
    assert loads(text) == {"s": "[" * 100 + '"{{{', "t": ["]]]"]}


def test_custom_limits() -> None:
    assert loads(b"[[1]]", max_depth=2) == [[1]]
    with pytest.raises(MalformedJSONError, match="nesting deeper than 1"):
        loads(b"[[1]]", max_depth=1)
    assert loads(b"[1]", max_bytes=3) == [1]
    with pytest.raises(MalformedJSONError, match="input larger than 3 bytes"):
        loads(b"[10]", max_bytes=3)
    with pytest.raises(MalformedJSONError, match="input larger than 3 bytes"):
        loads('"\u20ac"', max_bytes=3)


def test_deep_but_within_a_raised_limit_is_parsed() -> None:
    # Compact text with many brackets takes the fast path plus the depth scan.
    assert loads(_nested_arrays(200), max_depth=200) is not None
    wide = b"[" + b",".join([b"[1]"] * 500) + b"]"
    assert loads(wide) == [[1]] * 500


def test_exactly_max_bytes_is_accepted() -> None:
    data = b"[" + b" " * (MAX_BYTES - 3) + b"1]"
    assert len(data) == MAX_BYTES
    assert loads(data) == [1]


POSITIVE_CASES: dict[str, tuple[bytes | str, JSONValue]] = {
    "compact-object": (
        b'{"a":1,"b":[true,false,null],"c":"x"}',
        {"a": 1, "b": [True, False, None], "c": "x"},
    ),
    "pretty-printed": (
        b'{\n  "id": "urn:uuid:1",\n  "n": [\n    1,\n    2.5\n  ]\n}\n',
        {"id": "urn:uuid:1", "n": [1, 2.5]},
    ),
    "escapes": (
        b'["\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9"]',
        ['"\\/\b\f\n\r\tA\u00e9'],
    ),
    "escaped-surrogate-pair": (b'["\\ud83d\\ude02"]', ["\U0001f602"]),
    "raw-unicode": (
        '{"\u20ac":"\u00f6\U0001f602\ufb33"}'.encode(),
        {"\u20ac": "\u00f6\U0001f602\ufb33"},
    ),
    "str-input-unicode": ('{"k":"\u00e9\U0001f602"}', {"k": "\u00e9\U0001f602"}),
    "raw-del-character": (b'["\x7f"]', ["\x7f"]),
    "big-integer-exact": (b"[123456789012345678901234567890]", [123456789012345678901234567890]),
    "negative-big-integer-exact": (b"-98765432109876543210987", -98765432109876543210987),
    "u64-integer-exact": (b"18446744073709551615", 18446744073709551615),
    "integer-beyond-2-53": (b"9007199254740993", 9007199254740993),
    "float-underflow-to-zero": (b"[1e-400]", [0.0]),
    "largest-double": (b"1.7976931348623157e308", 1.7976931348623157e308),
    "exponent-forms": (b"[1E2,1e+2,1e-2,-0.0]", [100.0, 100.0, 0.01, -0.0]),
    "top-level-scalar": (b"  true  ", True),
    "top-level-string": (b'"x"', "x"),
    "empty-containers": (b'{"a":{},"b":[]}', {"a": {}, "b": []}),
    "same-name-in-different-objects": (b'[{"a":1},{"a":2}]', [{"a": 1}, {"a": 2}]),
}


@pytest.mark.parametrize(
    ("data", "expected"), list(POSITIVE_CASES.values()), ids=list(POSITIVE_CASES)
)
def test_loads_accepts(data: bytes | str, expected: JSONValue) -> None:
    result = loads(data)
    assert result == expected
    assert _loads_slow(data) == expected


def test_big_integer_stays_an_int() -> None:
    value = loads(b'{"n":123456789012345678901234567890}')
    assert isinstance(value, dict)
    assert type(value["n"]) is int
    assert value["n"] == 123456789012345678901234567890


def test_negative_zero_keeps_its_sign() -> None:
    value = loads(b"-0.0")
    assert isinstance(value, float)
    assert math.copysign(1.0, value) == -1.0


def test_loads_object() -> None:
    assert loads_object(b'{"a":1}') == {"a": 1}
    for data in (b"[]", b"1", b'"x"', b"null"):
        with pytest.raises(MalformedJSONError, match="top-level JSON value must be an object"):
            loads_object(data)
    with pytest.raises(MalformedJSONError, match="duplicate"):
        loads_object(b'{"a":1,"a":1}')


def test_loads_rejects_other_input_types() -> None:
    with pytest.raises(MalformedJSONError, match="expected bytes or str, got bytearray"):
        loads(bytearray(b"{}"))  # type: ignore[arg-type]


def test_malformed_json_is_malformed_input() -> None:
    with pytest.raises(MalformedInputError):
        loads(b"{")


def test_dumps_is_compact_utf8() -> None:
    value: JSONValue = {"b": [1, 2.5, None, True], "a": "\u20ac\U0001f602"}
    out = dumps(value)
    assert out == '{"b":[1,2.5,null,true],"a":"\u20ac\U0001f602"}'.encode()
    assert loads(out) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param({1: "a"}, "Dict key must be str", id="non-str-key"),
        pytest.param([2**64], "64-bit", id="integer-beyond-64-bits"),
        pytest.param({"x": [math.nan]}, "NaN and Infinity are not JSON", id="nan"),
        pytest.param([None, math.inf], "NaN and Infinity are not JSON", id="infinity"),
        pytest.param(["\ud800"], "surrogates", id="lone-surrogate"),
        pytest.param({"s": {1, 2}}, "not JSON serializable", id="set"),
    ],
)
def test_dumps_rejects(value: JSONValue, message: str) -> None:
    with pytest.raises(MalformedJSONError) as excinfo:
        dumps(value)
    assert message in str(excinfo.value)


def test_dumps_null_without_non_finite_floats() -> None:
    assert dumps({"a": None, "b": [1.5]}) == b'{"a":null,"b":[1.5]}'


def test_fast_path_round_trip_matches_orjson_output() -> None:
    value: JSONValue = {"id": "urn:uuid:0", "n": [1, 2, {"x": None}], "f": 0.1}
    data = orjson.dumps(value)
    assert loads(data) == value
    assert _loads_slow(data) == value
