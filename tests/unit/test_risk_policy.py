"""Risk policies: bundled files, hash, checks, and ``trustlane config check`` on them."""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from federation_config.federation import RiskPolicyRef
from federation_config.risk import (
    BUNDLED_POLICIES,
    bundled_policy,
    load_policy,
    parse_policy,
    policy_schema,
    resolve_policy,
)
from node.cli import config_cmd
from node.cli._io import CLIError
from registry.mra import BENEFIT_CODES
from risk import POLICY_FORMAT, Channel, Policy, RiskPolicyError

POLICY_DIR = Path(__file__).resolve().parents[2] / "federation_config" / "risk"
EU = json.loads((POLICY_DIR / "eu-aeo-default.json").read_text())


@pytest.mark.parametrize("policy_id", BUNDLED_POLICIES)
def test_bundled_policies_are_valid_and_cover_every_benefit_code(policy_id: str) -> None:
    policy = bundled_policy(policy_id)
    assert (policy.policy_id, policy.version) == (policy_id, "2026.1")
    assert set(policy.benefits) == BENEFIT_CODES
    assert policy.random_floor > 0
    assert policy.thresholds[Channel.DOCUMENTARY] < policy.thresholds[Channel.PHYSICAL]


def test_hash_is_sha256_of_the_rfc8785_form() -> None:
    data = (POLICY_DIR / "eu-aeo-default.json").read_bytes()
    policy = parse_policy(data)
    expected = hashlib.sha256(rfc8785.dumps(json.loads(data))).hexdigest()
    assert policy.hash == f"sha256:{expected}"
    # Whitespace and member order do not change it; any value does.
    assert parse_policy(json.dumps(EU, indent=None, sort_keys=True).encode()) == policy
    other = copy.deepcopy(EU)
    other["thresholds"]["physical"] = 66
    assert parse_policy(json.dumps(other).encode()).hash != policy.hash
    assert policy.to_dict() == EU


def test_policy_schema_is_the_bundled_file() -> None:
    assert policy_schema()["properties"]["format"] == {"const": POLICY_FORMAT}  # type: ignore[index]


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


_DELETE = object()

BAD = [
    pytest.param(_set("format", "trustlane-risk-policy/2"), "format", id="format"),
    pytest.param(_set("thresholds.physical", 40), "thresholds", id="thresholds-not-ascending"),
    pytest.param(_set("thresholds.physical", 150), "thresholds", id="threshold-above-max"),
    pytest.param(_set("random_selection.floor", 0), "random_selection.floor", id="zero-floor"),
    pytest.param(
        _set("random_selection.floor", 0.5), "random_selection.floor", id="floor-above-rate"
    ),
    pytest.param(
        _set("random_selection.channel", "release"),
        "random_selection.channel",
        id="release-selection",
    ),
    pytest.param(
        _set("hard_rules.image_alarm_channel", "documentary"),
        "hard_rules.image_alarm_channel",
        id="light-image-rule",
    ),
    pytest.param(
        _set("benefits.reduced-examination.score_factor", 1.5),
        "benefits.reduced-examination.score_factor",
        id="benefit-raises-score",
    ),
    pytest.param(
        _set("benefits.reduced-examination.random_factor", 0),
        "benefits.reduced-examination.random_factor",
        id="benefit-zero-random",
    ),
    pytest.param(
        _set("benefits.reduced-examination.surprise", 1),
        "benefits.reduced-examination",
        id="benefit-unknown-member",
    ),
    pytest.param(_set("benefit_parties", []), "benefit_parties", id="no-benefit-parties"),
    pytest.param(_set("benefit_parties", ["carrier"]), "benefit_parties[0]", id="unknown-role"),
    pytest.param(
        _set("score.routes.rules.0.loading", "AEJE1"),
        "score.routes.rules[0].loading",
        id="bad-port",
    ),
    pytest.param(
        _set("score.hs_chapters.points.8", 5), "score.hs_chapters.points", id="bad-chapter"
    ),
    pytest.param(_set("score.origins.points.de", 5), "score.origins.points", id="bad-country"),
    pytest.param(_set("score.weights.origin", -1), "score.weights.origin", id="negative-weight"),
    pytest.param(_set("scans.clear_factor", 0), "scans.clear_factor", id="zero-clear-factor"),
    pytest.param(_set("scans", _DELETE), "", id="missing-scans"),
    pytest.param(_set("extra", True), "", id="unknown-member"),
    pytest.param(_set("description", "line\nbreak"), "description", id="control-character"),
]


@pytest.mark.parametrize(("change", "location"), BAD)
def test_bad_policies_are_refused_at_the_location(
    change: Callable[[dict[str, Any]], None], location: str
) -> None:
    doc = copy.deepcopy(EU)
    change(doc)
    with pytest.raises(RiskPolicyError) as caught:
        parse_policy(json.dumps(doc).encode())
    assert caught.value.code == "INVALID_RISK_POLICY"
    locations = [loc for loc, _ in caught.value.problems]
    assert any(loc == location for loc in locations), caught.value.problems


# Control characters are an edge rule (federation_config.risk), not the core's.
@pytest.mark.parametrize(("change", "location"), [p for p in BAD if p.id != "control-character"])
def test_the_core_refuses_them_without_the_schema(
    change: Callable[[dict[str, Any]], None], location: str
) -> None:
    # Policy.from_dict does not lean on the edge: a policy built in code is checked too.
    doc = copy.deepcopy(EU)
    change(doc)
    with pytest.raises(RiskPolicyError):
        Policy.from_dict(doc)


def test_unknown_benefit_code_is_refused_at_the_edge() -> None:
    doc = copy.deepcopy(EU)
    doc["benefits"]["free-pass"] = {"score_factor": 0.1}
    with pytest.raises(RiskPolicyError) as caught:
        parse_policy(json.dumps(doc).encode())
    assert caught.value.problems[0][0] == "benefits.free-pass"
    assert "is not an MRA benefit code" in caught.value.problems[0][1]


def test_not_json_is_refused() -> None:
    with pytest.raises(RiskPolicyError) as caught:
        parse_policy(b'{"format": 1, "format": 2}', source="p.json")
    assert caught.value.problems[0][0] == "p.json"


def _write(tmp_path: Path, doc: dict[str, Any], name: str = "policy.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2))
    return path


def test_resolve_policy_from_a_file_and_bundled(tmp_path: Path) -> None:
    path = _write(tmp_path, EU)
    assert resolve_policy(RiskPolicyRef("eu-aeo-default", "2026.1", path)) == load_policy(path)
    assert (
        resolve_policy(RiskPolicyRef("us-ctpat-default", "2026.1")).policy_id == "us-ctpat-default"
    )


@pytest.mark.parametrize(
    ("ref", "location"),
    [
        pytest.param(RiskPolicyRef("eu-aeo-default", "2027.1"), "risk.version", id="version"),
        pytest.param(RiskPolicyRef("cn-aeo-default", "2026.1"), "risk.policy_id", id="not-bundled"),
    ],
)
def test_resolve_policy_refuses_mismatches(ref: RiskPolicyRef, location: str) -> None:
    with pytest.raises(RiskPolicyError) as caught:
        resolve_policy(ref)
    assert [loc for loc, _ in caught.value.problems] == [location]


# --- trustlane config check on policy files --------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="trustlane")
    config_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["config", "check", *argv])
    try:
        code: int = args.func(args)
    except CLIError as e:
        print(f"trustlane: error: {e}", file=sys.stderr)
        code = e.exit_code
    out, err = capsys.readouterr()
    return code, out, err


def test_config_check_accepts_a_policy(capsys: pytest.CaptureFixture[str]) -> None:
    path = POLICY_DIR / "eu-aeo-default.json"
    hashed = bundled_policy("eu-aeo-default").hash
    assert run_cli(capsys, str(path)) == (
        0,
        f"ok: risk policy eu-aeo-default 2026.1 ({hashed})\n",
        "",
    )
    code, out, _ = run_cli(capsys, str(path), "--json")
    assert (code, json.loads(out)) == (
        0,
        {
            "valid": True,
            "riskPolicy": {"policyId": "eu-aeo-default", "version": "2026.1", "hash": hashed},
        },
    )


def test_config_check_reports_every_policy_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = copy.deepcopy(EU)
    doc["random_selection"]["floor"] = 0
    doc["benefits"]["free-pass"] = {}
    path = _write(tmp_path, doc)
    code, out, err = run_cli(capsys, str(path))
    assert (code, out) == (1, "")
    assert err.splitlines()[0].startswith("benefits.free-pass: is not an MRA benefit code")
    assert err.splitlines()[1].startswith("random_selection.floor: ")
    code, out, err = run_cli(capsys, str(path), "--json")
    assert (code, err) == (1, "")
    assert [p["location"] for p in json.loads(out)["problems"]] == [
        "benefits.free-pass",
        "random_selection.floor",
    ]


def test_config_check_reads_a_policy_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"\n  " + (POLICY_DIR / "jp-aeo-default.json").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = run_cli(capsys, "-")
    assert (code, out.split(" (")[0]) == (0, "ok: risk policy jp-aeo-default 2026.1")


def test_config_check_checks_the_policy_a_federation_file_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = copy.deepcopy(EU)
    bad["thresholds"]["physical"] = 10
    _write(tmp_path, bad)
    federation = tmp_path / "federation.toml"
    federation.write_text(
        '[federation]\nname = "test"\n\n[risk]\npolicy_id = "eu-aeo-default"\n'
        'version = "2026.1"\nfile = "policy.json"\n'
    )
    code, out, err = run_cli(capsys, str(federation))
    assert (code, out) == (1, "")
    assert err.startswith("risk.file: thresholds: documentary < non_intrusive < physical")
    _write(tmp_path, EU)
    assert run_cli(capsys, str(federation)) == (0, "ok: 0 peers\n", "")
    code, out, _ = run_cli(capsys, str(federation), "--json")
    assert json.loads(out)["riskPolicy"]["policyId"] == "eu-aeo-default"
    federation.write_text(federation.read_text().replace("2026.1", "2026.2"))
    code, _, err = run_cli(capsys, str(federation))
    assert (code, err) == (1, "risk.version: is '2026.2' but the policy says '2026.1'\n")
