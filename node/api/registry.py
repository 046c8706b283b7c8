"""The trust registry API: peers (add, list with health, sync now)."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from credentials.errors import MalformedInputError
from node.api.common import json_body, member, optional_time, require_scope, services
from node.federation.scheduler import sync_agreements

__all__ = ["make_blueprint"]


def make_blueprint() -> Blueprint:
    """The ``/registry`` blueprint."""
    bp = Blueprint("registry", __name__)

    @bp.get("/registry/peers")
    @require_scope("registry-admin", "auditor", "officer")
    def list_peers() -> Response:
        return jsonify({"peers": services().peers.health()})

    @bp.post("/registry/peers")
    @require_scope("registry-admin")
    def add_peer() -> tuple[Response, int]:
        body = json_body()
        keys = member(body, "keyFingerprints", list)
        if not keys or not all(isinstance(k, str) for k in keys):
            raise MalformedInputError(
                "keyFingerprints must be a non-empty list of Multikey strings",
                code="INVALID_MEMBER",
            )
        svc = services()
        svc.peers.add_peer(
            name=member(body, "name", str),
            did=member(body, "did", str),
            base_url=member(body, "baseUrl", str),
            pinned_keys=frozenset(keys),
            ca_bundle=None,
            now=svc.clock(),
            actor=f"token:{g.token.id}",
        )
        return jsonify({"peers": svc.peers.health()}), 201

    @bp.post("/registry/peers/<name>/repin")
    @require_scope("registry-admin")
    def repin_peer(name: str) -> Response:
        body = json_body()
        keys = member(body, "keys", list)
        if not keys or not all(isinstance(k, str) for k in keys):
            raise MalformedInputError(
                "keys must be a non-empty list of Multikey strings", code="INVALID_MEMBER"
            )
        svc = services()
        now = svc.clock()
        peer = svc.peers.peer_named(name)
        svc.peers.repin(
            peer.did,
            frozenset(keys),
            now=now,
            actor=f"token:{g.token.id}",
            not_before=optional_time(body.get("notBefore"), "notBefore"),
        )
        return jsonify({"peers": svc.peers.health()})

    @bp.post("/registry/sync")
    @require_scope("registry-admin")
    def sync_now() -> Response:
        svc = services()
        outcomes = svc.peers.sync_all(svc.clock(), force=True)
        outcomes += sync_agreements(svc.peers, svc.agreements)
        return jsonify(
            {
                "outcomes": [
                    {"peer": o.peer_did, "resource": o.resource, "ok": o.ok, "detail": o.detail}
                    for o in outcomes
                ]
            }
        )

    return bp
