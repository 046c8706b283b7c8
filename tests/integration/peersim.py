"""An in-memory peer network: nodes in one process whose fetchers reach each other's Flask
test clients, with switches to make a peer down, slow, garbled, stale or key-swapped."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nacl.pwhash
from flask.testing import FlaskClient

from federation_config.settings import NodeSettings
from node.app import create_app
from node.federation.fetcher import FetchError, FetchResponse, PeerHTTPError
from node.wiring import NodeServices, build_services, init_node
from nodehelpers import close_services, temporary_database


@dataclass
class Behaviour:
    """How a simulated peer misbehaves (all off by default)."""

    down: bool = False
    garbage: bool = False
    # Replace the body of these paths with fixed bytes (e.g. an older status list).
    replay: dict[str, bytes] = field(default_factory=dict)
    # Rewrite the DID document before it is served.
    rewrite_did: Callable[[dict[str, object]], dict[str, object]] | None = None


class PeerNetworkSimulator:
    """Routes each node's fetches to the other nodes' test clients."""

    def __init__(self) -> None:
        self.clients: dict[str, FlaskClient] = {}
        self.behaviour: dict[str, Behaviour] = {}

    def fetcher(self) -> SimFetcher:
        return SimFetcher(self)

    def _route(self, url: str) -> tuple[str, FlaskClient, str]:
        for base, client in self.clients.items():
            if url.startswith(base + "/"):
                return base, client, url[len(base) :]
        raise FetchError(f"{url}: no route to host (simulated)")


class SimFetcher:
    """A :class:`~node.federation.fetcher.Fetcher` over the simulator."""

    def __init__(self, sim: PeerNetworkSimulator) -> None:
        self._sim = sim

    def get(self, url: str, *, ca_bundle: str | None, etag: str | None = None) -> FetchResponse:
        base, client, path = self._sim._route(url)
        b = self._sim.behaviour.get(base, Behaviour())
        if b.down:
            raise FetchError(f"{url}: connection refused (simulated)")
        if b.garbage:
            return FetchResponse(200, b"\x00not json", None)
        if path in b.replay:
            return FetchResponse(200, b.replay[path], None)
        headers = {"If-None-Match": etag} if etag else {}
        response = client.get(path, headers=headers)
        if response.status_code not in (200, 304):
            raise PeerHTTPError(f"GET {url} answered {response.status_code}", response.status_code)
        body = response.get_data()
        if b.rewrite_did is not None and path == "/.well-known/did.json":
            body = json.dumps(b.rewrite_did(json.loads(body))).encode()
        return FetchResponse(response.status_code, body, response.headers.get("ETag"))

    def post(
        self, url: str, *, body: bytes, headers: Mapping[str, str], ca_bundle: str | None
    ) -> FetchResponse:
        base, client, path = self._sim._route(url)
        if self._sim.behaviour.get(base, Behaviour()).down:
            raise FetchError(f"{url}: connection refused (simulated)")
        response = client.post(path, data=body, headers=dict(headers))
        if response.status_code >= 300:
            raise PeerHTTPError(
                f"POST {url} answered {response.status_code}",
                response.status_code,
                response.get_data()[:1024],
            )
        return FetchResponse(response.status_code, response.get_data(), None)


def make_sim_node(
    sim: PeerNetworkSimulator, root: Path, name: str, port: int, database_url: str | None = None
) -> tuple[NodeServices, str]:
    """An initialised node wired to the simulator (its app registered under its base URL)."""
    return make_sim_node_at(sim, root, name, f"http://127.0.0.1:{port}", database_url)


def make_sim_node_at(
    sim: PeerNetworkSimulator,
    root: Path,
    name: str,
    base: str,
    database_url: str | None = None,
) -> tuple[NodeServices, str]:
    """:func:`make_sim_node` for any base URL (``sim.clients[base]`` is its test client)."""
    settings = NodeSettings(
        name=name,
        base_url=base,
        data_dir=root / name,
        database_url=database_url or f"sqlite:///{root / (name + '.db')}",
    )
    first, token = init_node(
        settings,
        {},
        now=datetime.now(UTC),
        keystore_opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
        keystore_memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
    )
    first.db.dispose()
    services = build_services(first.settings, {}, fetcher=sim.fetcher())
    sim.clients[base] = create_app(services, testing=True).test_client()
    return services, token


@contextmanager
def pinned_pair(
    backend: str, root: Path, ports: tuple[int, int]
) -> Iterator[tuple[PeerNetworkSimulator, NodeServices, NodeServices]]:
    """EU and US on ``backend`` ("sqlite" or "postgresql"), pinned to each other and synced.

    Each node gets its own temporary database; both are disposed of (and dropped) afterwards.
    """
    (root / "a").mkdir()
    (root / "b").mkdir()
    with (
        temporary_database(backend, root / "a") as eu_url,
        temporary_database(backend, root / "b") as us_url,
    ):
        sim = PeerNetworkSimulator()
        eu, _ = make_sim_node(sim, root, "eu", ports[0], eu_url)
        us, _ = make_sim_node(sim, root, "us", ports[1], us_url)
        pin(eu, us, "us")
        pin(us, eu, "eu")
        now = datetime.now(UTC)
        for node in (eu, us):
            assert all(o.ok for o in node.sync.sync_all(now))
        try:
            yield sim, eu, us
        finally:
            close_services(eu, us)


def pin(a: NodeServices, b: NodeServices, name: str) -> None:
    """``a`` adds ``b`` as a peer named ``name``, with ``b``'s current key pinned."""
    a.peers.add_peer(
        name=name,
        did=b.identity.did,
        base_url=b.settings.base_url,
        pinned_keys=frozenset({b.identity.current().key.public_key.multibase}),
        ca_bundle=None,
        now=datetime.now(UTC),
        actor="test",
    )


def sign_agreement(a: NodeServices, b: NodeServices) -> str:
    """``a`` proposes an EU-AEO agreement to ``b`` and ``b`` countersigns it; return its id.

    ``b`` recognises ``a``'s AEOF exporters with ``reduced-examination``, in force from a
    minute ago; the documents are handed over directly (no push).
    """
    recognition = {
        "recognisingParty": b.identity.did,
        "issuingParty": a.identity.did,
        "programmes": [{"programme": "EU-AEO", "levels": ["AEOF"]}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["exporter"],
        "benefits": ["reduced-examination"],
    }
    proposal = a.agreements.propose(
        peer_did=b.identity.did,
        recognitions=[recognition],
        effective_from=datetime.now(UTC) - timedelta(minutes=1),
        effective_until=None,
        notice_period_days=30,
        actor="test",
    )
    record = b.agreements.receive(proposal, actor="test")
    signed = b.agreements.countersign(record.id, actor="test")
    assert a.agreements.receive(signed, actor="test").state == "active"
    return record.id
