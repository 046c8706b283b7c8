"""Peer administration: ``registry peer show|remove``, what ``peer add`` says next, and
``untrustedReason`` carrying the last fetch error (issue 15). In-process nodes on an
in-memory network, on SQLite and PostgreSQL; the CLI runs in-process against their data
directories."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from node.cli import main, registry_cmd
from node.cli.node_cmd import load_services
from node.services.status import NotFoundError
from node.storage import audit_repo
from node.wiring import NodeServices
from nodehelpers import aeo_subject, close_services
from peersim import Behaviour, pin, pinned_pair, sign_agreement

EU, US = 1011, 1012


@pytest.fixture(params=["sqlite", "postgresql"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """EU and US pinned to each other, synced, with an EU->US agreement in force."""
    with pinned_pair(request.param, tmp_path, (EU, US)) as (sim, eu, us):
        yield sim, eu, us, sign_agreement(eu, us)


@pytest.fixture(autouse=True)
def _dispose_cli_services(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The in-process CLI builds its own services: close their database pools afterwards."""
    made: list[NodeServices] = []

    def load(args: Any) -> NodeServices:
        services = load_services(args)
        made.append(services)
        return services

    monkeypatch.setattr(registry_cmd, "load_services", load)
    yield
    close_services(*made)


def _cli(
    capsys: pytest.CaptureFixture[str], node: NodeServices, *argv: str
) -> tuple[int, str, str]:
    code = main([*argv, "--data-dir", str(node.settings.data_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def _verify(node: NodeServices, vc: dict[str, Any]) -> Any:
    outcome = node.verification.verify(vc, now=datetime.now(UTC))
    if outcome.refetch:
        assert node.refetch.drain(10)
        outcome = node.verification.verify(vc, now=datetime.now(UTC))
    return outcome


def _actions(node: NodeServices) -> list[tuple[str, str]]:
    with node.db.read() as conn:
        return [(e.action, e.target) for e in audit_repo.iter_events(conn)]


def test_peer_show_tells_everything_known(pair: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, eu, us, agreement = pair
    code, out, err = _cli(capsys, us, "registry", "peer", "show", "eu", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["did"] == eu.identity.did and info["baseUrl"] == eu.settings.base_url
    assert info["trusted"] is True and info["untrustedReason"] is None
    key = eu.identity.current().key.public_key.multibase
    assert [k["publicKeyMultibase"] for k in info["pinnedKeys"]] == [key]
    assert info["pinnedKeys"][0]["source"] == "pin"
    did_sync = next(r for r in info["resources"] if r["resource"] == "did_document")
    assert did_sync["lastSuccess"] is not None and did_sync["lastError"] is None
    assert [(a["id"], a["state"], a["open"]) for a in info["agreements"]] == [
        (agreement, "active", True)
    ]
    code, out, _ = _cli(capsys, us, "registry", "peer", "show", "eu")
    assert code == 0 and "trusted" in out and agreement in out and key in out


@pytest.mark.parametrize("command", ["show", "remove"])
def test_unknown_peer_name_is_one_line_exit_2(
    pair: Any, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    _, _, us, _ = pair
    code, out, err = _cli(capsys, us, "registry", "peer", command, "nobody")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "no peer named 'nobody'" in err


def test_remove_is_refused_while_an_agreement_is_open(
    pair: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, eu, us, agreement = pair
    code, _, err = _cli(capsys, us, "registry", "peer", "remove", "eu")
    assert code == 2 and "PEER_HAS_AGREEMENTS" in err and agreement in err and "--force" in err
    assert len(err.strip().splitlines()) == 1
    assert us.peers.peer_named("eu").did == eu.identity.did
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    assert _verify(us, vc).benefits == {"reduced-examination"}


def test_removed_peer_credentials_grant_nothing(
    pair: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, eu, us, agreement = pair
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    before = _verify(us, vc)
    assert before.verified and before.benefits == {"reduced-examination"}

    code, out, err = _cli(capsys, us, "registry", "peer", "remove", "eu", "--force", "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "removed": "eu",
        "did": eu.identity.did,
        "withdrawnAgreements": [agreement],
    }
    assert ("peer.removed", eu.identity.did) in _actions(us)
    assert us.agreements.get(agreement).state == "withdrawn"
    with pytest.raises(NotFoundError):
        us.peers.peer_named("eu")

    after = _verify(us, vc)
    assert not after.verified and after.benefits == frozenset()
    checks = {c.name: (c.status.value, c.code) for c in after.result.checks}
    assert checks["proof"] == ("unknown", "UNRESOLVABLE_VERIFICATION_METHOD")
    assert checks["recognition"] == ("unknown", "NOT_RUN")

    # Added again (same pins) and synced: trusted again, but the withdrawn agreement never
    # counts again; a new one must be signed.
    pin(us, eu, "eu")
    assert all(o.ok for o in us.sync.sync_all(datetime.now(UTC), force=True))
    again = _verify(us, vc)
    assert again.benefits == frozenset()
    assert {c.name: c.code for c in again.result.checks}["recognition"] == "NO_MRA"


def test_removed_peer_is_not_synced_any_more(pair: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, eu, _, agreement = pair
    code, out, err = _cli(capsys, eu, "registry", "peer", "remove", "us", "--force")
    assert code == 0, err
    assert f"agreement {agreement} withdrawn (the peer was not notified)" in out
    assert eu.sync.sync_all(datetime.now(UTC), force=True) == []
    assert eu.peers.health() == []
    code, out, err = _cli(capsys, eu, "registry", "peer", "show", "us")
    assert code == 2 and "no peer named 'us'" in err


def test_remove_refuses_a_peer_federation_toml_lists(
    pair: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, eu, us, _ = pair
    key = eu.identity.current().key.public_key.multibase
    (us.settings.data_dir / "federation.toml").write_text(
        "\n".join(
            [
                "[federation]",
                'name = "test"',
                "[[peers]]",
                'name = "eu"',
                f'did = "{eu.identity.did}"',
                f'base_url = "{eu.settings.base_url}"',
                f'key_fingerprints = ["{key}"]',
            ]
        )
        + "\n"
    )
    code, _, err = _cli(capsys, us, "registry", "peer", "remove", "eu", "--force")
    assert code == 2 and "PEER_CONFIGURED" in err and "federation.toml" in err
    assert us.peers.peer_named("eu").did == eu.identity.did


def test_peer_add_says_what_happens_next(pair: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, eu, us, _ = pair
    us.peers.remove("eu", force=True, configured=(), now=datetime.now(UTC), actor="test")
    key = eu.identity.current().key.public_key.multibase
    code, out, err = _cli(
        capsys,
        us,
        "registry",
        "peer",
        "add",
        "--name",
        "eu",
        "--did",
        eu.identity.did,
        "--base-url",
        eu.settings.base_url,
        "--key",
        key,
    )
    assert code == 0, err
    assert "trustlane registry sync" in out and "60 s" in out
    assert "trustlane registry peer show eu" in out


def test_missing_ca_bundle_file_is_refused(pair: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, eu, us, _ = pair
    code, _, err = _cli(
        capsys,
        us,
        "registry",
        "peer",
        "add",
        "--name",
        "other",
        "--did",
        "did:web:127.0.0.1%3A1099",
        "--base-url",
        "http://127.0.0.1:1099",
        "--key",
        eu.identity.current().key.public_key.multibase,
        "--ca-bundle",
        "/nonexistent/ca.pem",
    )
    assert code == 2 and "--ca-bundle /nonexistent/ca.pem: no such file" in err


def test_untrusted_reason_carries_the_last_fetch_error(pair: Any) -> None:
    sim, eu, us, _ = pair
    us.peers.remove("eu", force=True, configured=(), now=datetime.now(UTC), actor="test")
    pin(us, eu, "eu")
    entry = next(p for p in us.peers.health() if p["name"] == "eu")
    assert entry["untrustedReason"] == "DID document not fetched yet"
    sim.behaviour[eu.settings.base_url] = Behaviour(down=True)
    assert [o.ok for o in us.sync.sync_all(datetime.now(UTC), force=True)] == [False]
    entry = next(p for p in us.peers.health() if p["name"] == "eu")
    reason = str(entry["untrustedReason"])
    assert reason.startswith("DID document not fetched: ") and "connection refused" in reason
    assert us.peers.describe("eu")["untrustedReason"] == reason
    # Once the fetch works the peer is trusted and the reason goes away.
    sim.behaviour[eu.settings.base_url] = Behaviour()
    assert all(o.ok for o in us.sync.sync_all(datetime.now(UTC), force=True))
    entry = next(p for p in us.peers.health() if p["name"] == "eu")
    assert entry["trusted"] is True and entry["untrustedReason"] is None


def test_remove_is_refused_while_a_termination_notice_runs(
    pair: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, eu, us, agreement = pair
    us.agreements.terminate(agreement, actor="test")
    record = us.agreements.get(agreement)
    assert record.state == "terminated"
    code, _, err = _cli(capsys, us, "registry", "peer", "remove", "eu")
    assert code == 2 and f"{agreement} (terminated)" in err
    code, out, err = _cli(capsys, us, "registry", "peer", "remove", "eu", "--json", "--force")
    assert code == 0, err
    assert json.loads(out)["withdrawnAgreements"] == [agreement]
    assert us.agreements.get(agreement).state == "withdrawn"
    assert eu.peers.peer_named("us").did == us.identity.did  # EU's registry is its own
