r"""The ``AEOCertificate`` credential: an Authorised Economic Operator certificate.

A customs administration issues an ``AEOCertificate`` to a trader it has audited (WCO SAFE
Framework, pillar 2). This module holds its data model: the JSON-LD context
(:func:`aeo_context`, served by the node so that verifiers never fetch it), the JSON Schema of
its ``credentialSubject`` (:func:`aeo_subject_schema`, :func:`validate_aeo_subject`), and
:func:`build_aeo_credential`, which returns the UNSIGNED VC 2.0 credential. Signing is
:func:`credentials.signing.sign_credential`; verification is
:mod:`credentials.verification`. :func:`is_aeo_credential` and :func:`aeo_subject_of` let
the risk core pick AEO evidence out of verified credentials.

Pure: the only reads are of the bundled package data (``schemas/`` and ``contexts/``), once
per process; times come from the caller.

Decisions:

- ``programme`` is ``CTPAT`` or a national/regional AEO programme written as a two-letter
  code + ``-AEO`` (``EU-AEO``, ``JP-AEO``, and also e.g. ``CN-AEO``, ``KR-AEO``), one
  pattern ``^(CTPAT|[A-Z]{2}-AEO)$``, so a new MRA partner needs no schema change.
- ``level`` is checked per programme; other programmes only get a generic shape (letters and
  digits in dash-separated words, at most 35 characters). Whether a level is *recognised* is
  the MRA's business, not the schema's.

  ========  ===========================================================================
  EU-AEO    ``AEOC`` (customs simplifications), ``AEOS`` (security and safety),
            ``AEOF`` (both, the name still used in authorisation numbers)
  CTPAT     ``Tier1`` (certified), ``Tier2`` (validated), ``Tier3`` (validated, best
            practices)
  JP-AEO    ``AEO-Exporter``, ``AEO-Importer``, ``AEO-Warehouse-Operator``,
            ``AEO-Customs-Broker``, ``AEO-Logistics-Operator``, ``AEO-Manufacturer``
            (Japan Customs' AEO categories)
  ========  ===========================================================================

- Under ``EU-AEO`` the ``authorisationNumber`` must look like an EU one: country code +
  ``AEOC``/``AEOS``/``AEOF`` + number (``DEAEOF0000012345``). The letter is not
  cross-checked against ``level``.
- Identifier values are checked per scheme where the format is fixed: ``EORI`` (two capital
  letters + 1 to 15 letters or digits), ``MID`` (1 to 15 capital letters or digits) and
  ``LEI`` (ISO 17442, 20 characters). Other schemes take 1 to 70 characters.
- ``issuingAuthority`` is optional and is a *name* (the customs office that granted the
  authorisation); the issuing administration's identity is the credential's ``issuer``.
- Python's ``re`` lets ``$`` match before a trailing newline, so the schema's anchored
  patterns alone would accept ``"DE123\n"``. Rather than write non-portable ``\Z`` into a
  schema that other (ECMA-262) validators also read, :func:`validate_aeo_subject` rejects
  control characters in every string of the subject. It also rejects a
  ``reassessmentDate`` that matches the pattern but names an impossible date (Feb 30).

Example:
    >>> from datetime import UTC, datetime
    >>> vc = build_aeo_credential(
    ...     {"id": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    ...      "legalName": "Beispiel Logistik GmbH",
    ...      "identifiers": [{"scheme": "EORI", "value": "DE123456789012345"}],
    ...      "country": "DE", "authorisationNumber": "DEAEOF0000012345",
    ...      "programme": "EU-AEO", "level": "AEOF", "roles": ["exporter"],
    ...      "reassessmentDate": "2029-06-30T00:00:00Z"},
    ...     issuer="did:web:customs.example.eu",
    ...     credential_id="urn:uuid:3f1f0a2e-1111-4c1a-9c55-5a3ad7e4c001",
    ...     valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    >>> vc["type"]
    ['VerifiableCredential', 'AEOCertificate']

"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from importlib import resources
from typing import Any, TypeAlias

# Untyped unless types-jsonschema is installed; with the stubs the ignore is simply unused.
import jsonschema  # type: ignore[import-untyped, unused-ignore]
import orjson

from credentials.datetimes import format_datetime, parse_datetime
from credentials.errors import MalformedInputError
from credentials.model import VC_V2_CONTEXT, is_url, type_list
from credentials.schema_fastpath import Check, compile_check
from credentials.strict_json import JSONObject, JSONValue, loads_object

__all__ = [
    "AEO_CONTEXT_URL",
    "AEO_CREDENTIAL_TYPE",
    "AEO_SUBJECT_TYPE",
    "VC_V2_CONTEXT",
    "SchemaValidationError",
    "aeo_context",
    "aeo_subject_of",
    "aeo_subject_schema",
    "build_aeo_credential",
    "is_aeo_credential",
    "validate_aeo_subject",
]

AEO_CONTEXT_URL = "https://ns.trustlane.org/aeo/v1"
"""The URL of the AEO JSON-LD context (second ``@context`` entry of every AEO credential)."""

AEO_CREDENTIAL_TYPE = "AEOCertificate"
"""The credential type, next to ``VerifiableCredential``."""

AEO_SUBJECT_TYPE = "AuthorisedEconomicOperator"
"""The ``type`` of the credential subject."""

_CONTEXT_FILE = ("contexts", "aeo-v1.jsonld")
_SCHEMA_FILE = ("schemas", "aeo-certificate-subject.schema.json")
_MAX_SHOWN = 80
_MAX_SUMMARY_ERRORS = 10
_Path: TypeAlias = tuple[str | int, ...]
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Every _CONTROL character of a string or member name shows in orjson's output as an escape
# (\u0000-\u001f, \b, \t, \n, \f, \r) or as itself (U+007F-U+009F, U+2028, U+2029). An
# escaped backslash followed by one of those letters also matches: a false alarm that only
# sends the subject through the full check.
_CONTROL_IN_JSON = re.compile(r"\\(?:u00[01]|[bfnrt])|[\x7f-\x9f\u2028\u2029]")


class SchemaValidationError(MalformedInputError):
    """A document does not conform to its JSON Schema.

    Attributes:
        errors: Every violation found, sorted by path: ``{"path": "/identifiers/0/value",
            "message": "..."}``. The path is a JSON Pointer (RFC 6901) into the validated
            document; ``""`` is the document itself.

    """

    code = "SCHEMA_VALIDATION_ERROR"

    def __init__(
        self, errors: Iterable[Mapping[str, str]], *, what: str = "credentialSubject"
    ) -> None:
        self.errors: tuple[dict[str, str], ...] = tuple(
            {"path": e["path"], "message": e["message"]} for e in errors
        )
        count = len(self.errors)
        shown = "; ".join(
            f"{e['path'] or '(root)'}: {e['message']}" for e in self.errors[:_MAX_SUMMARY_ERRORS]
        )
        more = f"; and {count - _MAX_SUMMARY_ERRORS} more" if count > _MAX_SUMMARY_ERRORS else ""
        noun = "error" if count == 1 else "errors"
        super().__init__(f"{what} is invalid: {count} {noun}: {shown}{more}")

    def diagnostics(self) -> str:
        """Explain the error for an operator, one violation per line."""
        lines = [f"{self.code}: {self.message.split(':', 1)[0]}"]
        lines += [f"  {e['path'] or '(root)'}: {e['message']}" for e in self.errors]
        return "\n".join(lines)


@functools.cache
def _package_json(parts: tuple[str, ...]) -> JSONObject:
    # Strict parsing also catches a duplicated keyword in our own schema or context.
    return loads_object(resources.files("credentials").joinpath(*parts).read_bytes())


def aeo_context() -> JSONObject:
    """Return the AEO JSON-LD context document (a fresh copy).

    Returns:
        The parsed ``aeo-v1.jsonld``, to be served at :data:`AEO_CONTEXT_URL`.

    Raises:
        MalformedJSONError: The bundled file is damaged (an installation problem).

    """
    return copy.deepcopy(_package_json(_CONTEXT_FILE))


def aeo_subject_schema() -> JSONObject:
    """Return the JSON Schema (draft 2020-12) of an AEO ``credentialSubject`` (a fresh copy).

    Raises:
        MalformedJSONError: The bundled file is damaged (an installation problem).

    """
    return copy.deepcopy(_package_json(_SCHEMA_FILE))


@functools.cache
def _validator() -> Any:
    schema = _package_json(_SCHEMA_FILE)
    jsonschema.Draft202012Validator.check_schema(schema)
    # No format checker: every format rule is also written as a pattern.
    return jsonschema.Draft202012Validator(schema)


@functools.cache
def _fast_check() -> Check | None:
    return compile_check(_package_json(_SCHEMA_FILE))


def _surely_valid(subject: object) -> bool:
    """True only when the full check in :func:`validate_aeo_subject` would find nothing.

    The compiled schema check (:mod:`credentials.schema_fastpath`) answers in a few
    microseconds instead of half a millisecond; bulk issuance depends on it. Anything it
    cannot vouch for goes through ``jsonschema``, which also explains the errors.
    """
    check = _fast_check()
    if check is None or not isinstance(subject, dict) or not check(subject):
        return False
    try:
        text = orjson.dumps(subject).decode()
    except orjson.JSONEncodeError:
        return False
    if _CONTROL_IN_JSON.search(text):
        return False
    try:
        parse_datetime(subject["reassessmentDate"], field="reassessmentDate")
    except MalformedInputError:
        return False
    return True


def _pointer(parts: Iterable[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _shown(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _extra_properties(instance: Mapping[str, object], schema: Mapping[str, Any]) -> list[str]:
    known = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    return [
        name
        for name in instance
        if name not in known and not any(re.search(p, name) for p in patterns)
    ]


def _describe(error: jsonschema.ValidationError) -> Iterator[tuple[_Path, str]]:
    """Turn one jsonschema error into (path, readable message) pairs."""
    path = tuple(error.absolute_path)
    keyword = error.validator
    # Both are whatever the schema and the document hold (never Unset for a raised error).
    expected: Any = error.validator_value
    instance: Any = error.instance
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    got = _shown(instance)
    if keyword == "required" and isinstance(instance, Mapping):
        for name in expected:
            if name not in instance:
                yield (*path, name), "is required"
        return
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        for name in _extra_properties(instance, schema):
            yield (*path, name), "is not an allowed property"
        return
    if keyword == "type":
        message = f"must be of type {expected} (got {got})"
    elif keyword == "const":
        message = f"must be {_shown(expected)} (got {got})"
    elif keyword == "enum":
        message = f"must be one of {', '.join(map(str, expected))} (got {got})"
    elif keyword == "pattern":
        hint = schema.get("description")
        message = f"must be {hint} (got {got})" if hint else f"must match {expected} (got {got})"
    elif keyword in ("minLength", "maxLength"):
        bound = "at least" if keyword == "minLength" else "at most"
        message = f"must be {bound} {_plural(expected, 'character')} long (got {len(instance)})"
    elif keyword in ("minItems", "maxItems"):
        bound = "at least" if keyword == "minItems" else "at most"
        message = f"must have {bound} {_plural(expected, 'item')} (got {len(instance)})"
    elif keyword == "uniqueItems":
        message = "must not repeat an item"
    else:
        message = error.message if len(error.message) <= 2 * _MAX_SHOWN else f"fails {keyword}"
    yield path, message


def _walk_strings(value: JSONValue, path: _Path) -> Iterator[_Path]:
    """Yield the path of every string (member names included) holding a control character."""
    if isinstance(value, str):
        if _CONTROL.search(value):
            yield path
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk_strings(item, (*path, i))
    elif isinstance(value, dict):
        for name, item in value.items():
            if _CONTROL.search(name):
                yield (*path, name)
            yield from _walk_strings(item, (*path, name))


def _sort_key(item: tuple[_Path, str]) -> tuple[tuple[tuple[int, int, str], ...], str]:
    # Array indices sort numerically, so /identifiers/2 comes before /identifiers/10.
    path, message = item
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in path), message


def validate_aeo_subject(subject: object) -> None:
    """Check an AEO ``credentialSubject`` against the bundled JSON Schema.

    Every violation is collected, not just the first, so a clerk fixing a certificate sees
    them all at once.

    Args:
        subject: The parsed ``credentialSubject`` (any JSON value).

    Raises:
        SchemaValidationError: The subject is invalid; ``errors`` lists every violation.

    """
    if _surely_valid(subject):
        return
    found: set[tuple[_Path, str]] = set()
    for error in _validator().iter_errors(subject):
        found.update(_describe(error))
    if isinstance(subject, (dict, list, str)):
        for path in _walk_strings(subject, ()):
            found.add((path, "must not contain control characters"))
    if isinstance(subject, dict):
        when = subject.get("reassessmentDate")
        if isinstance(when, str) and not any(p == ("reassessmentDate",) for p, _ in found):
            try:
                parse_datetime(when, field="reassessmentDate")
            except MalformedInputError:
                found.add(
                    (("reassessmentDate",), f"must be a valid date and time (got {_shown(when)})")
                )
    if found:
        raise SchemaValidationError(
            {"path": _pointer(path), "message": message}
            for path, message in sorted(found, key=_sort_key)
        )


def _bad(message: str, code: str = "INVALID_CREDENTIAL") -> MalformedInputError:
    return MalformedInputError(message, code=code)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise _bad(f"{name} must be timezone-aware (UTC)", code="INVALID_DATETIME")
    return value


def build_aeo_credential(
    subject: JSONObject,
    *,
    issuer: str,
    credential_id: str,
    valid_from: datetime,
    valid_until: datetime | None = None,
    name: str | None = None,
) -> JSONObject:
    """Build an unsigned VC 2.0 ``AEOCertificate``.

    Args:
        subject: The ``credentialSubject``; ``"type": "AuthorisedEconomicOperator"`` is
            added when missing. Not modified: the credential holds a copy.
        issuer: The issuing administration's URL (its ``did:web``).
        credential_id: The credential's URL, typically ``urn:uuid:...``.
        valid_from: Start of validity (aware); written in whole seconds, UTC.
        valid_until: End of validity (aware), after ``valid_from``; none if open-ended.
        name: An optional human-readable name for the credential.

    Returns:
        ``{"@context", "id", "type", "issuer", "validFrom", "validUntil"?, "name"?,
        "credentialSubject"}``, ready for :func:`credentials.signing.sign_credential`.

    Raises:
        SchemaValidationError: The subject does not conform to the schema.
        MalformedInputError: A naive datetime, an empty or reversed validity period, an
            issuer or credential id that is not a URL, or an empty name.

    """
    if not is_url(issuer):
        raise _bad(f"issuer must be a URL, got {_shown(issuer)}", code="INVALID_ISSUER")
    if not is_url(credential_id):
        raise _bad(f"credential id must be a URL, got {_shown(credential_id)}")
    if name is not None and not name.strip():
        raise _bad("name must be a non-empty string")
    # Compare the instants as they will be written (whole seconds), not as passed.
    valid_from_text = format_datetime(_aware(valid_from, "valid_from"))
    valid_until_text = None
    if valid_until is not None:
        valid_until_text = format_datetime(_aware(valid_until, "valid_until"))
        if parse_datetime(valid_until_text) <= parse_datetime(valid_from_text):
            raise _bad(
                f"valid_until ({valid_until_text}) must be after valid_from ({valid_from_text})"
            )
    raw: object = subject  # Callers outside mypy may pass anything.
    if not isinstance(raw, dict):
        raise SchemaValidationError(
            [{"path": "", "message": f"must be of type object (got {_shown(raw)})"}]
        )
    body: JSONObject = copy.deepcopy(raw)
    body.setdefault("type", AEO_SUBJECT_TYPE)
    validate_aeo_subject(body)
    credential: JSONObject = {
        "@context": [VC_V2_CONTEXT, AEO_CONTEXT_URL],
        "id": credential_id,
        "type": ["VerifiableCredential", AEO_CREDENTIAL_TYPE],
        "issuer": issuer,
        "validFrom": valid_from_text,
    }
    if valid_until_text is not None:
        credential["validUntil"] = valid_until_text
    if name is not None:
        credential["name"] = name
    credential["credentialSubject"] = body
    return credential


def is_aeo_credential(doc: JSONObject) -> bool:
    """Return True when ``doc`` declares itself an AEO certificate.

    That is: its ``@context`` list includes :data:`AEO_CONTEXT_URL` (the context that gives
    ``AEOCertificate`` its meaning) and its ``type`` includes both ``VerifiableCredential``
    and ``AEOCertificate``. Says nothing about the subject's validity or the proof. Never
    raises.
    """
    contexts = doc.get("@context")
    if not isinstance(contexts, list) or AEO_CONTEXT_URL not in contexts:
        return False
    try:
        types = type_list(doc.get("type"), "credential")
    except MalformedInputError:
        return False
    return "VerifiableCredential" in types and AEO_CREDENTIAL_TYPE in types


def aeo_subject_of(doc: JSONObject) -> JSONObject:
    """Return the validated subject of an AEO credential.

    Args:
        doc: A credential (its proof is not checked here: verify it first).

    Returns:
        The ``credentialSubject`` object itself (not a copy).

    Raises:
        MalformedInputError: ``doc`` is not an AEO credential (code ``NOT_AEO_CREDENTIAL``)
            or does not have exactly one subject.
        SchemaValidationError: The subject does not conform to the schema.

    """
    if not is_aeo_credential(doc):
        raise _bad(
            f"not an {AEO_CREDENTIAL_TYPE} credential (needs @context {AEO_CONTEXT_URL} "
            f"and type VerifiableCredential + {AEO_CREDENTIAL_TYPE})",
            code="NOT_AEO_CREDENTIAL",
        )
    subject = doc.get("credentialSubject")
    if isinstance(subject, list) and len(subject) == 1:
        subject = subject[0]
    if not isinstance(subject, dict):
        raise _bad(f"an {AEO_CREDENTIAL_TYPE} must have exactly one credentialSubject object")
    validate_aeo_subject(subject)
    return subject
