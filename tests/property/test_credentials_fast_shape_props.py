"""Property tests: the common-shape fast path gives exactly the general path's answers.

:func:`credentials.common_shape.prepare_common` prepares credentials of the usual shape
with direct look-ups, and :func:`credentials.verification.check_prepared_credential`
summarises a single verified proof without building outcomes. Both must be invisible:

* whenever ``prepare_common`` answers, its values equal those of
  :meth:`VerifiableCredential.from_dict` and :func:`prepare_proofs` (the plain flag and the
  exact bytes signed included), and the general path found no error;
* the verification result (every check, status, code and detail) equals the one of the
  general steps composed as before (``_reference_result``), for valid credentials and for
  credentials broken in each way the checks catch, signed after the break (so that only
  the broken rule decides) or broken after signing, at several reference times.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from credentials import verification
from credentials.common_shape import prepare_common
from credentials.data_integrity import (
    DEFAULT_CLOCK_SKEW,
    DIDKeyResolver,
    ProofOptions,
    add_proof,
    check_prepared_proofs,
    prepare_proofs,
)
from credentials.datetimes import shift
from credentials.errors import MalformedInputError
from credentials.keys import PrivateKey
from credentials.model import VerifiableCredential
from credentials.result import Check, VerificationResult
from credentials.strict_json import loads_object
from credentials.verification import get_credential_verification_result, prepare_credential

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ISSUER = PrivateKey.from_seed(bytes(range(32)))
OTHER = PrivateKey.from_seed(bytes(range(2, 34)))
HOLDER = PrivateKey.from_seed(bytes(range(1, 33)))
VC2 = "https://www.w3.org/ns/credentials/v2"
AEO = "https://ns.trustlane.org/aeo/v1"
CREATED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TIMES = (
    datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    datetime(2025, 6, 1, tzinfo=UTC),
    datetime(2026, 11, 29, 11, 57, tzinfo=UTC),
    datetime(2030, 1, 1, tzinfo=UTC),
)
RESOLVER = DIDKeyResolver()


class Text(str):
    """A str subclass: equal to its value, but not plain JSON."""


def _base() -> dict[str, Any]:
    return {
        "@context": [VC2, AEO],
        "id": "urn:uuid:9b2f7c1e-4d3a-4f6b-8e21-6c0d2a9f5b13",
        "type": ["VerifiableCredential", "AEOCertificate"],
        "issuer": ISSUER.public_key.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2029-01-01T00:00:00Z",
        "credentialSubject": {
            "id": HOLDER.public_key.did,
            "legalName": "Beispiel Logistik GmbH",
            "identifiers": [{"scheme": "EORI", "value": "DE123456789012345"}],
            "country": "DE",
            "roles": ["exporter", "importer"],
        },
        "credentialStatus": [
            {
                "id": "https://customs.de.example/status-lists/r1#94567",
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": "94567",
                "statusListCredential": "https://customs.de.example/status-lists/r1",
            }
        ],
    }


def _sign(document: dict[str, Any], key: PrivateKey = ISSUER, **options: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "verification_method": key.public_key.verification_method_id,
        "created": CREATED,
    }
    fields.update(options)
    return add_proof(document, key, ProofOptions(**fields))


def _reference_result(document: dict[str, Any], now: datetime) -> VerificationResult:
    """The general steps composed as check_prepared_credential composed them before."""
    try:
        credential = VerifiableCredential.from_dict(document)
    except MalformedInputError as e:
        return VerificationResult((Check.failed("data_model", e.code, e.message),))
    outcomes = check_prepared_proofs(
        prepare_proofs(document, plain=credential.plain_json),
        resolver=RESOLVER,
        expected_purpose="assertionMethod",
        now=now,
        clock_skew=DEFAULT_CLOCK_SKEW,
    )
    return VerificationResult(
        (
            verification._CONFORMS,
            verification.proof_check(outcomes),
            verification._issuer_check(credential, outcomes),
            verification._validity_check(credential, now, shift(now, DEFAULT_CLOCK_SKEW)),
        )
    )


def _compare(document: dict[str, Any]) -> bool:
    """Assert the fast and general paths agree on ``document``; tell if the fast one answered."""
    before = copy.deepcopy(document)
    # The general path first: it teaches the memos (names, types) the fast path reads.
    references = [_reference_result(document, now).to_dict() for now in TIMES]
    common = prepare_common(document)
    if common is not None:
        credential, proofs = common
        general = VerifiableCredential.from_dict(document)
        assert credential == general
        assert credential.plain_json and general.plain_json
        assert proofs == prepare_proofs(document, plain=True)
        assert all(p.error is None for p in proofs.proofs)
        assert prepare_credential(document).credential == general
    for now, reference in zip(TIMES, references, strict=True):
        result = get_credential_verification_result(document, resolver=RESOLVER, now=now)
        assert result.to_dict() == reference
    assert document == before  # nothing was changed
    return common is not None


def test_the_usual_credential_takes_the_fast_path() -> None:
    signed = _sign(_base())
    _compare(signed)
    assert _compare(signed)
    # Parsed from bytes too (the benchmark's input), compact and pretty-printed.
    for text in (json.dumps(signed), json.dumps(signed, indent=2)):
        assert _compare(loads_object(text.encode()))
    result = get_credential_verification_result(signed, resolver=RESOLVER, now=TIMES[0])
    assert result.verified


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["é", "中文", "😀", "\u00ff"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
names = st.sampled_from(
    ["legalName", "country", "note", "évaluation", "中文", "😀", "@id", "@type", "type", "a:b"]
) | st.text(max_size=6)


@st.composite
def valid_variants(draw: st.DrawFn) -> dict[str, Any]:
    """Credentials of the usual shape and near it, signed after the changes."""
    document = _base()
    subject = document["credentialSubject"]
    for _ in range(draw(st.integers(0, 3))):
        subject[draw(names)] = draw(values)
    if draw(st.booleans()):
        del document["validUntil"]
    if draw(st.booleans()):
        document["type"] = draw(
            st.sampled_from(
                ["VerifiableCredential", ["VerifiableCredential"], ["VerifiableCredential", "X"]]
            )
        )
    if draw(st.booleans()):
        document["issuer"] = {"id": ISSUER.public_key.did, "name": draw(st.text(max_size=5))}
    if draw(st.booleans()):
        document["credentialSubject"] = draw(st.sampled_from([[subject], [subject, {"x": 1}]]))
    if draw(st.booleans()):
        document[draw(names)] = draw(values)
    options: dict[str, Any] = {}
    if draw(st.booleans()):
        options["expires"] = draw(st.sampled_from([datetime(2027, 1, 1, tzinfo=UTC), CREATED]))
    if draw(st.booleans()):
        options["created"] = draw(st.sampled_from([CREATED + timedelta(days=400), CREATED]))
    key = draw(st.sampled_from([ISSUER, ISSUER, OTHER]))
    try:
        return _sign(document, key, **options)
    except MalformedInputError:
        # No JCS form (an integer beyond 2**53 that is no double): another document's
        # proof, so that only the data model and the hashing decide.
        return {**document, "proof": _sign(_base())["proof"]}


@SETTINGS
@given(valid_variants())
def test_valid_and_near_valid_credentials(document: dict[str, Any]) -> None:
    _compare(document)
    event(f"fast path: {_compare(document)}")


def _break_before(document: dict[str, Any], how: str) -> None:
    """Break one data model or JSON-LD rule (the proof then signs the broken document)."""
    subject = document["credentialSubject"]
    match how:
        case "no-context":
            del document["@context"]
        case "context-order":
            document["@context"] = [AEO, VC2]
        case "context-unknown":
            document["@context"] = [VC2, "https://example.org/unknown/v1"]
        case "context-not-url":
            document["@context"] = [VC2, "not a url"]
        case "context-inline":
            document["@context"] = [VC2, {"@vocab": "https://example.org/#"}]
        case "id-not-url":
            document["id"] = "not a url"
        case "id-null":
            document["id"] = None
        case "type-missing":
            document["type"] = ["AEOCertificate"]
        case "type-empty":
            document["type"] = []
        case "type-number":
            document["type"] = ["VerifiableCredential", 5]
        case "type-undefined":
            document["type"] = ["VerifiableCredential", "Not Defined"]
        case "valid-from-bad":
            document["validFrom"] = "2026-01-01"
        case "valid-order":
            document["validFrom"] = "2030-01-01T00:00:00Z"
        case "issuer-not-url":
            document["issuer"] = "issuer"
        case "issuer-object-no-id":
            document["issuer"] = {"name": "x"}
        case "subject-empty":
            document["credentialSubject"] = {}
        case "subject-id":
            subject["id"] = "not a url"
        case "status-untyped":
            del document["credentialStatus"][0]["type"]
        case "status-not-object":
            document["credentialStatus"] = ["https://example.org/status"]
        case "status-empty":
            document["credentialStatus"] = []
        case "status-single":
            document["credentialStatus"] = document["credentialStatus"][0]
        case "status-type-empty":
            document["credentialStatus"][0]["type"] = []
        case "issuer-name":
            document["issuer"] = {"id": ISSUER.public_key.did, "name": {"@value": 5}}
        case "evidence-untyped":
            document["evidence"] = [{"id": "https://example.org/e"}]
        case "keyword":
            subject["@id"] = "urn:x:1"
        case "float":
            subject["score"] = 1.5
        case "big-int":
            subject["big"] = 2**60 + 1
        case "nested-type":
            subject["identifiers"][0]["type"] = "Unheard Of Type"
        case "language":
            document["name"] = {"@value": "x", "@language": "not a tag!"}
        case "related":
            document["relatedResource"] = [{"id": "https://example.org/r"}]
        case "json-literal":
            document["scanAttestationBundles"] = [{"type": "x"}]


BEFORE = [
    "no-context",
    "context-order",
    "context-unknown",
    "context-not-url",
    "context-inline",
    "id-not-url",
    "id-null",
    "type-missing",
    "type-empty",
    "type-number",
    "type-undefined",
    "valid-from-bad",
    "valid-order",
    "issuer-not-url",
    "issuer-object-no-id",
    "subject-empty",
    "subject-id",
    "status-untyped",
    "status-not-object",
    "status-empty",
    "status-single",
    "status-type-empty",
    "issuer-name",
    "evidence-untyped",
    "keyword",
    "float",
    "big-int",
    "nested-type",
    "language",
    "related",
    "json-literal",
]


def _break_after(document: dict[str, Any], how: str) -> None:
    """Break the proof or the document after signing."""
    proof = document["proof"]
    match how:
        case "tamper":
            document["validFrom"] = "2026-01-02T00:00:00Z"
        case "proof-type":
            proof["type"] = "Ed25519Signature2020"
        case "cryptosuite":
            proof["cryptosuite"] = "eddsa-rdfc-2022"
        case "no-value":
            del proof["proofValue"]
        case "value-multibase":
            proof["proofValue"] = "u" + proof["proofValue"][1:]
        case "value-base58":
            proof["proofValue"] = proof["proofValue"][:-1] + "0"
        case "value-short":
            proof["proofValue"] = proof["proofValue"][:-4]
        case "purpose":
            proof["proofPurpose"] = "authentication"
        case "purpose-empty":
            proof["proofPurpose"] = ""
        case "created-bad":
            proof["created"] = "yesterday"
        case "expires-bad":
            proof["expires"] = 5
        case "vm-unresolvable":
            proof["verificationMethod"] = "https://example.org/keys/1"
        case "vm-bad-did":
            proof["verificationMethod"] = "did:key:z6Mkbad"
        case "vm-empty":
            proof["verificationMethod"] = ""
        case "proof-context":
            proof["@context"] = [VC2]
        case "proof-context-other":
            proof["@context"] = [VC2, "https://ns.trustlane.org/mra/v1"]
        case "proof-no-context":
            del proof["@context"]
        case "proof-list":
            document["proof"] = [proof]
        case "proof-previous":
            proof["previousProof"] = "urn:x:none"
        case "proof-not-object":
            document["proof"] = "proof"
        case "no-proof":
            del document["proof"]
        case "proof-float":
            proof["extra"] = 0.5
        case "str-subclass":
            document["id"] = Text(document.get("id") or "urn:x:1")
        case "context-subclass":
            document["@context"] = [Text(VC2), AEO]
        case "proof-challenge":
            proof["challenge"] = "abc"
            proof["domain"] = ["a", "b"]
        case "proof-id-null":
            proof["id"] = None


AFTER = [
    "tamper",
    "proof-type",
    "cryptosuite",
    "no-value",
    "value-multibase",
    "value-base58",
    "value-short",
    "purpose",
    "purpose-empty",
    "created-bad",
    "expires-bad",
    "vm-unresolvable",
    "vm-bad-did",
    "vm-empty",
    "proof-context",
    "proof-context-other",
    "proof-no-context",
    "proof-list",
    "proof-previous",
    "proof-not-object",
    "no-proof",
    "proof-float",
    "str-subclass",
    "context-subclass",
    "proof-challenge",
    "proof-id-null",
]


@pytest.mark.parametrize("how", BEFORE)
def test_broken_then_signed(how: str) -> None:
    document = _base()
    _break_before(document, how)
    try:
        signed = _sign(document)
    except MalformedInputError:
        # No JCS form: another document's proof, so that the data model decides.
        signed = {**document, "proof": _sign(_base())["proof"]}
    _compare(signed)
    _compare(signed)


@pytest.mark.parametrize("how", AFTER)
def test_signed_then_broken(how: str) -> None:
    document = _sign(_base())
    _break_after(document, how)
    _compare(document)
    _compare(document)


@SETTINGS
@given(valid_variants(), st.sampled_from(BEFORE + AFTER), st.booleans())
def test_generated_and_broken(document: dict[str, Any], how: str, twice: bool) -> None:
    if how in AFTER:
        try:
            _break_after(document, how)
        except (KeyError, IndexError, TypeError):
            return  # the variant lacks the member this break changes
    else:
        unsecured = {k: v for k, v in document.items() if k != "proof"}
        try:
            _break_before(unsecured, how)
        except (KeyError, IndexError, TypeError):
            return  # the variant lacks the member this break changes
        try:
            document = _sign(unsecured)
        except MalformedInputError:
            document = {**unsecured, "proof": document["proof"]}
    fast = _compare(document)
    if twice:
        fast = _compare(document)
    event(f"fast path: {fast}")
