"""X-ray result adapter: a scanner's JSON result record to a :class:`Scan`.

The record (``schemas/xray-result.schema.json``, JSON Schema draft 2020-12)::

    {
      "scannerId": "NII-ROT-07",
      "scanTime": "2024-05-02T09:14:03Z",
      "containerIds": ["CSQU3054383"],
      "imageDigest": "sha256:<64 hex digits of the image or NII file>",
      "algorithm": {"name": "ThreatFinder", "version": "4.1", "verdict": "suspect"},
      "operatorVerdict": {"verdict": "clear", "operatorId": "officer-118"},
      "regionsOfInterest": [
        {"x": 10, "y": 20, "width": 30, "height": 40, "label": "dense organic", "score": 0.8}
      ]
    }

At least one of ``algorithm`` and ``operatorVerdict`` is required; ``regionsOfInterest`` is
optional. The result follows the operator's verdict when there is one, else the
algorithm's (:func:`scan_attestation.scan.decide_result`).

Strict, unlike the N42 adapter, because this format is ours: the bytes must be strict JSON
(:func:`credentials.strict_json.loads_object`: UTF-8, no duplicate member names, no NaN, at
most :data:`MAX_XRAY_BYTES`), valid against the schema (no unknown member), free of control
characters, with a real date and time and correct ISO 6346 check digits. Any problem raises
:class:`~scan_attestation.scan.ScanParseError` whose one-line message names the fields.
``parser_notes`` is therefore always empty.

Pure: the only read is of the bundled schema, once per process; no clock.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any, cast

import jsonschema

from credentials.errors import MalformedJSONError
from credentials.strict_json import MAX_BYTES, JSONObject, JSONValue, loads_object
from scan_attestation.containers import (
    ContainerNumber,
    InvalidContainerNumberError,
    validate_container_number,
)
from scan_attestation.scan import (
    AlgorithmVerdict,
    Instrument,
    OperatorVerdict,
    RegionOfInterest,
    Scan,
    ScanParseError,
    Verdict,
    XRaySummary,
    decide_result,
    format_timestamp,
    parse_timestamp,
)

__all__ = ["MAX_XRAY_BYTES", "parse_xray_result", "xray_result_schema"]

MAX_XRAY_BYTES = MAX_BYTES
"""Largest accepted record (1 MiB): a result record, never the image itself."""

_SCHEMA_PATH = ("schemas", "xray-result.schema.json")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}\Z")
_MAX_SHOWN = 40
_MAX_LISTED = 3

_Path = tuple[str | int, ...]


@functools.cache
def _schema() -> JSONObject:
    # Strict parsing also catches a duplicated keyword in our own schema.
    return loads_object(resources.files("scan_attestation").joinpath(*_SCHEMA_PATH).read_bytes())


@functools.cache
def _validator() -> Any:
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    # No format checker: every format rule is written as a pattern or checked below.
    return jsonschema.Draft202012Validator(schema)


def xray_result_schema() -> JSONObject:
    """Return the JSON Schema of the X-ray result record (a fresh copy).

    Raises:
        MalformedJSONError: The bundled file is damaged (an installation problem).

    """
    return copy.deepcopy(_schema())


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=True) if not isinstance(value, str) else ascii(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def _where(path: _Path) -> str:
    """Write a path as ``a.b[2]``; unusual member names are quoted, so the line stays one line."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_NAME.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{_shown(part)}]"
    return out or "(record)"


def _describe(error: jsonschema.ValidationError) -> Iterator[tuple[_Path, str]]:
    """Turn one jsonschema error into (path, readable message) pairs."""
    path = cast(_Path, tuple(error.absolute_path))
    keyword = error.validator
    # Both are whatever the schema and the record hold (never Unset for a raised error).
    expected: Any = error.validator_value
    instance: Any = error.instance
    if keyword == "required" and isinstance(instance, dict):
        for name in expected:
            if name not in instance:
                yield (*path, name), "is required"
        return
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = cast(dict[str, Any], error.schema).get("properties", {})
        for name in instance:
            if name not in known:
                yield (*path, name), "is not an allowed member"
        return
    if keyword == "anyOf" and not path:
        message = "needs algorithm or operatorVerdict (or both)"
    elif keyword == "type":
        message = f"must be of type {expected} (got {_shown(instance)})"
    elif keyword == "enum":
        message = f"must be one of {', '.join(map(str, expected))} (got {_shown(instance)})"
    elif keyword == "pattern":
        hint = cast(dict[str, Any], error.schema).get("description")
        shown = _shown(instance)
        message = f"must be {hint} (got {shown})" if hint else f"has the wrong form ({shown})"
    elif keyword in ("minLength", "maxLength", "minItems", "maxItems"):
        bound = "at least" if keyword.startswith("min") else "at most"
        unit = "characters" if keyword.endswith("Length") else "items"
        message = f"must have {bound} {expected} {unit} (got {len(instance)})"
    elif keyword in ("minimum", "maximum"):
        bound = "at least" if keyword == "minimum" else "at most"
        message = f"must be {bound} {expected} (got {_shown(instance)})"
    elif keyword == "uniqueItems":
        message = "must not repeat an item"
    else:
        message = f"fails the schema rule {keyword}"
    yield path, message


def _control_characters(value: JSONValue, path: _Path) -> Iterator[_Path]:
    if isinstance(value, str):
        if _CONTROL.search(value):
            yield path
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _control_characters(item, (*path, i))
    elif isinstance(value, dict):
        for name, item in value.items():
            if _CONTROL.search(name):
                yield (*path, name)
            yield from _control_characters(item, (*path, name))


def _problems(record: JSONObject) -> list[tuple[_Path, str]]:
    found: set[tuple[_Path, str]] = set()
    for error in _validator().iter_errors(record):
        found.update(_describe(error))
    for path in _control_characters(record, ()):
        found.add((path, "must not contain control characters"))
    when = record.get("scanTime")
    if isinstance(when, str) and not any(p == ("scanTime",) for p, _ in found):
        try:
            parse_timestamp(when)
        except ValueError as e:
            found.add((("scanTime",), f"is not a valid date and time ({e})"))
    ids = record.get("containerIds")
    if isinstance(ids, list):
        for i, text in enumerate(ids):
            if isinstance(text, str) and not any(p == ("containerIds", i) for p, _ in found):
                try:
                    validate_container_number(text)
                except InvalidContainerNumberError as e:
                    found.add((("containerIds", i), e.message))
    return sorted(found, key=_sort_key)


def _sort_key(item: tuple[_Path, str]) -> tuple[tuple[tuple[int, int, str], ...], str]:
    # Array indices sort numerically, so containerIds[2] comes before containerIds[10].
    path, message = item
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in path), message


def _raise_problems(problems: list[tuple[_Path, str]]) -> None:
    shown = "; ".join(f"{_where(path)}: {message}" for path, message in problems[:_MAX_LISTED])
    more = f"; and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    noun = "problem" if len(problems) == 1 else "problems"
    raise ScanParseError(f"X-ray result is invalid: {len(problems)} {noun}: {shown}{more}")


def parse_xray_result(data: bytes, *, max_bytes: int = MAX_XRAY_BYTES) -> Scan:
    """Parse an X-ray result record into a :class:`Scan`.

    Args:
        data: The raw record bytes, exactly as received (their SHA-256 is kept).
        max_bytes: Largest accepted input.

    Returns:
        The scan (format and modality ``xray``, no parser notes).

    Raises:
        ScanParseError: The bytes are not strict JSON, or the record breaks the schema, has a
            control character, an impossible time or a wrong container check digit; the
            one-line message names the fields.

    """
    if not isinstance(data, bytes):
        raise ScanParseError(f"X-ray result must be bytes, not {type(data).__name__}")
    try:
        record = loads_object(data, max_bytes=max_bytes)
    except MalformedJSONError as e:
        raise ScanParseError(f"X-ray result is not strict JSON: {e.message}") from e
    problems = _problems(record)
    if problems:
        _raise_problems(problems)
    # The record is now known to match the schema, so the casts below hold.
    algorithm = cast(dict[str, str] | None, record.get("algorithm"))
    operator = cast(dict[str, str] | None, record.get("operatorVerdict"))
    regions = cast(list[dict[str, Any]], record.get("regionsOfInterest", []))
    summary = XRaySummary(
        image_digest=cast(str, record["imageDigest"]),
        algorithm=None
        if algorithm is None
        else AlgorithmVerdict(
            algorithm["name"], algorithm["version"], cast(Verdict, algorithm["verdict"])
        ),
        operator_verdict=None
        if operator is None
        else OperatorVerdict(cast(Verdict, operator["verdict"]), operator["operatorId"]),
        regions_of_interest=tuple(
            RegionOfInterest(
                x=int(r["x"]),
                y=int(r["y"]),
                width=int(r["width"]),
                height=int(r["height"]),
                label=r["label"],
                score=float(r["score"]),
            )
            for r in regions
        ),
    )
    when, _ = parse_timestamp(cast(str, record["scanTime"]))
    containers: tuple[ContainerNumber, ...] = tuple(
        validate_container_number(c) for c in cast(list[str], record["containerIds"])
    )
    return Scan(
        format="xray",
        modality="xray",
        instrument=Instrument(identifier=cast(str, record["scannerId"])),
        scan_time=format_timestamp(when),
        containers=containers,
        result=decide_result(summary),
        summary=summary,
        parser_notes=(),
        raw_sha256=hashlib.sha256(data).hexdigest(),
    )
