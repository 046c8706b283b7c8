"""The ``di_vp`` key proof of credential delivery: sign, verify, and every way it fails."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credentials.errors import InvalidProofError, MalformedInputError
from credentials.keys import PrivateKey
from credentials.oid4vci import sign_key_proof, verify_key_proof

ISSUER = "https://eu.customs.example"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
KEY = PrivateKey.from_seed(bytes(range(32)))
NONCE = "n" * 43


def _signed() -> dict[str, Any]:
    return sign_key_proof(KEY, nonce=NONCE, issuer=ISSUER, created=NOW)


def test_a_key_proof_names_its_holder_and_nonce() -> None:
    proof = verify_key_proof(_signed(), issuer=ISSUER, now=NOW)
    assert (proof.holder, proof.nonce) == (KEY.public_key.did, NONCE)


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for name in path[:-1]:
            target = target[name]
        target[path[-1]] = value

    return change


def _other_signer(doc: dict[str, Any]) -> None:
    other = sign_key_proof(PrivateKey.generate(), nonce=NONCE, issuer=ISSUER, created=NOW)
    doc["proof"] = other["proof"]


@pytest.mark.parametrize(
    "tamper",
    [
        _set(("@context",), ["https://www.w3.org/2018/credentials/v1"]),
        _set(("type",), ["VerifiableCredential"]),
        _set(("verifiableCredential",), []),
        _set(("holder",), PrivateKey.generate().public_key.did),
        _other_signer,
        _set(("proof", "challenge"), "m" * 43),
        _set(("proof", "domain"), "https://us.customs.example"),
        _set(("proof", "proofPurpose"), "assertionMethod"),
        _set(("proof", "verificationMethod"), "did:web:eu.customs.example#key-1"),
        _set(("proof", "created"), "2026-12-04T10:00:00Z"),
        lambda doc: doc["proof"].pop("challenge"),
        lambda doc: doc.update(proof=[doc["proof"], doc["proof"]]),
    ],
    ids=[
        "context",
        "type",
        "holds-credentials",
        "holder",
        "other-signer",
        "challenge",
        "domain",
        "purpose",
        "not-did-key",
        "future",
        "no-challenge",
        "two-proofs",
    ],
)
def test_every_change_fails(tamper: Callable[[dict[str, Any]], None]) -> None:
    doc = copy.deepcopy(_signed())
    tamper(doc)
    with pytest.raises(InvalidProofError):
        verify_key_proof(doc, issuer=ISSUER, now=NOW, clock_skew=timedelta(minutes=5))


def test_another_issuer_is_refused() -> None:
    with pytest.raises(InvalidProofError):
        verify_key_proof(_signed(), issuer="https://us.customs.example", now=NOW)


def test_signing_needs_a_nonce_and_an_issuer() -> None:
    with pytest.raises(MalformedInputError):
        sign_key_proof(KEY, nonce="", issuer=ISSUER, created=NOW)
