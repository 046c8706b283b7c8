"""The JSON Schema of an MRA ``credentialSubject`` and the rules a schema cannot state.

Private to :mod:`registry.mra`, which re-exports :func:`validate_mra_subject` and
:func:`mra_subject_schema`. The schema (``schemas/mra-subject.schema.json``, draft 2020-12)
is read once per process. Messages follow :mod:`credentials.aeo`: one per violation, with a
JSON Pointer path, all collected into one
:class:`~credentials.aeo.SchemaValidationError`.

Beside the schema, :func:`validate_mra_subject` checks: control characters in any string
(Python's ``$`` matches before a trailing newline, so anchored patterns are not enough); both
ends of a direction are parties and differ; no direction and no programme within a direction
repeats; ``effectiveFrom``/``effectiveUntil`` name real instants, the end after the start.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from datetime import datetime
from importlib import resources
from typing import Any, TypeAlias

# Untyped unless types-jsonschema is installed; with the stubs the ignore is simply unused.
import jsonschema  # type: ignore[import-untyped, unused-ignore]

from credentials.aeo import SchemaValidationError
from credentials.datetimes import parse_datetime
from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject, JSONValue, loads_object

__all__ = ["mra_context", "mra_subject_schema", "validate_mra_subject"]

_SCHEMA_FILE = ("schemas", "mra-subject.schema.json")
_MAX_SHOWN = 80
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_Path: TypeAlias = tuple[str | int, ...]


@functools.cache
def _schema() -> JSONObject:
    # Strict parsing also catches a duplicated keyword in our own schema.
    return loads_object(resources.files("registry").joinpath(*_SCHEMA_FILE).read_bytes())


@functools.cache
def _validator() -> Any:
    jsonschema.Draft202012Validator.check_schema(_schema())
    return jsonschema.Draft202012Validator(_schema())


@functools.cache
def _context() -> JSONObject:
    raw = resources.files("registry").joinpath("contexts", "mra-v1.jsonld").read_bytes()
    return loads_object(raw)


def mra_context() -> JSONObject:
    """Return the MRA JSON-LD context document (a copy), served by the node.

    Raises:
        MalformedJSONError: The bundled file is damaged (an installation problem).

    """
    return copy.deepcopy(_context())


def mra_subject_schema() -> JSONObject:
    """Return the JSON Schema (draft 2020-12) of an MRA ``credentialSubject`` (a copy).

    Raises:
        MalformedJSONError: The bundled file is damaged (an installation problem).

    """
    return copy.deepcopy(_schema())


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _schema_errors(subject: object) -> Iterator[tuple[_Path, str]]:
    for error in _validator().iter_errors(subject):
        path, keyword, instance = tuple(error.absolute_path), error.validator, error.instance
        expected: Any = error.validator_value
        if keyword == "required" and isinstance(instance, dict):
            yield from (((*path, n), "is required") for n in expected if n not in instance)
        elif keyword == "additionalProperties" and isinstance(instance, dict):
            known: Any = (
                error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
            )
            yield from (
                ((*path, n), "is not an allowed property") for n in instance if n not in known
            )
        elif keyword in ("minItems", "maxItems"):
            bound = "at least" if keyword == "minItems" else "at most"
            noun = "item" if expected == 1 else "items"
            yield path, f"must have {bound} {expected} {noun} (got {len(instance)})"
        elif keyword == "uniqueItems":
            yield path, "must not repeat an item"
        elif keyword == "enum":
            yield path, f"must be one of {', '.join(expected)} (got {_shown(instance)})"
        elif keyword == "pattern":
            hint = error.schema.get("description") if isinstance(error.schema, dict) else None
            yield path, f"must be {hint or 'like ' + expected} (got {_shown(instance)})"
        elif keyword == "not":
            yield path, f"must not be {_shown(instance)}"
        else:
            yield path, error.message if len(error.message) <= _MAX_SHOWN else f"fails {keyword}"


def _control_errors(value: JSONValue, path: _Path) -> Iterator[tuple[_Path, str]]:
    # Python's "$" matches before a trailing newline, so anchored patterns alone are not enough.
    if isinstance(value, str) and _CONTROL.search(value):
        yield path, "must not contain control characters"
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _control_errors(item, (*path, i))
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _control_errors(name, (*path, name))
            yield from _control_errors(item, (*path, name))


def _rule_errors(subject: JSONObject, flagged: set[_Path]) -> Iterator[tuple[_Path, str]]:
    """The rules a JSON Schema cannot state."""
    parties = subject.get("parties")
    known = {p for p in parties if isinstance(p, str)} if isinstance(parties, list) else set()
    recognitions = subject.get("recognitions")
    directions: set[tuple[str, str]] = set()
    for i, rec in enumerate(recognitions if isinstance(recognitions, list) else []):
        if not isinstance(rec, dict):
            continue
        here: _Path = ("recognitions", i)
        ends = (rec.get("recognisingParty"), rec.get("issuingParty"))
        for name, party in zip(("recognisingParty", "issuingParty"), ends, strict=True):
            if known and isinstance(party, str) and party not in known:
                yield (*here, name), f"must be one of the parties (got {party!r})"
        recogniser, issuer = ends
        if isinstance(recogniser, str) and isinstance(issuer, str):
            if recogniser == issuer:
                yield (*here, "issuingParty"), "must differ from recognisingParty"
            elif (recogniser, issuer) in directions:
                yield here, "repeats the direction of an earlier recognition"
            directions.add((recogniser, issuer))
        programmes = rec.get("programmes")
        seen: set[str] = set()
        for j, scope in enumerate(programmes if isinstance(programmes, list) else []):
            programme = scope.get("programme") if isinstance(scope, dict) else None
            if isinstance(programme, str):
                if programme in seen:
                    yield (*here, "programmes", j, "programme"), f"repeats {programme!r}"
                seen.add(programme)
    times: dict[str, datetime] = {}
    for member in ("effectiveFrom", "effectiveUntil"):
        value = subject.get(member)
        if isinstance(value, str) and (member,) not in flagged:
            try:
                times[member] = parse_datetime(value, field=member)
            except MalformedInputError:
                yield (member,), f"must be a valid date and time (got {value!r})"
    if len(times) == 2 and times["effectiveUntil"] <= times["effectiveFrom"]:
        yield ("effectiveUntil",), "must be after effectiveFrom"


def _sort_key(item: tuple[_Path, str]) -> tuple[tuple[tuple[int, int, str], ...], str]:
    # Array indices sort numerically, so /recognitions/2 comes before /recognitions/10.
    path, message = item
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in path), message


def _pointer(path: _Path) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def validate_mra_subject(subject: object) -> None:
    """Check an MRA ``credentialSubject`` against the schema and the rules beside it.

    Every violation is collected, so an administrator drafting an agreement sees them all.

    Args:
        subject: The parsed ``credentialSubject`` (any JSON value).

    Raises:
        SchemaValidationError: The subject is invalid; ``errors`` lists every violation.

    """
    found = set(_schema_errors(subject))
    if isinstance(subject, dict):
        found.update(_control_errors(subject, ()))
        found.update(_rule_errors(subject, {path for path, _ in found}))
    if found:
        raise SchemaValidationError(
            ({"path": _pointer(p), "message": m} for p, m in sorted(found, key=_sort_key)),
            what="MutualRecognitionAgreement credentialSubject",
        )
