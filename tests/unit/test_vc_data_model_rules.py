"""VC Data Model 2.0 refusals of issue 13: JSON-LD (offline, safe mode) and data model rules.

Fixtures are written for this project from the shapes in the VC DM 2.0 specification; each
negative case is one tampering of a valid credential, and names the code it must raise.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credentials import DIDKeyResolver, PrivateKey, get_credential_verification_result
from credentials import jsonld as jsonld_module
from credentials.errors import MalformedInputError
from credentials.jsonld import (
    ISSUER_DEPENDENT_VOCAB,
    SHIPPED_CONTEXTS,
    check_credential_jsonld,
    context_bytes,
    document_loader,
    expand_safe,
)
from credentials.keys import b58encode
from credentials.model import VerifiableCredential
from credentials.signing import sign_credential
from credentials.urls import is_url

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ISSUER = PrivateKey.from_seed(bytes(range(32)))
VC2 = "https://www.w3.org/ns/credentials/v2"
AEO = "https://ns.trustlane.org/aeo/v1"
EXAMPLES = "https://www.w3.org/ns/credentials/examples/v2"


def credential(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": [VC2],
        "id": "urn:uuid:6a4b0e52-3c1d-4c62-9c1e-13a1d5a0c001",
        "type": ["VerifiableCredential", "PortAccessCredential"],
        "issuer": ISSUER.public_key.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:web:forwarder.example", "gate": "North 3"},
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def refusal(doc: dict[str, Any]) -> MalformedInputError:
    with pytest.raises(MalformedInputError) as info:
        VerifiableCredential.from_dict(doc)
    return info.value


def signed(doc: dict[str, Any]) -> dict[str, Any]:
    return sign_credential(
        doc,
        ISSUER,
        verification_method=ISSUER.public_key.verification_method_id,
        created=NOW - timedelta(days=1),
    )


def sri(data: bytes, algorithm: str = "sha384") -> str:
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def multibase_sha256(data: bytes) -> str:
    return "z" + b58encode(bytes([0x12, 0x20]) + hashlib.sha256(data).digest())


# -- accepted shapes ----------------------------------------------------------------------------

ACCEPTED: dict[str, dict[str, Any]] = {
    "plain": credential(),
    "issuer-dependent-type": credential(type=["VerifiableCredential", "CustomsPermit"]),
    "absolute-url-type": credential(
        type=["VerifiableCredential", "https://vocab.customs.example/Permit"]
    ),
    "aeo-context": credential(**{"@context": [VC2, AEO]}),
    "examples-context": credential(**{"@context": [VC2, EXAMPLES]}),
    "inline-context-new-term": credential(
        **{"@context": [VC2, {"gate": "https://vocab.customs.example/gate"}]}
    ),
    "language-values": credential(
        name=[
            {"@value": "Port pass", "@language": "en"},
            {"@value": "Hafenpass", "@language": "de"},
        ],
        description={"@value": "بطاقة", "@language": "ar", "@direction": "rtl"},
        issuer={"id": ISSUER.public_key.did, "name": {"@value": "Zoll", "@language": "de"}},
    ),
    "typed-objects": credential(
        termsOfUse={"type": "TrustFrameworkPolicy", "policy": "urn:uuid:1"},
        evidence=[{"type": ["Evidence", "DocumentVerification"]}],
        refreshService={"type": "ManualRefreshService2026", "url": "https://customs.example/r"},
        credentialSchema={"id": "https://customs.example/schema.json", "type": "JsonSchema"},
    ),
    "related-resource-held": credential(
        relatedResource=[
            {"id": AEO, "digestSRI": sri(context_bytes(AEO))},
            {
                "id": "https://ns.trustlane.org/mra/v1",
                "digestMultibase": multibase_sha256(
                    context_bytes("https://ns.trustlane.org/mra/v1")
                ),
            },
        ]
    ),
    "related-resource-not-held": credential(
        relatedResource=[
            # The node does not hold these bytes and fetches nothing: the form is checked.
            {"id": "https://customs.example/logo.png", "digestSRI": sri(b"png")},
        ]
    ),
    "proof-repeats-context": signed(credential()),
    "empty-status-list": credential(credentialStatus=[]),
    # A JSON literal (@json term): its "type" and "$schema" members are data, not terms.
    "json-schema-literal": credential(
        type=["VerifiableCredential", "JsonSchemaCredential"],
        credentialSubject={
            "id": "https://customs.example/schemas/permit.json",
            "type": "JsonSchema",
            "jsonSchema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {"gate": {"type": "string"}},
            },
        },
    ),
}


@pytest.mark.parametrize("doc", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_accepted(doc: dict[str, Any]) -> None:
    parsed = VerifiableCredential.from_dict(doc)
    assert parsed.document is doc


def test_signed_credential_with_rules_verifies_end_to_end() -> None:
    doc = signed(ACCEPTED["language-values"] | ACCEPTED["typed-objects"])
    result = get_credential_verification_result(doc, resolver=DIDKeyResolver(), now=NOW)
    assert result.verified, result.to_dict()


# -- refused shapes -----------------------------------------------------------------------------

REFUSED: dict[str, tuple[dict[str, Any], str, str]] = {
    # Types: neither a defined term nor an absolute URL.
    "type-vocab-switched-off": (
        credential(**{"@context": [VC2, {"@vocab": None, "gate": "https://v.example/gate"}]}),
        "INVALID_TYPE",
        "PortAccessCredential",
    ),
    "type-mapped-to-non-url": (
        credential(**{"@context": [VC2, {"PortAccessCredential": {"@id": "not a url"}}]}),
        "JSONLD_INVALID",
        "not valid JSON-LD",
    ),
    "type-with-space": (
        credential(type=["VerifiableCredential", "Port Access"]),
        "INVALID_TYPE",
        "'Port Access'",
    ),
    "type-bad-url": (
        credential(type=["VerifiableCredential", "https:/bad url"]),
        "INVALID_TYPE",
        "neither a term",
    ),
    "subject-type-vocab-off": (
        credential(
            **{"@context": [VC2, {"@vocab": None, "gate": "https://v.example/gate"}]},
            type=["VerifiableCredential"],
            credentialSubject={"id": "did:web:f.example", "type": "Forwarder"},
        ),
        "INVALID_TYPE",
        "Forwarder",
    ),
    # Not strings at all: refused, never an unhashable-type crash in the type cache.
    "subject-type-object": (
        credential(credentialSubject={"id": "did:web:f.example", "type": [{}]}),
        "INVALID_TYPE",
        "{}",
    ),
    "subject-type-nested-list": (
        credential(credentialSubject={"id": "did:web:f.example", "type": [["Forwarder"]]}),
        "INVALID_TYPE",
        "['Forwarder']",
    ),
    # Safe mode: a term no context defines.
    "undefined-term": (
        credential(**{"@context": [VC2, {"@vocab": None}]}, type=["VerifiableCredential"]),
        "JSONLD_TERM_UNDEFINED",
        "gate",
    ),
    "member-name-with-space": (
        credential(credentialSubject={"id": "did:web:f.example", "gate number": 3}),
        "JSONLD_TERM_UNDEFINED",
        "not defined",
    ),
    "keyword-like-member": (
        credential(credentialSubject={"id": "did:web:f.example", "@gate": "x"}),
        "JSONLD_TERM_UNDEFINED",
        "not defined",
    ),
    # Contexts: unknown, never fetched; protected terms.
    "unknown-context-url": (
        credential(**{"@context": [VC2, "https://evil.example/context.jsonld"]}),
        "JSONLD_CONTEXT_UNKNOWN",
        "https://evil.example/context.jsonld",
    ),
    "unknown-context-nested": (
        credential(
            credentialSubject={
                "@context": "https://evil.example/c",
                "id": "did:web:f.example",
            }
        ),
        "JSONLD_CONTEXT_UNKNOWN",
        "never fetched",
    ),
    "protected-term-inline": (
        credential(**{"@context": [VC2, {"VerifiableCredential": "https://evil.example/VC"}]}),
        "JSONLD_PROTECTED_TERM",
        "protected term",
    ),
    "protected-name-inline": (
        credential(**{"@context": [VC2, {"name": "https://evil.example/name"}]}),
        "JSONLD_PROTECTED_TERM",
        "protected term",
    ),
    "protected-aeo-term-by-added-context": (
        credential(
            **{"@context": [VC2, AEO, {"legalName": "https://evil.example/name"}]},
        ),
        "JSONLD_PROTECTED_TERM",
        "protected term",
    ),
    "protected-term-nested-context": (
        credential(
            credentialSubject={
                "@context": {"id": None, "type": "https://evil.example/type"},
                "id": "did:web:f.example",
            }
        ),
        "JSONLD_PROTECTED_TERM",
        "protected term",
    ),
    # Typed objects without type.
    **{
        f"{member}-without-type": (
            credential(**{member: {"id": "https://customs.example/x"}}),
            "MISSING_TYPE",
            member,
        )
        for member in (
            "credentialStatus",
            "termsOfUse",
            "evidence",
            "refreshService",
            "credentialSchema",
        )
    },
    "evidence-one-of-list-untyped": (
        credential(evidence=[{"type": "Evidence"}, {"id": "urn:uuid:2"}]),
        "MISSING_TYPE",
        "evidence",
    ),
    "termsOfUse-empty-type-list": (
        credential(termsOfUse={"type": []}),
        "MISSING_TYPE",
        "termsOfUse",
    ),
    "credentialSchema-without-id": (
        credential(credentialSchema={"type": "JsonSchema"}),
        "MISSING_TYPE",
        "URL id",
    ),
    "termsOfUse-not-object": (
        credential(termsOfUse="https://customs.example/tou"),
        "MISSING_TYPE",
        "object",
    ),
    # Language value objects.
    "name-extra-member": (
        credential(name={"@value": "Pass", "@language": "en", "note": "x"}),
        "INVALID_LANGUAGE_VALUE",
        "note",
    ),
    "description-extra-keyword": (
        credential(description={"@value": "Pass", "@type": "https://v.example/T"}),
        "INVALID_LANGUAGE_VALUE",
        "@type",
    ),
    "issuer-name-extra-member": (
        credential(
            issuer={"id": ISSUER.public_key.did, "name": {"@value": "Zoll", "@id": "urn:x:y"}}
        ),
        "INVALID_LANGUAGE_VALUE",
        "issuer.name",
    ),
    "issuer-description-in-list": (
        credential(
            issuer={
                "id": ISSUER.public_key.did,
                "description": ["ok", {"@value": "x", "@language": "en", "extra": 1}],
            }
        ),
        "INVALID_LANGUAGE_VALUE",
        "issuer.description",
    ),
    "name-bad-direction": (
        credential(name={"@value": "Pass", "@direction": "up"}),
        "INVALID_LANGUAGE_VALUE",
        "ltr or rtl",
    ),
    "name-bad-language": (
        credential(name={"@value": "Pass", "@language": "not a tag"}),
        "INVALID_LANGUAGE_VALUE",
        "language tag",
    ),
    "name-value-not-string": (
        credential(name={"@value": 3}),
        "INVALID_LANGUAGE_VALUE",
        "@value",
    ),
    "name-number": (credential(name=7), "INVALID_LANGUAGE_VALUE", "name"),
    # relatedResource.
    "related-not-list": (
        credential(relatedResource={"id": AEO, "digestSRI": sri(b"x")}),
        "INVALID_RELATED_RESOURCE",
        "list of objects",
    ),
    "related-list-of-strings": (
        credential(relatedResource=[AEO]),
        "INVALID_RELATED_RESOURCE",
        "list of objects",
    ),
    "related-empty": (credential(relatedResource=[]), "INVALID_RELATED_RESOURCE", "non-empty"),
    "related-without-id": (
        credential(relatedResource=[{"digestSRI": sri(b"x")}]),
        "INVALID_RELATED_RESOURCE",
        "URL id",
    ),
    "related-duplicate-id": (
        credential(
            relatedResource=[
                {"id": "https://c.example/a", "digestSRI": sri(b"a")},
                {"id": "https://c.example/a", "digestSRI": sri(b"b")},
            ]
        ),
        "INVALID_RELATED_RESOURCE",
        "listed twice",
    ),
    "related-no-digest": (
        credential(relatedResource=[{"id": "https://c.example/a", "mediaType": "image/png"}]),
        "INVALID_RELATED_RESOURCE",
        "neither digestSRI nor digestMultibase",
    ),
    "related-bad-sri": (
        credential(relatedResource=[{"id": "https://c.example/a", "digestSRI": "md5-abc"}]),
        "INVALID_RELATED_RESOURCE",
        "digestSRI",
    ),
    "related-sri-wrong-length": (
        credential(
            relatedResource=[
                {"id": "https://c.example/a", "digestSRI": "sha256-" + "A" * 8},
            ]
        ),
        "INVALID_RELATED_RESOURCE",
        "digestSRI",
    ),
    "related-bad-multibase": (
        credential(relatedResource=[{"id": "https://c.example/a", "digestMultibase": "zzz0OIl"}]),
        "INVALID_RELATED_RESOURCE",
        "digestMultibase",
    ),
    "related-held-sri-mismatch": (
        credential(relatedResource=[{"id": AEO, "digestSRI": sri(b"tampered context")}]),
        "DIGEST_MISMATCH",
        "does not match",
    ),
    "related-held-multibase-mismatch": (
        credential(
            relatedResource=[
                {
                    "id": AEO,
                    "digestSRI": sri(context_bytes(AEO)),
                    "digestMultibase": multibase_sha256(b"other bytes"),
                }
            ]
        ),
        "DIGEST_MISMATCH",
        "does not match",
    ),
    # Issuer URLs checked as URLs in their own right.
    "issuer-https-without-host": (
        credential(issuer="https:customs.example"),
        "INVALID_ISSUER",
        "URL",
    ),
    "issuer-bad-did": (credential(issuer="did:web:"), "INVALID_ISSUER", "URL"),
    "issuer-uppercase-did-method": (credential(issuer="did:WEB:x.example"), "INVALID_ISSUER", ""),
    "issuer-space": (credential(issuer="did:web:customs example"), "INVALID_ISSUER", ""),
    "issuer-control-character": (credential(issuer="https://c.example/\x01"), "INVALID_ISSUER", ""),
    "issuer-object-without-id": (
        credential(issuer={"name": "Zoll"}),
        "INVALID_ISSUER",
        "must have an id",
    ),
    "issuer-object-bad-id": (
        credential(issuer={"id": "not a url"}),
        "INVALID_ISSUER",
        "'not a url'",
    ),
    "issuer-urn-without-nss": (credential(issuer="urn:uuid:"), "INVALID_ISSUER", ""),
}


@pytest.mark.parametrize(("doc", "code", "words"), list(REFUSED.values()), ids=list(REFUSED))
def test_refused(doc: dict[str, Any], code: str, words: str) -> None:
    error = refusal(doc)
    assert error.code == code, error.message
    assert words in error.message


@pytest.mark.parametrize("name", ["type-vocab-switched-off", "related-held-sri-mismatch"])
def test_refusal_shows_in_the_verification_result(name: str) -> None:
    doc, code, _ = REFUSED[name]
    result = get_credential_verification_result(doc, resolver=DIDKeyResolver(), now=NOW)
    assert not result.verified
    assert [(c.name, c.code) for c in result.checks] == [("data_model", code)]


def test_refused_at_issuance_too() -> None:
    doc, code, _ = REFUSED["protected-term-inline"]
    with pytest.raises(MalformedInputError) as info:
        signed(doc)
    assert info.value.code == code


def test_tampered_signed_credential_refused_before_the_proof() -> None:
    doc = signed(credential())
    doc["@context"] = [VC2, {"VerifiableCredential": "https://evil.example/VC"}]
    result = get_credential_verification_result(doc, resolver=DIDKeyResolver(), now=NOW)
    assert [(c.name, c.code) for c in result.checks] == [("data_model", "JSONLD_PROTECTED_TERM")]


# -- the loader and the caches ------------------------------------------------------------------


def test_loader_serves_only_shipped_contexts_and_never_fetches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the loader tried the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    for url in SHIPPED_CONTEXTS:
        assert document_loader(url)["documentUrl"] == url
    from pyld import jsonld

    with pytest.raises(jsonld.JsonLdError, match="never fetched"):
        document_loader("https://www.w3.org/2018/credentials/v1")
    with pytest.raises(MalformedInputError) as info:
        check_credential_jsonld(credential(**{"@context": [VC2, "https://evil.example/x"]}))
    assert info.value.code == "JSONLD_CONTEXT_UNKNOWN"


def test_vc_v2_context_is_served_with_the_issuer_dependent_vocab() -> None:
    served = document_loader(VC2)["document"]["@context"]
    assert served["@vocab"] == ISSUER_DEPENDENT_VOCAB
    # The shipped copy itself is left byte-exact.
    assert b"issuer-dependent" not in context_bytes(VC2)
    expanded = expand_safe(credential())
    assert expanded[0]["@type"] == [
        "https://www.w3.org/2018/credentials#VerifiableCredential",
        ISSUER_DEPENDENT_VOCAB + "PortAccessCredential",
    ]


def test_loader_copies_are_independent() -> None:
    first = document_loader(AEO)["document"]
    first["@context"]["legalName"] = "https://evil.example/"
    assert document_loader(AEO)["document"]["@context"]["legalName"] != "https://evil.example/"


def test_fast_path_processes_each_context_list_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = jsonld_module.expand_safe

    def counting(document: dict[str, Any]) -> Any:
        calls.append("expand")
        return real(document)

    doc = signed(credential(**{"@context": [VC2, AEO]}))
    monkeypatch.setattr(jsonld_module, "expand_safe", counting)
    jsonld_module._context_list.cache_clear()
    for _ in range(3):
        check_credential_jsonld(doc)
    info = jsonld_module._context_list.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    assert calls == []  # no full expansion for shipped URL contexts
    check_credential_jsonld(ACCEPTED["inline-context-new-term"])
    assert calls == ["expand"]


@pytest.mark.parametrize(
    "bad_type", ["Port Access", "https:/bad url", "", "a<b", "tab\there", "nul\x00"]
)
def test_fast_and_full_paths_agree_on_types(bad_type: str) -> None:
    # The same refusal whether the document takes the fast path or full expansion.
    fast = credential(type=["VerifiableCredential", bad_type])
    slow = copy.deepcopy(fast)
    slow["@context"] = [VC2, {"gate": "https://v.example/gate"}]
    for doc in (fast, slow):
        with pytest.raises(MalformedInputError) as info:
            check_credential_jsonld(doc)
        assert info.value.code == "INVALID_TYPE"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://customs.example/vc/1", True),
        ("did:web:customs.example%3A8443", True),
        ("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6Mk", True),
        ("urn:uuid:6a4b0e52-3c1d-4c62-9c1e-13a1d5a0c001", True),
        ("mailto:desk@customs.example", True),
        ("https:customs.example", False),
        ("https://", False),
        ("did:web:", False),
        ("did:web:x:", False),
        ("did:Web:x", False),
        ("urn:x:1", False),
        ("https://c.example/a b", False),
        ("https://c.example/a\x7f", False),
        ("DID:web:x", False),
        ("a:", False),
        ("", False),
    ],
)
def test_urls_in_their_own_right(value: str, expected: bool) -> None:
    assert is_url(value) is expected


@pytest.mark.parametrize("url", sorted(set(SHIPPED_CONTEXTS) - {VC2}))
def test_every_shipped_context_processes_after_the_v2_context(url: str) -> None:
    # A shipped context that clashed with a protected v2 term would refuse every credential
    # naming it; each one processes, and its own bytes are what a digest of it is checked
    # against when the node publishes it.
    doc = credential(**{"@context": [VC2, url]})
    check_credential_jsonld(doc)
    assert expand_safe(doc)[0]["@type"][0].endswith("#VerifiableCredential")
    held = jsonld_module.held_resource(url)
    assert held is None or held == context_bytes(url)
