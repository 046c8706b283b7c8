"""URL rules shared by the blueprints: routes whose last variable is an id that is a URL.

VC-API serves ``GET /credentials/{id}`` beside ``POST /credentials/issue``, ``/verify`` and
``/status``. With a plain ``<path:...>`` variable the GET rule also matched ``issue``,
``verify`` and ``status``, so ``OPTIONS`` on those paths (and the ``Allow`` of their 405s)
advertised ``GET``. Credential ids are absolute URIs (``urn:uuid:...``, ``https://...``):
they always hold a colon after a scheme, and those operation names never do. The
``url`` converter matches only such ids, so the GET rule never overlaps an operation path
while keeping VC-API's shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint
from flask.sansio.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter

__all__ = ["URL_ID", "UrlIdConverter", "url_id_route"]

#: The converter's name in URL rules: ``/credentials/<url:credential_id>``.
URL_ID = "url"


class UrlIdConverter(PathConverter):
    """A path variable (``/`` allowed) that starts like an absolute URI: a scheme and ``:``.

    The view still checks the whole id (no whitespace or control characters) and answers 404
    for anything else; this converter only keeps the rule off paths that cannot be ids.
    """

    regex = r"[A-Za-z][A-Za-z0-9+.\-]*:.+?"
    # Matches across '/' (werkzeug infers True from a regex without a slash).
    part_isolating = False


def _register(state: BlueprintSetupState) -> None:
    state.app.url_map.converters[URL_ID] = UrlIdConverter


def url_id_route(bp: Blueprint, rule: str, **options: Any) -> Callable[[Any], Any]:
    """``bp.get(rule)`` for a rule that uses ``<url:...>``, registering the converter.

    The converter is added to the app's URL map when the blueprint is registered, before
    the blueprint's rules are (Flask runs a blueprint's setup functions in order).
    """
    bp.record_once(_register)
    return bp.get(rule, **options)
