"""Presentations at a port through the API, on SQLite and PostgreSQL.

A node issues an AEO credential to a trader's did:key; an officer asks for a challenge for a
consignment at the port; the trader's wallet (here: the test) signs a presentation for it;
the officer verifies it. Then the abuse: a replay, the presentation for another consignment,
an expired challenge, a tampered or copied presentation, malformed requests; and two
workers racing on one challenge, 50 times: exactly one wins each time.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask.testing import FlaskClient

from conftest import NodeFactory
from credentials.keys import PrivateKey
from credentials.model import VC_V2_CONTEXT
from credentials.signing import sign_presentation
from node.app import create_app
from node.services.challenges import ChallengeService
from node.services.tokens import create_token
from node.storage.db import Database
from node.storage.health_repo import head_revisions
from node.storage.schema import metadata
from node.wiring import NodeServices
from nodehelpers import aeo_subject
from openapi_check import assert_matches_openapi
from registry.challenges import Redemption

CONSIGNMENT_A = "6GB123456789000-12345"
CONSIGNMENT_B = "6GB123456789000-67890"
PORT = "DEHAM"


@dataclasses.dataclass
class Port:
    """One node, its test client, an officer's headers and a trader with a credential."""

    services: NodeServices
    client: FlaskClient
    officer: dict[str, str]
    admin: dict[str, str]
    holder: PrivateKey
    credential: dict[str, Any]

    def challenge(self, consignment: str = CONSIGNMENT_A, port: str = PORT) -> dict[str, Any]:
        response = self.client.post(
            "/challenges", json={"consignment": consignment, "port": port}, headers=self.officer
        )
        assert response.status_code == 201, response.get_data()
        assert_matches_openapi(response, "post", "/challenges")
        body: dict[str, Any] = response.get_json()
        return body

    def presentation(
        self,
        issued: dict[str, Any],
        *,
        key: PrivateKey | None = None,
        credentials: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        key = key or self.holder
        return sign_presentation(
            {
                "@context": [VC_V2_CONTEXT],
                "type": ["VerifiablePresentation"],
                "holder": key.public_key.did,
                "verifiableCredential": credentials or [self.credential],
            },
            key,
            challenge=issued["challenge"],
            domain=issued["domain"],
            created=datetime.now(UTC),
        )

    def verify(
        self,
        vp: dict[str, Any],
        issued: dict[str, Any],
        *,
        consignment: str | None = None,
        client: FlaskClient | None = None,
        **options: Any,
    ) -> tuple[int, dict[str, Any]]:
        request = {
            "verifiablePresentation": vp,
            "options": {
                "challenge": issued["challenge"],
                "consignment": consignment or issued["consignment"],
                "port": issued["port"],
                **options,
            },
        }
        response = (client or self.client).post(
            "/presentations/verify", json=request, headers=self.officer
        )
        assert_matches_openapi(response, "post", "/presentations/verify")
        body: dict[str, Any] = response.get_json()
        return response.status_code, body


@pytest.fixture
def port(node: tuple[NodeServices, str], client: FlaskClient) -> Port:
    services, admin_token = node
    admin = {"Authorization": f"Bearer {admin_token}"}
    _, officer_token = create_token(
        services.db,
        name="port of Hamburg officers",
        scopes=frozenset({"officer"}),
        now=datetime.now(UTC),
        actor="test",
    )
    holder = PrivateKey.generate()
    issued = client.post(
        "/aeo-credentials",
        json={"credentialSubject": aeo_subject(holder.public_key.did)},
        headers=admin,
    )
    assert issued.status_code == 201, issued.get_data()
    return Port(
        services=services,
        client=client,
        officer={"Authorization": f"Bearer {officer_token}"},
        admin=admin,
        holder=holder,
        credential=issued.get_json()["verifiableCredential"],
    )


def _codes(body: dict[str, Any]) -> dict[str, str | None]:
    return {c["name"]: c.get("code") for c in body["presentationResult"]["checks"]}


def test_a_presentation_verifies_once(port: Port) -> None:
    issued = port.challenge()
    assert issued["consignment"] == CONSIGNMENT_A and issued["port"] == PORT
    assert issued["domain"] == port.services.settings.base_url
    assert len(issued["challenge"]) == 43  # 256 random bits, base64url
    expires = datetime.fromisoformat(issued["expires"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)

    vp = port.presentation(issued)
    status, body = port.verify(vp, issued)
    assert status == 200, body
    assert body["verified"] is True and body["errors"] == []
    assert body["holder"] == port.holder.public_key.did
    assert (body["consignment"], body["port"]) == (CONSIGNMENT_A, PORT)
    assert [c["name"] for c in body["presentationResult"]["checks"]] == [
        "data_model",
        "proof",
        "holder",
        "challenge",
    ]
    (credential,) = body["credentialResults"]
    assert credential["verified"] is True
    assert [c["name"] for c in credential["checks"]][-2:] == ["status", "holder"]
    # This node's own credential: verified, but recognition (and benefits) are for partners.
    assert body["benefits"] == [] and credential["benefits"] == []

    # The same presentation again: a replay.
    status, body = port.verify(vp, issued)
    assert status == 422
    assert _codes(body)["challenge"] == "CHALLENGE_USED"
    assert body["benefits"] == []
    assert {"code": "CHALLENGE_USED", "check": "challenge"}.items() <= body["errors"][0].items()
    assert "replay" in body["errors"][0]["message"]


def test_a_presentation_for_another_consignment_is_refused(port: Port) -> None:
    issued = port.challenge(CONSIGNMENT_A)
    vp = port.presentation(issued)
    status, body = port.verify(vp, issued, consignment=CONSIGNMENT_B)
    assert status == 422
    assert _codes(body)["challenge"] == "CHALLENGE_MISMATCH"
    assert CONSIGNMENT_A in body["errors"][0]["message"]
    assert CONSIGNMENT_B in body["errors"][0]["message"]
    # The mismatch spent nothing: for the consignment it was issued for, it still counts.
    status, body = port.verify(vp, issued)
    assert status == 200, body
    # A challenge issued at another port does not count here either.
    elsewhere = port.challenge(CONSIGNMENT_A, "NLRTM")
    status, body = port.verify(port.presentation(elsewhere), elsewhere, port=PORT)
    assert status == 422 and _codes(body)["challenge"] == "CHALLENGE_MISMATCH"


def test_an_expired_challenge_is_refused(port: Port) -> None:
    issued = port.challenge()
    vp = port.presentation(issued)
    later = dataclasses.replace(
        port.services, clock=lambda: datetime.now(UTC) + timedelta(minutes=11)
    )
    status, body = port.verify(vp, issued, client=create_app(later, testing=True).test_client())
    assert status == 422
    assert _codes(body)["challenge"] == "CHALLENGE_EXPIRED"
    assert "request a new challenge" in body["errors"][0]["message"]


def test_a_failed_presentation_leaves_the_challenge_usable(port: Port) -> None:
    issued = port.challenge()
    vp = port.presentation(issued)
    tampered = copy.deepcopy(vp)
    tampered["verifiableCredential"][0]["credentialSubject"]["level"] = "AEOC"
    status, body = port.verify(tampered, issued)
    assert status == 422
    codes = _codes(body)
    assert codes["proof"] == "PROOF_VERIFICATION_ERROR"
    assert codes["holder"] == "NOT_RUN" and codes["challenge"] == "NOT_RUN"
    assert "changed after it was signed" in body["errors"][0]["message"]
    # Someone else's key over the trader's credential: a copied credential.
    thief = PrivateKey.generate()
    status, body = port.verify(port.presentation(issued, key=thief), issued)
    assert status == 422
    assert _codes(body)["holder"] == "HOLDER_MISMATCH"
    assert body["credentialResults"][0]["checks"][-1]["code"] == "HOLDER_MISMATCH"
    assert "copied" in body["credentialResults"][0]["checks"][-1]["detail"]
    # Neither spent the challenge: the trader's own presentation still counts.
    status, body = port.verify(vp, issued)
    assert status == 200, body


def test_a_presentation_for_another_challenge_or_verifier_is_refused(port: Port) -> None:
    first, second = port.challenge(), port.challenge()
    vp = port.presentation(first)
    status, body = port.verify(vp, second)
    assert status == 422
    assert _codes(body)["proof"] == "INVALID_CHALLENGE"
    other_verifier = dict(first, domain="https://jp.customs.example")
    status, body = port.verify(port.presentation(other_verifier), first)
    assert status == 422
    assert _codes(body)["proof"] == "INVALID_DOMAIN"
    unknown = dict(first, challenge="A" * 43)
    status, body = port.verify(port.presentation(unknown), unknown)
    assert status == 422
    assert _codes(body)["challenge"] == "CHALLENGE_UNKNOWN"
    status, body = port.verify({"type": "VerifiablePresentation"}, first)
    assert status == 422
    assert [c["name"] for c in body["presentationResult"]["checks"]] == [
        "data_model",
        "challenge",
    ]
    assert body["credentialResults"] == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda o: o.pop("options"), "MISSING_MEMBER"),
        (lambda o: o["options"].pop("challenge"), "MISSING_MEMBER"),
        (lambda o: o["options"].update(consignment="6gb123"), "INVALID_CONSIGNMENT"),
        (lambda o: o["options"].update(consignment="6GB" + "1" * 33), "INVALID_CONSIGNMENT"),
        (lambda o: o["options"].update(port="DEHAMB"), "INVALID_PORT"),
        (lambda o: o["options"].update(challenge="short"), "INVALID_OPTIONS"),
        (lambda o: o["options"].update(domain="https://other.example"), "INVALID_OPTIONS"),
        (lambda o: o.update(verifiablePresentation=[]), "INVALID_MEMBER"),
    ],
    ids=[
        "no-options",
        "no-challenge",
        "lower-case-ucr",
        "ucr-too-long",
        "bad-port",
        "bad-challenge",
        "other-domain",
        "vp-not-object",
    ],
)
def test_malformed_requests_are_400(
    port: Port, change: Callable[[dict[str, Any]], object], code: str
) -> None:
    issued = port.challenge()
    request: dict[str, Any] = {
        "verifiablePresentation": port.presentation(issued),
        "options": {"challenge": issued["challenge"], "consignment": CONSIGNMENT_A, "port": PORT},
    }
    change(request)
    response = port.client.post("/presentations/verify", json=request, headers=port.officer)
    assert response.status_code == 400, response.get_data()
    assert response.get_json()["code"] == code
    assert_matches_openapi(response, "post", "/presentations/verify")
    # Nothing was spent.
    status, _ = port.verify(port.presentation(issued), issued)
    assert status == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"consignment": "ABC", "port": PORT}, "INVALID_CONSIGNMENT"),
        ({"consignment": CONSIGNMENT_A, "port": "deham"}, "INVALID_PORT"),
        ({"consignment": CONSIGNMENT_A}, "MISSING_MEMBER"),
        ({"consignment": 6, "port": PORT}, "INVALID_MEMBER"),
    ],
)
def test_malformed_challenge_requests_are_400(port: Port, body: Any, code: str) -> None:
    response = port.client.post("/challenges", json=body, headers=port.officer)
    assert response.status_code == 400
    assert response.get_json()["code"] == code
    assert_matches_openapi(response, "post", "/challenges")


def test_only_officers_use_presentations(port: Port) -> None:
    _, issuer_token = create_token(
        port.services.db,
        name="issuing desk",
        scopes=frozenset({"issuer"}),
        now=datetime.now(UTC),
        actor="test",
    )
    issuer = {"Authorization": f"Bearer {issuer_token}"}
    body = {"consignment": CONSIGNMENT_A, "port": PORT}
    response = port.client.post("/challenges", json=body, headers=issuer)
    assert response.status_code == 403
    assert_matches_openapi(response, "post", "/challenges")
    response = port.client.post("/challenges", json=body)
    assert response.status_code == 401
    assert port.client.post("/challenges", json=body, headers=port.admin).status_code == 201
    response = port.client.post("/presentations/verify", json={}, headers=issuer)
    assert response.status_code == 403
    assert_matches_openapi(response, "post", "/presentations/verify")


def test_challenge_lifetime_is_configurable(make_node: NodeFactory) -> None:
    services, token = make_node(challenge_ttl_seconds=90)
    client = create_app(services, testing=True).test_client()
    response = client.post(
        "/challenges",
        json={"consignment": CONSIGNMENT_A, "port": PORT},
        headers={"Authorization": f"Bearer {token}"},
    )
    expires = datetime.fromisoformat(response.get_json()["expires"])
    assert timedelta(seconds=80) < expires - datetime.now(UTC) <= timedelta(seconds=90)


def test_challenges_never_begin_with_a_dash(port: Port, monkeypatch: pytest.MonkeyPatch) -> None:
    """A challenge goes after ``--challenge`` on a trader's command line: one beginning with
    '-' would be read as an option, so the node draws again (one draw in 64)."""
    draws = iter(["-" + "A" * 42, "-" + "B" * 42, "C" * 43])
    monkeypatch.setattr("node.services.challenges.secrets.token_urlsafe", lambda n: next(draws))
    body = {"consignment": CONSIGNMENT_A, "port": PORT}
    response = port.client.post("/challenges", json=body, headers=port.admin)
    assert response.status_code == 201
    assert response.get_json()["challenge"] == "C" * 43
    monkeypatch.setattr("node.services.challenges.secrets.token_urlsafe", lambda n: "-" * 43)
    with pytest.raises(RuntimeError, match="beginning with '-'"):
        port.services.challenges.issue(CONSIGNMENT_A, PORT, now=datetime.now(UTC), actor="t")


def _race(workers: list[ChallengeService], value: str) -> list[Redemption]:
    """Every worker redeems ``value`` at the same moment (threads released by a barrier)."""
    barrier = threading.Barrier(len(workers))
    outcomes: list[Redemption] = []
    errors: list[BaseException] = []

    def redeem(worker: ChallengeService) -> None:
        try:
            barrier.wait(timeout=10)
            state, _ = worker.redeem(
                value, consignment=CONSIGNMENT_A, port=PORT, now=datetime.now(UTC)
            )
            outcomes.append(state)
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=redeem, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return outcomes


def test_two_workers_racing_on_one_challenge_let_exactly_one_win(
    node: tuple[NodeServices, str],
) -> None:
    services = node[0]
    # Two engines on one database, each redeeming in its own thread: as two workers (or two
    # replicas) would.
    databases = [Database(services.settings.database_url) for _ in range(2)]
    workers = [ChallengeService(db=db, domain=services.challenges.domain) for db in databases]
    try:
        for _ in range(50):
            issued = workers[0].issue(CONSIGNMENT_A, PORT, now=datetime.now(UTC), actor="test")
            outcomes = _race(workers, issued.value)
            assert sorted(o.value for o in outcomes) == ["redeemed", "used"], outcomes
    finally:
        for db in databases:
            db.dispose()


def test_migrations_match_the_schema_module(node: tuple[NodeServices, str]) -> None:
    with node[0].db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        # One head (no branch), and the database is at it.
        assert {context.get_current_revision()} == head_revisions()
        diffs = compare_metadata(context, metadata)
    assert diffs == []
