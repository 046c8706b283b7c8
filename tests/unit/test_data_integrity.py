"""eddsa-jcs-2022 proofs, proof sets and chains, against the W3C vectors and table-driven
negatives."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credentials import data_integrity as di
from credentials.data_integrity import (
    DIDKeyResolver,
    ProofOptions,
    add_proof,
    get_proof_outcomes,
)
from credentials.errors import InvalidKeyError, InvalidProofError, MalformedInputError
from credentials.keys import PrivateKey, b58decode, b58encode, key_pair_from_dict
from support import load_vector

JCS = ("eddsa-jcs-2022",)
RESOLVER = DIDKeyResolver()
CREATED = datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC)
NOW = datetime(2026, 11, 30, tzinfo=UTC)
L = 2**252 + 27742317777372353535851937790883648493


def vector_key() -> PrivateKey:
    return key_pair_from_dict(load_vector(*JCS, "keyPair.json"))


def outcomes(doc: dict[str, Any], **kw: Any) -> list[di.ProofOutcome]:
    return get_proof_outcomes(doc, resolver=RESOLVER, **kw)


def verified(doc: dict[str, Any], **kw: Any) -> bool:
    return all(o.verified for o in outcomes(doc, **kw))


def test_reproduces_w3c_signed_vector() -> None:
    key = vector_key()
    unsigned = load_vector(*JCS, "unsigned.json")
    expected = load_vector(*JCS, "signedJCS.json")
    opts = ProofOptions(
        verification_method=expected["proof"]["verificationMethod"], created=CREATED
    )
    signed = add_proof(unsigned, key, opts)
    assert signed["proof"]["proofValue"] == expected["proof"]["proofValue"]
    assert signed == expected
    assert "proof" not in unsigned  # input untouched


@pytest.mark.parametrize(
    "path", [("signedJCS.json",), ("previous-version-c3b58d07", "signedJCS.json")]
)
def test_official_vectors_verify(path: tuple[str, ...]) -> None:
    doc = load_vector(*JCS, *path)
    [outcome] = outcomes(doc, now=NOW)
    assert outcome.verified, outcome.error
    assert outcome.method is not None
    assert outcome.method.controller == "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"


_CASES = load_vector(*JCS, "derived-verification-cases.json")["cases"]


@pytest.mark.parametrize("case", _CASES, ids=[c["id"] for c in _CASES])
def test_derived_verification_cases(case: dict[str, Any]) -> None:
    result = outcomes(case["securedDocument"], now=NOW)
    assert all(o.verified for o in result) is case["expected_verified"], [o.error for o in result]


def test_rdfc_proof_chain_vector_verifies() -> None:
    # eddsa-rdfc-2022 is verified since issue 13 (tests/unit/test_eddsa_rdfc.py has the rest).
    doc = load_vector(*JCS, "proof-set-chain-rdfc", "signedProofChain2.json")
    result = outcomes(doc, now=NOW)
    assert len(result) == 4
    assert all(o.verified for o in result), [o.error for o in result]


def _set_and_chain() -> tuple[dict[str, Any], list[PrivateKey]]:
    """Build the W3C proof-set/chain layout with eddsa-jcs-2022 and the W3C key pairs."""
    base = ("eddsa-jcs-2022", "proof-set-chain-rdfc")
    pairs = load_vector(*base, "multiKeyPairs.json")
    keys = [key_pair_from_dict(p) for p in (pairs.values() if isinstance(pairs, dict) else pairs)]
    doc = load_vector(*base, "unsigned.json")
    configs = [
        "proofSetConfig1.json",
        "proofSetConfig2.json",
        "proofChainConfig1.json",
        "proofChainConfig2.json",
    ]
    for key, name in zip(keys, configs, strict=True):
        cfg = load_vector(*base, name)
        prev = cfg.get("previousProof")
        doc = add_proof(
            doc,
            key,
            ProofOptions(
                verification_method=key.public_key.verification_method_id,
                created=datetime.fromisoformat(cfg["created"]),
                id=cfg.get("id"),
                previous_proof=tuple(prev) if isinstance(prev, list) else prev,
            ),
        )
    return doc, keys


def test_proof_set_and_chain_layout_matches_w3c_vectors() -> None:
    doc, _ = _set_and_chain()
    base = ("eddsa-jcs-2022", "proof-set-chain-rdfc")
    reference = load_vector(*base, "signedProofChain2.json")
    ours = doc["proof"]
    assert [p.get("id") for p in ours] == [p.get("id") for p in reference["proof"]]
    assert [p.get("previousProof") for p in ours] == [
        p.get("previousProof") for p in reference["proof"]
    ]
    # The input that proof 3 signs holds the two proofs it names, as a list, in that order.
    temp = load_vector(*base, "proofChainTempDoc1.json")
    built = di._input_document(doc, di._matching_proofs(ours[2]["previousProof"], ours))
    assert [p["id"] for p in built["proof"]] == [p["id"] for p in temp["proof"]]
    assert set(built) == set(temp)
    temp2 = load_vector(*base, "proofChainTempDoc2.json")
    built2 = di._input_document(doc, di._matching_proofs([ours[3]["previousProof"]], ours))
    assert isinstance(temp2["proof"], list)
    assert [p["id"] for p in built2["proof"]] == [p["id"] for p in temp2["proof"]]
    assert verified(doc, now=NOW)


def test_chain_breaks_when_a_previous_proof_is_tampered() -> None:
    doc, _ = _set_and_chain()
    tampered = copy.deepcopy(doc)
    # Proof 3 chains to proofs 1 and 2; change proof 2's created (its own signature breaks too).
    tampered["proof"][1]["created"] = "2023-02-26T22:06:39Z"
    result = outcomes(tampered, now=NOW)
    assert [o.verified for o in result] == [True, False, False, True]


def test_chain_fails_when_previous_proof_removed() -> None:
    doc, _ = _set_and_chain()
    doc["proof"] = [p for i, p in enumerate(doc["proof"]) if i != 0]
    result = outcomes(doc, now=NOW)
    assert result[1].error is not None and result[1].error.code == "PREVIOUS_PROOF_MISSING"


def test_add_proof_refuses_unknown_previous_and_duplicate_id() -> None:
    key = PrivateKey.generate()
    vm = key.public_key.verification_method_id
    doc = add_proof({"a": 1}, key, ProofOptions(verification_method=vm, id="urn:p1"))
    with pytest.raises(InvalidProofError):
        add_proof(doc, key, ProofOptions(verification_method=vm, previous_proof="urn:nope"))
    with pytest.raises(InvalidProofError):
        add_proof(doc, key, ProofOptions(verification_method=vm, id="urn:p1"))


def test_add_proof_refuses_did_key_of_another_key() -> None:
    key, other = PrivateKey.generate(), PrivateKey.generate()
    with pytest.raises(InvalidKeyError):
        add_proof(
            {}, key, ProofOptions(verification_method=other.public_key.verification_method_id)
        )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        ProofOptions(verification_method="did:key:x", created=datetime(2024, 1, 1))


def _signed(**opts: Any) -> dict[str, Any]:
    key = vector_key()
    return add_proof(
        load_vector(*JCS, "unsigned.json"),
        key,
        ProofOptions(verification_method=key.public_key.verification_method_id, **opts),
    )


def _malleate(doc: dict[str, Any]) -> dict[str, Any]:
    sig = b58decode(doc["proof"]["proofValue"][1:])
    s = int.from_bytes(sig[32:], "little") + L
    doc = copy.deepcopy(doc)
    doc["proof"]["proofValue"] = "z" + b58encode(sig[:32] + s.to_bytes(32, "little"))
    return doc


def _many(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "proof": [doc["proof"]] * (di.MAX_PROOFS + 1)}


def _dup_ids(doc: dict[str, Any]) -> dict[str, Any]:
    p = {**doc["proof"], "id": "urn:same"}
    return {**doc, "proof": [p, p]}


def _did_web(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "proof": {**doc["proof"], "verificationMethod": "did:web:customs.example#k1"}}


NEGATIVE = [
    # (id, document factory, verify kwargs, expected error code, unknown?)
    (
        "malleated-S-plus-L",
        lambda: _malleate(_signed(created=CREATED)),
        {},
        "PROOF_VERIFICATION_ERROR",
        False,
    ),
    (
        "purpose-mismatch",
        lambda: _signed(created=CREATED),
        {"expected_purpose": "authentication"},
        "INVALID_PROOF_PURPOSE",
        False,
    ),
    (
        "expired-proof",
        lambda: _signed(created=CREATED, expires=CREATED + timedelta(days=1)),
        {},
        "PROOF_EXPIRED",
        False,
    ),
    (
        "created-in-future",
        lambda: _signed(created=NOW + timedelta(hours=1)),
        {},
        "PROOF_NOT_YET_VALID",
        False,
    ),
    (
        "challenge-missing",
        lambda: _signed(created=CREATED),
        {"challenge": "c-123"},
        "INVALID_CHALLENGE",
        False,
    ),
    (
        "challenge-wrong",
        lambda: _signed(created=CREATED, challenge="c-124"),
        {"challenge": "c-123"},
        "INVALID_CHALLENGE",
        False,
    ),
    (
        "domain-wrong",
        lambda: _signed(created=CREATED, domain="nlrtm.customs.example"),
        {"domain": "deham.customs.example"},
        "INVALID_DOMAIN",
        False,
    ),
    ("too-many-proofs", lambda: _many(_signed(created=CREATED)), {}, "TOO_MANY_PROOFS", False),
    (
        "duplicate-proof-ids",
        lambda: _dup_ids(_signed(created=CREATED)),
        {},
        "PROOF_VERIFICATION_ERROR",
        False,
    ),
    ("no-proof", lambda: load_vector(*JCS, "unsigned.json"), {}, "PROOF_VERIFICATION_ERROR", False),
    ("proof-not-object", lambda: {**_signed(), "proof": "zzz"}, {}, "MALFORMED_PROOF", False),
    (
        "unresolvable-did-web",
        lambda: _did_web(_signed(created=CREATED)),
        {},
        "UNRESOLVABLE_VERIFICATION_METHOD",
        True,
    ),
]


@pytest.mark.parametrize(
    ("factory", "kwargs", "code", "is_unknown"),
    [n[1:] for n in NEGATIVE],
    ids=[n[0] for n in NEGATIVE],
)
def test_negative_cases(factory: Any, kwargs: dict[str, Any], code: str, is_unknown: bool) -> None:
    result = outcomes(factory(), now=NOW, **kwargs)
    bad = [o for o in result if not o.verified]
    assert bad, "expected a failure"
    assert bad[0].error is not None
    assert bad[0].error.code == code, bad[0].error
    assert bad[0].unknown is is_unknown


@pytest.mark.parametrize(
    ("kwargs", "opts"),
    [
        ({"challenge": "c-123"}, {"challenge": "c-123"}),
        ({"domain": "deham.customs.example"}, {"domain": "deham.customs.example"}),
        ({"expected_purpose": None}, {}),
    ],
    ids=["challenge-match", "domain-match", "any-stated-purpose"],
)
def test_bound_options_verify(kwargs: dict[str, Any], opts: dict[str, Any]) -> None:
    assert verified(_signed(created=CREATED, **opts), now=NOW, **kwargs)


def test_proofs_of_rejects_non_object_items() -> None:
    with pytest.raises(MalformedInputError):
        di.proofs_of({"proof": [1]})
