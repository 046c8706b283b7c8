"""Officer console: sessions, and the read model of the credentials pages.

Sessions are stored by the SHA-256 of their id only. The credential read model derives each
credential's state from its status entries (``revoked`` wins over ``suspended``, both over
``expired``), so the console shows exactly what a verifier of the status lists would see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, select, update

from node.storage.records import TokenRecord
from node.storage.schema import (
    console_sessions,
    credentials,
    status_entries,
    status_lists,
    tokens,
)

__all__ = [
    "CREDENTIAL_STATES",
    "CredentialRow",
    "SessionRow",
    "credential_rows",
    "credential_state_counts",
    "end_session",
    "end_sessions_of_token",
    "find_session",
    "insert_session",
    "touch_session",
]

#: Every state the console shows, in the order of the overview.
CREDENTIAL_STATES = ("active", "suspended", "revoked", "expired")


@dataclass(frozen=True)
class SessionRow:
    """A console session with the token it was opened with."""

    id_hash: str
    token: TokenRecord
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class CredentialRow:
    """One issued credential as the console lists it."""

    id: str
    types: tuple[str, ...]
    subject_id: str | None
    issued_at: datetime
    valid_until: datetime | None
    state: str


def insert_session(
    conn: Connection, *, id_hash: str, token_id: str, now: datetime, expires_at: datetime
) -> None:
    """Store a new session."""
    conn.execute(
        console_sessions.insert().values(
            id_hash=id_hash,
            token_id=token_id,
            created_at=now,
            expires_at=expires_at,
            last_seen_at=now,
        )
    )


def find_session(conn: Connection, id_hash: str) -> SessionRow | None:
    """The session with this id hash and its token, or None."""
    row = conn.execute(
        select(console_sessions, tokens.c.name, tokens.c.scopes, tokens.c.revoked_at)
        .select_from(console_sessions.join(tokens, tokens.c.id == console_sessions.c.token_id))
        .where(console_sessions.c.id_hash == id_hash)
    ).first()
    if row is None:
        return None
    m = row._mapping
    token = TokenRecord(
        id=m["token_id"],
        name=m["name"],
        scopes=frozenset(m["scopes"].split()),
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )
    return SessionRow(
        id_hash=m["id_hash"],
        token=token,
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        last_seen_at=m["last_seen_at"],
        ended_at=m["ended_at"],
    )


def touch_session(conn: Connection, id_hash: str, now: datetime) -> None:
    """Record activity on a live session (the idle timeout counts from here)."""
    conn.execute(
        update(console_sessions)
        .where(console_sessions.c.id_hash == id_hash, console_sessions.c.ended_at.is_(None))
        .values(last_seen_at=now)
    )


def end_session(conn: Connection, id_hash: str, now: datetime) -> bool:
    """End a live session; False when it was not live."""
    result = conn.execute(
        update(console_sessions)
        .where(console_sessions.c.id_hash == id_hash, console_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )
    return result.rowcount == 1


def end_sessions_of_token(conn: Connection, token_id: str, now: datetime) -> int:
    """End every live session opened with ``token_id`` (the token was revoked)."""
    result = conn.execute(
        update(console_sessions)
        .where(console_sessions.c.token_id == token_id, console_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )
    return int(result.rowcount)


def _flag(purpose: str) -> Any:
    """1 when the credential has a set entry of ``purpose``, else 0 (per credential)."""
    return func.max(
        case(
            (and_(status_lists.c.purpose == purpose, status_entries.c.value.is_(True)), 1),
            else_=0,
        )
    )


def _state_query(now: datetime) -> Any:
    revoked = _flag("revocation").label("revoked")
    suspended = _flag("suspension").label("suspended")
    flags = (
        select(status_entries.c.credential_id, revoked, suspended)
        .select_from(
            status_entries.join(status_lists, status_lists.c.id == status_entries.c.list_id)
        )
        .group_by(status_entries.c.credential_id)
        .subquery("flags")
    )
    state = case(
        (flags.c.revoked == 1, "revoked"),
        (flags.c.suspended == 1, "suspended"),
        (
            and_(credentials.c.valid_until.is_not(None), credentials.c.valid_until < now),
            "expired",
        ),
        else_="active",
    ).label("state")
    joined = credentials.outerjoin(flags, flags.c.credential_id == credentials.c.id)
    return state, joined


def credential_state_counts(conn: Connection, now: datetime) -> dict[str, int]:
    """How many issued credentials are in each state at ``now``."""
    state, joined = _state_query(now)
    counts = dict.fromkeys(CREDENTIAL_STATES, 0)
    query = select(state, func.count()).select_from(joined).group_by(state)
    for name, count in conn.execute(query):
        counts[str(name)] = int(count)
    return counts


def credential_rows(
    conn: Connection, now: datetime, *, state: str | None, limit: int, offset: int = 0
) -> list[CredentialRow]:
    """Issued credentials, newest first, optionally only those in ``state``."""
    state_col, joined = _state_query(now)
    query = (
        select(
            credentials.c.id,
            credentials.c.types,
            credentials.c.subject_id,
            credentials.c.issued_at,
            credentials.c.valid_until,
            state_col,
        )
        .select_from(joined)
        .order_by(credentials.c.issued_at.desc(), credentials.c.id)
        .limit(limit)
        .offset(offset)
    )
    if state is not None:
        query = query.where(state_col == state)
    return [
        CredentialRow(
            id=r.id,
            types=tuple(r.types.split()),
            subject_id=r.subject_id,
            issued_at=r.issued_at,
            valid_until=r.valid_until,
            state=str(r.state),
        )
        for r in conn.execute(query)
    ]
