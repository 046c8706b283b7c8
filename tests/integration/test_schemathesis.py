"""schemathesis against real node processes: no 5xx, nothing the OpenAPI document does not say.

For each backend (SQLite here, PostgreSQL in ``test_schemathesis_postgresql.py``: two files, so
that the two runs, about 80 s each, go to different test workers) a node is initialised and
served over HTTPS (``trustlane node serve``, see nodeproc.py), and ``st run`` tests the API
described by the ``/openapi.json`` it serves, with the node's admin token, every check, and the
bounded, derandomized settings of ``schemathesis.toml`` (Hypothesis ``max_examples`` per
operation and phase, ``derandomize``): examples, coverage (boundary values, missing parameters
and auth, unexpected methods and ``Allow``), fuzzing, and stateful sequences over the links
schemathesis infers. Schema-valid requests must be accepted, schema-violating ones refused, and
every response must match the document; the few refusals no JSON Schema can state are listed,
with their reasons, in ``schemathesis_hooks.py``.

The CLI runs in a subprocess (its own process, reports and settings, exactly what a developer
runs by hand; see the header of ``schemathesis.toml``); its report is the failure message.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trustme

from nodehelpers import temporary_database
from nodeproc import NodeProcess, sanitized_env

HERE = Path(__file__).resolve().parent
ST = Path(sys.executable).parent / "st"
CONFIG = HERE / "schemathesis.toml"
HOOKS = HERE / "schemathesis_hooks.py"
RUN_TIMEOUT = 240.0


def run_schemathesis(backend: str, tmp_path: Path) -> None:
    """Serve a node on ``backend`` and run ``st run`` against it; fail on any finding."""
    with (
        temporary_database(backend, tmp_path) as database_url,
        NodeProcess(tmp_path / "node") as node,
    ):
        node.init(database_url, trustme.CA())
        node.start(workers=1)
        assert node.ca_path is not None
        args = [
            str(ST),
            "--config-file",
            str(CONFIG),
            "--no-color",
            "run",
            node.url("/openapi.json"),
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {node.admin_token}",
            "--tls-verify",
            str(node.ca_path),
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path / "report"),
            # Show bodies in failures (the token is this test's own).
            "--output-sanitize",
            "false",
        ]
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            env=sanitized_env(SCHEMATHESIS_HOOKS=str(HOOKS), COLUMNS="120"),
            cwd=tmp_path,  # schemathesis writes nothing into the work tree
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert node.running, "the node died during the run:\n" + node.log_tail()
    report = done.stdout[-20_000:] + done.stderr[-5_000:]
    assert done.returncode == 0, f"st run exited {done.returncode}:\n{report}"
    assert "No issues found" in done.stdout or " passed" in done.stdout, report


def test_schemathesis_finds_no_server_error_and_no_contract_violation_sqlite(
    tmp_path: Path,
) -> None:
    run_schemathesis("sqlite", tmp_path)
