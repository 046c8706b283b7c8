"""``POST /risk/assess`` throughput with a two-credential presentation (issue 11).

Two nodes are built in process on SQLite (EU and US, each with its Flask test client; peer
fetches go from one test client to the other, nothing leaves the process). They pin each
other's keys, sync, and sign an MRA under which the US recognises EU AEO credentials. The EU
issues two AEO credentials (AEOF and AEOS) to one trader's did:key; the US links the trader's
EORI to the MID its declarations name and fetches the EU status lists.

Each request needs a fresh challenge (``POST /challenges``) and a presentation signed for it;
both are made outside the timed part. Only the ``POST /risk/assess`` calls are timed, one at
a time: the presentation with its three signatures is verified, the challenge spent, the
decision made and stored. Flask test client: no HTTP server, no TLS, no sockets.
``python -m bench.risk_http_bench`` runs it alone (``--quick`` for fewer requests).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.pwhash
from flask.testing import FlaskClient

from bench import report
from credentials.keys import PrivateKey
from credentials.model import VC_V2_CONTEXT
from credentials.signing import sign_presentation
from federation_config.settings import NodeSettings
from node.app import create_app
from node.federation.fetcher import FetchResponse, PeerHTTPError
from node.services.tokens import create_token
from node.wiring import NodeServices, init_node, utcnow

EU_URL = "http://127.0.0.1:18443"
US_URL = "http://127.0.0.1:18444"
EORI = {"scheme": "EORI", "value": "DE123456789012345"}
MID = {"scheme": "MID", "value": "DEBEILOG1234HAM"}
UCR = "6DE123456789000-4711"
PORT = "USNYC"
BENEFITS = ["priority-processing", "reduced-examination"]


class InProcessFetcher:
    """Routes a node's peer requests to the other node's Flask test client."""

    def __init__(self) -> None:
        self.clients: dict[str, FlaskClient] = {}

    def _client(self, url: str) -> tuple[FlaskClient, str]:
        for base, client in self.clients.items():
            if url.startswith(base + "/"):
                return client, url[len(base) :]
        raise PeerHTTPError(f"GET {url} answered HTTP 502", 502)

    def get(self, url: str, *, ca_bundle: str | None, etag: str | None = None) -> FetchResponse:
        client, path = self._client(url)
        response = client.get(path, headers={"If-None-Match": etag} if etag else {})
        if response.status_code not in (200, 304):
            raise PeerHTTPError(f"GET {url} answered HTTP {response.status_code}", 502)
        body = response.get_data() if response.status_code == 200 else b""
        return FetchResponse(response.status_code, body, response.headers.get("ETag"))

    def post(
        self, url: str, *, body: bytes, headers: Mapping[str, str], ca_bundle: str | None
    ) -> FetchResponse:
        client, path = self._client(url)
        response = client.post(path, data=body, headers=dict(headers))
        if response.status_code // 100 != 2:
            raise PeerHTTPError(f"POST {url} answered HTTP {response.status_code}", 502)
        return FetchResponse(response.status_code, response.get_data(), None)


def _node(root: Path, name: str, base_url: str) -> tuple[NodeServices, str]:
    settings = NodeSettings(
        name=name,
        base_url=base_url,
        data_dir=root / name.split()[0].lower(),
        database_url=f"sqlite:///{root / (name.split()[0].lower() + '.db')}",
    )
    return init_node(
        settings,
        {},
        now=utcnow(),
        keystore_opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
        keystore_memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _scoped(services: NodeServices, scope: str) -> dict[str, str]:
    _, token = create_token(
        services.db, name=f"bench {scope}", scopes=frozenset({scope}), now=utcnow(), actor="bench"
    )
    return _bearer(token)


def _call(client: FlaskClient, path: str, body: Any, headers: dict[str, str], status: int) -> Any:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == status, (path, response.get_data())
    return response.get_json()


def declaration() -> dict[str, Any]:
    """An import into the US from a German exporter named by its MID."""
    return {
        "declarationId": "26US000000000001",
        "ucr": UCR,
        "declarant": {
            "name": "Example Brokers Inc",
            "identifiers": [{"scheme": "TIN", "value": "12-3456789"}],
            "country": "US",
        },
        "exporter": {"name": "Beispiel Logistik GmbH", "identifiers": [MID], "country": "DE"},
        "importer": {
            "name": "Example Imports LLC",
            "identifiers": [{"scheme": "TIN", "value": "98-7654321"}],
            "country": "US",
        },
        "consignorCountry": "DE",
        "consigneeCountry": "US",
        "portOfLoading": "DEHAM",
        "portOfDischarge": PORT,
        "containers": ["CSQU3054383", "YMLU3030933"],
        "goodsItems": [
            {
                "hsCode": "8504401100",
                "description": "switch-mode power supplies",
                "declaredValue": {"amount": 12000.5, "currency": "EUR"},
                "grossMassKg": 812.4,
            }
        ],
        "transportDocument": "MAEU123456789",
    }


def federation(
    root: Path,
) -> tuple[NodeServices, NodeServices, FlaskClient, dict[str, str], PrivateKey, list[Any]]:
    """EU and US under an MRA; two EU credentials for one trader; the US officer's headers.

    Returns:
        EU services, US services, the US test client, officer headers, the trader's key and
        its two credentials.
    """
    fetcher = InProcessFetcher()
    nodes: list[NodeServices] = []
    admins: dict[str, dict[str, str]] = {}
    for name, base_url in (("EU customs", EU_URL), ("US customs", US_URL)):
        services, token = _node(root, name, base_url)
        services.sync.fetcher = fetcher
        services.push._fetcher = fetcher  # as the in-process tests do
        fetcher.clients[base_url] = create_app(services, testing=True).test_client()
        admins[base_url] = _bearer(token)
        nodes.append(services)
    eu, us = nodes
    eu_client, us_client = fetcher.clients[EU_URL], fetcher.clients[US_URL]

    def admin(node: NodeServices, path: str, body: Any, status: int = 200) -> Any:
        base = node.settings.base_url
        return _call(fetcher.clients[base], path, body, admins[base], status)

    for node, other in ((eu, us), (us, eu)):
        did_document = fetcher.clients[other.settings.base_url].get("/.well-known/did.json")
        key = did_document.get_json()["verificationMethod"][0]["publicKeyMultibase"]
        peer = {
            "name": other.settings.name.split()[0].lower(),
            "did": other.identity.did,
            "baseUrl": other.settings.base_url,
            "keyFingerprints": [key],
        }
        admin(node, "/registry/peers", peer, 201)
    for node in (eu, us):
        admin(node, "/registry/sync", {})
    recognition = {
        "recognisingParty": us.identity.did,
        "issuingParty": eu.identity.did,
        "programmes": [{"programme": "EU-AEO", "levels": ["AEOS", "AEOF"]}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["exporter"],
        "benefits": BENEFITS,
    }
    proposal = admin(
        eu,
        "/mras",
        {"peer": us.identity.did, "recognitions": [recognition], "noticePeriodDays": 90},
        201,
    )["agreement"]
    received = admin(us, "/mras/receive", {"agreement": proposal})
    countersigned = admin(us, "/mras/countersign", {"id": received["id"]})
    assert admin(eu, "/mras/receive", countersigned)["state"] == "active"

    trader = PrivateKey.generate()
    credentials = []
    for level in ("AEOF", "AEOS"):
        subject = {
            "id": trader.public_key.did,
            "legalName": "Beispiel Logistik GmbH",
            "identifiers": [EORI],
            "country": "DE",
            "authorisationNumber": f"DE{level}0000012345",
            "programme": "EU-AEO",
            "level": level,
            "roles": ["exporter", "importer"],
            "reassessmentDate": "2028-06-30T00:00:00Z",
        }
        issued = _call(
            eu_client, "/aeo-credentials", {"credentialSubject": subject}, admins[EU_URL], 201
        )
        credentials.append(issued["verifiableCredential"])
    # The first verify at the US queues the EU status lists; once fetched, statuses are known.
    admin(us, "/credentials/verify", {"verifiableCredential": credentials[0]}, 422)
    assert us.refetch.drain(10)
    for vc in credentials:
        admin(us, "/credentials/verify", {"verifiableCredential": vc})
    link = {"identifier": EORI, "linked": MID, "note": "bench"}
    _call(us_client, "/identifiers", link, _scoped(us, "registry-admin"), 201)
    return eu, us, us_client, _scoped(us, "officer"), trader, credentials


def _request(
    client: FlaskClient, officer: dict[str, str], trader: PrivateKey, credentials: list[Any]
) -> dict[str, Any]:
    """A fresh challenge and a presentation signed for it: one assess body (not timed)."""
    issued = _call(client, "/challenges", {"consignment": UCR, "port": PORT}, officer, 201)
    vp = sign_presentation(
        {
            "@context": [VC_V2_CONTEXT],
            "type": ["VerifiablePresentation"],
            "holder": trader.public_key.did,
            "verifiableCredential": credentials,
        },
        trader,
        challenge=issued["challenge"],
        domain=issued["domain"],
        created=datetime.now(UTC),
    )
    return {
        "declaration": declaration(),
        "presentation": {
            "verifiablePresentation": vp,
            "options": {"challenge": issued["challenge"]},
        },
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(*, count: int = 500) -> list[str]:
    """Time ``count`` assess requests, one at a time; return the markdown section."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory(prefix="trustlane-risk-http-bench-") as tmp:
        eu, us, client, officer, trader, credentials = federation(Path(tmp))
        try:
            # The first decision shows the benefit applies, with both credentials verified.
            first = client.post(
                "/risk/assess", json=_request(client, officer, trader, credentials), headers=officer
            )
            assert first.status_code == 201, first.get_data()
            record = first.get_json()
            assert record["decision"]["benefitsApplied"] == BENEFITS, record["decision"]
            evidence = record["evidence"]["credentials"]
            assert len(evidence) == 2 and all(e["verified"] and e["recognised"] for e in evidence)
            for _ in range(10):  # warm up
                body = _request(client, officer, trader, credentials)
                assert client.post("/risk/assess", json=body, headers=officer).status_code == 201
            times: list[float] = []
            for _ in range(count):
                body = _request(client, officer, trader, credentials)
                began = time.perf_counter()
                response = client.post("/risk/assess", json=body, headers=officer)
                times.append(time.perf_counter() - began)
                assert response.status_code == 201, response.get_data()
                decision = response.get_json()["decision"]
                assert decision["benefitsApplied"] == BENEFITS, decision
        finally:
            eu.db.dispose()
            us.db.dispose()
    total = sum(times)
    p50, p99 = statistics.median(times), _percentile(times, 0.99)
    section = "risk assessment over the API"
    report.record(section, "POST /risk/assess, one at a time", [count / total], unit="req/s")
    report.record(section, "POST /risk/assess, p50 and p99", [p50 * 1e3, p99 * 1e3], unit="ms")
    return [
        "## Risk assessment over the API (`POST /risk/assess`, in process)",
        "",
        f"{count:,} assessments, one at a time, each with a fresh challenge and a presentation "
        "of two EU AEO credentials (AEOF and AEOS, issued by the EU node to the same trader) "
        "signed for it; challenges and presentations are made outside the timed part. Each "
        "request verifies the presentation (three signatures), spends the challenge, decides "
        "and stores the decision; every one was granted the MRA benefits. Flask test client "
        "on the US node (SQLite): no HTTP server, no TLS, no sockets.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| requests/s (count / sum of request times) | {count / total:,.0f} |",
        f"| p50 latency | {p50 * 1e3:.2f} ms |",
        f"| p99 latency | {p99 * 1e3:.2f} ms |",
        "",
        f"Measured {when}; {os.cpu_count()} CPUs, Python {platform.python_version()}, load "
        f"average {os.getloadavg()[0]:.1f} at the end.",
        "",
    ]


if __name__ == "__main__":  # pragma: no cover
    print("\n".join(run(count=100 if "--quick" in sys.argv else 500)))
