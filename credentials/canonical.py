"""RFC 8785 JSON Canonicalization Scheme (JCS): the only producer of bytes to sign or hash.

:func:`canonicalize` turns a JSON value into its one canonical byte string. Signing,
verification and hashing call it and nothing else, so that every node derives the same
bytes from the same value.

The reference implementation is the ``rfc8785`` package. A fast path serializes with
``orjson`` (sorted keys, 53-bit integer check) and is used only when its output is provably
identical to RFC 8785:

* the value holds no float (``orjson`` spells floats differently from ECMAScript, for
  example ``1.0`` against ``1`` and ``1e+21`` against ``1e21``), and only the exact types
  ``dict``, ``list``, ``str``, ``int``, ``bool`` and ``None``;
* every integer is within +-(2**53 - 1) (``orjson`` raises otherwise, and the slow path
  writes larger exact integers as ECMAScript doubles);
* no character lies outside the Basic Multilingual Plane (RFC 8785 sorts member names by
  UTF-16 code units and ``orjson`` by code points; the two orders agree only on the BMP).

Anything else goes to ``rfc8785``. :func:`canonicalize_plain` skips the type walk for a value
already known to hold those exact types and no float (the JSON-LD check of a credential
establishes it for the whole document in the walk it makes anyway).

An integer beyond +-(2**53 - 1) that stands for one double without loss (exactly that
double, or exactly ECMAScript's spelling of it: JavaScript writes doubles up to 10**21 as
plain digits, e.g. ``15639868060766604``) is that double and is written as ECMAScript writes
it; any other would lose precision and is refused. A value that is not I-JSON (such an
integer, NaN or an infinity, a lone surrogate) raises
:class:`~credentials.errors.MalformedJSONError`; a value that is not JSON at all (a
non-string member name, a tuple, bytes, any other type) raises
:class:`~credentials.errors.MalformedInputError`.

This module does not parse JSON (see :mod:`credentials.strict_json`) and does not hash or
sign. It is pure: no I/O, no clock, no logging.

Example::

    >>> canonicalize({"b": [1, 2.50], "a": "x"})
    b'{"a":"x","b":[1,2.5]}'
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import rfc8785

from credentials.errors import MalformedInputError, MalformedJSONError
from credentials.strict_json import JSONValue

__all__ = ["canonicalize", "canonicalize_plain", "reference_canonicalize"]

_INT_MAX = 2**53 - 1
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER

# Exact scalar types the fast path accepts. Subclasses (enums...) take the slow path.
_SCALAR_TYPES = frozenset({str, int, bool, type(None)})


def _is_plain_container(container: Any) -> bool:
    """Tell whether ``container`` holds only exact dict, list, str, int, bool and None.

    So no float, no subclass (enums included) and no other type anywhere.
    """
    # A plain loop over the children beat bulk set-of-types checks in benchmarks: most
    # children are strings, and the common case costs one type() call and one comparison.
    # Recursion is bounded: orjson has already refused anything nested deeper than 255.
    children = container.values() if type(container) is dict else container
    for child in children:
        kind = type(child)
        if kind is str:
            continue
        if kind is dict or kind is list:
            if not _is_plain_container(child):
                return False
        elif kind is not int and kind is not bool and child is not None:
            return False
    return True


def _orjson_canonical(value: JSONValue) -> bytes | None:
    """Return ``orjson``'s sorted form of ``value``, or None if it may differ from RFC 8785.

    None for a reason other than the value's types: an integer beyond +-(2**53 - 1), a
    character outside the Basic Multilingual Plane, anything orjson refuses.
    """
    try:
        out = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return None
    if not out.isascii():
        text = out.decode("utf-8")
        if len(text.encode("utf-16-le")) != 2 * len(text):
            return None
    return out


def _fast_canonicalize(value: JSONValue) -> bytes | None:
    """Return the RFC 8785 form of ``value`` via ``orjson``, or None if that is not safe.

    None means "use the reference implementation", never "invalid".
    """
    out = _orjson_canonical(value)
    if out is None:
        return None
    kind = type(value)
    if kind is dict or kind is list:
        if not _is_plain_container(value):
            return None
    elif kind not in _SCALAR_TYPES:
        return None
    return out


def _path_key(path: str, key: str) -> str:
    return f"{path}[{key[:40]!r}]"


def _check_value(value: object) -> None:
    """Raise if ``value`` cannot be canonicalized, naming the offending location.

    Raises:
        MalformedInputError: For a non-string member name or a type that is not JSON.
        MalformedJSONError: For an integer outside +-(2**53 - 1) that is not exactly a double,
            NaN or an infinity, or
            a lone surrogate.

    """
    stack: list[tuple[object, str]] = [(value, "$")]
    while stack:
        item, path = stack.pop()
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not -_INT_MAX <= item <= _INT_MAX and not _exact_double(item):
                raise MalformedJSONError(
                    f"integer at {path} is outside +-(2**53-1) and stands for no double "
                    "without losing precision"
                )
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise MalformedJSONError(f"{item!r} at {path} is not JSON")
        elif isinstance(item, str):
            _check_string(item, f"string at {path}")
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise MalformedInputError(
                        f"member name {key!r} at {path} has type {type(key).__name__}, not str"
                    )
                _check_string(key, f"member name at {path}")
                stack.append((child, _path_key(path, key)))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
        else:
            raise MalformedInputError(f"{type(item).__name__} at {path} is not a JSON type")


def _exact_double(value: int) -> bool:
    """Tell whether the integer ``value`` stands for one IEEE 754 double without loss.

    True when ``value`` is exactly a double (``9007199254740994``), or when it is exactly
    how ECMAScript writes its nearest double (``1152921504606847000``, JavaScript's spelling
    of 2**60): either way the number the signer hashed is known. False for a value such as
    ``9007199254740993``, whose nearest double is written differently (precision lost).
    """
    try:
        double = float(value)
    except OverflowError:
        return False
    if int(double) == value:
        return True
    return bool(rfc8785.dumps(double) == str(value).encode())


def _as_doubles(value: object) -> object:
    """Return ``value`` with every integer beyond +-(2**53 - 1) turned into its double.

    RFC 8785 §3.2.2.3 serializes numbers as ECMAScript doubles: an integer literal such as
    15639868060766604, which JavaScript writes for a double between 2**53 and 10**21, is
    that double, and is written the way ECMAScript writes it. Only exact values get here.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value) if not -_INT_MAX <= value <= _INT_MAX else value
    if isinstance(value, dict):
        return {key: _as_doubles(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_as_doubles(child) for child in value]
    return value


def _has_big_int(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, int) and not isinstance(item, bool):
            if not -_INT_MAX <= item <= _INT_MAX:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _check_string(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise MalformedJSONError(f"lone surrogate in {where} at index {e.start}") from e


def reference_canonicalize(value: JSONValue) -> bytes:
    """Canonicalize with the ``rfc8785`` reference implementation only.

    Meant for tests and benchmarks; production code calls :func:`canonicalize`.

    Args:
        value: The JSON value.

    Returns:
        The RFC 8785 canonical UTF-8 bytes.

    Raises:
        MalformedInputError: If ``value`` holds a non-string member name or a non-JSON type,
            or is nested too deeply to process.
        MalformedJSONError: If ``value`` holds an integer outside +-(2**53 - 1) that is not
            exactly a double, NaN or an
            infinity, or a lone surrogate.

    """
    _check_value(value)
    if _has_big_int(value):
        value = _as_doubles(value)  # type: ignore[assignment]
    try:
        out: bytes = rfc8785.dumps(value)
    except RecursionError as e:
        raise MalformedInputError("value nested too deeply to canonicalize") from e
    except rfc8785.CanonicalizationError as e:  # Defensive: _check_value catches these first.
        raise MalformedJSONError(f"cannot canonicalize: {e}") from e
    return out


def canonicalize(value: JSONValue) -> bytes:
    """Return the RFC 8785 (JCS) canonical form of ``value``.

    Args:
        value: The JSON value, typically from :func:`credentials.strict_json.loads`.

    Returns:
        The canonical UTF-8 bytes, identical to what :func:`reference_canonicalize` gives.

    Raises:
        MalformedInputError: If ``value`` holds a non-string member name or a non-JSON type,
            or is nested too deeply to process.
        MalformedJSONError: If ``value`` holds an integer outside +-(2**53 - 1) that is not
            exactly a double, NaN or an
            infinity, or a lone surrogate.

    """
    out = _fast_canonicalize(value)
    if out is not None:
        return out
    return reference_canonicalize(value)


def canonicalize_plain(value: JSONValue) -> bytes:
    """:func:`canonicalize` for a value already known to be plain JSON.

    Plain means that ``value`` holds only exact ``dict``, ``list``, ``str``, ``int``,
    ``bool`` and ``None`` (no float, no subclass, no other type), as
    :func:`credentials.jsonld.check_credential_jsonld_plain` establishes for a whole
    document (and so for every part of it) in the walk it makes anyway. Only the fast
    path's own walk over the types is skipped: the integer range and the Basic
    Multilingual Plane are checked as always, with :func:`reference_canonicalize` beyond
    them. For a plain value the bytes are those of :func:`canonicalize`; for any other value
    they may not be, so never call this on a value that was not checked.

    Args:
        value: The plain JSON value.

    Returns:
        The canonical UTF-8 bytes.

    Raises:
        MalformedInputError: As :func:`canonicalize`.
        MalformedJSONError: As :func:`canonicalize`.

    """
    out = _orjson_canonical(value)
    if out is not None:
        return out
    return reference_canonicalize(value)
