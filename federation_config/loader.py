"""Load a node's settings from ``DATA_DIR/node.toml`` plus environment overrides.

The file is TOML that operators edit by hand. Relative paths in it are relative to the data
directory. Environment variables override what deployments change per host:
``TRUSTLANE_BASE_URL``, ``TRUSTLANE_DATABASE_URL`` and the ``[server]`` settings
(``TRUSTLANE_SERVER_THREADS`` and so on, see :func:`server_env_var`); an empty variable counts
as unset. Nothing is read at import time; callers pass the environment mapping.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from credentials.errors import MalformedInputError
from federation_config.settings import DEFAULT_PASSPHRASE_ENV, NodeSettings

__all__ = ["CONFIG_NAME", "MAX_SERVER_SECONDS", "dump", "load", "server_env_var"]

CONFIG_NAME = "node.toml"

#: Longest accepted ``[server]`` time (request read timeout, keep-alive, drain), in seconds.
MAX_SERVER_SECONDS = 3600

# A TOML number: integer or float (bool is neither, although Python makes it an int).
_NUMBER = (int, float)

_SECTIONS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "node": {"name": str, "base_url": str},
    "database": {"url": str},
    "tls": {"cert": str, "key": str},
    "keystore": {"dir": str, "passphrase_env": str, "passphrase_file": str},
    "status_lists": {"size": int, "valid_seconds": int, "cache_seconds": int},
    "credentials": {"valid_days": int},
    "limits": {
        "max_request_bytes": int,
        "clock_skew_seconds": int,
        "signature_cache_entries": int,
    },
    "security": {"insecure_allow_plain_http": bool},
    "presentations": {"challenge_ttl_seconds": int},
    "offers": {"code_ttl_seconds": int},
    "keys": {"max_age_days": int, "publish_wait_seconds": int},
    "server": {
        "request_read_timeout_seconds": _NUMBER,
        "keepalive_seconds": _NUMBER,
        "threads": int,
        "max_connections": int,
        "drain_timeout_seconds": _NUMBER,
    },
}

# [server] key -> (NodeSettings field, float for seconds or int for a count).
_SERVER: dict[str, tuple[str, type]] = {
    "request_read_timeout_seconds": ("request_read_timeout_seconds", float),
    "keepalive_seconds": ("keepalive_seconds", float),
    "threads": ("server_threads", int),
    "max_connections": ("server_max_connections", int),
    "drain_timeout_seconds": ("drain_timeout_seconds", float),
}
_ENV_INT = re.compile(r"[0-9]+\Z", re.ASCII)
_ENV_SECONDS = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z", re.ASCII)


def _bad(message: str) -> MalformedInputError:
    return MalformedInputError(message, code="INVALID_CONFIG")


def _check_shape(data: Mapping[str, Any], path: Path) -> None:
    for section, value in data.items():
        if section not in _SECTIONS:
            raise _bad(f"{path}: unknown section [{section}]")
        if not isinstance(value, dict):
            raise _bad(f"{path}: [{section}] must be a table")
        for key, item in value.items():
            expected = _SECTIONS[section].get(key)
            if expected is None:
                raise _bad(f"{path}: unknown key {section}.{key}")
            if isinstance(expected, tuple):
                if type(item) not in expected:
                    raise _bad(f"{path}: {section}.{key} must be a number")
            elif type(item) is not expected:
                raise _bad(f"{path}: {section}.{key} must be {expected.__name__}")
    for section, key in (("node", "name"), ("node", "base_url")):
        if key not in data.get(section, {}):
            raise _bad(f"{path}: missing {section}.{key}")


def server_env_var(key: str) -> str:
    """Return the environment variable that overrides ``[server]`` ``key``.

    ``server_env_var("threads")`` is ``TRUSTLANE_SERVER_THREADS``.
    """
    return "TRUSTLANE_SERVER_" + key.upper()


def _server_settings(
    server: Mapping[str, Any], path: Path, environ: Mapping[str, str]
) -> dict[str, Any]:
    """The ``[server]`` values given in the file or the environment, as NodeSettings fields.

    Raises:
        MalformedInputError: A value (from the file or a variable) is out of range.
    """
    values: dict[str, Any] = {}
    for key, (field, kind) in _SERVER.items():
        var = server_env_var(key)
        raw = environ.get(var, "").strip()
        value: Any
        if raw:
            where = f"${var}"
            pattern = _ENV_SECONDS if kind is float else _ENV_INT
            if not pattern.match(raw):
                wanted = "a number of seconds" if kind is float else "a whole number"
                raise _bad(f"{where} must be {wanted} (got {raw!r})")
            value = kind(raw)
        elif key in server:
            where = f"{path}: server.{key}"
            value = server[key]
        else:
            continue
        if kind is float:
            if not 0 < value <= MAX_SERVER_SECONDS:  # also refuses nan and inf
                raise _bad(
                    f"{where} must be more than 0 and at most {MAX_SERVER_SECONDS} seconds "
                    f"(got {value})"
                )
            values[field] = float(value)
        else:
            if value < 1:
                raise _bad(f"{where} must be at least 1 (got {value})")
            values[field] = value
    return values


def load(data_dir: Path, environ: Mapping[str, str]) -> NodeSettings:
    """Read ``data_dir/node.toml`` and apply environment overrides.

    Args:
        data_dir: The node's data directory.
        environ: The environment (``os.environ`` in production, a dict in tests).

    Returns:
        The validated settings.

    Raises:
        MalformedInputError: The file is missing, not TOML, or has a wrong key or value, or
            an environment override is not a valid value.
    """
    data_dir = data_dir.resolve()
    path = data_dir / CONFIG_NAME
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise _bad(f"{path} not found: run 'trustlane node init' first") from e
    except (OSError, UnicodeDecodeError) as e:
        raise _bad(f"{path}: cannot read: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise _bad(f"{path}: not valid TOML: {e}") from e
    _check_shape(data, path)

    def section(name: str) -> dict[str, Any]:
        value: dict[str, Any] = data.get(name, {})
        return value

    def rel(value: str | None) -> Path | None:
        return None if value is None else (data_dir / value)

    node, db, tls, ks = section("node"), section("database"), section("tls"), section("keystore")
    sl, limits = section("status_lists"), section("limits")
    database_url = environ.get("TRUSTLANE_DATABASE_URL") or db.get("url")
    return NodeSettings(
        name=node["name"],
        base_url=environ.get("TRUSTLANE_BASE_URL") or node["base_url"],
        data_dir=data_dir,
        database_url=database_url or f"sqlite:///{data_dir / 'node.db'}",
        tls_cert=rel(tls.get("cert")),
        tls_key=rel(tls.get("key")),
        insecure_allow_plain_http=section("security").get("insecure_allow_plain_http", False),
        keystore_dir=rel(ks.get("dir")),
        passphrase_env=ks.get("passphrase_env", DEFAULT_PASSPHRASE_ENV),
        passphrase_file=rel(ks.get("passphrase_file")),
        status_list_size=sl.get("size", 131_072),
        status_list_valid_seconds=sl.get("valid_seconds", 86_400),
        status_list_cache_seconds=sl.get("cache_seconds", 60),
        credential_valid_days=section("credentials").get("valid_days", 3 * 365),
        max_request_bytes=limits.get("max_request_bytes", 1024 * 1024),
        clock_skew_seconds=limits.get("clock_skew_seconds", 300),
        signature_cache_entries=limits.get("signature_cache_entries", 65_536),
        challenge_ttl_seconds=section("presentations").get("challenge_ttl_seconds", 600),
        offer_code_ttl_seconds=section("offers").get("code_ttl_seconds", 600),
        key_max_age_days=section("keys").get("max_age_days"),
        key_publish_wait_seconds=section("keys").get("publish_wait_seconds", 3600),
        **_server_settings(section("server"), path, environ),
    )


def dump(settings: NodeSettings) -> str:
    """Render settings as ``node.toml`` text (paths relative to the data directory)."""

    def rel(value: Path | None) -> str | None:
        if value is None:
            return None
        try:
            return str(value.relative_to(settings.data_dir))
        except ValueError:
            return str(value)

    doc: dict[str, dict[str, Any]] = {
        "node": {"name": settings.name, "base_url": settings.base_url},
        "database": {"url": settings.database_url},
        "keystore": {"dir": rel(settings.keystore_dir), "passphrase_env": settings.passphrase_env},
        "status_lists": {
            "size": settings.status_list_size,
            "valid_seconds": settings.status_list_valid_seconds,
            "cache_seconds": settings.status_list_cache_seconds,
        },
        "credentials": {"valid_days": settings.credential_valid_days},
        "limits": {
            "max_request_bytes": settings.max_request_bytes,
            "clock_skew_seconds": settings.clock_skew_seconds,
            "signature_cache_entries": settings.signature_cache_entries,
        },
        "security": {"insecure_allow_plain_http": settings.insecure_allow_plain_http},
        "presentations": {"challenge_ttl_seconds": settings.challenge_ttl_seconds},
        "offers": {"code_ttl_seconds": settings.offer_code_ttl_seconds},
        "keys": {"publish_wait_seconds": settings.key_publish_wait_seconds},
        "server": {
            "request_read_timeout_seconds": settings.request_read_timeout_seconds,
            "keepalive_seconds": settings.keepalive_seconds,
            "threads": settings.server_threads,
            "max_connections": settings.server_max_connections,
            "drain_timeout_seconds": settings.drain_timeout_seconds,
        },
    }
    if settings.key_max_age_days is not None:
        doc["keys"]["max_age_days"] = settings.key_max_age_days
    if settings.passphrase_file is not None:
        doc["keystore"]["passphrase_file"] = rel(settings.passphrase_file)
    if settings.tls_cert is not None and settings.tls_key is not None:
        doc["tls"] = {"cert": rel(settings.tls_cert), "key": rel(settings.tls_key)}
    return tomli_w.dumps(doc)
