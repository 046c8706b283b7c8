"""Status lists: allocating entries (a random free index in the purpose's open list).

Allocation picks a random index and relies on the (list, index) primary key for uniqueness
across processes: a taken index inserts nothing (``ON CONFLICT DO NOTHING`` on that key) and
another is drawn. A list is considered full at half its size, so that random picks stay cheap
and indexes stay unpredictable; a new list is then opened. Rows are never deleted: an index
is never reused. Each list counts its entries (``used``, migration 0016), moved by the
statement that reserves room for them, in the transaction that inserts them: whether a list
is full is one row read, however full it is (counting the entries took longer as the list
grew). The reservation is conditional (``used + n`` at most half the size), so no writer
ever takes a list past its half.

Each purpose has one row in ``status_list_heads`` (created by migration 0005) naming its
open list; so does each purpose of each did:key form of a node key (``revocation@key-2``,
created on first use, lists ``revocation-key-2-N``), because a status list has the issuer of
the credentials that use it (:func:`head_key`). Every allocation locks that row first
(``SELECT ... FOR UPDATE``, until the transaction ends), then the list's row (the counter's
update; ``FOR UPDATE`` first when the list was never published, see
:func:`allocate_index`). So the writers of one head, in any number of processes or replicas,
take turns (issuance takes turns on the audit and log heads anyway, after these), always
lock head before list, share one open list, and open the next one only once it is full: a
list is never left with a handful of entries that would narrow down who holds them. SQLite
serialises writers anyway (``BEGIN IMMEDIATE``).

A list's entries are ``status_size`` bits each (migration 0015). Lists of another entry size
have their own heads and ids (a ``stem`` other than the purpose, e.g. ``suspensionreason-1``
for 2-bit suspensions), so a 1-bit and a 2-bit list never share an id, and the same head
rules apply to them. Each entry keeps its whole value (``status_value``) and whether it is
not 0 (``value``).
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Integer, String, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from node.storage.driver import DriverStatement
from node.storage.schema import status_entries, status_list_heads, status_lists
from node.storage.status_repo import lock_list

__all__ = ["allocate_index", "allocate_indexes", "head_key", "list_id_prefix", "lock_head_row"]

_MAX_ATTEMPTS = 64
_IN_LIMIT = 500  # values per IN (...) list
_STEM = re.compile(r"[a-z]{1,24}\Z", re.ASCII)


def _stem_of(purpose: str, stem: str | None) -> str:
    chosen = purpose if stem is None else stem
    if not _STEM.match(chosen):
        raise ValueError(f"a status list id stem is 1 to 24 letters a-z, not {chosen!r}")
    return chosen


# The statements of one allocation are built once: building and caching a statement costs
# several times what running it does on SQLite (issuance makes about ten per credential).
# They run on the driver's cursor (node.storage.driver).
_LOCK_HEAD = DriverStatement(
    select(status_list_heads.c.list_id, status_list_heads.c.lists_opened)
    .where(status_list_heads.c.purpose == bindparam("head"))
    .with_for_update()
)
# The head's open list and what allocating in it needs, in one read: on SQLite the only read
# (the write transaction already holds the database's write lock), on PostgreSQL the one after
# _LOCK_HEAD (a statement of its own: a row locked by a join is re-read after the lock wait,
# the other side of the join is not).
_HEAD_LIST = DriverStatement(
    select(
        status_list_heads.c.list_id,
        status_list_heads.c.lists_opened,
        status_lists.c.size,
        status_lists.c.latest_version,
        status_lists.c.used,
    )
    .select_from(
        status_list_heads.outerjoin(status_lists, status_lists.c.id == status_list_heads.c.list_id)
    )
    .where(status_list_heads.c.purpose == bindparam("head"))
)
# Room for ``n`` more entries, taken only while the list stays at or under half its size
# (2 x (used + n) <= size: integers only). The row count says whether it was taken.
_RESERVE = DriverStatement(
    update(status_lists)
    .where(
        status_lists.c.id == bindparam("reserve_list", type_=String),
        2 * (status_lists.c.used + bindparam("reserve_n", type_=Integer)) <= status_lists.c.size,
    )
    .values(used=status_lists.c.used + bindparam("reserve_n", type_=Integer))
)
_RELEASE = DriverStatement(
    update(status_lists)
    .where(status_lists.c.id == bindparam("reserve_list", type_=String))
    .values(used=status_lists.c.used - bindparam("reserve_n", type_=Integer))
)
_ENTRY_COLUMNS = ("list_id", "idx", "credential_id", "value", "updated_at")
_INSERT_ENTRY = DriverStatement(status_entries.insert(), columns=_ENTRY_COLUMNS)


# INSERT ... ON CONFLICT (list_id, idx) DO NOTHING: a taken index inserts no row (and, unlike
# a unique violation, leaves the transaction usable without a savepoint). Only that conflict
# is ignored: any other constraint still raises. Whether a row went in: the row count on
# SQLite; RETURNING on PostgreSQL (psycopg's row count is gone once the result is closed).
_ENTRY_KEY = [status_entries.c.list_id, status_entries.c.idx]
_INSERT_ENTRY_IF_FREE_SQLITE = DriverStatement(
    sqlite.insert(status_entries).on_conflict_do_nothing(index_elements=_ENTRY_KEY),
    columns=_ENTRY_COLUMNS,
)
_INSERT_ENTRY_IF_FREE_POSTGRESQL = DriverStatement(
    postgresql.insert(status_entries)
    .on_conflict_do_nothing(index_elements=_ENTRY_KEY)
    .returning(status_entries.c.idx),
    columns=_ENTRY_COLUMNS,
)


def _insert_entry(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert one entry unless its (list, index) is taken; True when it was inserted.

    A taken index (another credential's; on PostgreSQL maybe that of a writer that does not
    lock the head, a node older than migration 0016, whose transaction the insert then
    waits for) is the primary key conflict that the caller answers by drawing again.
    """
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return _INSERT_ENTRY_IF_FREE_SQLITE.rowcount(conn, row) == 1
    if dialect == "postgresql":
        return _INSERT_ENTRY_IF_FREE_POSTGRESQL.first(conn, row) is not None
    try:  # pragma: no cover - SQLite and PostgreSQL take the branches above
        with conn.begin_nested():
            _INSERT_ENTRY.many(conn, [row])
        return True
    except IntegrityError:  # pragma: no cover
        return False


def _reserve(conn: Connection, list_id: str, count: int) -> bool:
    """Count ``count`` more entries in ``list_id`` if that keeps it at most half full."""
    params = {"reserve_list": list_id, "reserve_n": count}
    return _RESERVE.rowcount(conn, params) == 1


def _release(conn: Connection, list_id: str, count: int) -> None:
    """Give back room reserved for entries that could not be inserted after all."""
    _RELEASE.rowcount(conn, {"reserve_list": list_id, "reserve_n": count})


def head_key(purpose: str, kid: str | None = None) -> str:
    """The ``status_list_heads`` key of the lists of ``purpose`` issued by one identity.

    The node's did:web has one head per purpose (``revocation``); the did:key form of its key
    ``kid`` has its own (``revocation@key-2``), because a status list must have the same
    issuer as the credentials that point at it.
    """
    return purpose if kid is None else f"{purpose}@{kid}"


def lock_head_row(conn: Connection, purpose: str, *, kid: str | None, stem: str | None) -> None:
    """Take the lock that an allocation for ``purpose`` takes first (its head's row).

    What :func:`allocate_index` locks first, taken ahead of it: group commit waits for it
    before it takes the queued issuances, so those queued meanwhile share the transaction.
    On SQLite the write transaction already holds the database's write lock; on PostgreSQL a
    head row not created yet locks nothing (the allocation creates and locks it).
    """
    if conn.dialect.name != "sqlite":
        _LOCK_HEAD.first(conn, {"head": head_key(_stem_of(purpose, stem), kid)})


def list_id_prefix(purpose: str, kid: str | None = None) -> str:
    """How the ids of those lists start: ``revocation-`` or ``revocation-key-2-``."""
    return f"{purpose}-" if kid is None else f"{purpose}-{kid}-"


class _Head(NamedTuple):
    """A head row and its open list (the list's fields are 0 when there is none)."""

    list_id: str | None
    lists_opened: int
    size: int
    latest_version: int
    used: int


def _head(row: tuple[Any, ...]) -> _Head:
    list_id, opened, size, version, used = row
    return _Head(list_id, int(opened), int(size or 0), int(version or 0), int(used or 0))


def _lock_head(conn: Connection, head: str, prefix: str) -> _Head:
    """Lock the head's row until the transaction ends (it is created if missing); read it.

    Migration 0005 creates the rows of both purposes; a missing row (another purpose, a
    did:key's) is created here, its list count taken from the lists that exist.

    Returns:
        The open list (``list_id`` None: none yet), the lists opened so far, and the open
        list's ``size``, ``latest_version`` and ``used``.
    """
    # On SQLite the write transaction already holds the database's write lock.
    exists = conn.dialect.name == "sqlite" or _LOCK_HEAD.first(conn, {"head": head})
    row = _HEAD_LIST.first(conn, {"head": head}) if exists else None
    if row is not None:
        return _head(row)
    opened = conn.execute(
        select(func.count())
        .select_from(status_lists)
        .where(status_lists.c.id.like(prefix.replace("_", "\\_") + "%", escape="\\"))
    ).scalar_one()
    try:
        with conn.begin_nested():
            conn.execute(
                status_list_heads.insert().values(purpose=head, list_id=None, lists_opened=opened)
            )
    except IntegrityError:
        pass  # A concurrent writer created it: the lock below waits for that writer.
    if _LOCK_HEAD.first(conn, {"head": head}) is None:  # pragma: no cover - inserted above
        raise RuntimeError(f"the status list head {head!r} is missing after its creation")
    found = _HEAD_LIST.first(conn, {"head": head})
    if found is None:  # pragma: no cover - the lock above found it
        raise RuntimeError(f"the status list head {head!r} is missing after its creation")
    return _head(found)


def _open_next_list(
    conn: Connection,
    *,
    purpose: str,
    head: str,
    prefix: str,
    opened: int,
    size: int,
    status_size: int,
    now: datetime,
) -> str:
    """Open the head's next list and make it the head's open list (under the head's lock)."""
    number = opened + 1
    while True:
        list_id = f"{prefix}{number}"
        try:
            with conn.begin_nested():
                conn.execute(
                    status_lists.insert().values(
                        id=list_id,
                        purpose=purpose,
                        size=size,
                        status_size=status_size,
                        created_at=now,
                        latest_version=0,
                        used=0,
                    )
                )
            break
        except IntegrityError:
            # Taken by a writer that does not keep the head (a node older than migration
            # 0005 during a rolling upgrade): continue the numbering after it.
            if number - opened >= _MAX_ATTEMPTS:
                raise
            number += 1
    conn.execute(
        update(status_list_heads)
        .where(status_list_heads.c.purpose == head)
        .values(list_id=list_id, lists_opened=number)
    )
    return list_id


def _take_room(
    conn: Connection,
    *,
    purpose: str,
    size: int,
    now: datetime,
    kid: str | None,
    status_size: int,
    stem: str | None,
    wanted: int,
) -> tuple[str, int, int, bool]:
    """Reserve room for 1 to ``wanted`` entries in the head's open list, opening one if full.

    Returns:
        ``(list id, its size, entries reserved, needs_first_version)``; the last is True
        when the list has never been published and this transaction holds its row lock.
    """
    base = _stem_of(purpose, stem)
    head, prefix = head_key(base, kid), list_id_prefix(base, kid)
    found = _lock_head(conn, head, prefix)
    if found.list_id is not None:
        room = min(wanted, found.size // 2 - found.used)
        if room > 0:
            needs_first_version = False
            if found.latest_version == 0:
                # Lock before counting and inserting: on PostgreSQL the insert takes a
                # key-share lock on the list row (foreign key) and the counter's update a
                # no-key-update lock; upgrading either to FOR UPDATE when publishing would
                # wait for any other key-share holder (a node older than migration 0016
                # inserts without this head's lock), which may wait for us. A version read
                # as 0 may be stale (publishers do not take the head's lock): the lock reads
                # the latest; one above 0 never goes back to 0.
                needs_first_version = lock_list(conn, found.list_id) == 0
            # Under the head's lock only writers older than migration 0016 insert too, and
            # they do not move the counter: this reservation succeeds.
            if _reserve(conn, found.list_id, room):
                return found.list_id, found.size, room, needs_first_version
    # No list yet, or the open one is full: open the next one (the head is locked).
    list_id = _open_next_list(
        conn,
        purpose=purpose,
        head=head,
        prefix=prefix,
        opened=found.lists_opened,
        size=size,
        status_size=status_size,
        now=now,
    )
    # Locked like any list never published (see above); this transaction inserted it.
    needs_first_version = lock_list(conn, list_id) == 0
    room = min(wanted, size // 2)
    if not _reserve(conn, list_id, room):  # pragma: no cover - size >= 2 is checked
        raise RuntimeError(f"no room in the new status list {list_id}")
    return list_id, size, room, needs_first_version


def _check_size(size: int) -> None:
    if size < 2:
        raise ValueError(f"a status list has at least 2 entries (half of it fills), not {size}")


def allocate_index(
    conn: Connection,
    *,
    purpose: str,
    credential_id: str,
    size: int,
    now: datetime,
    randbelow: Callable[[int], int] = secrets.randbelow,
    kid: str | None = None,
    status_size: int = 1,
    stem: str | None = None,
) -> tuple[str, int, bool]:
    """Allocate a fresh random index for ``credential_id`` in a list of ``purpose``.

    The index goes into the purpose's open list, shared by every concurrent writer; when that
    list is full, exactly one new list is opened (see the module docstring). Allocating
    holds the head's row lock until the transaction ends, so a transaction that allocates
    for several purposes must go through them in sorted order (no lock cycles), before it
    takes any lock that issuance takes later (the audit and log heads).

    ``status_size`` is the entry size in bits of the lists opened for it, and ``stem`` the
    start of their ids and of their head's key (default: the purpose); one stem, one size.

    Returns:
        ``(list_id, index, needs_first_version)``; when the last is True the list has never
        been published and this transaction holds its row lock (see :func:`lock_list`), so
        the caller publishes it before committing.

    Raises:
        ValueError: ``size`` is below 2.
        RuntimeError: No free index was found after many attempts (cannot happen while
            lists are rotated at half capacity, unless ``randbelow`` is broken).
    """
    _check_size(size)
    list_id, list_size, _, needs_first_version = _take_room(
        conn,
        purpose=purpose,
        size=size,
        now=now,
        kid=kid,
        status_size=status_size,
        stem=stem,
        wanted=1,
    )
    for _ in range(_MAX_ATTEMPTS):
        idx = randbelow(list_size)
        row = {
            "list_id": list_id,
            "idx": idx,
            "credential_id": credential_id,
            "value": False,
            "updated_at": now,
        }
        if _insert_entry(conn, row):
            return list_id, idx, needs_first_version
    _release(conn, list_id, 1)  # the counter stays exact if the caller goes on
    raise RuntimeError(f"no free status index found in {list_id}")


def allocate_indexes(
    conn: Connection,
    *,
    purpose: str,
    credential_ids: Sequence[str],
    size: int,
    now: datetime,
    randbelow: Callable[[int], int] = secrets.randbelow,
    kid: str | None = None,
    status_size: int = 1,
    stem: str | None = None,
) -> tuple[list[tuple[str, int]], list[str]]:
    """Allocate a fresh random index for each of ``credential_ids`` (bulk issuance).

    The same rules as :func:`allocate_index`, in a few statements per batch instead of
    several per credential: indexes are drawn uniformly at random among the free ones of the
    purpose's open list; when that list reaches half its size the next one is opened, and the
    rest of the batch goes there. Lock order is the same (head row, then list row).

    Returns:
        ``(entries, first_versions)``: ``(list_id, index)`` per credential, in order, and
        the lists that have never been published (locked by this transaction; the caller
        publishes them before committing).

    Raises:
        ValueError: ``size`` is below 2.
        RuntimeError: No free indexes were found after many attempts.
    """
    _check_size(size)
    entries: list[tuple[str, int]] = []
    first_versions: list[str] = []
    pending = list(credential_ids)
    while pending:
        list_id, list_size, room, needs_first_version = _take_room(
            conn,
            purpose=purpose,
            size=size,
            now=now,
            kid=kid,
            status_size=status_size,
            stem=stem,
            wanted=len(pending),
        )
        if needs_first_version and list_id not in first_versions:
            first_versions.append(list_id)
        chunk, pending = pending[:room], pending[room:]
        try:
            indexes = _insert_free(conn, list_id, list_size, chunk, now, randbelow)
        except RuntimeError:
            _release(conn, list_id, len(chunk))  # the counter stays exact if the caller goes on
            raise
        entries.extend((list_id, idx) for idx in indexes)
    return entries, first_versions


def _insert_free(
    conn: Connection,
    list_id: str,
    size: int,
    credential_ids: list[str],
    now: datetime,
    randbelow: Callable[[int], int],
) -> list[int]:
    """Insert an entry at a free random index of ``list_id`` for each credential; the indexes."""
    for _ in range(_MAX_ATTEMPTS):
        indexes = _draw_free(conn, list_id, size, len(credential_ids), randbelow)
        try:
            with conn.begin_nested():
                _INSERT_ENTRY.many(
                    conn,
                    [
                        {
                            "list_id": list_id,
                            "idx": idx,
                            "credential_id": credential_id,
                            "value": False,
                            "updated_at": now,
                        }
                        for credential_id, idx in zip(credential_ids, indexes, strict=True)
                    ],
                )
            return indexes
        except IntegrityError:
            continue  # a writer older than 0016 took one of them meanwhile: draw again
    raise RuntimeError(f"no free status indexes found in {list_id}")


@functools.lru_cache(maxsize=64)
def _taken_among(count: int) -> DriverStatement:
    """Which of ``count`` indexes (binds ``i0`` ...) of list ``list_id`` are taken."""
    indexes = [bindparam(f"i{n}", type_=Integer) for n in range(count)]
    return DriverStatement(
        select(status_entries.c.idx).where(
            status_entries.c.list_id == bindparam("list_id", type_=String),
            status_entries.c.idx.in_(indexes),
        )
    )


def _draw_free(
    conn: Connection, list_id: str, size: int, count: int, randbelow: Callable[[int], int]
) -> list[int]:
    """``count`` distinct random indexes free in ``list_id`` (as of this read), in draw order."""
    chosen: dict[int, None] = {}
    for _ in range(_MAX_ATTEMPTS):
        candidates: dict[int, None] = {}  # a dict keeps the (random) draw order
        while len(chosen) + len(candidates) < count:
            idx = randbelow(size)
            if idx not in chosen:
                candidates[idx] = None
        drawn = list(candidates)
        taken: set[int] = set()
        for start in range(0, len(drawn), _IN_LIMIT):
            chunk = drawn[start : start + _IN_LIMIT]
            params = {"list_id": list_id, **{f"i{n}": idx for n, idx in enumerate(chunk)}}
            taken.update(int(row[0]) for row in _taken_among(len(chunk)).all(conn, params))
        chosen.update((idx, None) for idx in drawn if idx not in taken)
        if len(chosen) == count:
            return list(chosen)
    raise RuntimeError(f"no free status indexes found in {list_id}")
