"""Request helpers shared by the blueprints: strict JSON bodies, auth, times.

Blueprints receive the services they use from the app factory (``make_blueprint(...)``
arguments); nothing here looks services up. The app's ``before_request`` guard
authenticates the bearer token once and leaves the record in ``g.token``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from credentials.datetimes import parse_datetime
from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject, loads_object
from node.api.errors import ApiError
from node.services.tokens import has_scope
from node.storage.records import TokenRecord

__all__ = [
    "MAX_REQUEST_BYTES",
    "Clock",
    "authenticate",
    "authenticated",
    "json_body",
    "json_body_bytes",
    "optional_time",
    "require_scope",
]

F = TypeVar("F", bound=Callable[..., Any])


#: The node clock as the blueprints receive it.
Clock = Callable[[], datetime]

#: The app config key holding the request body limit (set by the app factory).
MAX_REQUEST_BYTES = "TRUSTLANE_MAX_REQUEST_BYTES"


def json_body_bytes() -> bytes:
    """The request body's exact bytes, with the media type and size checks of ``json_body``.

    Raises:
        ApiError: Wrong content type (415) or body too large (413).
    """
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json")
    limit: int = current_app.config[MAX_REQUEST_BYTES]
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"request body exceeds {limit} bytes")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"request body exceeds {limit} bytes")
    return data


def json_body() -> JSONObject:
    """The request body as a strict JSON object.

    Raises:
        ApiError: Wrong content type (415) or body too large (413).
        MalformedInputError: Not strict JSON, or not an object (400).
    """
    return loads_object(json_body_bytes(), max_bytes=current_app.config[MAX_REQUEST_BYTES])


def optional_time(value: object, field: str) -> datetime | None:
    """Parse an optional dateTimeStamp member (e.g. ``options.at``)."""
    if value is None:
        return None
    return parse_datetime(value, field=field)


def authenticate(authenticator: Callable[[str], TokenRecord | None]) -> TokenRecord:
    """Check the request's bearer token with ``authenticator``; keep it in ``g.token``.

    Raises:
        ApiError: 401 when the token is missing or not valid.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "UNAUTHENTICATED", "a bearer token is required")
    record = authenticator(value.strip())
    if record is None:
        raise ApiError(401, "UNAUTHENTICATED", "the bearer token is not valid")
    g.token = record
    return record


def authenticated() -> TokenRecord:
    """The token the guard authenticated for this request (401 when there is none)."""
    token: TokenRecord | None = g.get("token")
    if token is None:
        raise ApiError(401, "UNAUTHENTICATED", "a bearer token is required")
    return token


def require_scope(*scopes: str) -> Callable[[F], F]:
    """Decorator: the request needs a token with one of ``scopes`` (or ``admin``)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = authenticated()
            if not has_scope(token, *scopes):
                raise ApiError(
                    403, "FORBIDDEN", f"this needs one of the scopes {', '.join(scopes)}"
                )
            return view(*args, **kwargs)

        wrapper.trustlane_scopes = scopes  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate


def member(body: JSONObject, name: str, kind: type, *, required: bool = True) -> Any:
    """A typed member of a request body (400 when missing or of the wrong type)."""
    if name not in body:
        if required:
            raise MalformedInputError(f"missing member {name!r}", code="MISSING_MEMBER")
        return None
    value = body[name]
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise MalformedInputError(f"{name!r} must be {kind.__name__}", code="INVALID_MEMBER")
    return value
