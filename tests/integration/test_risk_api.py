"""Risk assessment through the API, on SQLite and PostgreSQL.

Two in-process nodes (EU and US, see test_api_federation_contract.py) sign an MRA under which
the US recognises EU AEO credentials with ``reduced-examination``. The EU issues a trader a
credential carrying its EORI; the US links that EORI to the MID the declaration names (the
crosswalk) and assesses the declaration with the trader's presentation: the benefit applies,
with its reasons, and the same inputs give the same decision. Then the abuse: a replayed
presentation, a presentation for another consignment, a watch-list hit, an unresolved
radiation alarm, malformed declarations and bodies, unknown decisions, and tokens without
the scopes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from test_api_federation_contract import ClientFetcher
from test_scans import attestation

from conftest import NodeFactory
from credentials.keys import PrivateKey
from credentials.model import VC_V2_CONTEXT
from credentials.signing import sign_presentation
from node.app import create_app
from node.services.risk import SELECTION_SECRET_PURPOSE
from node.services.risk_evidence import scans_recognised
from node.services.tokens import create_token
from node.storage import federation_repo
from node.wiring import NodeServices
from nodehelpers import aeo_subject, temporary_database
from openapi_check import assert_matches_openapi, document
from risk import PartyIdentifier, selection_draw
from risk.declaration import declaration_schema

EU_URL = "http://127.0.0.1:18443"
US_URL = "http://127.0.0.1:18444"
BENEFITS = ["origin-scan-recognised", "priority-processing", "reduced-examination"]
UCR = "6DE123456789000-4711"
OTHER_UCR = "6DE123456789000-4712"
PORT = "USNYC"
EORI = {"scheme": "EORI", "value": "DE123456789012345"}
MID = {"scheme": "MID", "value": "DEBEILOG1234HAM"}
CONTAINERS = ["CSQU3054383", "YMLU3030933"]


def declaration(**changes: Any) -> dict[str, Any]:
    """An import into the US of power supplies from a German exporter known by its MID."""
    doc: dict[str, Any] = {
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
        "containers": list(CONTAINERS),
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
    doc.update(changes)
    return doc


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(services: NodeServices, *scopes: str) -> dict[str, str]:
    _, token = create_token(
        services.db,
        name="risk test " + "+".join(scopes),
        scopes=frozenset(scopes),
        now=datetime.now(UTC),
        actor="test",
    )
    return _auth(token)


def _codes(record: dict[str, Any]) -> list[str]:
    return [r["code"] for r in record["decision"]["reasons"]]


@dataclasses.dataclass
class Port:
    """The destination node as an officer uses it."""

    services: NodeServices
    client: FlaskClient
    officer: dict[str, str]

    def assess(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        response = self.client.post("/risk/assess", json=body, headers=headers or self.officer)
        assert_matches_openapi(response, "post", "/risk/assess")
        return response

    def decided(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.assess(body)
        assert response.status_code == 201, response.get_data()
        record: dict[str, Any] = response.get_json()
        assert response.headers["Location"] == f"/risk/decisions/{record['id']}"
        return record

    def challenge(self, consignment: str = UCR, port: str = PORT) -> dict[str, Any]:
        response = self.client.post(
            "/challenges", json={"consignment": consignment, "port": port}, headers=self.officer
        )
        assert response.status_code == 201, response.get_data()
        issued: dict[str, Any] = response.get_json()
        return issued


@dataclasses.dataclass
class Trader:
    """A trader with an EU credential and its wallet key."""

    key: PrivateKey
    credential: dict[str, Any]

    def present(self, issued: dict[str, Any]) -> dict[str, Any]:
        vp: dict[str, Any] = sign_presentation(
            {
                "@context": [VC_V2_CONTEXT],
                "type": ["VerifiablePresentation"],
                "holder": self.key.public_key.did,
                "verifiableCredential": [self.credential],
            },
            self.key,
            challenge=issued["challenge"],
            domain=issued["domain"],
            created=datetime.now(UTC),
        )
        return {"verifiablePresentation": vp, "options": {"challenge": issued["challenge"]}}


@pytest.fixture
def us_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second database on the same backend, for the US node."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    with temporary_database(backend, tmp_path, "us-node.db") as url:
        yield url


@dataclasses.dataclass
class Federation:
    """The EU and US nodes: services and admin headers."""

    eu: NodeServices
    us: NodeServices
    clients: dict[str, FlaskClient]
    admins: dict[str, dict[str, str]]

    def call(self, node: NodeServices, path: str, body: Any, status: int = 200) -> Any:
        base = node.settings.base_url
        response = self.clients[base].post(path, json=body, headers=self.admins[base])
        assert response.status_code == status, response.get_data()
        return response.get_json()


def _federate(fed: Federation) -> None:
    """Peer both ways with keys pinned, sync, and sign an MRA: the US recognises EU AEOF."""
    for node, other in ((fed.eu, fed.us), (fed.us, fed.eu)):
        did_document = fed.clients[other.settings.base_url].get("/.well-known/did.json")
        key = did_document.get_json()["verificationMethod"][0]["publicKeyMultibase"]
        fed.call(
            node,
            "/registry/peers",
            {
                "name": other.settings.name.split()[0].lower(),
                "did": other.identity.did,
                "baseUrl": other.settings.base_url,
                "keyFingerprints": [key],
            },
            201,
        )
    for node in (fed.eu, fed.us):
        fed.call(node, "/registry/sync", {})
    recognition = {
        "recognisingParty": fed.us.identity.did,
        "issuingParty": fed.eu.identity.did,
        "programmes": [{"programme": "EU-AEO", "levels": ["AEOF"]}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["exporter"],
        "benefits": BENEFITS,
    }
    proposal = fed.call(
        fed.eu,
        "/mras",
        {"peer": fed.us.identity.did, "recognitions": [recognition], "noticePeriodDays": 90},
        201,
    )["agreement"]
    received = fed.call(fed.us, "/mras/receive", {"agreement": proposal})
    countersigned = fed.call(fed.us, "/mras/countersign", {"id": received["id"]})
    assert fed.call(fed.eu, "/mras/receive", countersigned)["state"] == "active"


@pytest.fixture
def federation(
    make_node: NodeFactory, us_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Port, Trader, Federation]:
    """EU and US peered under an MRA; an EU trader's credential; the US port's officer."""
    fetcher = ClientFetcher()
    built: list[NodeServices] = []
    admins: dict[str, dict[str, str]] = {}
    for name, base_url, db_url in (
        ("EU customs", EU_URL, None),
        ("US customs", US_URL, us_database_url),
    ):
        services, token = make_node(name, base_url, db_url=db_url)
        # No request leaves the process: peers fetch from each other's test clients.
        monkeypatch.setattr(services.sync, "fetcher", fetcher)
        monkeypatch.setattr(services.push, "_fetcher", fetcher)
        fetcher.clients[base_url] = create_app(services, testing=True).test_client()
        admins[base_url] = _auth(token)
        built.append(services)
    fed = Federation(built[0], built[1], fetcher.clients, admins)
    _federate(fed)
    key = PrivateKey.generate()
    subject = {**aeo_subject(key.public_key.did), "identifiers": [EORI]}
    vc = fed.call(fed.eu, "/aeo-credentials", {"credentialSubject": subject}, 201)
    vc = vc["verifiableCredential"]
    # A verify at the US queues the EU status lists; once fetched, statuses are known.
    fed.call(fed.us, "/credentials/verify", {"verifiableCredential": vc}, 422)
    assert fed.us.refetch.drain(10)
    fed.call(fed.us, "/credentials/verify", {"verifiableCredential": vc})
    port = Port(fed.us, fetcher.clients[US_URL], _token(fed.us, "officer"))
    link = port.client.post(
        "/identifiers",
        json={"identifier": EORI, "linked": MID, "note": "BTI ruling 2026-114"},
        headers=_token(fed.us, "registry-admin"),
    )
    assert link.status_code == 201, link.get_data()
    assert_matches_openapi(link, "post", "/identifiers")
    return port, Trader(key, vc), fed


def test_a_recognised_trader_gets_the_mra_benefit_with_its_reasons(
    federation: tuple[Port, Trader, Federation],
) -> None:
    port, trader, fed = federation
    without = port.decided({"declaration": declaration()})
    assert without["decision"]["benefitsApplied"] == []

    record = port.decided(
        {"declaration": declaration(), "presentation": trader.present(port.challenge())}
    )
    decision = record["decision"]
    assert decision["benefitsApplied"] == BENEFITS
    assert decision["score"] < without["decision"]["score"]
    assert decision["scoreChannel"] == "release", decision
    if not decision["randomSelection"]["selected"]:
        assert decision["channel"] == "release"
    # Benefits lower the random rate, never below the floor.
    assert 0 < decision["randomSelection"]["rate"] < without["decision"]["randomSelection"]["rate"]
    applied = [r for r in decision["reasons"] if r["code"] == "BENEFIT_APPLIED"]
    reference = f"credential:{trader.credential['id']}"
    assert all(reference in r["evidence"] for r in applied) and len(applied) == 3
    assert decision["policy"]["policyId"] == port.services.risk.policy.policy_id
    assert decision["policy"]["hash"] == port.services.risk.policy.hash
    # The credential carries the EORI; the declaration names the MID: the crosswalk link.
    assert record["crosswalk"] == [{"identifier": EORI, "linked": MID}]
    (evidence,) = record["evidence"]["credentials"]
    assert evidence["verified"] and evidence["recognised"] and evidence["status"] == "valid"
    # The agreement that granted the benefits is named: in the evidence and in each reason.
    with port.services.db.read() as conn:
        (held,) = [m.id for m in federation_repo.list_mras(conn, state="active")]
    assert evidence["agreement"] == held
    assert all(r["evidence"].count(f"agreement:{held}") == 1 for r in applied)
    assert record["verification"]["presentation"]["verified"] is True
    assert record["verification"]["notes"] == []

    # Listed and fetchable, by officers and auditors.
    auditor = _token(port.services, "auditor")
    fetched = port.client.get(f"/risk/decisions/{record['id']}", headers=auditor)
    assert fetched.status_code == 200
    assert_matches_openapi(fetched, "get", "/risk/decisions/{decisionId}")
    assert fetched.get_json() == record
    listed = port.client.get("/risk/decisions?limit=1", headers=auditor)
    assert listed.status_code == 200
    assert_matches_openapi(listed, "get", "/risk/decisions")
    page = listed.get_json()
    assert [d["id"] for d in page["decisions"]] == [record["id"]]
    rest = port.client.get(f"/risk/decisions?cursor={page['next']}", headers=port.officer)
    assert [d["id"] for d in rest.get_json()["decisions"]] == [without["id"]]
    assert rest.get_json()["next"] is None
    mine = port.client.get("/risk/decisions?declarationId=26US000000000001", headers=auditor)
    assert len(mine.get_json()["decisions"]) == 2
    other = port.client.get("/risk/decisions?declarationId=26US000000000002", headers=auditor)
    assert other.get_json()["decisions"] == []

    # Same inputs, same decision: a fresh challenge, the same time.
    at = datetime.now(UTC)
    fixed = dataclasses.replace(port.services, clock=lambda: at)
    again = Port(fixed, create_app(fixed, testing=True).test_client(), port.officer)
    first, second = (
        again.decided(
            {"declaration": declaration(), "presentation": trader.present(again.challenge())}
        )
        for _ in range(2)
    )
    assert first["id"] != second["id"]
    assert first["decision"] == second["decision"]
    # The draw is the keyed HMAC of the declaration id with the node's own secret.
    secret = port.services.keystore.derive_secret(SELECTION_SECRET_PURPOSE)
    assert first["decision"]["randomSelection"]["draw"] == selection_draw(
        secret, "26US000000000001"
    )
    assert secret.hex() not in json.dumps(first)
    assert fed.eu.keystore.derive_secret(SELECTION_SECRET_PURPOSE) != secret

    # A clear X-ray at origin (EU) counts at the US: the MRA grants origin-scan-recognised.
    device = PrivateKey.generate()
    registered = fed.call(
        fed.eu,
        "/devices",
        {
            "name": "xray-1",
            "device": device.public_key.did,
            "modalities": ["xray"],
            "site": "DEHAM",
        },
        201,
    )
    scan = attestation(
        device,
        registered["deviceAuthorization"],
        site="DEHAM",
        containers=tuple(CONTAINERS),
        modality="xray",
    )
    bundle = fed.call(fed.eu, "/scans", scan, 201)
    body = {"declaration": declaration(), "attestations": [{"bundle": bundle}]}
    # The first check queues the EU's device status lists; once fetched, the scan counts.
    port.decided(body)
    assert fed.us.refetch.drain(10)
    scanned = port.decided(body)
    assert "SCAN_CLEAR" in _codes(scanned), scanned["verification"]
    (evidence,) = scanned["evidence"]["scans"]
    assert evidence["issuer"] == fed.eu.identity.did and evidence["recognised"] is True
    assert scanned["decision"]["score"] < without["decision"]["score"]


def test_replays_other_consignments_and_watch_list_hits_grant_nothing(
    federation: tuple[Port, Trader, Federation],
) -> None:
    port, trader, _ = federation
    issued = port.challenge()
    presentation = trader.present(issued)
    granted = port.decided({"declaration": declaration(), "presentation": presentation})
    assert granted["decision"]["benefitsApplied"]

    # The same presentation again: the challenge is spent.
    replay = port.decided({"declaration": declaration(), "presentation": presentation})
    assert replay["decision"]["benefitsApplied"] == []
    assert "CREDENTIAL_NOT_VERIFIED" in _codes(replay)
    assert "CHALLENGE_USED" in replay["verification"]["notes"][0]
    assert replay["verification"]["presentation"]["verified"] is False

    # A presentation answering a challenge for another consignment.
    elsewhere = port.challenge(OTHER_UCR)
    mismatch = port.decided(
        {"declaration": declaration(), "presentation": trader.present(elsewhere)}
    )
    assert mismatch["decision"]["benefitsApplied"] == []
    assert "CHALLENGE_MISMATCH" in mismatch["verification"]["notes"][0]
    # ... it spent nothing: for its own consignment it still counts.
    own = port.decided(
        {
            "declaration": declaration(ucr=OTHER_UCR, declarationId="26US000000000002"),
            "presentation": trader.present(elsewhere),
        }
    )
    assert own["decision"]["benefitsApplied"]
    # Naming another consignment or verifier in the options is refused outright.
    for options in ({"consignment": OTHER_UCR}, {"port": "DEHAM"}, {"domain": EU_URL}):
        fresh = trader.present(port.challenge())
        fresh["options"].update(options)
        refused = port.assess({"declaration": declaration(), "presentation": fresh})
        assert refused.status_code == 400, options
        assert refused.get_json()["code"] == "INVALID_OPTIONS"

    # A watch-list hit on the linked EORI overrides every benefit.
    port.services.risk.add_watch_entry(
        party=PartyIdentifier(**EORI), reason="intelligence", now=datetime.now(UTC), actor="test"
    )
    watched = port.decided(
        {"declaration": declaration(), "presentation": trader.present(port.challenge())}
    )
    decision = watched["decision"]
    assert decision["benefitsApplied"] == []
    assert {"WATCH_LIST_HIT", "BENEFITS_WITHHELD"} <= set(_codes(watched))
    assert decision["mandatoryChannel"] in ("non-intrusive", "physical")
    assert watched["watchList"] == [{"kind": "party", "scheme": "EORI", "value": EORI["value"]}]


# -- one node ---------------------------------------------------------------------------------


@pytest.fixture
def port(node: tuple[NodeServices, str], client: FlaskClient) -> Port:
    return Port(node[0], client, _token(node[0], "officer"))


def test_an_unresolved_radiation_alarm_means_physical_examination(port: Port) -> None:
    device_admin = _token(port.services, "device-admin")
    device = PrivateKey.generate()
    registered = port.client.post(
        "/devices",
        json={
            "name": "rpm-1",
            "device": device.public_key.did,
            "modalities": ["rpm", "xray"],
            "site": "NLRTM",
        },
        headers=device_admin,
    )
    assert registered.status_code == 201, registered.get_data()
    authorization = registered.get_json()["deviceAuthorization"]

    def bundle(**scan: Any) -> dict[str, Any]:
        submitted = port.client.post(
            "/scans", json=attestation(device, authorization, containers=tuple(CONTAINERS), **scan)
        )
        assert submitted.status_code == 201, submitted.get_data()
        body: dict[str, Any] = submitted.get_json()
        return body

    clear = bundle(modality="xray")
    record = port.decided({"declaration": declaration(), "attestations": [{"bundle": clear}]})
    # This node's own scans are recognised: a clear X-ray of every container lowers the score.
    assert "SCAN_CLEAR" in _codes(record)
    (scan,) = record["evidence"]["scans"]
    assert scan["verified"] and scan["deviceAuthorised"] and scan["recognised"]
    # A node no MRA names: its scans are not recognised here.
    snapshot, now = port.services.trust.current(), datetime.now(UTC)
    assert scans_recognised(snapshot, port.services.identity.did, now)
    assert not scans_recognised(snapshot, "did:web:customs.elsewhere.example", now)

    alarm = bundle(result="alarm")
    record = port.decided(
        {"declaration": declaration(), "attestations": [{"bundle": clear}, {"bundle": alarm}]}
    )
    assert record["decision"]["channel"] == "physical"
    assert "RADIATION_ALARM_UNRESOLVED" in _codes(record)
    # Garbage counts for nothing, with a note; it is not an error.
    record = port.decided({"declaration": declaration(), "attestations": [{"bundle": {"x": 1}}]})
    assert record["evidence"]["scans"] == []
    assert "counts for nothing" in record["verification"]["notes"][0]


# (id, body, status, problem code, a JSON Pointer the problem's errors must name)
MALFORMED: list[tuple[str, dict[str, Any], int, str, str | None]] = [
    (
        "container-check-digit",
        {"declaration": declaration(containers=["CSQU3054384"])},
        422,
        "SCHEMA_VALIDATION_ERROR",
        "/declaration/containers/0",
    ),
    (
        "missing-ucr",
        {"declaration": {k: v for k, v in declaration().items() if k != "ucr"}},
        422,
        "SCHEMA_VALIDATION_ERROR",
        "/declaration",
    ),
    (
        "unknown-goods-member",
        {"declaration": declaration(goodsItems=[{**declaration()["goodsItems"][0], "x": 1}])},
        422,
        "SCHEMA_VALIDATION_ERROR",
        "/declaration/goodsItems/0",
    ),
    (
        "bad-eori",
        {
            "declaration": declaration(
                exporter={
                    "name": "X",
                    "identifiers": [{"scheme": "EORI", "value": "de1"}],
                    "country": "DE",
                }
            )
        },
        422,
        "SCHEMA_VALIDATION_ERROR",
        "/declaration/exporter/identifiers/0/value",
    ),
    ("not-an-object", {"declaration": []}, 400, "INVALID_MEMBER", None),
    ("no-declaration", {}, 400, "MISSING_MEMBER", None),
    ("extra-member", {"declaration": declaration(), "extra": 1}, 400, "INVALID_MEMBER", None),
    (
        "null-presentation",
        {"declaration": declaration(), "presentation": None},
        400,
        "INVALID_MEMBER",
        None,
    ),
    (
        "bad-challenge",
        {
            "declaration": declaration(),
            "presentation": {"verifiablePresentation": {}, "options": {"challenge": "x"}},
        },
        400,
        "INVALID_OPTIONS",
        None,
    ),
    (
        "too-many-attestations",
        {"declaration": declaration(), "attestations": [{"bundle": {}}] * 17},
        400,
        "INVALID_MEMBER",
        None,
    ),
    (
        "min-witnesses",
        {
            "declaration": declaration(),
            "attestations": [{"bundle": {}, "options": {"minWitnesses": 17}}],
        },
        400,
        "INVALID_OPTIONS",
        None,
    ),
]


def test_malformed_requests_are_4xx_problems(port: Port) -> None:
    for name, body, status, code, path in MALFORMED:
        response = port.assess(body)
        assert response.status_code == status, (name, response.get_data())
        problem = response.get_json()
        assert response.mimetype == "application/problem+json", name
        assert problem["code"] == code, (name, problem)
        if path is not None:
            assert path in [e["path"] for e in problem["errors"]], (name, problem)
    # Nothing was stored.
    listed = port.client.get("/risk/decisions", headers=port.officer)
    assert listed.get_json() == {"decisions": [], "next": None}


def test_bodies_queries_and_ids_that_are_not_acceptable(port: Port) -> None:
    limit = port.services.settings.max_request_bytes
    huge = port.client.post(
        "/risk/assess",
        data=json.dumps({"declaration": declaration(), "pad": "x" * limit}),
        headers={**port.officer, "Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    assert_matches_openapi(huge, "post", "/risk/assess")
    not_json = port.client.post(
        "/risk/assess",
        data=b'{"declaration": {}, "declaration": {}}',
        headers={**port.officer, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400
    for query in ("limit=0", "limit=101", "limit=x", "cursor=abc", "declarationId=%20x"):
        response = port.client.get(f"/risk/decisions?{query}", headers=port.officer)
        assert response.status_code == 400, query
        assert_matches_openapi(response, "get", "/risk/decisions")
    for unknown in ("00000000-0000-4000-8000-000000000000", "nonsense"):
        response = port.client.get(f"/risk/decisions/{unknown}", headers=port.officer)
        assert response.status_code == 404
        assert response.get_json()["code"] == "NOT_FOUND"
        assert response.mimetype == "application/problem+json"


def test_low_scope_tokens_cannot_assess_read_or_edit(port: Port) -> None:
    record = port.decided({"declaration": declaration()})
    link = {"identifier": EORI, "linked": MID}
    for scope in ("issuer", "device-admin"):
        headers = _token(port.services, scope)
        assert port.assess({"declaration": declaration()}, headers).status_code == 403
        assert port.client.get("/risk/decisions", headers=headers).status_code == 403
        reading = port.client.get(f"/risk/decisions/{record['id']}", headers=headers)
        assert reading.status_code == 403
        assert port.client.post("/identifiers", json=link, headers=headers).status_code == 403
        assert port.client.get("/identifiers", headers=headers).status_code == 403
    # An auditor reads, but neither assesses nor edits; an officer does not edit the crosswalk.
    auditor = _token(port.services, "auditor")
    assert port.assess({"declaration": declaration()}, auditor).status_code == 403
    assert port.client.get("/risk/decisions", headers=auditor).status_code == 200
    assert port.client.post("/identifiers", json=link, headers=auditor).status_code == 403
    assert port.client.post("/identifiers", json=link, headers=port.officer).status_code == 403
    assert port.client.post("/risk/assess", json={"declaration": declaration()}).status_code == 401
    # Only one decision exists: the refused requests stored nothing.
    listed = port.client.get("/risk/decisions", headers=auditor).get_json()
    assert [d["id"] for d in listed["decisions"]] == [record["id"]]


def test_identifier_crosswalk_api(port: Port) -> None:
    admin = _token(port.services, "registry-admin")

    def post(body: Any) -> Any:
        response = port.client.post("/identifiers", json=body, headers=admin)
        assert_matches_openapi(response, "post", "/identifiers")
        return response

    first = post({"identifier": EORI, "linked": MID})
    assert first.status_code == 201
    assert first.get_json()["identifier"] == EORI and first.get_json()["note"] is None
    # The same link the other way round is the same link.
    again = post({"identifier": MID, "linked": EORI, "note": "again"})
    assert again.status_code == 409 and again.get_json()["code"] == "CONFLICT"
    ctpat = {"scheme": "CTPAT", "value": "CT12345678"}
    assert post({"identifier": MID, "linked": ctpat, "note": "C-TPAT account"}).status_code == 201
    for bad, code in (
        ({"identifier": EORI, "linked": EORI}, "INVALID_LINK"),
        ({"identifier": EORI, "linked": {"scheme": "EORI", "value": "de1"}}, None),
        ({"identifier": EORI, "linked": {"scheme": "NOPE", "value": "X1"}}, None),
        ({"identifier": EORI, "linked": MID, "note": "a\nb"}, "INVALID_NOTE"),
        ({"identifier": EORI}, "MISSING_MEMBER"),
        ({"identifier": EORI, "linked": MID, "other": 1}, "INVALID_MEMBER"),
    ):
        response = post(bad)
        assert response.status_code == 400, bad
        assert code is None or response.get_json()["code"] == code
    auditor = _token(port.services, "auditor")
    page = port.client.get("/identifiers?limit=1", headers=auditor)
    assert page.status_code == 200
    assert_matches_openapi(page, "get", "/identifiers")
    assert [link["linked"] for link in page.get_json()["links"]] == [MID]
    rest = port.client.get(f"/identifiers?cursor={page.get_json()['next']}", headers=auditor)
    # Each link is kept with its ends in sorted order.
    assert [link["identifier"] for link in rest.get_json()["links"]] == [ctpat]
    assert rest.get_json()["next"] is None


def test_the_embedded_declaration_schema_is_the_bundled_one() -> None:
    embedded = json.dumps(document()["components"]["schemas"]["Declaration"])
    embedded = embedded.replace("#/components/schemas/Declaration/$defs/", "#/$defs/")
    bundled = declaration_schema()
    del bundled["$schema"], bundled["$id"]
    assert json.loads(embedded) == bundled
