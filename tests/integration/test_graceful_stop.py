"""Stopping a real ``trustlane node serve`` process while requests are in flight (issue 15).

SIGTERM (to the master, as ``kill PID`` does) and SIGINT (to the whole process group, as
Ctrl-C in a terminal does) must both drain: new connections are refused at once, every
request already started gets a complete answer, idle keep-alive connections are closed
cleanly, and the process exits 0 soon after the last answer, within the drain bound. A
request that never completes is cut when the drain timeout passes, and the process still
exits 0 in time. Only 127.0.0.1 is contacted; every wait is bounded.
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import trustme

from node.server import stop_bound
from nodehelpers import aeo_subject
from nodeproc import LOOPBACK, NodeProcess

IN_FLIGHT = 6  # concurrent requests whose body is sent in two parts around the signal
IO_TIMEOUT = 10.0  # any single socket operation


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _connect(node: NodeProcess) -> ssl.SSLSocket:
    assert node.ca_path is not None
    context = ssl.create_default_context(cafile=str(node.ca_path))
    raw = socket.create_connection((LOOPBACK, node.port), timeout=IO_TIMEOUT)
    try:
        tls = context.wrap_socket(raw, server_hostname=LOOPBACK)
    except BaseException:
        raw.close()
        raise
    tls.settimeout(IO_TIMEOUT)
    return tls


def _refused(port: int) -> bool:
    """True when a TCP connection to the node's port is refused right now."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2.0):
            return False
    except ConnectionRefusedError:
        return True


def _read_all(sock: ssl.SSLSocket) -> bytes:
    """Everything the server sends until it closes (TLS close_notify or FIN), bounded."""
    data = bytearray()
    for _ in range(10_000):
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(data)
        data += chunk
    raise AssertionError("the server did not close the connection")


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"incomplete response head: {raw[:200]!r}"
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body


def _verify_request(node: NodeProcess, vc: dict[str, Any]) -> tuple[bytes, bytes]:
    """A valid ``POST /credentials/verify``, split into two parts mid-body."""
    body = json.dumps({"verifiableCredential": vc}).encode()
    head = (
        "POST /credentials/verify HTTP/1.1\r\n"
        f"Host: {LOOPBACK}:{node.port}\r\n"
        f"Authorization: Bearer {node.admin_token}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    middle = len(body) // 2
    return head + body[:middle], body[middle:]


def _issue(node: NodeProcess) -> dict[str, Any]:
    status, body = node.post_json(
        "/aeo-credentials", {"credentialSubject": aeo_subject()}, node.admin_token
    )
    assert status == 201, body
    vc: dict[str, Any] = body["verifiableCredential"]
    return vc


@pytest.mark.parametrize(
    ("sig", "group"),
    [(signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["sigterm-to-master", "sigint-to-group"],
)
def test_stop_drains_requests_in_flight_and_exits_0(
    tmp_path: Path, ca: trustme.CA, sig: signal.Signals, group: bool
) -> None:
    drain = 8.0
    with NodeProcess(tmp_path / "eu") as node:
        node.init(None, ca)
        node.start(workers=2, serve_args=("--drain-timeout", str(drain), "--request-timeout", "30"))
        vc = _issue(node)

        # An idle keep-alive connection: one request answered, then nothing.
        idle = _connect(node)
        idle.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = idle.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 "), first

        # Requests in flight: head and half of the body sent, the rest after the signal.
        in_flight: list[tuple[ssl.SSLSocket, bytes]] = []
        try:
            for _ in range(IN_FLIGHT):
                sock = _connect(node)
                start, rest = _verify_request(node, vc)
                sock.sendall(start)
                in_flight.append((sock, rest))
            time.sleep(0.5)  # let the workers read the first parts

            node.send_signal(sig, group=group)
            signalled = time.monotonic()

            # New connections are refused while the drain goes on.
            refused_after: float | None = None
            while time.monotonic() - signalled < 3.0:
                if _refused(node.port):
                    refused_after = time.monotonic() - signalled
                    break
                time.sleep(0.05)
            assert refused_after is not None, "still accepting 3 s after the signal"
            assert node.running, "exited before the requests in flight were answered"

            # Each request in flight gets a complete answer, then a clean close.
            for sock, rest in in_flight:
                sock.sendall(rest)
            for sock, _ in in_flight:
                status, headers, body = _parse(_read_all(sock))
                assert status == 200, body
                assert headers.get("connection") == "close", headers
                assert len(body) == int(headers["content-length"]), headers
                assert json.loads(body)["verified"] is True
            answered = time.monotonic()
            assert answered - signalled < drain, "the answers waited for the drain timeout"
            assert _read_all(idle) == b"", "the idle keep-alive connection got data"
        finally:
            for sock, _ in in_flight:
                sock.close()
            idle.close()

        code = node.wait(timeout=stop_bound(drain) + 5.0)
        assert code == 0, node.log_tail()
        # The drain ends when the last request is answered, not when its timeout passes.
        assert time.monotonic() - answered < 5.0
        assert _refused(node.port)
        log = node.log_tail(200)
        assert "draining" in log, log
        assert "Traceback" not in log, log
        # Each worker closed the node's background work and its pool before exiting.
        assert log.count("background work finished, database closed") == 2, log


def test_drain_timeout_bounds_the_stop(tmp_path: Path, ca: trustme.CA) -> None:
    drain = 2.0
    with NodeProcess(tmp_path / "eu") as node:
        node.init(None, ca)
        node.start(workers=1, serve_args=("--drain-timeout", str(drain), "--request-timeout", "60"))
        vc = _issue(node)
        with _connect(node) as sock:
            start, _ = _verify_request(node, vc)
            sock.sendall(start)  # never completed
            time.sleep(0.5)
            node.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            code = node.wait(timeout=stop_bound(drain) + 5.0)
            elapsed = time.monotonic() - signalled
        assert code == 0, node.log_tail()
        assert drain - 0.5 <= elapsed <= stop_bound(drain), elapsed
        assert _refused(node.port)
