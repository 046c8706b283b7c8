"""Federation tables: peers, DID documents, status lists, MRAs, health, locks, nonces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Interval,
    Row,
    String,
    delete,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from node.storage.schema import (
    event_nonces,
    job_locks,
    key_announcements,
    mras,
    peer_did_documents,
    peer_key_records,
    peer_status_lists,
    peers,
    sync_health,
)
from node.storage.trust_repo import mark_trust_changed

__all__ = [
    "MRARecord",
    "PeerRecord",
    "PeerStatusListRecord",
    "SyncHealthRecord",
    "acquire_job_lock",
    "add_peer",
    "confirm_status_list",
    "current_status_list",
    "delete_peer",
    "failures",
    "get_did_document",
    "get_mra",
    "get_peer",
    "list_health",
    "list_mras",
    "list_peers",
    "put_mra",
    "record_failure",
    "record_recovery",
    "record_success",
    "remember_nonce",
    "save_did_document",
    "save_status_list",
    "set_pending_keys",
    "set_trust",
    "status_list_at",
    "status_list_urls",
]


@dataclass(frozen=True)
class PeerRecord:
    """A peer node."""

    did: str
    name: str
    base_url: str
    ca_bundle: str | None
    pinned_keys: frozenset[str]
    repinned_keys: frozenset[str]
    trusted: bool
    untrusted_reason: str | None
    added_at: datetime
    # Why untrusted, as a code; the DID document refused only for unannounced keys (which a
    # later announcement may vouch for) and when it was fetched; the last recovery.
    untrusted_code: str | None = None
    rejected_document: str | None = None
    rejected_at: datetime | None = None
    recovered_at: datetime | None = None
    recovery_note: str | None = None


@dataclass(frozen=True)
class PeerStatusListRecord:
    """One verified version of a peer's status list."""

    url: str
    peer_did: str
    valid_from: datetime
    valid_until: datetime
    etag: str | None
    document: str
    confirmed_at: datetime


@dataclass(frozen=True)
class MRARecord:
    """A mutual recognition agreement and its local state."""

    id: str
    peer_did: str
    state: str
    document: str
    termination_notice: str | None
    termination_effective: datetime | None
    updated_at: datetime
    # proofValue of this node's own signature, as its MRA workflow made it.
    own_proof_value: str | None = None


@dataclass(frozen=True)
class SyncHealthRecord:
    """Sync state of one resource of one peer."""

    peer_did: str
    resource: str
    last_success: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int
    next_attempt: datetime | None


def _split(text: str | None) -> frozenset[str]:
    return frozenset((text or "").split())


def _peer(row: Row[Any]) -> PeerRecord:
    m = row._mapping
    return PeerRecord(
        did=m["did"],
        name=m["name"],
        base_url=m["base_url"],
        ca_bundle=m["ca_bundle"],
        pinned_keys=_split(m["pinned_keys"]),
        repinned_keys=_split(m["repinned_keys"]),
        trusted=bool(m["trusted"]),
        untrusted_reason=m["untrusted_reason"],
        added_at=m["added_at"],
        untrusted_code=m["untrusted_code"],
        rejected_document=m["rejected_document"],
        rejected_at=m["rejected_at"],
        recovered_at=m["recovered_at"],
        recovery_note=m["recovery_note"],
    )


def add_peer(
    conn: Connection,
    *,
    did: str,
    name: str,
    base_url: str,
    ca_bundle: str | None,
    pinned_keys: frozenset[str],
    now: datetime,
) -> None:
    """Add a peer (not trusted until its DID document matches the pins)."""
    mark_trust_changed(conn)
    conn.execute(
        peers.insert().values(
            did=did,
            name=name,
            base_url=base_url,
            ca_bundle=ca_bundle,
            pinned_keys=" ".join(sorted(pinned_keys)),
            repinned_keys="",
            trusted=False,
            untrusted_reason="DID document not fetched yet",
            added_at=now,
        )
    )


def get_peer(conn: Connection, did: str, *, for_update: bool = False) -> PeerRecord | None:
    """A peer by DID, or None; ``for_update`` locks its row until the transaction ends."""
    query = select(peers).where(peers.c.did == did)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _peer(row)


def list_peers(conn: Connection) -> list[PeerRecord]:
    """Every peer, by name."""
    return [_peer(r) for r in conn.execute(select(peers).order_by(peers.c.name))]


def delete_peer(conn: Connection, did: str) -> None:
    """Forget a peer: its row, DID document, status lists, key records and sync health.

    Agreements (``mras``) stay, for the record; the caller decides their state. Key
    announcements the peer never acknowledged are dropped (acknowledged ones are history).
    """
    mark_trust_changed(conn)
    conn.execute(delete(peer_did_documents).where(peer_did_documents.c.did == did))
    conn.execute(delete(peer_status_lists).where(peer_status_lists.c.peer_did == did))
    conn.execute(delete(peer_key_records).where(peer_key_records.c.peer_did == did))
    conn.execute(delete(sync_health).where(sync_health.c.peer_did == did))
    conn.execute(
        delete(key_announcements).where(
            key_announcements.c.peer_did == did, key_announcements.c.acknowledged_at.is_(None)
        )
    )
    conn.execute(delete(peers).where(peers.c.did == did))


def set_trust(
    conn: Connection,
    did: str,
    *,
    trusted: bool,
    reason: str | None,
    pinned_keys: frozenset[str] | None = None,
    repinned_keys: frozenset[str] | None = None,
    code: str | None = None,
    rejected: tuple[str, datetime] | None = None,
) -> None:
    """Record whether a peer is trusted (and why not), optionally updating its pins.

    Args:
        conn: A write transaction.
        did: The peer.
        trusted: Whether it is trusted.
        reason: Why not (None when trusted).
        pinned_keys: New pins, if they change.
        repinned_keys: New pending (announced or re-pinned) keys, if they change.
        code: Why not, as an error code.
        rejected: ``(document, fetched_at)`` of a DID document refused only for keys a
            later announcement may vouch for; cleared unless given.
    """
    mark_trust_changed(conn)
    values: dict[str, Any] = {
        "trusted": trusted,
        "untrusted_reason": reason,
        "untrusted_code": None if trusted else code,
        "rejected_document": None if rejected is None else rejected[0],
        "rejected_at": None if rejected is None else rejected[1],
    }
    if pinned_keys is not None:
        values["pinned_keys"] = " ".join(sorted(pinned_keys))
    if repinned_keys is not None:
        values["repinned_keys"] = " ".join(sorted(repinned_keys))
    conn.execute(update(peers).where(peers.c.did == did).values(**values))


def set_pending_keys(
    conn: Connection, did: str, *, repinned_keys: frozenset[str], pinned_keys: frozenset[str]
) -> None:
    """Hold announced or re-pinned keys as pending (trust and its reason stay as they are)."""
    mark_trust_changed(conn)
    conn.execute(
        update(peers)
        .where(peers.c.did == did)
        .values(
            repinned_keys=" ".join(sorted(repinned_keys)),
            pinned_keys=" ".join(sorted(pinned_keys)),
        )
    )


def record_recovery(conn: Connection, did: str, *, at: datetime, note: str) -> None:
    """Note that distrust of a peer was lifted by an announcement (shown in health)."""
    conn.execute(
        update(peers).where(peers.c.did == did).values(recovered_at=at, recovery_note=note)
    )


def get_did_document(conn: Connection, did: str) -> tuple[str, datetime] | None:
    """``(document, fetched_at)`` of a peer's accepted DID document, or None."""
    row = conn.execute(
        select(peer_did_documents.c.document, peer_did_documents.c.fetched_at).where(
            peer_did_documents.c.did == did
        )
    ).first()
    return None if row is None else (row.document, row.fetched_at)


def save_did_document(conn: Connection, did: str, document: str, now: datetime) -> None:
    """Store (or replace) a peer's accepted DID document."""
    mark_trust_changed(conn)
    updated = conn.execute(
        update(peer_did_documents)
        .where(peer_did_documents.c.did == did)
        .values(document=document, fetched_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(peer_did_documents.insert().values(did=did, document=document, fetched_at=now))


def _status(row: Row[Any]) -> PeerStatusListRecord:
    m = row._mapping
    return PeerStatusListRecord(
        url=m["url"],
        peer_did=m["peer_did"],
        valid_from=m["valid_from"],
        valid_until=m["valid_until"],
        etag=m["etag"],
        document=m["document"],
        confirmed_at=m["confirmed_at"],
    )


def current_status_list(conn: Connection, url: str) -> PeerStatusListRecord | None:
    """The newest verified version of a status list (by validFrom), or None."""
    row = conn.execute(
        select(peer_status_lists)
        .where(peer_status_lists.c.url == url)
        .order_by(peer_status_lists.c.valid_from.desc())
        .limit(1)
    ).first()
    return None if row is None else _status(row)


def status_list_at(conn: Connection, url: str, at: datetime) -> PeerStatusListRecord | None:
    """The version that was valid at ``at`` (newest validFrom at or before it), or None."""
    row = conn.execute(
        select(peer_status_lists)
        .where(peer_status_lists.c.url == url, peer_status_lists.c.valid_from <= at)
        .order_by(peer_status_lists.c.valid_from.desc())
        .limit(1)
    ).first()
    return None if row is None else _status(row)


def save_status_list(conn: Connection, record: PeerStatusListRecord, now: datetime) -> None:
    """Store a newly verified version (the caller checked it is newer than the current one)."""
    mark_trust_changed(conn)
    conn.execute(
        peer_status_lists.insert().values(
            url=record.url,
            valid_from=record.valid_from,
            peer_did=record.peer_did,
            valid_until=record.valid_until,
            etag=record.etag,
            document=record.document,
            first_fetched_at=now,
            confirmed_at=now,
        )
    )


def confirm_status_list(conn: Connection, url: str, valid_from: datetime, now: datetime) -> None:
    """The peer confirmed (304 or same content) that this version is still current."""
    mark_trust_changed(conn)
    conn.execute(
        update(peer_status_lists)
        .where(peer_status_lists.c.url == url, peer_status_lists.c.valid_from == valid_from)
        .values(confirmed_at=now)
    )


def _mra(row: Row[Any]) -> MRARecord:
    m = row._mapping
    return MRARecord(
        id=m["id"],
        peer_did=m["peer_did"],
        state=m["state"],
        document=m["document"],
        termination_notice=m["termination_notice"],
        termination_effective=m["termination_effective"],
        updated_at=m["updated_at"],
        own_proof_value=m["own_proof_value"],
    )


def put_mra(conn: Connection, record: MRARecord) -> None:
    """Insert or replace an agreement."""
    mark_trust_changed(conn)
    conn.execute(delete(mras).where(mras.c.id == record.id))
    conn.execute(
        mras.insert().values(
            id=record.id,
            peer_did=record.peer_did,
            state=record.state,
            document=record.document,
            termination_notice=record.termination_notice,
            termination_effective=record.termination_effective,
            updated_at=record.updated_at,
            own_proof_value=record.own_proof_value,
        )
    )


def get_mra(conn: Connection, mra_id: str) -> MRARecord | None:
    """An agreement by id, or None."""
    row = conn.execute(select(mras).where(mras.c.id == mra_id)).first()
    return None if row is None else _mra(row)


def list_mras(conn: Connection, *, state: str | None = None) -> list[MRARecord]:
    """Agreements, optionally in one state."""
    query = select(mras).order_by(mras.c.updated_at)
    if state is not None:
        query = query.where(mras.c.state == state)
    return [_mra(r) for r in conn.execute(query)]


def _health_row(conn: Connection, peer_did: str, resource: str) -> Row[Any] | None:
    return conn.execute(
        select(sync_health).where(
            sync_health.c.peer_did == peer_did, sync_health.c.resource == resource
        )
    ).first()


def record_success(conn: Connection, peer_did: str, resource: str, now: datetime) -> None:
    """Note a successful sync of one resource."""
    if _health_row(conn, peer_did, resource) is None:
        conn.execute(
            sync_health.insert().values(
                peer_did=peer_did, resource=resource, last_success=now, failures=0
            )
        )
    else:
        conn.execute(
            update(sync_health)
            .where(sync_health.c.peer_did == peer_did, sync_health.c.resource == resource)
            .values(last_success=now, failures=0, next_attempt=None)
        )


def failures(conn: Connection, peer_did: str, resource: str) -> int:
    """Consecutive failures so far of one resource."""
    row = _health_row(conn, peer_did, resource)
    return 0 if row is None else int(row.failures)


def status_list_urls(conn: Connection, peer_did: str) -> list[str]:
    """URLs of the peer's status lists cached here."""
    rows = conn.execute(
        select(peer_status_lists.c.url).where(peer_status_lists.c.peer_did == peer_did).distinct()
    )
    return sorted(r.url for r in rows)


def record_failure(
    conn: Connection,
    peer_did: str,
    resource: str,
    error: str,
    now: datetime,
    next_attempt: datetime,
) -> int:
    """Note a failed sync; return the number of consecutive failures."""
    row = _health_row(conn, peer_did, resource)
    failures = 1 if row is None else int(row.failures) + 1
    values = {
        "last_error": error[:2000],
        "last_error_at": now,
        "failures": failures,
        "next_attempt": next_attempt,
    }
    if row is None:
        conn.execute(sync_health.insert().values(peer_did=peer_did, resource=resource, **values))
    else:
        conn.execute(
            update(sync_health)
            .where(sync_health.c.peer_did == peer_did, sync_health.c.resource == resource)
            .values(**values)
        )
    return failures


def list_health(conn: Connection) -> list[SyncHealthRecord]:
    """Every sync health row."""
    return [
        SyncHealthRecord(
            peer_did=r.peer_did,
            resource=r.resource,
            last_success=r.last_success,
            last_error=r.last_error,
            last_error_at=r.last_error_at,
            failures=int(r.failures),
            next_attempt=r.next_attempt,
        )
        for r in conn.execute(select(sync_health).order_by(sync_health.c.peer_did))
    ]


def _database_time(
    conn: Connection, hold: timedelta
) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """SQL for the database's current time and that time plus ``hold``.

    PostgreSQL: ``clock_timestamp()`` (the server's clock, read when the statement runs).
    SQLite: ``strftime(..., 'now')`` in the text form SQLAlchemy stores (UTC,
    ``YYYY-MM-DD HH:MM:SS.ffffff``, so that text order is time order); SQLite is
    single-writer and write transactions begin ``IMMEDIATE``, so the read and the update
    of a lock cannot interleave with another writer's.
    """
    if conn.dialect.name == "sqlite":
        stamp = "%Y-%m-%d %H:%M:%f"  # milliseconds; "000" below pads them to microseconds
        modifier = f"{hold.total_seconds():+.3f} seconds"
        now = func.strftime(stamp, "now", type_=String()).concat("000")
        until = func.strftime(stamp, "now", modifier, type_=String()).concat("000")
        return now, until
    now_pg = func.clock_timestamp(type_=DateTime(timezone=True))
    return now_pg, now_pg + literal(hold, Interval())


def acquire_job_lock(conn: Connection, name: str, owner: str, hold: timedelta) -> bool:
    """Take the named lock for ``hold`` of database time unless another holder has it.

    Every time involved is the database's own clock, never the caller's: workers whose
    clocks disagree (by seconds or by days) still take the lock once per ``hold``. A lock
    held for longer than ``hold`` from now was taken under a longer interval than the
    current one (the configuration changed and the node restarted), or written with a
    worker's clock by an older version: it is taken over rather than waited for.

    Args:
        conn: A write transaction (the lock is taken when it commits).
        name: The lock's name (one per job).
        owner: Who takes it (host and process), for operators.
        hold: How long the lock holds, in database time.

    Returns:
        True when this caller now holds the lock.

    Raises:
        ValueError: ``hold`` is not positive.
    """
    if hold <= timedelta(0):
        raise ValueError("a job lock must be held for a positive time")
    now, until = _database_time(conn, hold)
    taken = conn.execute(
        update(job_locks)
        .where(
            job_locks.c.name == name,
            (job_locks.c.locked_until <= now) | (job_locks.c.locked_until > until),
        )
        .values(owner=owner, locked_until=until)
    )
    if taken.rowcount == 1:
        return True
    if conn.execute(select(job_locks.c.name).where(job_locks.c.name == name)).first() is not None:
        return False
    try:
        with conn.begin_nested():
            conn.execute(job_locks.insert().values(name=name, owner=owner, locked_until=until))
    except IntegrityError:
        return False
    return True


def remember_nonce(
    conn: Connection, key_id: str, nonce: str, expires: datetime, now: datetime
) -> bool:
    """Record a request nonce; False when it was already seen (a replay)."""
    conn.execute(delete(event_nonces).where(event_nonces.c.expires_at < now))
    try:
        with conn.begin_nested():
            conn.execute(
                event_nonces.insert().values(key_id=key_id, nonce=nonce, expires_at=expires)
            )
    except IntegrityError:
        return False
    return True
