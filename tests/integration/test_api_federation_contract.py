"""The federation API keeps to its OpenAPI document (node/openapi.json).

Covers the trust registry (``/registry/peers``, ``/registry/sync``), mutual recognition
agreements (``/mras...``), signed federation events (``POST /federation/events``) and the
``benefits`` / ``agreement`` members of ``POST /credentials/verify``. Every response is
validated with ``assert_matches_openapi``, on SQLite and PostgreSQL.

Two in-process nodes (EU and US, each with its own database) talk through their Flask test
clients: an in-memory fetcher stands in for HTTPS, so that each node can fetch the other's DID
document and status lists. With both nodes peered and synced, the whole MRA flow (propose,
receive, countersign, receive) and a recognised verification run without a network.

Several tests are regressions of bugs they found in the app code.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from credentials.data_integrity import ProofOptions, add_proof
from credentials.keys import PrivateKey
from node.app import create_app
from node.federation.fetcher import FetchResponse, PeerHTTPError
from node.services.tokens import create_token
from node.storage.audit_repo import iter_events
from node.storage.trust_repo import list_peer_key_records
from node.wiring import NodeServices
from nodehelpers import aeo_subject, temporary_database
from openapi_check import assert_matches_openapi, document
from registry.events import FederationEvent, FederationEventType, build_signed_event
from registry.http_signatures import EVENT_TAG, new_nonce, sign_request
from registry.mra import BENEFIT_CODES, build_mra, mra_subject_schema, propose_mra
from registry.mra_recognition import build_termination_notice, sign_termination_notice

EU_URL = "http://127.0.0.1:18443"
US_URL = "http://127.0.0.1:18444"
# Nothing listens there: syncing this peer fails (a documented 200 with ok: false).
NOWHERE_URL = "http://127.0.0.1:19999"
NOWHERE_DID = "did:web:127.0.0.1%3A19999"
BENEFITS = ["reduced-examination", "priority-processing"]


# -- helpers -------------------------------------------------------------------------------


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _checks(body: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {c["name"]: (c["status"], c.get("code")) for c in body["checks"]}


def _code(response: TestResponse) -> str:
    code: str = response.get_json()["code"]
    return code


def _did_key_of(client: FlaskClient) -> str:
    doc = client.get("/.well-known/did.json").get_json()
    key: str = doc["verificationMethod"][0]["publicKeyMultibase"]
    return key


def _recognition(recognising: str, issuing: str, levels: list[str]) -> dict[str, Any]:
    return {
        "recognisingParty": recognising,
        "issuingParty": issuing,
        "programmes": [{"programme": "EU-AEO", "levels": levels}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["exporter"],
        "benefits": BENEFITS,
    }


class ClientFetcher:
    """A :class:`~node.federation.fetcher.Fetcher` that routes peer URLs to test clients."""

    def __init__(self) -> None:
        self.clients: dict[str, FlaskClient] = {}

    def _route(self, url: str) -> tuple[FlaskClient, str]:
        for base, client in self.clients.items():
            if url.startswith(base + "/"):
                return client, url[len(base) :]
        raise PeerHTTPError(f"GET {url} answered HTTP 502", 502)

    def get(self, url: str, *, ca_bundle: str | None, etag: str | None = None) -> FetchResponse:
        client, path = self._route(url)
        response = client.get(path, headers={"If-None-Match": etag} if etag else {})
        if response.status_code not in (200, 304):
            raise PeerHTTPError(f"GET {url} answered HTTP {response.status_code}", 502)
        body = response.get_data() if response.status_code == 200 else b""
        return FetchResponse(response.status_code, body, response.headers.get("ETag"))

    def post(
        self, url: str, *, body: bytes, headers: Mapping[str, str], ca_bundle: str | None
    ) -> FetchResponse:
        client, path = self._route(url)
        response = client.post(path, data=body, headers=dict(headers))
        if response.status_code // 100 != 2:
            raise PeerHTTPError(f"POST {url} answered HTTP {response.status_code}", 502)
        return FetchResponse(response.status_code, response.get_data(), None)


@dataclass
class Node:
    """One in-process node: its services, admin token and test client."""

    services: NodeServices
    token: str
    client: FlaskClient
    base_url: str

    @property
    def did(self) -> str:
        return self.services.identity.did

    @property
    def auth(self) -> dict[str, str]:
        return _auth(self.token)

    def post(self, path: str, body: Any) -> TestResponse:
        response = self.client.post(path, json=body, headers=self.auth)
        if path == "/credentials/verify" and "STATUS_UNAVAILABLE" in response.get_data(
            as_text=True
        ):
            # A list this node does not hold yet answers unknown at once and is fetched in
            # the background; these tests are about what follows once it is held.
            assert self.services.refetch.drain(10)
            response = self.client.post(path, json=body, headers=self.auth)
        return response

    def get(self, path: str) -> TestResponse:
        return self.client.get(path, headers=self.auth)

    def issue_aeo(self, **subject: Any) -> dict[str, Any]:
        response = self.post("/aeo-credentials", {"credentialSubject": aeo_subject() | subject})
        assert response.status_code == 201, response.get_data()
        vc: dict[str, Any] = response.get_json()["verifiableCredential"]
        return vc

    def events_url(self) -> str:
        return self.base_url + "/federation/events"


@dataclass
class Pair:
    """Two nodes (EU and US) that can fetch from each other."""

    eu: Node
    us: Node

    def peer(self) -> None:
        """Each node adds the other with its key pinned, then syncs: both trusted."""
        for node, other in ((self.eu, self.us), (self.us, self.eu)):
            added = node.post(
                "/registry/peers",
                {
                    "name": other.services.settings.name.split()[0].lower(),
                    "did": other.did,
                    "baseUrl": other.base_url,
                    "keyFingerprints": [_did_key_of(other.client)],
                },
            )
            assert added.status_code == 201, added.get_data()
            assert_matches_openapi(added, "post", "/registry/peers")
        for node in (self.eu, self.us):
            synced = node.post("/registry/sync", {})
            assert synced.status_code == 200, synced.get_data()
            assert_matches_openapi(synced, "post", "/registry/sync")
            outcomes = synced.get_json()["outcomes"]
            assert [(o["resource"], o["ok"]) for o in outcomes if o["resource"] != "cosign"] == [
                ("did_document", True),
                ("log", True),
            ]

    def propose(self, levels: list[str] | None = None) -> dict[str, Any]:
        """EU proposes to US: US recognises EU credentials of the given levels."""
        response = self.eu.post(
            "/mras",
            {
                "peer": self.us.did,
                "recognitions": [_recognition(self.us.did, self.eu.did, levels or ["AEOF"])],
                "noticePeriodDays": 90,
            },
        )
        assert response.status_code == 201, response.get_data()
        assert_matches_openapi(response, "post", "/mras")
        proposal: dict[str, Any] = response.get_json()["agreement"]
        return proposal

    def sign(self) -> str:
        """Propose, receive, countersign, receive: an active agreement at both nodes."""
        proposal = self.propose()
        received = self.us.post("/mras/receive", {"agreement": proposal})
        assert received.status_code == 200, received.get_data()
        assert_matches_openapi(received, "post", "/mras/receive")
        assert received.get_json()["state"] == "pending"
        countersigned = self.us.post("/mras/countersign", {"id": received.get_json()["id"]})
        assert countersigned.status_code == 200, countersigned.get_data()
        assert_matches_openapi(countersigned, "post", "/mras/countersign")
        final = self.eu.post("/mras/receive", countersigned.get_json())
        assert final.status_code == 200, final.get_data()
        assert_matches_openapi(final, "post", "/mras/receive")
        assert final.get_json()["state"] == "active"
        agreement_id: str = final.get_json()["id"]
        return agreement_id


@pytest.fixture
def second_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database on the same backend (nodes must not share one)."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    with temporary_database(backend, tmp_path, "second-node.db") as url:
        yield url


@pytest.fixture
def pair(
    make_node: Any, second_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pair]:
    fetcher = ClientFetcher()
    nodes = []
    for name, base_url, db_url in (
        ("EU customs", EU_URL, None),
        ("US customs", US_URL, second_database_url),
    ):
        services, token = make_node(name, base_url, db_url=db_url)
        # The services take a Fetcher only when built; swap the HTTPS one for the in-memory
        # one (the push service shares it) so that no request leaves the process.
        monkeypatch.setattr(services.sync, "fetcher", fetcher)
        monkeypatch.setattr(services.push, "_fetcher", fetcher)
        client = create_app(services, testing=True).test_client()
        fetcher.clients[base_url] = client
        nodes.append(Node(services, token, client, base_url))
    yield Pair(*nodes)


def _token(services: NodeServices, *scopes: str) -> str:
    _, token = create_token(
        services.db,
        name="federation contract test",
        scopes=frozenset(scopes),
        now=datetime.now(UTC),
        actor="test",
    )
    return token


# -- the document ----------------------------------------------------------------------------


def test_embedded_mra_subject_schema_is_the_bundled_one() -> None:
    schemas = document()["components"]["schemas"]
    embedded = json.dumps(schemas["MutualRecognitionAgreementSubject"])
    embedded = embedded.replace(
        "#/components/schemas/MutualRecognitionAgreementSubject/$defs/", "#/$defs/"
    )
    bundled = mra_subject_schema()
    del bundled["$schema"], bundled["$id"]
    assert json.loads(embedded) == bundled


def test_benefit_codes_are_the_registry_ones() -> None:
    assert set(document()["components"]["schemas"]["BenefitCode"]["enum"]) == BENEFIT_CODES


def test_signature_authenticated_operation_is_described() -> None:
    operation = document()["paths"]["/federation/events"]["post"]
    assert operation["security"] == []
    for word in ("RFC 9421", "Signature-Input", "Content-Digest"):
        assert word in operation["description"]


# -- registry --------------------------------------------------------------------------------


def test_registry_peers_add_list_and_sync(
    client: FlaskClient, admin_headers: dict[str, str], node: tuple[NodeServices, str]
) -> None:
    empty = client.get("/registry/peers", headers=admin_headers)
    assert empty.status_code == 200
    assert_matches_openapi(empty, "get", "/registry/peers")
    assert empty.get_json() == {"peers": []}

    added = client.post(
        "/registry/peers",
        json={
            "name": "nowhere",
            "did": NOWHERE_DID,
            "baseUrl": NOWHERE_URL + "/",
            "keyFingerprints": [_did_key_of(client)],
        },
        headers=admin_headers,
    )
    assert added.status_code == 201, added.get_data()
    assert_matches_openapi(added, "post", "/registry/peers")
    [peer] = added.get_json()["peers"]
    assert (peer["did"], peer["baseUrl"], peer["trusted"]) == (NOWHERE_DID, NOWHERE_URL, False)
    assert peer["untrustedReason"] and peer["resources"] == []

    # An officer and an auditor may read the registry.
    for scope in ("officer", "auditor"):
        listed = client.get("/registry/peers", headers=_auth(_token(node[0], scope)))
        assert listed.status_code == 200
        assert_matches_openapi(listed, "get", "/registry/peers")

    synced = client.post("/registry/sync", headers=admin_headers)
    assert synced.status_code == 200
    assert_matches_openapi(synced, "post", "/registry/sync")
    [outcome] = synced.get_json()["outcomes"]
    assert (outcome["peer"], outcome["resource"], outcome["ok"]) == (
        NOWHERE_DID,
        "did_document",
        False,
    )
    assert outcome["detail"].startswith("FETCH_ERROR")

    after = client.get("/registry/peers", headers=admin_headers)
    assert after.status_code == 200
    assert_matches_openapi(after, "get", "/registry/peers")
    [health] = after.get_json()["peers"][0]["resources"]
    assert health["resource"] == "did_document"
    assert health["consecutiveFailures"] == 1
    assert health["lastSuccess"] is None and health["ageSeconds"] is None
    assert health["lastError"].startswith("FETCH_ERROR") and health["lastErrorAt"]

    # A manual sync tries every peer, also one the scheduler is backing off from; the body
    # (if any) is ignored.
    again = client.post("/registry/sync", json={"ignored": True}, headers=admin_headers)
    assert again.status_code == 200
    assert_matches_openapi(again, "post", "/registry/sync")
    assert [(o["peer"], o["ok"]) for o in again.get_json()["outcomes"]] == [(NOWHERE_DID, False)]


def test_registry_problems(
    client: FlaskClient, admin_headers: dict[str, str], node: tuple[NodeServices, str]
) -> None:
    key = _did_key_of(client)

    def peer(**members: Any) -> dict[str, Any]:
        return {
            "name": "nowhere",
            "did": NOWHERE_DID,
            "baseUrl": NOWHERE_URL,
            "keyFingerprints": [key],
        } | members

    first = client.post("/registry/peers", json=peer(), headers=admin_headers)
    assert first.status_code == 201
    cases: list[tuple[Any, int, str]] = [
        (peer(did="did:web:127.0.0.1%3A19998"), 400, "INVALID_PEER"),
        (peer(did=node[0].identity.did, baseUrl=node[0].settings.base_url), 400, "INVALID_PEER"),
        (peer(), 400, "DUPLICATE_PEER"),
        (
            peer(did="did:web:127.0.0.1%3A19998", baseUrl="http://127.0.0.1:19998"),
            400,
            "DUPLICATE_PEER",
        ),
        (
            peer(
                name="other",
                did="did:web:127.0.0.1%3A19998",
                baseUrl="http://127.0.0.1:19998",
                keyFingerprints=["zNotAKey"],
            ),
            400,
            "INVALID_KEY",
        ),
        (peer(name="other", baseUrl="ftp://127.0.0.1:19999"), 400, "INVALID_PEER"),
        (
            peer(
                name="other", did="did:web:us.customs.example", baseUrl="http://us.customs.example"
            ),
            400,
            "INVALID_PEER",
        ),
        (peer(keyFingerprints=[]), 400, "INVALID_MEMBER"),
        (peer(keyFingerprints=[1]), 400, "INVALID_MEMBER"),
        ({"name": "x", "did": NOWHERE_DID, "keyFingerprints": [key]}, 400, "MISSING_MEMBER"),
    ]
    for body, status, code in cases:
        response = client.post("/registry/peers", json=body, headers=admin_headers)
        assert (response.status_code, _code(response)) == (status, code), body
        assert_matches_openapi(response, "post", "/registry/peers")

    wrong_type = client.post(
        "/registry/peers", data=json.dumps(peer()), content_type="text/plain", headers=admin_headers
    )
    assert wrong_type.status_code == 415
    assert_matches_openapi(wrong_type, "post", "/registry/peers")

    officer = _auth(_token(node[0], "officer"))
    for method, path in (("post", "/registry/peers"), ("post", "/registry/sync")):
        forbidden = client.open(path, method=method, json=peer(), headers=officer)
        assert forbidden.status_code == 403
        assert_matches_openapi(forbidden, method, path)
        anonymous = client.open(path, method=method, json=peer())
        assert anonymous.status_code == 401
        assert_matches_openapi(anonymous, method, path)
    issuer = _auth(_token(node[0], "issuer"))
    for path in ("/registry/peers", "/mras"):
        forbidden = client.get(path, headers=issuer)
        assert forbidden.status_code == 403
        assert_matches_openapi(forbidden, "get", path)


# -- mutual recognition agreements -----------------------------------------------------------


def test_mra_flow_between_two_nodes(pair: Pair) -> None:
    eu, us = pair.eu, pair.us
    pair.peer()
    peers = us.get("/registry/peers")
    assert peers.status_code == 200
    assert_matches_openapi(peers, "get", "/registry/peers")
    [peer] = peers.get_json()["peers"]
    assert (peer["did"], peer["trusted"], peer["untrustedReason"]) == (eu.did, True, None)
    assert peer["resources"][0]["lastSuccess"] and peer["resources"][0]["ageSeconds"] >= 0

    agreement_id = pair.sign()
    for node, peer_did in ((eu, us.did), (us, eu.did)):
        listed = node.get("/mras")
        assert listed.status_code == 200
        assert_matches_openapi(listed, "get", "/mras")
        [record] = listed.get_json()["agreements"]
        assert (record["id"], record["peer"], record["state"]) == (agreement_id, peer_did, "active")
        assert record["terminationEffective"] is None
        assert len(record["agreement"]["proof"]) == 2

    # An EU credential at US: recognised under the agreement, with its benefits.
    vc = eu.issue_aeo()
    recognised = us.post("/credentials/verify", {"verifiableCredential": vc})
    assert recognised.status_code == 200, recognised.get_data()
    assert_matches_openapi(recognised, "post", "/credentials/verify")
    body = recognised.get_json()
    assert body["benefits"] == sorted(BENEFITS)
    assert body["agreement"] == agreement_id
    assert _checks(body)["recognition"] == ("pass", None)

    # At EU, its own credential: verified, no recognition check, no benefits.
    own = eu.post("/credentials/verify", {"verifiableCredential": vc})
    assert own.status_code == 200
    assert_matches_openapi(own, "post", "/credentials/verify")
    assert own.get_json()["benefits"] == [] and "agreement" not in own.get_json()
    assert "recognition" not in _checks(own.get_json())

    # A level the agreement does not cover: verified otherwise, but no recognition.
    aeos = eu.issue_aeo(level="AEOS", authorisationNumber="DEAEOS0000012345")
    out_of_scope = us.post("/credentials/verify", {"verifiableCredential": aeos})
    assert out_of_scope.status_code == 422
    assert_matches_openapi(out_of_scope, "post", "/credentials/verify")
    body = out_of_scope.get_json()
    assert body["benefits"] == [] and "agreement" not in body
    assert _checks(body)["recognition"] == ("fail", "OUT_OF_SCOPE")

    # The proof fails: later checks are not run (never "pass"), nothing is granted.
    tampered = copy.deepcopy(vc)
    tampered["credentialSubject"]["legalName"] = "Someone Else GmbH"
    forged = us.post("/credentials/verify", {"verifiableCredential": tampered})
    assert forged.status_code == 422
    assert_matches_openapi(forged, "post", "/credentials/verify")
    body = forged.get_json()
    assert _checks(body)["proof"][0] == "fail"
    assert _checks(body)["recognition"] == ("unknown", "NOT_RUN")
    assert _checks(body)["status"] == ("unknown", "NOT_RUN")
    assert body["benefits"] == [] and "agreement" not in body

    # Before the agreement took effect: not in force, no agreement named.
    at_issue_time = us.post(
        "/credentials/verify",
        {"verifiableCredential": vc, "options": {"at": "2020-01-01T00:00:00Z"}},
    )
    assert at_issue_time.status_code == 422
    assert_matches_openapi(at_issue_time, "post", "/credentials/verify")
    body = at_issue_time.get_json()
    assert body["benefits"] == []
    assert _checks(body)["validity"][0] == "fail"
    assert "agreement" not in body


def test_mra_receive_and_countersign_before_peering(pair: Pair) -> None:
    """US does not know EU yet: it cannot verify (or countersign) EU's proposal."""
    eu, us = pair.eu, pair.us
    proposal = pair.propose()
    agreement_id = proposal["credentialSubject"]["id"]

    listed = eu.get("/mras")
    assert listed.status_code == 200
    assert_matches_openapi(listed, "get", "/mras")
    [record] = listed.get_json()["agreements"]
    assert (record["id"], record["peer"], record["state"]) == (agreement_id, us.did, "pending")
    assert record["agreement"] == proposal

    # US cannot resolve EU's key before EU is its trusted peer: refused, nothing stored.
    received = us.post("/mras/receive", {"agreement": proposal})
    assert received.status_code == 422
    assert_matches_openapi(received, "post", "/mras/receive")

    countersigned = us.post("/mras/countersign", {"id": agreement_id})
    assert_matches_openapi(countersigned, "post", "/mras/countersign")
    assert (countersigned.status_code, _code(countersigned)) in (
        (422, "MRA_PROOF_INVALID"),
        (404, "NOT_FOUND"),
    )

    unknown = us.post("/mras/countersign", {"id": "urn:uuid:" + str(uuid.uuid4())})
    assert (unknown.status_code, _code(unknown)) == (404, "NOT_FOUND")
    assert_matches_openapi(unknown, "post", "/mras/countersign")


def test_receiving_an_unverifiable_proposal_is_refused(pair: Pair) -> None:
    proposal = pair.propose()
    unsigned = {k: v for k, v in proposal.items() if k != "proof"}
    for candidate in (proposal, unsigned):
        received = pair.us.post("/mras/receive", {"agreement": candidate})
        assert_matches_openapi(received, "post", "/mras/receive")
        assert received.status_code == 422, received.get_data()
    listed = pair.us.get("/mras")
    assert listed.get_json()["agreements"] == []


def test_mra_problems(pair: Pair) -> None:
    eu, us = pair.eu, pair.us
    pair.peer()
    good = {
        "peer": us.did,
        "recognitions": [_recognition(us.did, eu.did, ["AEOF"])],
        "noticePeriodDays": 90,
    }
    for body, code in (
        (good | {"peer": eu.did}, "SCHEMA_VALIDATION_ERROR"),
        (good | {"recognitions": [1]}, "SCHEMA_VALIDATION_ERROR"),
        (good | {"noticePeriodDays": 731}, "SCHEMA_VALIDATION_ERROR"),
        (
            good
            | {"effectiveFrom": "2027-01-01T00:00:00Z", "effectiveUntil": "2026-01-01T00:00:00Z"},
            "SCHEMA_VALIDATION_ERROR",
        ),
        (good | {"effectiveFrom": "tomorrow"}, "INVALID_DATETIME"),
        ({k: v for k, v in good.items() if k != "noticePeriodDays"}, "MISSING_MEMBER"),
        (good | {"noticePeriodDays": "90"}, "INVALID_MEMBER"),
    ):
        response = eu.post("/mras", body)
        assert (response.status_code, _code(response)) == (400, code), body
        assert_matches_openapi(response, "post", "/mras")

    # A proposal with an end date and a time zone: written in UTC.
    dated = eu.post(
        "/mras",
        good
        | {
            "effectiveFrom": "2027-01-01T01:00:00.5+01:00",
            "effectiveUntil": "2030-01-01T00:00:00Z",
        },
    )
    assert dated.status_code == 201, dated.get_data()
    assert_matches_openapi(dated, "post", "/mras")
    agreement = dated.get_json()["agreement"]
    assert agreement["validFrom"].startswith("2027-01-01T00:00:00")
    assert agreement["validFrom"].endswith("Z")
    assert agreement["validUntil"] == "2030-01-01T00:00:00Z"
    pending_id = agreement["credentialSubject"]["id"]

    # EU cannot countersign its own proposal, nor terminate a pending agreement.
    own = eu.post("/mras/countersign", {"id": pending_id})
    assert (own.status_code, _code(own)) == (400, "MRA_WRONG_SIGNER")
    assert_matches_openapi(own, "post", "/mras/countersign")
    for path, body, code in (
        ("/mras/terminate", {"id": pending_id}, "MRA_CONFLICT"),
        ("/mras/terminate", {}, "MISSING_MEMBER"),
        ("/mras/receive", {"agreement": {}}, "INVALID_CONTEXT"),
        ("/mras/receive", {"agreement": "x"}, "INVALID_MEMBER"),
        ("/mras/terminations", {"notice": {}}, "INVALID_TERMINATION_NOTICE"),
    ):
        response = eu.post(path, body)
        assert (response.status_code, _code(response)) == (400, code), (path, body)
        assert_matches_openapi(response, "post", path)
    # An unknown agreement is 404, not a bad request.
    for path, body in (
        ("/mras/terminate", {"id": "urn:uuid:" + str(uuid.uuid4())}),
        (
            "/mras/terminations",
            {"notice": {"credentialSubject": {"id": "urn:uuid:" + str(uuid.uuid4())}}},
        ),
    ):
        response = eu.post(path, body)
        assert (response.status_code, _code(response)) == (404, "NOT_FOUND"), (path, body)
        assert_matches_openapi(response, "post", path)

    # An agreement between two strangers: EU is not a party.
    x, y = PrivateKey.from_seed(bytes([1]) * 32), PrivateKey.from_seed(bytes([2]) * 32)
    xd, yd = x.public_key.did, y.public_key.did
    strangers = propose_mra(
        build_mra(
            agreement_id="urn:uuid:" + str(uuid.uuid4()),
            parties=[xd, yd],
            recognitions=[_recognition(yd, xd, ["AEOF"])],
            effective_from=datetime(2027, 1, 1, tzinfo=UTC),
            notice_period_days=30,
            proposer=xd,
        ),
        x,
        verification_method=x.public_key.verification_method_id,
        created=datetime.now(UTC),
    )
    not_a_party = eu.post("/mras/receive", {"agreement": strangers})
    assert (not_a_party.status_code, _code(not_a_party)) == (400, "NOT_A_PARTY")
    assert_matches_openapi(not_a_party, "post", "/mras/receive")

    # A signed agreement with a third signature from a stranger: refused (422).
    agreement_id = pair.sign()
    [record] = [r for r in us.get("/mras").get_json()["agreements"] if r["id"] == agreement_id]
    third = add_proof(
        record["agreement"],
        x,
        ProofOptions(
            verification_method=x.public_key.verification_method_id,
            created=datetime.now(UTC).replace(microsecond=0),
        ),
    )
    stranger = eu.post("/mras/receive", {"agreement": third})
    assert (stranger.status_code, _code(stranger)) == (422, "MRA_UNEXPECTED_SIGNER")
    assert_matches_openapi(stranger, "post", "/mras/receive")
    # The same agreement again (a re-delivery) changes nothing.
    again = eu.post("/mras/receive", {"agreement": record["agreement"]})
    assert again.status_code == 200 and again.get_json()["state"] == "active"
    assert_matches_openapi(again, "post", "/mras/receive")

    # A termination notice that does not verify (not even a credential).
    malformed = eu.post(
        "/mras/terminations", {"notice": {"credentialSubject": {"id": agreement_id}}}
    )
    assert (malformed.status_code, _code(malformed)) == (422, "MRA_NOTICE_MALFORMED")
    assert_matches_openapi(malformed, "post", "/mras/terminations")

    for path in ("/mras", "/mras/receive", "/mras/countersign", "/mras/terminations"):
        wrong_type = eu.client.post(path, data="{}", content_type="text/plain", headers=eu.auth)
        assert wrong_type.status_code == 415
        assert_matches_openapi(wrong_type, "post", path)
        forbidden = eu.client.post(path, json={}, headers=_auth(_token(eu.services, "officer")))
        assert forbidden.status_code == 403
        assert_matches_openapi(forbidden, "post", path)
        anonymous = eu.client.post(path, json={})
        assert anonymous.status_code == 401
        assert_matches_openapi(anonymous, "post", path)
    for scope in ("officer", "auditor"):
        listed = eu.client.get("/mras", headers=_auth(_token(eu.services, scope)))
        assert listed.status_code == 200
        assert_matches_openapi(listed, "get", "/mras")


def test_terminate_an_active_agreement(pair: Pair) -> None:
    pair.peer()
    agreement_id = pair.sign()
    terminated = pair.eu.post("/mras/terminate", {"id": agreement_id})
    assert_matches_openapi(terminated, "post", "/mras/terminate")
    assert terminated.status_code == 200, terminated.get_data()
    notice = terminated.get_json()["notice"]
    assert notice["credentialSubject"]["id"] == agreement_id

    received = pair.us.post("/mras/terminations", {"notice": notice})
    assert_matches_openapi(received, "post", "/mras/terminations")
    assert received.status_code == 200, received.get_data()
    for node in (pair.eu, pair.us):
        listed = node.get("/mras")
        assert_matches_openapi(listed, "get", "/mras")
        [record] = listed.get_json()["agreements"]
        assert record["state"] == "terminated" and record["terminationEffective"]


def test_termination_notice_for_a_pending_agreement_is_refused(pair: Pair) -> None:
    eu, us = pair.eu, pair.us
    pair.peer()
    proposal = pair.propose()
    agreement_id = proposal["credentialSubject"]["id"]
    received = us.post("/mras/receive", {"agreement": proposal})
    assert received.status_code == 200 and received.get_json()["state"] == "pending"

    signer = us.services.identity.current()
    now = datetime.now(UTC)
    notice = sign_termination_notice(
        build_termination_notice(
            agreement_id=agreement_id, terminating_party=us.did, notice_given_at=now
        ),
        signer.key,
        verification_method=signer.did_web_vm,
        created=now,
    )
    refused = us.post("/mras/terminations", {"notice": notice})
    assert_matches_openapi(refused, "post", "/mras/terminations")
    assert (refused.status_code, _code(refused)) == (400, "MRA_CONFLICT"), refused.get_data()
    verified = us.post("/credentials/verify", {"verifiableCredential": eu.issue_aeo()})
    assert verified.get_json()["benefits"] == []


# -- federation events -------------------------------------------------------------------------


def _event(issuer: str, **members: Any) -> FederationEvent:
    fields: dict[str, Any] = {
        "type": FederationEventType.STATUS_LIST_UPDATED,
        "issuer": issuer,
        "id": f"urn:uuid:{uuid.uuid4()}",
        "occurred_at": datetime.now(UTC).replace(microsecond=0),
        "status_list_credential": None,
    } | members
    return FederationEvent(**fields)


def test_federation_events_signed_by_a_peer(pair: Pair) -> None:
    eu, us = pair.eu, pair.us
    pair.peer()
    vc = eu.issue_aeo()
    list_url = vc["credentialStatus"][0]["statusListCredential"]
    signer = eu.services.identity.current()

    def send(
        event: FederationEvent,
        *,
        key: PrivateKey = signer.key,
        key_id: str = signer.did_web_vm,
        now: datetime | None = None,
        tamper: bool = False,
    ) -> tuple[TestResponse, bytes, dict[str, str]]:
        body, headers = build_signed_event(
            event, url=us.events_url(), key=key, key_id=key_id, now=now or datetime.now(UTC)
        )
        sent = body + b" " if tamper else body
        response = us.client.post("/federation/events", data=sent, headers=headers)
        assert_matches_openapi(response, "post", "/federation/events")
        return response, body, headers

    accepted, body, headers = send(_event(eu.did, status_list_credential=list_url))
    assert accepted.status_code == 202, accepted.get_data()
    assert accepted.get_json() == {"accepted": True, "id": json.loads(body)["id"]}
    # The named list is refetched in the background, not inside the event request.
    assert us.services.refetch.drain(10)
    health = us.get("/registry/peers").get_json()["peers"][0]["resources"]
    assert f"status_list:{list_url}" in {h["resource"] for h in health}

    replayed = us.client.post("/federation/events", data=body, headers=headers)
    assert (replayed.status_code, _code(replayed)) == (400, "REPLAYED_REQUEST")
    assert_matches_openapi(replayed, "post", "/federation/events")

    # A key announcement must name the new key...
    unnamed, _, _ = send(_event(eu.did, type=FederationEventType.KEY_ROTATED))
    assert (unnamed.status_code, _code(unnamed)) == (400, "INVALID_EVENT")
    assert_matches_openapi(unnamed, "post", "/federation/events")
    # ...and one that does is accepted (the key is then allowed at the next sync).
    new_key = PrivateKey.from_seed(bytes([7]) * 32).public_key.multibase
    rotated, _, _ = send(
        _event(eu.did, type=FederationEventType.KEY_ROTATED, extensions={"newKey": new_key})
    )
    assert rotated.status_code == 202

    stranger = PrivateKey.from_seed(bytes([9]) * 32)
    cases: list[tuple[TestResponse, int, str]] = [
        (
            send(_event(eu.did, status_list_credential=list_url), tamper=True)[0],
            400,
            "DIGEST_MISMATCH",
        ),
        (
            send(
                _event(eu.did, status_list_credential=list_url),
                now=datetime.now(UTC) - timedelta(hours=1),
            )[0],
            400,
            "STALE_REQUEST",
        ),
        (
            # A status list that is not EU's.
            send(_event(eu.did, status_list_credential=US_URL + "/status-lists/revocation-1"))[0],
            400,
            "INVALID_EVENT",
        ),
        (
            # EU's key id, someone else's signature.
            send(_event(eu.did, status_list_credential=list_url), key=stranger)[0],
            401,
            "BAD_SIGNATURE",
        ),
        (
            send(
                _event("did:web:stranger.example", status_list_credential=list_url),
                key=stranger,
                key_id="did:web:stranger.example#key-1",
            )[0],
            401,
            "UNKNOWN_KEY",
        ),
    ]
    # Signed by EU, about US: a peer speaks only for itself.
    mismatch = _event(us.did, status_list_credential=list_url).to_bytes()
    mismatch_headers = {"Content-Type": "application/json"}
    mismatch_headers |= sign_request(
        method="POST",
        url=us.events_url(),
        headers=mismatch_headers,
        body=mismatch,
        key=signer.key,
        key_id=signer.did_web_vm,
        created=datetime.now(UTC),
        nonce=new_nonce(),
        tag=EVENT_TAG,
    )
    response = us.client.post("/federation/events", data=mismatch, headers=mismatch_headers)
    assert_matches_openapi(response, "post", "/federation/events")
    cases.append((response, 401, "ISSUER_MISMATCH"))
    for response, status, code in cases:
        assert (response.status_code, _code(response)) == (status, code)


def test_federation_events_without_a_valid_signature(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    now = int(datetime.now(UTC).timestamp())
    cases: list[tuple[dict[str, str], bytes, int, str]] = [
        ({"Content-Type": "application/json"}, b"{}", 401, "MISSING_SIGNATURE"),
        # A bearer token does not stand in for a signature.
        (admin_headers | {"Content-Type": "application/json"}, b"{}", 401, "MISSING_SIGNATURE"),
        ({"Signature": "garbage", "Signature-Input": "garbage"}, b"{}", 401, "BAD_SIGNATURE"),
        ({"Signature": "sig=:AAAA:", "Signature-Input": " "}, b"{}", 401, "MISSING_SIGNATURE"),
        (
            {"Signature": "a=:AAAA:, b=:AAAA:", "Signature-Input": 'a=("@method");created=1'},
            b"{}",
            400,
            "MULTIPLE_SIGNATURES",
        ),
        (
            {"Signature": "sig=:AAAA:", "Signature-Input": 'sig=("@method");created=1'},
            b"{}",
            400,
            "STALE_REQUEST",
        ),
        (
            {
                "Signature": "sig=:AAAA:",
                "Signature-Input": f'sig=("@method");created={now};keyid="did:web:x.example#k"',
            },
            b"{}",
            401,
            "UNKNOWN_KEY",
        ),
        ({"Content-Type": "application/json"}, b"x" * (16 * 1024 + 1), 413, "PAYLOAD_TOO_LARGE"),
        ({"Content-Type": "application/json"}, b"x" * 2_000_000, 413, "PAYLOAD_TOO_LARGE"),
    ]
    for headers, body, status, code in cases:
        response = client.post("/federation/events", data=body, headers=headers)
        assert (response.status_code, _code(response)) == (status, code), headers
        assert_matches_openapi(response, "post", "/federation/events")


def test_signature_401_does_not_ask_for_a_bearer_token(client: FlaskClient) -> None:
    response = client.post("/federation/events", data=b"{}")
    assert response.status_code == 401
    assert "bearer" not in response.headers.get("WWW-Authenticate", "").lower()


# -- verify: benefits ------------------------------------------------------------------------


def test_verify_results_carry_benefits(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    own = client.post(
        "/aeo-credentials", json={"credentialSubject": aeo_subject()}, headers=admin_headers
    ).get_json()["verifiableCredential"]
    verified = client.post(
        "/credentials/verify", json={"verifiableCredential": own}, headers=admin_headers
    )
    assert verified.status_code == 200
    assert_matches_openapi(verified, "post", "/credentials/verify")
    body = verified.get_json()
    assert body["benefits"] == [] and "agreement" not in body
    assert "recognition" not in _checks(body)

    tampered = copy.deepcopy(own)
    tampered["credentialSubject"]["legalName"] = "Someone Else GmbH"
    refused = client.post(
        "/credentials/verify", json={"verifiableCredential": tampered}, headers=admin_headers
    )
    assert refused.status_code == 422
    assert_matches_openapi(refused, "post", "/credentials/verify")
    assert refused.get_json()["benefits"] == []

    # A credential of a stranger (did:key): it verifies cryptographically, but no MRA
    # recognises its issuer, so the recognition check fails and nothing is granted.
    stranger = PrivateKey.from_seed(bytes([5]) * 32)
    foreign = add_proof(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"],
            "issuer": stranger.public_key.did,
            "validFrom": "2026-01-01T00:00:00Z",
            "credentialSubject": {"id": "did:example:subject"},
        },
        stranger,
        ProofOptions(
            verification_method=stranger.public_key.verification_method_id,
            created=datetime.now(UTC).replace(microsecond=0),
        ),
    )
    unrecognised = client.post(
        "/credentials/verify", json={"verifiableCredential": foreign}, headers=admin_headers
    )
    assert unrecognised.status_code == 422, unrecognised.get_data()
    assert_matches_openapi(unrecognised, "post", "/credentials/verify")
    body = unrecognised.get_json()
    assert body["benefits"] == [] and "agreement" not in body
    assert _checks(body)["recognition"][0] == "fail"
    assert _checks(body)["proof"] == ("pass", None)


# -- bugs in the registry ------------------------------------------------------------------------


@pytest.mark.parametrize("base_url", ["http://[::1", "http://x.example:99999", "http://x:abc"])
def test_add_peer_with_an_unparsable_base_url_is_a_400(
    client: FlaskClient, admin_headers: dict[str, str], base_url: str
) -> None:
    response = client.post(
        "/registry/peers",
        json={
            "name": "broken",
            "did": "did:web:x.example",
            "baseUrl": base_url,
            "keyFingerprints": [_did_key_of(client)],
        },
        headers=admin_headers,
    )
    assert response.status_code == 400, response.get_data()
    assert_matches_openapi(response, "post", "/registry/peers")


def test_a_peer_name_longer_than_64_characters_is_refused_alike(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    response = client.post(
        "/registry/peers",
        json={
            "name": "x" * 65,
            "did": NOWHERE_DID,
            "baseUrl": NOWHERE_URL,
            "keyFingerprints": [_did_key_of(client)],
        },
        headers=admin_headers,
    )
    assert response.status_code == 400, response.get_data()
    assert _code(response) in {"INVALID_PEER", "INVALID_MEMBER"}


def test_metrics_expose_peer_health(client: Any, admin_headers: dict[str, str]) -> None:
    added = client.post(
        "/registry/peers",
        json={
            "name": "nowhere",
            "did": NOWHERE_DID,
            "baseUrl": "http://127.0.0.1:19999",
            "keyFingerprints": [PrivateKey.from_seed(b"\x05" * 32).public_key.multibase],
        },
        headers=admin_headers,
    )
    assert added.status_code == 201
    client.post("/registry/sync", headers=admin_headers)
    response = client.get("/metrics", headers=admin_headers)
    assert_matches_openapi(response, "get", "/metrics")
    text = response.get_data(as_text=True)
    assert 'trustlane_peer_trusted{peer="nowhere"} 0.0' in text
    assert 'trustlane_peer_sync_failures{peer="nowhere",resource="did_document"} 1.0' in text
    assert client.get("/metrics").status_code == 401


def test_mra_context_is_served(client: Any) -> None:
    response = client.get("/contexts/mra/v1")
    assert_matches_openapi(response, "get", "/contexts/mra/v1")
    assert "MutualRecognitionAgreement" in response.get_json()["@context"]


def test_repin_is_audited_and_refuses_what_it_cannot_vouch_for(pair: Pair) -> None:
    eu, us = pair.eu, pair.us
    pair.peer()
    new_key = PrivateKey.from_seed(bytes([44]) * 32).public_key.multibase
    path = "/registry/peers/eu/repin"
    # Hostile or mistaken input: no peer of that name, a key that is not a Multikey, no keys,
    # a token without the registry-admin scope. Nothing is recorded for any of them.
    for url, body, status, code in (
        ("/registry/peers/nobody/repin", {"keys": [new_key]}, 404, "NOT_FOUND"),
        (path, {"keys": ["z6Mknot-a-key"]}, 400, None),
        (path, {"keys": []}, 400, "INVALID_MEMBER"),
        (path, {"keys": [new_key], "notBefore": "yesterday"}, 400, None),
    ):
        refused = us.post(url, body)
        assert refused.status_code == status, (url, body, refused.get_data())
        assert code is None or _code(refused) == code
        assert_matches_openapi(refused, "post", "/registry/peers/{name}/repin")
    officer = us.client.post(
        path, json={"keys": [new_key]}, headers=_auth(_token(us.services, "officer"))
    )
    assert officer.status_code == 403
    with us.services.db.read() as conn:
        assert new_key not in {r.multibase for r in list_peer_key_records(conn)}
    # An administrator's re-pin: recorded with its start, and audited.
    not_before = "2026-12-01T00:00:00Z"
    done = us.post(path, {"keys": [new_key], "notBefore": not_before})
    assert done.status_code == 200, done.get_data()
    assert_matches_openapi(done, "post", "/registry/peers/{name}/repin")
    with us.services.db.read() as conn:
        [record] = [r for r in list_peer_key_records(conn) if r.multibase == new_key]
        events = [e for e in iter_events(conn) if e.action == "peer.repinned"]
    assert (record.source, record.peer_did) == ("repin", eu.did)
    assert record.not_before == datetime(2026, 12, 1, tzinfo=UTC)
    assert events and new_key in events[-1].details and events[-1].target == eu.did
