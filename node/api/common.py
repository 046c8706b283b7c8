"""Request helpers shared by the blueprints: strict JSON bodies, auth, times.

Blueprints receive the services they use from the app factory (``make_blueprint(...)``
arguments); nothing here looks services up. The app's ``before_request`` guard
authenticates the bearer token once and leaves the record in ``g.token``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, current_app, g, jsonify, request
from flask.json.provider import DefaultJSONProvider

from credentials.datetimes import parse_datetime
from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject, loads_object
from node.api.errors import ApiError
from node.services.tokens import has_scope
from node.storage.records import TokenRecord

__all__ = [
    "MAX_REQUEST_BYTES",
    "RECEIVED_AT",
    "Clock",
    "authenticate",
    "authenticated",
    "compact_json",
    "json_body",
    "json_body_bytes",
    "json_response",
    "json_text_response",
    "optional_time",
    "received_at",
    "require_scope",
    "writes_compact_json",
]

F = TypeVar("F", bound=Callable[..., Any])


#: The node clock as the blueprints receive it.
Clock = Callable[[], datetime]

#: The app config key holding the request body limit (set by the app factory).
MAX_REQUEST_BYTES = "TRUSTLANE_MAX_REQUEST_BYTES"


#: The WSGI environ key where ``node serve`` (:mod:`node.server`) puts the ``time.monotonic()``
#: at which it had received the whole request. Set by the server only: a header cannot make
#: an environ key with a dot.
RECEIVED_AT = "trustlane.received_at"


def received_at() -> float | None:
    """When the server had received this request (``time.monotonic()``), or None if unknown.

    Every change committed before that time was committed before the client sent the request
    (:meth:`node.services.trust.TrustSnapshotSource.current` relies on this).
    """
    value = request.environ.get(RECEIVED_AT)
    return value if type(value) is float else None


def _read_within(declared: int | None, read: Callable[[int], bytes], limit: int) -> bytes:
    """At most ``limit`` bytes from ``read``; 413 when the request declares or holds more.

    The declared length is checked before anything is read (werkzeug's ``request.stream``
    is only opened by ``read``).
    """
    if declared is not None and declared > limit:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"request body exceeds {limit} bytes")
    data = read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"request body exceeds {limit} bytes")
    return data


def _buffered_body(environ: Mapping[str, Any], limit: int) -> bytes | None:
    """``json_body_bytes`` for the usual request of ``node serve``, or None for any other.

    The usual request: ``Content-Type: application/json`` exactly, a Content-Length of plain
    digits and no Transfer-Encoding, and the body buffered whole in a ``BytesIO`` that the
    server marks as terminated (``wsgi.input_terminated``, :mod:`node.server`). For it, the
    checks and the bytes are the same as werkzeug's ``request.mimetype``,
    ``request.content_length`` and ``request.stream`` give (that stream reads the same
    ``BytesIO`` once, through a limit of ``limit + 1``), without parsing the headers again
    (``tests/unit/test_api_common.py`` compares both on many requests).
    """
    if environ.get("CONTENT_TYPE") != "application/json" or "HTTP_TRANSFER_ENCODING" in environ:
        return None
    stream = environ.get("wsgi.input")
    if type(stream) is not io.BytesIO or "wsgi.input_terminated" not in environ:
        return None
    declared = environ.get("CONTENT_LENGTH")
    if type(declared) is not str or not declared.isascii() or not declared.isdigit():
        return None
    return _read_within(int(declared), stream.read, limit)


def json_body_bytes() -> bytes:
    """The request body's exact bytes, with the media type and size checks of ``json_body``.

    Raises:
        ApiError: Wrong content type (415) or body too large (413).
    """
    limit: int = current_app.config[MAX_REQUEST_BYTES]
    buffered = _buffered_body(request.environ, limit)
    if buffered is not None:
        return buffered
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json")
    return _read_within(request.content_length, lambda size: request.stream.read(size), limit)


def json_body() -> JSONObject:
    """The request body as a strict JSON object.

    Raises:
        ApiError: Wrong content type (415) or body too large (413).
        MalformedInputError: Not strict JSON, or not an object (400).
    """
    return loads_object(json_body_bytes(), max_bytes=current_app.config[MAX_REQUEST_BYTES])


def writes_compact_json() -> bool:
    """Whether ``jsonify`` writes compact JSON here (Flask's provider, not in debug mode)."""
    app = current_app
    provider = app.json
    return type(provider) is DefaultJSONProvider and bool(
        provider.compact or (provider.compact is None and not app.debug)
    )


def compact_json(body: Any) -> str | None:
    """The text ``jsonify(body)`` writes (compact JSON and a newline), or None.

    None when Flask's JSON provider would write something else: in debug mode or with
    ``compact`` False (it indents), or when the provider is not Flask's own.
    """
    if not writes_compact_json():
        return None
    provider = cast(DefaultJSONProvider, current_app.json)
    text = json.dumps(
        body,
        default=provider.default,
        ensure_ascii=provider.ensure_ascii,
        sort_keys=provider.sort_keys,
        separators=(",", ":"),
    )
    return f"{text}\n"


def json_text_response(text: str, status: int = 200) -> Response:
    """An answer of ``text`` as :func:`compact_json` wrote it, with ``jsonify``'s headers."""
    return current_app.response_class(text, status=status, mimetype=DefaultJSONProvider.mimetype)


def json_response(body: Any, status: int = 200) -> Response:
    """``jsonify(body)`` with ``status``, in fewer steps: the same bytes and headers.

    Compact JSON and a newline, as Flask's JSON provider writes it outside debug mode; when
    the provider would write something else (:func:`compact_json`), ``jsonify`` itself
    writes the answer.
    """
    text = compact_json(body)
    if text is not None:
        return json_text_response(text, status)
    response = jsonify(body)
    response.status_code = status
    return response


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
    # What request.headers.get("Authorization", "") reads, without building the headers view.
    header = request.environ.get("HTTP_AUTHORIZATION", "")
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
