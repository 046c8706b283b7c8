"""Fixtures for storage, API and process tests on SQLite and PostgreSQL.

PostgreSQL runs at 127.0.0.1:5432 (trust auth, user postgres). Each test that asks for it
gets a fresh database, dropped afterwards. Set TRUSTLANE_TEST_PG_URL to use another server
(an admin URL to its ``postgres`` database).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.pwhash
import pytest
from flask import Flask
from flask.testing import FlaskClient

from federation_config.settings import NodeSettings
from node.app import create_app
from node.storage.db import Database
from node.wiring import NodeServices, init_node
from nodehelpers import close_services, temporary_database

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    with temporary_database("postgresql", tmp_path) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each storage/API test runs once on SQLite and once on PostgreSQL."""
    with temporary_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database on each backend (no node: storage-level tests)."""
    database = Database(database_url)
    try:
        database.migrate()
        yield database
    finally:
        database.dispose()


NodeFactory = Callable[..., tuple[NodeServices, str]]


@pytest.fixture
def make_node(tmp_path: Path, database_url: str) -> Iterator[NodeFactory]:
    """Create initialised nodes (services + admin token) in temporary directories."""
    made: list[NodeServices] = []

    def factory(
        name: str = "EU customs",
        base_url: str = "http://127.0.0.1:18443",
        *,
        db_url: str | None = None,
        now: datetime | None = None,
        **settings: Any,
    ) -> tuple[NodeServices, str]:
        data_dir = tmp_path / f"node-{len(made)}"
        node_settings = NodeSettings(
            name=name,
            base_url=base_url,
            data_dir=data_dir,
            database_url=db_url or database_url,
            **settings,
        )
        services, token = init_node(
            node_settings,
            {},
            now=now or datetime.now(UTC),
            keystore_opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
            keystore_memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
        )
        made.append(services)
        return services, token

    yield factory
    close_services(*made)


@pytest.fixture
def node(make_node: NodeFactory) -> tuple[NodeServices, str]:
    """One initialised node and its admin token."""
    return make_node()


@pytest.fixture
def app(node: tuple[NodeServices, str]) -> Flask:
    return create_app(node[0], testing=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def admin_headers(node: tuple[NodeServices, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {node[1]}"}
