"""Request counts and latencies in ``GET /metrics`` (node/api/request_metrics.py).

Every answer is counted by method, URL rule and status and timed by method and URL rule;
what a client sends cannot make new series (any path no rule matches is ``unmatched``, any
method outside the HTTP set is ``other``); the figures need the ``auditor`` or
``registry-admin`` scope like the rest of ``/metrics``. Several workers sharing their figures
are tested with a served node in test_node_process.py.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from node.services.tokens import create_token
from node.wiring import NodeServices

REQUESTS = "trustlane_http_requests"
DURATION = "trustlane_http_request_duration_seconds"


def _scrape(
    client: FlaskClient, token: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _count(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], **labels: str) -> float:
    return samples.get((f"{REQUESTS}_total", tuple(sorted(labels.items()))), 0.0)


def _token(services: NodeServices, *scopes: str) -> str:
    return create_token(
        services.db,
        name="metrics test",
        scopes=frozenset(scopes),
        now=datetime.now(UTC),
        actor="test",
    )[1]


def test_every_answer_is_counted_by_method_rule_and_status(
    node: tuple[NodeServices, str], client: FlaskClient
) -> None:
    services, admin = node
    auditor = _token(services, "auditor")
    for _ in range(3):
        assert client.get("/health/live").status_code == 200
    for _ in range(2):  # no token: refused before the route runs, still counted
        assert client.post("/credentials/verify", json={}).status_code == 401
    missing = client.get(
        "/credentials/urn:uuid:00000000-0000-4000-8000-000000000000",
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert missing.status_code == 404
    samples = _scrape(client, auditor)
    assert _count(samples, method="GET", route="/health/live", status="200") == 3
    assert _count(samples, method="POST", route="/credentials/verify", status="401") == 2
    # The URL rule, not the path: one series for every credential id.
    rule = "/credentials/<url:credential_id>"
    assert _count(samples, method="GET", route=rule, status="404") == 1
    # Latency: one observation per answer, in the bucket series and the count.
    count = samples[(f"{DURATION}_count", (("method", "GET"), ("route", "/health/live")))]
    assert count == 3
    slowest = samples[
        (f"{DURATION}_bucket", (("le", "+Inf"), ("method", "GET"), ("route", "/health/live")))
    ]
    assert slowest == 3
    total = samples[(f"{DURATION}_sum", (("method", "GET"), ("route", "/health/live")))]
    assert 0 < total < 60
    # The scrape itself is counted once it has answered: the next scrape shows it.
    again = _scrape(client, auditor)
    assert _count(again, method="GET", route="/metrics", status="200") == 1


def test_what_a_client_sends_cannot_make_new_series(
    node: tuple[NodeServices, str], client: FlaskClient
) -> None:
    services, _ = node
    auditor = _token(services, "auditor")
    for _ in range(25):
        assert client.get(f"/{secrets.token_hex(8)}/{secrets.token_hex(8)}").status_code == 404
    for method in ("BREW", "PROPFIND", "X" * 200):
        assert client.open("/health/live", method=method).status_code == 405
    samples = _scrape(client, auditor)
    series = {labels for name, labels in samples if name == f"{REQUESTS}_total"}
    unmatched = {labels for labels in series if ("route", "unmatched") in labels}
    assert unmatched == {
        (("method", "GET"), ("route", "unmatched"), ("status", "404")),
        (("method", "other"), ("route", "unmatched"), ("status", "405")),
    }
    assert _count(samples, method="GET", route="unmatched", status="404") == 25
    assert _count(samples, method="other", route="unmatched", status="405") == 3
    # Every route label is a rule of the app, or "unmatched".
    rules = {rule.rule for rule in client.application.url_map.iter_rules()}
    routes = {dict(labels)["route"] for labels in series}
    assert routes <= rules | {"unmatched"}


def test_request_figures_need_the_metrics_scopes(
    node: tuple[NodeServices, str], client: FlaskClient
) -> None:
    services, _ = node
    assert client.get("/metrics").status_code == 401
    issuer = _token(services, "issuer")
    refused = client.get("/metrics", headers={"Authorization": f"Bearer {issuer}"})
    assert refused.status_code == 403
    assert REQUESTS not in refused.get_data(as_text=True)
    admin = _token(services, "registry-admin")
    samples = _scrape(client, admin)
    assert _count(samples, method="GET", route="/metrics", status="401") == 1
    assert _count(samples, method="GET", route="/metrics", status="403") == 1
