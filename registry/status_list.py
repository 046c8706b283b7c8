"""W3C Bitstring Status List v1.0: the bitstring, status entries and the status check.

Implements https://www.w3.org/TR/vc-bitstring-status-list/ as far as a trustlane node needs it:

- :class:`BitstringStatusList`, the bitstring itself, with the spec's bit order (index 0 is
  the most significant bit of byte 0), the Bitstring Generation Algorithm (:meth:`encode`:
  GZIP, then Multibase base64url without padding, prefix ``u``) and the Bitstring Expansion
  Algorithm (:meth:`decode`), bounded so that a GZIP bomb cannot allocate more than the list
  size cap;
- :class:`StatusListEntry`, one ``BitstringStatusListEntry`` of a credential's
  ``credentialStatus``, and :func:`status_entries_of`;
- :func:`build_status_list_credential`, an UNSIGNED ``BitstringStatusListCredential``;
- :func:`parse_status_list_credential`, the shape of a fetched status list credential;
- :func:`get_status_check` and :func:`combine_status_checks`, the ``status`` check of a
  verification result (spec section 3.2, "Validate Algorithm", steps 5-12).

It does NOT sign or verify proofs (the caller verifies the status list credential with
:mod:`credentials.verification` before trusting it), fetch anything, cache, persist, or read
the clock: callers pass ``now`` and the time the list was retrieved. ``revocation``,
``suspension`` and ``message`` are acted on, with ``statusSize`` 1 to :data:`MAX_STATUS_SIZE`
(a multi-bit status reads ``statusSize`` bits at ``statusListIndex * statusSize`` and names
its ``statusMessage``); ``refresh`` lists parse, but a check against them answers
``unknown``.

Example::

    >>> sl = BitstringStatusList()
    >>> sl.set(94567, True)
    >>> BitstringStatusList.decode(sl.encode()).set_indices()
    [94567]
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from credentials.datetimes import format_datetime, parse_datetime
from credentials.errors import MalformedInputError
from credentials.model import is_url, issuer_id, type_list
from credentials.result import Check, CheckStatus
from credentials.strict_json import JSONObject, JSONValue

__all__ = [
    "KNOWN_PURPOSES",
    "MAX_ENTRIES",
    "MAX_STATUS_SIZE",
    "MIN_ENTRIES",
    "STATUS_PURPOSES",
    "BitstringStatusList",
    "StatusListCredentialInfo",
    "StatusListEntry",
    "build_status_list_credential",
    "combine_status_checks",
    "get_status_check",
    "parse_status_list_credential",
    "status_entries_of",
]

MIN_ENTRIES = 131_072
"""The spec's minimum list length (16 KiB of bits), for herd privacy."""

MAX_ENTRIES = 2**24
"""Hard cap on a list's length in bits (2 MiB of bitstring): bounds decompression."""

MAX_STATUS_SIZE = 8
"""Largest ``statusSize`` accepted (its ``statusMessage`` then lists 256 values)."""

STATUS_PURPOSES = ("revocation", "suspension")
"""The purposes this node issues and acts on."""

KNOWN_PURPOSES = ("revocation", "suspension", "refresh", "message")
"""Every ``statusPurpose`` the spec defines; a status list with another purpose is rejected."""

_CHECK = "status"
_ENTRY_TYPE = "BitstringStatusListEntry"
_ENTRY_MEMBERS = frozenset(
    ("id", "type", "statusPurpose", "statusListIndex", "statusListCredential", "statusSize")
)
_LIST_CREDENTIAL_TYPE = "BitstringStatusListCredential"
_LIST_TYPE = "BitstringStatusList"
_GZIP_MAGIC = b"\x1f\x8b"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*\Z")
# A decimal index: no sign, no leading zeros, ASCII digits only, short enough for int().
_INDEX = re.compile(r"(?:0|[1-9][0-9]{0,19})\Z")
# A statusMessage status: "0x" and lowercase or uppercase hex digits (spec §2.1).
_STATUS_HEX = re.compile(r"0x[0-9a-fA-F]{1,2}\Z")
_INFLATE_CHUNK = 64 * 1024
_NONZERO_RUN = re.compile(rb"[^\x00]+")
# For each byte value, the offsets (0 = most significant bit) of its set bits.
_SET_BITS = tuple(tuple(i for i in range(8) if b & (0x80 >> i)) for b in range(256))


def _check_width(width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_STATUS_SIZE:
        raise ValueError(f"statusSize must be 1 to {MAX_STATUS_SIZE}, not {width!r}")


def _length_error(message: str) -> MalformedInputError:
    return MalformedInputError(message, code="STATUS_LIST_LENGTH_ERROR")


def _encoding_error(message: str) -> MalformedInputError:
    return MalformedInputError(message, code="INVALID_ENCODED_LIST")


def _check_size(size: int, min_size: int, max_size: int) -> None:
    if max_size > MAX_ENTRIES:
        raise ValueError(f"max_size {max_size} is above the hard cap MAX_ENTRIES={MAX_ENTRIES}")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % 8:
        raise _length_error(f"status list size {size!r} is not a positive multiple of 8 bits")
    if size < min_size:
        raise _length_error(
            f"status list has {size} entries, fewer than the minimum {min_size} (herd privacy)"
        )
    if size > max_size:
        raise _length_error(f"status list has {size} entries, more than the maximum {max_size}")


class BitstringStatusList:
    """A mutable bitstring of status bits; index 0 is the most significant bit of byte 0.

    Args:
        size: The number of entries (bits), a positive multiple of 8.
        min_size: The smallest acceptable size; lower it only in tests.
        max_size: The largest acceptable size, at most :data:`MAX_ENTRIES`.

    Raises:
        MalformedInputError: ``size`` is out of bounds (code ``STATUS_LIST_LENGTH_ERROR``).
        ValueError: ``max_size`` is above :data:`MAX_ENTRIES`.

    """

    __slots__ = ("_bits",)

    def __init__(
        self, size: int = MIN_ENTRIES, *, min_size: int = MIN_ENTRIES, max_size: int = MAX_ENTRIES
    ) -> None:
        _check_size(size, min_size, max_size)
        self._bits = bytearray(size // 8)

    @property
    def size(self) -> int:
        """The number of entries (bits)."""
        return len(self._bits) * 8

    def __len__(self) -> int:
        return self.size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BitstringStatusList):
            return NotImplemented
        return self._bits == other._bits

    # Mutable, so not hashable (defining __eq__ alone already sets __hash__ to None).

    def __repr__(self) -> str:
        ones = int.from_bytes(self._bits, "big").bit_count()
        return f"BitstringStatusList(size={self.size}, set={ones})"

    def _check_index(self, index: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.size:
            raise MalformedInputError(
                f"status list index {index!r} is outside 0..{self.size - 1}",
                code="STATUS_INDEX_OUT_OF_RANGE",
            )

    def get(self, index: int) -> bool:
        """Return the bit at ``index``.

        Raises:
            MalformedInputError: ``index`` is not in the list (``STATUS_INDEX_OUT_OF_RANGE``).

        """
        self._check_index(index)
        return bool(self._bits[index >> 3] & (0x80 >> (index & 7)))

    def set(self, index: int, value: bool) -> None:
        """Set the bit at ``index`` to ``value``.

        Raises:
            MalformedInputError: ``index`` is not in the list (``STATUS_INDEX_OUT_OF_RANGE``).

        """
        self._check_index(index)
        mask = 0x80 >> (index & 7)
        if value:
            self._bits[index >> 3] |= mask
        else:
            self._bits[index >> 3] &= ~mask & 0xFF

    def get_value(self, index: int, width: int) -> int:
        """Return the ``width``-bit status at entry ``index`` (bits ``index * width`` on).

        The most significant bit of the value is the first bit of the entry (spec §2.1:
        ``statusSize`` bits at ``statusListIndex * statusSize``).

        Raises:
            MalformedInputError: The entry is not in the list (``STATUS_INDEX_OUT_OF_RANGE``).
            ValueError: ``width`` is not 1 to :data:`MAX_STATUS_SIZE`.

        """
        _check_width(width)
        self._check_index(index * width + width - 1)
        value = 0
        for bit in range(index * width, (index + 1) * width):
            value = (value << 1) | self.get(bit)
        return value

    def set_value(self, index: int, width: int, value: int) -> None:
        """Set the ``width``-bit status at entry ``index`` to ``value`` (see :meth:`get_value`).

        Raises:
            MalformedInputError: The entry is not in the list (``STATUS_INDEX_OUT_OF_RANGE``).
            ValueError: ``width`` is not 1 to :data:`MAX_STATUS_SIZE`, or ``value`` does not
                fit in ``width`` bits.

        """
        _check_width(width)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**width:
            raise ValueError(f"status value {value!r} does not fit in {width} bits")
        self._check_index(index * width + width - 1)
        for offset in range(width):
            self.set(index * width + offset, bool(value & (1 << (width - 1 - offset))))

    def set_indices(self) -> list[int]:
        """Return the indices of the set bits, in increasing order."""
        # The regex skips the (usually vast) runs of zero bytes at C speed.
        return [
            (start + offset) * 8 + bit
            for run in _NONZERO_RUN.finditer(self._bits)
            for start in (run.start(),)
            for offset, byte in enumerate(run.group())
            for bit in _SET_BITS[byte]
        ]

    def to_bytes(self) -> bytes:
        """Return the uncompressed bitstring."""
        return bytes(self._bits)

    @classmethod
    def from_bytes(
        cls, data: bytes, *, min_size: int = MIN_ENTRIES, max_size: int = MAX_ENTRIES
    ) -> BitstringStatusList:
        """Build a list from an uncompressed bitstring (the inverse of :meth:`to_bytes`).

        Raises:
            MalformedInputError: The length is out of bounds (``STATUS_LIST_LENGTH_ERROR``).
            ValueError: ``max_size`` is above :data:`MAX_ENTRIES`.

        """
        _check_size(len(data) * 8, min_size, max_size)
        status_list = cls.__new__(cls)
        status_list._bits = bytearray(data)
        return status_list

    def encode(self) -> str:
        """Return the ``encodedList`` value: ``u`` + base64url-no-padding(GZIP(bitstring)).

        The GZIP header has ``mtime`` 0, so equal lists encode to equal strings with the same
        zlib; other implementations may compress differently, so compare decoded lists.
        """
        compressed = gzip.compress(bytes(self._bits), compresslevel=9, mtime=0)
        return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(
        cls,
        encoded: str,
        *,
        min_size: int = MIN_ENTRIES,
        max_size: int = MAX_ENTRIES,
        allow_legacy_unprefixed: bool = False,
    ) -> BitstringStatusList:
        """Expand an ``encodedList`` value (spec "Bitstring Expansion Algorithm").

        Args:
            encoded: The ``encodedList`` string.
            min_size: The smallest acceptable list, in entries (spec: 131,072).
            max_size: The largest acceptable list, in entries; decompression stops one byte
                past it, so a GZIP bomb costs at most ``max_size / 8 + 1`` bytes.
            allow_legacy_unprefixed: Also accept base64url without the Multibase ``u``
                prefix, as in drafts before v1.0. Off by default: v1.0 requires the prefix.

        Raises:
            MalformedInputError: Not a prefixed base64url string, not a single complete
                GZIP member (``INVALID_ENCODED_LIST``), or a decompressed length out of
                bounds (``STATUS_LIST_LENGTH_ERROR``).
            ValueError: ``max_size`` is above :data:`MAX_ENTRIES`.

        """
        if max_size > MAX_ENTRIES:
            raise ValueError(f"max_size {max_size} is above the hard cap MAX_ENTRIES={MAX_ENTRIES}")
        if not isinstance(encoded, str):
            raise _encoding_error("encodedList must be a string")
        max_bytes = max_size // 8
        # Incompressible data grows by well under 1/1000 in GZIP, then 4/3 in base64.
        if len(encoded) > 2 * max_bytes + 256:
            raise _encoding_error(f"encodedList is too long ({len(encoded)} characters)")
        if encoded.startswith("u"):
            body = encoded[1:]
        elif allow_legacy_unprefixed:
            body = encoded
        else:
            raise _encoding_error(
                "encodedList must start with the Multibase prefix 'u' (base64url, no padding)"
            )
        if not _BASE64URL.match(body) or len(body) % 4 == 1:
            raise _encoding_error("encodedList is not base64url without padding")
        try:
            compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as e:
            raise _encoding_error(f"encodedList is not base64url: {e}") from e
        if not compressed.startswith(_GZIP_MAGIC):
            raise _encoding_error("encodedList is not GZIP compressed (bad magic bytes)")
        data = _inflate(compressed, max_bytes + 1)
        if len(data) > max_bytes:
            raise _length_error(f"status list has more than the maximum {max_size} entries")
        _check_size(len(data) * 8, min_size, max_size)
        status_list = cls.__new__(cls)
        status_list._bits = data  # Adopted, not copied: a list can be 2 MiB.
        return status_list


def _inflate(compressed: bytes, limit: int) -> bytearray:
    """Decompress exactly one GZIP member, stopping once ``limit`` bytes are out.

    The output grows in small chunks into one buffer, so memory stays near ``limit`` however
    far the input would expand. A result of ``limit`` bytes means "too large".
    """
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    pending = compressed
    try:
        while not inflater.eof and len(out) < limit:
            chunk = inflater.decompress(pending, min(_INFLATE_CHUNK, limit - len(out)))
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                break  # All input read, nothing more to come: the stream is cut short.
            out += chunk
    except zlib.error as e:
        raise _encoding_error(f"encodedList is not valid GZIP: {e}") from e
    if len(out) >= limit:
        return out
    if not inflater.eof:
        raise _encoding_error("encodedList GZIP stream is truncated")
    if inflater.unused_data:
        raise _encoding_error("encodedList has data after the GZIP member")
    return out


def _entry_error(message: str) -> MalformedInputError:
    return MalformedInputError(message, code="INVALID_STATUS_ENTRY")


@dataclass(frozen=True)
class StatusListEntry:
    """One ``BitstringStatusListEntry`` of a credential's ``credentialStatus``.

    Attributes:
        status_purpose: ``statusPurpose``, e.g. ``revocation``.
        status_list_index: ``statusListIndex``, a decimal string on the wire.
        status_list_credential: ``statusListCredential``, the URL of the status list.
        status_size: ``statusSize`` in bits (1 when absent).
        id: The entry's ``id``, if any.
        extra: Every other member (``statusMessage``, ``statusReference``...), kept as is.

    """

    status_purpose: str
    status_list_index: int
    status_list_credential: str
    status_size: int = 1
    id: str | None = None
    extra: JSONObject = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.status_list_index < 0 or self.status_size < 1:
            raise ValueError("statusListIndex must be >= 0 and statusSize >= 1")

    @classmethod
    def from_dict(cls, obj: JSONValue) -> StatusListEntry:
        """Parse one ``credentialStatus`` item.

        Raises:
            MalformedInputError: The item is not a valid ``BitstringStatusListEntry``
                (code ``INVALID_STATUS_ENTRY``); the message says which member is wrong.

        """
        if not isinstance(obj, dict):
            raise _entry_error("a credentialStatus entry must be an object")
        if obj.get("type") != _ENTRY_TYPE:
            raise _entry_error(f"credentialStatus type must be {_ENTRY_TYPE!r}")
        entry_id = obj.get("id")
        if entry_id is not None and not (isinstance(entry_id, str) and is_url(entry_id)):
            raise _entry_error("credentialStatus id must be a URL")
        purpose = obj.get("statusPurpose")
        if not isinstance(purpose, str) or not purpose:
            raise _entry_error("statusPurpose must be a non-empty string")
        index = obj.get("statusListIndex")
        if not isinstance(index, str) or not _INDEX.match(index):
            raise _entry_error(
                f"statusListIndex must be a string of decimal digits "
                f"(no sign, no leading zeros), not {index!r}"
            )
        list_url = obj.get("statusListCredential")
        if not isinstance(list_url, str) or not is_url(list_url):
            raise _entry_error("statusListCredential must be a URL")
        if entry_id == list_url:
            raise _entry_error("credentialStatus id must not be the status list's URL")
        size = obj.get("statusSize", 1)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise _entry_error(f"statusSize must be a positive integer, not {size!r}")
        if size > MAX_STATUS_SIZE:
            raise _entry_error(f"statusSize {size} is above the maximum {MAX_STATUS_SIZE}")
        _check_messages(obj.get("statusMessage"), size)
        _check_references(obj.get("statusReference"))
        return cls(
            status_purpose=purpose,
            status_list_index=int(index),
            status_list_credential=list_url,
            status_size=size,
            id=entry_id,
            extra={k: v for k, v in obj.items() if k not in _ENTRY_MEMBERS},
        )

    @property
    def messages(self) -> dict[int, str]:
        """``statusMessage`` as ``{status value: message}`` (empty when absent)."""
        raw = self.extra.get("statusMessage")
        out: dict[int, str] = {}
        if isinstance(raw, list):
            for item in raw:
                if isinstance(item, dict):
                    status, message = item.get("status"), item.get("message")
                    if isinstance(status, str) and isinstance(message, str):
                        out[int(status, 16)] = message
        return out

    def to_dict(self) -> JSONObject:
        """Return the JSON form (``statusSize`` only when it is not 1).

        ``from_dict(entry.to_dict()) == entry`` for every entry.
        """
        out: JSONObject = {} if self.id is None else {"id": self.id}
        out.update(
            {
                "type": _ENTRY_TYPE,
                "statusPurpose": self.status_purpose,
                "statusListIndex": str(self.status_list_index),
                "statusListCredential": self.status_list_credential,
            }
        )
        if self.status_size != 1:
            out["statusSize"] = self.status_size
        out.update(self.extra)
        return out


def _check_messages(raw: JSONValue, size: int) -> None:
    """Spec §2.1: ``statusMessage`` is required above ``statusSize`` 1; values fit, once."""
    if raw is None:
        if size > 1:
            raise _entry_error(f"statusMessage is required when statusSize is {size} (above 1)")
        return
    if not isinstance(raw, list) or not raw:
        raise _entry_error("statusMessage must be a non-empty list of objects")
    seen: set[int] = set()
    for item in raw:
        if not isinstance(item, dict):
            raise _entry_error("every statusMessage item must be an object")
        status, message = item.get("status"), item.get("message")
        if not isinstance(status, str) or not _STATUS_HEX.match(status):
            raise _entry_error(
                f"statusMessage status must be a hex string like '0x1', not {status!r}"
            )
        if not isinstance(message, str):
            raise _entry_error("statusMessage message must be a string")
        value = int(status, 16)
        if value >= 2**size or value in seen:
            raise _entry_error(
                f"statusMessage status {status} is repeated or does not fit statusSize {size}"
            )
        seen.add(value)
    # The spec asks for one message per value; its own example lists three of four, so a
    # missing value is accepted (its status is reported as a number, without a message).


def _check_references(raw: JSONValue) -> None:
    if raw is None:
        return
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(i, str) and is_url(i) for i in items):
        raise _entry_error("statusReference must be a URL or a non-empty list of URLs")


def status_entries_of(credential: JSONObject) -> list[StatusListEntry]:
    """Return the status entries of a credential (none when ``credentialStatus`` is absent).

    Raises:
        MalformedInputError: ``credentialStatus`` is not an object or a list of objects, or
            an item is not a valid ``BitstringStatusListEntry`` (``INVALID_STATUS_ENTRY``).
            Other status mechanisms are rejected: the node cannot check them.

    """
    if "credentialStatus" not in credential:
        return []
    raw = credential["credentialStatus"]
    items = raw if isinstance(raw, list) else [raw]
    return [StatusListEntry.from_dict(item) for item in items]


def build_status_list_credential(
    *,
    list_id: str,
    issuer: str,
    purpose: str,
    status_list: BitstringStatusList,
    valid_from: datetime,
    valid_until: datetime,
) -> JSONObject:
    """Build an UNSIGNED ``BitstringStatusListCredential`` (VC 2.0); the node signs it.

    Raises:
        ValueError: ``list_id`` or ``issuer`` is not a URL, ``purpose`` is not one of
            :data:`STATUS_PURPOSES`, a datetime is naive, or ``valid_until`` is not after
            ``valid_from``.

    """
    if not is_url(list_id) or not is_url(issuer):
        raise ValueError("list_id and issuer must be URLs")
    if purpose not in STATUS_PURPOSES:
        raise ValueError(f"purpose must be one of {STATUS_PURPOSES}, not {purpose!r}")
    # Milliseconds: versions of one list published within a second stay ordered.
    start = format_datetime(valid_from, millis=True)
    end = format_datetime(valid_until, millis=True)
    if parse_datetime(end) <= parse_datetime(start):
        raise ValueError("valid_until must be after valid_from (to the second)")
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": list_id,
        "type": ["VerifiableCredential", _LIST_CREDENTIAL_TYPE],
        "issuer": issuer,
        "validFrom": start,
        "validUntil": end,
        "credentialSubject": {
            "id": list_id + "#list",
            "type": _LIST_TYPE,
            "statusPurpose": purpose,
            "encodedList": status_list.encode(),
        },
    }


@dataclass(frozen=True)
class StatusListCredentialInfo:
    """What a verifier needs from a status list credential (its proofs checked elsewhere).

    Attributes:
        list_id: The credential ``id``, which entries name in ``statusListCredential``.
        issuer: The issuer's id.
        purposes: The list's ``statusPurpose`` values.
        status_list: The decoded bitstring.
        valid_from: ``validFrom``, if stated.
        valid_until: ``validUntil``, if stated.

    """

    list_id: str
    issuer: str
    purposes: tuple[str, ...]
    status_list: BitstringStatusList = field(hash=False)
    valid_from: datetime | None = None
    valid_until: datetime | None = None


def _list_error(message: str) -> MalformedInputError:
    return MalformedInputError(message, code="INVALID_STATUS_LIST")


def _types(value: JSONValue, what: str) -> tuple[str, ...]:
    try:
        return type_list(value, what)
    except MalformedInputError as e:
        raise _list_error(e.message) from e


def _purposes(value: JSONValue) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(p, str) for p in items):
        raise _list_error("statusPurpose must be a string or a non-empty list of strings")
    purposes = tuple(p for p in items if isinstance(p, str))
    unknown = [p for p in purposes if p not in KNOWN_PURPOSES]
    if unknown or len(set(purposes)) != len(purposes):
        raise _list_error(
            f"statusPurpose {value!r} has unknown or repeated purposes (known: {KNOWN_PURPOSES})"
        )
    return purposes


def parse_status_list_credential(doc: JSONObject) -> StatusListCredentialInfo:
    """Check the shape of a ``BitstringStatusListCredential`` and decode its list.

    Proofs are NOT checked: verify the credential separately before trusting the result.

    Raises:
        MalformedInputError: ``INVALID_STATUS_LIST`` for a wrong shape (type, id, issuer,
            subject, purpose), ``INVALID_DATETIME`` for a bad ``validFrom``/``validUntil``,
            and the :meth:`BitstringStatusList.decode` codes for a bad ``encodedList``.

    """
    types = _types(doc.get("type"), "status list credential")
    if "VerifiableCredential" not in types or _LIST_CREDENTIAL_TYPE not in types:
        raise _list_error(f"type must include VerifiableCredential and {_LIST_CREDENTIAL_TYPE}")
    list_id = doc.get("id")
    if not isinstance(list_id, str) or not is_url(list_id):
        raise _list_error("a status list credential must have an id that is a URL")
    issuer = issuer_id(doc)
    if issuer is None or not is_url(issuer):
        raise _list_error("issuer must be a URL or an object whose id is a URL")
    valid_from = parse_datetime(doc["validFrom"], field="validFrom") if "validFrom" in doc else None
    valid_until = (
        parse_datetime(doc["validUntil"], field="validUntil") if "validUntil" in doc else None
    )
    if valid_from and valid_until and valid_until < valid_from:
        raise _list_error("validUntil is before validFrom")
    subject = doc.get("credentialSubject")
    if not isinstance(subject, dict):
        raise _list_error("credentialSubject must be one object")
    if _LIST_TYPE not in _types(subject.get("type"), "credentialSubject"):
        raise _list_error(f"credentialSubject type must include {_LIST_TYPE}")
    purposes = _purposes(subject.get("statusPurpose"))
    encoded = subject.get("encodedList")
    if not isinstance(encoded, str):
        raise _list_error("credentialSubject encodedList must be a string")
    return StatusListCredentialInfo(
        list_id=list_id,
        issuer=issuer,
        purposes=purposes,
        status_list=BitstringStatusList.decode(encoded),
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _aware(value: datetime | None) -> bool:
    return value is None or (value.tzinfo is not None and value.utcoffset() is not None)


def get_status_check(
    entry: StatusListEntry,
    info: StatusListCredentialInfo,
    *,
    now: datetime,
    checked_at: datetime | None = None,
    max_age: timedelta | None = None,
    credential_issuer: str | None = None,
) -> Check:
    """Read one entry's status from a (verified) status list; never raises.

    Follows the spec's Validate Algorithm (section 3.2) from step 5, after the caller has
    fetched the list and verified its proofs (step 4), and decoded it with its length check
    (steps 6-9, :func:`parse_status_list_credential`). Anything undecidable is ``unknown``.

    Args:
        entry: The credential's status entry.
        info: The parsed status list credential that ``entry`` points at.
        now: The reference time of this verification (aware).
        checked_at: When the list was retrieved (aware), for the freshness rule.
        max_age: The oldest acceptable retrieval; with it, a missing ``checked_at`` is stale.
        credential_issuer: When given, the list must have this issuer (a status list must
            have the issuer of the credentials that use it): else ``fail``
            ``STATUS_ISSUER_MISMATCH``.

    Returns:
        A check named ``status``: ``fail`` ``REVOKED`` / ``SUSPENDED`` when the status is
        not 0 (the detail names its ``statusMessage``, or says the value has none); ``pass``
        with the message for a ``message`` entry, ``unknown`` ``UNKNOWN_STATUS_VALUE`` when
        its ``statusMessage`` does not name the value; ``unknown``
        ``STATUS_LIST_LENGTH_ERROR`` (a multi-bit list
        shorter than 131,072 entries of ``statusSize`` bits), ``UNSUPPORTED_STATUS_PURPOSE``,
        ``STATUS_PURPOSE_MISMATCH`` (purpose or list id), ``STATUS_LIST_EXPIRED`` (outside
        validFrom..validUntil), ``STATUS_STALE``, ``STATUS_INDEX_OUT_OF_RANGE`` (the spec's
        RANGE_ERROR) or ``STATUS_CHECK_ERROR`` (naive times); ``pass`` otherwise.

    """
    try:
        if credential_issuer is not None and info.issuer != credential_issuer:
            return Check.failed(
                _CHECK,
                "STATUS_ISSUER_MISMATCH",
                f"list {info.list_id} is issued by {info.issuer}, the credential by "
                f"{credential_issuer}",
            )
        return _status_check(entry, info, now=now, checked_at=checked_at, max_age=max_age)
    except (TypeError, ValueError, MalformedInputError) as e:
        # Only reachable through values that bypassed the constructors' checks.
        return Check.unknown(_CHECK, "STATUS_CHECK_ERROR", f"status could not be checked: {e}")


def _status_check(
    entry: StatusListEntry,
    info: StatusListCredentialInfo,
    *,
    now: datetime,
    checked_at: datetime | None,
    max_age: timedelta | None,
) -> Check:
    purpose, index, list_id = entry.status_purpose, entry.status_list_index, info.list_id
    if not (_aware(now) and _aware(checked_at)):
        return Check.unknown(
            _CHECK, "STATUS_CHECK_ERROR", "naive datetime given as now or checked_at"
        )
    if purpose not in (*STATUS_PURPOSES, "message"):
        return Check.unknown(
            _CHECK, "UNSUPPORTED_STATUS_PURPOSE", f"statusPurpose {purpose!r} is not checked here"
        )
    # The list must be the one the entry names (its URL is the list's id), else its bits mean
    # nothing for this credential.
    if entry.status_list_credential != list_id:
        return Check.unknown(
            _CHECK,
            "STATUS_PURPOSE_MISMATCH",
            f"entry names list {entry.status_list_credential}, but the list is {list_id}",
        )
    # Step 5: the entry's purpose must be one of the list's.
    if purpose not in info.purposes:
        return Check.unknown(
            _CHECK,
            "STATUS_PURPOSE_MISMATCH",
            f"list {list_id} is for {', '.join(info.purposes)}, not {purpose}",
        )
    # A list outside its validity period, or fetched too long ago, says nothing about today.
    if info.valid_from is not None and now < info.valid_from:
        return Check.unknown(
            _CHECK,
            "STATUS_LIST_EXPIRED",
            f"list {list_id} is not valid before {format_datetime(info.valid_from)}",
        )
    if info.valid_until is not None and now >= info.valid_until:
        return Check.unknown(
            _CHECK,
            "STATUS_LIST_EXPIRED",
            f"list {list_id} expired at {format_datetime(info.valid_until)}",
        )
    if max_age is not None and (checked_at is None or now - checked_at > max_age):
        when = "never" if checked_at is None else format_datetime(checked_at)
        return Check.unknown(
            _CHECK, "STATUS_STALE", f"list {list_id} was retrieved {when}, older than {max_age}"
        )
    # Steps 9-10: a list of statusSize-bit entries holds at least the minimum number of
    # entries, and the entry's bits must be inside it.
    width = entry.status_size
    size = info.status_list.size
    if width > 1 and size < MIN_ENTRIES * width:
        return Check.unknown(
            _CHECK,
            "STATUS_LIST_LENGTH_ERROR",
            f"list {list_id} has {size} bits, fewer than {MIN_ENTRIES} entries of {width} bits",
        )
    if (index + 1) * width > size:
        return Check.unknown(
            _CHECK,
            "STATUS_INDEX_OUT_OF_RANGE",
            f"{purpose} index {index} is outside list {list_id} of {size // width} entries",
        )
    until = (
        f"valid until {format_datetime(info.valid_until)}"
        if info.valid_until is not None
        else "no validUntil"
    )
    if width == 1:
        if purpose == "message":
            value = int(info.status_list.get(index))
        elif info.status_list.get(index):
            code = "REVOKED" if purpose == "revocation" else "SUSPENDED"
            return Check.failed(
                _CHECK, code, f"{purpose} bit {index} is set (list {list_id}, {until})"
            )
        else:
            return Check.passed(_CHECK, f"{purpose} bit {index} not set (list {list_id}, {until})")
    else:
        value = info.status_list.get_value(index, width)
    message = entry.messages.get(value)
    if message is None and value != 0 and width > 1:
        # A value the entry's statusMessage does not name means nothing the issuer said:
        # fail closed. A revocation or suspension value other than 0 still fails (below);
        # a message entry's unnamed value is unknown rather than a pass.
        said = f"status {value:#x} (not in the entry's statusMessage)"
        if purpose == "message":
            return Check.unknown(
                _CHECK,
                "UNKNOWN_STATUS_VALUE",
                f"{purpose} {said} at index {index} (list {list_id}, {until})",
            )
    else:
        said = f"status {value:#x}" + (f" ({message})" if message is not None else "")
    if purpose == "message" or value == 0:
        return Check.passed(_CHECK, f"{purpose} {said} at index {index} (list {list_id}, {until})")
    code = "REVOKED" if purpose == "revocation" else "SUSPENDED"
    return Check.failed(
        _CHECK, code, f"{purpose} {said} at index {index} (list {list_id}, {until})"
    )


def combine_status_checks(checks: Sequence[Check]) -> Check:
    """Fold the checks of a credential's status entries into one ``status`` check.

    Any ``fail`` gives the first fail; else any ``unknown`` gives the first unknown; else
    ``pass``. No entries at all passes: the credential states no status to check.

    Returns:
        One check named ``status``.

    """
    if not checks:
        return Check.passed(_CHECK, "credential has no status entries")
    for wanted in (CheckStatus.FAIL, CheckStatus.UNKNOWN):
        for check in checks:
            if check.status is wanted:
                return Check(_CHECK, check.status, check.detail, check.code)
    return Check.passed(_CHECK, "; ".join(c.detail for c in checks))
