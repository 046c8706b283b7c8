"""Property tests for the pretty-printed fast path of credentials.strict_json.loads.

Text indented by two spaces (``json.dumps(v, indent=2)``, ``JSON.stringify(v, null, 2)``),
with or without a final newline, is parsed by orjson when re-serializing gives the same
bytes; its nesting depth is then bounded from the indentation. The parser must answer
exactly as the standard library path does (value or refusal), at every depth limit.
"""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_canonical_props import _depth, _identical

from credentials.errors import MalformedJSONError
from credentials.strict_json import JSONValue, _loads_slow, loads

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def _outcome(data: bytes, max_depth: int, slow: bool) -> object:
    try:
        return (_loads_slow if slow else loads)(data, max_depth=max_depth)
    except MalformedJSONError:
        return "rejected"


def _assert_paths_agree(data: bytes, max_depth: int = 64) -> None:
    fast, slow = _outcome(data, max_depth, False), _outcome(data, max_depth, True)
    assert _identical(fast, slow), (data, fast, slow)


@PROPERTY_SETTINGS
@given(json_values, st.booleans(), st.booleans(), st.integers(min_value=0, max_value=6))
def test_pretty_text_parses_as_the_slow_path_does(
    value: JSONValue, ensure_ascii: bool, newline: bool, max_depth: int
) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=ensure_ascii) + ("\n" if newline else "")
    data = text.encode()
    _assert_paths_agree(data, max_depth)
    accepted = _outcome(data, max_depth, False) != "rejected"
    assert accepted == (_depth(value) <= max_depth)


@PROPERTY_SETTINGS
@given(json_values, st.data())
def test_pretty_text_with_an_edit_agrees_with_the_slow_path(
    value: JSONValue, data: st.DataObject
) -> None:
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    chunk = data.draw(st.sampled_from([b" ", b"\n", b"  ", b",", b"1", b'"a":1,', b""]))
    _assert_paths_agree(text[:position] + chunk + text[position:])


def _nested(depth: int, innermost_empty: bool) -> JSONValue:
    value: JSONValue = [] if innermost_empty else [1]
    for level in range(depth - 1):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize("innermost_empty", [True, False])
@pytest.mark.parametrize("max_depth", [1, 2, 5, 64])
def test_pretty_depth_limit_is_exact(max_depth: int, innermost_empty: bool) -> None:
    for depth in (max_depth - 1, max_depth, max_depth + 1):
        if depth < 1:
            continue
        data = orjson.dumps(_nested(depth, innermost_empty), option=orjson.OPT_INDENT_2)
        if depth <= max_depth:
            assert loads(data, max_depth=max_depth) == _nested(depth, innermost_empty)
        else:
            with pytest.raises(MalformedJSONError, match="nesting deeper"):
                loads(data, max_depth=max_depth)


def test_pretty_text_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_slow_path(*args: object, **kwargs: object) -> JSONValue:
        raise AssertionError("the slow path was taken")

    monkeypatch.setattr("credentials.strict_json._loads_slow", no_slow_path)
    value: JSONValue = {"a": [1, {"b": None}], "c": "d\u00e9", "e": [], "f": {}}
    for data in (
        json.dumps(value, indent=2, ensure_ascii=False).encode(),
        json.dumps(value, indent=2, ensure_ascii=False).encode() + b"\n",
        orjson.dumps(value) + b"\n",
    ):
        assert loads(data) == value
