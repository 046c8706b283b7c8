"""Officer console sessions: a bearer token exchanged for a browser session.

The browser never holds the token. It holds a random 256-bit session id in a cookie; the
node stores the id's SHA-256, the token it was opened with and the session's times. Every
request re-reads the row with its token, so a revoked token, a logout, the absolute lifetime
and the idle timeout each end a session at once, on every worker and replica.

CSRF tokens need no storage: a form's token is an HMAC of a purpose string under the raw
session id, which only the browser's (``HttpOnly``) cookie and the node see.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from node.services.audit import record_event
from node.services.tokens import TokenAuthenticator
from node.storage import console_repo
from node.storage.db import Database
from node.storage.records import TokenRecord

__all__ = ["ConsoleSessions", "ConsoleUser", "csrf_token", "csrf_valid"]

#: A session ends this long after login, whatever the activity.
ABSOLUTE_LIFETIME = timedelta(hours=8)
#: ... or after this long without a request.
IDLE_TIMEOUT = timedelta(minutes=30)
#: Activity is written at most this often (not on every page view).
_TOUCH_EVERY = timedelta(minutes=1)
_ID_BYTES = 32


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


def csrf_token(session_id: str) -> str:
    """The CSRF token of forms in the session ``session_id``."""
    return hmac.new(session_id.encode("ascii", "replace"), b"console-csrf", "sha256").hexdigest()


def csrf_valid(session_id: str, presented: str | None) -> bool:
    """True when ``presented`` is this session's CSRF token (constant-time)."""
    if not presented:
        return False
    return hmac.compare_digest(csrf_token(session_id), presented)


@dataclass(frozen=True)
class ConsoleUser:
    """Who is logged in: the token's record (its scopes decide what the console offers)."""

    session_id: str
    token: TokenRecord

    @property
    def actor(self) -> str:
        """The audit actor of this user's actions (the same as for the token on the API)."""
        return f"token:{self.token.id}"


class ConsoleSessions:
    """Login, session lookup and logout for the officer console."""

    def __init__(self, db: Database, authenticator: TokenAuthenticator) -> None:
        self._db = db
        self._authenticator = authenticator

    def login(self, token: str, *, now: datetime, client: str) -> ConsoleUser | None:
        """Open a session for a valid token; None (and nothing stored) otherwise."""
        record = self._authenticator(token.strip())
        if record is None:
            return None
        session_id = secrets.token_urlsafe(_ID_BYTES)
        with self._db.write() as conn:
            console_repo.insert_session(
                conn,
                id_hash=_hash(session_id),
                token_id=record.id,
                now=now,
                expires_at=now + ABSOLUTE_LIFETIME,
            )
            record_event(
                conn,
                now=now,
                actor=f"token:{record.id}",
                action="console.login",
                target=_hash(session_id)[:16],
                details={"client": client[:64]},
            )
        return ConsoleUser(session_id, record)

    def resolve(self, session_id: str, *, now: datetime) -> ConsoleUser | None:
        """The live session with this id, or None (unknown, ended, expired, idle, revoked)."""
        if not session_id or len(session_id) > 128:
            return None
        id_hash = _hash(session_id)
        with self._db.read() as conn:
            row = console_repo.find_session(conn, id_hash)
        if row is None or row.ended_at is not None or row.token.revoked_at is not None:
            return None
        if now >= row.expires_at or now - row.last_seen_at >= IDLE_TIMEOUT:
            return None
        if now - row.last_seen_at >= _TOUCH_EVERY:
            with self._db.write() as conn:
                console_repo.touch_session(conn, id_hash, now)
        return ConsoleUser(session_id, row.token)

    def logout(self, user: ConsoleUser, *, now: datetime) -> None:
        """End the session (audited); a second logout changes nothing."""
        id_hash = _hash(user.session_id)
        with self._db.write() as conn:
            if console_repo.end_session(conn, id_hash, now):
                record_event(
                    conn, now=now, actor=user.actor, action="console.logout", target=id_hash[:16]
                )
