"""Where a peer may be reached: HTTPS, except loopback to loopback (PURE).

One rule for every way a peer gets in (``trustlane registry peer add``,
``POST /registry/peers``, ``federation.toml`` and ``trustlane config check``):

- the URL is ``https``; plain ``http`` only when the peer's host is loopback
  (``127.0.0.0/8``, ``::1``, ``localhost``) AND this node itself runs on loopback, as in
  a test or a demo on one machine. A node reachable from elsewhere never talks to a peer
  in clear text, and a loopback peer is not a reason for a public node to either;
- the host is a DNS name or an IP literal, the port (if any) is 1-65535;
- no user info, no query, no fragment, no whitespace or control characters; a base URL is
  an origin (no path), returned without the trailing ``/``.

No I/O and no clock: URLs come from the caller.
"""

from __future__ import annotations

import ipaddress
import json
import re
from urllib.parse import unquote, urlsplit

from credentials.errors import MalformedInputError

__all__ = ["check_peer_base_url", "did_web_origin", "is_loopback_url", "peer_url_issue"]

_MAX_SHOWN = 80
# Characters that have no place in a URL we store and print (also keeps messages one line).
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029\\]")
# What json.dumps(ensure_ascii=False) leaves as is but a terminal or log may break lines on.
_LINE_BREAKING = re.compile(r"[\x7f-\x9f\u2028\u2029]")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z", re.ASCII)
_LOOPBACK_V4 = ipaddress.IPv4Network("127.0.0.0/8")


def _shown(value: str) -> str:
    """Show a value in a message: quoted, escaped to one line, shortened."""
    text = json.dumps(value, ensure_ascii=False)
    text = _LINE_BREAKING.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address in _LOOPBACK_V4
    return address == ipaddress.IPv6Address("::1")


def is_loopback_url(url: str) -> bool:
    """Tell whether ``url`` names this machine only.

    Loopback is ``localhost``, ``127.0.0.0/8`` and ``::1`` exactly; no other spelling
    (``127.1``, ``::ffff:127.0.0.1``, ``localhost.``) counts.

    Args:
        url: An absolute URL.

    Returns:
        True for a loopback host; False otherwise, also for an unparsable URL.
    """
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return host is not None and _is_loopback_host(host)


def _host_issue(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        # An all-digit last label is no DNS name but an IPv4 spelling (127.1, 2130706433)
        # that resolvers would read as an address.
        if not _DNS_NAME.match(host) or len(host) > 253 or host.rpartition(".")[2].isdigit():
            return "must name its host as a DNS name or an IP address"
    return None


def peer_url_issue(url: str, *, node_base_url: str | None, origin: bool = True) -> str | None:
    """Say what is wrong with a peer URL, as a phrase starting "must" (None: nothing).

    Args:
        url: The peer's base URL (``origin=True``) or another of its URLs (push endpoint).
        node_base_url: This node's own base URL. None only where it is not known (a
            federation file without ``federation.self_did``): then plain http is judged by
            the peer's host alone, and the node applies the full rule when it adds the peer.
        origin: The URL must be an origin (scheme, host and port only).

    Returns:
        The problem, worded to follow the URL's name; None when the URL is acceptable.
    """
    got = f"(got {_shown(url)})"
    if _UNSAFE.search(url):
        return f"must not contain whitespace, control characters or backslashes {got}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"has an invalid port or host {got}"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"must be an http(s) URL with a host {got}"
    if port == 0:
        return f"has an invalid port {got}"
    if "@" in parts.netloc:
        return f"must not hold user info {got}"
    if "?" in url or "#" in url:
        return f"must not hold a query or a fragment {got}"
    if origin and parts.path not in ("", "/"):
        return f"must be an origin: scheme, host and port only {got}"
    host_issue = _host_issue(parts.hostname)
    if host_issue is not None:
        return f"{host_issue} {got}"
    if parts.scheme == "http":
        if not _is_loopback_host(parts.hostname):
            return f"must use https: plain http is allowed only to a loopback host {got}"
        if node_base_url is not None and not is_loopback_url(node_base_url):
            return (
                "must use https: plain http to a loopback host is allowed only from a node on "
                f"loopback (this node is {_shown(node_base_url)}) {got}"
            )
    return None


def check_peer_base_url(url: str, *, node_base_url: str) -> str:
    """Return the peer's base URL (an origin, no trailing ``/``) if it is acceptable.

    Args:
        url: The peer's base URL, e.g. ``https://us.customs.example:8443/``.
        node_base_url: This node's own base URL (decides whether loopback http is allowed).

    Returns:
        ``scheme://host[:port]``.

    Raises:
        MalformedInputError: Code ``INVALID_PEER``: not https (plain http only loopback to
            loopback), user info, a query, a fragment, a path, a bad host or port.
    """
    issue = peer_url_issue(url, node_base_url=node_base_url, origin=True)
    if issue is not None:
        raise MalformedInputError(f"peer base URL {issue}", code="INVALID_PEER")
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def did_web_origin(did: str) -> str:
    """Return the origin a did:web names, e.g. ``https://eu.customs.example:8443``.

    did:web is resolved over https, so that is the scheme; only the host and port matter
    to :func:`check_peer_base_url` (is this node on loopback?).

    Args:
        did: A did:web of an origin (``did:web:host`` or ``did:web:host%3Aport``).

    Returns:
        The origin.

    Raises:
        MalformedInputError: Code ``INVALID_DID``: not a did:web naming an origin.
    """
    prefix = "did:web:"
    rest = did.removeprefix(prefix)
    origin = "https://" + unquote(rest)
    if (
        not did.startswith(prefix)
        or ":" in rest  # a path (did:web:host:path) or an unencoded port
        or "%" in unquote(rest)
        or "/" in unquote(rest)
        or peer_url_issue(origin, node_base_url=None, origin=True) is not None
    ):
        raise MalformedInputError(
            f"{_shown(did)} is not a did:web naming an origin", code="INVALID_DID"
        )
    return origin
