"""Tests for node.keystore: the encrypted key store and passphrase sources."""

from __future__ import annotations

import base64
import copy
import json
import os
import pickle
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nacl.pwhash import argon2id
from nacl.secret import SecretBox

from credentials.keys import PrivateKey
from node.keystore import (
    DEFAULT_MEMLIMIT,
    DEFAULT_OPSLIMIT,
    KeyStore,
    KeyStoreError,
    WrongPassphraseError,
    read_passphrase,
)

PASSPHRASE = b"correct horse battery staple 7f3a"
CREATED = "2026-11-30T10:00:00Z"
FAST = {"opslimit": argon2id.OPSLIMIT_MIN, "memlimit": argon2id.MEMLIMIT_MIN}
SEED_A = bytes(range(32))
SEED_B = bytes(range(32, 64))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def make_store(path: Path) -> KeyStore:
    return KeyStore.create(path, PASSPHRASE, **FAST)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def store(store_dir: Path) -> KeyStore:
    return make_store(store_dir)


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_bytes())
    return data


def write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document))
    path.chmod(0o600)


# --- create / open ------------------------------------------------------------------------------


def test_create_open_round_trip(store_dir: Path) -> None:
    store = make_store(store_dir)
    key_a = PrivateKey.from_seed(SEED_A)
    store.add("node-a", key_a, created_at=CREATED)
    key_b = store.generate("node.b_2", created_at="2026-11-30T11:00:00+01:00")

    reopened = KeyStore.open(store_dir, PASSPHRASE)
    assert reopened.kids() == ["node-a", "node.b_2"]
    assert reopened.load("node-a") == key_a
    assert reopened.load("node.b_2") == key_b
    assert reopened.public_multibase("node-a") == key_a.public_key.multibase
    assert reopened.directory == store_dir

    manifest = read_json(store_dir / "keystore.json")
    assert manifest["version"] == 1
    assert manifest["kdf"] == "argon2id"
    assert (manifest["opslimit"], manifest["memlimit"]) == (FAST["opslimit"], FAST["memlimit"])
    assert len(base64.b64decode(manifest["salt"])) == 16
    record = read_json(store_dir / "node-a.key")
    assert record["kid"] == "node-a"
    assert record["publicKeyMultibase"] == key_a.public_key.multibase
    assert record["createdAt"] == CREATED
    # The seed is not on disk in any recognisable form.
    raw = (store_dir / "node-a.key").read_bytes()
    assert SEED_A not in raw
    assert base64.b64encode(SEED_A) not in raw
    assert key_a.multibase.encode() not in raw


def test_default_parameters_round_trip(store_dir: Path) -> None:
    store = KeyStore.create(store_dir, PASSPHRASE)
    key = store.generate("k1", created_at=CREATED)
    manifest = read_json(store_dir / "keystore.json")
    assert manifest["opslimit"] == DEFAULT_OPSLIMIT == argon2id.OPSLIMIT_INTERACTIVE
    assert manifest["memlimit"] == DEFAULT_MEMLIMIT == argon2id.MEMLIMIT_INTERACTIVE
    assert KeyStore.open(store_dir, PASSPHRASE).load("k1") == key


def test_salt_is_random(tmp_path: Path) -> None:
    make_store(tmp_path / "one")
    make_store(tmp_path / "two")
    salts = {read_json(tmp_path / name / "keystore.json")["salt"] for name in ("one", "two")}
    assert len(salts) == 2


def test_load_is_cached(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add("k", PrivateKey.from_seed(SEED_A), created_at=CREATED)
    reopened = KeyStore.open(store.directory, PASSPHRASE)
    first = reopened.load("k")
    (store.directory / "k.key").unlink()
    assert reopened.load("k") is first
    assert reopened.public_multibase("k") == first.public_key.multibase


def test_create_refuses_existing_store(store_dir: Path) -> None:
    make_store(store_dir)
    with pytest.raises(KeyStoreError, match="already exists"):
        make_store(store_dir)


def test_create_refuses_directory_with_key_files(store_dir: Path) -> None:
    store_dir.mkdir()
    (store_dir / "orphan.key").write_text("{}")
    with pytest.raises(KeyStoreError, match=r"holds key files but no keystore\.json"):
        make_store(store_dir)


def test_create_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(KeyStoreError, match="not a directory"):
        make_store(target)


def test_create_in_existing_directory_tightens_mode(store_dir: Path) -> None:
    store_dir.mkdir(mode=0o755)
    store_dir.chmod(0o755)
    make_store(store_dir)
    assert mode(store_dir) == 0o700


@pytest.mark.parametrize(
    ("params", "match"),
    [
        pytest.param({"opslimit": 0, "memlimit": argon2id.MEMLIMIT_MIN}, "opslimit", id="ops-0"),
        pytest.param({"opslimit": 33, "memlimit": argon2id.MEMLIMIT_MIN}, "opslimit", id="ops-33"),
        pytest.param({"opslimit": 1, "memlimit": 1024}, "memlimit", id="mem-too-small"),
        pytest.param({"opslimit": 1, "memlimit": 2**31}, "memlimit", id="mem-too-large"),
        pytest.param({"opslimit": True, "memlimit": argon2id.MEMLIMIT_MIN}, "opslimit", id="bool"),
    ],
)
def test_create_refuses_bad_parameters(store_dir: Path, params: dict[str, Any], match: str) -> None:
    with pytest.raises(KeyStoreError, match=match):
        KeyStore.create(store_dir, PASSPHRASE, **params)
    assert not (store_dir / "keystore.json").exists()


@pytest.mark.parametrize("passphrase", [b"", "text"], ids=["empty", "str"])
def test_refuses_bad_passphrase_value(store_dir: Path, passphrase: Any) -> None:
    with pytest.raises(KeyStoreError, match="passphrase"):
        KeyStore.create(store_dir, passphrase, **FAST)
    make_store(store_dir)
    with pytest.raises(KeyStoreError, match="passphrase"):
        KeyStore.open(store_dir, passphrase)


def test_wrong_passphrase_decrypts_no_key(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add("k", PrivateKey.from_seed(SEED_A), created_at=CREATED)
    seeds_built: list[bytes] = []
    original = PrivateKey.from_seed

    def spy(seed: bytes) -> PrivateKey:
        seeds_built.append(seed)
        return original(seed)

    monkeypatch.setattr(PrivateKey, "from_seed", staticmethod(spy))
    with pytest.raises(WrongPassphraseError) as info:
        KeyStore.open(store.directory, b"not the passphrase")
    assert info.value.code == "WRONG_PASSPHRASE"
    assert isinstance(info.value, KeyStoreError)
    assert "wrong passphrase" in info.value.diagnostics()
    assert seeds_built == []


def test_open_missing_store(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="does not exist"):
        KeyStore.open(tmp_path / "nowhere", PASSPHRASE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(KeyStoreError, match=r"keystore\.json is missing"):
        KeyStore.open(tmp_path / "empty", PASSPHRASE)
    (tmp_path / "file").write_text("x")
    with pytest.raises(KeyStoreError, match="not a directory"):
        KeyStore.open(tmp_path / "file", PASSPHRASE)


def _set(field: str, value: object) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        document[field] = value

    return edit


def _drop(field: str) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        del document[field]

    return edit


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        pytest.param(_set("version", 2), KeyStoreError, "unsupported format version 2", id="v2"),
        pytest.param(_set("version", True), KeyStoreError, "version True", id="version-bool"),
        pytest.param(_drop("version"), KeyStoreError, "version None", id="no-version"),
        pytest.param(_set("kdf", "scrypt"), KeyStoreError, "unsupported kdf", id="kdf"),
        pytest.param(_set("opslimit", "1"), KeyStoreError, "opslimit", id="opslimit-str"),
        pytest.param(_set("memlimit", 2**40), KeyStoreError, "memlimit", id="memlimit-huge"),
        pytest.param(_set("salt", "!!"), KeyStoreError, "salt is not valid base64", id="salt"),
        pytest.param(_set("salt", "AAAA"), KeyStoreError, "salt must be 16 bytes", id="salt-len"),
        pytest.param(_set("check", "x"), KeyStoreError, "'check' must be", id="check-type"),
        pytest.param(_set("salt", base64.b64encode(bytes(16)).decode()), WrongPassphraseError,
                     "salt or parameters", id="salt-changed"),
        pytest.param(_set("opslimit", 2), WrongPassphraseError, "wrong passphrase",
                     id="opslimit-changed"),
    ],
)  # fmt: skip
def test_open_refuses_altered_manifest(
    store_dir: Path,
    edit: Callable[[dict[str, Any]], None],
    error: type[KeyStoreError],
    match: str,
) -> None:
    make_store(store_dir)
    manifest = store_dir / "keystore.json"
    document = read_json(manifest)
    edit(document)
    write_json(manifest, document)
    with pytest.raises(error, match=match):
        KeyStore.open(store_dir, PASSPHRASE)


def test_open_refuses_corrupt_manifest(store_dir: Path) -> None:
    make_store(store_dir)
    manifest = store_dir / "keystore.json"
    manifest.write_bytes(b'{"version": 1,')
    with pytest.raises(KeyStoreError, match=r"keystore\.json is corrupt"):
        KeyStore.open(store_dir, PASSPHRASE)
    manifest.write_bytes(b"[1]")
    with pytest.raises(KeyStoreError, match="corrupt"):
        KeyStore.open(store_dir, PASSPHRASE)


# --- file modes and atomic writes ---------------------------------------------------------------


def test_file_modes(store: KeyStore) -> None:
    store.generate("k", created_at=CREATED)
    assert mode(store.directory) == 0o700
    assert mode(store.directory / "keystore.json") == 0o600
    assert mode(store.directory / "k.key") == 0o600
    assert sorted(os.listdir(store.directory)) == ["k.key", "keystore.json"]


@pytest.mark.parametrize("file_mode", [0o640, 0o604, 0o644, 0o660], ids=oct)
def test_key_file_too_wide_refused(store: KeyStore, file_mode: int) -> None:
    store.add("k", PrivateKey.from_seed(SEED_A), created_at=CREATED)
    path = store.directory / "k.key"
    path.chmod(file_mode)
    reopened = KeyStore.open(store.directory, PASSPHRASE)
    with pytest.raises(KeyStoreError) as info:
        reopened.load("k")
    assert str(path) in info.value.message
    assert f"chmod 600 {path}" in info.value.message
    with pytest.raises(KeyStoreError, match="chmod 600"):
        reopened.public_multibase("k")


def test_manifest_too_wide_refused(store_dir: Path) -> None:
    make_store(store_dir)
    (store_dir / "keystore.json").chmod(0o644)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        KeyStore.open(store_dir, PASSPHRASE)


def test_directory_writable_by_others_refused(store_dir: Path) -> None:
    make_store(store_dir)
    store_dir.chmod(0o770)
    with pytest.raises(KeyStoreError, match=f"chmod 700 {store_dir}"):
        KeyStore.open(store_dir, PASSPHRASE)


def test_symlinked_key_file_refused(store: KeyStore) -> None:
    store.add("k", PrivateKey.from_seed(SEED_A), created_at=CREATED)
    (store.directory / "k.key").rename(store.directory / "elsewhere")
    (store.directory / "k.key").symlink_to(store.directory / "elsewhere")
    reopened = KeyStore.open(store.directory, PASSPHRASE)
    with pytest.raises(KeyStoreError, match="symbolic link"):
        reopened.load("k")
    assert reopened.kids() == []


def test_crash_mid_write_leaves_no_partial_file(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(src: object, dst: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyStoreError, match="cannot write"):
        store.add("k", PrivateKey.from_seed(SEED_A), created_at=CREATED)
    monkeypatch.undo()
    assert not (store.directory / "k.key").exists()
    assert os.listdir(store.directory) == ["keystore.json"]
    assert store.kids() == []
    with pytest.raises(KeyStoreError, match="no key 'k'"):
        store.load("k")
    # The kid is free again once the disk recovers.
    store.add("k", PrivateKey.from_seed(SEED_A), created_at=CREATED)
    assert KeyStore.open(store.directory, PASSPHRASE).load("k").seed == SEED_A


def test_interrupt_mid_write_removes_temp_file(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        store.generate("k", created_at=CREATED)
    monkeypatch.undo()
    assert os.listdir(store.directory) == ["keystore.json"]


# --- tampering ----------------------------------------------------------------------------------


def _flip_b64(field: str, index: int = 0) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        data = bytearray(base64.b64decode(document[field]))
        data[index] ^= 0x01
        document[field] = base64.b64encode(bytes(data)).decode()

    return edit


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        pytest.param(_flip_b64("ciphertext"), "cannot decrypt", id="ciphertext-first-byte"),
        pytest.param(_flip_b64("ciphertext", -1), "cannot decrypt", id="ciphertext-last-byte"),
        pytest.param(_flip_b64("nonce"), "cannot decrypt", id="nonce"),
        pytest.param(_set("ciphertext", "AAAA"), "ciphertext must be 48 bytes", id="truncated"),
        pytest.param(_set("ciphertext", "A==A"), "not valid base64", id="bad-base64"),
        pytest.param(_set("nonce", 5), "nonce must be a base64 string", id="nonce-type"),
        pytest.param(
            _set("publicKeyMultibase", PrivateKey.from_seed(SEED_B).public_key.multibase),
            "cannot decrypt",
            id="public-key-swapped",
        ),
        pytest.param(_set("publicKeyMultibase", "z6Mkbad"), "publicKeyMultibase", id="bad-public"),
        pytest.param(_drop("publicKeyMultibase"), "publicKeyMultibase", id="no-public"),
        pytest.param(_set("kid", "other"), "holds key 'other', not 'k'", id="kid-changed"),
        pytest.param(_drop("createdAt"), "createdAt", id="no-created"),
        pytest.param(_set("version", 2), "unsupported format version", id="version"),
    ],
)
def test_tampered_key_file_refused(
    store: KeyStore, edit: Callable[[dict[str, Any]], None], match: str
) -> None:
    store.add("k", PrivateKey.from_seed(SEED_A), created_at=CREATED)
    path = store.directory / "k.key"
    document = read_json(path)
    edit(document)
    write_json(path, document)
    with pytest.raises(KeyStoreError, match=match):
        KeyStore.open(store.directory, PASSPHRASE).load("k")


def test_key_file_copied_to_another_kid_refused(store: KeyStore) -> None:
    store.add("a", PrivateKey.from_seed(SEED_A), created_at=CREATED)
    store.add("b", PrivateKey.from_seed(SEED_B), created_at=CREATED)
    directory = store.directory
    # Copied as is: the kid inside no longer matches the file name.
    (directory / "b.key").write_bytes((directory / "a.key").read_bytes())
    reopened = KeyStore.open(directory, PASSPHRASE)
    with pytest.raises(KeyStoreError, match="holds key 'a', not 'b'"):
        reopened.load("b")
    # Copied with the kid edited: the ciphertext is bound to kid "a" and does not decrypt.
    document = read_json(directory / "a.key")
    document["kid"] = "b"
    write_json(directory / "b.key", document)
    with pytest.raises(KeyStoreError, match="cannot decrypt"):
        reopened.load("b")
    assert reopened.load("a").seed == SEED_A


def test_seed_not_matching_public_key_refused(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Defence in depth: a ciphertext that authenticates but holds another seed is still refused.
    other = PrivateKey.from_seed(SEED_B)
    original_encrypt = SecretBox.encrypt

    def encrypt_other(box: Any, plaintext: bytes, *args: Any, **kwargs: Any) -> Any:
        return original_encrypt(box, other.seed, *args, **kwargs)

    monkeypatch.setattr(SecretBox, "encrypt", encrypt_other)
    store.add("k", PrivateKey.from_seed(SEED_A), created_at=CREATED)
    monkeypatch.undo()
    with pytest.raises(KeyStoreError, match="does not match publicKeyMultibase"):
        KeyStore.open(store.directory, PASSPHRASE).load("k")


def test_key_from_another_store_refused(tmp_path: Path) -> None:
    first = make_store(tmp_path / "first")
    second = make_store(tmp_path / "second")
    first.add("k", PrivateKey.from_seed(SEED_A), created_at=CREATED)
    (tmp_path / "first" / "k.key").rename(tmp_path / "second" / "k.key")
    with pytest.raises(KeyStoreError, match="cannot decrypt"):
        second.load("k")


# --- kids ---------------------------------------------------------------------------------------


def test_existing_kid_refused(store: KeyStore) -> None:
    store.add("k", PrivateKey.from_seed(SEED_A), created_at=CREATED)
    before = (store.directory / "k.key").read_bytes()
    with pytest.raises(KeyStoreError, match="already exists"):
        store.add("k", PrivateKey.from_seed(SEED_B), created_at=CREATED)
    with pytest.raises(KeyStoreError, match="already exists"):
        store.generate("k", created_at=CREATED)
    assert (store.directory / "k.key").read_bytes() == before
    assert store.load("k").seed == SEED_A


@pytest.mark.parametrize(
    "kid",
    [
        pytest.param("../x", id="parent"),
        pytest.param("", id="empty"),
        pytest.param("a/b", id="slash"),
        pytest.param("a" * 65, id="65-chars"),
        pytest.param("a b", id="space"),
        pytest.param("k\n", id="trailing-newline"),
        pytest.param(".hidden", id="leading-dot"),
        pytest.param("..", id="dotdot"),
        pytest.param("-k", id="leading-dash"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("k\x00", id="nul"),
        pytest.param("kéy", id="non-ascii"),
    ],
)
def test_bad_kid_refused(store: KeyStore, kid: str) -> None:
    with pytest.raises(KeyStoreError, match="invalid kid"):
        store.add(kid, PrivateKey.from_seed(SEED_A), created_at=CREATED)
    with pytest.raises(KeyStoreError, match="invalid kid"):
        store.generate(kid, created_at=CREATED)
    with pytest.raises(KeyStoreError, match="invalid kid"):
        store.load(kid)
    with pytest.raises(KeyStoreError, match="invalid kid"):
        store.public_multibase(kid)
    assert os.listdir(store.directory) == ["keystore.json"]


def test_longest_kid_accepted(store: KeyStore) -> None:
    kid = "a" * 64
    store.generate(kid, created_at=CREATED)
    assert store.kids() == [kid]


@pytest.mark.parametrize("created_at", ["2026-11-30T10:00:00", "yesterday", ""])
def test_bad_created_at_refused(store: KeyStore, created_at: str) -> None:
    with pytest.raises(KeyStoreError, match="createdAt"):
        store.add("k", PrivateKey.from_seed(SEED_A), created_at=created_at)
    assert store.kids() == []


def test_kids_ignores_other_files(store: KeyStore) -> None:
    store.generate("b", created_at=CREATED)
    store.generate("a", created_at=CREATED)
    directory = store.directory
    (directory / "notes.txt").write_text("x")
    (directory / ".a.key.0123.tmp").write_text("x")
    (directory / "-bad.key").write_text("x")
    (directory / "dir.key").mkdir()
    assert store.kids() == ["a", "b"]


def test_missing_kid(store: KeyStore) -> None:
    with pytest.raises(KeyStoreError, match="no key 'nope'"):
        store.load("nope")
    with pytest.raises(KeyStoreError, match="no key 'nope'"):
        store.public_multibase("nope")


def test_public_multibase_does_not_decrypt(store: KeyStore) -> None:
    key = PrivateKey.from_seed(SEED_A)
    store.add("k", key, created_at=CREATED)
    path = store.directory / "k.key"
    document = read_json(path)
    _flip_b64("ciphertext")(document)
    write_json(path, document)
    reopened = KeyStore.open(store.directory, PASSPHRASE)
    assert reopened.public_multibase("k") == key.public_key.multibase
    with pytest.raises(KeyStoreError, match="cannot decrypt"):
        reopened.load("k")


# --- no secrets in reprs or messages ------------------------------------------------------------


def _secret_strings(key: PrivateKey) -> list[str]:
    return [
        PASSPHRASE.decode(),
        key.multibase,
        key.seed.hex(),
        base64.b64encode(key.seed).decode(),
        repr(key.seed),
    ]


def test_no_secrets_in_reprs_or_errors(store: KeyStore, capsys: pytest.CaptureFixture[str]) -> None:
    key = PrivateKey.from_seed(SEED_A)
    store.add("k", key, created_at=CREATED)
    texts = [repr(store), str(store)]
    assert repr(store) == f"KeyStore(directory={str(store.directory)!r}, kids=['k'])"

    errors: list[KeyStoreError] = []
    for action in (
        lambda: KeyStore.open(store.directory, PASSPHRASE + b"!"),
        lambda: KeyStore.create(store.directory, PASSPHRASE, **FAST),
        lambda: store.add("k", key, created_at=CREATED),
        lambda: store.add("../k", key, created_at=CREATED),
    ):
        with pytest.raises(KeyStoreError) as info:
            action()
        errors.append(info.value)
    path = store.directory / "k.key"
    document = read_json(path)
    _flip_b64("ciphertext")(document)
    write_json(path, document)
    with pytest.raises(KeyStoreError) as info:
        KeyStore.open(store.directory, PASSPHRASE).load("k")
    errors.append(info.value)

    for error in errors:
        texts += [str(error), repr(error), error.diagnostics(), repr(error.__cause__)]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    for text in texts:
        for secret in _secret_strings(key):
            assert secret not in text, text


def test_store_cannot_be_pickled_or_copied(store: KeyStore) -> None:
    with pytest.raises(TypeError, match="master key"):
        pickle.dumps(store)
    with pytest.raises(TypeError, match="master key"):
        copy.copy(store)


def test_error_codes() -> None:
    assert KeyStoreError("x").code == "KEYSTORE_ERROR"
    assert WrongPassphraseError("x").code == "WRONG_PASSPHRASE"
    assert KeyStoreError("x").diagnostics() == "KEYSTORE_ERROR: x"


# --- read_passphrase ----------------------------------------------------------------------------


def write_secret(path: Path, data: bytes, file_mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(file_mode)
    return path


def test_passphrase_from_environment(tmp_path: Path) -> None:
    file = write_secret(tmp_path / "pass", b"from-file\n")
    environ = {"TRUSTLANE_KEYSTORE_PASSPHRASE": "from-env"}
    got = read_passphrase(env_var="TRUSTLANE_KEYSTORE_PASSPHRASE", file=file, environ=environ)
    assert got == b"from-env"


def test_passphrase_from_environment_non_ascii() -> None:
    environ = {"P": "pässwörd\udcff"}
    assert read_passphrase(env_var="P", file=None, environ=environ) == b"p\xc3\xa4ssw\xc3\xb6rd\xff"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"secret\n", b"secret", id="newline"),
        pytest.param(b"secret", b"secret", id="no-newline"),
        pytest.param(b"secret\r\n", b"secret", id="crlf"),
        pytest.param(b"secret\n\n", b"secret\n", id="only-one-newline"),
        pytest.param(b" secret \n", b" secret ", id="spaces-kept"),
    ],
)
def test_passphrase_from_file(tmp_path: Path, content: bytes, expected: bytes) -> None:
    file = write_secret(tmp_path / "pass", content)
    for environ in ({}, {"P": ""}):
        assert read_passphrase(env_var="P", file=file, environ=environ) == expected
    assert read_passphrase(env_var=None, file=file, environ={"P": "ignored"}) == expected


def test_passphrase_file_through_symlink(tmp_path: Path) -> None:
    target = write_secret(tmp_path / "target", b"secret\n")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert read_passphrase(env_var=None, file=link, environ={}) == b"secret"


def test_passphrase_missing() -> None:
    with pytest.raises(KeyStoreError, match=r"no key store passphrase: set \$P or a passphrase"):
        read_passphrase(env_var="P", file=None, environ={"P": ""})
    with pytest.raises(KeyStoreError, match="no key store passphrase: set a passphrase file"):
        read_passphrase(env_var=None, file=None, environ={})


@pytest.mark.parametrize("file_mode", [0o640, 0o604, 0o644, 0o666], ids=oct)
def test_passphrase_file_too_wide(tmp_path: Path, file_mode: int) -> None:
    file = write_secret(tmp_path / "pass", b"secret\n", file_mode)
    with pytest.raises(KeyStoreError) as info:
        read_passphrase(env_var=None, file=file, environ={})
    assert f"chmod 600 {file}" in info.value.message
    assert "secret" not in info.value.message.replace(str(file), "")


def test_passphrase_file_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="cannot read passphrase file"):
        read_passphrase(env_var=None, file=tmp_path / "missing", environ={})
    empty = write_secret(tmp_path / "empty", b"\n")
    with pytest.raises(KeyStoreError, match="is empty"):
        read_passphrase(env_var=None, file=empty, environ={})
    big = write_secret(tmp_path / "big", b"x" * 5000)
    with pytest.raises(KeyStoreError, match="larger than 4096 bytes"):
        read_passphrase(env_var=None, file=big, environ={})
    directory = tmp_path / "dir"
    directory.mkdir(mode=0o700)
    with pytest.raises(KeyStoreError, match="not a regular file"):
        read_passphrase(env_var=None, file=directory, environ={})


def test_passphrase_file_round_trip_with_store(tmp_path: Path) -> None:
    file = write_secret(tmp_path / "pass", PASSPHRASE + b"\n")
    passphrase = read_passphrase(env_var="P", file=file, environ={})
    store = KeyStore.create(tmp_path / "keys", passphrase, **FAST)
    key = store.generate("k", created_at=CREATED)
    assert KeyStore.open(tmp_path / "keys", PASSPHRASE).load("k") == key


def test_derived_secrets_are_stable_per_store_and_purpose(store_dir: Path, tmp_path: Path) -> None:
    store = make_store(store_dir)
    secret = store.derive_secret("risk/random-selection/v1")
    assert len(secret) == 32
    reopened = KeyStore.open(store_dir, PASSPHRASE)
    assert reopened.derive_secret("risk/random-selection/v1") == secret
    assert store.derive_secret("risk/random-selection/v2") != secret
    # Another store (another salt), same passphrase: an independent secret.
    assert make_store(tmp_path / "other").derive_secret("risk/random-selection/v1") != secret
    # Nothing of it is written anywhere in the store.
    for path in store_dir.iterdir():
        assert secret not in path.read_bytes()
        assert base64.b64encode(secret) not in path.read_bytes()
    for purpose in ("", "Risk", "a b", "x" * 65, "../x\n"):
        with pytest.raises(ValueError, match="purpose"):
            store.derive_secret(purpose)
