"""The node's encrypted key store: Ed25519 signing keys encrypted at rest.

A key store is a directory (mode 0700) holding:

- ``keystore.json``: the format version, the KDF name (``"argon2id"``), its ``opslimit`` and
  ``memlimit``, a random 16-byte ``salt`` and a ``check`` value, the SecretBox encryption of a
  fixed marker under the master key. Opening the store decrypts the check value first, so a
  wrong passphrase gives :class:`WrongPassphraseError` before any key file is read.
- one ``<kid>.key`` file per key (mode 0600): the format version, the ``kid``, the
  ``publicKeyMultibase``, the ``createdAt`` string given by the caller, and the ``nonce`` and
  ``ciphertext`` (base64) of the 32-byte Ed25519 seed.

The master key is derived once per :class:`KeyStore` with Argon2id
(``crypto_pwhash``, libsodium) from the passphrase and the salt. Each key file is encrypted with
SecretBox (XSalsa20-Poly1305) under its own subkey, keyed BLAKE2b of the master key over the
kid and the public key. SecretBox has no additional data, so this subkey is what binds the
ciphertext to its kid and public key: a file copied to another kid, or whose
``publicKeyMultibase`` was edited, does not decrypt. On load the public key of the decrypted
seed is also compared with ``publicKeyMultibase``.

Files are written atomically (temporary file in the same directory created 0600 with
``O_EXCL``, ``fsync``, ``os.replace``, ``fsync`` of the directory). Files readable or writable by
group or others are refused, naming the file and the ``chmod`` that fixes it. The passphrase,
the master key and seeds never appear in an exception message, a ``repr`` or a log (this module
does not log at all).

It does not rotate keys, delete keys, change the passphrase, or lock against concurrent writers
(one node process owns its key store); a :class:`KeyStore` is not meant to be shared between
threads that add keys.

Example::

    >>> store = KeyStore.create(Path("keys"), b"correct horse battery staple")
    >>> key = store.generate("node-2026", created_at="2026-11-30T10:00:00Z")
    >>> KeyStore.open(Path("keys"), b"correct horse battery staple").load("node-2026") == key
    True
"""

from __future__ import annotations

import base64
import errno
import hmac
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.utils
from nacl.pwhash import argon2id
from nacl.secret import SecretBox

from credentials.datetimes import parse_datetime
from credentials.errors import MalformedInputError, TrustlaneError
from credentials.keys import PrivateKey, PublicKey
from credentials.strict_json import JSONObject, JSONValue, dumps, loads_object
from node.atomic_files import write_atomic

__all__ = [
    "DEFAULT_MEMLIMIT",
    "DEFAULT_OPSLIMIT",
    "FORMAT_VERSION",
    "MAX_MEMLIMIT",
    "MAX_OPSLIMIT",
    "KeyStore",
    "KeyStoreError",
    "WrongPassphraseError",
    "read_passphrase",
]

#: Version of the ``keystore.json`` and ``<kid>.key`` formats this module writes and reads.
FORMAT_VERSION = 1
#: Argon2id time cost for new key stores. libsodium's INTERACTIVE level (2 passes, 64 MiB)
#: derives in about 0.07 s on the 2-core reference box, against about 0.5 s for MODERATE
#: (3 passes, 256 MiB); every CLI command that signs opens the store, so MODERATE would be felt
#: on each call. Operators who want more pass ``opslimit``/``memlimit`` to :meth:`KeyStore.create`.
DEFAULT_OPSLIMIT: int = argon2id.OPSLIMIT_INTERACTIVE
#: Argon2id memory cost for new key stores, in bytes (see :data:`DEFAULT_OPSLIMIT`).
DEFAULT_MEMLIMIT: int = argon2id.MEMLIMIT_INTERACTIVE
#: Largest accepted ``opslimit``, so an altered ``keystore.json`` cannot stall the node.
MAX_OPSLIMIT = 32
#: Largest accepted ``memlimit`` (libsodium's SENSITIVE level, 1 GiB), for the same reason.
MAX_MEMLIMIT: int = argon2id.MEMLIMIT_SENSITIVE

_KDF_NAME = "argon2id"
_MANIFEST = "keystore.json"
_KEY_SUFFIX = ".key"
# A kid becomes a file name: no separators, no whitespace, no leading dot (which would make a
# hidden file, and "." / ".." are no names for a key), at most 64 characters.
_KID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CHECK_MARKER = b"trustlane key store check v1"
# BLAKE2b personalisation (16 bytes) of the per-key subkey derivation.
_SUBKEY_PERSON = b"trustlane-key-v1"
# BLAKE2b personalisation (16 bytes) of the derived secrets (see KeyStore.derive_secret).
_SECRET_PERSON = b"trustlane-sec-v1"
_PURPOSE = re.compile(r"[a-z0-9][a-z0-9./-]{0,63}")
_SEED_BYTES = 32
_CIPHERTEXT_BYTES = _SEED_BYTES + SecretBox.MACBYTES
_MAX_FILE_BYTES = 64 * 1024
_MAX_PASSPHRASE_BYTES = 4096
_GROUP_OTHER = 0o077
_GROUP_OTHER_WRITE = 0o022


class KeyStoreError(TrustlaneError):
    """The key store cannot be created, opened, read or written; the message says how to fix it."""

    code = "KEYSTORE_ERROR"


class WrongPassphraseError(KeyStoreError):
    """The passphrase does not open this key store (or its salt or KDF parameters were altered)."""

    code = "WRONG_PASSPHRASE"


@dataclass(frozen=True)
class _KeyRecord:
    """A parsed ``<kid>.key`` file, still encrypted."""

    kid: str
    public_key_multibase: str
    nonce: bytes
    ciphertext: bytes


class KeyStore:
    """A directory of Ed25519 private keys encrypted under one passphrase.

    Build one with :meth:`create` or :meth:`open`, which derive the master key once; keys loaded
    through the instance are then cached in memory.
    """

    __slots__ = ("_cache", "_directory", "_master_key")

    def __init__(self, directory: Path, master_key: bytes) -> None:
        """Wrap an opened store; use :meth:`create` or :meth:`open` instead."""
        self._directory = directory
        self._master_key = master_key
        self._cache: dict[str, PrivateKey] = {}

    def __repr__(self) -> str:
        """Show the directory and the kids only, never key material."""
        try:
            kids: object = self.kids()
        except KeyStoreError:
            kids = "<unreadable>"
        return f"KeyStore(directory={str(self._directory)!r}, kids={kids!r})"

    def __reduce__(self) -> NoReturn:
        """Refuse pickling and copying: the instance holds the master key."""
        raise TypeError("KeyStore holds the master key and cannot be pickled or copied")

    @property
    def directory(self) -> Path:
        """The key store directory."""
        return self._directory

    @classmethod
    def create(
        cls,
        directory: Path,
        passphrase: bytes,
        *,
        opslimit: int = DEFAULT_OPSLIMIT,
        memlimit: int = DEFAULT_MEMLIMIT,
    ) -> KeyStore:
        """Create an empty key store in ``directory`` (created if needed, set to mode 0700).

        Args:
            directory: The key store directory. It may exist, but must not hold a key store or
                key files already.
            passphrase: The passphrase (non-empty bytes).
            opslimit: Argon2id time cost, from ``argon2id.OPSLIMIT_MIN`` to :data:`MAX_OPSLIMIT`.
            memlimit: Argon2id memory cost in bytes, from ``argon2id.MEMLIMIT_MIN`` to
                :data:`MAX_MEMLIMIT`.

        Returns:
            The opened, empty key store.

        Raises:
            KeyStoreError: The passphrase is empty, a parameter is out of range, ``directory``
                is not a directory or already holds a key store or key files, or a file cannot
                be written.

        """
        _require_passphrase(passphrase)
        _kdf_params(opslimit, memlimit, where="key store parameters")
        manifest = directory / _MANIFEST
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if manifest.exists() or manifest.is_symlink():
                raise KeyStoreError(f"a key store already exists at {directory}; open it instead")
            if any(name.endswith(_KEY_SUFFIX) for name in os.listdir(directory)):
                raise KeyStoreError(
                    f"{directory} holds key files but no {_MANIFEST}; refusing to create a key "
                    "store over them (move them away or restore the manifest)"
                )
            # mkdir's mode is filtered by the umask and ignored for an existing directory.
            directory.chmod(0o700)
        except (FileExistsError, NotADirectoryError) as e:
            raise KeyStoreError(f"cannot create key store: {directory} is not a directory") from e
        except OSError as e:
            raise KeyStoreError(f"cannot create key store at {directory}: {_reason(e)}") from e
        salt = nacl.utils.random(argon2id.SALTBYTES)
        master_key = _derive_master_key(passphrase, salt, opslimit, memlimit)
        check = SecretBox(master_key).encrypt(_CHECK_MARKER)
        document: JSONObject = {
            "version": FORMAT_VERSION,
            "kdf": _KDF_NAME,
            "opslimit": opslimit,
            "memlimit": memlimit,
            "salt": _b64(salt),
            "check": {"nonce": _b64(check.nonce), "ciphertext": _b64(check.ciphertext)},
        }
        _write_atomic(manifest, _to_json(document))
        return cls(directory, master_key)

    @classmethod
    def open(cls, directory: Path, passphrase: bytes) -> KeyStore:
        """Open an existing key store and check the passphrase.

        The KDF parameters and salt are read from ``keystore.json``; the master key is derived
        once, then the check value is decrypted, so a wrong passphrase is reported before any
        key file is read.

        Args:
            directory: The key store directory.
            passphrase: The passphrase.

        Returns:
            The opened key store.

        Raises:
            WrongPassphraseError: The passphrase is wrong (or the salt or parameters in
                ``keystore.json`` were altered).
            KeyStoreError: There is no key store at ``directory``, the directory is writable by
                group or others, ``keystore.json`` is readable by group or others, is not
                valid JSON, has an unsupported version or KDF, or a field is missing or invalid.

        """
        _require_passphrase(passphrase)
        _check_directory(directory)
        path = directory / _MANIFEST
        raw = _read_store_file(path, missing=f"no key store at {directory}: {_MANIFEST} is missing")
        document = _parse_versioned(raw, path)
        kdf = document.get("kdf")
        if kdf != _KDF_NAME:
            raise KeyStoreError(f"{path}: unsupported kdf {_show(kdf)}, expected {_KDF_NAME!r}")
        opslimit, memlimit = _kdf_params(
            document.get("opslimit"), document.get("memlimit"), where=str(path)
        )
        salt = _b64_field(document, "salt", argon2id.SALTBYTES, path)
        check = document.get("check")
        if not isinstance(check, dict):
            raise KeyStoreError(f"{path}: 'check' must be an object with nonce and ciphertext")
        nonce = _b64_field(check, "nonce", SecretBox.NONCE_SIZE, path)
        ciphertext = _b64_field(check, "ciphertext", len(_CHECK_MARKER) + SecretBox.MACBYTES, path)
        master_key = _derive_master_key(passphrase, salt, opslimit, memlimit)
        try:
            marker = SecretBox(master_key).decrypt(ciphertext, nonce)
        except nacl.exceptions.CryptoError as e:
            raise WrongPassphraseError(
                f"wrong passphrase for the key store at {directory} "
                f"(or the salt or parameters in {_MANIFEST} were altered)"
            ) from e
        if not hmac.compare_digest(marker, _CHECK_MARKER):
            raise KeyStoreError(f"{path}: the check value decrypts to an unexpected marker")
        return cls(directory, master_key)

    def add(self, kid: str, key: PrivateKey, *, created_at: str) -> None:
        """Encrypt ``key`` and store it as ``<kid>.key``.

        Args:
            kid: The key id: 1 to 64 of ``A-Z a-z 0-9 . _ -``, not starting with ``.``, ``_``
                or ``-``.
            key: The private key.
            created_at: When the key was made, an XML Schema ``dateTimeStamp`` string
                (``"2026-11-30T10:00:00Z"``); stored as given.

        Raises:
            KeyStoreError: ``kid`` is not acceptable or already exists, ``created_at`` is not a
                date-time with a time zone, or the file cannot be written (no partial file is
                left behind).

        """
        _check_kid(kid)
        try:
            parse_datetime(created_at, field="createdAt")
        except MalformedInputError as e:
            raise KeyStoreError(f"cannot add key {kid!r}: {e.message}") from e
        path = self._key_path(kid)
        if path.exists() or path.is_symlink():
            raise KeyStoreError(f"key {kid!r} already exists in the key store at {self._directory}")
        public = key.public_key.multibase
        sealed = SecretBox(self._subkey(kid, public)).encrypt(key.seed)
        document: JSONObject = {
            "version": FORMAT_VERSION,
            "kid": kid,
            "publicKeyMultibase": public,
            "createdAt": created_at,
            "nonce": _b64(sealed.nonce),
            "ciphertext": _b64(sealed.ciphertext),
        }
        _write_atomic(path, _to_json(document))
        self._cache[kid] = key

    def generate(self, kid: str, *, created_at: str) -> PrivateKey:
        """Generate a new Ed25519 key and store it as ``<kid>.key``.

        Args:
            kid: The key id (see :meth:`add`).
            created_at: When the key was made (see :meth:`add`).

        Returns:
            The new private key.

        Raises:
            KeyStoreError: As for :meth:`add`.

        """
        key = PrivateKey.generate()
        self.add(kid, key, created_at=created_at)
        return key

    def load(self, kid: str) -> PrivateKey:
        """Decrypt and return the key ``kid`` (cached in memory after the first load).

        Args:
            kid: The key id.

        Returns:
            The private key.

        Raises:
            KeyStoreError: ``kid`` is not acceptable or not in the store, the key file is
                readable by group or others, malformed, altered, copied from another kid, or its
                seed does not match its ``publicKeyMultibase``.

        """
        _check_kid(kid)
        cached = self._cache.get(kid)
        if cached is not None:
            return cached
        record = self._read_record(kid)
        path = self._key_path(kid)
        try:
            seed = SecretBox(self._subkey(kid, record.public_key_multibase)).decrypt(
                record.ciphertext, record.nonce
            )
        except nacl.exceptions.CryptoError as e:
            raise KeyStoreError(
                f"{path}: cannot decrypt key {kid!r}: the file was altered, or was copied from "
                "another kid, public key or key store"
            ) from e
        key = PrivateKey.from_seed(seed)
        if key.public_key != PublicKey.from_multibase(record.public_key_multibase):
            raise KeyStoreError(f"{path}: the decrypted key does not match publicKeyMultibase")
        self._cache[kid] = key
        return key

    def kids(self) -> list[str]:
        """List the key ids in the store, sorted.

        Returns:
            The kids of the ``<kid>.key`` regular files in the directory.

        Raises:
            KeyStoreError: The directory cannot be listed.

        """
        try:
            with os.scandir(self._directory) as entries:
                names = [
                    entry.name[: -len(_KEY_SUFFIX)]
                    for entry in entries
                    if entry.name.endswith(_KEY_SUFFIX) and entry.is_file(follow_symlinks=False)
                ]
        except OSError as e:
            raise KeyStoreError(f"cannot list the key store {self._directory}: {_reason(e)}") from e
        return sorted(name for name in names if _KID.fullmatch(name))

    def derive_secret(self, purpose: str) -> bytes:
        """Return a 32-byte secret for ``purpose``, derived from the master key.

        The same store (passphrase and salt) always gives the same secret, so it needs no
        file of its own and lives no longer in clear than the process; different purposes
        give independent secrets (keyed BLAKE2b over the purpose, personalised apart from
        the key file subkeys). Nothing derived here can decrypt a key file.

        Args:
            purpose: What the secret is for, e.g. ``risk/random-selection/v1`` (lower-case
                letters, digits, ``.``, ``/``, ``-``; at most 64 characters).

        Raises:
            ValueError: ``purpose`` is not of that shape.
        """
        if not isinstance(purpose, str) or not _PURPOSE.fullmatch(purpose):
            raise ValueError("a secret purpose is 1-64 of a-z 0-9 . / -")
        return nacl.hash.blake2b(
            purpose.encode("ascii"),
            digest_size=32,
            key=self._master_key,
            person=_SECRET_PERSON,
            encoder=nacl.encoding.RawEncoder,
        )

    def public_multibase(self, kid: str) -> str:
        """Return the ``publicKeyMultibase`` of key ``kid`` without decrypting it.

        Args:
            kid: The key id.

        Returns:
            The Ed25519 public Multikey (``"z6Mk..."``) recorded in the key file.

        Raises:
            KeyStoreError: As for :meth:`load`, except that the ciphertext is not checked.

        """
        _check_kid(kid)
        cached = self._cache.get(kid)
        if cached is not None:
            return cached.public_key.multibase
        return self._read_record(kid).public_key_multibase

    def _key_path(self, kid: str) -> Path:
        """Return the path of ``<kid>.key``."""
        return self._directory / f"{kid}{_KEY_SUFFIX}"

    def _subkey(self, kid: str, public_key_multibase: str) -> bytes:
        """Derive the SecretBox key of one key file, bound to its kid and public key."""
        # NUL cannot occur in a kid (see _KID), so kid || 0 || public key is unambiguous.
        context = kid.encode("ascii") + b"\x00" + public_key_multibase.encode("ascii")
        return nacl.hash.blake2b(
            context,
            digest_size=SecretBox.KEY_SIZE,
            key=self._master_key,
            person=_SUBKEY_PERSON,
            encoder=nacl.encoding.RawEncoder,
        )

    def _read_record(self, kid: str) -> _KeyRecord:
        """Read and check ``<kid>.key`` without decrypting it."""
        path = self._key_path(kid)
        raw = _read_store_file(
            path, missing=f"no key {kid!r} in the key store at {self._directory}"
        )
        document = _parse_versioned(raw, path)
        stored_kid = document.get("kid")
        if stored_kid != kid:
            raise KeyStoreError(
                f"{path} holds key {_show(stored_kid)}, not {kid!r} (was it renamed or copied?)"
            )
        public = document.get("publicKeyMultibase")
        if not isinstance(public, str):
            raise KeyStoreError(f"{path}: publicKeyMultibase must be a string")
        try:
            PublicKey.from_multibase(public)
        except MalformedInputError as e:
            raise KeyStoreError(f"{path}: publicKeyMultibase: {e.message}") from e
        if not isinstance(document.get("createdAt"), str):
            raise KeyStoreError(f"{path}: createdAt must be a string")
        return _KeyRecord(
            kid=kid,
            public_key_multibase=public,
            nonce=_b64_field(document, "nonce", SecretBox.NONCE_SIZE, path),
            ciphertext=_b64_field(document, "ciphertext", _CIPHERTEXT_BYTES, path),
        )


def read_passphrase(*, env_var: str | None, file: Path | None, environ: Mapping[str, str]) -> bytes:
    """Read the key store passphrase from the environment or from a file.

    The environment variable wins when it is set and non-empty. A passphrase file must not be
    readable or writable by group or others; one trailing newline (LF or CR LF) is
    stripped from it.

    Args:
        env_var: Name of the environment variable holding the passphrase, or None.
        file: Path of the passphrase file, or None.
        environ: The environment to read (the caller passes ``os.environ``).

    Returns:
        The passphrase bytes (the variable is encoded as UTF-8, with surrogate escapes as
        ``os.environb`` would give them).

    Raises:
        KeyStoreError: Neither source gives a passphrase, or the file cannot be read, is not a
            regular file, is readable by group or others, is empty or larger than 4 KiB.

    """
    if env_var is not None:
        value = environ.get(env_var, "")
        if value:
            return value.encode("utf-8", "surrogateescape")
    if file is not None:
        return _read_passphrase_file(file)
    hint = f"set ${env_var} or a passphrase file" if env_var else "set a passphrase file"
    raise KeyStoreError(f"no key store passphrase: {hint}")


def _read_passphrase_file(path: Path) -> bytes:
    """Read a passphrase file (symbolic links followed, e.g. mounted secrets)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise KeyStoreError(f"cannot read passphrase file {path}: {_reason(e)}") from e
    try:
        data = _read_checked(fd, path, what="passphrase file", limit=_MAX_PASSPHRASE_BYTES)
    finally:
        os.close(fd)
    if data.endswith(b"\n"):
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
    if not data:
        raise KeyStoreError(f"passphrase file {path} is empty")
    return data


def _read_store_file(path: Path, *, missing: str) -> bytes:
    """Read a key store file, refusing symbolic links and modes wider than 0600."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError as e:
        raise KeyStoreError(missing) from e
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise KeyStoreError(
                f"{path} is a symbolic link; key store files must be regular files"
            ) from e
        raise KeyStoreError(f"cannot read {path}: {_reason(e)}") from e
    try:
        return _read_checked(fd, path, what="key store file", limit=_MAX_FILE_BYTES)
    finally:
        os.close(fd)


def _read_checked(fd: int, path: Path, *, what: str, limit: int) -> bytes:
    """Check that ``fd`` is a private regular file and read at most ``limit`` bytes of it."""
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise KeyStoreError(f"{what} {path} is not a regular file")
        mode = stat.S_IMODE(status.st_mode)
        if mode & _GROUP_OTHER:
            raise KeyStoreError(
                f"{what} {path} has mode {mode:04o}, open to group or others; run: chmod 600 {path}"
            )
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise KeyStoreError(f"cannot read {what} {path}: {_reason(e)}") from e
    if size > limit:
        raise KeyStoreError(f"{what} {path} is larger than {limit} bytes")
    return b"".join(chunks)


def _check_directory(directory: Path) -> None:
    """Check that ``directory`` exists, is a directory and is not writable by group/others."""
    try:
        status = directory.stat()
    except FileNotFoundError as e:
        raise KeyStoreError(f"no key store at {directory}: the directory does not exist") from e
    except OSError as e:
        raise KeyStoreError(f"cannot open the key store at {directory}: {_reason(e)}") from e
    if not stat.S_ISDIR(status.st_mode):
        raise KeyStoreError(f"no key store at {directory}: not a directory")
    mode = stat.S_IMODE(status.st_mode)
    if mode & _GROUP_OTHER_WRITE:
        raise KeyStoreError(
            f"key store directory {directory} has mode {mode:04o}, writable by group or others; "
            f"run: chmod 700 {directory}"
        )


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` atomically with mode 0600 (:func:`node.atomic_files.write_atomic`)."""
    try:
        write_atomic(path, data)
    except OSError as e:
        raise KeyStoreError(f"cannot write {path}: {_reason(e)}") from e


def _derive_master_key(passphrase: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    """Derive the SecretBox master key with Argon2id (the one slow step)."""
    try:
        return argon2id.kdf(
            SecretBox.KEY_SIZE, passphrase, salt, opslimit=opslimit, memlimit=memlimit
        )
    except (nacl.exceptions.CryptoError, MemoryError) as e:
        raise KeyStoreError(
            f"Argon2id key derivation failed (opslimit={opslimit}, memlimit={memlimit})"
        ) from e


def _require_passphrase(passphrase: object) -> None:
    """Refuse a passphrase that is not non-empty bytes (without ever showing it)."""
    if not isinstance(passphrase, bytes):
        raise KeyStoreError(f"the passphrase must be bytes, got {type(passphrase).__name__}")
    if not passphrase:
        raise KeyStoreError("the key store passphrase is empty")


def _check_kid(kid: object) -> None:
    """Refuse a kid that is not a safe file name."""
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise KeyStoreError(
            f"invalid kid {_show(kid)}: use 1 to 64 of A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )


def _kdf_params(opslimit: object, memlimit: object, *, where: str) -> tuple[int, int]:
    """Return the Argon2id parameters if they are integers within the accepted bounds."""
    return (
        _bounded_int(opslimit, "opslimit", argon2id.OPSLIMIT_MIN, MAX_OPSLIMIT, where),
        _bounded_int(memlimit, "memlimit", argon2id.MEMLIMIT_MIN, MAX_MEMLIMIT, where),
    )


def _bounded_int(value: object, name: str, low: int, high: int, where: str) -> int:
    """Return ``value`` if it is an int (not a bool) from ``low`` to ``high``."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise KeyStoreError(
            f"{where}: {name} must be an integer from {low} to {high}, got {_show(value)}"
        )
    return value


def _parse_versioned(raw: bytes, path: Path) -> JSONObject:
    """Parse a key store JSON file and check its format version."""
    try:
        document = loads_object(raw)
    except MalformedInputError as e:
        raise KeyStoreError(f"{path} is corrupt: {e.message}") from e
    version = document.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise KeyStoreError(
            f"{path}: unsupported format version {_show(version)} "
            f"(this trustlane reads version {FORMAT_VERSION})"
        )
    return document


def _b64(data: bytes) -> str:
    """Encode bytes as standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def _b64_field(document: Mapping[str, JSONValue], name: str, length: int, path: Path) -> bytes:
    """Decode the base64 member ``name`` and check it is ``length`` bytes long."""
    value = document.get(name)
    if not isinstance(value, str):
        raise KeyStoreError(f"{path}: {name} must be a base64 string")
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except ValueError as e:  # binascii.Error and UnicodeEncodeError are ValueErrors.
        raise KeyStoreError(f"{path}: {name} is not valid base64") from e
    if len(data) != length:
        raise KeyStoreError(f"{path}: {name} must be {length} bytes, got {len(data)}")
    return data


def _to_json(document: JSONObject) -> bytes:
    """Serialize a key store file (compact JSON plus a newline)."""
    return dumps(document) + b"\n"


def _show(value: object) -> str:
    """Show a non-secret value from a file or argument, shortened, for an error message."""
    text = repr(value)
    return text if len(text) <= 70 else text[:67] + "..."


def _reason(error: OSError) -> str:
    """Return the OS's explanation of ``error`` without the repeated file name."""
    return error.strerror or type(error).__name__
