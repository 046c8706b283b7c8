"""Peers are reached over HTTPS everywhere: the API, the CLI and federation.toml refuse http.

Plain http stays allowed loopback to loopback (tests and demos on one machine). Every way a
peer gets in goes through ``PeerService.add_peer`` and so through one rule
(:func:`registry.peer_origin.check_peer_base_url`). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from conftest import NodeFactory
from credentials.errors import MalformedInputError
from credentials.keys import PrivateKey
from federation_config.federation import PeerSettings
from node.app import create_app
from node.wiring import NodeServices
from openapi_check import assert_matches_openapi

PUBLIC_NODE = "https://eu.customs.example"
PEER_KEY = PrivateKey.from_seed(b"\x07" * 32).public_key.multibase
TRUSTLANE = Path(sys.executable).parent / "trustlane"


def _body(did: str, base_url: str, name: str = "us") -> dict[str, Any]:
    return {"name": name, "did": did, "baseUrl": base_url, "keyFingerprints": [PEER_KEY]}


def _client(services: NodeServices) -> FlaskClient:
    return create_app(services, testing=True).test_client()


def _peer_dids(services: NodeServices) -> list[str]:
    return [p.did for p in services.peers.peers()]


REFUSED_BODIES = [
    pytest.param(
        "https://eu.customs.example",
        _body("did:web:us.customs.example", "http://us.customs.example"),
        "loopback host",
        id="http-public-peer-public-node",
    ),
    pytest.param(
        "http://127.0.0.1:18443",
        _body("did:web:us.customs.example", "http://us.customs.example"),
        "loopback host",
        id="http-public-peer-loopback-node",
    ),
    pytest.param(
        "https://eu.customs.example",
        _body("did:web:127.0.0.1%3A18444", "http://127.0.0.1:18444"),
        "node on loopback",
        id="http-loopback-peer-public-node",
    ),
    pytest.param(
        "https://eu.customs.example",
        _body("did:web:us.customs.example", "https://x@us.customs.example"),
        "user info",
        id="userinfo",
    ),
    pytest.param(
        "https://eu.customs.example",
        _body("did:web:us.customs.example", "https://us.customs.example?"),
        "query",
        id="bare-query",
    ),
]


@pytest.mark.parametrize(("node_url", "body", "reason"), REFUSED_BODIES)
def test_api_refuses_a_peer_not_reached_over_https(
    make_node: NodeFactory, node_url: str, body: dict[str, Any], reason: str
) -> None:
    services, token = make_node(base_url=node_url)
    response = _client(services).post(
        "/registry/peers", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400, response.get_data()
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert (problem["status"], problem["code"]) == (400, "INVALID_PEER")
    assert problem["type"].endswith("/invalid-peer")
    assert reason in problem["detail"]
    assert_matches_openapi(response, "post", "/registry/peers")
    assert _peer_dids(services) == []


ACCEPTED_BODIES = [
    pytest.param(
        PUBLIC_NODE,
        _body("did:web:us.customs.example", "https://us.customs.example/"),
        "https://us.customs.example",
        id="https-peer-public-node",
    ),
    pytest.param(
        "http://127.0.0.1:18443",
        _body("did:web:127.0.0.1%3A18444", "http://127.0.0.1:18444"),
        "http://127.0.0.1:18444",
        id="http-loopback-peer-loopback-node",
    ),
    pytest.param(
        "http://localhost:18443",
        _body("did:web:127.0.0.1%3A18444", "http://127.0.0.1:18444/"),
        "http://127.0.0.1:18444",
        id="http-loopback-peer-localhost-node",
    ),
]


@pytest.mark.parametrize(("node_url", "body", "stored"), ACCEPTED_BODIES)
def test_api_accepts_https_and_loopback_to_loopback(
    make_node: NodeFactory, node_url: str, body: dict[str, Any], stored: str
) -> None:
    services, token = make_node(base_url=node_url)
    response = _client(services).post(
        "/registry/peers", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.get_data()
    assert_matches_openapi(response, "post", "/registry/peers")
    [peer] = response.get_json()["peers"]
    assert (peer["did"], peer["baseUrl"]) == (body["did"], stored)


def test_federation_toml_peers_get_the_same_rule(make_node: NodeFactory) -> None:
    # federation.toml without self_did passes config check with a loopback http peer; the
    # node itself is public, so adding the peer at start-up is refused all the same.
    services, _ = make_node(base_url=PUBLIC_NODE)
    configured = PeerSettings(
        "us", "did:web:127.0.0.1%3A18444", "http://127.0.0.1:18444", (PEER_KEY,)
    )
    with pytest.raises(MalformedInputError) as caught:
        services.peers.apply_configured([configured], now=datetime.now(UTC))
    assert caught.value.code == "INVALID_PEER"
    assert _peer_dids(services) == []


def _cli_peer_add(
    services: NodeServices, did: str, base_url: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLANE_")} | {
        "TRUSTLANE_DATABASE_URL": services.settings.database_url
    }
    args = [
        str(TRUSTLANE),
        "registry",
        "peer",
        "add",
        "--data-dir",
        str(services.settings.data_dir),
        "--name",
        "us",
        "--did",
        did,
        "--base-url",
        base_url,
        "--key",
        PEER_KEY,
    ]
    return subprocess.run(args, capture_output=True, text=True, env=env, check=False, timeout=60)


def test_cli_peer_add_refuses_http_with_one_line(make_node: NodeFactory) -> None:
    services, _ = make_node(base_url=PUBLIC_NODE)
    done = _cli_peer_add(services, "did:web:127.0.0.1%3A18444", "http://127.0.0.1:18444")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("trustlane: error: INVALID_PEER: peer base URL must use https")
    assert "Traceback" not in done.stderr
    assert _peer_dids(services) == []


def test_cli_peer_add_refuses_a_public_http_peer_and_accepts_https(make_node: NodeFactory) -> None:
    services, _ = make_node()  # on loopback
    refused = _cli_peer_add(services, "did:web:us.customs.example", "http://us.customs.example")
    assert refused.returncode == 2, refused.stderr
    [line] = refused.stderr.splitlines()
    assert "plain http is allowed only to a loopback host" in line
    assert _peer_dids(services) == []
    added = _cli_peer_add(services, "did:web:us.customs.example", "https://us.customs.example")
    assert added.returncode == 0, added.stderr
    assert _peer_dids(services) == ["did:web:us.customs.example"]
