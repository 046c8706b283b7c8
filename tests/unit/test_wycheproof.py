"""Wycheproof Ed25519 verification vectors against credentials.keys.PublicKey.verify.

Every public key in the file is a canonical, prime-order point, so ``PublicKey`` accepts all of
them (checked by ``test_every_group_key_is_accepted``); no case expects ``InvalidKeyError``.
Valid cases must verify; invalid cases must raise ``InvalidSignatureError``. The file has no
"acceptable" cases; if a future copy adds some, the test fails so that someone decides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from credentials.errors import InvalidKeyError, InvalidSignatureError
from credentials.keys import PublicKey

VECTORS = Path(__file__).parents[1] / "vectors" / "wycheproof" / "ed25519_test.json"
DATA: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))

# Public keys that PublicKey rejects at construction (small order, non-canonical, ...).
# Wycheproof's Ed25519 file has none; test_every_group_key_is_accepted pins that down.
REJECTED_KEYS: frozenset[str] = frozenset()

# Flags whose invalid cases must fail a specific check of ours before libsodium is called.
LENGTH_FLAGS = {"TruncatedSignature", "SignatureWithGarbage", "CompressedSignature"}
MALLEABILITY_FLAGS = {"SignatureMalleability"}


def _cases() -> list[Any]:
    cases = []
    for group in DATA["testGroups"]:
        assert group["type"] == "EddsaVerify"
        assert group["publicKey"]["curve"] == "edwards25519"
        for test in group["tests"]:
            case_id = f"tc{test['tcId']}-{test['result']}-{'-'.join(test['flags'])}"
            cases.append(pytest.param(group["publicKey"]["pk"], test, id=case_id))
    return cases


CASES = _cases()


def test_file_shape() -> None:
    assert DATA["algorithm"] == "EDDSA"
    assert DATA["numberOfTests"] == len(CASES) == 151
    ids = [case.values[1]["tcId"] for case in CASES]
    assert len(set(ids)) == len(ids)


def test_every_group_key_is_accepted() -> None:
    keys = {group["publicKey"]["pk"] for group in DATA["testGroups"]}
    rejected = set()
    for key in keys:
        try:
            PublicKey(bytes.fromhex(key))
        except InvalidKeyError:
            rejected.add(key)
    assert rejected == REJECTED_KEYS


@pytest.mark.parametrize(("public_key_hex", "case"), CASES)
def test_wycheproof(public_key_hex: str, case: dict[str, Any]) -> None:
    key = PublicKey(bytes.fromhex(public_key_hex))
    message = bytes.fromhex(case["msg"])
    signature = bytes.fromhex(case["sig"])
    flags = set(case["flags"])

    if case["result"] == "valid":
        key.verify(signature, message)
        return

    assert case["result"] == "invalid", f"undecided result {case['result']!r}"
    if flags & LENGTH_FLAGS:
        match = "must be 64 bytes"
    elif flags & MALLEABILITY_FLAGS:
        match = "malleable: S >= group order L"
    else:
        match = "."
    with pytest.raises(InvalidSignatureError, match=match):
        key.verify(signature, message)
