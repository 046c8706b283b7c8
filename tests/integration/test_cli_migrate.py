"""`trustlane node migrate`: upgrade to the Alembic head, idempotently (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from conftest import NodeFactory
from node.cli import main

MIGRATIONS = Path(__file__).resolve().parents[2] / "node" / "storage" / "migrations"
# The newest revision, read from the file names (not from the code under test).
HEAD = sorted(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))[-1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return None if value is None else str(value)
    finally:
        engine.dispose()


def upgrade_to(url: str, target: str) -> None:
    """Put an empty database at an older revision, as an older trustlane left it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, target)
            conn.commit()
    finally:
        engine.dispose()


def test_an_empty_database_is_brought_to_the_head_once(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "node", "migrate", "--database-url", database_url, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {"from": None, "to": HEAD, "changed": True}
    assert revision(database_url) == HEAD
    # Idempotent: the second run changes nothing and says so.
    code, out, _ = run(capsys, "node", "migrate", "--database-url", database_url, "--json")
    assert code == 0
    assert json.loads(out) == {"from": HEAD, "to": HEAD, "changed": False}
    code, out, _ = run(capsys, "node", "migrate", "--database-url", database_url)
    assert code == 0 and out == f"database schema already at {HEAD} (the newest of this version)\n"


def test_an_older_schema_is_upgraded_keeping_its_rows(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade_to(database_url, "0005")
    assert revision(database_url) == "0005"
    code, out, err = run(capsys, "node", "migrate", "--database-url", database_url)
    assert code == 0, err
    assert out == f"database schema upgraded from 0005 to {HEAD}\n"
    assert revision(database_url) == HEAD


def test_the_data_dir_names_the_database(
    make_node: NodeFactory,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    services, _ = make_node()
    data_dir = str(services.settings.data_dir)
    # No key store passphrase needed: only the database URL is read.
    monkeypatch.delenv("TRUSTLANE_KEYSTORE_PASSPHRASE", raising=False)
    code, out, err = run(capsys, "node", "migrate", "--data-dir", data_dir, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {"from": HEAD, "to": HEAD, "changed": False}
    monkeypatch.setenv("TRUSTLANE_DATA_DIR", data_dir)
    code, out, _ = run(capsys, "node", "migrate", "--json")
    assert code == 0 and json.loads(out)["to"] == HEAD


def test_a_database_newer_than_this_version_is_refused(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade_to(database_url, "head")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    code, out, err = run(capsys, "node", "migrate", "--database-url", database_url, "--json")
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert "revision 9999, which this version does not know" in err
    assert "restore a backup" in err
    assert revision(database_url) == "9999", "never downgraded or rewritten"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            (), "pass --data-dir, set TRUSTLANE_DATA_DIR or pass --database-url", id="none"
        ),
        pytest.param(
            ("--data-dir", "{tmp}/absent"), "run 'trustlane node init' first", id="no-node"
        ),
        pytest.param(
            ("--database-url", "nosuchdriver://x"), "check --database-url", id="bad-driver"
        ),
        pytest.param(
            ("--database-url", "postgresql+psycopg://postgres@127.0.0.1:1/none"),
            "database server is running",
            id="unreachable",
        ),
    ],
)
def test_bad_targets_get_one_line_and_exit_2(
    argv: tuple[str, ...],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("TRUSTLANE_DATA_DIR", raising=False)
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = run(capsys, "node", "migrate", *args)
    assert code == 2 and out == ""
    assert err.startswith("trustlane: error: ") and err.count("\n") == 1
    assert expected in err
