"""Strict JSON parsing and compact serialization for untrusted input.

:func:`loads` accepts only RFC 8259 JSON that is also I-JSON (RFC 7493) in the ways that
matter for signed documents: UTF-8 without a byte order mark, no duplicate member names,
no NaN or infinities, no number that overflows a double, no lone surrogates, bounded
nesting depth and bounded size. Every rejection raises
:class:`~credentials.errors.MalformedJSONError` with a one-line message saying what is
wrong and where. Integers are kept exact, whatever their size; the range check belongs to
:mod:`credentials.canonical`.

Two parsers give the same answer for every input. The fast path (``orjson``) accepts a
document only when re-serializing the parsed value gives back the input bytes exactly
(compact, or pretty-printed with two-space indentation, with or without one final newline):
such text has no duplicate members and no escape or number that ``orjson`` would write
differently, so nothing was lost in parsing. Anything else (other layouts, escapes,
duplicates, errors) goes to the slow path, the standard library parser with strict hooks,
which also produces the error messages.

:func:`dumps` writes compact UTF-8 JSON for the wire. It is NOT canonical: bytes that are
signed or hashed come only from :mod:`credentials.canonical`.

This module is pure: no I/O, no clock, no logging.

Example::

    >>> loads(b'{"id": "urn:uuid:1", "n": [1, 2]}')
    {'id': 'urn:uuid:1', 'n': [1, 2]}
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import NoReturn, TypeAlias

import orjson

from credentials.errors import MalformedJSONError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "JSONObject",
    "JSONValue",
    "dumps",
    "loads",
    "loads_object",
]

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
"""Any JSON value, as the parser returns it."""

JSONObject: TypeAlias = dict[str, JSONValue]
"""A JSON object."""

MAX_BYTES = 1024 * 1024
"""Default cap on the input size, in UTF-8 bytes."""

MAX_DEPTH = 64
"""Default cap on nesting depth; one array or object is depth 1."""

_BOM = b"\xef\xbb\xbf"
_JSON_WHITESPACE = b" \t\n\r"

# A JSON string token: possessive quantifiers keep the scan linear even on hostile input
# (an unterminated string simply runs to the end of the input, which is invalid anyway).
_STRING_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
# Every byte except the four brackets, for bytes.translate(None, delete=...).
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# Every byte except "[" and "{": counting openers this way beats two bytes.count() calls.
_NOT_OPENERS = bytes(b for b in range(256) if b not in b"[{")
# Depth step per bracket byte: +1 for an opener, -1 for a closer.
_DEPTH_STEP = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))
_DEPTH_CHUNK = 4096
_SURROGATE = re.compile("[\ud800-\udfff]")
_INDENT = orjson.OPT_INDENT_2
_DEEP_LINE = b"\n" + b" " * (2 * MAX_DEPTH)


def _fail(message: str) -> NoReturn:
    raise MalformedJSONError(message)


def _as_bytes(data: bytes | str, max_bytes: int) -> bytes:
    """Return ``data`` as UTF-8 bytes, checking the type and the size limit."""
    if isinstance(data, str):
        # Every character takes at least one UTF-8 byte: a cheap early reject.
        if len(data) > max_bytes:
            _fail(f"input larger than {max_bytes} bytes")
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError as e:
            raise MalformedJSONError(f"lone surrogate in str input at index {e.start}") from e
    elif isinstance(data, bytes):
        raw = data
    else:
        _fail(f"expected bytes or str, got {type(data).__name__}")
    if len(raw) > max_bytes:
        _fail(f"input larger than {max_bytes} bytes")
    return raw


def _deeper_than(raw: bytes, max_depth: int) -> bool:
    """Tell whether ``raw`` nests arrays and objects deeper than ``max_depth``, without parsing.

    String contents are skipped, so brackets inside strings do not count. The scan is
    linear and never recurses. For invalid JSON the answer may be wrong but is harmless:
    the parser rejects such input anyway.
    """
    brackets = _STRING_TOKEN.sub(b"", raw).translate(None, delete=_NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= max_depth:
        return False
    # Walk the brackets in chunks so that hostile input ("[" repeated) stops early.
    depth = 0
    for start in range(0, len(brackets), _DEPTH_CHUNK):
        chunk = brackets[start : start + _DEPTH_CHUNK]
        steps = accumulate(map(_DEPTH_STEP.__getitem__, chunk), initial=depth)
        if max(steps) > max_depth:
            return True
        depth += chunk.count(b"[") + chunk.count(b"{") - chunk.count(b"]") - chunk.count(b"}")
    return False


def _deep_line(max_depth: int) -> bytes:
    """The start of a line indented for nesting deeper than ``max_depth`` (two spaces a level)."""
    if max_depth == MAX_DEPTH:
        return _DEEP_LINE
    return b"\n" + b" " * (2 * max(max_depth, 0))


def _reject_constant(name: str) -> NoReturn:
    _fail(f"{name} is not JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        _fail(f"number {text[:40]} overflows a double")
    return value


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError as e:
        # Python refuses to convert very long digit strings (sys.get_int_max_str_digits).
        raise MalformedJSONError(f"integer with {len(text)} digits is too long") from e


def _object_without_duplicates(pairs: list[tuple[str, JSONValue]]) -> JSONObject:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                _fail(f"duplicate member name {_show(key)} in object")
            seen.add(key)
    return obj


def _show(text: str) -> str:
    """Quote a member name for a message: short, and safe even with lone surrogates."""
    shown = ascii(text[:40])
    return shown if len(text) <= 40 else shown[:-1] + "...'"


def _reject_lone_surrogates(value: JSONValue) -> None:
    r"""Raise if any string or member name in ``value`` holds a surrogate code point.

    The standard library parser combines escaped surrogate pairs into one character, so
    any surrogate left in the result was a lone ``\uD800``-``\uDFFF`` escape.
    """
    stack: list[JSONValue] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            match = _SURROGATE.search(item)
            if match:
                _fail(f"lone surrogate \\u{ord(match.group()):04x} in string {_show(item)}")
        elif isinstance(item, dict):
            for key in item:
                match = _SURROGATE.search(key)
                if match:
                    _fail(f"lone surrogate \\u{ord(match.group()):04x} in member name {_show(key)}")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _loads_slow(
    data: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> JSONValue:
    """Parse with the standard library and strict hooks; the reference for :func:`loads`.

    Raises:
        MalformedJSONError: If ``data`` is not strict JSON within the limits.

    """
    raw = _as_bytes(data, max_bytes)
    if raw.startswith(_BOM):
        _fail("UTF-8 byte order mark is not allowed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedJSONError(f"invalid UTF-8 at byte {e.start}") from e
    if not raw.strip(_JSON_WHITESPACE):
        _fail("empty input")
    # Check the depth before parsing, so the recursive parser never goes deep.
    if _deeper_than(raw, max_depth):
        _fail(f"nesting deeper than {max_depth}")
    try:
        value: JSONValue = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as e:
        raise MalformedJSONError(
            f"invalid JSON: {e.msg.removesuffix(' at')} at line {e.lineno} column {e.colno}"
        ) from e
    except RecursionError as e:  # Only reachable when max_depth is set very high.
        raise MalformedJSONError("nesting too deep for the parser") from e
    except ValueError as e:  # Defensive: any other conversion failure inside the parser.
        raise MalformedJSONError(f"invalid JSON: {e}") from e
    if b"\\u" in raw:
        _reject_lone_surrogates(value)
    return value


def loads(
    data: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> JSONValue:
    """Parse strict JSON.

    Args:
        data: UTF-8 bytes, or text (measured by its UTF-8 length).
        max_bytes: Largest accepted input, in UTF-8 bytes.
        max_depth: Deepest accepted nesting; one array or object is depth 1.

    Returns:
        The parsed value. Integers are exact Python ints; other numbers are floats.

    Raises:
        MalformedJSONError: If ``data`` is not strict JSON: invalid UTF-8, a byte order
            mark, a lone surrogate, a duplicate member name, NaN or Infinity, a number that
            overflows a double, trailing data, empty input, nesting deeper than
            ``max_depth`` or input larger than ``max_bytes``.

    """
    # Bytes within the limit, the usual input, need no conversion.
    raw = data if type(data) is bytes and len(data) <= max_bytes else _as_bytes(data, max_bytes)
    # Fast path: accept only if orjson's re-serialization, compact or indented by two spaces
    # (how json.dumps(indent=2) and JSON.stringify(v, null, 2) print), is byte-identical to
    # the input. Such text has no duplicate member names (orjson never writes any) and no
    # escape or number spelled differently, so the parsed value is exactly what the text says.
    shallow = False
    try:
        value: JSONValue = orjson.loads(raw)
        option = orjson.OPT_APPEND_NEWLINE if raw.endswith(b"\n") else 0
        if raw[1:2] == b"\n":
            # Only indented text has a line break there (compact text has none at all).
            same = orjson.dumps(value, option=option | _INDENT) == raw
            # Indented so, a container nested d deep puts a line at 2 * (d - 1) spaces or
            # more: with no line at 2 * max_depth, nothing is nested deeper than max_depth.
            shallow = same and _deep_line(max_depth) not in raw
        else:
            same = orjson.dumps(value, option=option) == raw
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        same = False
    if same and (
        shallow
        or len(raw.translate(None, _NOT_OPENERS)) <= max_depth
        or not _deeper_than(raw, max_depth)
    ):
        return value
    # Slow path: decides every other input and explains rejections.
    return _loads_slow(raw, max_bytes=max_bytes, max_depth=max_depth)


def loads_object(
    data: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> JSONObject:
    """Parse strict JSON whose top-level value must be an object.

    Args:
        data: UTF-8 bytes, or text (measured by its UTF-8 length).
        max_bytes: Largest accepted input, in UTF-8 bytes.
        max_depth: Deepest accepted nesting; one array or object is depth 1.

    Returns:
        The parsed object.

    Raises:
        MalformedJSONError: If ``data`` is not strict JSON (see :func:`loads`) or its
            top-level value is not an object.

    """
    value = loads(data, max_bytes=max_bytes, max_depth=max_depth)
    if not isinstance(value, dict):
        _fail("top-level JSON value must be an object")
    return value


def _has_non_finite_float(value: JSONValue) -> bool:
    stack: list[JSONValue] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def dumps(value: JSONValue) -> bytes:
    """Serialize ``value`` as compact UTF-8 JSON for the wire (not canonical).

    Args:
        value: The JSON value to write.

    Returns:
        Compact JSON bytes, member order as in ``value``.

    Raises:
        MalformedJSONError: If ``value`` cannot be written as JSON: a non-string member
            name, an integer beyond 64 bits, NaN or an infinity, a lone surrogate, an
            unsupported type, or nesting too deep.

    """
    try:
        out = orjson.dumps(value)
    except orjson.JSONEncodeError as e:
        raise MalformedJSONError(f"cannot write as JSON: {e}") from e
    # orjson writes NaN and infinities as null; only then is a walk needed to catch them.
    if b"null" in out and _has_non_finite_float(value):
        _fail("NaN and Infinity are not JSON")
    return out
