"""Load a node's settings from ``DATA_DIR/node.toml`` plus environment overrides.

The file is TOML that operators edit by hand. Relative paths in it are relative to the data
directory. Environment variables override what deployments change per host:
``TRUSTLANE_BASE_URL``, ``TRUSTLANE_DATABASE_URL``. Nothing is read at import time; callers
pass the environment mapping.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from credentials.errors import MalformedInputError
from federation_config.settings import DEFAULT_PASSPHRASE_ENV, NodeSettings

__all__ = ["CONFIG_NAME", "dump", "load"]

CONFIG_NAME = "node.toml"

_SECTIONS: dict[str, dict[str, type]] = {
    "node": {"name": str, "base_url": str},
    "database": {"url": str},
    "tls": {"cert": str, "key": str},
    "keystore": {"dir": str, "passphrase_env": str, "passphrase_file": str},
    "status_lists": {"size": int, "valid_seconds": int, "cache_seconds": int},
    "credentials": {"valid_days": int},
    "limits": {"max_request_bytes": int, "clock_skew_seconds": int},
    "security": {"insecure_allow_plain_http": bool},
}


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
            if type(item) is not expected:
                raise _bad(f"{path}: {section}.{key} must be {expected.__name__}")
    for section, key in (("node", "name"), ("node", "base_url")):
        if key not in data.get(section, {}):
            raise _bad(f"{path}: missing {section}.{key}")


def load(data_dir: Path, environ: Mapping[str, str]) -> NodeSettings:
    """Read ``data_dir/node.toml`` and apply environment overrides.

    Args:
        data_dir: The node's data directory.
        environ: The environment (``os.environ`` in production, a dict in tests).

    Returns:
        The validated settings.

    Raises:
        MalformedInputError: The file is missing, not TOML, or has a wrong key or value.
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
        },
        "security": {"insecure_allow_plain_http": settings.insecure_allow_plain_http},
    }
    if settings.passphrase_file is not None:
        doc["keystore"]["passphrase_file"] = rel(settings.passphrase_file)
    if settings.tls_cert is not None and settings.tls_key is not None:
        doc["tls"] = {"cert": rel(settings.tls_cert), "key": rel(settings.tls_key)}
    return tomli_w.dumps(doc)
