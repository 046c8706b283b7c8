"""A bounded cache of Ed25519 signature checks, so that re-verifying a credential is cheap.

A node sees the same credential many times (the trader shows it at every port). Only one part
of verifying it is both expensive and a pure function of the bytes: the Ed25519 check of a
proof. :class:`SignatureCache` remembers the checks that passed, keyed by a digest of exactly
what the check depends on, so a second verification of the same proof skips libsodium.
Nothing else is cached: the data model, every proof option (type, cryptosuite, purpose,
``created``, ``expires``, challenge, domain), the key's resolution (compromise, retirement,
whether the peer is trusted), the issuer binding, the validity period, status and recognition
are decided again on every verification (see :mod:`credentials.data_integrity`).

Why a hit can never vouch for other bytes (by construction, not by care):

* The entry key is ``SHA-256(tag || public key || signature || message)``: the 32-byte raw
  public key, the 64-byte signature and the exact signed message (for eddsa-jcs-2022 the
  64-byte hash data, ``SHA-256(JCS(proof options)) || SHA-256(JCS(document))``). The key and
  the signature have fixed lengths, so the concatenation is unambiguous: two different
  (key, signature, message) triples give two different inputs to SHA-256.
* Ed25519 verification is a deterministic function of exactly that triple, so a cached
  "passed" for the triple is the answer libsodium would give again. A tampered document has
  other hash data (a different message), a forged signature is another signature, a rotated
  key is another public key: each is a different entry key, hence a miss and a real check.
  Finding two triples with one entry key means finding a SHA-256 collision.
* Only successes are stored; a failed check is never stored, so nothing can turn a failure
  into a pass, and a flood of bad signatures cannot fill the cache (each still costs the
  attacker a full libsodium check on our side, as without a cache).

Bounded (least recently used entries go first) and thread-safe (one lock; the node runs
requests in threads). :meth:`SignatureCache.forget_key` drops every entry of one public key;
the node calls it when a key is compromised, retired or rotated out, or its peer stops being
trusted (not needed for safety, since resolution refuses such keys before the cache is asked,
but it empties the cache of keys that will not be used again).

Pure: no I/O, no clock.

Example:
    >>> from credentials.keys import PrivateKey
    >>> key = PrivateKey.generate()
    >>> cache = SignatureCache(max_entries=2)
    >>> message = b"m" * 64
    >>> cache.verify(key.public_key, key.sign(message), message)
    >>> len(cache)
    1

"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from credentials.keys import PublicKey

__all__ = ["DEFAULT_MAX_ENTRIES", "SignatureCache"]

#: Default bound: about 10 MiB of entries at most (one 32-byte digest and its key each).
DEFAULT_MAX_ENTRIES = 65_536
# Domain separation: these digests are never confused with any other SHA-256 the node makes.
_TAG = b"trustlane ed25519 signature cache v1\x00"
_KEY_LENGTH = 32
_SIGNATURE_LENGTH = 64


class SignatureCache:
    """Ed25519 checks that passed, least recently used evicted first.

    Args:
        max_entries: How many passed checks to remember (at least 1).

    Raises:
        ValueError: ``max_entries`` is not a positive integer.

    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive integer, got {max_entries!r}")
        self._max = max_entries
        # entry key -> raw public key (kept to forget one key's entries).
        self._entries: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def max_entries(self) -> int:
        """The bound."""
        return self._max

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def entry_key(public_key: bytes, signature: bytes, message: bytes) -> bytes:
        """The digest that names one (key, signature, message) check.

        Raises:
            ValueError: The key is not 32 bytes or the signature not 64 (never cached).

        """
        if len(public_key) != _KEY_LENGTH or len(signature) != _SIGNATURE_LENGTH:
            raise ValueError("only 32-byte keys and 64-byte signatures have entries")
        return hashlib.sha256(_TAG + public_key + signature + message).digest()

    def verify(self, public_key: PublicKey, signature: bytes, message: bytes) -> None:
        """Check ``signature`` over ``message`` with ``public_key``; a hit skips libsodium.

        Raises:
            InvalidSignatureError: As :meth:`credentials.keys.PublicKey.verify` (a failure is
                never cached).

        """
        raw = public_key.raw
        if len(raw) != _KEY_LENGTH or len(signature) != _SIGNATURE_LENGTH:
            public_key.verify(signature, message)  # raises for a malformed signature
            return
        key = hashlib.sha256(_TAG + raw + signature + message).digest()
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return
            self.misses += 1
        public_key.verify(signature, message)  # outside the lock: the slow part
        with self._lock:
            self._entries[key] = raw
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __contains__(self, triple: object) -> bool:
        """Whether a ``(public key, signature, message)`` triple of bytes passed before."""
        if not isinstance(triple, tuple) or len(triple) != 3:
            return False
        raw, signature, message = triple
        try:
            key = self.entry_key(raw, signature, message)
        except (TypeError, ValueError):
            return False
        with self._lock:
            return key in self._entries

    def count_key(self, public_key: bytes) -> int:
        """How many entries were made with the raw 32-byte ``public_key``."""
        with self._lock:
            return sum(1 for raw in self._entries.values() if raw == public_key)

    def forget_key(self, public_key: bytes) -> int:
        """Drop every entry made with the raw 32-byte ``public_key``; return how many.

        Rare (key compromise, retirement, rotation, a peer no longer trusted), so a scan.
        """
        with self._lock:
            doomed = [k for k, raw in self._entries.items() if raw == public_key]
            for k in doomed:
                del self._entries[k]
        return len(doomed)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
