"""A slow peer (loopback server that answers too late) is reported and grants nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import NodeFactory
from credentials.keys import PrivateKey
from node.federation.fetcher import FetchError, RequestsFetcher

DELAY = 2.0


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(DELAY)  # longer than the fetcher's timeout
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def slow_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_slow_peer_times_out_and_is_reported(make_node: NodeFactory, slow_server: int) -> None:
    services, _ = make_node()
    # Swap in a fetcher with a short timeout (the node's own, as configured, is 10 s).
    services.sync.fetcher = RequestsFetcher(timeout=0.5)
    base = f"http://127.0.0.1:{slow_server}"
    did = f"did:web:127.0.0.1%3A{slow_server}"
    services.peers.add_peer(
        name="slow",
        did=did,
        base_url=base,
        pinned_keys=frozenset({PrivateKey.from_seed(b"\x03" * 32).public_key.multibase}),
        ca_bundle=None,
        now=datetime.now(UTC),
        actor="test",
    )
    started = time.monotonic()
    [outcome] = services.sync.sync_all(datetime.now(UTC), force=True)
    assert time.monotonic() - started < DELAY  # the fetch gave up, it did not wait
    assert not outcome.ok and "timed out" in outcome.detail
    [health] = services.peers.health()
    assert health["trusted"] is False
    resources = health["resources"]
    assert isinstance(resources, list) and resources[0]["consecutiveFailures"] == 1


class _Drip(BaseHTTPRequestHandler):
    """Answers one byte every 50 ms: in the status line and headers, or in the body."""

    def do_GET(self) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n"
        dripped = head + b"X-Padding: " + b"a" * 400 + b"\r\n\r\n" + b" " * 500
        if self.path == "/body":
            self.wfile.write(head + b"\r\n")
            dripped = b" " * 500
        for i in range(len(dripped)):  # bounded: at most ~45 s, far past any deadline here
            try:
                self.wfile.write(dripped[i : i + 1])
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.05)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.mark.parametrize("path", ["/head", "/body"])
def test_a_dripping_peer_is_cut_at_the_total_deadline(path: str) -> None:
    # Each byte arrives well within the per-read timeout; only the total deadline stops it.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fetcher = RequestsFetcher(timeout=1.0)
        with pytest.raises(FetchError, match=r"no complete answer within 1\.0 s"):
            fetcher.get(f"http://127.0.0.1:{server.server_address[1]}{path}", ca_bundle=None)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
