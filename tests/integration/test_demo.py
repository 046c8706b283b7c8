"""``trustlane demo`` (what ``make demo`` runs): three real nodes, the whole story, exit 0.

The demo is the product's main job; this runs it as a user does, in a child process, and
checks its JSON summary: every step ok, the figures present. It also checks that the
command refuses a data folder that is not empty, in one line, before starting anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nodeproc import sanitized_env

pytestmark = pytest.mark.slow

STEPS = [
    "nodes",
    "agreements",
    "credential",
    "scans",
    "risk decision",
    "replay",
    "no agreement",
    "revocation",
    "audit",
]


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", "demo", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=sanitized_env(),
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_the_demo_walks_the_whole_story(tmp_path: Path) -> None:
    done = _demo("--json", "--data-dir", str(tmp_path / "fed"))
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["ok"] is True
    assert [s["step"] for s in summary["steps"]] == STEPS
    assert all(s["ok"] for s in summary["steps"]), summary
    steps = {s["step"]: s for s in summary["steps"]}
    assert steps["replay"]["detail"].startswith("refused: CHALLENGE_USED")
    # Release, unless the random floor (which benefits never remove) drew this declaration.
    decision = steps["risk decision"]["detail"]
    assert decision.startswith("release") or "selected at random" in decision, decision
    assert "reduced-examination" in steps["risk decision"]["detail"]
    assert 0 < steps["revocation"]["propagationMs"] < 30_000
    assert "not a peer of this node" in steps["no agreement"]["detail"]
    # The narration went to stderr, so stdout stays one JSON document.
    assert "== The trader presents at the Port of Los Angeles" in done.stderr
    # The narrated channel is the decision's: RELEASE, or whatever the random floor drew.
    channel = "RELEASE" if decision.startswith("release") else ""
    assert "wallet received" in done.stderr and f"US risk core: {channel}" in done.stderr
    # No node outlived the command.
    for code in ("eu", "us", "jp"):
        log = (tmp_path / "fed" / code / "serve.log").read_text()
        assert "Shutting down" in log or "Handling signal" in log, log[-500:]


def test_the_demo_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("keep me")
    done = _demo("--data-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not empty" in done.stderr, done.stderr
    assert (tmp_path / "something").read_text() == "keep me"
