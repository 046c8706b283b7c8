"""``GET /metrics``: Prometheus metrics of federation health (prometheus-client).

Gauges are computed at scrape time from the database, so every worker answers the same
numbers: per peer, whether it is trusted and how old its DID document is; per peer and
resource, the seconds since the last successful sync and the consecutive failures; and the
number of split views of partners' transparency logs recorded; the signing key's age, the
next scheduled rotation and the peers that have not acknowledged a key announcement. The
app's request counts and latencies come from :mod:`node.api.request_metrics`.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from credentials.datetimes import parse_datetime
from node.api.common import require_scope
from node.api.request_metrics import RequestMetrics
from node.federation.peers import PeerService
from node.federation.rotation import KeyRotation
from node.federation.witness import WitnessService

__all__ = ["make_blueprint"]


class _FederationCollector(Collector):
    def __init__(
        self, peers: PeerService, witness: WitnessService, rotation: KeyRotation | None
    ) -> None:
        self._peers = peers
        self._witness = witness
        self._rotation = rotation

    def collect(self) -> Iterator[GaugeMetricFamily]:
        trusted = GaugeMetricFamily(
            "trustlane_peer_trusted",
            "1 when the peer's DID document matches its pins",
            labels=["peer"],
        )
        did_age = GaugeMetricFamily(
            "trustlane_peer_did_document_age_seconds",
            "Age of the peer's accepted DID document",
            labels=["peer"],
        )
        success_age = GaugeMetricFamily(
            "trustlane_peer_sync_age_seconds",
            "Seconds since the last successful sync of a peer resource",
            labels=["peer", "resource"],
        )
        failures = GaugeMetricFamily(
            "trustlane_peer_sync_failures",
            "Consecutive failed syncs of a peer resource",
            labels=["peer", "resource"],
        )
        for peer in self._peers.health():
            name = str(peer["name"])
            trusted.add_metric([name], 1.0 if peer["trusted"] else 0.0)
            age = peer["didDocumentAgeSeconds"]
            if isinstance(age, int):
                did_age.add_metric([name], float(age))
            resources = peer["resources"]
            assert isinstance(resources, list)  # noqa: S101 - PeerService.health's shape
            for resource in resources:
                label = [name, str(resource["resource"])]
                if isinstance(resource["ageSeconds"], int):
                    success_age.add_metric(label, float(resource["ageSeconds"]))
                failures.add_metric(label, float(resource["consecutiveFailures"]))
        split_views = GaugeMetricFamily(
            "trustlane_split_view_alerts",
            "Split views of partners' transparency logs recorded (two checkpoints of one log "
            "that cannot both be true); any value above 0 needs an operator",
        )
        split_views.add_metric([], float(self._witness.alert_count()))
        yield from (trusted, did_age, success_age, failures, split_views)
        if self._rotation is not None:
            yield from self._keys(self._rotation)

    def _keys(self, rotation: KeyRotation) -> Iterator[GaugeMetricFamily]:
        state = rotation.health()
        age = GaugeMetricFamily(
            "trustlane_key_age_seconds", "Age of the current signing key", labels=["kid"]
        )
        if isinstance(state["ageSeconds"], int):
            age.add_metric([str(state["currentKey"])], float(state["ageSeconds"]))
        next_rotation = GaugeMetricFamily(
            "trustlane_key_next_rotation_timestamp_seconds",
            "When the scheduler rotates the signing key (Unix time); absent without a policy",
        )
        if isinstance(state["nextRotation"], str):
            due = parse_datetime(state["nextRotation"], field="nextRotation")
            next_rotation.add_metric([], due.timestamp())
        unacknowledged = GaugeMetricFamily(
            "trustlane_key_announcements_unacknowledged",
            "Peers that have not acknowledged a key announcement (re-sent by the scheduler)",
        )
        waiting = state["unacknowledged"]
        unacknowledged.add_metric([], float(len(waiting) if isinstance(waiting, list) else 0))
        yield from (age, next_rotation, unacknowledged)


def make_blueprint(
    *,
    peers: PeerService,
    witness: WitnessService,
    rotation: KeyRotation | None = None,
    requests: RequestMetrics | None = None,
) -> Blueprint:
    """The ``/metrics`` blueprint (``requests``: the app's request figures, when counted)."""
    bp = Blueprint("metrics", __name__)

    @bp.get("/metrics")
    @require_scope("auditor", "registry-admin")
    def metrics() -> Response:
        registry = CollectorRegistry()
        registry.register(_FederationCollector(peers, witness, rotation))
        if requests is not None:
            requests.register(registry)
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return bp
