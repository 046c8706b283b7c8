r"""C2SP checkpoints (c2sp.org/tlog-checkpoint) and their Ed25519 cosignatures (tlog-cosignature).

A checkpoint is a signed note whose text is ``origin``, the decimal tree size and the base64
root hash, one per line, then optional extension lines. This module builds and parses that
text strictly, signs and opens checkpoint notes, and makes and checks ``cosignature/v1``
Ed25519 cosignatures (signature type 0x04: a big-endian 8-byte timestamp followed by an
Ed25519 signature over ``"cosignature/v1\ntime <ts>\n" || checkpoint text``).

It does no I/O and never reads the clock: the cosigning time is an argument, and checking a
cosignature's timestamp against "now" is left to the caller. It does not implement ML-DSA-44
cosignatures (type 0x06).

Example:
    >>> from credentials.keys import PrivateKey
    >>> log_key = PrivateKey.from_seed(bytes(32))
    >>> cp = Checkpoint("example.com/log", 0, bytes.fromhex(
    ...     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
    >>> text = sign_checkpoint(cp, "example.com/log", log_key)
    >>> open_checkpoint(text, "example.com/log", "example.com/log", log_key.public_key) == cp
    True

"""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass

from credentials.errors import InvalidSignatureError
from credentials.keys import PrivateKey, PublicKey
from scan_attestation.note import (
    ED25519_TYPE,
    Note,
    NoteError,
    NoteSignature,
    decode_base64,
    format_note,
    key_id,
    parse_note,
    sign_note,
    signatures_for,
    verify_note_signature,
)

__all__ = [
    "COSIGNATURE_TYPE",
    "MAX_TIMESTAMP",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "CheckpointError",
    "cosign",
    "open_checkpoint",
    "parse_checkpoint",
    "sign_checkpoint",
    "verify_cosignature",
]

#: Signature type byte of Ed25519 ``cosignature/v1`` cosignatures (key IDs use it).
COSIGNATURE_TYPE = 0x04
#: Largest cosignature timestamp (tlog-cosignature: "MUST NOT exceed 2^63 - 1").
MAX_TIMESTAMP = 2**63 - 1
#: Largest tree size: sizes are uint64 in RFC 9162.
MAX_TREE_SIZE = 2**64 - 1

_HASH_SIZE = 32
_SIGNATURE_SIZE = 64
_TIMESTAMP = struct.Struct(">Q")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_COSIGNATURE_HEADER = "cosignature/v1\n"
_CONTROL = re.compile(r"[\x00-\x1f]")


class CheckpointError(NoteError):
    """A checkpoint text is malformed or does not match what the caller expects."""

    code = "MALFORMED_CHECKPOINT"


def _check_line(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise CheckpointError(f"checkpoint {what} must be a non-empty string")
    if _CONTROL.search(value):
        raise CheckpointError(f"checkpoint {what} contains a newline or control character")
    return value


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size and root hash (tlog-checkpoint, "Note text").

    Attributes:
        origin: The log's unique identity, e.g. ``"example.com/log42"``.
        size: The number of leaves.
        root: The 32-byte RFC 9162 root hash at ``size``.
        extensions: Opaque, non-empty extension lines (not recommended).

    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check every field.

        Raises:
            CheckpointError: An empty or multi-line origin or extension, a size outside
                0..2^64-1, or a root that is not 32 bytes.

        """
        _check_line(self.origin, "origin")
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise CheckpointError("checkpoint size must be an integer")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"checkpoint size must be in 0..2^64-1, got {self.size}")
        if not isinstance(self.root, bytes) or len(self.root) != _HASH_SIZE:
            raise CheckpointError("checkpoint root hash must be 32 bytes")
        if not isinstance(self.extensions, tuple):
            raise CheckpointError("checkpoint extensions must be a tuple of strings")
        for line in self.extensions:
            _check_line(line, "extension line")

    def body(self) -> str:
        r"""Return the note text: ``"origin\nsize\nbase64(root)\n"`` plus extension lines."""
        root = base64.b64encode(self.root).decode("ascii")
        lines = (self.origin, str(self.size), root, *self.extensions)
        return "".join(f"{line}\n" for line in lines)


def parse_checkpoint(note_text: str) -> Checkpoint:
    """Parse a checkpoint note text strictly (tlog-checkpoint, "Note text").

    Args:
        note_text: The note text (signatures removed), ending with a newline.

    Returns:
        The checkpoint.

    Raises:
        CheckpointError: Fewer than three lines, an empty line, no final newline, a size that
            is not decimal without leading zeros or exceeds 2^64-1, or a root hash that is not
            canonical base64 of 32 bytes.

    """
    if not isinstance(note_text, str) or not note_text.endswith("\n"):
        raise CheckpointError("checkpoint text must end with a newline")
    lines = note_text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint text needs origin, size and root hash lines")
    if any(not line for line in lines):
        raise CheckpointError("checkpoint text has an empty line")
    origin, size_text, root_text, *extensions = lines
    if not _DECIMAL.fullmatch(size_text):
        raise CheckpointError("checkpoint size is not a decimal without leading zeros")
    size = int(size_text)
    if size > MAX_TREE_SIZE:
        raise CheckpointError("checkpoint size exceeds 2^64-1")
    try:
        root = decode_base64(root_text, "checkpoint root hash")
    except NoteError as e:
        raise CheckpointError(e.message) from e
    if len(root) != _HASH_SIZE:
        raise CheckpointError(f"checkpoint root hash must be 32 bytes, got {len(root)}")
    return Checkpoint(origin, size, root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, name: str, private_key: PrivateKey) -> str:
    """Sign a checkpoint with the log's Ed25519 key.

    Args:
        checkpoint: The checkpoint.
        name: The log's key name (it SHOULD equal the origin).
        private_key: The log's signing key.

    Returns:
        The full signed note text.

    Raises:
        NoteError: The key name is invalid.

    """
    body = checkpoint.body()
    return format_note(Note(body, (sign_note(body, name, private_key),)))


def open_checkpoint(text: str | bytes, origin: str, name: str, public_key: PublicKey) -> Checkpoint:
    """Verify a signed checkpoint from a known log and return its contents.

    Steps: (1) parse the note (signed-note "Format"); (2) require a valid signature by
    ``(name, public_key)`` and ignore other signers (signed-note "Signatures"); (3) only then
    parse the text as a checkpoint and (4) require its origin to be ``origin``.

    Args:
        text: The signed note.
        origin: The origin the caller expects.
        name: The log's key name.
        public_key: The log's Ed25519 public key.

    Returns:
        The checkpoint.

    Raises:
        NoteError: The note is malformed, or the log's signature is missing or invalid.
        CheckpointError: The text is not a checkpoint or has another origin.

    """
    note = parse_note(text)
    if not verify_note_signature(note, name, public_key):
        if signatures_for(note, name, key_id(name, ED25519_TYPE, public_key.raw)):
            raise NoteError(f"checkpoint signature by {name!r} does not verify")
        raise NoteError(f"checkpoint has no signature by the log key {name!r}")
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return checkpoint


def _cosigned_message(checkpoint_body: str, timestamp: int) -> bytes:
    # tlog-cosignature "Ed25519 signed message": header line, timestamp line, checkpoint text.
    return f"{_COSIGNATURE_HEADER}time {timestamp}\n{checkpoint_body}".encode()


def cosign(
    checkpoint_body: str, witness_name: str, witness_key: PrivateKey, timestamp: int
) -> NoteSignature:
    """Make an Ed25519 ``cosignature/v1`` over a checkpoint (tlog-cosignature).

    Args:
        checkpoint_body: The checkpoint's note text (see :meth:`Checkpoint.body`), which must
            parse as a checkpoint.
        witness_name: The cosigner's key name.
        witness_key: The cosigner's Ed25519 key (distinct from any note-signing key).
        timestamp: The cosigning time, POSIX seconds, 0..2^63-1 (the caller's ``now``).

    Returns:
        The signature line: key ID with type 0x04, then the 8-byte big-endian timestamp and
        the 64-byte Ed25519 signature.

    Raises:
        CheckpointError: The body is not a checkpoint.
        NoteError: The name is invalid or the timestamp is out of range.

    """
    parse_checkpoint(checkpoint_body)
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise NoteError("cosignature timestamp must be an integer")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp must be in 0..2^63-1, got {timestamp}")
    kid = key_id(witness_name, COSIGNATURE_TYPE, witness_key.public_key.raw)
    signature = witness_key.sign(_cosigned_message(checkpoint_body, timestamp))
    return NoteSignature(witness_name, kid, _TIMESTAMP.pack(timestamp) + signature)


def verify_cosignature(note: Note, witness_name: str, witness_public_key: PublicKey) -> int | None:
    """Check a witness's Ed25519 cosignature on a checkpoint note.

    Signature lines whose name or type-0x04 key ID differ are ignored. Every line that
    matches must be a valid 72-byte timestamped signature over this note's text.

    Args:
        note: The parsed checkpoint note.
        witness_name: The cosigner's key name.
        witness_public_key: The cosigner's Ed25519 public key.

    Returns:
        The cosignature timestamp (the latest, if several lines match) when valid; ``None``
        when no line matches, a matching line does not verify, or the text is not a
        checkpoint. Comparing the timestamp with the current time is the caller's job.

    """
    try:
        kid = key_id(witness_name, COSIGNATURE_TYPE, witness_public_key.raw)
        parse_checkpoint(note.text)
    except NoteError:
        return None
    matching = signatures_for(note, witness_name, kid)
    if not matching:
        return None
    latest = -1
    for sig in matching:
        if len(sig.signature) != _TIMESTAMP.size + _SIGNATURE_SIZE:
            return None
        (timestamp,) = _TIMESTAMP.unpack_from(sig.signature)
        if timestamp > MAX_TIMESTAMP:
            return None
        try:
            witness_public_key.verify(
                sig.signature[_TIMESTAMP.size :], _cosigned_message(note.text, timestamp)
            )
        except InvalidSignatureError:
            return None
        latest = max(latest, timestamp)
    return latest
