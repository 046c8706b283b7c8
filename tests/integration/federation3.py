"""Three real nodes (EU, US, JP) on loopback over HTTPS, and a rogue partner to attack them.

Shared by the federation and attack tests. Every wait is bounded; only 127.0.0.1 is used.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

from credentials.keys import PrivateKey
from nodehelpers import temporary_database
from nodeproc import LOOPBACK, NodeProcess, free_port

RECOGNISED = ["reduced-examination", "priority-processing"]


def write_federation_toml(
    node: NodeProcess, peers: list[tuple[str, NodeProcess, str]], *, push: bool, interval: int
) -> None:
    lines = [
        "[federation]",
        f'name = "test federation ({node.name})"',
        f'self_did = "{node.did}"',
        "[sync]",
        f"interval_seconds = {interval}",
        "jitter_seconds = 1",
        "timeout_seconds = 5",
        "[freshness]",
        "status_max_age_seconds = 300",
        "did_document_max_age_seconds = 3600",
        "[push]",
        f"enabled = {'true' if push else 'false'}",
        "max_skew_seconds = 60",
        "nonce_ttl_seconds = 300",
    ]
    for name, peer, key in peers:
        lines += [
            "[[peers]]",
            f'name = "{name}"',
            f'did = "{peer.did}"',
            f'base_url = "{peer.base_url}"',
            f'key_fingerprints = ["{key}"]',
            f'ca_bundle = "{peer.ca_path}"',
        ]
    (node.data_dir / "federation.toml").write_text("\n".join(lines) + "\n")


def node_key(node: NodeProcess) -> str:
    status, doc, _ = node.get_json("/.well-known/did.json")
    assert status == 200
    key: str = doc["verificationMethod"][0]["publicKeyMultibase"]
    return key


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def recognitions(recognising: str, issuing: str, programme: str, levels: list[str]) -> Any:
    return {
        "recognisingParty": recognising,
        "issuingParty": issuing,
        "programmes": [{"programme": programme, "levels": levels}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["exporter", "importer", "manufacturer"],
        "benefits": RECOGNISED,
    }


def sign_mra(a: NodeProcess, b: NodeProcess) -> str:
    """A proposes to B (delivered as a signed request), B countersigns (delivered back)."""
    status, body = a.post_json(
        "/mras",
        {
            "peer": b.did,
            "recognitions": [
                recognitions(b.did, a.did, "EU-AEO", ["AEOS", "AEOF"]),
                recognitions(a.did, b.did, "CTPAT", ["Tier2", "Tier3"]),
            ],
            "noticePeriodDays": 90,
        },
        a.admin_token,
    )
    assert status == 201, body
    agreement_id: str = body["agreement"]["credentialSubject"]["id"]
    status, listed, _ = b.get_json("/mras", b.admin_token)
    assert status == 200
    assert {r["id"]: r["state"] for r in listed["agreements"]}[agreement_id] == "pending"
    status, signed = b.post_json("/mras/countersign", {"id": agreement_id}, b.admin_token)
    assert status == 200, signed
    status, listed, _ = a.get_json("/mras", a.admin_token)
    assert {r["id"]: r["state"] for r in listed["agreements"]}[agreement_id] == "active"
    return agreement_id


def sync(node: NodeProcess) -> list[dict[str, Any]]:
    status, body = node.post_json("/registry/sync", {}, node.admin_token)
    assert status == 200, body
    outcomes: list[dict[str, Any]] = body["outcomes"]
    return outcomes


def verify(
    node: NodeProcess, vc: dict[str, Any], options: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """Verify at ``node``; a list not held yet is fetched in the background, so ask again
    (bounded) while the answer is ``STATUS_UNAVAILABLE``."""
    request: dict[str, Any] = {"verifiableCredential": vc}
    if options:
        request["options"] = options
    deadline = time.monotonic() + 10
    while True:
        status, body = node.post_json("/credentials/verify", request, node.admin_token)
        pending = any(c.get("code") == "STATUS_UNAVAILABLE" for c in body.get("checks", []))
        if not pending or time.monotonic() > deadline:
            return status, body
        time.sleep(0.1)


def checks(body: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {c["name"]: (c["status"], c.get("code")) for c in body["checks"]}


@contextmanager
def three_nodes(
    tmp_path: Path, backend: str = "sqlite", *, push: bool = True, interval: int = 5
) -> Iterator[tuple[dict[str, NodeProcess], trustme.CA]]:
    """EU peers with US and JP; US and JP peer only with EU. Each on its own database."""
    ca = trustme.CA()
    nodes = {
        name: NodeProcess(tmp_path / name, name=f"{name.upper()} customs")
        for name in ("eu", "us", "jp")
    }
    with (
        temporary_database(backend, tmp_path / "eu", "eu.db") as eu_db,
        temporary_database(backend, tmp_path / "us", "us.db") as us_db,
        temporary_database(backend, tmp_path / "jp", "jp.db") as jp_db,
    ):
        databases = {"eu": eu_db, "us": us_db, "jp": jp_db}
        try:
            for name, node in nodes.items():
                node.init(databases[name] if backend != "sqlite" else None, ca)
            # The keys partners pin, as `node init --json` printed them (the operator's way).
            keys = {name: node.public_key_multibase for name, node in nodes.items()}
            eu, us, jp = nodes["eu"], nodes["us"], nodes["jp"]
            write_federation_toml(
                eu,
                [("us", us, keys["us"]), ("jp", jp, keys["jp"])],
                push=push,
                interval=interval,
            )
            write_federation_toml(us, [("eu", eu, keys["eu"])], push=push, interval=interval)
            write_federation_toml(jp, [("eu", eu, keys["eu"])], push=push, interval=interval)
            for node in nodes.values():
                node.start(workers=2)
            for node in nodes.values():
                outcomes = [o for o in sync(node) if o["resource"] == "did_document"]
                assert outcomes and all(o["ok"] for o in outcomes), outcomes
            yield nodes, ca
        finally:
            for node in nodes.values():
                node.stop()


@contextmanager
def federation_nodes(
    tmp_path: Path, param: str | tuple[str, bool]
) -> Iterator[dict[str, NodeProcess]]:
    """:func:`three_nodes` for a fixture parameter: a backend, or a ``(backend, push)`` pair."""
    backend, push = param if isinstance(param, tuple) else (param, True)
    with three_nodes(tmp_path, backend, push=push) as (nodes, _):
        yield nodes


# -- a rogue partner node -------------------------------------------------------------------


@dataclass
class RoguePeer:
    """A partner node an attacker runs: it serves what the test tells it to, over TLS.

    ``routes`` maps a path to ``(status, body)``; ``drip`` paths answer with a declared
    length and then one byte every ``drip_interval`` seconds (bounded by ``drip_bytes``).
    """

    ca: trustme.CA
    key: PrivateKey = field(default_factory=lambda: PrivateKey.from_seed(bytes([77]) * 32))
    port: int = field(default_factory=free_port)
    routes: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    drip: set[str] = field(default_factory=set)
    drip_interval: float = 0.05
    drip_bytes: int = 400
    hits: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    @property
    def did(self) -> str:
        return f"did:web:{LOOPBACK}%3A{self.port}"

    def did_document(self, extra_auth_only: PrivateKey | None = None) -> dict[str, Any]:
        methods = [
            {
                "id": f"{self.did}#key-1",
                "type": "Multikey",
                "controller": self.did,
                "publicKeyMultibase": self.key.public_key.multibase,
            }
        ]
        document: dict[str, Any] = {
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
            "id": self.did,
            "verificationMethod": methods,
            "assertionMethod": [f"{self.did}#key-1"],
            "authentication": [f"{self.did}#key-1"],
        }
        if extra_auth_only is not None:
            methods.append(
                {
                    "id": f"{self.did}#key-2",
                    "type": "Multikey",
                    "controller": self.did,
                    "publicKeyMultibase": extra_auth_only.public_key.multibase,
                }
            )
            document["authentication"] = [f"{self.did}#key-2"]
        return document

    def serve_json(self, path: str, body: Any, status: int = 200) -> None:
        self.routes[path] = (status, json.dumps(body).encode())

    def start(self) -> None:
        rogue = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                rogue.hits.append(self.path)
                status, body = rogue.routes.get(self.path, (404, b'{"title":"nope"}'))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if self.path in rogue.drip:
                    self.send_header("Content-Length", str(rogue.drip_bytes))
                    self.end_headers()
                    for _ in range(rogue.drip_bytes):
                        if rogue._stop.wait(rogue.drip_interval):
                            return
                        try:
                            self.wfile.write(b" ")
                            self.wfile.flush()
                        except OSError:
                            return
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert(LOOPBACK).configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
