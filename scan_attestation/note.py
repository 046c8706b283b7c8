r"""C2SP signed notes (c2sp.org/signed-note): parse, format, sign and verify, and vkeys.

A signed note is a UTF-8 text ending in a newline, a blank line, then one or more signature
lines ``"— <key name> base64(key ID || signature)"``. This module parses notes strictly
(:func:`parse_note` raises :class:`NoteError` on anything malformed), formats them back
(:func:`format_note`), makes and checks Ed25519 signatures (signature type 0x01) and reads and
writes verifier keys (``name+hexkeyid+base64(type || key)``).

It does no I/O and knows nothing about checkpoints (see ``checkpoint.py``). Ed25519 itself is
done by :mod:`credentials.keys`.

Example:
    >>> from credentials.keys import PrivateKey
    >>> key = PrivateKey.from_seed(bytes(32))
    >>> text = "hello\n"
    >>> note = Note(text, (sign_note(text, "example.com/log", key),))
    >>> parsed = parse_note(format_note(note))
    >>> verify_note_signature(parsed, "example.com/log", key.public_key)
    True

"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import NamedTuple

from credentials.errors import InvalidSignatureError, MalformedInputError
from credentials.keys import PrivateKey, PublicKey

__all__ = [
    "ED25519_TYPE",
    "MAX_SIGNATURES",
    "Note",
    "NoteError",
    "NoteSignature",
    "VerifierKey",
    "check_key_name",
    "decode_base64",
    "format_note",
    "format_vkey",
    "key_id",
    "parse_note",
    "parse_vkey",
    "sign_note",
    "signatures_for",
    "verify_note_signature",
]

#: Signature type byte of plain Ed25519 note signatures (signed-note, "Signature types").
ED25519_TYPE = 0x01
#: Signature type byte of timestamped Ed25519 checkpoint cosignatures (c2sp.org/tlog-cosignature).
_COSIGNATURE_TYPE = 0x04
#: Most signature lines accepted in one note (the spec requires accepting at least 16).
MAX_SIGNATURES = 100

_EM_DASH = "\u2014"
_SIGNATURE_PREFIX = _EM_DASH + " "
_KEY_ID_SIZE = 4
_ED25519_KEY_SIZE = 32
# Every ASCII control character except newline (signed-note, "Format").
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class NoteError(MalformedInputError, ValueError):
    """A note, signature line, key name or vkey is malformed, or a required signature fails.

    It is a :class:`ValueError` for callers that treat it as bad input, and a
    :class:`credentials.errors.MalformedInputError` so the API maps it to a 4xx response.
    """

    code = "MALFORMED_NOTE"


def check_key_name(name: str) -> str:
    """Check a key name: non-empty, no Unicode space, no ``+`` (signed-note, "Format").

    Args:
        name: The key name.

    Returns:
        ``name`` unchanged.

    Raises:
        NoteError: The name breaks a rule above or contains a control character.

    """
    if not isinstance(name, str) or not name:
        raise NoteError("key name must be a non-empty string")
    if "+" in name:
        raise NoteError(f"key name {name!r} contains '+'")
    if any(ch.isspace() for ch in name) or _CONTROL.search(name):
        raise NoteError(f"key name {name!r} contains a space or control character")
    return name


def decode_base64(text: str, what: str) -> bytes:
    """Decode strict standard base64 (RFC 4648 section 4): padded and canonical.

    Args:
        text: The base64 text.
        what: What the text holds, for the error message.

    Returns:
        The decoded bytes.

    Raises:
        NoteError: The text is not canonical padded standard base64.

    """
    if not _BASE64.fullmatch(text):
        raise NoteError(f"{what} is not base64")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error as e:
        raise NoteError(f"{what} is not base64: {e}") from e
    # Non-zero padding bits decode too; re-encoding catches the second spelling of a value.
    if base64.b64encode(data).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64")
    return data


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise NoteError("note text must be a string")
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if _CONTROL.search(text):
        raise NoteError("note text contains a control character other than newline")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise NoteError("note text is not valid Unicode (lone surrogate)") from e


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note.

    Attributes:
        name: The key name.
        key_id: The 4-byte key ID.
        signature: The signature bytes after the key ID (for cosignatures, the
            timestamped signature: an 8-byte timestamp, then the Ed25519 signature).

    """

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        """Check the name, key ID length and signature.

        Raises:
            NoteError: The name is invalid, the key ID is not 4 bytes or the signature is empty.

        """
        check_key_name(self.name)
        if not isinstance(self.key_id, bytes) or len(self.key_id) != _KEY_ID_SIZE:
            raise NoteError("key ID must be 4 bytes")
        if not isinstance(self.signature, bytes) or not self.signature:
            raise NoteError("signature must be non-empty bytes")

    def line(self) -> str:
        r"""Return the signature line, ``"— name base64(key_id || signature)\n"``."""
        encoded = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{_SIGNATURE_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True)
class Note:
    """A note text and its signatures.

    Attributes:
        text: The signed text, including its final newline (not the blank separator line).
        signatures: The signature lines, in order.

    """

    text: str
    signatures: tuple[NoteSignature, ...] = ()

    def __post_init__(self) -> None:
        """Check the text and the number of signatures.

        Raises:
            NoteError: The text does not end with a newline, has a control character, or
                there are more than :data:`MAX_SIGNATURES` signatures.

        """
        _check_text(self.text)
        if len(self.signatures) > MAX_SIGNATURES:
            raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise NoteError(f"signature line does not start with an em dash and a space: {line!r:.80}")
    name, space, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not space:
        raise NoteError("signature line has no space between key name and signature")
    check_key_name(name)
    data = decode_base64(encoded, f"signature of key {name!r}")
    if len(data) <= _KEY_ID_SIZE:
        raise NoteError(f"signature of key {name!r} is shorter than 5 bytes")
    return NoteSignature(name, data[:_KEY_ID_SIZE], data[_KEY_ID_SIZE:])


def parse_note(data: bytes | str) -> Note:
    """Parse a signed note strictly (signed-note, "Format").

    Args:
        data: The note, as bytes (UTF-8) or text.

    Returns:
        The note. Its signatures are parsed but not verified.

    Raises:
        NoteError: The note is not UTF-8, has a control character other than newline, has no
            blank line before the signatures, has no signature or more than
            :data:`MAX_SIGNATURES`, has a malformed signature line, or does not end with a
            newline.

    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NoteError("note is not valid UTF-8") from e
    elif isinstance(data, str):
        text = data
    else:
        raise NoteError("note must be bytes or str")
    if _CONTROL.search(text):
        raise NoteError("note contains a control character other than newline")
    # The text is separated from the signatures by the last empty line.
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise NoteError("note has no signature lines after its last blank line")
    if not block.endswith("\n"):
        raise NoteError("note does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return Note(body, tuple(_parse_signature_line(line) for line in lines))


def format_note(note: Note) -> str:
    """Format a note: its text, a blank line, then its signature lines.

    Args:
        note: The note; it must have at least one signature.

    Returns:
        The note as text (encode it as UTF-8 to send it).

    Raises:
        NoteError: The note has no signature.

    """
    if not note.signatures:
        raise NoteError("a note needs at least one signature")
    return note.text + "\n" + "".join(sig.line() for sig in note.signatures)


def key_id(name: str, type_byte: int, public_key: bytes) -> bytes:
    """Compute a key ID: ``SHA-256(name || 0x0A || type || public key)[:4]``.

    Args:
        name: The key name.
        type_byte: The signature type identifier byte (0x01 for Ed25519 notes).
        public_key: The encoded public key.

    Returns:
        The 4-byte key ID.

    Raises:
        NoteError: The name is invalid or ``type_byte`` is not a byte value.

    """
    check_key_name(name)
    if not 0 <= type_byte <= 0xFF:
        raise NoteError(f"signature type must be a byte, got {type_byte}")
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([type_byte]) + public_key)
    return digest.digest()[:_KEY_ID_SIZE]


def sign_note(text: str, name: str, private_key: PrivateKey) -> NoteSignature:
    """Sign a note text with Ed25519 (signature type 0x01).

    Args:
        text: The note text, ending with a newline.
        name: The key name.
        private_key: The Ed25519 signing key.

    Returns:
        The signature line to attach.

    Raises:
        NoteError: The text or the name is invalid.

    """
    _check_text(text)
    kid = key_id(name, ED25519_TYPE, private_key.public_key.raw)
    return NoteSignature(name, kid, private_key.sign(text.encode("utf-8")))


def signatures_for(note: Note, name: str, kid: bytes) -> list[NoteSignature]:
    """Return the signature lines of ``note`` whose name and key ID both match.

    Args:
        note: The note.
        name: The key name.
        kid: The 4-byte key ID.

    Returns:
        The matching signatures, in note order (usually zero or one).

    """
    return [sig for sig in note.signatures if sig.name == name and sig.key_id == kid]


def verify_note_signature(note: Note, name: str, public_key: PublicKey) -> bool:
    """Check that ``note`` carries a valid Ed25519 signature by the key ``(name, public_key)``.

    Signature lines with another name or key ID are ignored (signed-note, "Signatures"). Every
    line that matches both must verify: one bad signature from a known key rejects the note.

    Args:
        note: The parsed note.
        name: The key name the verifier is configured with.
        public_key: The key's Ed25519 public key.

    Returns:
        ``True`` if at least one line matches and all matching lines verify; ``False``
        otherwise. Callers that must not ignore the result use
        :func:`scan_attestation.checkpoint.open_checkpoint`, which raises.

    """
    try:
        kid = key_id(name, ED25519_TYPE, public_key.raw)
    except NoteError:
        return False
    matching = signatures_for(note, name, kid)
    if not matching:
        return False
    message = note.text.encode("utf-8")
    for sig in matching:
        try:
            public_key.verify(sig.signature, message)
        except InvalidSignatureError:
            return False
    return True


class VerifierKey(NamedTuple):
    """A parsed vkey (signed-note, "Verifier keys").

    Attributes:
        name: The key name.
        key_id: The 4-byte key ID.
        type: The signature type byte (0x01 note signer, 0x04 cosigner).
        public_key: The Ed25519 public key.

    """

    name: str
    key_id: bytes
    type: int
    public_key: PublicKey


def format_vkey(name: str, public_key: PublicKey, type_byte: int = ED25519_TYPE) -> str:
    """Encode a verifier key: ``name+hex(key ID)+base64(type || key)``.

    Args:
        name: The key name.
        public_key: The Ed25519 public key.
        type_byte: 0x01 for a note signer (default) or 0x04 for a checkpoint cosigner.

    Returns:
        The vkey text.

    Raises:
        NoteError: The name is invalid or the type is not 0x01 or 0x04.

    """
    if type_byte not in (ED25519_TYPE, _COSIGNATURE_TYPE):
        raise NoteError(f"unsupported signature type 0x{type_byte:02x} for an Ed25519 key")
    kid = key_id(name, type_byte, public_key.raw)
    material = base64.b64encode(bytes([type_byte]) + public_key.raw).decode("ascii")
    return f"{name}+{kid.hex()}+{material}"


def parse_vkey(text: str) -> VerifierKey:
    """Parse a verifier key of an Ed25519 signer (type 0x01) or cosigner (type 0x04).

    Args:
        text: ``name+hex(key ID)+base64(type || 32-byte key)``.

    Returns:
        The parsed key.

    Raises:
        NoteError: The text does not have three parts, the key ID is not 8 lowercase hex
            digits, the key material is not base64, the type is unsupported, the key is
            not a valid Ed25519 public key, or the key ID does not match the name and key.

    """
    if not isinstance(text, str):
        raise NoteError("vkey must be a string")
    # The name and the hex key ID hold no '+'; the base64 key material may.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise NoteError("vkey must have three '+'-separated parts: name, key ID, key")
    name, kid_hex, material_b64 = parts
    check_key_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", kid_hex):
        raise NoteError("vkey key ID must be 8 lowercase hex digits")
    material = decode_base64(material_b64, "vkey key material")
    if not material or material[0] not in (ED25519_TYPE, _COSIGNATURE_TYPE):
        kind = f"0x{material[0]:02x}" if material else "missing"
        raise NoteError(f"vkey signature type {kind} is not supported (expected 0x01 or 0x04)")
    if len(material) != 1 + _ED25519_KEY_SIZE:
        raise NoteError(f"vkey Ed25519 key must be 32 bytes, got {len(material) - 1}")
    try:
        public_key = PublicKey(material[1:])
    except MalformedInputError as e:
        raise NoteError(f"vkey key is not a valid Ed25519 public key: {e}") from e
    kid = bytes.fromhex(kid_hex)
    if kid != key_id(name, material[0], public_key.raw):
        raise NoteError("vkey key ID does not match its name and key")
    return VerifierKey(name, kid, material[0], public_key)
