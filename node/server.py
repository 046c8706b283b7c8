"""``trustlane node serve``: the node under gunicorn, behind a buffering front (ADR 0002).

gunicorn's arbiter starts, watches and restarts the worker processes. Each worker is a
:class:`BufferingWorker`: an asyncio loop that accepts connections, does the TLS handshake,
and reads each request completely (request line, headers and body, with size limits) under one
total deadline, before it hands the request to the WSGI app in a small thread pool. A client
that sends slowly therefore holds a socket and a buffer, never a thread: with any number of
slow clients (up to the connection limit) the threads stay free for complete requests, and a
request that is not complete when its deadline passes is answered 408 and cut. Every answer
the server gives itself (408, 413, 414, 431, 400, 501, 500) is an RFC 9457 problem document,
like the app's own errors. HTTP/1.1 keep-alive and pipelining are supported; HTTP parsing is
``h11``'s.

Each worker builds its own services (database pool, key store) after the fork; nothing is
shared across processes but the database.

Stopping: SIGTERM and SIGINT (Ctrl-C) both stop the node gracefully. The listening sockets
are closed at once (new connections are refused), every request already started is answered
(with ``Connection: close``) for up to ``drain_timeout_seconds``, idle keep-alive connections
are closed, and the process exits 0. Only what is still running after the drain is cut, and
gunicorn kills workers that are still alive :data:`STOP_MARGIN_SECONDS` later. A second
SIGINT, or SIGQUIT, asks for gunicorn's quick shutdown instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import io
import json
import logging
import math
import os
import re
import signal
import ssl
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace, TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import h11
from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from federation_config.loader import load
from federation_config.settings import NodeSettings
from node.api.common import RECEIVED_AT
from node.api.errors import PROBLEM_BASE
from node.api.request_metrics import share_between_workers, shared_directory
from node.app import close_app, create_app
from node.logs import gunicorn_logconfig, log_format
from node.wiring import build_services

ACCESS_LOG = logging.getLogger("gunicorn.access")

__all__ = [
    "BufferingWorker",
    "NodeServer",
    "ServerLimits",
    "bind_address",
    "problem_body",
    "problem_bytes",
    "stop_bound",
]

RECV_BYTES = 64 * 1024
# After an error answer the connection is closed; the client's unread bytes are read and
# dropped for at most this long first, so that closing does not reset the connection before
# the client has read the answer.
LINGER_SECONDS = 2.0
# The end of the request head, as h11 finds it (it accepts bare LF line ends too).
_HEAD_END = re.compile(rb"\n\r?\n")
_NO_BODY_STATUSES = frozenset({204, 304})
#: After the drain, a worker cuts what is left (2 s at most) and exits; gunicorn's master kills
#: workers still alive this many seconds after the drain timeout.
STOP_MARGIN_SECONDS = 5.0


def stop_bound(drain_timeout: float) -> float:
    """Seconds after SIGTERM by which ``node serve`` has exited (a supervisor waits longer)."""
    return drain_timeout + STOP_MARGIN_SECONDS


def bind_address(settings: NodeSettings, host: str | None, port: int | None) -> str:
    """``host:port`` to listen on: options first, else the base URL's host and port."""
    parts = urlsplit(settings.base_url)
    default_port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host or parts.hostname}:{port or default_port}"


@dataclass(frozen=True)
class ServerLimits:
    """What one worker accepts, and for how long it waits.

    Attributes:
        read_timeout: Seconds to receive one complete request. For a connection's first
            request the clock starts at accept (the TLS handshake counts); for a later one at
            its first byte. A request still incomplete then is answered 408.
        keepalive: Seconds an idle keep-alive connection is kept for the next request.
        max_body: Largest request body in bytes (the node's ``max_request_bytes``).
        threads: Threads per worker that run the WSGI app (complete requests only).
        max_connections: Open connections per worker; more are closed at once.
        max_request_line: Longest request line (414 beyond).
        max_header_fields: Most header fields (431 beyond).
        max_header_field: Longest header field, name and value (431 beyond).
        max_head: Longest request head, request line and all fields (431 beyond).
        max_buffered: Request body bytes one worker holds at once, over all connections;
            a body that would go beyond is answered 503 (bounds memory under many uploads).
        drain_timeout: Seconds that requests in progress may take to finish once the worker
            is told to stop.
    """

    read_timeout: float
    keepalive: float
    max_body: int
    threads: int
    max_connections: int
    max_request_line: int = 8190
    max_header_fields: int = 100
    max_header_field: int = 8190
    max_head: int = 64 * 1024
    max_buffered: int = 64 * 1024 * 1024
    drain_timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: NodeSettings) -> ServerLimits:
        """The limits a node's settings ask for."""
        return cls(
            read_timeout=settings.request_read_timeout_seconds,
            keepalive=settings.keepalive_seconds,
            max_body=settings.max_request_bytes,
            threads=settings.server_threads,
            max_connections=settings.server_max_connections,
            drain_timeout=settings.drain_timeout_seconds,
        )


def problem_body(status: int, code: str, detail: str) -> bytes:
    """An RFC 9457 problem document with the same members as the app's (``node.api.errors``)."""
    return json.dumps(
        {
            "type": PROBLEM_BASE + code.lower().replace("_", "-"),
            "title": code.replace("_", " ").capitalize().replace("Uri", "URI"),
            "status": status,
            "detail": detail,
            "code": code,
        }
    ).encode()


def problem_bytes(
    status: int, code: str, detail: str, *, include_body: bool = True, close: bool = True
) -> bytes:
    """A complete HTTP/1.1 ``application/problem+json`` response, as the app would write it."""
    body = problem_body(status, code, detail)
    head = [
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
        "Content-Type: application/problem+json",
        f"Content-Length: {len(body)}",
        f"Date: {email.utils.formatdate(usegmt=True)}",
        "Cache-Control: no-store",
        "X-Content-Type-Options: nosniff",
    ]
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + (body if include_body else b"")


class _Problem(Exception):
    """Answer the client with a problem document and close the connection."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


class _Timeout(Exception):
    """The request (or the idle wait for one) ran past its deadline."""


class _Gone(Exception):
    """The client closed its side."""


@dataclass
class _AppResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


def _status_of(status_line: str) -> tuple[int, str]:
    code, _, reason = status_line.partition(" ")
    return int(code), reason


def _environ(
    request: h11.Request,
    body: bytes,
    *,
    scheme: str,
    server: tuple[str, int],
    peer: tuple[str, int],
    multiprocess: bool,
    received_at: float,
) -> dict[str, Any]:
    """The PEP 3333 environ of a complete, buffered request.

    ``received_at`` is the ``time.monotonic()`` by which the whole request had been received
    (``environ[RECEIVED_AT]``): the app may rely on every change committed before it.
    """
    target = request.target.decode("latin-1")
    if target.startswith(("http://", "https://")):  # absolute form
        parts = urlsplit(target)
        path, query = parts.path or "/", parts.query
    else:
        path, _, query = target.partition("?")
    path = path.split("#", 1)[0]
    query = query.split("#", 1)[0]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method.decode("ascii"),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(path, encoding="latin-1"),
        "QUERY_STRING": query,
        "RAW_URI": target,
        "REQUEST_URI": target,
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": "HTTP/" + request.http_version.decode("ascii"),
        "SERVER_SOFTWARE": "trustlane",
        "REMOTE_ADDR": peer[0],
        "REMOTE_PORT": str(peer[1]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        RECEIVED_AT: received_at,
    }
    for raw_name, raw_value in request.headers:  # h11 lower-cases names
        name = raw_name.decode("ascii")
        if "_" in name:
            # "X_Token" would collide with "X-Token" in the environ: drop it (as gunicorn does).
            continue
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue  # the body is buffered and de-chunked: CONTENT_LENGTH says its size
        value = raw_value.decode("latin-1")
        if key == "CONTENT_TYPE":
            environ[key] = value
            continue
        key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


class _Connection:
    """One client connection: read a whole request, answer it, repeat while kept alive."""

    def __init__(
        self,
        worker: BufferingWorker,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        accepted: float,
    ) -> None:
        self.worker = worker
        self.limits = worker.limits
        self.reader = reader
        self.writer = writer
        self.loop = asyncio.get_running_loop()
        self.accepted = accepted
        self.pending = bytearray()  # bytes of the next request already received
        self.busy = False  # a request has started and is not answered yet
        self.request: h11.Request | None = None  # its head, once received
        self.close_wait = 1.0  # how long close() waits for the client's side to close
        self.held = 0  # body bytes buffered for the current request
        self.peer: tuple[str, int] = ("", 0)
        self.server: tuple[str, int] = ("", 0)

    # -- reading ----------------------------------------------------------------------

    async def _recv(self, until: float) -> bytes:
        try:
            async with asyncio.timeout_at(until):
                data = await self.reader.read(RECV_BYTES)
        except TimeoutError:
            raise _Timeout from None
        if not data:
            raise _Gone
        return data

    async def _read_head(self, idle_until: float, deadline: float | None) -> tuple[bytes, float]:
        """Receive a request head; return it (with what followed it) and the deadline."""
        buf = self.pending
        self.pending = bytearray()
        searched = 0
        while True:
            # RFC 9112 section 2.2: ignore empty lines before the request line.
            while buf[:2] == b"\r\n" or buf[:1] == b"\n":
                del buf[: 2 if buf[:1] == b"\r" else 1]
            if buf and deadline is None:
                deadline = self.loop.time() + self.limits.read_timeout
            if buf:
                self.busy = True
            line_end = buf.find(b"\n")
            line = len(buf) if line_end < 0 else line_end
            if line > self.limits.max_request_line + 1:  # +1: the CR of CRLF
                raise _Problem(
                    414,
                    "URI_TOO_LONG",
                    f"the request line is longer than {self.limits.max_request_line} bytes",
                )
            end = _HEAD_END.search(buf, max(0, searched - 3))
            head_size = len(buf) if end is None else end.end()
            if head_size > self.limits.max_head:
                raise _Problem(
                    431,
                    "REQUEST_HEADER_FIELDS_TOO_LARGE",
                    f"the request head is larger than {self.limits.max_head} bytes",
                )
            if end is not None:
                assert deadline is not None  # noqa: S101 - buf is not empty here
                return bytes(buf), deadline
            searched = len(buf)
            buf += await self._recv(idle_until if deadline is None else deadline)

    async def _read_request(
        self, idle_until: float, deadline: float | None
    ) -> tuple[h11.Connection, h11.Request, bytes]:
        """Receive one complete request (head and body) before its deadline."""
        data, deadline = await self._read_head(idle_until, deadline)
        parser = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head + 1)
        parser.receive_data(data)
        try:
            event = parser.next_event()
        except h11.RemoteProtocolError as e:
            raise self._bad_request(e) from None
        if not isinstance(event, h11.Request):  # the head was complete: cannot happen
            raise _Problem(400, "BAD_REQUEST", "no request line received")
        request = self.request = event
        self._check_head(request)
        if _content_length(request) > self.limits.max_body:
            # Refused before the body is read (and without "100 Continue").
            raise _Problem(
                413, "PAYLOAD_TOO_LARGE", f"request body exceeds {self.limits.max_body} bytes"
            )
        if parser.they_are_waiting_for_100_continue:
            await self._send(
                parser.send(
                    h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
                )
            )
        body = bytearray()
        while True:
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError as e:
                raise self._bad_request(e) from None
            if event is h11.NEED_DATA:
                parser.receive_data(await self._recv(deadline))
            elif isinstance(event, h11.Data):
                self._hold(len(event.data))
                body += event.data
                if len(body) > self.limits.max_body:
                    raise _Problem(
                        413,
                        "PAYLOAD_TOO_LARGE",
                        f"request body exceeds {self.limits.max_body} bytes",
                    )
            elif isinstance(event, h11.EndOfMessage):
                break
            else:  # pragma: no cover - h11 yields nothing else mid-request
                raise _Problem(400, "BAD_REQUEST", "unexpected end of the request")
        leftover, _ = parser.trailing_data
        self.pending = bytearray(leftover)
        return parser, request, bytes(body)

    def _hold(self, size: int) -> None:
        """Count ``size`` more buffered body bytes against the worker's budget."""
        if self.worker.buffered + size > self.limits.max_buffered:
            raise _Problem(
                503,
                "SERVER_BUSY",
                "too many request bodies are being received; retry in a moment",
            )
        self.worker.buffered += size
        self.held += size

    def release(self) -> None:
        """Return this connection's buffered body bytes to the worker's budget."""
        self.worker.buffered -= self.held
        self.held = 0

    def _check_head(self, request: h11.Request) -> None:
        if len(request.headers) > self.limits.max_header_fields:
            raise _Problem(
                431,
                "REQUEST_HEADER_FIELDS_TOO_LARGE",
                f"more than {self.limits.max_header_fields} header fields",
            )
        for name, value in request.headers:
            if len(name) + len(value) + 2 > self.limits.max_header_field:
                raise _Problem(
                    431,
                    "REQUEST_HEADER_FIELDS_TOO_LARGE",
                    f"header field {name.decode('ascii')!r} is longer than "
                    f"{self.limits.max_header_field} bytes",
                )
        names = [name for name, _ in request.headers]
        if b"content-length" in names and b"transfer-encoding" in names:
            # RFC 9112 section 6.3: a sign of request smuggling; never guess which one counts.
            raise _Problem(
                400,
                "BAD_REQUEST",
                "Content-Length and Transfer-Encoding must not both be present",
            )

    @staticmethod
    def _bad_request(error: h11.RemoteProtocolError) -> _Problem:
        # h11's message, without the offending bytes it quotes (not echoed to the client).
        message = str(error).split(": bytearray(", 1)[0].split(": b'", 1)[0][:200]
        status = error.error_status_hint
        if status == 431:
            return _Problem(431, "REQUEST_HEADER_FIELDS_TOO_LARGE", message)
        if status == 501:
            return _Problem(501, "NOT_IMPLEMENTED", message)
        return _Problem(400, "BAD_REQUEST", f"malformed HTTP request: {message}")

    # -- writing ----------------------------------------------------------------------

    async def _send(self, data: bytes) -> None:
        self.writer.write(data)
        try:
            async with asyncio.timeout(self.limits.read_timeout):
                await self.writer.drain()
        except TimeoutError:
            raise _Gone from None  # the client does not read its answer

    def _response_bytes(
        self, parser: h11.Connection, request: h11.Request, response: _AppResponse
    ) -> bytes:
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]
        names = {name.lower() for name, _ in headers}
        has_body = response.status not in _NO_BODY_STATUSES and response.status >= 200
        if has_body and b"content-length" not in names and b"transfer-encoding" not in names:
            headers.append((b"Content-Length", str(len(response.body)).encode("ascii")))
        if b"date" not in names:
            headers.append((b"Date", email.utils.formatdate(usegmt=True).encode("ascii")))
        if not self.worker.alive:
            headers.append((b"Connection", b"close"))
        out = parser.send(
            h11.Response(
                status_code=response.status,
                headers=headers,
                reason=response.reason.encode("latin-1"),
            )
        )
        if has_body and request.method != b"HEAD" and response.body:
            out = (out or b"") + (parser.send(h11.Data(data=response.body)) or b"")
        return (out or b"") + (parser.send(h11.EndOfMessage()) or b"")

    # -- the connection ---------------------------------------------------------------

    async def serve(self) -> None:
        """Serve requests until the client leaves, an error, idleness or shutdown."""
        self.peer = _address(self.writer.get_extra_info("peername"))
        self.server = _address(self.writer.get_extra_info("sockname"))
        first_deadline: float | None = self.accepted + self.limits.read_timeout
        idle_until = self.accepted + self.limits.read_timeout
        while self.worker.alive:
            started = self.loop.time()
            self.request = None
            try:
                parser, request, body = await self._read_request(idle_until, first_deadline)
                started = self.loop.time()
                environ = _environ(
                    request,
                    body,
                    scheme=self.worker.scheme,
                    server=self.server,
                    peer=self.peer,
                    multiprocess=self.worker.multiprocess,
                    received_at=time.monotonic(),
                )
                response = await self.loop.run_in_executor(
                    self.worker.pool, self.worker.call_app, environ
                )
                try:
                    out = self._response_bytes(parser, request, response)
                except h11.LocalProtocolError:
                    self.worker.log.exception("the app's response cannot be sent")
                    raise _Problem(
                        500, "INTERNAL_ERROR", "unexpected error; the node logged the details"
                    ) from None
                await self._send(out)
                self.worker.access(environ, request, response.status, response.headers, started)
            except _Problem as e:
                await self._answer_and_close(e, self.request, started)
                return
            except _Timeout:
                if self.busy:  # part of a request came: say why it is cut
                    await self._answer_and_close(
                        _Problem(
                            408,
                            "REQUEST_TIMEOUT",
                            "the request was not received completely within "
                            f"{self.limits.read_timeout:g} s",
                        ),
                        self.request,
                        started,
                    )
                return
            except _Gone:
                return
            finally:
                self.release()
            self.busy = False
            if parser.our_state is not h11.DONE or parser.their_state is not h11.DONE:
                return  # Connection: close, HTTP/1.0, or an answer the client cannot frame
            first_deadline = None
            idle_until = self.loop.time() + self.limits.keepalive

    async def _answer_and_close(
        self, problem: _Problem, request: h11.Request | None, started: float
    ) -> None:
        include_body = request is None or request.method != b"HEAD"
        data = problem_bytes(
            problem.status, problem.code, problem.detail, include_body=include_body
        )
        environ = {
            "REQUEST_METHOD": request.method.decode("ascii") if request else "-",
            "RAW_URI": request.target.decode("latin-1") if request else "-",
            "SERVER_PROTOCOL": f"HTTP/{request.http_version.decode('ascii')}" if request else "-",
            "REMOTE_ADDR": self.peer[0],
        }
        self.worker.access(environ, request, problem.status, [], started)
        self.close_wait = LINGER_SECONDS
        try:
            await self._send(data)
            if self.writer.can_write_eof():
                # Plain TCP: half-close, then read and drop what the client still sends (for a
                # bounded time), so that closing does not reset the connection before the
                # client has read the answer. Over TLS, close() does the same: it sends
                # close_notify and waits for the client's.
                self.writer.write_eof()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(LINGER_SECONDS):
                        while await self.reader.read(RECV_BYTES):
                            pass
        except (_Gone, ConnectionError, OSError):
            pass

    async def close(self) -> None:
        """Close the connection (bounded: a TLS peer that never answers is aborted)."""
        self.release()
        self.writer.close()
        try:
            async with asyncio.timeout(self.close_wait):
                await self.writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError, ssl.SSLError):
            self.writer.transport.abort()


def _address(value: object) -> tuple[str, int]:
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return ("", 0)


def _content_length(request: h11.Request) -> int:
    """The announced body size (h11 has checked there is at most one valid value)."""
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)
    return 0


class BufferingWorker(Worker):  # type: ignore[misc]  # gunicorn ships no type hints
    """A gunicorn worker: asyncio reads whole requests, a thread pool runs the WSGI app."""

    limits: ServerLimits
    pool: ThreadPoolExecutor
    buffered = 0  # request body bytes held by all connections (ServerLimits.max_buffered)
    scheme: str
    multiprocess: bool

    def init_signals(self) -> None:
        """Set the worker's signals as gunicorn does, but let SIGINT drain like SIGTERM.

        Ctrl-C in a terminal reaches every process of the group, workers included; gunicorn's
        worker would exit at once on SIGINT and cut the requests it is answering. The master
        still asks for a quick stop with SIGQUIT (a second Ctrl-C).
        """
        super().init_signals()
        signal.signal(signal.SIGINT, self.handle_exit)
        signal.siginterrupt(signal.SIGINT, False)

    def run(self) -> None:
        """Serve until gunicorn stops this worker (called by ``init_process``)."""
        self.limits = self.app.limits
        self.json_logs = log_format(os.environ) == "json"
        self.scheme = "https" if self.cfg.is_ssl else "http"
        self.multiprocess = self.cfg.workers > 1
        self.pool = ThreadPoolExecutor(self.limits.threads, thread_name_prefix="trustlane-app")
        try:
            asyncio.run(self._main())
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)
            # The node's background work: pushes in flight are finished, refetches and the
            # scheduler stopped, the database pool closed (bounded by gunicorn's kill).
            try:
                close_app(self.wsgi, drain_seconds=min(5.0, self.limits.drain_timeout))
            except Exception:
                self.log.exception("worker %s: closing the node's services failed", os.getpid())
            else:
                self.log.info("worker %s: background work finished, database closed", os.getpid())

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.cfg.is_ssl:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certfile=self.cfg.certfile, keyfile=self.cfg.keyfile)
        context.set_alpn_protocols(["http/1.1"])
        return context

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_error)
        tls = self._ssl_context()
        connections: dict[asyncio.Task[None], _Connection] = {}

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted = loop.time()
            if len(connections) >= self.limits.max_connections:
                writer.transport.abort()
                return
            task = asyncio.current_task()
            assert task is not None  # noqa: S101 - asyncio runs this callback as a task
            conn = _Connection(self, reader, writer, accepted)
            connections[task] = conn
            try:
                if tls is not None:
                    # The handshake counts against the first request's deadline.
                    async with asyncio.timeout_at(accepted + self.limits.read_timeout):
                        await writer.start_tls(tls)
                await conn.serve()
            except (TimeoutError, ConnectionError, OSError, ssl.SSLError) as e:
                self.log.debug("connection ended: %r", e)
            except asyncio.CancelledError:
                # Cut by the stop (an idle connection, or a request the drain did not wait
                # for): end normally, so that asyncio does not log the cancellation.
                self.log.debug("connection closed by the stop")
            finally:
                del connections[task]
                await conn.close()

        servers = [
            await asyncio.start_server(
                accept, sock=listener.sock, backlog=self.cfg.backlog, limit=RECV_BYTES
            )
            for listener in self.sockets
        ]
        # SIGTERM and SIGINT wake the loop at once, so that it stops accepting before the
        # next connection: none is accepted only to be closed unanswered. (SIGQUIT keeps
        # gunicorn's handler: a quick exit.)
        stopping = asyncio.Event()

        def stop(signum: int) -> None:
            if not stopping.is_set():
                name = signal.Signals(signum).name
                self.log.info("worker %s: %s, stopping", os.getpid(), name)
            self.alive = False
            stopping.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop, signum)
        try:
            while self.alive:
                self.notify()
                if self.ppid != os.getppid():
                    self.log.info("parent changed, shutting down: %s", self)
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await stopping.wait()
        finally:
            for server in servers:
                server.close()
            # New connections are refused now. Let requests in progress finish (bounded by
            # the drain timeout), then cut what is left: idle keep-alive connections, and
            # requests still running after the drain.
            self.log.info(
                "worker %s stopping: draining %d connection(s) for at most %g s",
                os.getpid(),
                sum(1 for c in connections.values() if c.busy),
                self.limits.drain_timeout,
            )
            until = loop.time() + self.limits.drain_timeout
            while any(c.busy for c in connections.values()) and loop.time() < until:
                self.notify()
                await asyncio.sleep(0.1)
            tasks = list(connections)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2.0)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, ConnectionError | ssl.SSLError | TimeoutError):
            self.log.debug("connection error: %s", context.get("message"))
            return
        if isinstance(error, asyncio.CancelledError):
            # A connection task the stop cancelled before it began, or again while it was
            # closing: on Python 3.11 asyncio's stream callback then calls exception() on a
            # cancelled task. Nothing was lost: the drain had answered what had started.
            self.log.debug("connection cancelled by the stop: %s", context.get("message"))
            return
        loop.default_exception_handler(context)

    def call_app(self, environ: dict[str, Any]) -> _AppResponse:
        """Run the WSGI app on one buffered request (in a pool thread)."""
        state: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(
            status: str,
            headers: list[tuple[str, str]],
            exc_info: tuple[type[BaseException], BaseException, TracebackType] | None = None,
        ) -> Callable[[bytes], object]:
            # Nothing is sent before the app returns, so a later call may replace the headers.
            state["status"], state["headers"] = status, list(headers)
            return chunks.append

        try:
            result: Iterable[bytes] = self.wsgi(environ, start_response)
            try:
                chunks.extend(bytes(chunk) for chunk in result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            code, reason = _status_of(state["status"])
            return _AppResponse(code, reason, state["headers"], b"".join(chunks))
        except Exception:
            self.log.exception("error handling request %s", environ.get("RAW_URI"))
            return _AppResponse(
                500,
                "Internal Server Error",
                [("Content-Type", "application/problem+json"), ("Cache-Control", "no-store")],
                problem_body(
                    500, "INTERNAL_ERROR", "unexpected error; the node logged the details"
                ),
            )

    def access(
        self,
        environ: Mapping[str, Any],
        request: h11.Request | None,
        status: int,
        headers: list[tuple[str, str]],
        started: float,
    ) -> None:
        """Write one line to gunicorn's access log (when it is enabled)."""
        if not self.cfg.accesslog:
            return
        if self.json_logs:
            self._access_json(environ, status, headers, started)
            return
        request_headers = (
            [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers]
            if request is not None
            else []
        )
        elapsed = timedelta(seconds=max(0.0, asyncio.get_running_loop().time() - started))
        response = SimpleNamespace(status=str(status), sent=None, headers=headers)
        self.log.access(response, SimpleNamespace(headers=request_headers), environ, elapsed)

    def _access_json(
        self,
        environ: Mapping[str, Any],
        status: int,
        headers: list[tuple[str, str]],
        started: float,
    ) -> None:
        # The path without its query string: queries may carry what should not be logged.
        elapsed = max(0.0, asyncio.get_running_loop().time() - started)
        request_id = next((v for n, v in headers if n.lower() == "x-request-id"), None)
        ACCESS_LOG.info(
            "%s %s %s",
            environ.get("REQUEST_METHOD", "-"),
            environ.get("PATH_INFO", "-"),
            status,
            extra={
                "method": environ.get("REQUEST_METHOD", "-"),
                "path": environ.get("PATH_INFO", "-"),
                "status": status,
                "durationMs": round(elapsed * 1000, 2),
                "client": environ.get("REMOTE_ADDR", "-"),
                "request_id": request_id,
            },
        )


class _NodeArbiter(Arbiter):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn's master, but the first SIGINT (Ctrl-C) stops gracefully, like SIGTERM.

    gunicorn stops at once on SIGINT. Here it drains as on SIGTERM; a SIGINT or SIGQUIT
    received during the drain still asks for gunicorn's quick shutdown.
    """

    def handle_int(self) -> None:
        self.log.info("graceful stop (SIGINT); send SIGINT again for a quick stop")
        raise StopIteration


class NodeServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """A gunicorn application that builds the node app in each worker."""

    def __init__(
        self, settings: NodeSettings, environ: Mapping[str, str], options: dict[str, Any]
    ) -> None:
        self._settings = settings
        self._environ = dict(environ)
        self._options = options
        self.limits = ServerLimits.from_settings(settings)
        self._metrics_directory: Path | None = None
        super().__init__()

    def load_config(self) -> None:
        """Apply our options to gunicorn's configuration."""
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """Build the app (called in each worker)."""
        if self._metrics_directory is not None:
            share_between_workers(self._metrics_directory)
        settings = load(self._settings.data_dir, self._environ)
        return create_app(build_services(settings, self._environ), start_jobs=True)

    def run(self) -> None:
        """Run the master until it is stopped; exits 0 after a graceful stop."""
        try:
            # The workers' request figures, summed by whichever worker a scrape reaches.
            with shared_directory() as self._metrics_directory:
                _NodeArbiter(self).run()
        except RuntimeError as e:
            print(f"\nError: {e}\n", file=sys.stderr)
            sys.stderr.flush()
            sys.exit(1)


def serve(
    settings: NodeSettings,
    *,
    host: str | None,
    port: int | None,
    workers: int,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Run gunicorn until it is stopped (SIGTERM or SIGINT: a graceful drain, then exit 0)."""
    settings.check_transport()
    options: dict[str, Any] = {
        "bind": bind_address(settings, host, port),
        "workers": workers,
        # See ADR 0002: whole requests are read by an event loop before a thread is used.
        "worker_class": BufferingWorker,
        # The worker's loop reports every half second; a loop stuck this long is restarted.
        "timeout": 30,
        # The master kills workers still alive this long after SIGTERM; each worker drains
        # for settings.drain_timeout_seconds first (ServerLimits.drain_timeout).
        "graceful_timeout": math.ceil(stop_bound(settings.drain_timeout_seconds)),
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        # Text or JSON lines on stderr (TRUSTLANE_LOG_FORMAT; node/logs.py).
        "logconfig_dict": gunicorn_logconfig(
            log_format(environ if environ is not None else os.environ)
        ),
        "proc_name": f"trustlane-{settings.name}",
        # gunicorn's control socket defaults to one path per user, shared by every node on
        # the host (and unlinked by whichever stops first); nodes need none.
        "control_socket_disable": True,
    }
    if settings.tls_cert is not None and settings.tls_key is not None:
        options["certfile"] = str(settings.tls_cert)
        options["keyfile"] = str(settings.tls_key)
    NodeServer(settings, environ if environ is not None else os.environ, options).run()
