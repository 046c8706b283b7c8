"""The transparency log, public: C2SP checkpoint and tiles, plus proofs for simple clients.

``/checkpoint`` and ``/tile/...`` follow C2SP tlog-tiles (tiles are immutable and cached for
a year); ``/log/proof/inclusion`` and ``/log/proof/consistency`` answer RFC 9162 proofs as
JSON for clients that do not read tiles.
"""

from __future__ import annotations

import base64

from flask import Blueprint, Response, jsonify, request

from node.api.common import Clock
from node.api.errors import ApiError
from node.services.transparency import TransparencyLog
from scan_attestation.tiles import parse_tile_path

__all__ = ["make_blueprint"]

_IMMUTABLE = "public, max-age=31536000, immutable"
_MAX_INDEX = 2**63 - 1


def _int_arg(name: str) -> int:
    raw = request.args.get(name)
    if raw is None or not raw.isdigit() or (len(raw) > 1 and raw[0] == "0"):
        raise ApiError(400, "INVALID_QUERY", f"query parameter {name} must be a whole number")
    value = int(raw)
    if value > _MAX_INDEX:
        raise ApiError(400, "INVALID_QUERY", f"query parameter {name} is too large")
    return value


def _hashes(values: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in values]


def make_blueprint(*, log: TransparencyLog, clock: Clock) -> Blueprint:
    """The transparency log blueprint."""
    bp = Blueprint("log", __name__)

    @bp.get("/checkpoint")
    def checkpoint() -> Response:
        note = log.checkpoint(clock()).note
        response = Response(note, mimetype="text/plain")
        response.headers["Cache-Control"] = "no-cache"
        return response

    @bp.get("/tile/<path:rest>")
    def tile(rest: str) -> Response:
        try:
            parsed = parse_tile_path("tile/" + rest)
        except ValueError as e:
            raise ApiError(404, "NOT_FOUND", f"no such tile: {e}") from e
        if parsed.is_entries:
            data = log.entry_bundle(parsed.index, parsed.width)
        else:
            data = log.hash_tile(parsed.level, parsed.index, parsed.width)
        if data is None:
            raise ApiError(404, "NOT_FOUND", "the log does not hold this tile yet")
        response = Response(data, mimetype="application/octet-stream")
        response.headers["Cache-Control"] = _IMMUTABLE
        return response

    @bp.get("/log/proof/inclusion")
    def inclusion() -> Response:
        size = _int_arg("treeSize")
        if "id" in request.args:
            found = [i for i in log.entries_for(request.args["id"]) if i < size]
            if not found:
                raise ApiError(404, "NOT_FOUND", "no entry names that document in that tree")
            index = found[-1]
        else:
            index = _int_arg("index")
        proof = log.inclusion_proof(index, size)
        return jsonify({"index": index, "treeSize": size, "hashes": _hashes(proof)})

    @bp.get("/log/proof/consistency")
    def consistency() -> Response:
        first, second = _int_arg("first"), _int_arg("second")
        proof = log.consistency_proof(first, second)
        return jsonify({"first": first, "second": second, "hashes": _hashes(proof)})

    return bp
