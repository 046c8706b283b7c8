"""The one way the node fetches from peers: HTTPS with per-peer CA, caps and timeouts.

All network access to peers goes through a :class:`Fetcher`; tests swap in an in-memory
one. Redirects are not followed (a peer answers at its own origin), bodies are capped, and
every failure becomes a :class:`FetchError` with a reason fit for the health report.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from credentials.errors import TrustlaneError

__all__ = [
    "FetchError",
    "FetchResponse",
    "Fetcher",
    "PeerHTTPError",
    "RequestsFetcher",
    "tls_failure",
]


class FetchError(TrustlaneError):
    """A peer could not be reached, or its answer could not be used."""

    code = "FETCH_ERROR"


class PeerHTTPError(FetchError):
    """A peer answered with an unexpected HTTP status."""

    code = "PEER_HTTP_ERROR"

    def __init__(self, message: str, status_code: int, body: bytes = b"") -> None:
        super().__init__(message)
        self.status_code = status_code
        #: The start of the answer's body (at most 1 KiB), for protocols that put a value in
        #: an error answer (a C2SP witness's 409 names the size it holds).
        self.body = body


@dataclass(frozen=True)
class FetchResponse:
    """A peer's answer: 200 with a body, or 304 (not modified) without one."""

    status: int
    body: bytes
    etag: str | None


class Fetcher(Protocol):
    """Fetches documents from peers."""

    def get(self, url: str, *, ca_bundle: str | None, etag: str | None = None) -> FetchResponse:
        """GET ``url`` (conditional on ``etag``); 200 or 304, else raise FetchError."""
        ...

    def post(
        self, url: str, *, body: bytes, headers: Mapping[str, str], ca_bundle: str | None
    ) -> FetchResponse:
        """POST ``body``; any 2xx is returned, else raise FetchError."""
        ...


# The sockets opened by the fetch running on this thread, so that a watchdog can cut them.
_fetch_sockets = threading.local()


def _track(sock: socket.socket | None) -> None:
    sockets: list[socket.socket] | None = getattr(_fetch_sockets, "sockets", None)
    if sockets is not None and sock is not None:
        sockets.append(sock)


class _TrackedHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _track(self.sock)


class _TrackedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _track(self.sock)


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    """An adapter whose connections register their sockets with the running fetch."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _TrackedHTTPPool,
            "https": _TrackedHTTPSPool,
        }


def _error_body(response: requests.Response) -> bytes:
    """At most 1 KiB of an error answer's body (never raises)."""
    try:
        return next(response.iter_content(_ERROR_BODY_BYTES), b"")[:_ERROR_BODY_BYTES]
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError):
        return b""


_ERROR_BODY_BYTES = 1024


_TLS_FIX = "--ca-bundle on 'trustlane registry peer add', or ca_bundle in federation.toml"


def tls_failure(url: str, error: BaseException, ca_bundle: str | None) -> str:
    """The message for a failed TLS handshake with a peer, naming the option that fixes it."""
    text = str(error)
    detail = ""
    marker = "certificate verify failed: "
    if marker in text:
        detail = text.split(marker, 1)[1].split(" (_ssl", 1)[0].split("')", 1)[0]
        detail = detail.strip().rstrip(".")
    why = f" ({detail})" if detail else ""
    if ca_bundle:
        return (
            f"{url}: TLS verification failed with CA bundle {ca_bundle}{why}: it must be the "
            f"CA that issued the peer's certificate for this host ({_TLS_FIX})"
        )
    return (
        f"{url}: TLS verification failed{why}: pass the CA bundle the peer handed over ({_TLS_FIX})"
    )


def _cut(sockets: list[socket.socket]) -> None:
    # shutdown() wakes a recv() blocked in another thread; close() would not.
    for sock in list(sockets):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class RequestsFetcher:
    """:class:`Fetcher` over ``requests`` with a timeout and a response size cap.

    ``timeout`` bounds each connect and read and also the whole exchange: an answer not
    complete within ``timeout`` seconds of the request is a failure, however slowly the peer
    drips its status line, headers or body (a watchdog shuts the socket down at the
    deadline, and the body is read a chunk at a time against it).
    """

    def __init__(self, *, timeout: float = 10.0, max_bytes: int = 2 * 1024 * 1024) -> None:
        self._timeout = timeout
        self._max = max_bytes

    def _read(self, response: requests.Response, url: str, deadline: float) -> bytes:
        # read1 returns whatever one read gives, so a peer that drips its body a byte at a
        # time is cut off at the total deadline, not only when a single read times out.
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise FetchError(f"{url}: timed out: no complete answer within {self._timeout} s")
            chunk = response.raw.read1(65536, decode_content=True)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self._max:
                raise FetchError(f"{url}: response larger than {self._max} bytes")
            chunks.append(chunk)

    def _call(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        ca_bundle: str | None,
        ok: tuple[int, ...],
    ) -> FetchResponse:
        deadline = time.monotonic() + self._timeout
        sockets: list[socket.socket] = []
        _fetch_sockets.sockets = sockets
        watchdog = threading.Timer(self._timeout, _cut, args=(sockets,))
        watchdog.daemon = True
        watchdog.start()
        try:
            with requests.Session() as session:
                session.trust_env = False
                session.mount("https://", _DeadlineAdapter())
                session.mount("http://", _DeadlineAdapter())
                with session.request(
                    method,
                    url,
                    headers=dict(headers),
                    data=body,
                    timeout=self._timeout,
                    verify=ca_bundle if ca_bundle else True,
                    allow_redirects=False,
                    stream=True,
                ) as response:
                    if response.status_code not in ok:
                        raise PeerHTTPError(
                            f"{method} {url} answered HTTP {response.status_code}",
                            response.status_code,
                            _error_body(response),
                        )
                    if response.status_code == 304:
                        data = b""
                    else:
                        data = self._read(response, url, deadline)
                    return FetchResponse(response.status_code, data, response.headers.get("ETag"))
        except requests.exceptions.SSLError as e:
            raise FetchError(tls_failure(url, e, ca_bundle)) from e
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
            if time.monotonic() >= deadline:
                raise FetchError(
                    f"{url}: timed out: no complete answer within {self._timeout} s"
                ) from e
            if isinstance(e, requests.exceptions.Timeout):
                raise FetchError(f"{url}: timed out after {self._timeout} s") from e
            raise FetchError(f"{url}: {type(e).__name__}") from e
        finally:
            watchdog.cancel()
            _fetch_sockets.sockets = None

    def get(self, url: str, *, ca_bundle: str | None, etag: str | None = None) -> FetchResponse:
        """GET ``url``; 200 or (with ``etag``) 304."""
        headers = {"Accept": "application/json"}
        if etag:
            headers["If-None-Match"] = etag
        return self._call(
            "GET", url, headers=headers, body=None, ca_bundle=ca_bundle, ok=(200, 304)
        )

    def post(
        self, url: str, *, body: bytes, headers: Mapping[str, str], ca_bundle: str | None
    ) -> FetchResponse:
        """POST ``body`` to ``url``; 200, 201, 202 or 204."""
        return self._call(
            "POST", url, headers=headers, body=body, ca_bundle=ca_bundle, ok=(200, 201, 202, 204)
        )
