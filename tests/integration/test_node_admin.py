"""Keys, tokens and the audit chain through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from conftest import NodeFactory
from credentials.signing import sign_credential
from credentials.strict_json import loads_object
from node.cli.node_show import node_summary
from node.services.audit import verify_chain
from node.services.reissue import reissue_signed_by
from node.services.tokens import authenticate, create_token, revoke_token
from node.storage.schema import audit_events, audit_head
from nodehelpers import aeo_subject

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _issue(services: Any, now: datetime) -> dict[str, Any]:
    vc: dict[str, Any] = services.issuance.issue_aeo(aeo_subject(), now=now, actor="test")
    return vc


def _codes(result: Any) -> list[str]:
    return [c.code for c in result.checks if c.code]


def test_rotation_keeps_old_credentials_valid(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    old = _issue(services, T0 + timedelta(minutes=1))
    assert old["proof"]["verificationMethod"].endswith("#key-1")
    services.identity.add_key(now=T0 + timedelta(hours=1), actor="test", make_current=True)
    new = _issue(services, T0 + timedelta(hours=2))
    assert new["proof"]["verificationMethod"].endswith("#key-2")
    now = T0 + timedelta(hours=3)
    for vc in (old, new):
        assert services.verification.verify_credential(vc, now=now).verified
    doc = services.identity.did_document()
    assert [m["id"].split("#")[1] for m in doc["verificationMethod"]] == ["key-1", "key-2"]
    assert doc["authentication"] == [f"{services.identity.did}#key-2"]
    assert len(doc["assertionMethod"]) == 2


def test_compromised_key_fails_every_proof_whatever_its_date(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    before = _issue(services, T0 + timedelta(minutes=1))
    after = _issue(services, T0 + timedelta(hours=2))
    # A thief writes any date: a proof claiming a time before the compromise fails too.
    backdated = sign_credential(
        {k: v for k, v in after.items() if k != "proof"},
        services.keystore.load("key-1"),
        verification_method=f"{services.identity.did}#key-1",
        created=T0 - timedelta(days=1),
    )
    assert services.identity.revoke_key(
        "key-1", since=T0 + timedelta(hours=1), now=T0 + timedelta(hours=3), actor="test"
    )
    now = T0 + timedelta(hours=3)
    for vc in (before, after, backdated):
        result = services.verification.verify_credential(vc, now=now)
        assert not result.verified
        assert "KEY_COMPROMISED" in _codes(result)
    revoked = services.identity.did_document()["verificationMethod"][0]["revoked"]
    assert revoked == "2026-11-30T10:00:00Z"
    assert not services.identity.revoke_key("key-9", since=T0, now=now, actor="test")


def test_revoke_key_reissues_what_the_key_signed(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    old = _issue(services, T0 + timedelta(minutes=1))
    services.identity.add_key(now=T0 + timedelta(hours=1), actor="test", make_current=True)
    assert services.identity.revoke_key(
        "key-1", since=T0, now=T0 + timedelta(hours=2), actor="test"
    )
    with pytest.raises(ValueError, match="current key"):
        reissue_signed_by(
            "key-2",
            db=services.db,
            identity=services.identity,
            status=services.status,
            now=T0 + timedelta(hours=2),
            actor="test",
        )
    report = reissue_signed_by(
        "key-1",
        db=services.db,
        identity=services.identity,
        status=services.status,
        now=T0 + timedelta(hours=2),
        actor="test",
    )
    assert report.credentials == 1 and report.status_lists == 2
    record = services.issuance.get(old["id"])
    assert record is not None
    again = json.loads(record.document)
    # Same id, subject and status entries; a new proof by the current key.
    assert {k: v for k, v in again.items() if k != "proof"} == {
        k: v for k, v in old.items() if k != "proof"
    }
    assert again["proof"]["verificationMethod"].endswith("#key-2")
    now = T0 + timedelta(hours=3)
    assert services.verification.verify_credential(again, now=now).verified
    assert "KEY_COMPROMISED" in _codes(services.verification.verify_credential(old, now=now))


def test_did_key_issuer_alias(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    alias = services.identity.current().key.public_key.did
    vc = services.issuance.issue(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"],
            "issuer": alias,
            "credentialSubject": {"id": "did:example:trader"},
        },
        status_purposes=("revocation",),
        now=T0,
        actor="test",
    )
    assert vc["proof"]["verificationMethod"].startswith(alias + "#")
    assert vc["id"].startswith("urn:uuid:")
    assert services.verification.verify_credential(vc, now=T0 + timedelta(minutes=1)).verified


def test_status_at_time_uses_history(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    vc = _issue(services, T0)
    services.status.current_version(
        vc["credentialStatus"][0]["statusListCredential"].rsplit("/", 1)[1], T0
    )
    services.status.set_status(
        vc["id"], "revocation", True, now=T0 + timedelta(hours=2), actor="test"
    )
    late = T0 + timedelta(hours=3)
    assert "REVOKED" in _codes(services.verification.verify_credential(vc, now=late))
    earlier = services.verification.verify_credential(vc, now=late, at=T0 + timedelta(hours=1))
    assert earlier.check("status") is not None
    assert earlier.check("status").status.value == "pass", earlier.to_dict()


def test_tokens_scopes_and_revocation(make_node: NodeFactory) -> None:
    services, admin = make_node(now=T0)
    assert authenticate(services.db, admin) is not None
    token_id, token = create_token(
        services.db, name="port officer", scopes=frozenset({"officer"}), now=T0, actor="test"
    )
    record = authenticate(services.db, token)
    assert record is not None and record.scopes == frozenset({"officer"})
    assert authenticate(services.db, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert revoke_token(services.db, token_id, now=T0, actor="test")
    assert authenticate(services.db, token) is None
    assert not revoke_token(services.db, token_id, now=T0, actor="test")
    with pytest.raises(Exception, match="scopes"):
        create_token(services.db, name="x", scopes=frozenset({"root"}), now=T0, actor="test")


def test_audit_chain_detects_tampering(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    vc = _issue(services, T0)
    services.status.set_status(vc["id"], "suspension", True, now=T0, actor="test")
    report = verify_chain(services.db)
    assert report.ok, report.problem
    # init: key.added + token.created; then credential.issued and status.suspension.
    assert report.events == 4
    with services.db.write() as conn:
        conn.execute(
            update(audit_events)
            .where(audit_events.c.seq == 3)
            .values(details=json.dumps({"types": ["forged"]}))
        )
    broken = verify_chain(services.db)
    assert not broken.ok and "event 3" in (broken.problem or "")


def test_audit_chain_detects_truncation(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    _issue(services, T0)
    with services.db.write() as conn:
        conn.execute(audit_events.delete().where(audit_events.c.seq == 3))
    broken = verify_chain(services.db)
    assert not broken.ok
    with services.db.write() as conn:
        conn.execute(update(audit_head).values(seq=2))
    assert not verify_chain(services.db).ok


def test_stored_credential_is_exactly_what_was_returned(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    vc = _issue(services, T0)
    record = services.issuance.get(vc["id"])
    assert record is not None and loads_object(record.document) == vc
    assert record.types == ("VerifiableCredential", "AEOCertificate")


def test_cli_credential_verify_as_the_node(make_node: NodeFactory, tmp_path: Path) -> None:
    services, _ = make_node(now=T0)
    vc = _issue(services, datetime.now(UTC))
    services.status.set_status(vc["id"], "revocation", True, now=datetime.now(UTC), actor="t")
    path = tmp_path / "vc.json"
    path.write_text(json.dumps(vc))
    exe = Path(sys.executable).parent / "trustlane"
    env = {**os.environ, "TRUSTLANE_DATABASE_URL": services.settings.database_url}
    args = [exe, "credential", "verify", path, "--json", "--data-dir", services.settings.data_dir]
    now_run = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert now_run.returncode == 1, now_run.stderr
    assert any(c.get("code") == "REVOKED" for c in json.loads(now_run.stdout)["checks"])
    # Before the revocation the status history says it was fine.
    past = vc["validFrom"]
    at_run = subprocess.run(
        [*args, "--at", past], capture_output=True, text=True, env=env, check=False
    )
    assert at_run.returncode == 0, at_run.stdout


def test_node_show_prints_what_a_partner_pins(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    services.identity.add_key(now=T0 + timedelta(hours=1), actor="test", make_current=True)
    summary = node_summary(services)
    assert summary["did"] == services.identity.did
    assert [(k["kid"], k["state"]) for k in summary["keys"]] == [
        ("key-1", "retired"),
        ("key-2", "current"),
    ]
    # Every key the DID document lists is in the line (first contact pins them all).
    listed = {
        m["publicKeyMultibase"] for m in services.identity.did_document()["verificationMethod"]
    }
    words = shlex.split(summary["peerAddCommand"])
    assert words[:4] == ["trustlane", "registry", "peer", "add"]
    assert {words[i + 1] for i, w in enumerate(words) if w == "--key"} == listed
    assert words[words.index("--did") + 1] == services.identity.did
    assert words[words.index("--name") + 1] == "eu-customs"
    # The CLI prints the same, as text and as JSON.
    exe = Path(sys.executable).parent / "trustlane"
    env = {**os.environ, "TRUSTLANE_DATABASE_URL": services.settings.database_url}
    args = [exe, "node", "show", "--json", "--data-dir", services.settings.data_dir]
    shown = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["peerAddCommand"] == summary["peerAddCommand"]
