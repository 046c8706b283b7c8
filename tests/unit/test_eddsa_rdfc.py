"""eddsa-rdfc-2022 verification: W3C vectors, tampering, refusals, limits (issue 13)."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from credentials.data_integrity import DIDKeyResolver, get_proof_outcomes
from credentials.eddsa_rdfc import MAX_QUADS, MAX_VALUES, canonicalize_rdfc, hash_data
from credentials.errors import InvalidProofError
from credentials.keys import PublicKey
from credentials.verification import get_credential_verification_result
from support import VECTORS, load_vector

RDFC = ("eddsa-rdfc-2022",)
CHAIN = ("eddsa-jcs-2022", "proof-set-chain-rdfc")
NOW = datetime(2026, 11, 30, tzinfo=UTC)
V2 = "https://www.w3.org/ns/credentials/v2"


def _text(*parts: str) -> bytes:
    return VECTORS.joinpath(*parts).read_bytes()


def _outcomes(doc: dict[str, Any]) -> list[Any]:
    return get_proof_outcomes(doc, resolver=DIDKeyResolver(), now=NOW)


def test_canonical_document_matches_the_w3c_vector() -> None:
    signed = load_vector(*RDFC, "signedDataInt.json")
    unsecured = {k: v for k, v in signed.items() if k != "proof"}
    canonical = canonicalize_rdfc(unsecured)
    assert canonical == _text(*RDFC, "canonDocDataInt.txt")
    assert hashlib.sha256(canonical).hexdigest() == _text(*RDFC, "docHashDataInt.txt").decode()


def test_canonical_proof_config_and_combined_hash_match_the_w3c_vector() -> None:
    config = load_vector(*RDFC, "proofConfigDataInt.json")
    assert canonicalize_rdfc(config) == _text(*RDFC, "proofCanonDataInt.txt")
    signed = load_vector(*RDFC, "signedDataInt.json")
    unsecured = {k: v for k, v in signed.items() if k != "proof"}
    combined = hash_data(unsecured, config)
    assert combined.hex() == _text(*RDFC, "combinedHashDataInt.txt").decode()


def test_signed_w3c_vector_verifies_as_credential() -> None:
    signed = load_vector(*RDFC, "signedDataInt.json")
    [outcome] = _outcomes(signed)
    assert outcome.verified, outcome.error
    result = get_credential_verification_result(signed, resolver=DIDKeyResolver(), now=NOW)
    # The proof verifies; the issuer (https://vc.example/...) does not control the did:key.
    assert result.check("proof") is not None
    assert result.check("proof").status.value == "pass"  # type: ignore[union-attr]
    assert result.check("issuer").code == "ISSUER_MISMATCH"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "name, proofs",
    [
        ("signedProofSet1.json", 1),
        ("signedProofSet2.json", 2),
        ("signedProofChain1.json", 3),
        ("signedProofChain2.json", 4),
    ],
)
def test_w3c_proof_set_and_chain_vectors_verify(name: str, proofs: int) -> None:
    result = _outcomes(load_vector(*CHAIN, name))
    assert len(result) == proofs
    assert all(o.verified for o in result), [o.error for o in result]


def test_employment_vector_hashes_and_signature_with_its_canonical_form() -> None:
    # Its context (citizenship/v4rc1) is not shipped: check the hash chain from the
    # published canonical forms, and that the full document is refused, never verified.
    employ = (*RDFC, "employ")
    canon_doc = _text(*employ, "canonDocDataInt.txt")
    canon_proof = _text(*employ, "proofCanonDataInt.txt")
    assert hashlib.sha256(canon_doc).hexdigest() == _text(*employ, "docHashDataInt.txt").decode()
    combined = hash_data(
        {"d": 1}, {"p": 1}, canonicalize=lambda o: canon_proof if "p" in o else canon_doc
    )
    assert combined.hex() == _text(*employ, "combinedHashDataInt.txt").decode()
    key = PublicKey.from_multibase(load_vector(*RDFC, "keyPair.json")["publicKeyMultibase"])
    key.verify(bytes.fromhex(_text(*employ, "sigHexDataInt.txt").decode()), combined)
    [outcome] = _outcomes(load_vector(*employ, "signedDataInt.json"))
    assert not outcome.verified
    assert outcome.error is not None and outcome.error.code == "JSONLD_CONTEXT_UNKNOWN"


def _tamper_subject(doc: dict[str, Any]) -> None:
    doc["credentialSubject"]["alumniOf"] = "Another School"


def _add_member(doc: dict[str, Any]) -> None:
    doc["credentialSubject"]["extra"] = "added after signing"  # @vocab maps it: signed


def _tamper_date(doc: dict[str, Any]) -> None:
    doc["validFrom"] = "2023-01-01T00:00:01Z"


def _tamper_proof_created(doc: dict[str, Any]) -> None:
    doc["proof"]["created"] = "2023-02-24T23:36:39Z"


def _other_suite(doc: dict[str, Any]) -> None:
    doc["proof"]["cryptosuite"] = "ecdsa-rdfc-2019"


def _jcs_label(doc: dict[str, Any]) -> None:
    doc["proof"]["cryptosuite"] = "eddsa-jcs-2022"  # the same signature read as JCS


def _unknown_context(doc: dict[str, Any]) -> None:
    doc["@context"] = [*doc["@context"], "https://attacker.example/context.jsonld"]


def _undefined_term(doc: dict[str, Any]) -> None:
    # An inline context that switches @vocab off, then a member no context defines: it would
    # be dropped from the signed dataset, so it is refused.
    doc["@context"] = [*doc["@context"], {"@vocab": None}]
    doc["notSigned"] = "anything"


def _flip_signature(doc: dict[str, Any]) -> None:
    value = doc["proof"]["proofValue"]
    doc["proof"]["proofValue"] = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]


TAMPERING = {
    "subject-changed": (_tamper_subject, "PROOF_VERIFICATION_ERROR"),
    "member-added": (_add_member, "PROOF_VERIFICATION_ERROR"),
    "validFrom-changed": (_tamper_date, "PROOF_VERIFICATION_ERROR"),
    "proof-created-changed": (_tamper_proof_created, "PROOF_VERIFICATION_ERROR"),
    "unknown-cryptosuite": (_other_suite, "UNSUPPORTED_CRYPTOSUITE"),
    "relabelled-as-jcs": (_jcs_label, "PROOF_VERIFICATION_ERROR"),
    "context-not-shipped": (_unknown_context, "JSONLD_CONTEXT_UNKNOWN"),
    "undefined-term": (_undefined_term, "JSONLD_TERM_UNDEFINED"),
    "signature-bit-flipped": (_flip_signature, "PROOF_VERIFICATION_ERROR"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampered_rdfc_documents_fail_closed(case: str) -> None:
    tamper, code = TAMPERING[case]
    doc = copy.deepcopy(load_vector(*RDFC, "signedDataInt.json"))
    tamper(doc)
    [outcome] = _outcomes(doc)
    assert not outcome.verified
    assert outcome.error is not None and outcome.error.code == code, outcome.error


def test_unknown_cryptosuite_is_unknown_not_failed() -> None:
    doc = copy.deepcopy(load_vector(*RDFC, "signedDataInt.json"))
    _other_suite(doc)
    [outcome] = _outcomes(doc)
    assert outcome.unknown and not outcome.verified


def test_chain_with_a_tampered_earlier_proof_fails_that_proof_and_the_chain() -> None:
    doc = copy.deepcopy(load_vector(*CHAIN, "signedProofChain2.json"))
    doc["proof"][2]["created"] = "2023-02-26T22:06:39Z"
    result = _outcomes(doc)
    assert [o.verified for o in result] == [True, True, False, False]


@pytest.mark.parametrize(
    "document, code",
    [
        ({"@context": [V2], "id": 5}, "JSONLD_INVALID"),
        ({"@context": "https://example.org/unknown"}, "JSONLD_CONTEXT_UNKNOWN"),
        (
            {"@context": [V2, {"@vocab": None}], "type": "VerifiableCredential", "x": 1},
            "JSONLD_TERM_UNDEFINED",
        ),
        ({"@context": {"@vocab": None, "x": "http://a.example/x"}, "y": 2}, "JSONLD_INVALID"),
    ],
    ids=["id-not-string", "context-not-shipped", "vocab-off-undefined", "pyld-internal-error"],
)
def test_garbage_json_ld_is_refused_with_a_code(document: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidProofError) as excinfo:
        canonicalize_rdfc(document)
    assert excinfo.value.code == code


def test_too_many_values_are_refused_before_json_ld_work() -> None:
    doc = {
        "@context": [V2],
        "type": "VerifiableCredential",
        "name": [f"n{i}" for i in range(MAX_VALUES)],
    }
    with pytest.raises(InvalidProofError) as excinfo:
        canonicalize_rdfc(doc)
    assert excinfo.value.code == "RDFC_LIMIT_EXCEEDED"


def test_too_many_quads_are_refused() -> None:
    # Few JSON values, many quads: each value of "type" under a context with a list-valued
    # term still makes one quad; stay under the value bound, go over the quad bound.
    doc = {"@context": [V2], "type": "VerifiableCredential", "name": [f"n{i}" for i in range(10)]}
    with pytest.raises(InvalidProofError) as excinfo:
        canonicalize_rdfc(doc, max_quads=5)
    assert excinfo.value.code == "RDFC_LIMIT_EXCEEDED"
    assert MAX_QUADS >= MAX_VALUES // 2


def test_poison_graph_is_refused_not_canonicalized_for_ever() -> None:
    # Many mutually linked, indistinguishable blank nodes force RDFC-1.0's exponential
    # "Hash N-Degree Quads" step; the bound stops it.
    nodes = 12
    graph = [
        {
            "@id": f"_:b{i}",
            "https://a.example/p": [{"@id": f"_:b{j}"} for j in range(nodes) if j != i],
        }
        for i in range(nodes)
    ]
    with pytest.raises(InvalidProofError) as excinfo:
        canonicalize_rdfc({"@graph": graph})
    assert excinfo.value.code == "RDFC_LIMIT_EXCEEDED"


def test_node_still_signs_only_jcs() -> None:
    from credentials.data_integrity import CRYPTOSUITE, VERIFIABLE_SUITES

    assert CRYPTOSUITE == "eddsa-jcs-2022"
    assert VERIFIABLE_SUITES == ("eddsa-jcs-2022", "eddsa-rdfc-2022")
