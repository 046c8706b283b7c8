"""``POST /add-checkpoint``: this node as a C2SP tlog-witness for its partners' logs.

Public, as tlog-witness has it: the request is authenticated by the log's signature on the
checkpoint, checked against the partner's pinned keys (:mod:`node.federation.witness`).
Answers: a cosignature line (200, text), the size held (409, ``text/x.tlog.size``, as the
specification requires), else a problem document naming the reason (400, 403, 404, 422).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from node.api.common import MAX_REQUEST_BYTES
from node.api.errors import ApiError
from node.federation.witness import WitnessService

__all__ = ["make_blueprint"]


def make_blueprint(*, witness: WitnessService) -> Blueprint:
    """The witness blueprint."""
    bp = Blueprint("witness", __name__)

    @bp.post("/add-checkpoint")
    def add_checkpoint() -> Response:
        limit: int = current_app.config[MAX_REQUEST_BYTES]
        if request.content_length is not None and request.content_length > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"request body exceeds {limit} bytes")
        body = request.stream.read(limit + 1)
        if len(body) > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"request body exceeds {limit} bytes")
        answer = witness.add_checkpoint(body)
        if answer.status not in (200, 409):
            raise ApiError(answer.status, answer.code, answer.body)
        return Response(answer.body, status=answer.status, content_type=answer.content_type)

    return bp
