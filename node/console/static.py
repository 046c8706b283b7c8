"""The console's stylesheet (the only static file: no script, no fonts, no images)."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["make_blueprint"]


def make_blueprint() -> Blueprint:
    """``/console/static/<file>``: files shipped in node/console/static, read-only."""
    return Blueprint(
        "console_static",
        __name__,
        static_folder="static",
        static_url_path="/console/static",
    )
