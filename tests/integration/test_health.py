"""Readiness (``GET /health``) and liveness (``GET /health/live``), on SQLite and PostgreSQL.

Readiness fails with a 503 problem naming the reason when the database schema is behind the
Alembic head (downgraded, or never stamped), when the current signing key does not load
from the key store, and when the sync scheduler stopped or has not run for several
intervals. Under TESTING the scheduler does not run, and the body says so.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text, update
from werkzeug.test import TestResponse

import node.storage
from node.api.health import SCHEDULER_PROBE
from node.app import create_app
from node.federation.scheduler import JOB_LOCK, run_sync_once
from node.services.readiness import SchedulerProbe, sync_max_age
from node.storage.health_repo import head_revisions
from node.storage.schema import job_locks
from node.wiring import NodeServices, build_services
from openapi_check import assert_matches_openapi

MIGRATIONS = Path(node.storage.__file__).parent / "migrations"


def _get(client: FlaskClient) -> tuple[int, dict[str, Any]]:
    response: TestResponse = client.get("/health")
    assert_matches_openapi(response, "get", "/health")
    body: dict[str, Any] = response.get_json(force=True)
    if response.status_code == 503:
        assert response.mimetype == "application/problem+json"
        assert body["code"] == "NOT_READY"
        for name in body["failing"]:
            assert name in body["detail"]
    return response.status_code, body


def _statuses(body: dict[str, Any]) -> dict[str, str]:
    return {name: check["status"] for name, check in body["checks"].items()}


def _downgrade(services: NodeServices, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with services.db.engine.connect() as conn:
        conn.execution_options(trustlane_write=True)
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()


def _with_scheduler(app: Flask, probe: SchedulerProbe) -> FlaskClient:
    app.extensions[SCHEDULER_PROBE] = probe
    return app.test_client()


def test_ready_node_reports_every_check(
    client: FlaskClient, node: tuple[NodeServices, str]
) -> None:
    status, body = _get(client)
    assert status == 200
    assert body["status"] == "ok" and body["did"] == node[0].identity.did
    assert _statuses(body) == {
        "database": "ok",
        "schema": "ok",
        "keystore": "ok",
        "scheduler": "disabled",
    }
    heads = sorted(head_revisions())
    assert body["checks"]["schema"]["revisions"] == body["checks"]["schema"]["heads"] == heads
    assert body["checks"]["keystore"]["kid"] == node[0].identity.current().kid
    assert "testing" in body["checks"]["scheduler"]["detail"]
    assert client.get("/health/live").status_code == 200


@pytest.mark.parametrize("how", ["downgrade", "unstamped"])
def test_schema_behind_head_is_not_ready(
    client: FlaskClient, node: tuple[NodeServices, str], how: str
) -> None:
    services = node[0]
    [head] = head_revisions()
    if how == "downgrade":
        _downgrade(services, "-1")
    else:
        with services.db.write() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
    status, body = _get(client)
    assert status == 503
    assert body["failing"] == ["schema"]
    schema = body["checks"]["schema"]
    assert schema["status"] == "failed" and schema["heads"] == [head]
    if how == "downgrade":
        assert schema["revisions"] == [f"{int(head) - 1:04d}"]
        assert f"revision {int(head) - 1:04d}" in body["detail"]
    else:
        assert schema["revisions"] == []
        assert "never migrated" in body["detail"]
    assert _statuses(body)["database"] == "ok"
    # Liveness does not look at the database.
    assert client.get("/health/live").status_code == 200


def test_key_store_that_cannot_load_the_current_key_is_not_ready(
    node: tuple[NodeServices, str],
) -> None:
    services = node[0]
    kid = services.identity.current().kid
    # A worker that has not loaded the key yet (its own key store, nothing cached), whose
    # key file is gone: e.g. a replica whose keys/ lacks a rotated key.
    fresh = build_services(services.settings, {})
    try:
        assert fresh.settings.keystore_dir is not None
        (fresh.settings.keystore_dir / f"{kid}.key").unlink()
        client = create_app(fresh, testing=True).test_client()
        status, body = _get(client)
        assert status == 503
        assert body["failing"] == ["keystore"]
        assert body["checks"]["keystore"] == {
            "status": "failed",
            "detail": "the current signing key cannot be loaded from the key store",
        }
        assert str(fresh.settings.data_dir) not in str(body)  # public: no paths
        assert _statuses(body)["schema"] == "ok"
    finally:
        fresh.db.dispose()


def test_damaged_key_file_is_not_ready(node: tuple[NodeServices, str]) -> None:
    services = node[0]
    kid = services.identity.current().kid
    fresh = build_services(services.settings, {})
    try:
        assert fresh.settings.keystore_dir is not None
        path = fresh.settings.keystore_dir / f"{kid}.key"
        path.write_text(path.read_text(encoding="utf-8").replace('"kid"', '"kid_"'), "utf-8")
        status, body = _get(create_app(fresh, testing=True).test_client())
        assert status == 503 and body["failing"] == ["keystore"]
    finally:
        fresh.db.dispose()


# -- the sync scheduler -------------------------------------------------------------------------


def _run_sync(services: NodeServices) -> None:
    interval = timedelta(seconds=services.federation.sync.interval_seconds)
    run_sync_once(
        services.db, services.sync, now=datetime.now(UTC), interval=interval, owner="test"
    )


def _max_age(services: NodeServices) -> timedelta:
    sync = services.federation.sync
    return sync_max_age(
        timedelta(seconds=sync.interval_seconds), timedelta(seconds=sync.jitter_seconds)
    )


def test_scheduler_that_just_started_is_ready(app: Flask, node: tuple[NodeServices, str]) -> None:
    client = _with_scheduler(app, SchedulerProbe(lambda: True))
    status, body = _get(client)
    assert status == 200
    assert body["checks"]["scheduler"]["status"] == "starting"
    assert "lockedUntil" not in body["checks"]["scheduler"]
    _run_sync(node[0])
    status, body = _get(client)
    assert status == 200
    scheduler = body["checks"]["scheduler"]
    assert scheduler["status"] == "ok" and "lockedUntil" in scheduler
    assert scheduler["maxAgeSeconds"] == int(_max_age(node[0]).total_seconds())


def test_scheduler_that_never_ran_is_not_ready(app: Flask) -> None:
    started_long_ago = time.monotonic() - 24 * 3600
    client = _with_scheduler(app, SchedulerProbe(lambda: True, started=started_long_ago))
    status, body = _get(client)
    assert status == 503
    assert body["failing"] == ["scheduler"]
    assert body["checks"]["scheduler"]["detail"] == "no sync round has ever run"


def test_scheduler_that_stopped_running_rounds_is_not_ready(
    app: Flask, node: tuple[NodeServices, str]
) -> None:
    services = node[0]
    started_long_ago = time.monotonic() - 24 * 3600
    client = _with_scheduler(app, SchedulerProbe(lambda: True, started=started_long_ago))
    _run_sync(services)
    assert _get(client)[0] == 200  # a round just ran
    # The newest round's lock expired longer ago than the limit allows.
    stale = datetime.now(UTC) - _max_age(services) - timedelta(minutes=5)
    with services.db.write() as conn:
        conn.execute(
            update(job_locks).where(job_locks.c.name == JOB_LOCK).values(locked_until=stale)
        )
    status, body = _get(client)
    assert status == 503
    assert body["failing"] == ["scheduler"]
    seconds = int(_max_age(services).total_seconds())
    assert body["checks"]["scheduler"]["detail"] == f"no sync round ran in the last {seconds} s"


def test_stopped_scheduler_is_not_ready(app: Flask) -> None:
    client = _with_scheduler(app, SchedulerProbe(lambda: False))
    status, body = _get(client)
    assert status == 503
    assert body["failing"] == ["scheduler"]
    assert "stopped" in body["checks"]["scheduler"]["detail"]


def test_app_with_jobs_records_its_scheduler(node: tuple[NodeServices, str]) -> None:
    app = create_app(node[0], start_jobs=True)
    scheduler = app.extensions["trustlane-scheduler"]
    try:
        probe = app.extensions[SCHEDULER_PROBE]
        assert isinstance(probe, SchedulerProbe) and probe.is_running()
        status, body = _get(app.test_client())
        assert status == 200
        assert body["checks"]["scheduler"]["status"] in {"starting", "ok"}
    finally:
        scheduler.shutdown(wait=True)
    assert not probe.is_running()
    status, body = _get(app.test_client())
    assert status == 503 and body["failing"] == ["scheduler"]
