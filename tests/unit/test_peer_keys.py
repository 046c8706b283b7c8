"""Key pinning and rotation rules for peer DID documents (table-driven)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from credentials.errors import InvalidKeyError, MalformedInputError, VerificationError
from credentials.keys import PrivateKey
from registry.peer_keys import (
    MAX_NEW_KEYS_PER_SYNC,
    KeyChangeRejectedError,
    PinMismatchError,
    accept_first_contact,
    accept_key_change,
    parse_did_document,
)

DID = "did:web:us.customs.example"
KEYS = [PrivateKey.from_seed(bytes([n]) * 32).public_key.multibase for n in range(1, 7)]
T = datetime(2026, 11, 30, tzinfo=UTC)


def doc(
    *mbs: str, revoked: dict[str, str] | None = None, auth: int | None = None
) -> dict[str, Any]:
    methods = []
    for i, mb in enumerate(mbs, start=1):
        m: dict[str, Any] = {
            "id": f"{DID}#key-{i}",
            "type": "Multikey",
            "controller": DID,
            "publicKeyMultibase": mb,
        }
        if revoked and f"key-{i}" in revoked:
            m["revoked"] = revoked[f"key-{i}"]
        methods.append(m)
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": DID,
        "verificationMethod": methods,
        "assertionMethod": [m["id"] for m in methods],
        "authentication": [f"#key-{auth or len(mbs)}"],
    }


def keys(*mbs: str, **kw: Any) -> Any:
    return parse_did_document(doc(*mbs, **kw), DID)


def test_parse_relationships_and_relative_refs() -> None:
    parsed = keys(KEYS[0], KEYS[1])
    assert parsed.assertion_fingerprints() == {KEYS[0], KEYS[1]}
    assert parsed.keys[f"{DID}#key-2"].relationships == {"assertionMethod", "authentication"}
    assert parsed.keys[f"{DID}#key-1"].relationships == {"assertionMethod"}


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda d: d.update(id="did:web:evil.example"), MalformedInputError),
        (
            lambda d: d["verificationMethod"][0].update(controller="did:web:evil.example"),
            MalformedInputError,
        ),
        (lambda d: d["verificationMethod"][0].update(type="JsonWebKey2020"), MalformedInputError),
        (
            lambda d: d["verificationMethod"][0].update(id="did:web:evil.example#k"),
            MalformedInputError,
        ),
        (
            lambda d: d["verificationMethod"].append(dict(d["verificationMethod"][0])),
            MalformedInputError,
        ),
        (
            lambda d: d["verificationMethod"][0].update(
                publicKeyMultibase="z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc"
            ),
            InvalidKeyError,
        ),
        (lambda d: d.update(assertionMethod="#key-1"), MalformedInputError),
        (lambda d: d["verificationMethod"][0].update(revoked="yesterday"), MalformedInputError),
    ],
    ids=[
        "wrong-id",
        "foreign-controller",
        "not-multikey",
        "vm-outside-did",
        "duplicate-vm",
        "x25519-key",
        "relationship-not-list",
        "bad-revoked",
    ],
)
def test_parse_rejects(mutate: Any, error: type[Exception]) -> None:
    d = doc(KEYS[0])
    mutate(d)
    with pytest.raises(error):
        parse_did_document(d, DID)


def test_first_contact_exact_pins() -> None:
    assert accept_first_contact(keys(KEYS[0]), [KEYS[0]]).did == DID


@pytest.mark.parametrize(
    ("listed", "pinned", "fragment"),
    [
        ([KEYS[1]], [KEYS[0]], "not pinned"),
        ([KEYS[0], KEYS[1]], [KEYS[0]], "not pinned"),
        ([KEYS[0]], [KEYS[0], KEYS[1]], "pinned but missing"),
        ([KEYS[0]], [], "no keys pinned"),
    ],
    ids=["swapped-key", "extra-key", "missing-pinned-key", "nothing-pinned"],
)
def test_first_contact_mismatch(listed: list[str], pinned: list[str], fragment: str) -> None:
    with pytest.raises(PinMismatchError, match=fragment):
        accept_first_contact(keys(*listed), pinned)


def test_rotation_announced_is_accepted() -> None:
    new = accept_key_change(keys(KEYS[0]), keys(KEYS[0], KEYS[1]), announced=[KEYS[1]])
    assert new.assertion_fingerprints() == {KEYS[0], KEYS[1]}
    assert accept_key_change(keys(KEYS[0]), keys(KEYS[0], KEYS[1]), repinned=[KEYS[1]])
    # Unchanged documents and added revocations pass without announcements.
    assert accept_key_change(keys(KEYS[0]), keys(KEYS[0]))
    revoked = keys(KEYS[0], revoked={"key-1": "2026-11-29T00:00:00Z"})
    assert accept_key_change(keys(KEYS[0]), revoked)


@pytest.mark.parametrize(
    ("old", "new", "announced", "fragment"),
    [
        ([KEYS[0]], [KEYS[1]], [KEYS[1]], "now names a different key"),
        ([KEYS[0], KEYS[1]], [KEYS[0]], [], "was removed"),
        ([KEYS[0]], [KEYS[0], KEYS[1]], [], "without a signed announcement"),
        ([KEYS[0]], [KEYS[0], *KEYS[1 : 2 + MAX_NEW_KEYS_PER_SYNC]], KEYS, "per sync"),
    ],
    ids=["key-swapped", "old-key-dropped", "unannounced-key", "too-many-new-keys"],
)
def test_rotation_rejected(
    old: list[str], new: list[str], announced: list[str], fragment: str
) -> None:
    with pytest.raises(KeyChangeRejectedError, match=fragment):
        accept_key_change(keys(*old), keys(*new), announced=announced)


@pytest.mark.parametrize(
    ("old", "new", "unannounced"),
    [
        ([KEYS[0]], [KEYS[0], KEYS[1]], {KEYS[1]}),
        ([KEYS[0]], [KEYS[0], KEYS[1], KEYS[2]], {KEYS[1], KEYS[2]}),
        ([KEYS[0]], [KEYS[1]], set()),  # a swapped key: no announcement can help
        ([KEYS[0], KEYS[1]], [KEYS[0]], set()),  # a removed key: neither
    ],
    ids=["one-new-key", "two-new-keys", "key-swapped", "key-removed"],
)
def test_rejection_names_the_keys_an_announcement_would_vouch_for(
    old: list[str], new: list[str], unannounced: set[str]
) -> None:
    # Issue 14: a peer refused only for unannounced keys may recover when they are announced.
    with pytest.raises(KeyChangeRejectedError) as caught:
        accept_key_change(keys(*old), keys(*new))
    assert caught.value.unannounced == unannounced
    if unannounced:
        assert accept_key_change(keys(*old), keys(*new), announced=unannounced)


def test_revocation_cannot_be_withdrawn_or_moved_later() -> None:
    old = keys(KEYS[0], revoked={"key-1": "2026-11-29T00:00:00Z"})
    with pytest.raises(KeyChangeRejectedError, match="withdrawn"):
        accept_key_change(old, keys(KEYS[0]))
    with pytest.raises(KeyChangeRejectedError, match="withdrawn"):
        accept_key_change(old, keys(KEYS[0], revoked={"key-1": "2026-11-30T00:00:00Z"}))


def test_resolve_respects_revocation_time() -> None:
    peer = keys(KEYS[0], revoked={"key-1": "2026-11-29T00:00:00Z"})
    vm = f"{DID}#key-1"
    assert peer.resolve(vm, datetime(2026, 11, 28, tzinfo=UTC)).controller == DID
    with pytest.raises(VerificationError) as caught:
        peer.resolve(vm, T)
    assert caught.value.code == "KEY_COMPROMISED"
    with pytest.raises(VerificationError) as unknown:
        peer.resolve(f"{DID}#key-9", T)
    assert unknown.value.code == "UNKNOWN_KEY"


def _auth_only(*mbs: str, extra: str) -> dict[str, Any]:
    """A document whose last method ``extra`` is listed only under ``authentication``."""
    document = doc(*mbs)
    vm = f"{DID}#key-{len(mbs) + 1}"
    document["verificationMethod"].append(
        {"id": vm, "type": "Multikey", "controller": DID, "publicKeyMultibase": extra}
    )
    document["authentication"] = [vm]
    return document


def test_first_contact_pins_keys_in_every_relationship() -> None:
    # Break 4: a key listed only under authentication was trusted without a pin.
    fetched = parse_did_document(_auth_only(KEYS[0], extra=KEYS[1]), DID)
    with pytest.raises(PinMismatchError, match="not pinned: " + KEYS[1]):
        accept_first_contact(fetched, [KEYS[0]])
    assert accept_first_contact(fetched, [KEYS[0], KEYS[1]]) is fetched


def test_a_key_gaining_a_relationship_is_a_key_change() -> None:
    old = parse_did_document(_auth_only(KEYS[0], extra=KEYS[1]), DID)
    document = _auth_only(KEYS[0], extra=KEYS[1])
    document["assertionMethod"].append(f"{DID}#key-2")
    promoted = parse_did_document(document, DID)
    with pytest.raises(KeyChangeRejectedError, match="gained assertionMethod"):
        accept_key_change(old, promoted)
    assert accept_key_change(old, promoted, repinned=[KEYS[1]]) is promoted
    assert accept_key_change(old, promoted, announced=[KEYS[1]]) is promoted


def test_a_key_leaving_a_relationship_is_allowed() -> None:
    # Routine rotation: the retired key leaves authentication, the new one was announced.
    old = keys(KEYS[0])
    new = keys(KEYS[0], KEYS[1])
    assert new.keys[f"{DID}#key-1"].relationships == {"assertionMethod"}
    assert accept_key_change(old, new, announced=[KEYS[1]]) is new
