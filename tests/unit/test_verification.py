"""Full credential verification: data model, proof, issuer binding, validity."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credentials import (
    DIDKeyResolver,
    PrivateKey,
    VerificationError,
    get_credential_verification_result,
    sign_credential,
    verify_credential,
)
from credentials.datetimes import parse_datetime
from credentials.errors import MalformedInputError

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ISSUER = PrivateKey.from_seed(bytes(range(32)))
HOLDER = PrivateKey.from_seed(bytes(32))


def credential(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": "urn:uuid:3f1f0a2e-1111-4c1a-9c55-5a3ad7e4c001",
        "type": ["VerifiableCredential", "AEOCertificate"],
        "issuer": ISSUER.public_key.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2029-01-01T00:00:00Z",
        "credentialSubject": {
            "id": HOLDER.public_key.did,
            "legalName": "Beispiel Logistik GmbH",
            "programme": "EU-AEO",
            "level": "AEOF",
        },
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def signed(doc: dict[str, Any] | None = None, key: PrivateKey = ISSUER) -> dict[str, Any]:
    return sign_credential(
        doc or credential(),
        key,
        verification_method=key.public_key.verification_method_id,
        created=NOW - timedelta(days=1),
    )


def result(doc: dict[str, Any], now: datetime = NOW) -> Any:
    return get_credential_verification_result(doc, resolver=DIDKeyResolver(), now=now)


def test_valid_credential_passes_every_check() -> None:
    r = result(signed())
    assert r.verified
    assert [c.name for c in r.checks] == ["data_model", "proof", "issuer", "validity"]
    assert r.to_dict()["errors"] == []
    assert verify_credential(signed(), resolver=DIDKeyResolver(), now=NOW).verified


def test_issuer_object_form_is_accepted() -> None:
    assert result(signed(credential(issuer={"id": ISSUER.public_key.did, "name": "EU"}))).verified


def test_signed_by_another_key_fails_issuer_binding() -> None:
    r = result(signed(key=PrivateKey.from_seed(b"\x07" * 32)))
    assert not r.verified
    assert r.check("proof").status.value == "pass"
    issuer = r.check("issuer")
    assert issuer.status.value == "fail" and issuer.code == "ISSUER_MISMATCH"


@pytest.mark.parametrize(
    ("now", "code"),
    [
        (datetime(2025, 6, 1, tzinfo=UTC), "NOT_YET_VALID"),
        (datetime(2029, 1, 1, tzinfo=UTC), "EXPIRED"),
    ],
    ids=["before-validFrom", "at-validUntil"],
)
def test_validity_window(now: datetime, code: str) -> None:
    r = result(signed(), now=now)
    assert not r.verified
    assert r.check("validity").code == code


def test_tampered_subject_fails_proof() -> None:
    doc = signed()
    doc = copy.deepcopy(doc)
    doc["credentialSubject"]["level"] = "AEOS"
    r = result(doc)
    assert r.check("proof").status.value == "fail"
    assert not r.verified
    with pytest.raises(VerificationError, match="proof"):
        verify_credential(doc, resolver=DIDKeyResolver(), now=NOW)


DATA_MODEL = [
    (
        "first-context-not-v2",
        {"@context": ["https://www.w3.org/2018/credentials/v1"]},
        "INVALID_CONTEXT",
    ),
    ("context-not-list", {"@context": "https://www.w3.org/ns/credentials/v2"}, "INVALID_CONTEXT"),
    ("no-vc-type", {"type": ["AEOCertificate"]}, "INVALID_CREDENTIAL"),
    ("type-empty", {"type": []}, "INVALID_CREDENTIAL"),
    ("issuer-not-url", {"issuer": "EU customs"}, "INVALID_ISSUER"),
    ("issuer-object-no-id", {"issuer": {"name": "EU"}}, "INVALID_ISSUER"),
    ("validFrom-no-zone", {"validFrom": "2026-01-01T00:00:00"}, "INVALID_DATETIME"),
    ("validFrom-date-only", {"validFrom": "2026-01-01"}, "INVALID_DATETIME"),
    ("validUntil-impossible", {"validUntil": "2026-02-30T00:00:00Z"}, "INVALID_DATETIME"),
    ("validUntil-before-validFrom", {"validUntil": "2025-01-01T00:00:00Z"}, "INVALID_CREDENTIAL"),
    ("subject-missing", {"credentialSubject": None}, "INVALID_CREDENTIAL"),
    ("subject-empty", {"credentialSubject": {}}, "INVALID_CREDENTIAL"),
    ("subject-id-not-url", {"credentialSubject": {"id": "trader 7"}}, "INVALID_CREDENTIAL"),
    ("id-not-url", {"id": "12345"}, "INVALID_CREDENTIAL"),
]


@pytest.mark.parametrize(
    ("overrides", "code"), [c[1:] for c in DATA_MODEL], ids=[c[0] for c in DATA_MODEL]
)
def test_data_model_violations(overrides: dict[str, Any], code: str) -> None:
    doc = credential(**overrides)
    r = result(doc)
    assert not r.verified
    [check] = r.checks
    assert check.name == "data_model" and check.code == code
    with pytest.raises(MalformedInputError):
        sign_credential(
            doc, ISSUER, verification_method=ISSUER.public_key.verification_method_id, created=NOW
        )


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        result(signed(), now=datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T02:00:00+02:00", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2025-12-31T19:00:00.123456789-05:00", datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_parse_datetime(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01 00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00+15:00",
        "2026-13-01T00:00:00Z",
        20260101,
    ],
)
def test_parse_datetime_rejects(text: Any) -> None:
    with pytest.raises(MalformedInputError):
        parse_datetime(text)


def test_non_ascii_digits_are_not_datetimes() -> None:
    # Regression: "\d" matched fullwidth digits, so a fullwidth year parsed.
    with pytest.raises(MalformedInputError):
        parse_datetime("\uff12\uff10\uff12\uff16-01-01T00:00:00Z")


def test_format_and_shift_at_the_edges_of_time() -> None:
    from credentials.datetimes import format_datetime, shift

    assert format_datetime(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"
    end = shift(datetime(9999, 12, 31, 23, 59, tzinfo=UTC), timedelta(days=1))
    assert end == datetime.max.replace(tzinfo=UTC)
    start = shift(datetime(1, 1, 1, 0, 1, tzinfo=UTC), -timedelta(days=1))
    assert start == datetime.min.replace(tzinfo=UTC)
