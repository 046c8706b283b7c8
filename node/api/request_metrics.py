"""Request counts and latencies for ``GET /metrics`` (prometheus-client).

Every answer the app gives is counted by method, route and status, and timed by method and
route (``trustlane_http_requests_total``, ``trustlane_http_request_duration_seconds``). The
labels are bounded whatever clients send: the route is the matched URL rule
(``/credentials/<url:credential_id>``, never the path itself), ``unmatched`` when no rule
matched (404, 405); the method is one of :data:`METHODS` or ``other``. The time runs from
when ``node serve`` had read the whole request (or from the app's first hook under another
server) until the app has built the answer.

A served node has several worker processes, and a scrape reaches one of them. So ``node
serve`` gives the workers one directory (:func:`shared_directory`, made by the master and
removed when it exits) and each worker keeps its figures there
(:func:`share_between_workers`: prometheus-client's multiprocess mode); a scrape sums every
worker's, those of workers that have exited included, so the counters never go back. Under
another WSGI server, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before it starts,
as prometheus-client documents; without it each process counts on its own.

Answers the server itself gives without the app (408, 413, 414, 431 and 400 for requests it
cannot read; see ``node/server.py``) are not counted here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector

from node.api.common import received_at

__all__ = [
    "METHODS",
    "MULTIPROC_ENV",
    "UNMATCHED",
    "RequestMetrics",
    "share_between_workers",
    "shared_directory",
]

#: Methods counted under their own name; any other is counted as ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of a request no URL rule matched.
UNMATCHED = "unmatched"
#: prometheus-client's switch to its multiprocess mode (a directory shared by the workers).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Latency buckets in seconds: a verify answers in about a millisecond, a slow partner or a
#: full database in seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STARTED = "trustlane.metrics_started"


@contextmanager
def shared_directory() -> Iterator[Path]:
    """An empty private directory for the workers' figures, removed when the block ends.

    One per ``node serve`` master (replicas of one node may share a data directory but
    never this), so a restart starts from zero rather than from a dead run's files. Only the
    process that made it removes it: gunicorn's workers are forked inside the block and leave
    it too when they exit.
    """
    owner = os.getpid()
    path = Path(tempfile.mkdtemp(prefix="trustlane-metrics-"))
    try:
        yield path
    finally:
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)


def share_between_workers(directory: Path) -> None:
    """In a worker, before the app is built: keep the figures in ``directory``.

    prometheus-client picks its value store when the process imports it; ``node serve``
    imports it in the master, before it knows the directory, so the worker switches it here,
    before any request metric has a value.
    """
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call] # untyped upstream


class RequestMetrics:
    """The app's request counter and latency histogram (see the module docstring)."""

    def __init__(self) -> None:
        self._directory = os.environ.get(MULTIPROC_ENV) or None
        self._requests = Counter(
            "trustlane_http_requests",
            "Answers the app gave, by method, route (the URL rule) and status",
            ["method", "route", "status"],
            registry=None,
        )
        self._duration = Histogram(
            "trustlane_http_request_duration_seconds",
            "From the whole request read to the answer built, by method and route",
            ["method", "route"],
            registry=None,
            buckets=BUCKETS,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def install(self, app: Flask) -> None:
        """Count and time every answer of ``app`` (call before any other request hook)."""

        @app.before_request
        def _start() -> None:
            stamped = received_at()
            request.environ[_STARTED] = time.monotonic() if stamped is None else stamped

        @app.after_request
        def _count(response: Response) -> Response:
            started = request.environ.get(_STARTED)
            self.observe(
                request.method,
                None if request.url_rule is None else request.url_rule.rule,
                response.status_code,
                None if started is None else time.monotonic() - started,
            )
            return response

    def observe(self, method: str, route: str | None, status: int, seconds: float | None) -> None:
        """Count one answer (and time it, when ``seconds`` is known)."""
        key = (method if method in METHODS else "other", route or UNMATCHED, status)
        children = self._children.get(key)
        if children is None:
            children = self._children.setdefault(
                key,
                (
                    self._requests.labels(key[0], key[1], str(status)),
                    self._duration.labels(key[0], key[1]),
                ),
            )
        children[0].inc()
        if seconds is not None:
            children[1].observe(max(seconds, 0.0))

    def register(self, registry: CollectorRegistry) -> None:
        """Add the figures to a scrape's ``registry``: every worker's when they share them."""
        if self._directory is not None:
            MultiProcessCollector(registry, path=self._directory)  # type: ignore[no-untyped-call] # untyped upstream
        else:
            registry.register(self._requests)
            registry.register(self._duration)
