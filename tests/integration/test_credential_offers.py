"""Credential offers and delivery to a wallet (OpenID4VCI 1.0), on SQLite and PostgreSQL.

An issuer offers a trader (named by its register key, or by the id of its AEO credential)
its credential; the wallet (here: the test) redeems the pre-authorised code with the PIN,
takes a nonce and proves its key with a ``di_vp`` presentation; the node issues the AEO
credential to that did:key. Then the abuse: codes reused, expired, guessed PINs, nonces
reused or invented, proofs by another key or for another issuer, access tokens reused or
taken elsewhere, low-scope tokens, and two workers racing on one code.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from conftest import NodeFactory
from credentials.keys import PrivateKey
from credentials.oid4vci import PRE_AUTHORIZED_CODE_GRANT, sign_key_proof
from node.app import create_app
from node.services.offers import OAuthError, OfferService
from node.services.tokens import create_token
from node.storage import aeo_import_repo
from node.storage.aeo_import_repo import ImportKeyRecord
from node.storage.db import Database
from node.wiring import NodeServices
from nodehelpers import aeo_subject
from openapi_check import assert_matches_openapi

TRADER_KEY = "EORI:DE123456789012345"
ADMINISTRATION_DID = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"


@dataclasses.dataclass
class Issuer:
    """One node, its client, an admin's headers and a trader it knows."""

    services: NodeServices
    client: FlaskClient
    admin: dict[str, str]
    source: dict[str, Any]

    @property
    def issuer(self) -> str:
        return self.services.offers.issuer

    def offer(self, trader: str = TRADER_KEY) -> dict[str, Any]:
        response = self.client.post(
            "/credential-offers", json={"trader": trader}, headers=self.admin
        )
        assert response.status_code == 201, response.get_data()
        assert_matches_openapi(response, "post", "/credential-offers")
        body: dict[str, Any] = response.get_json()
        return body

    def token(
        self, offer: dict[str, Any], tx_code: str | None = None, client: FlaskClient | None = None
    ) -> tuple[int, dict[str, Any]]:
        grant = offer["credentialOffer"]["grants"][PRE_AUTHORIZED_CODE_GRANT]
        response = (client or self.client).post(
            "/token",
            data={
                "grant_type": PRE_AUTHORIZED_CODE_GRANT,
                "pre-authorized_code": grant["pre-authorized_code"],
                "tx_code": offer["txCode"] if tx_code is None else tx_code,
            },
        )
        assert_matches_openapi(response, "post", "/token")
        body: dict[str, Any] = response.get_json()
        return response.status_code, body

    def nonce(self) -> str:
        response = self.client.post("/nonce")
        assert response.status_code == 200
        assert_matches_openapi(response, "post", "/nonce")
        value: str = response.get_json()["c_nonce"]
        return value

    def credential(
        self,
        access_token: str,
        proof: dict[str, Any],
        client: FlaskClient | None = None,
        **extra: Any,
    ) -> tuple[int, dict[str, Any]]:
        request = {"credential_configuration_id": "AEOCertificate", "proofs": {"di_vp": [proof]}}
        request.update(extra)
        response = (client or self.client).post(
            "/credential", json=request, headers={"Authorization": f"Bearer {access_token}"}
        )
        assert_matches_openapi(response, "post", "/credential")
        body: dict[str, Any] = response.get_json()
        return response.status_code, body

    def proof(
        self, holder: PrivateKey, nonce: str | None = None, issuer: str | None = None
    ) -> dict[str, Any]:
        return sign_key_proof(
            holder,
            nonce=nonce or self.nonce(),
            issuer=issuer or self.issuer,
            created=datetime.now(UTC),
        )


def _make_issuer(services: NodeServices, admin_token: str) -> Issuer:
    client = create_app(services, testing=True).test_client()
    admin = {"Authorization": f"Bearer {admin_token}"}
    issued = client.post(
        "/aeo-credentials",
        json={"credentialSubject": aeo_subject(ADMINISTRATION_DID)},
        headers=admin,
    )
    assert issued.status_code == 201, issued.get_data()
    source = issued.get_json()["verifiableCredential"]
    # As `trustlane aeo import` records the register key of what it issued.
    with services.db.write() as conn:
        aeo_import_repo.insert_keys(
            conn,
            [ImportKeyRecord(TRADER_KEY, source["id"], "fingerprint", datetime.now(UTC))],
        )
    return Issuer(services, client, admin, source)


@pytest.fixture
def eu(node: tuple[NodeServices, str]) -> Issuer:
    return _make_issuer(*node)


def _receive(eu: Issuer, holder: PrivateKey, trader: str = TRADER_KEY) -> dict[str, Any]:
    status, token = eu.token(eu.offer(trader))
    assert status == 200, token
    status, body = eu.credential(token["access_token"], eu.proof(holder))
    assert status == 200, body
    credential: dict[str, Any] = body["credentials"][0]["credential"]
    return credential


# -- the flow ---------------------------------------------------------------------------------


def test_metadata_names_the_endpoints(eu: Issuer) -> None:
    response = eu.client.get("/.well-known/openid-credential-issuer")
    assert response.status_code == 200
    assert_matches_openapi(response, "get", "/.well-known/openid-credential-issuer")
    metadata = response.get_json()
    assert metadata["credential_issuer"] == eu.issuer
    assert metadata["credential_endpoint"] == eu.issuer + "/credential"
    assert metadata["nonce_endpoint"] == eu.issuer + "/nonce"
    config = metadata["credential_configurations_supported"]["AEOCertificate"]
    assert "di_vp" in config["proof_types_supported"]
    response = eu.client.get("/.well-known/oauth-authorization-server")
    assert_matches_openapi(response, "get", "/.well-known/oauth-authorization-server")
    assert response.get_json()["token_endpoint"] == eu.issuer + "/token"


@pytest.mark.parametrize("by", ["register-key", "credential-id"])
def test_offer_token_nonce_credential_issues_to_the_holder(eu: Issuer, by: str) -> None:
    holder = PrivateKey.generate()
    trader = TRADER_KEY if by == "register-key" else eu.source["id"]
    offer = eu.offer(trader)
    assert offer["credentialOffer"]["credential_issuer"] == eu.issuer
    assert offer["credentialOffer"]["credential_configuration_ids"] == ["AEOCertificate"]
    assert offer["sourceCredential"] == eu.source["id"]
    assert offer["credentialOfferUrl"].startswith("openid-credential-offer://?credential_offer=")
    status, token = eu.token(offer)
    assert status == 200, token
    assert token["token_type"] == "Bearer"  # noqa: S105 - the OAuth token type
    assert 0 < token["expires_in"] <= 300
    status, body = eu.credential(token["access_token"], eu.proof(holder))
    assert status == 200, body
    vc = body["credentials"][0]["credential"]
    subject = vc["credentialSubject"]
    assert subject["id"] == holder.public_key.did
    expected = {k: v for k, v in eu.source["credentialSubject"].items() if k != "id"}
    assert {k: v for k, v in subject.items() if k != "id"} == expected
    assert vc["validUntil"] == eu.source["validUntil"]
    assert len(vc["credentialStatus"]) == 2  # revocation and suspension, as any AEO credential
    verified = eu.client.post(
        "/credentials/verify", json={"verifiableCredential": vc}, headers=eu.admin
    )
    assert verified.status_code == 200, verified.get_json()
    assert verified.get_json()["verified"] is True
    stored = eu.client.get(f"/credentials/{vc['id']}", headers=eu.admin)
    assert stored.status_code == 200


# -- the code -------------------------------------------------------------------------------


def test_a_code_works_once(eu: Issuer) -> None:
    offer = eu.offer()
    assert eu.token(offer)[0] == 200
    status, body = eu.token(offer)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "already used" in body["error_description"]


def test_an_expired_code_is_refused(eu: Issuer) -> None:
    offer = eu.offer()
    later = dataclasses.replace(
        eu.services, clock=lambda: datetime.now(UTC) + timedelta(minutes=11)
    )
    client = create_app(later, testing=True).test_client()
    status, body = eu.token(offer, client=client)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "expired" in body["error_description"]


def test_three_wrong_pins_kill_the_code(eu: Issuer) -> None:
    offer = eu.offer()
    wrong = f"{(int(offer['txCode']) + 1) % 10**6:06d}"
    for left in ("2 attempt(s) left", "1 attempt(s) left", "now dead"):
        status, body = eu.token(offer, wrong)
        assert (status, body["error"]) == (400, "invalid_grant")
        assert left in body["error_description"]
    status, body = eu.token(offer)  # the right PIN, too late
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "dead" in body["error_description"]


def test_two_wrong_pins_then_the_right_one_works(eu: Issuer) -> None:
    offer = eu.offer()
    for _ in range(2):
        assert eu.token(offer, "000000" if offer["txCode"] != "000000" else "111111")[0] == 400
    status, body = eu.token(offer)
    assert status == 200, body


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"pre-authorized_code": "x", "tx_code": "1"}, "invalid_request"),
        (
            {"grant_type": "authorization_code", "pre-authorized_code": "x", "tx_code": "1"},
            "unsupported_grant_type",
        ),
        ({"grant_type": PRE_AUTHORIZED_CODE_GRANT, "tx_code": "1"}, "invalid_request"),
        (
            {"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": "x", "tx_code": "1"},
            "invalid_grant",
        ),
    ],
    ids=["no-grant-type", "other-grant", "no-code", "unknown-code"],
)
def test_bad_token_requests_get_oauth_errors(eu: Issuer, data: dict[str, str], error: str) -> None:
    response = eu.client.post("/token", data=data)
    assert response.status_code == 400
    assert response.get_json()["error"] == error
    assert_matches_openapi(response, "post", "/token")
    json_body = eu.client.post("/token", json=data)
    assert json_body.get_json()["error"] == "invalid_request"


def _race(workers: list[OfferService], code: str, pin: str) -> list[str]:
    """Each worker redeems ``code`` in its own thread, all at once; what each got."""
    outcomes: list[str] = []
    barrier = threading.Barrier(len(workers))

    def redeem(worker: OfferService) -> None:
        barrier.wait(timeout=10)
        try:
            worker.exchange(code, pin, now=datetime.now(UTC))
            outcomes.append("won")
        except OAuthError as e:
            outcomes.append(e.error)

    threads = [threading.Thread(target=redeem, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_two_workers_racing_on_one_code_let_exactly_one_win(
    node: tuple[NodeServices, str], eu: Issuer
) -> None:
    services = node[0]
    databases = [Database(services.settings.database_url) for _ in range(2)]
    workers = [
        OfferService(db=db, issuance=services.issuance, issuer=services.offers.issuer)
        for db in databases
    ]
    try:
        for _ in range(10):
            offer = eu.offer()
            code = offer["credentialOffer"]["grants"][PRE_AUTHORIZED_CODE_GRANT][
                "pre-authorized_code"
            ]
            outcomes = _race(workers, code, offer["txCode"])
            assert sorted(outcomes) == ["invalid_grant", "won"], outcomes
    finally:
        for db in databases:
            db.dispose()


# -- nonce, proof, access token ------------------------------------------------------------


def test_a_nonce_works_once(eu: Issuer) -> None:
    nonce = eu.nonce()
    first = eu.token(eu.offer())[1]["access_token"]
    assert eu.credential(first, eu.proof(PrivateKey.generate(), nonce))[0] == 200
    second = eu.token(eu.offer())[1]["access_token"]
    status, body = eu.credential(second, eu.proof(PrivateKey.generate(), nonce))
    assert (status, body["error"]) == (400, "invalid_nonce")
    # The refusal spent nothing: with a fresh nonce the same token still works.
    assert eu.credential(second, eu.proof(PrivateKey.generate()))[0] == 200


def _other_key(eu: Issuer, holder: PrivateKey) -> dict[str, Any]:
    proof = eu.proof(PrivateKey.generate())
    proof["holder"] = holder.public_key.did  # claims the holder, signed by someone else
    return proof


def _tampered(eu: Issuer, holder: PrivateKey) -> dict[str, Any]:
    proof = copy.deepcopy(eu.proof(holder))
    proof["proof"]["challenge"] = eu.nonce()  # another (valid) nonce than the one signed
    return proof


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (_other_key, "invalid_proof"),
        (_tampered, "invalid_proof"),
        (lambda eu, h: eu.proof(h, nonce="A" * 43), "invalid_nonce"),
        (lambda eu, h: eu.proof(h, issuer="https://us.customs.example"), "invalid_proof"),
        (
            lambda eu, h: {**eu.proof(h), "verifiableCredential": [eu.source]},
            "invalid_proof",
        ),
    ],
    ids=["another-key", "tampered", "invented-nonce", "wrong-domain", "holds-credentials"],
)
def test_bad_key_proofs_are_refused_and_spend_nothing(eu: Issuer, make: Any, error: str) -> None:
    holder = PrivateKey.generate()
    token = eu.token(eu.offer())[1]["access_token"]
    status, body = eu.credential(token, make(eu, holder))
    assert (status, body["error"]) == (400, error), body
    assert eu.credential(token, eu.proof(holder))[0] == 200


@pytest.mark.parametrize(
    ("request_body", "error"),
    [
        ({"credential_configuration_id": "Other"}, "unknown_credential_configuration"),
        ({"proofs": {"jwt": ["x"]}}, "invalid_credential_request"),
        ({"proofs": {"di_vp": []}}, "invalid_credential_request"),
    ],
    ids=["configuration", "jwt-proof", "no-proof"],
)
def test_bad_credential_requests_are_refused(
    eu: Issuer, request_body: dict[str, Any], error: str
) -> None:
    token = eu.token(eu.offer())[1]["access_token"]
    status, body = eu.credential(token, eu.proof(PrivateKey.generate()), **request_body)
    assert (status, body["error"]) == (400, error)


def test_an_access_token_is_good_for_one_credential_only(eu: Issuer) -> None:
    holder = PrivateKey.generate()
    token = eu.token(eu.offer())[1]["access_token"]
    assert eu.credential(token, eu.proof(holder))[0] == 200
    status, body = eu.credential(token, eu.proof(holder))
    assert (status, body["error"]) == (401, "invalid_token")


def test_an_access_token_is_no_good_elsewhere(
    eu: Issuer, make_node: NodeFactory, tmp_path: Path
) -> None:
    token = eu.token(eu.offer())[1]["access_token"]
    # Not a node API token...
    response = eu.client.post(
        "/credential-offers",
        json={"trader": TRADER_KEY},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    # ...and not an access token at another node's credential endpoint.
    other_db = f"sqlite:///{tmp_path / 'other-node.db'}"
    other = _make_issuer(*make_node("US customs", "http://127.0.0.1:18444", db_url=other_db))
    status, body = other.credential(token, other.proof(PrivateKey.generate()))
    assert (status, body["error"]) == (401, "invalid_token")
    assert eu.credential("", eu.proof(PrivateKey.generate()))[0] == 401


def test_missing_access_token_is_a_bearer_challenge(eu: Issuer) -> None:
    response = eu.client.post("/credential", json={})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert response.get_json()["error"] == "invalid_token"


# -- the issuer side ------------------------------------------------------------------------


def test_a_low_scope_token_cannot_create_offers(eu: Issuer) -> None:
    for scope in ("officer", "auditor", "registry-admin", "device-admin"):
        _, token = create_token(
            eu.services.db,
            name=f"only {scope}",
            scopes=frozenset({scope}),
            now=datetime.now(UTC),
            actor="test",
        )
        response = eu.client.post(
            "/credential-offers",
            json={"trader": TRADER_KEY},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 403, scope
    _, issuer_token = create_token(
        eu.services.db,
        name="issuer",
        scopes=frozenset({"issuer"}),
        now=datetime.now(UTC),
        actor="t",
    )
    response = eu.client.post(
        "/credential-offers",
        json={"trader": TRADER_KEY},
        headers={"Authorization": f"Bearer {issuer_token}"},
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("trader", "status", "code"),
    [
        ("EORI:FR000000000000001", 404, "UNKNOWN_TRADER"),
        ("urn:uuid:00000000-0000-4000-8000-000000000000", 404, "UNKNOWN_TRADER"),
        ("EORI DE1", 400, "INVALID_TRADER"),
    ],
    ids=["unknown-key", "unknown-credential", "space"],
)
def test_offers_only_for_known_traders(eu: Issuer, trader: str, status: int, code: str) -> None:
    response = eu.client.post("/credential-offers", json={"trader": trader}, headers=eu.admin)
    assert (response.status_code, response.get_json()["code"]) == (status, code)
    assert_matches_openapi(response, "post", "/credential-offers")


def test_no_offer_and_no_credential_for_a_suspended_trader(eu: Issuer) -> None:
    offer = eu.offer()
    token = eu.token(offer)[1]["access_token"]
    suspended = eu.client.post(
        "/credentials/status",
        json={
            "credentialId": eu.source["id"],
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "suspension"},
            "status": True,
        },
        headers=eu.admin,
    )
    assert suspended.status_code == 200, suspended.get_json()
    response = eu.client.post("/credential-offers", json={"trader": TRADER_KEY}, headers=eu.admin)
    assert (response.status_code, response.get_json()["code"]) == (409, "TRADER_NOT_ELIGIBLE")
    assert_matches_openapi(response, "post", "/credential-offers")
    status, body = eu.credential(token, eu.proof(PrivateKey.generate()))
    assert (status, body["error"]) == (400, "credential_request_denied")
