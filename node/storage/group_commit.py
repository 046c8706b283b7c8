"""Group commit: concurrent write units share one transaction, so one commit flush.

A *unit* is a function of a write connection that makes one request's writes (an issuance:
its status entries, the credential, its audit event and its log entry). Every issuance takes
the audit chain head's lock and the log head's lock and holds them until its transaction
commits, so on PostgreSQL, where a commit waits for its WAL flush (1.8 to 3.4 ms on the bench
machine), one issuance per commit caps a whole deployment, all replicas together, at a few
hundred issuances a second however many CPUs it has.

Here the first thread to arrive *leads*: it begins a transaction, waits for what every unit
would wait for first (SQLite's write turn; the ``prelude``'s lock, issuance's first status
list head on PostgreSQL), and only then takes the units queued by that time (its own first,
at most ``max_batch``), so that those queued while it waited join it. It runs them, commits
once, and hands every unit its outcome. The units run together through ``bulk`` when one
is given (issuance: a few multi-row statements for all of them), in a savepoint; without
it, or when it raises, each runs in a savepoint of its own. Threads arriving meanwhile
queue; when the transaction ends the first of them leads the next one. Nothing waits for
company: a lone request is a transaction of one unit, exactly as without this module, and a
unit waits at most for the transaction that was running when it arrived.

Each unit gets the outcome it would have had alone:

- its value, only once the transaction that holds its writes has committed;
- its own exception when it raises: its savepoint is rolled back (its writes, and the audit
  events and log entries it queued, are gone) and the other units go on. A database error
  is translated as :meth:`node.storage.db.Database.write` translates it (a duplicate id is
  a :class:`~node.storage.errors.StorageConflictError`);
- the transaction's error when the commit itself fails: then no unit's writes were stored.

Units must not commit, roll back or end the transaction themselves.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from node.storage.db import Database, translate_error

__all__ = ["DEFAULT_MAX_BATCH", "GroupCommit"]

T = TypeVar("T")

#: Units per transaction at most: enough to amortise a flush over the thread pools of a
#: node's workers, few enough that one transaction's locks are not held for long.
DEFAULT_MAX_BATCH = 32


class _Slot(Generic[T]):
    """One unit waiting for its outcome (or for its turn to lead)."""

    __slots__ = ("done", "error", "lead", "unit", "value")

    def __init__(self, unit: Callable[[Connection], T]) -> None:
        self.unit = unit
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None
        self.lead = False

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value] # set when the unit returned


class GroupCommit(Generic[T]):
    """Runs units from many threads, several to a write transaction (see the module doc).

    Args:
        db: The database whose write transactions the units share.
        max_batch: Units per transaction at most.
        bulk: Runs several units at once, with fewer statements than one by one, returning
            their values in order (issuance: one multi-row insert per table). It runs in a
            savepoint; when it raises, the savepoint is rolled back and the units run one by
            one, so each gets its own outcome. It must do exactly what the units would.
    """

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        bulk: Callable[[Connection, list[Callable[[Connection], T]]], list[T]] | None = None,
        prelude: Callable[[Connection], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._db = db
        self._bulk = bulk
        self._prelude = prelude
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: deque[_Slot[T]] = deque()
        self._leading = False
        #: Transactions run, units they held, and bulk runs that fell back to one by one.
        self.transactions = 0
        self.units = 0
        self.bulk_fallbacks = 0

    @property
    def queued(self) -> int:
        """Units waiting for a transaction (not counting those of the running one)."""
        with self._lock:
            return len(self._queue)

    @property
    def leading(self) -> bool:
        """Whether a thread leads a transaction (running it, or waiting for its locks)."""
        with self._lock:
            return self._leading

    def run(self, unit: Callable[[Connection], T]) -> T:
        """Run ``unit`` in a write transaction, maybe shared; return its value once committed.

        Raises:
            Exception: What ``unit`` raised (database errors translated), or the storage
                error of a transaction that failed to commit.
        """
        slot = _Slot(unit)
        with self._lock:
            self._queue.append(slot)
            leads = not self._leading
            self._leading = True
        if not leads:
            slot.done.wait()
            if not slot.lead:
                return slot.outcome()
        # This thread leads: its slot is first in the queue (a new leader found the queue
        # empty; a promoted one was its head), so the one batch it runs includes it.
        batch: list[_Slot[T]] = []
        try:
            with self._lock:
                batch.append(self._queue.popleft())
            self._run_batch(batch)
        finally:
            with self._lock:
                if self._queue:
                    heir = self._queue[0]
                    heir.lead = True
                    heir.done.set()
                else:
                    self._leading = False
            for other in batch:
                if other is not slot:
                    other.done.set()
        return slot.outcome()

    def _take_queued(self, batch: list[_Slot[T]]) -> None:
        """Add to ``batch`` the units queued so far, up to :attr:`_max_batch` in all."""
        with self._lock:
            while self._queue and len(batch) < self._max_batch:
                batch.append(self._queue.popleft())

    def _run_batch(self, batch: list[_Slot[T]]) -> None:
        """Run ``batch`` in one transaction; every slot ends with a value or an error.

        ``batch`` holds the leader's unit. The units queued by the time the transaction has
        begun and its prelude has run join it: those that queued while the leader waited
        for the write turn another process held (SQLite) or for the prelude's lock (another
        replica's transaction), so a wait makes the batch larger rather than the queue
        longer.
        """
        try:
            with self._db.write() as conn:
                if self._prelude is not None:
                    self._prelude(conn)
                self._take_queued(batch)
                if len(batch) == 1:
                    # Alone: no savepoint, exactly the transaction the unit would have had.
                    batch[0].value = batch[0].unit(conn)
                elif not self._run_bulk(conn, batch):
                    for slot in batch:
                        _run_in_savepoint(conn, slot)
        except BaseException as e:  # handed to every unit, re-raised in its thread
            first = True
            for slot in batch:
                if slot.error is None:
                    # One exception object per thread: a raise adds to its traceback.
                    slot.error = e if first else _copy(e)
                    first = False
                slot.value = None
            if not isinstance(e, Exception):
                raise  # SystemExit and the like end the leader too (the others get a copy)
        with self._lock:
            self.transactions += 1
            self.units += len(batch)

    def _run_bulk(self, conn: Connection, batch: list[_Slot[T]]) -> bool:
        """Run ``batch`` with :attr:`_bulk` in a savepoint; False when it raised (rolled back)."""
        if self._bulk is None:
            return False
        try:
            with conn.begin_nested():
                values = self._bulk(conn, [slot.unit for slot in batch])
                if len(values) != len(batch):
                    raise RuntimeError("a bulk run must return one value per unit")
        except Exception:  # each unit runs on its own next, and gets its own outcome
            self.bulk_fallbacks += 1
            return False
        for slot, value in zip(batch, values, strict=True):
            slot.value = value
        return True


def _run_in_savepoint(conn: Connection, slot: _Slot[T]) -> None:
    # Rolling the savepoint back also drops what the unit queued for the end of the
    # transaction (audit events, log entries): see node.storage.db.
    try:
        with conn.begin_nested():
            slot.value = slot.unit(conn)
    except SQLAlchemyError as e:
        slot.error = translate_error(e, "database write")
        slot.error.__cause__ = e
    except Exception as e:  # the unit's own refusal, raised in its thread
        slot.error = e


def _copy(e: BaseException) -> BaseException:
    try:
        twin = copy.copy(e)
    except Exception:  # an exception type that cannot be copied
        return RuntimeError(str(e))
    twin.__traceback__ = None
    return twin
