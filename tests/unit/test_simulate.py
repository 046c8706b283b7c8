"""``trustlane simulate`` and :mod:`risk.simulation`: reproducible, same budget, clean errors."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from federation_config.risk import bundled_policy
from node.cli import main, simulate_cmd
from node.cli._io import CLIError
from risk.simulation import MODES, SEGMENTS, SimulationConfig, run_simulation
from risk.simulation._stats import mean_ci

SMALL = ("--declarations", "300", "--seeds", "2", "--seed", "5")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="trustlane")
    simulate_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["simulate", *argv])
    try:
        code: int = args.func(args)
    except CLIError as e:
        print(f"trustlane: error: {e}", file=sys.stderr)
        code = e.exit_code
    out, err = capsys.readouterr()
    return code, out, err


def test_same_seed_gives_byte_identical_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, *SMALL, "--out", str(tmp_path))
    assert (code, err) == (0, "")
    assert f"wrote {tmp_path / 'summary.json'}" in out
    # Run again in-process: the same bytes (no timestamps, no durations, sorted keys).
    config = SimulationConfig(declarations=300, seeds=2, seed=5)
    again = run_simulation(config, bundled_policy("eu-aeo-default")).summary
    assert (tmp_path / "summary.json").read_text() == simulate_cmd.summary_json(again)
    for name in ("physical-rate.png", "detection.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["parameters"]["seed"] == 5 and len(summary["per_seed"]) == 2
    assert set(summary["claims"]) == {
        "recognised_physical_rate_at_most_20pct_of_non_aeo",
        "detected_share_not_lower_with_recognition",
    }
    text = (tmp_path / "summary.json").read_text()
    assert "time" not in text and "duration" not in text
    rows = list(csv.DictReader((tmp_path / "results.csv").read_text().splitlines()))
    assert len(rows) == 2 * len(SEGMENTS) * len(MODES)
    assert {r["run"] for r in rows} == set(MODES)


def test_json_output_is_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, *SMALL, "--json")
    assert code == 0
    config = SimulationConfig(declarations=300, seeds=2, seed=5)
    assert out == simulate_cmd.summary_json(
        run_simulation(config, bundled_policy("eu-aeo-default")).summary
    )


def test_a_different_seed_gives_a_different_flow() -> None:
    policy = bundled_policy("eu-aeo-default")
    one = run_simulation(SimulationConfig(declarations=300, seed=1), policy).summary
    two = run_simulation(SimulationConfig(declarations=300, seed=2), policy).summary
    assert one["per_seed"] != two["per_seed"]


def test_both_runs_spend_the_same_budget() -> None:
    config = SimulationConfig(declarations=1000, seed=3, budget=0.1)
    summary = run_simulation(config, bundled_policy("eu-aeo-default")).summary
    [seed] = summary["per_seed"]
    segments = seed["segments"]
    assert sum(segments[g]["consignments"] for g in SEGMENTS) == 1000
    for mode in MODES:
        assert seed["mandatory"][mode] <= seed["capacity"] == 100
        assert sum(segments[g][mode]["examined"] for g in SEGMENTS) == 100
    # Recognition moves examinations away from recognised traders, not the total.
    saved = summary["results"]["examinations_saved"]
    assert saved["aeo-recognised"]["mean"] > 0
    assert sum(saved[g]["mean"] for g in SEGMENTS) == 0


def test_progress_is_shown_for_long_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Short runs print none (the other tests check stderr is empty), and neither does a long
    # run whose stderr is not a terminal, unless --progress asks for it.
    monkeypatch.setattr(simulate_cmd, "_PROGRESS_FROM", 1000)
    code, _, err = run_cli(capsys, *SMALL)
    assert (code, err) == (0, "")
    code, _, err = run_cli(capsys, *SMALL, "--progress")
    assert code == 0
    lines = err.splitlines()
    assert lines[-1] == "simulate: 100 % (1,200/1,200 decisions)"
    assert all(line.startswith("simulate: ") for line in lines)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ("--declarations", "many"), "--declarations: an integer is required", id="nan-count"
        ),
        pytest.param(
            ("--declarations", "5"), "--declarations must be between 100 and", id="too-few"
        ),
        pytest.param(("--seeds", "0"), "--seeds must be between 1 and 1000", id="no-seeds"),
        pytest.param(("--aeo-share", "1.5"), "--aeo-share must be between 0 and 1", id="share"),
        pytest.param(("--budget", "-0.1"), "--budget must be between 0 and 1", id="budget"),
        pytest.param(("--illicit-rate", "nan"), "--illicit-rate must be between", id="nan-rate"),
        pytest.param(
            ("--illicit-rate", "x"), "--illicit-rate: a number is required", id="text-rate"
        ),
        pytest.param(("--policy", "/nonexistent/policy.json"), "cannot read", id="no-policy"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert err.startswith("trustlane: error: ") and message in err


def test_an_unwritable_output_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli(capsys, *SMALL, "--out", str(blocker / "sub"))
    assert code == 2
    assert err.startswith(f"trustlane: error: {blocker / 'sub'}: cannot write")


def test_the_command_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["simulate", "--help"])
    assert caught.value.code == 0
    assert "--aeo-share" in capsys.readouterr().out


def test_confidence_interval_uses_student_t() -> None:
    stats: dict[str, Any] = mean_ci([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, s = 1.290994, t(0.975, 3) = 3.182: half-width 2.054
    assert stats == {"mean": 2.5, "ci95_low": 0.446, "ci95_high": 4.554, "n": 4} or (
        abs(stats["ci95_low"] - 0.4459) < 1e-3 and abs(stats["ci95_high"] - 4.5541) < 1e-3
    )
    assert mean_ci([None, 0.5])["n"] == 1
    assert mean_ci([])["mean"] is None
