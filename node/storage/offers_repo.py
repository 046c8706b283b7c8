"""Credential offers and c_nonces: insert, redeem once (atomically), look up, forget old ones.

Every "once" here is one conditional UPDATE whose row count says who won: PostgreSQL re-checks
the WHERE clause on a row a concurrent writer changed (READ COMMITTED), SQLite serialises
writers, so of any number of workers or replicas racing on one code, token or nonce exactly
one changes the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, delete, select, update

from node.storage.schema import credential_nonces as nonces
from node.storage.schema import credential_offers as offers

__all__ = [
    "OfferRecord",
    "count_failed_tx_code",
    "find_by_access_token",
    "find_by_code",
    "insert_nonce",
    "insert_offer",
    "purge_nonces",
    "purge_offers",
    "redeem_code",
    "spend_access_token",
    "spend_nonce",
]


@dataclass(frozen=True)
class OfferRecord:
    """One stored offer (hashes only; the code, PIN and token are never stored)."""

    id: str
    code_hash: str
    tx_code_hash: str
    trader: str
    source_credential_id: str
    created_at: datetime
    expires_at: datetime
    created_by: str
    tx_attempts: int = 0
    redeemed_at: datetime | None = None
    access_token_hash: str | None = None
    access_expires_at: datetime | None = None
    issued_at: datetime | None = None
    credential_id: str | None = None


def insert_offer(conn: Connection, offer: OfferRecord) -> None:
    """Store a new offer."""
    conn.execute(
        offers.insert().values(
            id=offer.id,
            code_hash=offer.code_hash,
            tx_code_hash=offer.tx_code_hash,
            trader=offer.trader,
            source_credential_id=offer.source_credential_id,
            created_at=offer.created_at,
            expires_at=offer.expires_at,
            created_by=offer.created_by,
            tx_attempts=0,
        )
    )


def _record(conn: Connection, condition: ColumnElement[bool]) -> OfferRecord | None:
    row = conn.execute(select(offers).where(condition)).first()
    if row is None:
        return None
    m = row._mapping
    return OfferRecord(**{name: m[name] for name in OfferRecord.__dataclass_fields__})


def find_by_code(conn: Connection, code_hash: str) -> OfferRecord | None:
    """The offer whose pre-authorised code hashes to ``code_hash``."""
    return _record(conn, offers.c.code_hash == code_hash)


def find_by_access_token(conn: Connection, token_hash: str) -> OfferRecord | None:
    """The offer whose access token hashes to ``token_hash``."""
    return _record(conn, offers.c.access_token_hash == token_hash)


def redeem_code(
    conn: Connection,
    *,
    code_hash: str,
    tx_code_hash: str,
    max_attempts: int,
    access_token_hash: str,
    access_expires_at: datetime,
    now: datetime,
) -> bool:
    """Exchange the code for an access token: True for exactly one caller.

    The code must be unredeemed, unexpired, not dead of wrong transaction codes, and the
    transaction code must match.
    """
    result = conn.execute(
        update(offers)
        .where(
            offers.c.code_hash == code_hash,
            offers.c.tx_code_hash == tx_code_hash,
            offers.c.redeemed_at.is_(None),
            offers.c.expires_at > now,
            offers.c.tx_attempts < max_attempts,
        )
        .values(
            redeemed_at=now,
            access_token_hash=access_token_hash,
            access_expires_at=access_expires_at,
        )
    )
    return result.rowcount == 1


def count_failed_tx_code(conn: Connection, *, code_hash: str, max_attempts: int) -> bool:
    """Count one wrong transaction code against an unredeemed offer; False if none counted."""
    result = conn.execute(
        update(offers)
        .where(
            offers.c.code_hash == code_hash,
            offers.c.redeemed_at.is_(None),
            offers.c.tx_attempts < max_attempts,
        )
        .values(tx_attempts=offers.c.tx_attempts + 1)
    )
    return result.rowcount == 1


def spend_access_token(
    conn: Connection, *, offer_id: str, credential_id: str, now: datetime
) -> bool:
    """Spend the offer's access token on its one credential: True for exactly one caller."""
    result = conn.execute(
        update(offers)
        .where(
            offers.c.id == offer_id,
            offers.c.issued_at.is_(None),
            offers.c.access_expires_at > now,
        )
        .values(issued_at=now, credential_id=credential_id)
    )
    return result.rowcount == 1


def insert_nonce(conn: Connection, nonce: str, *, expires_at: datetime) -> None:
    """Store a newly issued c_nonce."""
    conn.execute(nonces.insert().values(nonce=nonce, expires_at=expires_at))


def spend_nonce(conn: Connection, nonce: str, *, now: datetime) -> bool:
    """Spend a c_nonce: True for exactly one caller, while it is unexpired."""
    result = conn.execute(
        update(nonces)
        .where(nonces.c.nonce == nonce, nonces.c.used_at.is_(None), nonces.c.expires_at > now)
        .values(used_at=now)
    )
    return result.rowcount == 1


def purge_nonces(conn: Connection, before: datetime) -> None:
    """Forget nonces that expired before ``before``."""
    conn.execute(delete(nonces).where(nonces.c.expires_at < before))


def purge_offers(conn: Connection, before: datetime) -> None:
    """Forget offers whose code expired before ``before`` and that issued nothing."""
    conn.execute(delete(offers).where(offers.c.expires_at < before, offers.c.issued_at.is_(None)))
