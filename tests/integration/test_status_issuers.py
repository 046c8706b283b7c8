"""Status lists per issuer identity and caller-supplied credentialStatus (issue 13).

A status list must have the issuer of the credentials that use it: a credential the node
signs as its did:key points at lists that did:key issues. Generic issuance accepts
well-formed caller entries on lists the caller runs, refuses malformed ones with
``MALFORMED_VALUE``, and AEO credentials keep only the node's own entries. SQLite and
PostgreSQL (the ``client`` fixture runs on both).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from credentials.aeo import AEO_SUBJECT_TYPE
from credentials.signing import sign_credential
from credentials.strict_json import loads_object
from node.services.reissue import reissue_signed_by
from node.wiring import NodeServices
from nodehelpers import aeo_subject
from openapi_check import assert_matches_openapi

V2 = "https://www.w3.org/ns/credentials/v2"
BASE = "http://127.0.0.1:18443"
EXTERNAL = "https://status.example.org/lists/7"


def _credential(issuer: str, **extra: Any) -> dict[str, Any]:
    return {
        "@context": [V2],
        "type": ["VerifiableCredential"],
        "issuer": issuer,
        "credentialSubject": {"id": "did:example:holder", "name": "Test"},
        **extra,
    }


def _issue(
    client: FlaskClient, headers: dict[str, str], credential: dict[str, Any], **options: Any
) -> Any:
    return client.post(
        "/credentials/issue", json={"credential": credential, "options": options}, headers=headers
    )


def _verify(client: FlaskClient, headers: dict[str, str], vc: dict[str, Any]) -> Any:
    return client.post("/credentials/verify", json={"verifiableCredential": vc}, headers=headers)


def _list(client: FlaskClient, url: str) -> dict[str, Any]:
    response = client.get(url.removeprefix(BASE))
    assert response.status_code == 200
    return loads_object(response.data)


def _entries(vc: dict[str, Any]) -> list[dict[str, Any]]:
    raw = vc["credentialStatus"]
    return raw if isinstance(raw, list) else [raw]


def _did_key(node: tuple[NodeServices, str]) -> str:
    return node[0].identity.current().key.public_key.did


BOTH = {"type": "BitstringStatusListEntry"}


def test_did_key_credential_points_at_lists_its_did_key_issues(
    client: FlaskClient, admin_headers: dict[str, str], node: tuple[NodeServices, str]
) -> None:
    did_key = _did_key(node)
    response = _issue(client, admin_headers, _credential(did_key), credentialStatus=BOTH)
    assert response.status_code == 201, response.get_json()
    vc = response.get_json()["verifiableCredential"]
    for entry in _entries(vc):
        assert "-key-1-" in entry["statusListCredential"]
        served = client.get(entry["statusListCredential"].removeprefix(BASE))
        assert_matches_openapi(served, "get", "/status-lists/{listId}")
        status_list = _list(client, entry["statusListCredential"])
        assert status_list["issuer"] == did_key
        assert status_list["proof"]["verificationMethod"].startswith(did_key + "#")
    assert _verify(client, admin_headers, vc).get_json()["verified"] is True
    revoked = client.post(
        "/credentials/status",
        json={
            "credentialId": vc["id"],
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
            "status": True,
        },
        headers=admin_headers,
    )
    assert revoked.status_code == 200
    again = _verify(client, admin_headers, vc).get_json()
    assert again["verified"] is False and again["errors"][0]["code"] == "REVOKED"
    # Partners fetch only did:web lists: the index still lists every list, and the did:key
    # ones are served like the others.
    index = client.get("/status-lists").get_json()["statusLists"]
    assert {e["statusListCredential"] for e in _entries(vc)} <= set(index)


def test_did_web_credential_keeps_the_did_web_lists(
    client: FlaskClient, admin_headers: dict[str, str], node: tuple[NodeServices, str]
) -> None:
    did_web = node[0].identity.did
    response = _issue(client, admin_headers, _credential(did_web), credentialStatus=BOTH)
    assert response.status_code == 201
    vc = response.get_json()["verifiableCredential"]
    for entry in _entries(vc):
        assert entry["statusListCredential"].rsplit("/", 1)[1] in {
            "revocation-1",
            "suspensionreason-1",  # 2-bit suspension entries (with a reason code)
        }
        assert _list(client, entry["statusListCredential"])["issuer"] == did_web
    assert _verify(client, admin_headers, vc).get_json()["verified"] is True


def _signed_by_node(
    node: tuple[NodeServices, str], issuer_is_did_key: bool, entry: dict[str, Any]
) -> dict[str, Any]:
    signer = node[0].identity.current()
    issuer = signer.key.public_key.did if issuer_is_did_key else node[0].identity.did
    vm = signer.did_key_vm if issuer_is_did_key else signer.did_web_vm
    doc = _credential(issuer, id="urn:uuid:3f1c9a52-5d1e-4b8e-9a54-0c7b1f2e6d11")
    doc["credentialStatus"] = entry
    return sign_credential(doc, signer.key, verification_method=vm, created=datetime.now(UTC))


def test_a_status_list_of_another_issuer_fails(
    client: FlaskClient, admin_headers: dict[str, str], node: tuple[NodeServices, str]
) -> None:
    # A did:key list exists once a did:key credential was issued; a credential signed as the
    # did:web that points at it names a list of another issuer.
    issued = _issue(client, admin_headers, _credential(_did_key(node)), credentialStatus=BOTH)
    entry = copy.deepcopy(_entries(issued.get_json()["verifiableCredential"])[0])
    forged = _signed_by_node(node, issuer_is_did_key=False, entry=entry)
    body = _verify(client, admin_headers, forged).get_json()
    assert body["verified"] is False
    status = next(c for c in body["checks"] if c["name"] == "status")
    assert (status["status"], status["code"]) == ("fail", "STATUS_ISSUER_MISMATCH")


def test_legacy_did_key_credential_on_a_did_web_list_still_verifies_here(
    client: FlaskClient, admin_headers: dict[str, str], node: tuple[NodeServices, str]
) -> None:
    # What the node issued before issue 13: a did:key credential on the did:web's list.
    issued = _issue(client, admin_headers, _credential(node[0].identity.did), credentialStatus=BOTH)
    entry = _entries(issued.get_json()["verifiableCredential"])[0]
    legacy = _signed_by_node(node, issuer_is_did_key=True, entry=copy.deepcopy(entry))
    body = _verify(client, admin_headers, legacy).get_json()
    status = next(c for c in body["checks"] if c["name"] == "status")
    assert status["status"] == "pass", status


# -- caller-supplied credentialStatus ----------------------------------------------------

GOOD_ENTRY = {
    "id": EXTERNAL + "#94567",
    "type": "BitstringStatusListEntry",
    "statusPurpose": "revocation",
    "statusListIndex": "94567",
    "statusListCredential": EXTERNAL,
}
MESSAGE_ENTRY = {
    "type": "BitstringStatusListEntry",
    "statusPurpose": "message",
    "statusListIndex": "12",
    "statusSize": 2,
    "statusListCredential": EXTERNAL,
    "statusMessage": [
        {"status": "0x0", "message": "pending"},
        {"status": "0x1", "message": "accepted"},
        {"status": "0x2", "message": "rejected"},
        {"status": "0x3", "message": "withdrawn"},
    ],
    "statusReference": "https://status.example.org/dictionary",
}


@pytest.mark.parametrize(
    "supplied", [GOOD_ENTRY, [GOOD_ENTRY, MESSAGE_ENTRY]], ids=["one", "two-with-statusSize"]
)
def test_well_formed_caller_entries_are_signed_as_given(
    client: FlaskClient, admin_headers: dict[str, str], supplied: Any
) -> None:
    credential = _credential(BASE_DID, credentialStatus=copy.deepcopy(supplied))
    response = _issue(client, admin_headers, credential)
    assert response.status_code == 201, response.get_json()
    assert_matches_openapi(response, "post", "/credentials/issue")
    assert response.get_json()["verifiableCredential"]["credentialStatus"] == supplied


def test_caller_entries_and_node_entries_together(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    credential = _credential(BASE_DID, credentialStatus=copy.deepcopy(GOOD_ENTRY))
    response = _issue(
        client,
        admin_headers,
        credential,
        credentialStatus={"type": "BitstringStatusListEntry", "statusPurpose": "suspension"},
    )
    assert response.status_code == 201, response.get_json()
    assert_matches_openapi(response, "post", "/credentials/issue")
    entries = _entries(response.get_json()["verifiableCredential"])
    assert entries[0] == GOOD_ENTRY
    assert entries[1]["statusPurpose"] == "suspension"
    assert entries[1]["statusListCredential"].startswith(BASE + "/status-lists/")


def _bad(**changes: Any) -> dict[str, Any]:
    entry = {**GOOD_ENTRY, **changes}
    return {k: v for k, v in entry.items() if v is not None}


MALFORMED = {
    "not-an-object": "revoked",
    "empty-list": [],
    "wrong-type": _bad(type="StatusList2021Entry"),
    "no-type": _bad(type=None),
    "unknown-purpose": _bad(statusPurpose="expiry"),
    "index-leading-zero": _bad(statusListIndex="0945"),
    "index-number": _bad(statusListIndex=94567),
    "index-negative": _bad(statusListIndex="-1"),
    "list-not-url": _bad(statusListCredential="status list 7"),
    "list-missing": _bad(statusListCredential=None),
    "size-2-without-messages": _bad(statusSize=2),
    "size-zero": _bad(statusSize=0),
    "size-too-big": _bad(statusSize=9),
    "message-status-not-hex": _bad(statusMessage=[{"status": "1", "message": "x"}]),
    "message-status-too-big": _bad(statusSize=1, statusMessage=[{"status": "0x2", "message": "x"}]),
    "reference-not-url": _bad(statusReference="see the manual"),
    "own-list-index": _bad(statusListCredential=BASE + "/status-lists/revocation-1"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_caller_entries_are_refused_with_malformed_value(
    client: FlaskClient, admin_headers: dict[str, str], case: str
) -> None:
    credential = _credential(BASE_DID, credentialStatus=copy.deepcopy(MALFORMED[case]))
    response = _issue(client, admin_headers, credential)
    assert response.status_code == 400, response.get_json()
    assert_matches_openapi(response, "post", "/credentials/issue")
    assert response.get_json()["code"] == "MALFORMED_VALUE"


def test_aeo_credentials_keep_only_the_nodes_own_entries(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    aeo = {
        "@context": [V2, "https://ns.trustlane.org/aeo/v1"],
        "type": ["VerifiableCredential", "AEOCertificate"],
        "credentialSubject": {**aeo_subject(), "type": AEO_SUBJECT_TYPE},
    }
    refused = _issue(client, admin_headers, {**aeo, "credentialStatus": GOOD_ENTRY})
    assert refused.status_code == 400
    assert refused.get_json()["code"] == "MALFORMED_VALUE"
    # Without options the node still gives an AEO credential both of its own entries.
    issued = _issue(client, admin_headers, copy.deepcopy(aeo))
    assert issued.status_code == 201, issued.get_json()
    entries = _entries(issued.get_json()["verifiableCredential"])
    assert sorted(e["statusPurpose"] for e in entries) == ["revocation", "suspension"]
    assert all(e["statusListCredential"].startswith(BASE + "/status-lists/") for e in entries)


# The node's did:web for the default test base URL (did:web percent-encodes the port colon).
BASE_DID = "did:web:127.0.0.1%3A18443"


def test_reissue_after_a_compromise_never_resigns_that_did_keys_lists(
    client: FlaskClient, admin_headers: dict[str, str], node: tuple[NodeServices, str]
) -> None:
    services = node[0]
    issued = _issue(client, admin_headers, _credential(_did_key(node)), credentialStatus=BOTH)
    key_list = _entries(issued.get_json()["verifiableCredential"])[0]["statusListCredential"]
    web = _issue(client, admin_headers, _credential(services.identity.did), credentialStatus=BOTH)
    web_list = _entries(web.get_json()["verifiableCredential"])[0]["statusListCredential"]
    before = {url: _list(client, url)["validFrom"] for url in (key_list, web_list)}
    now = datetime.now(UTC)
    services.identity.add_key(now=now, actor="test", make_current=True)
    report = reissue_signed_by(
        "key-1",
        db=services.db,
        identity=services.identity,
        status=services.status,
        now=now,
        actor="test",
    )
    assert report.status_lists == 2  # revocation-1 and suspension-1, not the key-1 lists
    after = {url: _list(client, url) for url in (key_list, web_list)}
    assert after[key_list]["validFrom"] == before[key_list]  # not re-signed by key-1
    assert after[web_list]["validFrom"] != before[web_list]
    assert after[web_list]["proof"]["verificationMethod"].endswith("#key-2")
