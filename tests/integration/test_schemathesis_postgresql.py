"""schemathesis against a node on PostgreSQL (see test_schemathesis.py; its own file so that
it runs on another test worker than the SQLite run)."""

from __future__ import annotations

from pathlib import Path

from test_schemathesis import run_schemathesis


def test_schemathesis_finds_no_server_error_and_no_contract_violation_postgresql(
    tmp_path: Path,
) -> None:
    run_schemathesis("postgresql", tmp_path)
