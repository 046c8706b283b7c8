"""``trustlane node serve``: the node under gunicorn (HTTPS when configured).

Each worker builds its own services (database pool, key store) after the fork; nothing is
shared across processes but the database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from gunicorn.app.base import BaseApplication

from federation_config.loader import load
from federation_config.settings import NodeSettings
from node.app import create_app
from node.wiring import build_services

__all__ = ["NodeServer", "bind_address"]


def bind_address(settings: NodeSettings, host: str | None, port: int | None) -> str:
    """``host:port`` to listen on: options first, else the base URL's host and port."""
    parts = urlsplit(settings.base_url)
    default_port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host or parts.hostname}:{port or default_port}"


class NodeServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """A gunicorn application that builds the node app in each worker."""

    def __init__(
        self, settings: NodeSettings, environ: Mapping[str, str], options: dict[str, Any]
    ) -> None:
        self._settings = settings
        self._environ = dict(environ)
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options to gunicorn's configuration."""
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """Build the app (called in each worker)."""
        settings = load(self._settings.data_dir, self._environ)
        return create_app(build_services(settings, self._environ), start_jobs=True)


def serve(
    settings: NodeSettings,
    *,
    host: str | None,
    port: int | None,
    workers: int,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Run gunicorn until it is stopped (SIGTERM/SIGINT)."""
    settings.check_transport()
    options: dict[str, Any] = {
        "bind": bind_address(settings, host, port),
        "workers": workers,
        "worker_class": "sync",
        "timeout": 30,
        "graceful_timeout": 10,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "limit_request_line": 8190,
        "proc_name": f"trustlane-{settings.name}",
        # gunicorn's control socket defaults to one path per user, shared by every node on
        # the host (and unlinked by whichever stops first); nodes need none.
        "control_socket_disable": True,
    }
    if settings.tls_cert is not None and settings.tls_key is not None:
        options["certfile"] = str(settings.tls_cert)
        options["keyfile"] = str(settings.tls_key)
    NodeServer(settings, environ if environ is not None else os.environ, options).run()
