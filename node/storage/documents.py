"""The one way the node turns a signed JSON document into stored (or sent) text.

Signatures never depend on these bytes (eddsa-jcs-2022 canonicalizes), but equality does: a
re-delivered agreement is recognised by comparing stored text, so every writer must produce
the same text for the same document. Compact separators, non-ASCII characters kept as UTF-8.
"""

from __future__ import annotations

import json

import orjson

from credentials.strict_json import JSONObject

__all__ = ["serialize_document"]


def serialize_document(document: JSONObject) -> str:
    """Compact JSON text of ``document`` (orjson; ``json`` for what orjson cannot write)."""
    try:
        return orjson.dumps(document).decode()
    except (TypeError, orjson.JSONEncodeError):
        # Integers beyond 64 bits (strict JSON parsing keeps them): the standard library
        # writes the same compact form.
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)
