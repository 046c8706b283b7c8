"""The trader's wallet on disk: the holder key (encrypted at rest) and received credentials.

A wallet is a directory (mode 0700):

- ``wallet.json``: the format version, the holder's did:key and when the wallet was made (no
  secret; it lets ``list``, ``show``, ``export`` and ``delete`` work without the passphrase);
- ``keys/``: a :class:`~node.keystore.KeyStore` holding the holder's Ed25519 key as
  ``holder.key``, encrypted exactly as a node's keys are (Argon2id from the passphrase,
  SecretBox per key, 0600 files, atomic writes, group/other access refused);
- ``credentials/<ID>.json`` (0600): each received credential exactly as issued. ``ID`` is
  the first 16 hex digits of the SHA-256 of the credential's ``id``. Credentials are not
  encrypted: they are signed statements the issuer also publishes the status of, and they
  count for nothing without the holder key (a port checks that the holder signed the
  presentation).

Files are written atomically (a 0600 temporary file created with ``O_EXCL``, ``fsync``,
``os.replace``, ``fsync`` of the directory). Files or directories open to group or others
are refused with the ``chmod`` that fixes them. The passphrase and the key never appear in a
message. This module does not talk to the network (see :mod:`node.wallet.client`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from credentials.errors import MalformedInputError, TrustlaneError
from credentials.keys import PrivateKey
from credentials.model import VerifiableCredential, issuer_id
from credentials.strict_json import JSONObject, dumps, loads_object
from node.atomic_files import fsync_directory, write_atomic
from node.keystore import DEFAULT_MEMLIMIT, DEFAULT_OPSLIMIT, KeyStore, KeyStoreError
from node.keystore import WrongPassphraseError as _WrongKeyStorePassphrase

__all__ = [
    "FORMAT_VERSION",
    "HOLDER_KID",
    "StoredCredential",
    "Wallet",
    "WalletError",
    "WrongPassphraseError",
    "default_wallet_dir",
    "local_id",
    "write_private",
]

FORMAT_VERSION = 1
#: The kid of the holder key in the wallet's key store.
HOLDER_KID = "holder"
_MANIFEST = "wallet.json"
_KEYS = "keys"
_CREDENTIALS = "credentials"
_ID_HEX = 16
_MIN_PREFIX = 4
_MAX_FILE_BYTES = 1024 * 1024
_GROUP_OTHER = 0o077


class WalletError(TrustlaneError):
    """The wallet cannot be created, opened, read or written; the message says how to fix it."""

    code = "WALLET_ERROR"


class WrongPassphraseError(WalletError):
    """The passphrase does not open the wallet's key."""

    code = "WRONG_PASSPHRASE"


def default_wallet_dir(environ: Mapping[str, str]) -> Path:
    """``$TRUSTLANE_WALLET_DIR``, else ``~/.trustlane/wallet``."""
    value = environ.get("TRUSTLANE_WALLET_DIR")
    if value:
        return Path(value)
    return Path.home() / ".trustlane" / "wallet"


def local_id(credential_id: str) -> str:
    """The wallet's short id of a credential (16 hex digits of SHA-256 of its ``id``)."""
    return hashlib.sha256(credential_id.encode("utf-8")).hexdigest()[:_ID_HEX]


@dataclass(frozen=True)
class StoredCredential:
    """A credential in the wallet.

    Attributes:
        id: The wallet's id of it (16 hex digits).
        credential_id: Its ``id``.
        types: Its ``type`` values.
        issuer: Its issuer.
        valid_until: Its ``validUntil`` text, if any.
        name: The subject's ``legalName`` (AEO credentials), if any.
        document: The credential exactly as received.

    """

    id: str
    credential_id: str
    types: tuple[str, ...]
    issuer: str
    valid_until: str | None
    name: str | None
    document: JSONObject

    def summary(self) -> dict[str, object]:
        """What ``wallet list --json`` prints for it."""
        return {
            "id": self.id,
            "credentialId": self.credential_id,
            "type": list(self.types),
            "issuer": self.issuer,
            "validUntil": self.valid_until,
            "name": self.name,
        }


def _stored(document: JSONObject, where: str) -> StoredCredential:
    try:
        parsed = VerifiableCredential.from_dict(document)
    except MalformedInputError as e:
        raise WalletError(f"{where}: not a credential: {e.message}") from e
    credential_id = document.get("id")
    if not isinstance(credential_id, str):
        raise WalletError(f"{where}: the credential has no id")
    subject = parsed.subjects[0]
    name = subject.get("legalName")
    valid_until = document.get("validUntil")
    return StoredCredential(
        id=local_id(credential_id),
        credential_id=credential_id,
        types=parsed.types,
        issuer=issuer_id(document) or "",
        valid_until=valid_until if isinstance(valid_until, str) else None,
        name=name if isinstance(name, str) else None,
        document=document,
    )


class Wallet:
    """An opened wallet directory (see the module docstring)."""

    def __init__(self, directory: Path, holder: str) -> None:
        """Wrap an opened wallet; use :meth:`create` or :meth:`open` instead."""
        self.directory = directory
        self.holder = holder

    @classmethod
    def create(
        cls,
        directory: Path,
        passphrase: bytes,
        *,
        created: str,
        opslimit: int = DEFAULT_OPSLIMIT,
        memlimit: int = DEFAULT_MEMLIMIT,
    ) -> Wallet:
        """Make a new wallet with a fresh holder key.

        Args:
            directory: Where (created with mode 0700; it must not hold a wallet yet).
            passphrase: Encrypts the holder key (non-empty).
            created: When, as a dateTimeStamp string.
            opslimit: Argon2id time cost of the key store.
            memlimit: Argon2id memory cost of the key store.

        Returns:
            The wallet.

        Raises:
            WalletError: A wallet exists there already, or it cannot be written.
        """
        if (directory / _MANIFEST).exists():
            raise WalletError(f"a wallet already exists at {directory}")
        try:
            # Path.mkdir(parents=True) would make missing parents with the umask's mode
            # (~/.trustlane 0755): make each missing one 0700 instead.
            for folder in [*reversed(directory.parents), directory]:
                if not folder.exists():
                    folder.mkdir(mode=0o700)
            directory.chmod(0o700)
            (directory / _CREDENTIALS).mkdir(mode=0o700, exist_ok=True)
            store = KeyStore.create(
                directory / _KEYS, passphrase, opslimit=opslimit, memlimit=memlimit
            )
            key = store.generate(HOLDER_KID, created_at=created)
        except KeyStoreError as e:
            raise WalletError(f"cannot create the wallet: {e.message}") from e
        except OSError as e:
            raise WalletError(f"cannot create the wallet at {directory}: {_reason(e)}") from e
        manifest: JSONObject = {
            "version": FORMAT_VERSION,
            "holder": key.public_key.did,
            "createdAt": created,
        }
        _write_atomic(directory / _MANIFEST, dumps(manifest) + b"\n")
        return cls(directory, key.public_key.did)

    @classmethod
    def open(cls, directory: Path) -> Wallet:
        """Open an existing wallet (no passphrase needed until the key is used).

        Raises:
            WalletError: No wallet there, or its directory or manifest is unsafe or damaged.
        """
        _check_directory(
            directory, missing=f"no wallet at {directory} (run: trustlane wallet init)"
        )
        path = directory / _MANIFEST
        manifest = _read_json(
            path, missing=f"no wallet at {directory} (run: trustlane wallet init)"
        )
        holder = manifest.get("holder")
        if manifest.get("version") != FORMAT_VERSION or not isinstance(holder, str):
            raise WalletError(f"{path}: not a wallet of format version {FORMAT_VERSION}")
        if not holder.startswith("did:key:"):
            raise WalletError(f"{path}: the holder must be a did:key")
        return cls(directory, holder)

    def key(self, passphrase: bytes) -> PrivateKey:
        """Decrypt the holder key.

        Raises:
            WrongPassphraseError: The passphrase is wrong.
            WalletError: The key store is missing, unsafe or damaged, or holds another key.
        """
        try:
            key = KeyStore.open(self.directory / _KEYS, passphrase).load(HOLDER_KID)
        except _WrongKeyStorePassphrase as e:
            raise WrongPassphraseError(
                f"wrong passphrase for the wallet at {self.directory}"
            ) from e
        except KeyStoreError as e:
            raise WalletError(f"the wallet's key cannot be used: {e.message}") from e
        if key.public_key.did != self.holder:
            raise WalletError(f"the wallet's key is not {self.holder} (wallet.json was altered)")
        return key

    # -- credentials ---------------------------------------------------------------------

    def add(self, credential: JSONObject) -> StoredCredential:
        """Keep a received credential; it must be issued to this wallet's holder.

        Raises:
            WalletError: Not a credential, not issued to the holder, or already kept.
        """
        stored = _stored(credential, "received credential")
        subject = credential.get("credentialSubject")
        subjects = subject if isinstance(subject, list) else [subject]
        if not all(isinstance(s, dict) and s.get("id") == self.holder for s in subjects):
            raise WalletError(
                f"the credential is not issued to this wallet's holder {self.holder}; not kept"
            )
        path = self._path(stored.id)
        if path.exists():
            raise WalletError(f"credential {stored.credential_id} is already in the wallet")
        _write_atomic(path, dumps(credential) + b"\n")
        return stored

    def credentials(self) -> list[StoredCredential]:
        """Every credential in the wallet, by id.

        Raises:
            WalletError: A credential file is unsafe or damaged.
        """
        folder = self.directory / _CREDENTIALS
        try:
            names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
        except FileNotFoundError:
            return []
        except OSError as e:
            raise WalletError(f"cannot list {folder}: {_reason(e)}") from e
        return [self._load(folder / name) for name in names if not name.startswith(".")]

    def get(self, ref: str) -> StoredCredential:
        """The credential named by its wallet id, a unique prefix of it, or its ``id``.

        Raises:
            WalletError: None or several match.
        """
        found = [
            c
            for c in self.credentials()
            if ref == c.credential_id or (len(ref) >= _MIN_PREFIX and c.id.startswith(ref))
        ]
        if not found:
            raise WalletError(f"no credential {ref!r} in the wallet (see: trustlane wallet list)")
        if len(found) > 1:
            raise WalletError(f"{ref!r} names {len(found)} credentials; give more of its id")
        return found[0]

    def delete(self, ref: str) -> StoredCredential:
        """Remove a credential (see :meth:`get` for ``ref``).

        Raises:
            WalletError: None or several match, or the file cannot be removed.
        """
        found = self.get(ref)
        try:
            self._path(found.id).unlink()
        except OSError as e:
            raise WalletError(f"cannot delete {found.id}: {_reason(e)}") from e
        _fsync_directory(self.directory / _CREDENTIALS)
        return found

    def _path(self, wallet_id: str) -> Path:
        return self.directory / _CREDENTIALS / f"{wallet_id}.json"

    def _load(self, path: Path) -> StoredCredential:
        stored = _stored(_read_json(path, missing=f"{path} disappeared"), str(path))
        if path.name != f"{stored.id}.json":
            raise WalletError(f"{path} holds credential {stored.credential_id} of id {stored.id}")
        return stored


# -- files ------------------------------------------------------------------------------


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` atomically with mode 0600 (for presentations written with ``--out``).

    Raises:
        WalletError: It cannot be written.
    """
    _write_atomic(path, data)


def _check_directory(directory: Path, *, missing: str) -> None:
    try:
        status = directory.stat()
    except FileNotFoundError as e:
        raise WalletError(missing) from e
    except OSError as e:
        raise WalletError(f"cannot open {directory}: {_reason(e)}") from e
    if not stat.S_ISDIR(status.st_mode):
        raise WalletError(f"{directory} is not a directory")
    mode = stat.S_IMODE(status.st_mode)
    if mode & _GROUP_OTHER:
        raise WalletError(
            f"wallet directory {directory} has mode {mode:04o}, open to group or others; "
            f"run: chmod 700 {directory}"
        )


def _read_json(path: Path, *, missing: str) -> JSONObject:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError as e:
        raise WalletError(missing) from e
    except OSError as e:
        raise WalletError(f"cannot read {path}: {_reason(e)}") from e
    try:
        status = os.fstat(fd)
        mode = stat.S_IMODE(status.st_mode)
        if not stat.S_ISREG(status.st_mode):
            raise WalletError(f"{path} is not a regular file")
        if mode & _GROUP_OTHER:
            raise WalletError(
                f"{path} has mode {mode:04o}, open to group or others; run: chmod 600 {path}"
            )
        data = os.read(fd, _MAX_FILE_BYTES + 1)
    except OSError as e:
        raise WalletError(f"cannot read {path}: {_reason(e)}") from e
    finally:
        os.close(fd)
    if len(data) > _MAX_FILE_BYTES:
        raise WalletError(f"{path} is larger than {_MAX_FILE_BYTES} bytes")
    try:
        return loads_object(data)
    except MalformedInputError as e:
        raise WalletError(f"{path} is damaged: {e.message}") from e


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` atomically with mode 0600 (:func:`node.atomic_files.write_atomic`)."""
    try:
        write_atomic(path, data)
    except OSError as e:
        raise WalletError(f"cannot write {path}: {_reason(e)}") from e


def _fsync_directory(directory: Path) -> None:
    try:
        fsync_directory(directory)
    except OSError as e:
        raise WalletError(f"cannot sync directory {directory}: {_reason(e)}") from e


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__
