"""A bounded cache of prepared documents, keyed by the SHA-256 of their exact bytes.

A node sees the same credential many times (the trader shows it at every port). Verifying it
has a static phase that depends only on the bytes (strict parse, VC data model and JSON-LD
checks, per proof the type, cryptosuite, proofValue, previousProof matching, @context prefix
and the exact bytes the signature signs: :func:`credentials.verification.prepare_credential`)
and a dynamic phase that depends on the time and on what this node trusts (key resolution,
purpose authorisation, ``created``/``expires`` against now, the Ed25519 check through the
:class:`~credentials.signature_cache.SignatureCache`, issuer binding, validity; in the node
also status and recognition: :func:`credentials.verification.check_prepared_credential`).
:class:`PreparedCache` keeps the result of the static phase so that a re-verification of the
same bytes runs only the dynamic phase.

Why a hit is sound:

* The key is ``SHA-256(tag || bytes)``; the static phase is a pure function of the bytes
  (no clock, no keys, no I/O), so identical bytes give an identical prepared form, and in
  particular an identical proof input. Two inputs sharing an entry means a SHA-256
  collision. A one-byte change is another key: a miss and a full verification.
* A failed static phase (data model broken, proof malformed) is as much a function of the
  bytes as a success, so it is kept too; an error the bytes do not decide (an exception the
  preparation raises) is never kept.
* The dynamic phase never runs from the cache: a key compromised or rotated since, an
  expired credential or a status change all show on the next verification.
* Values are shared between requests and threads, so they must not change: the prepared
  forms are frozen dataclasses, and the JSON they refer to is read, never written, by the
  verification code (``tests/unit/test_prepared_cache.py`` checks this).

Bounded by entries and by input bytes (least recently used first out), and thread-safe (one
lock, preparation outside it). Pure: no I/O, no clock.

Example:
    >>> cache: PreparedCache[int] = PreparedCache(max_entries=2, max_bytes=1024)
    >>> cache.get_or_prepare(b"[1, 2]", len)
    6
    >>> cache.get_or_prepare(b"[1, 2]", len), cache.hits
    (6, 1)

"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from credentials.strict_json import loads_object
from credentials.verification import PreparedCredential, prepare_credential

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ENTRIES",
    "PreparedCache",
    "prepare_credential_bytes",
]

#: Default bound on entries.
DEFAULT_MAX_ENTRIES = 1_024
#: Default bound on the input bytes held. A prepared verify request takes about 5 times its
#: bytes in memory (measured with tracemalloc: 8.2 KB for a 1.6 KB AEO credential body), so
#: this keeps a worker's cache near 10 MiB even under a flood of distinct bodies.
DEFAULT_MAX_BYTES = 2 * 1024 * 1024
# Domain separation from every other SHA-256 the node computes.
_TAG = b"trustlane prepared document v1\x00"

T = TypeVar("T")


class PreparedCache(Generic[T]):
    """Prepared forms of exact byte strings, least recently used evicted first.

    Args:
        max_entries: How many prepared documents to keep (at least 1).
        max_bytes: How many input bytes they may add up to (at least 1); a document larger
            than this is prepared every time and never kept.

    Raises:
        ValueError: A bound is not a positive integer.

    """

    def __init__(
        self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        for name, value in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        # entry key -> (input length, prepared value)
        self._entries: OrderedDict[bytes, tuple[int, T]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def max_entries(self) -> int:
        """The bound on entries."""
        return self._max_entries

    @property
    def max_bytes(self) -> int:
        """The bound on input bytes."""
        return self._max_bytes

    @property
    def total_bytes(self) -> int:
        """The input bytes of the entries held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, data: object) -> bool:
        """Whether the prepared form of the exact bytes ``data`` is held."""
        if not isinstance(data, bytes):
            return False
        key = hashlib.sha256(_TAG + data).digest()
        with self._lock:
            return key in self._entries

    def get_or_prepare(self, data: bytes, prepare: Callable[[bytes], T]) -> T:
        """Return the prepared form of ``data``, calling ``prepare(data)`` on a miss.

        ``prepare`` must be a pure function of the bytes, deterministic and without side
        effects, and its value must not be changed by anyone afterwards. Two threads missing
        on the same bytes at once may both prepare; they get equal values.

        Raises:
            Exception: Whatever ``prepare`` raises (nothing is kept then).

        """
        key = hashlib.sha256(_TAG + data).digest()
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found[1]
            self.misses += 1
        value = prepare(data)  # outside the lock: the slow part
        size = len(data)
        if size > self._max_bytes:
            return value
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous[0]
            self._entries[key] = (size, value)
            self._bytes += size
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                _, (dropped, _) = self._entries.popitem(last=False)
                self._bytes -= dropped
        return value

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def prepare_credential_bytes(data: bytes) -> PreparedCredential:
    """Strictly parse ``data`` and run the static phase of credential verification.

    The ``prepare`` function for a :class:`PreparedCache` of credentials.

    Raises:
        MalformedInputError: ``data`` is not strict JSON or not an object (never cached).

    """
    return prepare_credential(loads_object(data))
