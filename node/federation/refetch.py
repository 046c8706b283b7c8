"""Background refetch of peers' status lists (and DID documents), so no request waits on a peer.

Verification answers ``unknown`` at once for a missing or stale list and hands its URL
here; push events do the same. Worker threads fetch the queued items (each fetch has the
fetcher's total deadline), outside every request. The queue is bounded and
deduplicated, and a URL is not fetched again within ``min_interval`` seconds, so neither a
caller nor a failing peer can make the node hammer anyone. A few workers fetch at once, so
one peer that drips its answers delays only its own fetches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime

__all__ = ["DID_DOCUMENT_PREFIX", "RefetchQueue"]

#: Queue items naming a peer's DID document rather than a status list URL.
DID_DOCUMENT_PREFIX = "did-document:"

log = logging.getLogger("trustlane.refetch")


class RefetchQueue:
    """A bounded, deduplicated queue of status list URLs with a few worker threads.

    Args:
        fetch: Fetches, verifies and stores one item: a status list URL, or
            :data:`DID_DOCUMENT_PREFIX` + a peer DID.
        clock: The node clock.
        max_pending: URLs held at most; further requests are dropped (the scheduled pull
            remains the fallback).
        min_interval: Seconds before the same URL is fetched again.
        workers: Fetches run at once (a peer that drips its answers holds one worker until
            the fetcher's deadline, never the others).

    """

    def __init__(
        self,
        fetch: Callable[[str, datetime], object],
        *,
        clock: Callable[[], datetime],
        max_pending: int = 256,
        min_interval: float = 2.0,
        workers: int = 3,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._max = max_pending
        self._min_interval = min_interval
        self._pending: OrderedDict[str, None] = OrderedDict()
        self._last: dict[str, float] = {}
        self._cond = threading.Condition()
        self._workers: list[threading.Thread] = []
        self._max_workers = max(1, workers)
        self._busy = 0
        self._stopped = False

    def request(self, urls: Iterable[str], *, urgent: bool = False) -> int:
        """Queue ``urls`` for a background fetch; return how many were queued.

        ``urgent`` (a partner's signed event says the resource changed) skips the
        ``min_interval`` pause: a revocation pushed right after another must not wait for
        the scheduled pull. Verification's requests are not urgent: a caller cannot make
        the node fetch the same list over and over.
        """
        queued = 0
        now = time.monotonic()
        with self._cond:
            if self._stopped:
                return 0
            for url in urls:
                if url in self._pending or len(self._pending) >= self._max:
                    continue
                last = self._last.get(url)
                if not urgent and last is not None and now - last < self._min_interval:
                    continue
                self._pending[url] = None
                queued += 1
            if queued:
                self._ensure_worker()
                self._cond.notify()
        return queued

    def _ensure_worker(self) -> None:
        self._workers = [w for w in self._workers if w.is_alive()]
        idle = len(self._workers) - self._busy
        if idle < len(self._pending) and len(self._workers) < self._max_workers:
            worker = threading.Thread(target=self._run, name="trustlane-refetch", daemon=True)
            self._workers.append(worker)
            worker.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.notify_all()
                    self._cond.wait()
                if self._stopped:
                    self._cond.notify_all()
                    return
                url, _ = self._pending.popitem(last=False)
                self._busy += 1
                self._last[url] = time.monotonic()
                if len(self._last) > 4 * self._max:
                    self._last.clear()
            try:
                self._fetch(url, self._clock())
            except Exception:
                # The worker must survive anything; the failure is logged for the operator.
                log.exception("background refetch of %s failed", url)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty and idle (bounded); True when it is."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self) -> None:
        """Stop the worker after its current fetch."""
        with self._cond:
            self._stopped = True
            self._pending.clear()
            self._cond.notify_all()
