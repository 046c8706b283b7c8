"""The request schemas of node/openapi.json are exactly as strict as the server.

schemathesis (test_schemathesis.py) sends requests generated from the document: schema-valid
ones must be accepted and schema-violating ones refused. So where a server rule is a regular
language, the document states it exactly, and these tests hold the patterns to the server's
own parsers: ``DateTimeStamp`` to :func:`credentials.datetimes.parse_datetime` (which takes
years 0001-9999 only, real calendar days, offsets up to 14:00), ``Url`` to
:func:`credentials.model.is_url`. The request variants of the bundled subject schemas (AEO
certificate, mutual recognition agreement) are derived from them mechanically
(:func:`input_schema`): the server also refuses control characters in every string of a
subject and impossible dates, which the bundled ECMA-262 patterns do not say.

The one deliberate difference: on 0001-01-01 and 9999-12-31 the pattern takes only offsets
that cannot leave years 1-9999 whatever the time of day (``Z``, ``±00:00``, and offsets
behind UTC on the first day, ahead of it on the last); the server also takes, say,
``0001-01-01T12:00:00+01:00``.
"""

from __future__ import annotations

import copy
import random
import re
from typing import Any

import pytest

from credentials.aeo import aeo_subject_schema
from credentials.datetimes import parse_datetime
from credentials.errors import MalformedInputError
from credentials.model import is_url
from credentials.urls import URL_PATTERN as SERVER_URL_PATTERN
from openapi_check import document
from registry.mra import mra_subject_schema

# What validate_aeo_subject and validate_mra_subject refuse in any string of a subject.
CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
# What Python's re calls \s in the server's patterns, spelt out: ECMA-262's \s, which
# schemathesis and other JSON Schema validators use, lacks U+001C-U+001F and U+0085 and has
# U+FEFF.
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

# credentials.urls: the server's own rule (one pattern valid in Python and ECMA-262; its
# whitespace class is SPACE, spelt out).
URL_PATTERN = f"^{SERVER_URL_PATTERN}$"
assert SPACE in SERVER_URL_PATTERN


def dts_pattern() -> str:
    """The XML Schema dateTimeStamps that parse_datetime accepts, as one ECMA-262 pattern."""
    mid_year = (
        r"(?:000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}"
        r"|99[0-8][0-9]|999[0-8])"
    )
    leap = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][48]|[13579][26]|[2468]0)00)"
    day28 = r"(?:0[1-9]|1[0-9]|2[0-8])"
    any_day = rf"(?:(?:0[1-9]|1[0-2])-{day28}|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    not_jan_1 = (
        rf"(?:01-(?:0[2-9]|[12][0-9]|3[01])|02-{day28}"
        r"|(?:0[3-9]|1[0-2])-(?:0[1-9]|[12][0-9]|30)|(?:0[3578]|1[02])-31)"
    )
    not_dec_31 = (
        rf"(?:(?:0[1-9]|1[01])-{day28}|(?:0[13-9]|1[01])-(?:29|30)|(?:0[13578]|10)-31"
        r"|12-(?:0[1-9]|[12][0-9]|30))"
    )
    time = r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    offset = r"(?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00)"
    general = (
        rf"(?:{mid_year}-{any_day}|0001-{not_jan_1}|9999-{not_dec_31}|{leap}-02-29)"
        rf"{time}(?:Z|[+-]{offset})"
    )
    first = rf"0001-01-01{time}(?:Z|[+-]00:00|-{offset})"
    last = rf"9999-12-31{time}(?:Z|[+-]00:00|\+{offset})"
    return rf"^(?:{general}|{first}|{last})$"


# Patterns of the bundled subject schemas -> the same rule without control characters (and
# dates the server can parse). A new pattern there fails test_*_input_schema_is_derived until
# it is classified here or in _KEPT_PATTERNS.
_BUNDLED_DATE = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"[0-5][0-9](\.[0-9]+)?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])$"
)
_INPUT_PATTERNS = {
    r"\S": rf"^[^{CONTROL}]*[^{SPACE}{CONTROL}][^{CONTROL}]*$",
    r"^\S(.*\S)?$": rf"^[^{SPACE}{CONTROL}]([^{CONTROL}]*[^{SPACE}{CONTROL}])?$",
    r"^did:[a-z0-9]+:\S+$": rf"^did:[a-z0-9]+:[^{SPACE}{CONTROL}]+$",
    r"^did:(web|key):[^\s#]+$": rf"^did:(web|key):[^{SPACE}#{CONTROL}]+$",
    r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s#]+$": rf"^[A-Za-z][A-Za-z0-9+.-]*:[^{SPACE}#{CONTROL}]+$",
    _BUNDLED_DATE: "",  # replaced by dts_pattern()
}
# Patterns that admit only printable ASCII already (no control character can match).
_KEPT_PATTERNS = {
    r"^[A-Z]{2}$",
    r"^[A-Za-z0-9][A-Za-z0-9./-]*$",
    r"^(CTPAT|[A-Z]{2}-AEO)$",
    r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$",
    r"^[A-Za-z0-9][A-Za-z0-9 -]*$",
    r"^[A-Z]{2}AEO[CSF][A-Za-z0-9]+$",
    r"^[A-Z]{2}[A-Za-z0-9]{1,15}$",
    r"^[A-Z0-9]{1,15}$",
    r"^[A-Z0-9]{18}[0-9]{2}$",
    r"^[A-Za-z][A-Za-z0-9]*$",
}


def input_schema(bundled: dict[str, Any], name: str, *, optional: tuple[str, ...] = ()) -> Any:
    """The request form of a bundled subject schema, as component ``name`` of the document.

    Control characters are refused in every string, dates are what the server parses,
    members in ``optional`` are not required (the server adds them), and ``$defs``
    references point into the component.
    """
    schema = copy.deepcopy(bundled)
    schema.pop("$schema", None)
    schema.pop("$id", None)
    schema["required"] = [m for m in schema["required"] if m not in optional]

    def rewrite(node: Any) -> Any:
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                if value in _INPUT_PATTERNS:
                    out[key] = _INPUT_PATTERNS[value] or dts_pattern()
                else:
                    assert value in _KEPT_PATTERNS, f"unclassified pattern {value!r}"
                    out[key] = value
            elif key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = f"#/components/schemas/{name}/$defs/" + value.removeprefix("#/$defs/")
            else:
                out[key] = rewrite(value)
        return out

    return rewrite(schema)


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = document()["components"]["schemas"]
    return schemas


# -- DateTimeStamp --------------------------------------------------------------------------


def _parses(text: str) -> bool:
    try:
        parse_datetime(text)
    except MalformedInputError:
        return False
    return True


def test_date_time_stamp_is_the_derived_pattern() -> None:
    assert _schemas()["DateTimeStamp"]["pattern"] == dts_pattern()


def test_date_time_stamp_takes_every_real_day_and_no_other() -> None:
    pattern = re.compile(dts_pattern())
    years = [0, 1, 2, 4, 99, 100, 400, 1000, 1900, 2000, 2023, 2024, 2100, 9998, 9999]
    for year in years:
        for month in range(14):
            for day in range(33):
                text = f"{year:04d}-{month:02d}-{day:02d}T12:00:00Z"
                assert bool(pattern.search(text)) == _parses(text), text


def test_date_time_stamp_agrees_with_the_parser_on_times_and_zones() -> None:
    pattern = re.compile(dts_pattern())
    rnd = random.Random(20261130)  # noqa: S311 - reproducible test data
    edge_days = ["0001-01-01", "9999-12-31"]
    for _ in range(20_000):
        day = rnd.choice(["2026-11-30", "0001-01-02", "9999-12-30", "2024-02-29", "1900-02-29"])
        clock = f"{rnd.randint(0, 25):02d}:{rnd.randint(0, 61):02d}:{rnd.randint(0, 61):02d}"
        fraction = rnd.choice(["", ".5", ".123456789", ".", ".x"])
        zone = rnd.choice(
            [
                "Z",
                "z",
                "",
                "+00:00",
                "-00:00",
                "+14:00",
                "-14:00",
                "+14:01",
                f"+{rnd.randint(0, 15):02d}:{rnd.randint(0, 60):02d}",
                f"-{rnd.randint(0, 15):02d}:{rnd.randint(0, 60):02d}",
            ]
        )
        text = f"{day}T{clock}{fraction}{zone}"
        assert bool(pattern.search(text)) == _parses(text), text
    # On the first and last day the pattern may be stricter, never looser.
    for _ in range(5_000):
        day = rnd.choice(edge_days)
        sign = rnd.choice("+-")
        text = (
            f"{day}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00"
            f"{sign}{rnd.randint(0, 14):02d}:{rnd.randint(0, 59):02d}"
        )
        if pattern.search(text):
            assert _parses(text), text
    for text in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59Z"):
        assert pattern.search(text) and _parses(text), text
    for text in ("0000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z", "10000-01-01T00:00:00Z"):
        assert not pattern.search(text) and not _parses(text), text
    assert not pattern.search("2026-11-30T23:59:60Z")  # no leap seconds in datetime


# -- URLs -------------------------------------------------------------------------------------


def test_space_is_what_python_calls_whitespace() -> None:
    space = re.compile(f"[{SPACE}]")
    for code in range(0x110000):
        char = chr(code)
        assert bool(space.match(char)) == bool(re.match(r"\s", char)), hex(code)


def test_url_is_the_server_rule() -> None:
    assert _schemas()["Url"]["pattern"] == URL_PATTERN
    pattern = re.compile(URL_PATTERN)
    samples = [
        "urn:uuid:3f1f0a2e-1111-4c1a-9c55-5a3ad7e4c001",
        "https://customs.example/vc/1",
        "did:web:customs.example%3A8443",
        "a:b",
        "a:",
        ":b",
        "1a:b",
        "a b:c",
        "a:b c",
        "a:b\x00",
        "a:b\x7f",
        "a:b\x85",
        "a:b\u00a0c",
        "a:b\ufeff",
        "a:b\u2028",
        "a:b\x1c",
        "a:b\x1b",
        "a+b.c-d:e",
        "a_b:c",
        "",
    ]
    for sample in samples:
        assert bool(pattern.search(sample)) == is_url(sample), repr(sample)


# -- subject schemas ----------------------------------------------------------------------------


def _without_texts(schema: dict[str, Any]) -> dict[str, Any]:
    # The component has a title and description of its own.
    return {k: v for k, v in schema.items() if k not in ("title", "description")}


def test_aeo_input_schema_is_derived_from_the_bundled_one() -> None:
    name = "AEOCertificateSubjectInput"
    derived = input_schema(aeo_subject_schema(), name, optional=("type",))
    assert _without_texts(_schemas()[name]) == _without_texts(derived)


def test_mra_input_schema_is_derived_from_the_bundled_one() -> None:
    name = "MutualRecognitionAgreementSubjectInput"
    derived = input_schema(mra_subject_schema(), name)
    assert _without_texts(_schemas()[name]) == _without_texts(derived)


def test_input_patterns_refuse_control_characters() -> None:
    for bundled, derived in _INPUT_PATTERNS.items():
        if not derived:
            continue
        for sample in ("did:web:x\x01", "urn:x:a\x9f", "a\u2028b", "a\x7f", "\x00", "\x85"):
            assert not re.search(derived, sample), (derived, sample)
        for sample in ("did:web:customs.example", "urn:uuid:1", "Beispiel GmbH", "did:key:z6Mk"):
            if re.search(bundled, sample):
                assert re.search(derived, sample), (derived, sample)


# -- ECMA-262 -----------------------------------------------------------------------------------

_TRICKY = ["\x85", "\ufeff", "\x1c", "\n", "\u2028", "\xa0", "\x00", " ", "\t", "\x7f", "\x9f"]


def _variants(*bases: str) -> list[str]:
    out = []
    for base in bases:
        out.append(base)
        for char in _TRICKY:
            out += [base + char, char + base, base[:3] + char + base[3:], char]
    return out


def test_patterns_mean_the_server_rule_in_ecma_262() -> None:
    # JSON Schema patterns are ECMA-262 (schemathesis validates with jsonschema-rs): \s, \S
    # and $ differ from Python's re, which the server uses, so compare with the server rule.
    jsonschema_rs = pytest.importorskip("jsonschema_rs")

    def ecma(pattern: str) -> Any:
        return jsonschema_rs.validator_for({"type": "string", "pattern": pattern}).is_valid

    url = ecma(_schemas()["Url"]["pattern"])
    for sample in _variants("urn:uuid:1", "https://customs.example/vc/1", "a:b"):
        assert url(sample) == is_url(sample), repr(sample)
    # Issue 13: URLs checked in their own right (host, DID and URN syntax, escapes).
    for sample in [
        *_variants("did:web:x.example", "did:key:z6Mk#z6Mk", "HTTP://A.example"),
        *("https:x", "https:///x", "https://?q", "did:web:", "did::x", "DID:web:x", "urn:x:1"),
        *("urn:isbn:0451450523", "https://a.example/%zz", "https://a.example/%2F", "a:<b>"),
        *("did:web:\u00c0x", "did:oz:\u00b7", "q0X:*\u00f3^", "did:web:x:", "https://[::1"),
        *("did:example:123/p?q#f", "http://[::1]:8/", "mailto:x@y.example", "x-y+z.1:ok"),
    ]:
        assert url(sample) == is_url(sample), repr(sample)
    date = ecma(_schemas()["DateTimeStamp"]["pattern"])
    for sample in _variants("2026-11-30T10:00:00Z", "2024-02-29T23:59:59.5+14:00"):
        assert date(sample) == _parses(sample), repr(sample)
    control = re.compile(f"[{CONTROL}]")
    bases = ["Beispiel GmbH", "DE 12", "did:key:z6Mk", "did:web:x.example", "urn:uuid:1", "x"]
    for bundled, derived in _INPUT_PATTERNS.items():
        if not derived:
            continue
        valid = ecma(derived)
        for sample in _variants(*bases):
            server = bool(re.search(bundled, sample)) and not control.search(sample)
            assert valid(sample) == server, (bundled, repr(sample))
