"""``trustlane registry mra ...`` in-process with two nodes (EU, US) on the in-memory network.

The CLI runs against EU's and US's data directories exactly as an operator runs it; only
the transport is the simulator (``RequestsFetcher`` swapped for the simulated fetcher), so
deliveries are real signed ``POST /federation/agreements`` requests answered by the other
node's app. The nodes' DIDs are those of ``examples/mra-recognitions.json``, so the example
file is proposed as shipped. Every error is one line on stderr and exit 2, never a traceback.
The example files are also checked against the real validators here, so they cannot rot.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mrapair import AEO_SUBJECT, RECOGNITIONS, US_URL, Node, eu_and_us

from credentials.aeo import validate_aeo_subject
from credentials.datetimes import parse_datetime
from node.cli import main
from peersim import Behaviour, PeerNetworkSimulator
from registry.mra import build_mra, validate_mra_subject


@pytest.fixture
def net(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[PeerNetworkSimulator, Node, Node]]:
    yield from eu_and_us(tmp_path, monkeypatch)


def cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def mra(capsys: pytest.CaptureFixture[str], node: Node, *argv: str | Path) -> tuple[int, str, str]:
    return cli(capsys, "registry", "mra", *argv, "--data-dir", node.data_dir)


def refused(result: tuple[int, str, str], *fragments: str) -> str:
    """An error: exit 2, nothing on stdout, one line on stderr holding every fragment."""
    code, out, err = result
    assert code == 2, (code, out, err)
    assert out == ""
    assert err.startswith("trustlane: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def _states(node: Node) -> dict[str, str]:
    return {a["id"]: a["state"] for a in node.api_agreements()["agreements"]}


def _propose(capsys: pytest.CaptureFixture[str], eu: Node) -> str:
    code, out, err = mra(capsys, eu, "propose", "--peer", "us", "--recognitions", RECOGNITIONS)
    assert code == 0, err
    agreement_id = out.split()[2]
    assert agreement_id.startswith("urn:uuid:")
    return agreement_id


def test_propose_countersign_list_show_terminate(
    net: tuple[PeerNetworkSimulator, Node, Node],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, eu, us = net
    code, out, err = mra(
        capsys, eu, "propose", "--peer", "us", "--recognitions", RECOGNITIONS, "--json"
    )
    assert code == 0, err
    proposed = json.loads(out)
    agreement_id = proposed["id"]
    assert set(proposed) == {"id", "peer", "state", "delivered", "agreement"}
    assert proposed["peer"] == us.services.identity.did
    assert (proposed["state"], proposed["delivered"]) == ("pending", True)
    subject = proposed["agreement"]["credentialSubject"]
    assert subject["id"] == agreement_id
    assert subject["noticePeriodDays"] == 90  # the default
    assert subject["recognitions"] == json.loads(RECOGNITIONS.read_text(encoding="utf-8"))

    # Delivered as a signed request: pending at US, for review; list --json is GET /mras.
    assert _states(us) == {agreement_id: "pending"}
    code, out, _ = mra(capsys, us, "list", "--json")
    assert code == 0
    assert json.loads(out) == us.api_agreements()
    assert set(json.loads(out)["agreements"][0]) == {
        "id",
        "peer",
        "state",
        "terminationEffective",
        "agreement",
    }
    code, out, _ = mra(capsys, us, "list")
    assert code == 0
    assert out.split() == [agreement_id, "pending", "eu"]
    code, out, _ = mra(capsys, us, "show", agreement_id)
    assert code == 0
    assert f"agreement {agreement_id}" in out
    assert "state: pending" in out
    assert "proposed by: eu (did:web:eu.customs.example)" in out
    assert "notice period: 90 days" in out
    assert "this node recognises EU-AEO (AEOS, AEOF) of eu (did:web:eu.customs.example)" in out
    code, out, _ = mra(capsys, us, "show", agreement_id, "--json")
    assert code == 0
    assert json.loads(out) == us.api_agreements()["agreements"][0]

    # US countersigns: active at US, delivered back, active at EU.
    code, out, err = mra(capsys, us, "countersign", agreement_id, "--json")
    assert code == 0, err
    signed = json.loads(out)
    assert set(signed) == {"id", "peer", "state", "delivered", "agreement"}
    assert (signed["state"], signed["delivered"]) == ("active", True)
    assert len(signed["agreement"]["proof"]) == 2
    assert _states(us) == _states(eu) == {agreement_id: "active"}
    code, out, _ = mra(capsys, eu, "list")
    assert out.split() == [agreement_id, "active", "us"]

    # EU terminates: the notice is delivered, both record the same end.
    notice_file = tmp_path / "notice.json"
    before = datetime.now(UTC)
    code, out, err = mra(capsys, eu, "terminate", agreement_id, "--notice", notice_file, "--json")
    assert code == 0, err
    ended = json.loads(out)
    assert set(ended) == {"id", "peer", "state", "effective", "delivered", "notice"}
    assert (ended["state"], ended["delivered"]) == ("terminated", True)
    effective = parse_datetime(ended["effective"], field="effective")
    assert before + timedelta(days=90) - timedelta(seconds=2) <= effective
    assert effective <= datetime.now(UTC) + timedelta(days=90)
    assert json.loads(notice_file.read_text(encoding="utf-8")) == ended["notice"]
    assert _states(us) == _states(eu) == {agreement_id: "terminated"}
    for node in (eu, us):
        assert node.api_agreements()["agreements"][0]["terminationEffective"] == ended["effective"]
    code, out, _ = mra(capsys, us, "show", agreement_id)
    assert "state: terminated" in out and f"terminated: ends {ended['effective']}" in out
    code, out, _ = mra(capsys, us, "show", agreement_id, "--json")
    assert json.loads(out)["terminationNotice"] == ended["notice"]

    # Terminating twice, at either end, is refused.
    refused(mra(capsys, eu, "terminate", agreement_id), "already terminated", ended["effective"])
    refused(mra(capsys, us, "terminate", agreement_id), "already terminated")


def test_every_error_is_one_line(
    net: tuple[PeerNetworkSimulator, Node, Node],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, eu, us = net
    recognitions = json.loads(RECOGNITIONS.read_text(encoding="utf-8"))

    def write(name: str, value: Any) -> Path:
        path = tmp_path / name
        path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
        return path

    def propose(file: Path, *extra: str) -> tuple[int, str, str]:
        return mra(capsys, eu, "propose", "--peer", "us", "--recognitions", file, *extra)

    refused(
        mra(capsys, eu, "propose", "--peer", "jp", "--recognitions", RECOGNITIONS),
        "no peer named 'jp'",
        "registry peer list",
    )
    refused(propose(tmp_path / "missing.json"), "missing.json: cannot read")
    refused(propose(write("broken.json", '[{"a": 1,}]')), "broken.json:")
    refused(propose(write("dup.json", '[{"a": 1, "a": 2}]')), "dup.json:", "duplicate")
    refused(propose(write("object.json", recognitions[0])), "(root): must be a JSON array")
    refused(propose(write("number.json", [recognitions[0], 7])), "/1: must be an object")
    bad_benefit = [recognitions[0], {**recognitions[1], "benefits": ["free-pass"]}]
    refused(
        propose(write("benefit.json", bad_benefit)),
        "benefit.json: invalid recognitions:",
        "/1/benefits/0: must be one of",
    )
    missing_roles = [{k: v for k, v in recognitions[0].items() if k != "roles"}]
    refused(propose(write("roles.json", missing_roles)), "/0/roles: is required")
    refused(propose(write("empty.json", [])), "(root): must have at least 1 item")
    stranger = [{**recognitions[0], "issuingParty": "did:web:jp.customs.example"}]
    refused(
        propose(write("stranger.json", stranger)),
        "/0/issuingParty: must be one of the parties",
        "this node is did:web:eu.customs.example, peer us is did:web:us.customs.example",
    )
    refused(propose(RECOGNITIONS, "--notice-days", "1000"), "--notice-days:")
    refused(
        propose(
            RECOGNITIONS,
            "--effective-from",
            "2027-01-01T00:00:00Z",
            "--effective-until",
            "2026-01-01T00:00:00Z",
        ),
        "--effective-until: must be after --effective-from",
    )
    assert _states(eu) == _states(us) == {}  # nothing was proposed

    unknown = "urn:uuid:5b0c9a52-5d3c-4d3e-9d1e-000000000000"
    for command in ("show", "countersign", "terminate"):
        refused(mra(capsys, eu, command, unknown), f"no agreement {unknown} here")

    agreement_id = _propose(capsys, eu)
    refused(
        mra(capsys, eu, "countersign", agreement_id),
        "this node's own proposal",
        "only us can countersign",
    )
    refused(mra(capsys, eu, "terminate", agreement_id), "is pending", "only an active")
    code, _, err = mra(capsys, us, "countersign", agreement_id)
    assert code == 0, err
    refused(mra(capsys, us, "countersign", agreement_id), "already active")
    taken = write("taken.json", "{}")
    refused(mra(capsys, eu, "terminate", agreement_id, "--notice", taken), "already exists")
    assert _states(eu) == _states(us) == {agreement_id: "active"}  # nothing was terminated


def test_an_undelivered_proposal_is_stored_and_reported(
    net: tuple[PeerNetworkSimulator, Node, Node], capsys: pytest.CaptureFixture[str]
) -> None:
    sim, eu, us = net
    sim.behaviour[US_URL] = Behaviour(down=True)
    code, out, err = mra(
        capsys, eu, "propose", "--peer", "us", "--recognitions", RECOGNITIONS, "--json"
    )
    assert code == 1
    body = json.loads(out)
    assert (body["state"], body["delivered"]) == ("pending", False)
    assert err.startswith("trustlane: warning: not delivered to us;") and err.count("\n") == 1
    assert "POST /mras/receive" in err
    assert _states(eu) == {body["id"]: "pending"}
    assert _states(us) == {}


def test_example_files_pass_the_real_validators(
    net: tuple[PeerNetworkSimulator, Node, Node], capsys: pytest.CaptureFixture[str]
) -> None:
    _, eu, _ = net
    subject = json.loads(AEO_SUBJECT.read_text(encoding="utf-8"))
    validate_aeo_subject(subject)
    code, out, err = cli(capsys, "aeo", "issue", AEO_SUBJECT, "--data-dir", eu.data_dir)
    assert code == 0, err
    assert json.loads(out)["credentialSubject"] == subject

    recognitions = json.loads(RECOGNITIONS.read_text(encoding="utf-8"))
    parties = sorted({r["recognisingParty"] for r in recognitions})
    assert parties == ["did:web:eu.customs.example", "did:web:us.customs.example"]
    validate_mra_subject(
        {
            "id": "urn:uuid:0b8e6a50-8f5e-4b7e-9d1a-1f6f6d1c0001",
            "type": "MutualRecognitionAgreement",
            "parties": parties,
            "recognitions": recognitions,
            "effectiveFrom": "2027-01-01T00:00:00Z",
            "noticePeriodDays": 90,
        }
    )
    build_mra(
        agreement_id="urn:uuid:0b8e6a50-8f5e-4b7e-9d1a-1f6f6d1c0001",
        parties=parties,
        recognitions=recognitions,
        effective_from=datetime(2027, 1, 1, tzinfo=UTC),
        notice_period_days=90,
        proposer=parties[0],
    )
