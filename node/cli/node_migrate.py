"""``trustlane node migrate``: bring a node's database schema to this version's Alembic head.

``node init`` migrates the database it creates; this command upgrades an existing node's
database after an upgrade of trustlane (the container entrypoint's ``migrate`` mode and
``TRUSTLANE_MIGRATE_ON_START`` run it). It is idempotent: a database at the head is left
alone. It never downgrades: a database at a revision this version does not know is refused.
It needs no key store passphrase: only the database URL is read from ``node.toml``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from credentials.errors import TrustlaneError
from federation_config.loader import load
from node.cli._io import EXIT_FAILED, EXIT_OK, fail, print_json
from node.storage.db import Database

__all__ = ["register_migrate"]

_MIGRATIONS = Path(__file__).resolve().parent.parent / "storage" / "migrations"


def register_migrate(node_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``node migrate`` to the ``node`` command group."""
    migrate = node_sub.add_parser(
        "migrate", help="upgrade the database schema to this version's newest migration"
    )
    migrate.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    migrate.add_argument(
        "--database-url",
        help="SQLAlchemy URL to migrate instead of the one in the data directory's node.toml",
    )
    migrate.add_argument("--json", action="store_true", help='print {"from", "to", "changed"}')
    migrate.set_defaults(func=_migrate)


def _database_url(args: argparse.Namespace) -> str:
    if args.database_url:
        url: str = args.database_url
        return url
    data_dir = args.data_dir or os.environ.get("TRUSTLANE_DATA_DIR")
    if not data_dir:
        fail("no database named: pass --data-dir, set TRUSTLANE_DATA_DIR or pass --database-url")
    try:
        return load(Path(data_dir), os.environ).database_url
    except TrustlaneError as e:
        fail(e.diagnostics())


def _current_revision(database: Database) -> str | None:
    try:
        with database.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as e:
        fail(
            f"cannot read the schema revision: {type(e).__name__}: check the database URL "
            "and that the database server is running"
        )


def _migrate(args: argparse.Namespace) -> int:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        database = Database(_database_url(args))
    except TrustlaneError as e:
        fail(f"{e.diagnostics()}: check --database-url or [database] url in node.toml")
    try:
        before = _current_revision(database)
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        if before is not None and before not in known:
            fail(
                f"the database is at revision {before}, which this version does not know "
                f"(its newest is {head}): run the trustlane version that wrote it, or restore "
                "a backup made before that upgrade",
                EXIT_FAILED,
            )
        if before != head:
            try:
                database.migrate()
            except TrustlaneError as e:
                fail(
                    f"{e.diagnostics()}: fix the cause and run `trustlane node migrate` again",
                    EXIT_FAILED,
                )
        after = _current_revision(database)
    finally:
        database.dispose()
    if args.json:
        print_json({"from": before, "to": after, "changed": before != after})
    elif before == after:
        print(f"database schema already at {after} (the newest of this version)")
    else:
        print(f"database schema upgraded from {before or 'empty'} to {after}")
    return EXIT_OK
