"""The wallet on disk: the holder key encrypted at rest, credentials kept 0600, atomically."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nacl.pwhash import argon2id

from credentials.aeo import build_aeo_credential
from credentials.keys import PrivateKey
from credentials.signing import sign_credential
from node.wallet.store import (
    Wallet,
    WalletError,
    WrongPassphraseError,
    default_wallet_dir,
    local_id,
)

FAST = {"opslimit": argon2id.OPSLIMIT_MIN, "memlimit": argon2id.MEMLIMIT_MIN}
PASSPHRASE = b"correct horse battery staple"
ISSUER = PrivateKey.from_seed(bytes(range(32)))


def issued_to(holder: str, number: int = 1) -> dict[str, Any]:
    """An AEO credential signed by a did:key issuer for ``holder``."""
    unsigned = build_aeo_credential(
        {
            "id": holder,
            "legalName": "Beispiel Logistik GmbH",
            "identifiers": [{"scheme": "EORI", "value": "DE123456789012345"}],
            "country": "DE",
            "authorisationNumber": "DEAEOF0000012345",
            "programme": "EU-AEO",
            "level": "AEOF",
            "roles": ["exporter"],
            "reassessmentDate": "2029-06-30T00:00:00Z",
        },
        issuer=ISSUER.public_key.did,
        credential_id=f"urn:uuid:3f1f0a2e-1111-4c1a-9c55-5a3ad7e4c00{number}",
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        valid_until=datetime(2029, 1, 1, tzinfo=UTC),
    )
    return sign_credential(
        unsigned,
        ISSUER,
        verification_method=ISSUER.public_key.verification_method_id,
        created=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.fixture
def wallet(tmp_path: Path) -> Wallet:
    return Wallet.create(tmp_path / "wallet", PASSPHRASE, created="2026-12-03T10:00:00Z", **FAST)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_makes_an_encrypted_did_key(wallet: Wallet) -> None:
    key = wallet.key(PASSPHRASE)
    assert wallet.holder == key.public_key.did
    assert wallet.holder.startswith("did:key:z6Mk")
    assert Wallet.open(wallet.directory).holder == wallet.holder
    key_file = wallet.directory / "keys" / "holder.key"
    raw = key_file.read_bytes()
    assert key.seed not in raw and key.seed.hex().encode() not in raw
    assert b"ciphertext" in raw


def test_files_and_directories_are_private(wallet: Wallet) -> None:
    wallet.add(issued_to(wallet.holder))
    assert _mode(wallet.directory) == 0o700
    assert _mode(wallet.directory / "credentials") == 0o700
    for path in wallet.directory.rglob("*"):
        if path.is_file():
            assert _mode(path) == 0o600, path
    assert not list(wallet.directory.rglob(".*.tmp"))


def test_wrong_passphrase_is_a_clear_error(wallet: Wallet) -> None:
    with pytest.raises(WrongPassphraseError, match="wrong passphrase for the wallet at"):
        wallet.key(b"not the passphrase")


def test_a_second_init_is_refused(wallet: Wallet) -> None:
    with pytest.raises(WalletError, match="already exists"):
        Wallet.create(wallet.directory, PASSPHRASE, created="2026-12-03T10:00:00Z", **FAST)


def test_open_without_wallet_says_how(tmp_path: Path) -> None:
    with pytest.raises(WalletError, match="trustlane wallet init"):
        Wallet.open(tmp_path / "none")


def test_a_directory_open_to_others_is_refused(wallet: Wallet) -> None:
    os.chmod(wallet.directory, 0o755)  # noqa: S103 - the unsafe mode under test
    with pytest.raises(WalletError, match="chmod 700"):
        Wallet.open(wallet.directory)


def test_a_credential_file_open_to_others_is_refused(wallet: Wallet) -> None:
    stored = wallet.add(issued_to(wallet.holder))
    os.chmod(wallet.directory / "credentials" / f"{stored.id}.json", 0o644)
    with pytest.raises(WalletError, match="chmod 600"):
        wallet.credentials()


def test_add_list_get_delete(wallet: Wallet) -> None:
    first = wallet.add(issued_to(wallet.holder, 1))
    second = wallet.add(issued_to(wallet.holder, 2))
    assert first.id == local_id(first.credential_id) and len(first.id) == 16
    assert [c.id for c in wallet.credentials()] == sorted([first.id, second.id])
    assert wallet.get(first.id[:6]).credential_id == first.credential_id
    assert wallet.get(second.credential_id).id == second.id
    assert wallet.get(first.id).document == issued_to(wallet.holder, 1)
    assert wallet.delete(first.id).id == first.id
    assert [c.id for c in wallet.credentials()] == [second.id]
    with pytest.raises(WalletError, match="no credential"):
        wallet.get(first.id)


def test_only_the_holders_credentials_are_kept(wallet: Wallet) -> None:
    with pytest.raises(WalletError, match="not issued to this wallet's holder"):
        wallet.add(issued_to(PrivateKey.generate().public_key.did))
    wallet.add(issued_to(wallet.holder))
    with pytest.raises(WalletError, match="already in the wallet"):
        wallet.add(issued_to(wallet.holder))


def test_a_damaged_credential_file_is_named(wallet: Wallet) -> None:
    stored = wallet.add(issued_to(wallet.holder))
    path = wallet.directory / "credentials" / f"{stored.id}.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(WalletError, match=str(path)):
        wallet.credentials()


def test_an_altered_manifest_is_detected(wallet: Wallet) -> None:
    manifest = wallet.directory / "wallet.json"
    document = json.loads(manifest.read_text(encoding="utf-8"))
    document["holder"] = PrivateKey.generate().public_key.did
    manifest.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(WalletError, match=r"wallet\.json was altered"):
        Wallet.open(wallet.directory).key(PASSPHRASE)


def test_default_dir() -> None:
    assert default_wallet_dir({"TRUSTLANE_WALLET_DIR": "/w"}) == Path("/w")
    assert default_wallet_dir({}) == Path.home() / ".trustlane" / "wallet"


def test_missing_parent_directories_are_private(tmp_path: Path) -> None:
    directory = tmp_path / "home" / ".trustlane" / "wallet"
    Wallet.create(directory, PASSPHRASE, created="2026-12-03T10:00:00Z", **FAST)
    assert _mode(tmp_path / "home" / ".trustlane") == 0o700
    assert _mode(tmp_path / "home") == 0o700
