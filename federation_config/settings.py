"""The node's settings as frozen values.

:class:`NodeSettings` is everything a node process needs to start: identity, storage, TLS,
key store and limits. It is built by :mod:`federation_config.loader` (file + environment) or
directly by tests; nothing here reads files or the environment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from credentials.errors import MalformedInputError
from registry import peer_origin

__all__ = [
    "DEFAULT_PASSPHRASE_ENV",
    "MAX_CHALLENGE_TTL_SECONDS",
    "MAX_OFFER_CODE_TTL_SECONDS",
    "NodeSettings",
    "did_web_for",
    "is_loopback_url",
]

DEFAULT_PASSPHRASE_ENV = "TRUSTLANE_KEYSTORE_PASSPHRASE"  # noqa: S105 - a variable name
#: Longest lifetime of a presentation challenge (``[presentations] challenge_ttl_seconds``).
MAX_CHALLENGE_TTL_SECONDS = 86_400
#: Longest lifetime of a credential offer's code (``[offers] code_ttl_seconds``).
MAX_OFFER_CODE_TTL_SECONDS = 7 * 86_400


def _config_error(message: str) -> MalformedInputError:
    return MalformedInputError(message, code="INVALID_CONFIG")


def did_web_for(base_url: str) -> str:
    """Return the did:web identifier of a node served at ``base_url`` (an origin).

    ``https://customs.example:8443`` gives ``did:web:customs.example%3A8443`` (did:web §3.1:
    the port's colon is percent-encoded).

    Raises:
        MalformedInputError: ``base_url`` is not an http(s) origin without path or query.
    """
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError as e:
        raise _config_error(f"base URL {base_url!r} is not a valid URL: {e}") from e
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _config_error(f"base URL {base_url!r} must be an http(s) URL with a host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise _config_error(
            f"base URL {base_url!r} must be an origin (no path, query, fragment or user)"
        )
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        raise _config_error("did:web cannot name an IPv6 literal; use a host name")
    authority = host if port is None else f"{host}:{port}"
    return "did:web:" + quote(authority, safe=".-")


def is_loopback_url(base_url: str) -> bool:
    """Tell whether ``base_url`` names this machine only (``localhost``, 127.0.0.0/8, ::1).

    The same test decides where plain http is allowed to peers
    (:func:`registry.peer_origin.is_loopback_url`).
    """
    return peer_origin.is_loopback_url(base_url)


@dataclass(frozen=True)
class NodeSettings:
    """Settings of one node.

    Attributes:
        name: Human name of the administration, e.g. "EU customs (DE)".
        base_url: The node's public origin; its did:web is derived from it.
        data_dir: Directory holding the configuration, key store and (by default) SQLite.
        database_url: SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``).
        tls_cert: PEM certificate chain served by ``node serve`` (None: plain HTTP).
        tls_key: PEM private key for ``tls_cert``.
        insecure_allow_plain_http: Serve plain HTTP on a non-loopback base URL. Loudly named
            because it exposes tokens and credentials to the network.
        keystore_dir: Directory of the encrypted key store.
        passphrase_env: Environment variable that holds the key store passphrase.
        passphrase_file: File holding the passphrase when the variable is unset.
        status_list_size: Entries per status list (spec minimum 131,072).
        status_list_valid_seconds: How long a published status list may be relied on.
        status_list_cache_seconds: Cache-Control max-age for status lists.
        credential_valid_days: Default validity of issued AEO credentials.
        max_request_bytes: Largest accepted request body.
        clock_skew_seconds: Tolerance for times slightly in the future.
        signature_cache_entries: How many passed Ed25519 checks each worker remembers
            (``[limits] signature_cache_entries``; see :mod:`credentials.signature_cache`).
        request_read_timeout_seconds: Longest time to receive one complete request (TLS
            handshake, request line, headers and body); a slower client is answered 408 and
            disconnected (ADR 0002).
        keepalive_seconds: How long an idle HTTP keep-alive connection waits for its next
            request.
        server_threads: Threads per server worker that run complete requests.
        server_max_connections: Open connections per server worker; more are refused.
        drain_timeout_seconds: On SIGTERM or SIGINT, how long ``node serve`` lets requests
            in progress finish after it stops accepting connections; what is still running
            then is cut. The process exits at most a few seconds later.
        challenge_ttl_seconds: How long a presentation challenge may be answered (at most
            a day).
        offer_code_ttl_seconds: How long a credential offer's pre-authorised code may be
            redeemed (``[offers] code_ttl_seconds``, at most a week).
        key_max_age_days: Rotate the signing key when it is this old (``[keys]
            max_age_days``; None: only by hand). The scheduler announces the new key, then
            publishes it once every peer acknowledged or ``key_publish_wait_seconds`` passed.
        key_publish_wait_seconds: How long a scheduled rotation waits for acknowledgements
            before it publishes anyway (``[keys] publish_wait_seconds``).
    """

    name: str
    base_url: str
    data_dir: Path
    database_url: str
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_allow_plain_http: bool = False
    keystore_dir: Path | None = None
    passphrase_env: str = DEFAULT_PASSPHRASE_ENV
    passphrase_file: Path | None = None
    status_list_size: int = 131_072
    status_list_valid_seconds: int = 86_400
    status_list_cache_seconds: int = 60
    credential_valid_days: int = 3 * 365
    max_request_bytes: int = 1024 * 1024
    clock_skew_seconds: int = 300
    signature_cache_entries: int = 65_536
    request_read_timeout_seconds: float = 10.0
    keepalive_seconds: float = 5.0
    server_threads: int = 8
    server_max_connections: int = 1000
    drain_timeout_seconds: float = 10.0
    challenge_ttl_seconds: int = 600
    offer_code_ttl_seconds: int = 600
    key_max_age_days: int | None = None
    key_publish_wait_seconds: int = 3600
    did: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "did", did_web_for(self.base_url))
        if not self.name.strip():
            raise _config_error("node name must not be empty")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise _config_error("tls cert and key must be given together")
        if not 131_072 <= self.status_list_size <= 2**24 or self.status_list_size % 8:
            raise _config_error("status list size must be a multiple of 8 in 131072..16777216")
        for name in (
            "status_list_valid_seconds",
            "status_list_cache_seconds",
            "credential_valid_days",
            "max_request_bytes",
            "request_read_timeout_seconds",
            "keepalive_seconds",
            "server_threads",
            "server_max_connections",
            "drain_timeout_seconds",
            "challenge_ttl_seconds",
            "offer_code_ttl_seconds",
            "key_publish_wait_seconds",
            "signature_cache_entries",
        ):
            value = getattr(self, name)
            if not value > 0:  # also refuses NaN
                raise _config_error(f"{name} must be positive")
            if not math.isfinite(value):
                raise _config_error(f"{name} must be finite")
        if self.challenge_ttl_seconds > MAX_CHALLENGE_TTL_SECONDS:
            raise _config_error(
                f"challenge_ttl_seconds must be at most {MAX_CHALLENGE_TTL_SECONDS} (a day)"
            )
        if self.offer_code_ttl_seconds > MAX_OFFER_CODE_TTL_SECONDS:
            raise _config_error(
                f"offer_code_ttl_seconds must be at most {MAX_OFFER_CODE_TTL_SECONDS} (a week)"
            )
        if self.key_max_age_days is not None and not 1 <= self.key_max_age_days <= 3650:
            raise _config_error("keys.max_age_days must be in 1..3650")
        if self.keystore_dir is None:
            object.__setattr__(self, "keystore_dir", self.data_dir / "keys")

    @property
    def uses_tls(self) -> bool:
        """True when the node serves HTTPS itself."""
        return self.tls_cert is not None

    def check_transport(self) -> None:
        """Refuse plain HTTP except on loopback or when explicitly allowed.

        Raises:
            MalformedInputError: The node would serve credentials and tokens in clear text.
        """
        if self.uses_tls or is_loopback_url(self.base_url) or self.insecure_allow_plain_http:
            return
        raise _config_error(
            f"{self.base_url} is not a loopback address and no TLS certificate is configured; "
            "configure [tls] cert and key (or set security.insecure_allow_plain_http = true "
            "if TLS is terminated in front of the node)"
        )
