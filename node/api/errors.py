"""RFC 9457 problem details for every error the API returns.

Domain errors map to 4xx (``MalformedInputError`` 400, ``VerificationError`` 422, not found
404, conflicts 409, authentication 401/403), storage and key store failures to 503. An
unexpected exception becomes a 500 problem without internals; the traceback goes to the log.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from credentials.aeo import SchemaValidationError
from credentials.errors import MalformedInputError, TrustlaneError, VerificationError
from node.federation.fetcher import FetchError
from node.keystore import KeyStoreError
from node.services.issuance import ReservedTypeError
from node.services.status import NotFoundError, StatusConflictError
from node.storage.db import StorageConflictError, StorageError

__all__ = ["ApiError", "problem", "register_error_handlers", "status_of"]

PROBLEM_BASE = "https://ns.trustlane.org/problems/"
log = logging.getLogger("trustlane.api")


class ApiError(TrustlaneError):
    """An error raised by the HTTP layer itself (auth, content type...)."""

    def __init__(
        self, status: int, code: str, message: str, *, challenge: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.challenge = challenge


def problem(
    status: int, code: str, detail: str, *, challenge: str | None = None, **extra: Any
) -> Response:
    """Build an ``application/problem+json`` response (``challenge``: for 401s)."""
    body = {
        "type": PROBLEM_BASE + code.lower().replace("_", "-"),
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    if status == 401:
        response.headers["WWW-Authenticate"] = challenge or 'Bearer realm="trustlane"'
    return response


def status_of(error: TrustlaneError) -> int:
    """The HTTP status a domain error maps to (the console's error pages use it too)."""
    if isinstance(error, ApiError):
        return error.status
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, StatusConflictError | StorageConflictError):
        return 409
    if isinstance(error, StorageError | KeyStoreError):
        return 503
    if isinstance(error, FetchError):
        return 502  # a peer this request depends on cannot be reached or answered badly
    if isinstance(error, ReservedTypeError):
        return 422
    if isinstance(error, VerificationError):
        return 422
    if isinstance(error, MalformedInputError):
        return 400
    return 400


def register_error_handlers(app: Flask) -> None:
    """Route every error through :func:`problem`."""

    @app.errorhandler(TrustlaneError)
    def _domain(error: TrustlaneError) -> Response:
        status = status_of(error)
        if status >= 500:
            log.error("service unavailable: %s", error.diagnostics())
            return problem(status, error.code, "the node cannot serve this request right now")
        extra: dict[str, Any] = {}
        if isinstance(error, SchemaValidationError):
            extra["errors"] = [dict(e) for e in error.errors]
        challenge = error.challenge if isinstance(error, ApiError) else None
        return problem(status, error.code, error.message, challenge=challenge, **extra)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        code = {
            404: "NOT_FOUND",
            405: "METHOD_NOT_ALLOWED",
            413: "PAYLOAD_TOO_LARGE",
            415: "UNSUPPORTED_MEDIA_TYPE",
        }.get(status, "HTTP_ERROR")
        response = problem(status, code, error.description or code)
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        return problem(500, "INTERNAL_ERROR", "unexpected error; the node logged the details")
