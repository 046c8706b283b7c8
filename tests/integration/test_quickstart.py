"""docs/quickstart.md, run as a new engineer would: every ``sh`` block of the page, in order.

The blocks are extracted from the page itself (never copied here) and run as one
``bash -euo pipefail`` script in a temporary directory, with the project's ``trustlane`` on
``PATH``, two free loopback ports in ``EU_PORT``/``US_PORT`` (the page's defaults are
8443/9443) and no ``TRUSTLANE_*`` overrides. Then the outcomes the page promises are
checked: exit 0, the credential verified at US with the agreement's benefits, then refused
as revoked, and both nodes stopped by the page's last block.

The background nodes never outlive the test: the script traps EXIT to kill its jobs, and
the test kills the script's whole process group (its own session) when it ends or times out.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nodeproc import die_with_parent, free_port, is_listening, sanitized_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "quickstart.md"
VENV_BIN = Path(sys.executable).parent
RUN_TIMEOUT = 240.0  # seconds; the walkthrough takes 30-40 s on an idle machine
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

# Harness only (not part of the page): whatever happens, stop the nodes the page started.
PROLOGUE = """\
trap 'kill $(jobs -p) 2>/dev/null || true; wait || true' EXIT
"""


def sh_blocks(markdown: str) -> list[str]:
    """The ``sh`` fenced code blocks of a Markdown page, in order."""
    return [match.group(1) for match in SH_BLOCK.finditer(markdown)]


def quickstart_script() -> str:
    """The page's ``sh`` blocks as one script, each announced on stderr for diagnostics."""
    blocks = sh_blocks(PAGE.read_text(encoding="utf-8"))
    parts = [PROLOGUE]
    for number, block in enumerate(blocks, start=1):
        parts.append(f'echo "--- quickstart block {number} at $(date +%T.%N)" >&2\n{block}')
    return "\n".join(parts)


def quickstart_env(eu_port: int, us_port: int) -> dict[str, str]:
    """The environment the page runs in: no TRUSTLANE_* overrides, no proxies."""
    env = sanitized_env(
        EU_PORT=str(eu_port),
        US_PORT=str(us_port),
        EXAMPLES=str(ROOT / "examples"),
    )
    for name in ("http_proxy", "https_proxy", "all_proxy", "WORK"):
        env.pop(name, None)
        env.pop(name.upper(), None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_page(tmp_path: Path, eu_port: int, us_port: int) -> tuple[int, str]:
    """Run the page's script in ``tmp_path``; return its exit code and combined output."""
    script = tmp_path / "quickstart.sh"
    script.write_text(quickstart_script(), encoding="utf-8")
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", str(script)],
        cwd=tmp_path,
        env=quickstart_env(eu_port, us_port),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=die_with_parent,  # only prctl: safe after fork
    )
    try:
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=10)
        pytest.fail(f"the quickstart did not finish within {RUN_TIMEOUT} s:\n{output[-6000:]}")
    finally:
        # The script and every node it started share its process group.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return proc.returncode, output


def test_page_is_a_walkthrough_of_the_real_commands() -> None:
    """The blocks cover every step the issue asks for, with the real options."""
    page = PAGE.read_text(encoding="utf-8")
    # Every command is in an `sh` block: no other shell fence that the test would not run.
    assert not re.search(r"^```(bash|shell|console)\b", page, re.MULTILINE)
    script = "\n".join(sh_blocks(page))
    for step in (
        "${EU_PORT:-8443}",
        "${US_PORT:-9443}",
        "trustlane node init ",
        "--tls self-signed",
        "trustlane node show ",
        "trustlane registry peer add ",
        "--ca-bundle ",
        "trustlane node serve ",
        "trustlane registry sync ",
        "trustlane registry mra propose ",
        "--recognitions ",
        "trustlane registry mra countersign ",
        "trustlane aeo issue ",
        "/credentials/verify",
        "/credentials/status",
        'kill "$EU_PID" "$US_PID"',
    ):
        assert step in script, f"docs/quickstart.md has no sh block with {step!r}"


def test_quickstart_runs_and_us_sees_benefits_then_the_revocation(tmp_path: Path) -> None:
    eu_port, us_port = free_port(), free_port()
    while us_port == eu_port:
        us_port = free_port()
    code, output = run_page(tmp_path, eu_port, us_port)
    assert code == 0, f"the quickstart failed ({code}):\n{output[-6000:]}"

    granted = output.find("verified: true")
    assert granted >= 0, output[-6000:]
    after_grant = output[granted:]
    assert re.search(r"^  recognition pass ", after_grant, re.MULTILINE), after_grant
    assert "benefits: priority-processing, reduced-examination" in after_grant, after_grant

    refused = output.find("verified: false", granted)
    assert refused > granted, output[-6000:]
    after_refusal = output[refused:]
    assert re.search(r"^  status fail .*REVOKED", after_refusal, re.MULTILINE), after_refusal
    assert "benefits: none" in after_refusal, after_refusal

    # The page's last block stopped both nodes.
    assert not is_listening(eu_port)
    assert not is_listening(us_port)
    work = tmp_path / "trustlane-pilot"
    assert (work / "eu" / "tls" / "ca-bundle.pem").is_file()
    assert (work / "mra-recognitions.json").is_file()
