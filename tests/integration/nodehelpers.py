"""Helpers for node integration tests."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

import node.storage
from node.storage.db import Database
from node.wiring import NodeServices

# An admin URL to the PostgreSQL server the tests use (each test gets its own database).
PG_ADMIN_URL = os.environ.get(
    "TRUSTLANE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def temporary_database(backend: str, directory: Path, name: str = "node.db") -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file in ``directory``, or a PostgreSQL
    database created for the caller and dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / name}"
        return
    database = f"trustlane_test_{secrets.token_hex(6)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


MIGRATIONS = Path(node.storage.__file__).parent / "migrations"


def run_alembic(db: Database, action: str, revision: str) -> None:
    """Run ``alembic ACTION REVISION`` (``upgrade``/``downgrade``) on ``db``, committed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.connect() as conn:
        conn.execution_options(trustlane_write=True)
        config.attributes["connection"] = conn
        getattr(command, action)(config, revision)
        conn.commit()


def close_services(*nodes: NodeServices) -> None:
    """Shut in-process nodes down: every node's pushes, then refetches, then databases.

    A push or refetch still running after ``db.dispose()`` would open a new connection that
    nothing closes (a ResourceWarning in a later test). Nodes that talk to each other through
    the simulator must be closed together: a partner's refetch still running reads this
    node's database through this node's app.
    """
    for services in nodes:
        services.push.close()  # pushes in flight end (they may queue refetches)
    for services in nodes:
        services.refetch.stop()  # nothing new starts
    for services in nodes:
        services.refetch.drain(5.0)  # the fetches in flight end (bounded)
    for services in nodes:
        services.db.dispose()


def aeo_subject(
    holder: str = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
) -> dict[str, Any]:
    """A valid EU AEOF subject."""
    return {
        "id": holder,
        "legalName": "Beispiel Logistik GmbH",
        "identifiers": [
            {"scheme": "EORI", "value": "DE123456789012345"},
            {"scheme": "MID", "value": "DEBEILOG1234HAM"},
        ],
        "country": "DE",
        "authorisationNumber": "DEAEOF0000012345",
        "programme": "EU-AEO",
        "level": "AEOF",
        "roles": ["exporter", "importer"],
        "reassessmentDate": "2028-06-30T00:00:00Z",
    }
