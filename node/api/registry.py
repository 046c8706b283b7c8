"""The trust registry API: peers (add, list with health, sync now)."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from credentials.errors import MalformedInputError
from node.api.common import Clock, json_body, member, optional_time, require_scope
from node.federation.agreements import AgreementService
from node.federation.cosigning import Cosigning
from node.federation.peers import PeerService
from node.federation.scheduler import sync_agreements
from node.federation.sync import PeerSync

__all__ = ["make_blueprint"]


def make_blueprint(
    *,
    peers: PeerService,
    sync: PeerSync,
    agreements: AgreementService,
    cosigning: Cosigning,
    clock: Clock,
) -> Blueprint:
    """The ``/registry`` blueprint."""
    bp = Blueprint("registry", __name__)

    @bp.get("/registry/peers")
    @require_scope("registry-admin", "auditor", "officer")
    def list_peers() -> Response:
        return jsonify({"peers": peers.health()})

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
        peers.add_peer(
            name=member(body, "name", str),
            did=member(body, "did", str),
            base_url=member(body, "baseUrl", str),
            pinned_keys=frozenset(keys),
            ca_bundle=None,
            now=clock(),
            actor=f"token:{g.token.id}",
        )
        return jsonify({"peers": peers.health()}), 201

    @bp.post("/registry/peers/<name>/repin")
    @require_scope("registry-admin")
    def repin_peer(name: str) -> Response:
        body = json_body()
        keys = member(body, "keys", list)
        if not keys or not all(isinstance(k, str) for k in keys):
            raise MalformedInputError(
                "keys must be a non-empty list of Multikey strings", code="INVALID_MEMBER"
            )
        now = clock()
        peer = peers.peer_named(name)
        peers.repin(
            peer.did,
            frozenset(keys),
            now=now,
            actor=f"token:{g.token.id}",
            not_before=optional_time(body.get("notBefore"), "notBefore"),
        )
        return jsonify({"peers": peers.health()})

    @bp.post("/registry/sync")
    @require_scope("registry-admin")
    def sync_now() -> Response:
        now = clock()
        outcomes = sync.sync_all(now, force=True)
        outcomes += sync_agreements(sync, agreements)
        outcomes += cosigning.round(now)
        return jsonify(
            {
                "outcomes": [
                    {"peer": o.peer_did, "resource": o.resource, "ok": o.ok, "detail": o.detail}
                    for o in outcomes
                ]
            }
        )

    return bp
