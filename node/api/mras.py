"""Mutual recognition agreements: propose, receive, countersign, terminate, list."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify

from credentials.datetimes import format_datetime
from credentials.strict_json import loads_object
from node.api.common import Clock, json_body, member, optional_time, require_scope
from node.federation.agreements import AgreementService
from node.storage.federation_repo import MRARecord

__all__ = ["agreement_json", "make_blueprint"]


def agreement_json(record: MRARecord) -> dict[str, Any]:
    """An agreement as ``GET /mras`` lists it (also ``trustlane registry mra list --json``)."""
    return {
        "id": record.id,
        "peer": record.peer_did,
        "state": record.state,
        "terminationEffective": format_datetime(record.termination_effective)
        if record.termination_effective
        else None,
        "agreement": loads_object(record.document),
    }


def make_blueprint(*, agreements: AgreementService, clock: Clock) -> Blueprint:
    """The ``/mras`` blueprint."""
    bp = Blueprint("mras", __name__)

    @bp.get("/mras")
    @require_scope("registry-admin", "auditor", "officer")
    def list_mras() -> Response:
        return jsonify({"agreements": [agreement_json(r) for r in agreements.list()]})

    @bp.post("/mras")
    @require_scope("registry-admin")
    def propose() -> tuple[Response, int]:
        body = json_body()
        effective_from = optional_time(body.get("effectiveFrom"), "effectiveFrom") or clock()
        proposal = agreements.propose(
            peer_did=member(body, "peer", str),
            recognitions=member(body, "recognitions", list),
            effective_from=effective_from,
            effective_until=optional_time(body.get("effectiveUntil"), "effectiveUntil"),
            notice_period_days=member(body, "noticePeriodDays", int),
            actor=f"token:{g.token.id}",
        )
        return jsonify({"agreement": proposal}), 201

    @bp.post("/mras/receive")
    @require_scope("registry-admin")
    def receive() -> Response:
        body = json_body()
        record = agreements.receive(member(body, "agreement", dict), actor=f"token:{g.token.id}")
        return jsonify(agreement_json(record))

    @bp.post("/mras/countersign")
    @require_scope("registry-admin")
    def countersign() -> Response:
        body = json_body()
        signed = agreements.countersign(member(body, "id", str), actor=f"token:{g.token.id}")
        return jsonify({"agreement": signed})

    @bp.post("/mras/terminate")
    @require_scope("registry-admin")
    def terminate() -> Response:
        body = json_body()
        notice = agreements.terminate(member(body, "id", str), actor=f"token:{g.token.id}")
        return jsonify({"notice": notice})

    @bp.post("/mras/terminations")
    @require_scope("registry-admin")
    def receive_termination() -> Response:
        body = json_body()
        effective = agreements.receive_termination(
            member(body, "notice", dict), actor=f"token:{g.token.id}"
        )
        return jsonify({"effective": format_datetime(effective)})

    return bp
