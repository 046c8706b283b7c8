"""Property tests (our parser fuzzing) for credentials.strict_json and credentials.canonical."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials.canonical import _fast_canonicalize, canonicalize, reference_canonicalize
from credentials.errors import MalformedJSONError
from credentials.strict_json import MAX_DEPTH, JSONValue, _loads_slow, loads

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)

SAFE_INT = 2**53 - 1

# Default text: any code point except surrogates, so control characters and non-BMP included.
any_text = st.text(max_size=12)
bmp_text = st.text(st.characters(max_codepoint=0xFFFF, codec="utf-8"), max_size=12)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE_INT, max_value=SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(any_text, children, max_size=5)
    ),
    max_leaves=25,
)

plain_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-SAFE_INT, max_value=SAFE_INT) | bmp_text
)
plain_dicts = st.dictionaries(
    bmp_text,
    st.recursive(
        plain_scalars,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(bmp_text, children, max_size=5)
        ),
        max_leaves=25,
    ),
    max_size=8,
)


def _depth(value: JSONValue) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _identical(a: JSONValue, b: JSONValue) -> bool:
    """Equality that also compares types (1 vs 1.0) and the sign of zero."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_identical, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
    return a == b


def _outcome(parse: Callable[[bytes | str], JSONValue], data: bytes | str) -> tuple[str, JSONValue]:
    try:
        return ("ok", parse(data))
    except MalformedJSONError:
        return ("rejected", None)


def _assert_paths_agree(data: bytes | str) -> None:
    fast = _outcome(loads, data)
    slow = _outcome(_loads_slow, data)
    assert fast[0] == slow[0], (data, fast, slow)
    assert _identical(fast[1], slow[1]), (data, fast, slow)


@PROPERTY_SETTINGS
@given(json_values)
def test_canonicalize_matches_reference(value: JSONValue) -> None:
    assert canonicalize(value) == reference_canonicalize(value)


@PROPERTY_SETTINGS
@given(plain_dicts)
def test_fast_path_taken_for_bmp_values_without_floats(value: JSONValue) -> None:
    fast = _fast_canonicalize(value)
    assert fast is not None
    assert fast == reference_canonicalize(value)


# Every finite float: the canonical form prints those from 2**53 to 10**21 as integers, and
# since issue 13 such digits parse back to an int that stands for the same double.
fixpoint_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE_INT, max_value=SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(any_text, children, max_size=5)
    ),
    max_leaves=25,
)


@PROPERTY_SETTINGS
@given(fixpoint_values)
def test_canonical_form_is_a_fixpoint(value: JSONValue) -> None:
    canonical = canonicalize(value)
    assert canonicalize(loads(canonical, max_depth=1000)) == canonical


@PROPERTY_SETTINGS
@given(
    json_values,
    st.sampled_from([None, 0, 1, 2, 4, "\t"]),
    st.booleans(),
    st.booleans(),
)
def test_loads_round_trips_serialized_values(
    value: JSONValue, indent: int | str | None, ensure_ascii: bool, as_str: bool
) -> None:
    if _depth(value) > MAX_DEPTH:
        return
    text = json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)
    assert _identical(loads(text if as_str else text.encode()), value)
    assert _identical(loads(orjson.dumps(value)), value)
    assert _identical(_loads_slow(orjson.dumps(value)), value)


@PROPERTY_SETTINGS
@given(
    st.dictionaries(any_text, json_values, min_size=1, max_size=5),
    st.data(),
)
def test_duplicate_member_names_are_always_rejected(
    value: dict[str, JSONValue], data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(sorted(value)))
    body = orjson.dumps(value)
    duplicated = body[:-1] + b"," + orjson.dumps(key) + b":" + orjson.dumps(value[key]) + b"}"
    rejected = _outcome(loads, duplicated)
    assert rejected == ("rejected", None)
    assert _outcome(loads, b'{"wrap":' + duplicated + b"}") == ("rejected", None)


@PROPERTY_SETTINGS
@given(st.binary(max_size=64))
def test_fast_and_slow_paths_agree_on_arbitrary_bytes(data: bytes) -> None:
    _assert_paths_agree(data)


# Bytes worth inserting into JSON text: structure, number parts, escapes, bad UTF-8, a BOM.
INTERESTING = [
    *(bytes([b]) for b in b'[]{}",:\\ \n0123456789.eE+-ntfu'),
    b"\\u",
    b"\\ud800",
    b"\\udc00",
    b"\\ud83d\\ude02",
    b"\\u0000",
    b"NaN",
    b"Infinity",
    b"1e400",
    b"99999999999999999999999",
    b"\xff",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    "\u20ac".encode(),
    "\U0001f602".encode(),
    b'"a":1,"a":2',
    b"[" * 70,
]


@st.composite
def mutated_json(draw: st.DrawFn) -> bytes:
    value = draw(json_values)
    if draw(st.booleans()):
        data = orjson.dumps(value)
    else:
        indent = draw(st.sampled_from([None, 1, 2]))
        data = json.dumps(value, indent=indent, ensure_ascii=draw(st.booleans())).encode()
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "delete":
            end = draw(st.integers(min_value=position, max_value=min(len(data), position + 3)))
            data = data[:position] + data[end:]
        else:
            chunk = draw(st.sampled_from(INTERESTING) | st.binary(min_size=1, max_size=3))
            skip = len(chunk) if action == "replace" else 0
            data = data[:position] + chunk + data[position + skip :]
    return data


@PROPERTY_SETTINGS
@given(mutated_json())
def test_fast_and_slow_paths_agree_on_mutated_json(data: bytes) -> None:
    _assert_paths_agree(data)
    try:
        text = data.decode("utf-8", errors="surrogatepass")
    except UnicodeDecodeError:
        return
    _assert_paths_agree(text)


@PROPERTY_SETTINGS
@given(json_values)
def test_fast_and_slow_paths_agree_on_valid_json(value: JSONValue) -> None:
    _assert_paths_agree(orjson.dumps(value))
    _assert_paths_agree(json.dumps(value))


# Issue 13: integers beyond +-(2**53 - 1). One that is a double (or ECMAScript's spelling of
# one) canonicalizes as that double, exactly as the float does; any other is refused.
big_doubles = st.floats(
    min_value=2.0**53, max_value=1e300, allow_nan=False, allow_infinity=False
).map(lambda x: x.__floor__())


@PROPERTY_SETTINGS
@given(big_doubles, st.booleans())
def test_integer_literal_of_a_double_canonicalizes_as_that_double(
    value: int, negative: bool
) -> None:
    value = -value if negative else value
    expected = reference_canonicalize(float(value))
    assert canonicalize(value) == expected
    # What JavaScript writes for that double parses back to the same canonical form.
    assert canonicalize(loads(expected)) == expected


@PROPERTY_SETTINGS
@given(st.integers(min_value=2**53 + 1, max_value=2**80))
def test_integer_literal_that_is_no_double_is_refused(value: int) -> None:
    exact = int(float(value)) == value
    spelled = reference_canonicalize(float(value)) == str(value).encode()
    if exact or spelled:
        assert canonicalize(loads(str(value).encode())) == reference_canonicalize(float(value))
    else:
        with pytest.raises(MalformedJSONError, match="stands for no double"):
            canonicalize(loads(str(value).encode()))
