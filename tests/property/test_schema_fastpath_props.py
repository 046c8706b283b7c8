"""The compiled schema check agrees with jsonschema on valid and broken AEO subjects.

``credentials.schema_fastpath`` lets ``validate_aeo_subject`` skip jsonschema when it says a
subject is valid, so a single subject it accepts that jsonschema refuses would be a hole in
the AEO rules. Here both judge the same subjects: the valid examples, and many mutations of
them (members replaced by near-miss strings or other JSON values, removed, added, items
duplicated).
"""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credentials.aeo import (
    _CONTROL,
    _CONTROL_IN_JSON,
    SchemaValidationError,
    validate_aeo_subject,
)
from credentials.schema_fastpath import compile_check
from credentials.strict_json import loads_object

SCHEMA = loads_object(
    resources.files("credentials")
    .joinpath("schemas/aeo-certificate-subject.schema.json")
    .read_bytes()
)
FAST = compile_check(SCHEMA)
SLOW = jsonschema.Draft202012Validator(SCHEMA)

HOLDER = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
BASES: list[dict[str, Any]] = [
    {
        "id": HOLDER,
        "type": "AuthorisedEconomicOperator",
        "legalName": "Beispiel Logistik GmbH",
        "identifiers": [
            {"scheme": "EORI", "value": "DE123456789012345"},
            {"scheme": "MID", "value": "DEBAYMOT1234MUN"},
        ],
        "country": "DE",
        "authorisationNumber": "DEAEOF0000012345",
        "programme": "EU-AEO",
        "level": "AEOF",
        "roles": ["exporter", "importer"],
        "reassessmentDate": "2029-06-30T00:00:00Z",
    },
    {
        "id": HOLDER,
        "type": "AuthorisedEconomicOperator",
        "legalName": "Example Imports Inc.",
        "identifiers": [{"scheme": "CTPAT", "value": "12345678"}],
        "country": "US",
        "authorisationNumber": "12345678",
        "programme": "CTPAT",
        "level": "Tier2",
        "roles": ["importer"],
        "reassessmentDate": "2028-03-31T00:00:00-05:00",
    },
    {
        "id": HOLDER,
        "type": "AuthorisedEconomicOperator",
        "legalName": "株式会社サンプル輸出",
        "identifiers": [{"scheme": "LEI", "value": "5493001KJTIIGC8Y1R12"}],
        "country": "JP",
        "authorisationNumber": "JPAEO-E-000123",
        "programme": "JP-AEO",
        "level": "AEO-Exporter",
        "roles": ["exporter", "manufacturer"],
        "reassessmentDate": "2030-04-01T00:00:00.000+09:00",
        "issuingAuthority": "Tokyo Customs",
        "address": {
            "streetAddress": "1-2-3 Kaigan",
            "postalCode": "105-0022",
            "city": "Tokyo",
            "country": "JP",
        },
    },
]

# Strings close to what the schema's patterns, enums and conditionals accept or refuse.
NEAR_MISSES = [
    "",
    " ",
    "x",
    "DE",
    "de",
    "DEU",
    "DE1",
    "DE123456789012345",
    "DE1234567890123456",
    "DEAEOF1",
    "DEAEOX1",
    "deAEOF1",
    "AEOF",
    "AEOC",
    "AEOS",
    "AEOX",
    "Tier1",
    "Tier4",
    "EU-AEO",
    "CTPAT",
    "JP-AEO",
    "KR-AEO",
    "eu-AEO",
    "AEO-Exporter",
    "A-",
    "-A",
    "A--B",
    "EORI",
    "MID",
    "LEI",
    "OTHER",
    "TIN",
    "exporter",
    "importer",
    "pilot",
    "2029-06-30T00:00:00Z",
    "2029-02-30T00:00:00Z",
    "2029-06-30",
    "2029-06-30T24:00:00Z",
    "did:key:z6Mk",
    "did:Key:z",
    "did:key:",
    "did:key:a b",
    "AuthorisedEconomicOperator",
    "a\n",
    " a",
    "a ",
    "5493001KJTIIGC8Y1R12",
    "5493001KJTIIGC8Y1RAB",
    "ABC123",
    "abc",
    "x" * 35,
    "x" * 36,
    "x" * 70,
    "x" * 71,
    "x" * 200,
    "x" * 201,
    "\u00e9",
    "\u2028",
]
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(NEAR_MISSES)
    | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["scheme", "value", "city", "x"]), children, max_size=3)
    ),
    max_leaves=6,
)


def _containers(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += _containers(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += _containers(v, (*path, i))
    return found


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


@st.composite
def subjects(draw: st.DrawFn) -> Any:
    doc: Any = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(0, 3))):
        paths = _containers(doc)
        path = draw(st.sampled_from(paths))
        if not path:
            if draw(st.booleans()):
                doc = draw(values)
            continue
        parent, key = _at(doc, path[:-1]), path[-1]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "duplicate"]))
        if action == "replace":
            parent[key] = draw(values)
        elif action == "delete":
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "type", "address", "issuingAuthority"]))] = draw(
                values
            )
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    return doc


def test_the_aeo_schema_compiles() -> None:
    # Otherwise validate_aeo_subject silently loses its fast path.
    assert FAST is not None


@pytest.mark.parametrize("base", BASES)
def test_valid_examples_are_accepted(base: dict[str, Any]) -> None:
    assert FAST is not None and FAST(base)
    assert SLOW.is_valid(base)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subjects())
def test_fast_check_agrees_with_jsonschema(subject: Any) -> None:
    assert FAST is not None
    assert FAST(subject) == SLOW.is_valid(subject)


@settings(max_examples=300, deadline=None)
@given(subjects())
def test_validate_aeo_subject_raises_exactly_when_jsonschema_finds_errors(subject: Any) -> None:
    schema_ok = SLOW.is_valid(subject)
    try:
        validate_aeo_subject(subject)
    except SchemaValidationError:
        raised = True
    else:
        raised = False
    if not schema_ok:
        assert raised
    # (A schema-valid subject may still be refused for control characters or an impossible
    # date; that part is unchanged and covered in tests/unit/test_aeo.py.)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer"},
        {"type": "number"},
        {"oneOf": [{"type": "string"}]},
        {"anyOf": [{"type": "string"}]},
        {"not": {"type": "string"}},
        {"format": "date-time"},
        {"enum": [1, "a"]},
        {"const": True},
        {"$ref": "https://example.com/other.json"},
        {"$ref": "#/$defs/missing"},
        {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        {"properties": {"a": {"$id": "https://example.com/a"}}},
        {"patternProperties": {"^x": {}}, "additionalProperties": False},
        {"prefixItems": [{}], "items": False},
        {"minLength": -1},
        {"uniqueItems": 1},
    ],
)
def test_unsupported_schemas_are_not_compiled(schema: dict[str, Any]) -> None:
    assert compile_check(schema) is None


def test_deep_schemas_compile_or_fall_back() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(60):
        schema = {"type": "array", "items": schema}
    check = compile_check(schema)
    assert check is None or check([]) is True


@pytest.mark.parametrize(
    ("items", "unique"),
    [
        (["a", "b"], True),
        (["a", "a"], False),
        ([{"k": "a"}, {"k": "b"}], True),
        ([{"k": "a"}, {"k": "a"}], False),
    ],
)
def test_unique_items_matches_jsonschema(items: list[Any], unique: bool) -> None:
    schema = {"type": "array", "uniqueItems": True}
    check = compile_check(schema)
    assert check is not None
    assert check(items) is unique is jsonschema.Draft202012Validator(schema).is_valid(items)


@pytest.mark.parametrize("items", [[1, True], [0, False], [[1], [1.0]], [{"a": 1}, {"a": 1.0}]])
def test_unique_items_it_cannot_decide_fall_back(items: list[Any]) -> None:
    check = compile_check({"type": "array", "uniqueItems": True})
    assert check is not None
    assert check(items) is False  # "not sure": the caller asks jsonschema


def test_boolean_schemas_and_conditionals() -> None:
    schema = {
        "type": "object",
        "properties": {"a": True, "b": False},
        "if": {"required": ["a"]},
        "then": {"required": ["c"]},
        "else": {"required": ["d"]},
    }
    check = compile_check(schema)
    slow = jsonschema.Draft202012Validator(schema)
    assert check is not None
    for doc in [{"a": 1, "c": 1}, {"a": 1}, {"d": 1}, {}, {"b": 1, "d": 1}, [], "x"]:
        assert check(doc) == slow.is_valid(doc), doc


def test_mutations_reach_both_outcomes() -> None:
    # The generator must produce valid subjects too, or the agreement test proves little.
    outcomes: set[bool] = set()

    @settings(max_examples=200, deadline=None, database=None)
    @given(subjects())
    def collect(subject: Any) -> None:
        outcomes.add(SLOW.is_valid(subject))

    collect()
    assert outcomes == {True, False}


def test_every_control_character_is_seen_in_orjson_output() -> None:
    # validate_aeo_subject's shortcut looks for control characters in the JSON text.
    controls = [chr(c) for c in range(0x110000) if _CONTROL.match(chr(c))]
    assert len(controls) == 32 + 33 + 2
    for ch in controls:
        for text in (ch, f"a{ch}b", f"\\{ch}"):
            assert _CONTROL_IN_JSON.search(orjson.dumps({text: text}).decode()), repr(ch)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(BASES),
    st.sampled_from(["legalName", "country", "reassessmentDate", "level", "id"]),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=4),
)
def test_no_control_character_slips_through(base: dict[str, Any], name: str, noise: str) -> None:
    subject = copy.deepcopy(base)
    subject[name] = subject[name] + noise
    has_control = any(0x00 <= ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F for c in noise) or any(
        c in "\u2028\u2029" for c in noise
    )
    try:
        validate_aeo_subject(subject)
    except SchemaValidationError:
        return
    assert not has_control
