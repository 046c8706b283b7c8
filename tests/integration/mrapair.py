"""Two in-process nodes, EU and US, whose DIDs are those of examples/mra-recognitions.json.

They talk over the in-memory network of :mod:`peersim`; the CLI, which builds its own
services from a data directory, reaches them too (``RequestsFetcher`` is swapped for the
simulated fetcher). Used by the MRA CLI and docs example tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from node.wiring import NodeServices
from nodehelpers import close_services
from peersim import PeerNetworkSimulator, make_sim_node_at, pin

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RECOGNITIONS = EXAMPLES / "mra-recognitions.json"
AEO_SUBJECT = EXAMPLES / "aeo-subject.json"
EU_URL, US_URL = "https://eu.customs.example", "https://us.customs.example"


class Node:
    """One node: its services (in this process), its app's test client and admin token."""

    def __init__(self, services: NodeServices, client: FlaskClient, token: str) -> None:
        self.services = services
        self.client = client
        self.token = token

    @property
    def data_dir(self) -> str:
        return str(self.services.settings.data_dir)

    def api_agreements(self) -> Any:
        response = self.client.get("/mras", headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == 200
        return response.get_json()


def _node(
    sim: PeerNetworkSimulator, root: Path, name: str, base_url: str, database_url: str | None
) -> Node:
    services, token = make_sim_node_at(sim, root, name, base_url, database_url)
    return Node(services, sim.clients[base_url], token)


def eu_and_us(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database_urls: tuple[str, str] | None = None,
) -> Iterator[tuple[PeerNetworkSimulator, Node, Node]]:
    """EU and US, pinned to each other and synced; the CLI's transport is simulated.

    ``database_urls`` are EU's and US's empty databases (default: SQLite files).
    """
    monkeypatch.delenv("TRUSTLANE_KEYSTORE_PASSPHRASE", raising=False)
    monkeypatch.delenv("TRUSTLANE_DATA_DIR", raising=False)
    monkeypatch.delenv("TRUSTLANE_DATABASE_URL", raising=False)
    sim = PeerNetworkSimulator()
    eu_db, us_db = database_urls or (None, None)
    eu = _node(sim, tmp_path, "eu", EU_URL, eu_db)
    us = _node(sim, tmp_path, "us", US_URL, us_db)
    assert eu.services.identity.did == "did:web:eu.customs.example"
    assert us.services.identity.did == "did:web:us.customs.example"
    pin(eu.services, us.services, "us")
    pin(us.services, eu.services, "eu")
    for node in (eu, us):
        assert all(o.ok for o in node.services.sync.sync_all(datetime.now(UTC)))
    # The CLI builds its own services from the data directory; only its transport is simulated.
    monkeypatch.setattr("node.wiring.RequestsFetcher", lambda **_: sim.fetcher())
    yield sim, eu, us
    close_services(eu.services, us.services)
