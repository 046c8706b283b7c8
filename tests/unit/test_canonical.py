"""Unit tests for credentials.canonical: RFC 8785 vectors, ES6 numbers, fast path, errors."""

from __future__ import annotations

import enum
import math
import struct
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import pytest

from credentials.canonical import _fast_canonicalize, canonicalize, reference_canonicalize
from credentials.errors import MalformedInputError, MalformedJSONError
from credentials.strict_json import JSONValue, loads

JCS_DIR = Path(__file__).parents[1] / "vectors" / "jcs"
JCS_NAMES = sorted(p.stem for p in (JCS_DIR / "input").glob("*.json"))
ES6_FILES = ["es6testfile100m_first2000.txt", "es6testfile100m_lines2169-3168.txt"]

CANONICALIZERS: dict[str, Callable[[JSONValue], bytes]] = {
    "canonicalize": canonicalize,
    "reference": reference_canonicalize,
}


def test_jcs_vector_set_is_complete() -> None:
    assert JCS_NAMES == ["arrays", "french", "structures", "unicode", "values", "weird"]


@pytest.mark.parametrize("func_name", list(CANONICALIZERS))
@pytest.mark.parametrize("name", JCS_NAMES)
def test_rfc8785_vectors(name: str, func_name: str) -> None:
    func = CANONICALIZERS[func_name]
    value = loads((JCS_DIR / "input" / f"{name}.json").read_bytes())
    expected = (JCS_DIR / "output" / f"{name}.json").read_bytes()
    outhex = (JCS_DIR / "outhex" / f"{name}.txt").read_text(encoding="ascii")
    assert bytes.fromhex(outhex) == expected
    assert func(value) == expected


def _es6_cases() -> list[tuple[str, float, str]]:
    cases = []
    for file_name in ES6_FILES:
        for line in (JCS_DIR / file_name).read_text(encoding="ascii").splitlines():
            hex_ieee, expected = line.split(",")
            (number,) = struct.unpack(">d", bytes.fromhex(hex_ieee.zfill(16)))
            if math.isfinite(number):
                cases.append((hex_ieee, number, expected))
    return cases


ES6_CASES = _es6_cases()


def test_es6_sample_size() -> None:
    assert len(ES6_CASES) == 3000


@pytest.mark.parametrize("func_name", list(CANONICALIZERS))
def test_es6_outputs_parse_back_to_themselves(func_name: str) -> None:
    # Issue 13: every number ECMAScript writes (integer digits beyond 2**53 included, as a
    # JavaScript signer writes them) parses and canonicalizes back to the same text.
    func = CANONICALIZERS[func_name]
    big_integers = [e for _, _, e in ES6_CASES if e.lstrip("-").isdigit() and len(e) > 16]
    assert len(big_integers) >= 20  # the sample does hold such numbers
    failures = [e for _, _, e in ES6_CASES if func(loads(e.encode())) != e.encode()]
    assert failures == []


@pytest.mark.parametrize("func_name", list(CANONICALIZERS))
def test_es6_number_serialization(func_name: str) -> None:
    func = CANONICALIZERS[func_name]
    failures = [
        (hex_ieee, expected, func(number), func([number]))
        for hex_ieee, number, expected in ES6_CASES
        if func(number) != expected.encode() or func([number]) != f"[{expected}]".encode()
    ]
    assert failures == []


def test_canonicalize_sorts_by_utf16_code_units() -> None:
    # U+FB33 sorts before U+1F602 by code point but after it by UTF-16 code units.
    value: JSONValue = {"\U0001f602": 1, "\ufb33": 2, "a": 3}
    expected = '{"a":3,"\U0001f602":1,"\ufb33":2}'.encode()
    assert _fast_canonicalize(value) is None
    assert canonicalize(value) == expected
    assert reference_canonicalize(value) == expected


def test_fast_path_taken_for_plain_values() -> None:
    value: JSONValue = {
        "id": "urn:uuid:5f0e2a1c-3b8d-4c6e-9a7f-1d2e3f4a5b6c",
        "b": [1, -(2**53 - 1), 2**53 - 1, True, None, "\u00e9\u20ac\x00\x1f\x7f"],
        "a": {"z": {}, "y": []},
    }
    fast = _fast_canonicalize(value)
    assert fast is not None
    assert fast == reference_canonicalize(value)
    assert canonicalize(value) == fast


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"a": 1.0}, id="float"),
        pytest.param([[[[0.5]]]], id="nested-float"),
        pytest.param(2.0, id="top-level-float"),
        pytest.param({"n": 2**53}, id="integer-beyond-2-53"),
        pytest.param({"k": "\U0001f602"}, id="non-bmp-character"),
        pytest.param(OrderedDict(b=1, a=2), id="dict-subclass"),
    ],
)
def test_fast_path_refuses(value: JSONValue) -> None:
    assert _fast_canonicalize(value) is None


class _Purpose(enum.StrEnum):
    ASSERTION = "assertionMethod"


class _Level(enum.IntEnum):
    HIGH = 3


def test_str_and_int_subclasses_use_their_values() -> None:
    value = {"purpose": _Purpose.ASSERTION, "level": _Level.HIGH, "o": OrderedDict(b=1, a=2)}
    expected = b'{"level":3,"o":{"a":2,"b":1},"purpose":"assertionMethod"}'
    assert canonicalize(value) == expected  # type: ignore[arg-type]
    assert reference_canonicalize(value) == expected  # type: ignore[arg-type]


def test_numbers() -> None:
    assert canonicalize([1.0, -0.0, 1e21, 1e-7, 0.1, 100, 1e20]) == (
        b"[1,0,1e+21,1e-7,0.1,100,100000000000000000000]"
    )


def test_integral_float_beyond_2_53_survives_a_parse() -> None:
    # Issue 13: JCS (and JavaScript) print 2.0**53 as digits; strict_json keeps the digits as
    # an exact int, which stands for that double, so the parsed value re-canonicalizes alike.
    canonical = canonicalize([2.0**53])
    assert canonical == b"[9007199254740992]"
    assert canonicalize(loads(canonical)) == canonical


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        # What JavaScript's JSON.stringify writes for doubles between 2**53 and 10**21.
        pytest.param(b"15639868060766604", b"15639868060766604", id="issue-13-js-integer"),
        pytest.param(b"-9007199254740994", b"-9007199254740994", id="negative-exact"),
        # 2**60 written exactly; JCS writes that double the way ECMAScript does.
        pytest.param(b"1152921504606846976", b"1152921504606847000", id="exact-2-60"),
        # ECMAScript's own spelling of 2**60: not the exact value, but that double's name.
        pytest.param(b"1152921504606847000", b"1152921504606847000", id="es-spelling-2-60"),
        pytest.param(b"[10000000000000000000000]", b"[1e+22]", id="exact-1e22"),
        pytest.param(b'{"n":[9007199254740992,1]}', b'{"n":[9007199254740992,1]}', id="nested"),
    ],
)
def test_integer_that_is_a_double_is_accepted(text: bytes, canonical: bytes) -> None:
    value = loads(text)
    assert canonicalize(value) == canonical
    assert reference_canonicalize(value) == canonical
    assert canonicalize(loads(canonical)) == canonical


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(b"9007199254740993", id="2-53-plus-1"),
        pytest.param(b"-9007199254740995", id="negative-odd"),
        pytest.param(b"1152921504606846999", id="near-2-60"),
        pytest.param(b"100000000000000000000000", id="1e23-is-not-a-double"),
        pytest.param(b"1" + b"0" * 400, id="beyond-any-double"),
    ],
)
def test_integer_that_would_lose_precision_is_refused(text: bytes) -> None:
    with pytest.raises(MalformedJSONError, match="stands for no double without losing"):
        canonicalize(loads(text))


def _deep(depth: int) -> JSONValue:
    value: JSONValue = 1
    for _ in range(depth):
        value = [value]
    return value


def test_deep_nesting() -> None:
    assert canonicalize(_deep(300)) == b"[" * 300 + b"1" + b"]" * 300
    with pytest.raises(MalformedInputError, match="nested too deeply"):
        canonicalize(_deep(100_000))


class _Opaque:
    pass


NEGATIVE_CASES: dict[str, tuple[object, type[Exception], str]] = {
    "integer-above-range": ({"n": 2**53 + 1}, MalformedJSONError, "outside +-(2**53-1)"),
    "integer-below-range": ([-(2**53) - 1], MalformedJSONError, "outside +-(2**53-1)"),
    "huge-integer": ({"a": [10**400]}, MalformedJSONError, "at $['a'][0]"),
    "nan": ({"x": math.nan}, MalformedJSONError, "nan at $['x'] is not JSON"),
    "infinity": ([math.inf], MalformedJSONError, "inf at $[0] is not JSON"),
    "negative-infinity": (-math.inf, MalformedJSONError, "-inf at $ is not JSON"),
    "lone-surrogate-value": ({"s": "a\ud800"}, MalformedJSONError, "lone surrogate"),
    "lone-surrogate-key": ({"\udc00": 1}, MalformedJSONError, "member name"),
    "int-key": ({1: "a"}, MalformedInputError, "member name 1 at $ has type int, not str"),
    "none-key": ({"a": {None: 1}}, MalformedInputError, "not str"),
    "tuple": ({"t": (1, 2)}, MalformedInputError, "tuple at $['t'] is not a JSON type"),
    "bytes": ([b"x"], MalformedInputError, "bytes at $[0] is not a JSON type"),
    "set": ({1}, MalformedInputError, "set at $ is not a JSON type"),
    "object": ({"o": _Opaque()}, MalformedInputError, "_Opaque"),
}


@pytest.mark.parametrize("func_name", list(CANONICALIZERS))
@pytest.mark.parametrize(
    ("value", "error", "message"), list(NEGATIVE_CASES.values()), ids=list(NEGATIVE_CASES)
)
def test_canonicalize_rejects(
    value: object, error: type[Exception], message: str, func_name: str
) -> None:
    with pytest.raises(error) as excinfo:
        CANONICALIZERS[func_name](value)  # type: ignore[arg-type]
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
