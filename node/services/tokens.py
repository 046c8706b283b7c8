"""Bearer tokens with scopes for the admin API.

A token is ``tl_<id>_<secret>``; only the SHA-256 of the whole token is stored. Lookup is by
hash, then re-compared in constant time. The plaintext is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime

from credentials.errors import MalformedInputError
from credentials.strict_json import JSONValue
from node.services.audit import record_event
from node.storage import console_repo, tokens_repo, trust_repo
from node.storage.db import Database
from node.storage.records import TokenRecord

__all__ = [
    "SCOPES",
    "TokenAuthenticator",
    "authenticate",
    "create_token",
    "has_scope",
    "revoke_token",
]

# "admin" implies every other scope.
SCOPES = frozenset({"admin", "issuer", "registry-admin", "device-admin", "officer", "auditor"})
_TOKEN = re.compile(r"tl_([0-9a-f]{16})_[A-Za-z0-9_-]{43}\Z")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    db: Database, *, name: str, scopes: frozenset[str], now: datetime, actor: str
) -> tuple[str, str]:
    """Create a token; return ``(token_id, token)``. The token is not stored.

    Raises:
        MalformedInputError: Unknown scope or empty name.
    """
    unknown = scopes - SCOPES
    if unknown or not scopes:
        raise MalformedInputError(
            f"unknown or missing scopes {sorted(unknown)}; choose from {sorted(SCOPES)}",
            code="INVALID_SCOPE",
        )
    if not name.strip() or len(name) > 200:
        raise MalformedInputError("token name must be 1-200 characters", code="INVALID_NAME")
    token_id = secrets.token_hex(8)
    token = f"tl_{token_id}_{secrets.token_urlsafe(32)}"
    scope_list: list[JSONValue] = [s for s in sorted(scopes)]
    with db.write() as conn:
        tokens_repo.insert_token(
            conn,
            token_id=token_id,
            name=name,
            scopes=scopes,
            token_hash=_hash(token),
            created_at=now,
        )
        record_event(
            conn,
            now=now,
            actor=actor,
            action="token.created",
            target=token_id,
            details={"name": name, "scopes": scope_list},
        )
    return token_id, token


def authenticate(db: Database, token: str) -> TokenRecord | None:
    """The active token record for a presented token, or None."""
    if not _TOKEN.match(token):
        return None
    digest = _hash(token)
    with db.read() as conn:
        found = tokens_repo.find_by_hash(conn, digest)
    if found is None:
        return None
    record, stored = found
    if not hmac.compare_digest(stored, digest) or record.revoked_at is not None:
        return None
    return record


def revoke_token(db: Database, token_id: str, *, now: datetime, actor: str) -> bool:
    """Revoke a token by id; False when no active token has that id."""
    with db.write() as conn:
        done = tokens_repo.revoke_token(conn, token_id, now)
        if done:
            # The trust generation moves at commit: every worker's authenticator drops its
            # cached answers on its next request (TokenAuthenticator).
            trust_repo.mark_trust_changed(conn)
            # Console sessions opened with the token end with it (they would be refused
            # anyway: every console request re-reads the token).
            console_repo.end_sessions_of_token(conn, token_id, now)
            record_event(conn, now=now, actor=actor, action="token.revoked", target=token_id)
    return done


def has_scope(record: TokenRecord, *wanted: str) -> bool:
    """True when the token holds ``admin`` or any of ``wanted``."""
    return "admin" in record.scopes or any(s in record.scopes for s in wanted)


class TokenAuthenticator:
    """Authenticates bearer tokens with a short in-process cache.

    A positive answer is reused for at most ``ttl`` seconds, and with ``generation`` only
    while the node's trust generation has not moved: a revocation moves it
    (:func:`revoke_token`), so a token revoked anywhere (CLI, another worker or replica)
    is refused on the next request. Without ``generation`` a revocation made elsewhere takes
    effect within ``ttl``. Negative answers are never cached, so a new token works at once.
    The cache holds token hashes, never tokens.

    Args:
        db: The node database.
        ttl: The longest a positive answer is reused, in seconds.
        max_entries: Cached answers before the cache starts over.
        generation: The trust generation now, given when the request was received
            (``time.monotonic()``, or None for "read it now"):
            :meth:`node.services.trust.TrustSnapshotSource.generation`.

    """

    def __init__(
        self,
        db: Database,
        *,
        ttl: float = 2.0,
        max_entries: int = 1024,
        generation: Callable[[float | None], int] | None = None,
    ) -> None:
        self._db = db
        self._ttl = ttl
        self._max = max_entries
        self._generation = generation
        self._cache: dict[str, tuple[float, int, TokenRecord]] = {}
        self._lock = threading.Lock()

    def __call__(self, token: str, *, fresh_since: float | None = None) -> TokenRecord | None:
        """The active token record for ``token``, or None.

        ``fresh_since``: when the request was received; the generation checked is then one
        read after that (see :meth:`node.services.trust.TrustSnapshotSource.generation`).
        """
        if not _TOKEN.match(token):
            return None
        digest = _hash(token)
        now = time.monotonic()
        # Read before the look-up: a revocation committed after this read moves the
        # generation again, so what is cached under it is dropped on the next request.
        generation = 0 if self._generation is None else self._generation(fresh_since)
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self._ttl and hit[1] == generation:
            return hit[2]
        record = authenticate(self._db, token)
        with self._lock:
            if record is None:
                self._cache.pop(digest, None)
            else:
                if len(self._cache) >= self._max:
                    self._cache.clear()
                self._cache[digest] = (now, generation, record)
        return record

    def forget(self) -> None:
        """Drop every cached answer (after a revocation in this process)."""
        with self._lock:
            self._cache.clear()
