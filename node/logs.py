"""The node's logs: plain text or one JSON object per line, with request ids.

``TRUSTLANE_LOG_FORMAT=json`` (or ``trustlane node serve --log-format json``) makes every
line on stderr a JSON object: the access log (one line per request: method, path, status,
duration, client, request id) and every Python log record (``trustlane.*``, gunicorn's
own). Text stays the default for people reading a terminal.

Every request gets an id: the caller's ``X-Request-Id`` when it is a short token of safe
characters (a proxy's or a partner's, so one exchange can be followed across nodes),
otherwise a new random one. The answer carries it back in ``X-Request-Id``, and log records
written while the request is handled carry it as ``requestId``.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context, request

__all__ = [
    "FORMATS",
    "FORMAT_VARIABLE",
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "RequestIdFilter",
    "configure",
    "gunicorn_logconfig",
    "log_format",
    "request_id",
]

#: The formats ``TRUSTLANE_LOG_FORMAT`` takes.
FORMATS = ("text", "json")
FORMAT_VARIABLE = "TRUSTLANE_LOG_FORMAT"
REQUEST_ID_HEADER = "X-Request-Id"
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: Attributes every LogRecord has; anything else was passed as ``extra`` and is logged.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
}


def log_format(environ: dict[str, str] | Any) -> str:
    """The log format the environment asks for ("text" when unset).

    Raises:
        ValueError: An unknown format (the message names the variable and the choices).
    """
    value = str(environ.get(FORMAT_VARIABLE, "text") or "text").strip().lower()
    if value not in FORMATS:
        raise ValueError(f"{FORMAT_VARIABLE} must be one of {', '.join(FORMATS)}, not {value!r}")
    return value


def request_id() -> str:
    """This request's id (taken from the caller or made here), for the app's hooks."""
    found: str | None = g.get("request_id")
    if found is None:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        found = offered if _SAFE_ID.fullmatch(offered) else secrets.token_hex(8)
        g.request_id = found
    return found


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to records written while a request is handled (else None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record``; never drops it."""
        if not getattr(record, "request_id", None):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (exceptions as a ``traceback`` string)."""
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id_value = getattr(record, "request_id", None)
        if request_id_value:
            body["requestId"] = request_id_value
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            body["traceback"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)


def _handler(fmt: str) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def configure(fmt: str, level: int = logging.INFO) -> None:
    """Send Python logging to stderr in ``fmt`` (replacing the root logger's handlers)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(_handler(fmt))
    root.setLevel(level)


def gunicorn_logconfig(fmt: str) -> dict[str, Any]:
    """The ``logconfig_dict`` gunicorn gets for ``fmt``.

    Text keeps gunicorn's own lines ({} : its defaults). JSON sends the access log to
    stdout and everything else to stderr, as in text mode, one JSON object per line.
    """
    if fmt != "json":
        return {}

    def handler(stream: str) -> dict[str, Any]:
        return {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
            "stream": f"ext://sys.{stream}",
        }

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"request_id": {"()": RequestIdFilter}},
        "handlers": {"stdout": handler("stdout"), "stderr": handler("stderr")},
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        },
    }
