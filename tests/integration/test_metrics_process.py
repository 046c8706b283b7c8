"""Request figures of a served node with two workers (node/api/request_metrics.py).

A scrape reaches one worker; it must show what every worker answered. The figures live in a
directory the server makes for its run and removes when it stops, so a restart starts from
zero. Plain SQLite node, HTTPS on loopback.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests
import trustme
from prometheus_client.parser import text_string_to_metric_families

from nodeproc import NodeProcess

ROUNDS = 10  # at most, until both workers have answered
CONNECTIONS = 16
PER_CONNECTION = 5


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _live_count(node: NodeProcess) -> float:
    """GET /health/live answers counted, from one scrape on a new connection."""
    with node.session(node.admin_token) as http:
        response = http.get(node.url("/metrics"), timeout=30.0, headers={"Connection": "close"})
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "trustlane_http_requests_total"
                and labels.get("route") == "/health/live"
                and labels.get("status") == "200"
            ):
                return sample.value
    return 0.0


def _load(node: NodeProcess) -> int:
    """CONNECTIONS concurrent keep-alive sessions, PER_CONNECTION requests each; the count."""
    failures: list[BaseException] = []
    barrier = threading.Barrier(CONNECTIONS, timeout=30.0)

    def work() -> None:
        try:
            with node.session() as http:
                barrier.wait()
                for _ in range(PER_CONNECTION):
                    assert http.get(node.url("/health/live"), timeout=30.0).status_code == 200
        except (AssertionError, requests.RequestException, threading.BrokenBarrierError) as e:
            failures.append(e)

    threads = [threading.Thread(target=work) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60.0)
    assert not any(t.is_alive() for t in threads)
    assert not failures, failures
    return CONNECTIONS * PER_CONNECTION


def _workers_with_figures(tmp: Path) -> set[str]:
    return {path.stem.rsplit("_", 1)[1] for path in tmp.glob("trustlane-metrics-*/counter_*.db")}


def test_a_scrape_sums_every_workers_answers(tmp_path: Path, ca: trustme.CA) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with NodeProcess(tmp_path / "eu") as node:
        node.init(None, ca)
        node.start(workers=2, env={"TMPDIR": str(tmp)})
        sent = 0
        for _ in range(ROUNDS):
            sent += _load(node)
            if len(_workers_with_figures(tmp)) == 2:
                break
        assert len(_workers_with_figures(tmp)) == 2, "one worker answered every request"
        # Each scrape reaches either worker, and shows both workers' answers.
        assert [_live_count(node) for _ in range(4)] == [sent] * 4
        assert node.stop() == 0, node.log_tail()
        assert not list(tmp.glob("trustlane-metrics-*")), "the figures outlived the server"
        node.start(workers=2, env={"TMPDIR": str(tmp)})
        assert _live_count(node) == 0
        assert node.stop() == 0, node.log_tail()
