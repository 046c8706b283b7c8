"""The AEOCertificate credential: subject schema, JSON-LD context, building and picking."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from typing import Any

import jsonschema
import pytest

from credentials.aeo import (
    AEO_CONTEXT_URL,
    AEO_CREDENTIAL_TYPE,
    VC_V2_CONTEXT,
    SchemaValidationError,
    aeo_context,
    aeo_subject_of,
    aeo_subject_schema,
    build_aeo_credential,
    is_aeo_credential,
    validate_aeo_subject,
)
from credentials.data_integrity import DIDKeyResolver
from credentials.errors import MalformedInputError
from credentials.keys import PrivateKey
from credentials.model import VerifiableCredential
from credentials.signing import sign_credential
from credentials.verification import get_credential_verification_result

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
VALID_FROM = datetime(2026, 1, 1, tzinfo=UTC)
VALID_UNTIL = datetime(2029, 1, 1, tzinfo=UTC)
HOLDER = PrivateKey.from_seed(bytes(32)).public_key.did
ISSUER = "did:web:customs.example.eu"
CRED_ID = "urn:uuid:3f1f0a2e-1111-4c1a-9c55-5a3ad7e4c001"
DELETE = object()


def eu_subject(**overrides: Any) -> dict[str, Any]:
    """A valid EU AEOF subject (EORI + US MID), with members replaced or DELETEd."""
    subject: dict[str, Any] = {
        "id": HOLDER,
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
    }
    subject.update(overrides)
    return {k: v for k, v in subject.items() if v is not DELETE}


def ctpat_subject() -> dict[str, Any]:
    return {
        "id": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        "type": "AuthorisedEconomicOperator",
        "legalName": "Example Imports Inc.",
        "identifiers": [
            {"scheme": "CTPAT", "value": "12345678"},
            {"scheme": "TIN", "value": "12-3456789"},
        ],
        "country": "US",
        "authorisationNumber": "12345678",
        "programme": "CTPAT",
        "level": "Tier2",
        "roles": ["importer"],
        "reassessmentDate": "2028-03-31T00:00:00-05:00",
    }


def jp_subject() -> dict[str, Any]:
    return {
        "id": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        "legalName": "株式会社サンプル輸出",
        "identifiers": [
            {"scheme": "JP-AEO-CODE", "value": "AEO-E-1234"},
            {"scheme": "LEI", "value": "5493001KJTIIGC8Y1R12"},
        ],
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
    }


def generic_subject() -> dict[str, Any]:
    return eu_subject(
        programme="KR-AEO",
        level="AA",
        country="KR",
        authorisationNumber="KR-2024-0042",
        identifiers=[{"scheme": "OTHER", "value": "123-45-67890"}],
    )


def build(subject: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "issuer": ISSUER,
        "credential_id": CRED_ID,
        "valid_from": VALID_FROM,
        "valid_until": VALID_UNTIL,
    }
    args.update(kwargs)
    return build_aeo_credential(eu_subject() if subject is None else subject, **args)


def error_paths(subject: object) -> list[str]:
    with pytest.raises(SchemaValidationError) as info:
        validate_aeo_subject(subject)
    return [e["path"] for e in info.value.errors]


# Building and verifying.


def test_eu_aeof_credential_has_the_vc_2_shape() -> None:
    subject = eu_subject()
    original = copy.deepcopy(subject)
    vc = build(subject, name="AEO certificate DEAEOF0000012345")
    assert vc == {
        "@context": [VC_V2_CONTEXT, AEO_CONTEXT_URL],
        "id": CRED_ID,
        "type": ["VerifiableCredential", "AEOCertificate"],
        "issuer": ISSUER,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2029-01-01T00:00:00Z",
        "name": "AEO certificate DEAEOF0000012345",
        "credentialSubject": {**original, "type": "AuthorisedEconomicOperator"},
    }
    assert list(vc) == [
        "@context",
        "id",
        "type",
        "issuer",
        "validFrom",
        "validUntil",
        "name",
        "credentialSubject",
    ]
    assert subject == original, "the caller's subject must not be modified"
    assert vc["credentialSubject"] is not subject


def test_optional_members_are_left_out() -> None:
    vc = build(valid_until=None)
    assert "validUntil" not in vc
    assert "name" not in vc


def test_times_are_written_in_utc_whole_seconds() -> None:
    cet = timezone(timedelta(hours=1))
    vc = build(
        valid_from=datetime(2026, 1, 1, 1, 0, 0, 750_000, tzinfo=cet),
        valid_until=datetime(2027, 1, 1, tzinfo=cet),
    )
    assert vc["validFrom"] == "2026-01-01T00:00:00Z"
    assert vc["validUntil"] == "2026-12-31T23:00:00Z"


def test_vc_model_accepts_the_built_credential() -> None:
    vc = build()
    parsed = VerifiableCredential.from_dict(vc)
    assert parsed.types == ("VerifiableCredential", AEO_CREDENTIAL_TYPE)
    assert parsed.contexts == (VC_V2_CONTEXT, AEO_CONTEXT_URL)
    assert parsed.issuer == ISSUER
    assert parsed.valid_from == VALID_FROM
    assert parsed.valid_until == VALID_UNTIL
    assert parsed.subjects[0]["id"] == HOLDER


def test_signed_aeo_credential_verifies_and_a_tampered_level_does_not() -> None:
    key = PrivateKey.generate()
    vc = build(issuer=key.public_key.did)
    signed = sign_credential(
        vc,
        key,
        verification_method=key.public_key.verification_method_id,
        created=NOW - timedelta(days=1),
    )
    result = get_credential_verification_result(signed, resolver=DIDKeyResolver(), now=NOW)
    assert result.verified, result.to_dict()
    assert aeo_subject_of(signed)["level"] == "AEOF"

    tampered: dict[str, Any] = copy.deepcopy(signed)
    tampered["credentialSubject"]["level"] = "AEOS"
    result = get_credential_verification_result(tampered, resolver=DIDKeyResolver(), now=NOW)
    assert not result.verified
    proof = result.check("proof")
    assert proof is not None and proof.status.value == "fail"


VALID_SUBJECTS = [
    ("eu-aeof-eori-and-mid", eu_subject()),
    ("eu-aeoc", eu_subject(level="AEOC", authorisationNumber="DEAEOC0000012345")),
    ("eu-aeos", eu_subject(level="AEOS", authorisationNumber="NLAEOS00001234")),
    ("ctpat-tier2", ctpat_subject()),
    ("jp-aeo-exporter-with-address", jp_subject()),
    ("other-programme-generic-level", generic_subject()),
    ("eori-short", eu_subject(identifiers=[{"scheme": "EORI", "value": "DK12345678"}])),
    (
        "all-roles",
        eu_subject(
            roles=[
                "exporter",
                "importer",
                "carrier",
                "freight-forwarder",
                "customs-broker",
                "warehouse-keeper",
                "manufacturer",
                "port-operator",
            ]
        ),
    ),
    (
        "ten-identifiers",
        eu_subject(identifiers=[{"scheme": "TIN", "value": f"DE{i:09d}"} for i in range(10)]),
    ),
]


@pytest.mark.parametrize(
    "subject", [c[1] for c in VALID_SUBJECTS], ids=[c[0] for c in VALID_SUBJECTS]
)
def test_valid_subjects(subject: dict[str, Any]) -> None:
    validate_aeo_subject({"type": "AuthorisedEconomicOperator", **subject})
    vc = build(subject)
    assert vc["credentialSubject"]["type"] == "AuthorisedEconomicOperator"
    assert aeo_subject_of(vc) == vc["credentialSubject"]


# Negative cases: each tampering gives exactly the error paths listed.

EORI_0 = "/identifiers/0/value"
INVALID_SUBJECTS = [
    ("missing-legalName", eu_subject(legalName=DELETE), ["/legalName"], "is required"),
    ("blank-legalName", eu_subject(legalName="   "), ["/legalName"], "not blank"),
    ("legalName-too-long", eu_subject(legalName="A" * 201), ["/legalName"], "at most 200"),
    ("country-Germany", eu_subject(country="Germany"), ["/country"], "ISO 3166-1 alpha-2"),
    ("country-lowercase", eu_subject(country="de"), ["/country"], "alpha-2"),
    (
        "eori-123",
        eu_subject(identifiers=[{"scheme": "EORI", "value": "123"}]),
        [EORI_0],
        "EORI number",
    ),
    (
        "eori-too-long",
        eu_subject(identifiers=[{"scheme": "EORI", "value": "DE1234567890123456"}]),
        [EORI_0],
        "EORI number",
    ),
    (
        # Python's "$" matches before a final newline, so only the control check catches it.
        "eori-trailing-newline",
        eu_subject(identifiers=[{"scheme": "EORI", "value": "DE12345678\n"}]),
        [EORI_0],
        "control characters",
    ),
    (
        "mid-lowercase",
        eu_subject(identifiers=[{"scheme": "MID", "value": "debaymot1234mun"}]),
        [EORI_0],
        "Manufacturer Identification Code",
    ),
    (
        "lei-bad-check-digits",
        eu_subject(identifiers=[{"scheme": "LEI", "value": "5493001KJTIIGC8Y1RAB"}]),
        [EORI_0],
        "Legal Entity Identifier",
    ),
    (
        "identifier-scheme-unknown",
        eu_subject(identifiers=[{"scheme": "DUNS", "value": "123456789"}]),
        ["/identifiers/0/scheme"],
        "must be one of EORI, TIN",
    ),
    (
        "identifier-extra-member",
        eu_subject(identifiers=[{"scheme": "TIN", "value": "1", "note": "x"}]),
        ["/identifiers/0/note"],
        "not an allowed property",
    ),
    (
        "identifier-missing-value",
        eu_subject(identifiers=[{"scheme": "TIN"}]),
        ["/identifiers/0/value"],
        "is required",
    ),
    ("identifiers-empty", eu_subject(identifiers=[]), ["/identifiers"], "at least 1 item"),
    (
        "identifiers-eleven",
        eu_subject(identifiers=[{"scheme": "TIN", "value": f"{i}"} for i in range(11)]),
        ["/identifiers"],
        "at most 10 items",
    ),
    ("ctpat-level-AEOS", eu_subject(programme="CTPAT", level="AEOS"), ["/level"], "Tier1"),
    ("eu-level-Tier1", eu_subject(level="Tier1"), ["/level"], "AEOC, AEOS, AEOF"),
    ("jp-level-AEOF", eu_subject(programme="JP-AEO", level="AEOF"), ["/level"], "AEO-Exporter"),
    ("programme-unknown-shape", eu_subject(programme="Germany-AEO"), ["/programme"], "CTPAT"),
    (
        "eu-authorisation-number-not-eu-shaped",
        eu_subject(authorisationNumber="12345"),
        ["/authorisationNumber"],
        "EU authorisation number",
    ),
    (
        "authorisation-number-too-long",
        eu_subject(authorisationNumber="DEAEOF" + "0" * 30),
        ["/authorisationNumber"],
        "at most 35 characters",
    ),
    ("unknown-role", eu_subject(roles=["exporter", "pilot"]), ["/roles/1"], "must be one of"),
    ("duplicate-roles", eu_subject(roles=["exporter", "exporter"]), ["/roles"], "repeat"),
    ("roles-empty", eu_subject(roles=[]), ["/roles"], "at least 1 item"),
    ("extra-property", eu_subject(rating="A+"), ["/rating"], "not an allowed property"),
    (
        "reassessmentDate-without-zone",
        eu_subject(reassessmentDate="2029-06-30T00:00:00"),
        ["/reassessmentDate"],
        "time zone",
    ),
    (
        "reassessmentDate-date-only",
        eu_subject(reassessmentDate="2029-06-30"),
        ["/reassessmentDate"],
        "time zone",
    ),
    (
        "reassessmentDate-impossible",
        eu_subject(reassessmentDate="2029-02-30T00:00:00Z"),
        ["/reassessmentDate"],
        "valid date and time",
    ),
    ("subject-id-not-a-did", eu_subject(id="https://trader.example"), ["/id"], "DID"),
    ("subject-id-uppercase-method", eu_subject(id="did:KEY:z6Mk"), ["/id"], "DID"),
    ("subject-id-missing", eu_subject(id=DELETE), ["/id"], "is required"),
    ("wrong-subject-type", eu_subject(type="Person"), ["/type"], '"AuthorisedEconomicOperator"'),
    ("level-number", eu_subject(level=1), ["/level"], "of type string"),
    (
        "address-missing-city",
        eu_subject(address={"streetAddress": "Am Hafen 1", "country": "DE"}),
        ["/address/city"],
        "is required",
    ),
    (
        "control-character-in-member-name",
        eu_subject(**{"legal\tName": "x"}),
        ["/legal\tName"],
        "control characters",
    ),
]


@pytest.mark.parametrize(
    ("subject", "paths", "fragment"),
    [c[1:] for c in INVALID_SUBJECTS],
    ids=[c[0] for c in INVALID_SUBJECTS],
)
def test_invalid_subjects(subject: dict[str, Any], paths: list[str], fragment: str) -> None:
    subject = {"type": "AuthorisedEconomicOperator", **subject}
    with pytest.raises(SchemaValidationError) as info:
        validate_aeo_subject(subject)
    error = info.value
    assert sorted({e["path"] for e in error.errors}) == paths
    assert any(fragment in e["message"] for e in error.errors), error.errors
    assert error.code == "SCHEMA_VALIDATION_ERROR"
    assert isinstance(error, MalformedInputError)
    # build_aeo_credential refuses the same subject with the same error.
    with pytest.raises(SchemaValidationError) as built:
        build(subject)
    assert built.value.errors == error.errors


def test_several_errors_are_reported_together_sorted_by_path() -> None:
    subject = eu_subject(
        legalName=DELETE,
        country="Germany",
        identifiers=[{"scheme": "EORI", "value": "123"}],
        programme="CTPAT",
        level="AEOS",
        roles=["exporter", "pilot", "exporter"],
        extra=True,
        reassessmentDate="2029-06-30",
        id="trader-7",
    )
    with pytest.raises(SchemaValidationError) as info:
        validate_aeo_subject(subject)
    error = info.value
    paths = [e["path"] for e in error.errors]
    assert paths == [
        "/country",
        "/extra",
        "/id",
        "/identifiers/0/value",
        "/legalName",
        "/level",
        "/reassessmentDate",
        "/roles",
        "/roles/1",
        "/type",
    ]
    assert error.message.startswith(
        "credentialSubject is invalid: 10 errors: /country: must be an ISO 3166-1 alpha-2 "
        'country code (got "Germany"); /extra: is not an allowed property; '
    )
    assert all(set(e) == {"path", "message"} for e in error.errors)
    lines = error.diagnostics().splitlines()
    assert lines[0] == "SCHEMA_VALIDATION_ERROR: credentialSubject is invalid"
    assert [line.split(":")[0].strip() for line in lines[1:]] == paths


def test_array_indices_sort_numerically_and_the_summary_is_capped() -> None:
    identifiers = [{"scheme": "EORI", "value": str(i)} for i in range(12)]
    paths = error_paths(eu_subject(type="AuthorisedEconomicOperator", identifiers=identifiers))
    assert paths == ["/identifiers"] + [f"/identifiers/{i}/value" for i in range(12)]
    with pytest.raises(SchemaValidationError) as info:
        validate_aeo_subject(eu_subject(type="x", identifiers=identifiers))
    assert len(info.value.errors) == 14
    assert info.value.message.endswith("; and 4 more")


def test_long_values_are_truncated_in_messages() -> None:
    with pytest.raises(SchemaValidationError) as info:
        validate_aeo_subject(eu_subject(type="AuthorisedEconomicOperator", country="X" * 5000))
    [error] = info.value.errors
    assert error["path"] == "/country"
    assert "…" in error["message"]
    assert len(error["message"]) < 200


@pytest.mark.parametrize(
    "subject",
    [None, "did:key:z6Mk", ["a"], 42],
    ids=["null", "string", "list", "number"],
)
def test_subject_that_is_not_an_object(subject: object) -> None:
    assert error_paths(subject) == [""]
    with pytest.raises(SchemaValidationError, match=r"\(root\): must be of type object"):
        build_aeo_credential(
            subject,  # type: ignore[arg-type]
            issuer=ISSUER,
            credential_id=CRED_ID,
            valid_from=VALID_FROM,
        )


# The schema and the context files.


def subject_schema() -> Any:
    return aeo_subject_schema()


def context_terms() -> Any:
    return aeo_context()["@context"]


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = subject_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False


def test_schema_and_context_copies_are_independent() -> None:
    aeo_subject_schema()["properties"] = {}
    context = aeo_context()
    context["@context"] = {}
    assert aeo_subject_schema()["properties"]
    assert aeo_context()["@context"]


def test_context_file_is_plain_json_and_protected() -> None:
    raw = (resources.files("credentials") / "contexts" / "aeo-v1.jsonld").read_bytes()
    document = json.loads(raw)
    assert document == aeo_context()
    ctx = document["@context"]
    assert ctx["@version"] == 1.1
    assert ctx["@protected"] is True
    assert ctx["reassessmentDate"]["@type"] == "http://www.w3.org/2001/XMLSchema#dateTime"
    for term, definition in ctx.items():
        if term.startswith("@"):
            continue
        iri = definition if isinstance(definition, str) else definition["@id"]
        assert iri.startswith("https://ns.trustlane.org/aeo#"), term


def _defined_terms(context: dict[str, Any]) -> set[str]:
    return {t for t in context if not t.startswith("@")}


def _undefined_terms(value: Any, context: dict[str, Any]) -> set[str]:
    """Walk a subject; return every member name the active context does not define.

    ``id`` and ``type`` come from the VC 2.0 context. A term with a scoped context adds its
    terms for the values below it (JSON-LD 1.1 property-scoped contexts).
    """
    missing: set[str] = set()
    if isinstance(value, list):
        for item in value:
            missing |= _undefined_terms(item, context)
    elif isinstance(value, dict):
        for name, item in value.items():
            if name in ("id", "type"):
                continue
            definition = context.get(name)
            if definition is None:
                missing.add(name)
                continue
            scoped = definition.get("@context", {}) if isinstance(definition, dict) else {}
            missing |= _undefined_terms(item, {**context, **scoped})
    return missing


@pytest.mark.parametrize(
    "subject", [c[1] for c in VALID_SUBJECTS], ids=[c[0] for c in VALID_SUBJECTS]
)
def test_every_term_of_a_built_subject_is_defined_in_the_context(subject: dict[str, Any]) -> None:
    context = context_terms()
    vc = build(subject)
    assert _undefined_terms(vc["credentialSubject"], context) == set()
    assert vc["credentialSubject"]["type"] in context
    assert AEO_CREDENTIAL_TYPE in context


def test_every_schema_property_is_defined_in_the_context() -> None:
    context = context_terms()
    schema = subject_schema()
    top = set(schema["properties"]) - {"id", "type"}
    assert top <= _defined_terms(context)
    identifier_terms = set(schema["$defs"]["identifier"]["properties"])
    assert identifier_terms <= _defined_terms(context["identifiers"]["@context"])
    address_terms = set(schema["properties"]["address"]["properties"])
    assert address_terms <= _defined_terms(context) | _defined_terms(context["address"]["@context"])
    # The walker itself notices an undefined term.
    assert _undefined_terms({"rating": "A"}, context) == {"rating"}


# Arguments of build_aeo_credential.

NAIVE = datetime(2026, 1, 1)  # Deliberately naive.
BAD_ARGUMENTS = [
    ("naive-valid-from", {"valid_from": NAIVE}, "INVALID_DATETIME", "timezone-aware"),
    (
        "naive-valid-until",
        {"valid_until": NAIVE + timedelta(days=400)},
        "INVALID_DATETIME",
        "timezone-aware",
    ),
    (
        "valid-until-equals-valid-from",
        {"valid_until": VALID_FROM},
        "INVALID_CREDENTIAL",
        "must be after",
    ),
    (
        "valid-until-before-valid-from",
        {"valid_until": VALID_FROM - timedelta(days=1)},
        "INVALID_CREDENTIAL",
        "must be after",
    ),
    (
        "valid-until-same-second",
        {"valid_until": VALID_FROM + timedelta(milliseconds=500)},
        "INVALID_CREDENTIAL",
        "must be after",
    ),
    ("issuer-not-url", {"issuer": "EU customs"}, "INVALID_ISSUER", "issuer must be a URL"),
    (
        "credential-id-not-url",
        {"credential_id": "12345"},
        "INVALID_CREDENTIAL",
        "credential id must be a URL",
    ),
    ("name-blank", {"name": " "}, "INVALID_CREDENTIAL", "name"),
]


@pytest.mark.parametrize(
    ("kwargs", "code", "fragment"),
    [c[1:] for c in BAD_ARGUMENTS],
    ids=[c[0] for c in BAD_ARGUMENTS],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, Any], code: str, fragment: str) -> None:
    with pytest.raises(MalformedInputError, match=fragment) as info:
        build(**kwargs)
    assert info.value.code == code
    assert not isinstance(info.value, SchemaValidationError)


def test_explicit_subject_type_is_kept() -> None:
    vc = build(eu_subject(type="AuthorisedEconomicOperator"))
    assert vc["credentialSubject"]["type"] == "AuthorisedEconomicOperator"


# Picking AEO credentials out of verified evidence.


def _without_aeo_context(vc: dict[str, Any]) -> dict[str, Any]:
    return {**vc, "@context": [VC_V2_CONTEXT]}


NOT_AEO = [
    ("no-aeo-context", _without_aeo_context),
    ("no-aeo-type", lambda vc: {**vc, "type": ["VerifiableCredential"]}),
    ("no-vc-type", lambda vc: {**vc, "type": ["AEOCertificate"]}),
    ("type-not-strings", lambda vc: {**vc, "type": [1]}),
    ("context-not-list", lambda vc: {**vc, "@context": AEO_CONTEXT_URL}),
    ("no-context", lambda vc: {k: v for k, v in vc.items() if k != "@context"}),
]


@pytest.mark.parametrize("change", [c[1] for c in NOT_AEO], ids=[c[0] for c in NOT_AEO])
def test_not_aeo_credentials(change: Any) -> None:
    doc = change(build())
    assert is_aeo_credential(doc) is False
    with pytest.raises(MalformedInputError) as info:
        aeo_subject_of(doc)
    assert info.value.code == "NOT_AEO_CREDENTIAL"


def test_aeo_credential_is_recognised_with_a_string_type() -> None:
    vc = {**build(), "type": "AEOCertificate"}
    assert is_aeo_credential(vc) is False
    vc["type"] = ["AEOCertificate", "VerifiableCredential", "ExtraType"]
    assert is_aeo_credential(vc) is True


def test_aeo_subject_of_returns_the_subject() -> None:
    vc = build()
    assert aeo_subject_of(vc) is vc["credentialSubject"]
    single = {**vc, "credentialSubject": [vc["credentialSubject"]]}
    assert aeo_subject_of(single) is vc["credentialSubject"]


@pytest.mark.parametrize(
    "subject",
    [[eu_subject(type="AuthorisedEconomicOperator")] * 2, [], "did:key:z6Mk", None],
    ids=["two-subjects", "empty-list", "string", "null"],
)
def test_aeo_subject_of_needs_exactly_one_subject(subject: Any) -> None:
    vc = {**build(), "credentialSubject": subject}
    with pytest.raises(MalformedInputError, match="exactly one credentialSubject") as info:
        aeo_subject_of(vc)
    assert info.value.code == "INVALID_CREDENTIAL"


def test_aeo_subject_of_validates_the_subject() -> None:
    vc = build()
    vc["credentialSubject"]["country"] = "Germany"
    with pytest.raises(SchemaValidationError) as info:
        aeo_subject_of(vc)
    assert [e["path"] for e in info.value.errors] == ["/country"]
