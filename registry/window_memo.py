"""Answers that hold between two instants, kept per trust snapshot (PURE).

A check against a :class:`~registry.trust_snapshot.TrustSnapshot` (a credential's status, its
recognition) depends on the reference time only through comparisons with a few fixed
instants: a list's ``validFrom`` and ``validUntil``, the moment a list goes stale, an
agreement's start, end or termination. Between two consecutive instants of that set every
comparison comes out the same, so the check's answer is the same; :class:`WindowMemo` keeps it
for that open interval and answers again only for a reference time strictly inside it.

The caller names every instant its check compares against (a superset is safe, only less
reused); an answer computed exactly at one of them is not kept, since a comparison may go
either way there. A memo belongs to one snapshot: a new snapshot (a new generation of the
node's data: a list update, an agreement, a key change) starts with an empty one, so the
memo never carries an answer across a change of trust.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable
from datetime import datetime
from typing import Generic, TypeVar

__all__ = ["WindowMemo"]

V = TypeVar("V")

#: Distinct keys kept per snapshot before the memo starts over.
DEFAULT_MAX_ENTRIES = 4096


class WindowMemo(Generic[V]):
    """Values by key, each valid strictly between two instants (bounded, thread-safe).

    Args:
        max_entries: Distinct keys kept; adding one more empties the memo first (a
            flood of distinct keys costs recomputation, never memory).

    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._entries: dict[Hashable, tuple[datetime | None, datetime | None, V]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, at: datetime) -> V | None:
        """The value kept for ``key`` if ``at`` lies strictly inside its interval, else None."""
        kept = self._entries.get(key)
        if kept is None:
            return None
        low, high, value = kept
        if (low is None or low < at) and (high is None or at < high):
            return value
        return None

    def put(
        self, key: Hashable, at: datetime, instants: Iterable[datetime | None], value: V
    ) -> None:
        """Keep ``value``, computed at ``at``, until the nearest of ``instants`` either side.

        ``instants`` must hold every instant the computation compared the reference time
        with (None entries are skipped). Nothing is kept when ``at`` equals one of them.
        """
        low: datetime | None = None
        high: datetime | None = None
        for instant in instants:
            if instant is None:
                continue
            if instant == at:
                return
            if instant < at:
                if low is None or instant > low:
                    low = instant
            elif high is None or instant < high:
                high = instant
        with self._lock:
            if key not in self._entries and len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (low, high, value)
