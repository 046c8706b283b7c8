"""Suspensions that carry a reason code, end to end, on SQLite and PostgreSQL.

New credentials get a 2-bit suspension entry (``suspensionreason-N`` lists) whose
``statusMessage`` names every value. ``POST /credentials/status`` takes an optional
``reason``; the node's verification and a partner's report it, and grant nothing whatever
the reason. Credentials issued before reason codes (1-bit ``suspension-N`` entries) keep
working without one. Each happy path has its abuse next to it: unknown reasons, reasons
where none applies, low-scope tokens, a forged status value, and the console's form.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from console_client import BASE, ORIGIN, logged_in, submit, token_with
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from node.cli import main as cli_main
from node.services.status import SUSPENSION_REASONS
from node.services.tokens import create_token
from node.storage import status_alloc_repo, status_repo
from node.storage.db import Database
from node.storage.schema import status_entries, status_lists, sync_health
from node.wiring import NodeServices
from nodehelpers import aeo_subject, run_alembic, temporary_database
from openapi_check import assert_matches_openapi
from peersim import pinned_pair, sign_agreement
from registry.status_list import MIN_ENTRIES, BitstringStatusList, StatusListEntry

STATUS = "/credentials/status"
REASONS = {r.code: r for r in SUSPENSION_REASONS}


@pytest.fixture
def services(node: tuple[NodeServices, str]) -> NodeServices:
    return node[0]


def _issue(client: FlaskClient, headers: dict[str, str]) -> dict[str, Any]:
    answer = client.post(
        "/aeo-credentials", json={"credentialSubject": aeo_subject()}, headers=headers
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    vc: dict[str, Any] = answer.get_json()["verifiableCredential"]
    return vc


def _suspension(vc: dict[str, Any]) -> dict[str, Any]:
    raw = vc["credentialStatus"]
    items = raw if isinstance(raw, list) else [raw]  # one entry: an object
    (entry,) = [e for e in items if e["statusPurpose"] == "suspension"]
    return dict(entry)


def _change(
    client: FlaskClient,
    headers: dict[str, str],
    credential_id: str,
    status: bool,
    purpose: str = "suspension",
    **extra: Any,
) -> Any:
    body = {
        "credentialId": credential_id,
        "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": purpose},
        "status": status,
        **extra,
    }
    return client.post(STATUS, json=body, headers=headers)


def _status_check(client: FlaskClient, headers: dict[str, str], vc: dict[str, Any]) -> Any:
    answer = client.post("/credentials/verify", json={"verifiableCredential": vc}, headers=headers)
    body = answer.get_json()
    (check,) = [c for c in body["checks"] if c["name"] == "status"]
    return answer.status_code, check, body


def _served_value(client: FlaskClient, entry: dict[str, Any]) -> int:
    """The value a verifier reads at ``entry`` from the served (signed) list."""
    path = entry["statusListCredential"].split("/", 3)[3]
    served = client.get(f"/{path}")
    assert served.status_code == 200
    bits = BitstringStatusList.decode(served.get_json()["credentialSubject"]["encodedList"])
    width = int(entry.get("statusSize", 1))
    return bits.get_value(int(entry["statusListIndex"]), width)


# -- issuance ---------------------------------------------------------------------------


def test_new_credentials_get_a_two_bit_suspension_entry_and_a_one_bit_revocation(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    vc = _issue(client, admin_headers)
    entries = {e["statusPurpose"]: e for e in vc["credentialStatus"]}
    assert "statusSize" not in entries["revocation"]
    assert entries["revocation"]["statusListCredential"].endswith("/status-lists/revocation-1")
    suspension = StatusListEntry.from_dict(entries["suspension"])
    assert suspension.status_size == 2
    assert suspension.status_list_credential.endswith("/status-lists/suspensionreason-1")
    assert suspension.messages == {
        0: "not suspended",
        **{r.value: r.message for r in SUSPENSION_REASONS},
    }
    # Spec: a list of 2-bit entries holds at least 131,072 of them.
    served = client.get("/status-lists/suspensionreason-1").get_json()
    bits = BitstringStatusList.decode(served["credentialSubject"]["encodedList"])
    assert bits.size == MIN_ENTRIES * 2
    assert served["credentialSubject"]["statusPurpose"] == "suspension"
    # Generic issuance with the node's suspension entry gets the same 2-bit entry.
    generic = client.post(
        "/credentials/issue",
        json={
            "credential": {
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": ["VerifiableCredential"],
                "credentialSubject": {"id": "did:example:subject"},
            },
            "options": {
                "credentialStatus": {
                    "type": "BitstringStatusListEntry",
                    "statusPurpose": "suspension",
                }
            },
        },
        headers=admin_headers,
    )
    assert generic.status_code == 201, generic.get_data(as_text=True)
    entry = _suspension(generic.get_json()["verifiableCredential"])
    assert entry["statusSize"] == 2 and "suspensionreason-" in entry["statusListCredential"]


# -- suspend with a reason, verify, change the reason, lift ------------------------------


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_suspend_with_a_reason_verification_reports_it_and_lifting_clears_it(
    client: FlaskClient, admin_headers: dict[str, str], reason: str
) -> None:
    vc = _issue(client, admin_headers)
    entry = _suspension(vc)
    answer = _change(client, admin_headers, vc["id"], True, reason=reason)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert_matches_openapi(answer, "post", STATUS)
    expected = REASONS[reason]
    assert answer.get_json() | {"statusListVersion": 0} == {
        "credentialId": vc["id"],
        "statusPurpose": "suspension",
        "status": True,
        "changed": True,
        "statusListCredential": entry["statusListCredential"],
        "statusListVersion": 0,
        "statusValue": f"{expected.value:#x}",
        "reason": reason,
        "statusMessage": expected.message,
    }
    assert _served_value(client, entry) == expected.value
    code, check, body = _status_check(client, admin_headers, vc)
    assert (code, check["status"], check["code"]) == (422, "fail", "SUSPENDED")
    assert f"({expected.message})" in check["detail"]
    assert body["verified"] is False and body["benefits"] == []

    lifted = _change(client, admin_headers, vc["id"], False)
    assert lifted.status_code == 200
    assert lifted.get_json()["statusValue"] == "0x0"
    assert lifted.get_json()["statusMessage"] == "not suspended"
    assert "reason" not in lifted.get_json()
    assert _served_value(client, entry) == 0
    code, check, _ = _status_check(client, admin_headers, vc)
    assert (code, check["status"]) == (200, "pass")
    assert "status 0x0 (not suspended)" in check["detail"]


def test_suspending_again_changes_only_the_reason(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    vc = _issue(client, admin_headers)
    entry = _suspension(vc)
    first = _change(client, admin_headers, vc["id"], True)  # no reason: the default
    assert first.get_json()["reason"] == "investigation"
    assert first.get_json()["statusValue"] == "0x1"
    same = _change(client, admin_headers, vc["id"], True, reason="investigation")
    assert same.get_json()["changed"] is False
    assert same.get_json()["statusListVersion"] == first.get_json()["statusListVersion"]
    other = _change(client, admin_headers, vc["id"], True, reason="compliance-finding")
    assert other.get_json()["changed"] is True
    assert other.get_json()["statusListVersion"] == first.get_json()["statusListVersion"] + 1
    assert _served_value(client, entry) == 3
    _, check, _ = _status_check(client, admin_headers, vc)
    assert "compliance finding" in check["detail"]
    # Suspending again without a reason keeps the reason it has (no new version).
    again = _change(client, admin_headers, vc["id"], True)
    assert again.get_json()["changed"] is False
    assert again.get_json()["reason"] == "compliance-finding"
    assert _served_value(client, entry) == 3


@pytest.mark.parametrize(
    ("extra", "status", "purpose", "code"),
    [
        pytest.param(
            {"reason": "fraud"}, True, "suspension", "INVALID_STATUS_REASON", id="unknown"
        ),
        pytest.param({"reason": ""}, True, "suspension", "INVALID_STATUS_REASON", id="empty"),
        pytest.param(
            {"reason": "Holder-Request"}, True, "suspension", "INVALID_STATUS_REASON", id="case"
        ),
        pytest.param(
            {"reason": "investigation\u0000"}, True, "suspension", "INVALID_STATUS_REASON", id="nul"
        ),
        pytest.param({"reason": 2}, True, "suspension", "INVALID_MEMBER", id="a-number"),
        pytest.param({"reason": None}, True, "suspension", "INVALID_MEMBER", id="null"),
        pytest.param(
            {"reason": "investigation"}, False, "suspension", "INVALID_STATUS_REASON", id="lift"
        ),
        pytest.param(
            {"reason": "investigation"}, True, "revocation", "INVALID_STATUS_REASON", id="revoke"
        ),
    ],
)
def test_bad_reasons_are_400_problems_and_change_nothing(
    client: FlaskClient,
    admin_headers: dict[str, str],
    extra: dict[str, Any],
    status: bool,
    purpose: str,
    code: str,
) -> None:
    vc = _issue(client, admin_headers)
    before = client.get("/status-lists/suspensionreason-1").headers["ETag"]
    answer = _change(client, admin_headers, vc["id"], status, purpose, **extra)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.content_type == "application/problem+json"
    assert answer.get_json()["code"] == code
    assert_matches_openapi(answer, "post", STATUS)
    assert client.get("/status-lists/suspensionreason-1").headers["ETag"] == before
    _, check, _ = _status_check(client, admin_headers, vc)
    assert check["status"] == "pass"


def test_tokens_without_the_issuer_scope_cannot_suspend(
    client: FlaskClient, admin_headers: dict[str, str], services: NodeServices
) -> None:
    vc = _issue(client, admin_headers)
    for scope in ("officer", "auditor"):
        _, token = create_token(
            services.db, name=scope, scopes=frozenset({scope}), now=datetime.now(UTC), actor="t"
        )
        answer = _change(
            client,
            {"Authorization": f"Bearer {token}"},
            vc["id"],
            True,
            reason="compliance-finding",
        )
        assert answer.status_code == 403, scope
        assert answer.content_type == "application/problem+json"
    assert _change(client, {}, vc["id"], True, reason="investigation").status_code == 401
    assert _served_value(client, _suspension(vc)) == 0


# -- credentials issued before reason codes ---------------------------------------------


def _old_credential(services: NodeServices, credential_id: str) -> tuple[str, int]:
    """Entries as a node before migration 0015 allocated them: a 1-bit suspension list."""
    with services.db.write() as conn:
        for purpose in ("revocation", "suspension"):
            list_id, idx, _ = status_alloc_repo.allocate_index(
                conn,
                purpose=purpose,
                credential_id=credential_id,
                size=MIN_ENTRIES,
                now=datetime.now(UTC),
            )
    return list_id, idx


def test_an_old_one_bit_entry_is_suspended_without_a_reason_and_refuses_one(
    client: FlaskClient, admin_headers: dict[str, str], services: NodeServices
) -> None:
    credential_id = "urn:uuid:0b1d0000-0000-4000-8000-000000000001"
    list_id, idx = _old_credential(services, credential_id)
    assert list_id == "suspension-1"
    refused = _change(client, admin_headers, credential_id, True, reason="holder-request")
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "STATUS_REASON_UNSUPPORTED"
    assert "predates suspension reason codes" in refused.get_json()["detail"]
    assert_matches_openapi(refused, "post", STATUS)

    plain = _change(client, admin_headers, credential_id, True)
    assert plain.status_code == 200
    body = plain.get_json()
    assert body["statusValue"] == "0x1" and body["changed"] is True
    assert "reason" not in body and "statusMessage" not in body
    assert body["statusListCredential"].endswith("/status-lists/suspension-1")
    served = client.get("/status-lists/suspension-1").get_json()
    bits = BitstringStatusList.decode(served["credentialSubject"]["encodedList"])
    assert bits.size == MIN_ENTRIES and bits.set_indices() == [idx]
    lifted = _change(client, admin_headers, credential_id, False)
    assert lifted.get_json()["statusValue"] == "0x0" and lifted.get_json()["changed"] is True


def test_one_and_two_bit_lists_never_share_an_id(
    client: FlaskClient, admin_headers: dict[str, str], services: NodeServices
) -> None:
    _old_credential(services, "urn:uuid:0b1d0000-0000-4000-8000-000000000002")
    _issue(client, admin_headers)
    _old_credential(services, "urn:uuid:0b1d0000-0000-4000-8000-000000000003")
    with services.db.read() as conn:
        lists = {
            r.id: (r.purpose, r.status_size)
            for r in conn.execute(
                select(status_lists.c.id, status_lists.c.purpose, status_lists.c.status_size)
            )
        }
    assert lists == {
        "revocation-1": ("revocation", 1),
        "suspension-1": ("suspension", 1),
        "suspensionreason-1": ("suspension", 2),
    }


# -- verification at a partner ----------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_partner_reads_the_reason_and_grants_nothing(tmp_path: Path, backend: str) -> None:
    with pinned_pair(backend, tmp_path, (18731, 18732)) as (_, eu, us):
        sign_agreement(eu, us)
        vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
        for entry in vc["credentialStatus"]:  # fetched now, not by the background refetch
            assert us.sync.sync_status_list(entry["statusListCredential"], datetime.now(UTC)).ok
        before = _verify_at(us, vc)
        assert before.verified and before.benefits == {"reduced-examination"}
        for reason in SUSPENSION_REASONS:
            eu.status.set_status(
                str(vc["id"]),
                "suspension",
                True,
                now=datetime.now(UTC),
                actor="t",
                reason=reason.code,
            )
            us.sync.sync_status_list(_suspension(vc)["statusListCredential"], datetime.now(UTC))
            outcome = _verify_at(us, vc)
            status = next(c for c in outcome.result.checks if c.name == "status")
            assert (status.status.value, status.code) == ("fail", "SUSPENDED"), reason.code
            assert f"({reason.message})" in status.detail
            assert not outcome.verified and outcome.benefits == frozenset()
        eu.status.set_status(str(vc["id"]), "suspension", False, now=datetime.now(UTC), actor="t")
        us.sync.sync_status_list(_suspension(vc)["statusListCredential"], datetime.now(UTC))
        assert _verify_at(us, vc).benefits == {"reduced-examination"}
        # The partner's sync health records the list (its URL is longer than 64 characters).
        with us.db.read() as conn:
            resources = [r.resource for r in conn.execute(select(sync_health.c.resource))]
        assert any(r.endswith("/status-lists/suspensionreason-1") for r in resources)


def _verify_at(services: NodeServices, vc: dict[str, Any]) -> Any:
    outcome = services.verification.verify(vc, now=datetime.now(UTC))
    assert not outcome.refetch, outcome.to_dict()  # the test synced every list itself
    return outcome


# -- console and CLI --------------------------------------------------------------------


def _page(client: FlaskClient, path: str) -> str:
    answer = client.get(f"{BASE}{path}")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_console_suspends_with_the_selected_reason(
    app: Flask, services: NodeServices, client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    vc = _issue(client, admin_headers)
    issuer = logged_in(app, token_with(services, "issuer"))
    page_path = f"/console/credentials/{vc['id']}"
    text = _page(issuer, page_path)
    assert 'name="reason"' in text and "At the holder&#39;s request</option>" in text
    data = {"id": vc["id"], "action": "suspend", "reason": "holder-request"}
    answer = submit(issuer, page_path, "/console/credentials/status", data)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    assert _suspension_values(services, vc["id"]) == (True, 2)
    shown = _page(issuer, answer.headers["Location"].removeprefix(BASE))
    assert "(suspended at the holder&#39;s request)" in shown
    # Abuse: an unknown reason, and a reason with another action, change nothing.
    for bad in ({"action": "suspend", "reason": "fraud"}, {"action": "lift", "reason": "x"}):
        refused = submit(issuer, page_path, "/console/credentials/status", {"id": vc["id"], **bad})
        assert refused.status_code == 400
        assert "Unknown suspension reason" in refused.get_data(as_text=True)
    # Without the CSRF token nothing happens either.
    forged = issuer.post(
        f"{BASE}/console/credentials/status",
        data={"id": vc["id"], "action": "lift"},
        headers=ORIGIN,
    )
    assert forged.status_code in (400, 403)
    assert _suspension_values(services, vc["id"]) == (True, 2)


def _suspension_values(services: NodeServices, credential_id: str) -> tuple[bool, int]:
    (entry,) = [e for e in services.status.entries(credential_id) if e.purpose == "suspension"]
    return entry.value, entry.status_value


def _make_old(services: NodeServices, credential_id: str) -> None:
    """Move a credential's suspension entry to a 1-bit list, as if issued before 0015."""
    _old_credential(services, "urn:uuid:0b1d0000-0000-4000-8000-000000000009")
    with services.db.write() as conn:
        conn.execute(
            update(status_entries)
            .where(
                status_entries.c.credential_id == credential_id,
                status_entries.c.list_id == "suspensionreason-1",
            )
            .values(list_id="suspension-1", idx=7)
        )


def test_console_offers_no_reason_for_an_old_credential_and_refuses_one(
    app: Flask, services: NodeServices, client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    vc = _issue(client, admin_headers)
    _make_old(services, vc["id"])
    issuer = logged_in(app, token_with(services, "issuer"))
    page_path = f"/console/credentials/{vc['id']}"
    assert 'name="reason"' not in _page(issuer, page_path)
    data = {"id": vc["id"], "action": "suspend", "reason": "investigation"}
    refused = submit(issuer, page_path, "/console/credentials/status", data)
    assert refused.status_code == 409
    assert "issued before suspension reasons" in refused.get_data(as_text=True)
    assert _suspension_values(services, vc["id"]) == (False, 0)
    plain = submit(
        issuer, page_path, "/console/credentials/status", {"id": vc["id"], "action": "suspend"}
    )
    assert plain.status_code == 303
    assert _suspension_values(services, vc["id"]) == (True, 1)


def test_cli_suspends_with_a_reason_and_lifts(
    make_node: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    services, _ = make_node()
    vc = services.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    data_dir = str(services.settings.data_dir)
    argv = ["credential", "suspend", str(vc["id"]), "--data-dir", data_dir]
    assert cli_main([*argv, "--reason", "compliance-finding", "--json"]) == 0
    out, err = capsys.readouterr()
    answer = json.loads(out)
    assert (answer["reason"], answer["statusValue"], answer["changed"]) == (
        "compliance-finding",
        "0x3",
        True,
    )
    assert _suspension_values(services, str(vc["id"])) == (True, 3)
    # Abuse: an unknown reason is a usage error; nothing changes.
    with pytest.raises(SystemExit) as caught:
        cli_main([*argv, "--reason", "fraud"])
    assert caught.value.code == 2
    capsys.readouterr()
    assert cli_main(["credential", "lift", str(vc["id"]), "--data-dir", data_dir]) == 0
    out, _ = capsys.readouterr()
    assert out.strip() == f"{vc['id']}: not suspended"
    assert _suspension_values(services, str(vc["id"])) == (False, 0)
    # A credential issued before reason codes: the error says what to do.
    _make_old(services, str(vc["id"]))
    assert cli_main([*argv, "--reason", "investigation"]) == 2
    _, err = capsys.readouterr()
    assert err.startswith("trustlane: error: STATUS_REASON_UNSUPPORTED")
    assert "without --reason" in err
    assert cli_main(argv) == 0
    assert _suspension_values(services, str(vc["id"])) == (True, 1)


# -- migration 0015 ---------------------------------------------------------------------


def test_migration_0015_keeps_old_bits_and_refuses_to_drop_two_bit_lists(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        run_alembic(db, "upgrade", "0014")
        now = datetime.now(UTC)
        long_resource = "status_list:https://customs.example.org/status-lists/suspension-1"
        with db.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO status_lists (id, purpose, size, created_at, latest_version) "
                    "VALUES ('suspension-1', 'suspension', 16, :now, 0)"
                ),
                {"now": now},
            )
            for idx, value in ((3, True), (4, False)):
                conn.execute(
                    text(
                        "INSERT INTO status_entries (list_id, idx, credential_id, value, "
                        "updated_at) VALUES ('suspension-1', :idx, :cid, :value, :now)"
                    ),
                    {"idx": idx, "cid": f"urn:example:{idx}", "value": value, "now": now},
                )
        run_alembic(db, "upgrade", "head")
        with db.read() as conn:
            entries = {
                e.credential_id: (e.value, e.status_value, e.status_size)
                for cid in ("urn:example:3", "urn:example:4")
                for e in status_repo.entries_for_credential(conn, cid)
            }
        assert entries == {"urn:example:3": (True, 1, 1), "urn:example:4": (False, 0, 1)}
        # A peer list URL longer than the old 64 characters is stored in sync health.
        with db.write() as conn:
            conn.execute(
                sync_health.insert().values(
                    peer_did="did:web:customs.example.org", resource=long_resource, failures=0
                )
            )
        # Back to 0014 while only 1-bit lists exist: fine (the long resource is dropped).
        run_alembic(db, "downgrade", "0014")
        run_alembic(db, "upgrade", "head")
        with db.write() as conn:
            status_alloc_repo.allocate_index(
                conn,
                purpose="suspension",
                credential_id="urn:example:5",
                size=16,
                now=now,
                status_size=2,
                stem="suspensionreason",
            )
        with pytest.raises(RuntimeError, match="more than one bit"):
            run_alembic(db, "downgrade", "0014")
    finally:
        db.dispose()


# -- allocation under concurrency -------------------------------------------------------


def test_two_replicas_share_the_two_bit_lists_postgresql(tmp_path: Path) -> None:
    """Two engines (as two replicas) allocate 2-bit entries at once: one open list at a time.

    Lists of 16 entries are full at 8; 2 x 20 allocations must fill suspensionreason-1..5
    one after another, each list (but the last) at least half full, none left behind.
    """
    with temporary_database("postgresql", tmp_path) as url:
        setup = Database(url)
        run_alembic(setup, "upgrade", "head")
        setup.dispose()
        databases = [Database(url) for _ in range(2)]
        start = threading.Barrier(2)
        found: list[tuple[str, int]] = []
        errors: list[BaseException] = []

        def replica(db: Database, name: str) -> None:
            try:
                start.wait(10)
                for n in range(20):
                    with db.write() as conn:
                        list_id, idx, _ = status_alloc_repo.allocate_index(
                            conn,
                            purpose="suspension",
                            credential_id=f"urn:example:{name}:{n}",
                            size=16,
                            now=datetime.now(UTC),
                            status_size=2,
                            stem="suspensionreason",
                        )
                    found.append((list_id, idx))
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [
            threading.Thread(target=replica, args=(db, f"r{i}")) for i, db in enumerate(databases)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        try:
            assert not errors, errors
            assert len(set(found)) == 40
            with databases[0].read() as conn:
                rows = conn.execute(
                    select(status_lists.c.id, status_lists.c.status_size).order_by(
                        status_lists.c.created_at, status_lists.c.id
                    )
                ).all()
            ids = sorted((r.id for r in rows), key=lambda i: int(i.rsplit("-", 1)[1]))
            assert ids == [f"suspensionreason-{n}" for n in range(1, len(ids) + 1)]
            assert {r.status_size for r in rows} == {2}
            used = {i: sum(1 for list_id, _ in found if list_id == i) for i in ids}
            assert all(used[i] >= 8 for i in ids[:-1]), used
            assert all(0 <= idx < 16 for _, idx in found)
        finally:
            for db in databases:
                db.dispose()
