"""Readiness of a node (``GET /health``): can this worker serve, and is the deployment healthy.

Four checks, each ``ok``, ``failed``, ``disabled``, ``starting`` or ``unknown`` (not checked
because another check failed first), with a detail meant for operators that never names
internals such as paths, hosts or exception texts (``/health`` is public):

- ``database``: a read transaction runs;
- ``schema``: the database is at the Alembic head revision(s) of this code's migrations;
- ``keystore``: the current signing key loads from the key store;
- ``scheduler``: the federation sync job runs in this worker, and a sync round ran recently
  somewhere in the deployment: the ``job_locks`` row of the job, taken for most of one
  interval in database time by every round, expired at most :func:`sync_max_age` ago. A
  worker that started its scheduler less than that ago is ``starting`` until the first round.
  Where the scheduler does not run (tests, or an app built without jobs) it is ``disabled``.

The node is ready when every check is ``ok``, ``disabled`` or ``starting``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from credentials.datetimes import format_datetime
from credentials.strict_json import JSONObject, JSONValue
from node.federation.scheduler import JOB_LOCK
from node.keystore import KeyStoreError
from node.services.identity import NodeIdentity
from node.storage import health_repo
from node.storage.db import Database, StorageError

__all__ = [
    "CHECKS",
    "MIN_SYNC_MAX_AGE",
    "READY_STATES",
    "STALE_AFTER_PERIODS",
    "CheckResult",
    "Readiness",
    "SchedulerProbe",
    "check_readiness",
    "sync_max_age",
]

log = logging.getLogger("trustlane.health")

CHECKS = ("database", "schema", "keystore", "scheduler")
READY_STATES = frozenset({"ok", "disabled", "starting"})
#: A sync round is overdue after this many sync periods (interval + jitter) without one...
STALE_AFTER_PERIODS = 3
#: ...but never sooner than this, so that a very short test interval does not flap.
MIN_SYNC_MAX_AGE = timedelta(seconds=30)


def sync_max_age(interval: timedelta, jitter: timedelta) -> timedelta:
    """How long after the newest sync round's lock expired the scheduler counts as stalled."""
    return max(STALE_AFTER_PERIODS * (interval + jitter), MIN_SYNC_MAX_AGE)


@dataclass(frozen=True)
class SchedulerProbe:
    """This worker's sync scheduler, as readiness sees it.

    Attributes:
        is_running: Tells whether the scheduler still runs (its thread has not stopped).
        started: ``time.monotonic()`` when it was started.
    """

    is_running: Callable[[], bool]
    started: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one readiness check."""

    status: str
    detail: str
    extra: JSONObject = field(default_factory=dict)

    def to_json(self) -> JSONObject:
        """``{"status", "detail", ...extra}``."""
        return {"status": self.status, "detail": self.detail, **self.extra}


@dataclass(frozen=True)
class Readiness:
    """Every check, by name, in :data:`CHECKS` order."""

    checks: dict[str, CheckResult]

    @property
    def ready(self) -> bool:
        """True when every check is ``ok``, ``disabled`` or ``starting``."""
        return not self.failing

    @property
    def failing(self) -> list[str]:
        """The names of the checks that keep the node from being ready."""
        return [name for name, c in self.checks.items() if c.status not in READY_STATES]

    def summary(self) -> str:
        """One line naming each failing check and why."""
        return "; ".join(f"{name}: {self.checks[name].detail}" for name in self.failing)

    def checks_json(self) -> JSONObject:
        """The checks as a JSON object."""
        return {name: c.to_json() for name, c in self.checks.items()}


def _sorted(values: frozenset[str]) -> list[JSONValue]:
    return [*sorted(values)]


def _database_and_schema(db: Database) -> tuple[CheckResult, CheckResult]:
    try:
        with db.read() as conn:
            current = health_repo.current_revisions(conn)
    except StorageError as e:
        log.warning("readiness: database: %s", e.diagnostics())
        return (
            CheckResult("failed", "the database cannot be used"),
            CheckResult("unknown", "not checked: the database cannot be used"),
        )
    heads = health_repo.head_revisions()
    revisions: JSONObject = {"revisions": _sorted(current), "heads": _sorted(heads)}
    database = CheckResult("ok", "the database answers")
    if current == heads:
        return database, CheckResult("ok", "the database schema is at head", revisions)
    shown = ", ".join(sorted(current)) or "none (never migrated)"
    wanted = ", ".join(sorted(heads))
    detail = f"the database schema is at revision {shown}; this node needs {wanted}"
    return database, CheckResult("failed", detail, revisions)


def _keystore(identity: NodeIdentity) -> CheckResult:
    try:
        kid = identity.current().kid
    except KeyStoreError as e:
        log.warning("readiness: key store: %s", e.diagnostics())
        return CheckResult("failed", "the current signing key cannot be loaded from the key store")
    except RuntimeError:
        return CheckResult("failed", "the node has no current signing key")
    except StorageError:
        return CheckResult("unknown", "not checked: the database cannot be used")
    return CheckResult("ok", "the current signing key loads", {"kid": kid})


def _scheduler(
    db: Database,
    probe: SchedulerProbe | None,
    disabled_reason: str,
    *,
    interval: timedelta,
    jitter: timedelta,
    schema_ok: bool,
) -> CheckResult:
    if probe is None:
        return CheckResult("disabled", f"the sync scheduler does not run here ({disabled_reason})")
    max_age = sync_max_age(interval, jitter)
    extra: dict[str, JSONValue] = {
        "intervalSeconds": int(interval.total_seconds()),
        "maxAgeSeconds": int(max_age.total_seconds()),
    }
    if not probe.is_running():
        return CheckResult("failed", "the sync scheduler of this worker has stopped", extra)
    if not schema_ok:
        return CheckResult("unknown", "not checked: the database schema is not at head", extra)
    try:
        with db.read() as conn:
            until = health_repo.job_lock_until(conn, JOB_LOCK)
            now = health_repo.database_now(conn)
    except StorageError as e:
        log.warning("readiness: scheduler: %s", e.diagnostics())
        return CheckResult("failed", "the sync job lock cannot be read", extra)
    if until is not None:
        extra["lockedUntil"] = format_datetime(until)
        if now - until <= max_age:
            return CheckResult("ok", "a sync round ran recently", extra)
    seconds = int(max_age.total_seconds())
    if time.monotonic() - probe.started <= max_age.total_seconds():
        return CheckResult("starting", "the first sync round since this worker started", extra)
    if until is None:
        return CheckResult("failed", "no sync round has ever run", extra)
    return CheckResult("failed", f"no sync round ran in the last {seconds} s", extra)


def check_readiness(
    *,
    db: Database,
    identity: NodeIdentity,
    sync_interval: timedelta,
    sync_jitter: timedelta,
    scheduler: SchedulerProbe | None,
    scheduler_disabled_reason: str = "not started in this worker",
) -> Readiness:
    """Run every readiness check.

    Args:
        db: The node's database.
        identity: The node's keys.
        sync_interval: The configured sync interval.
        sync_jitter: The configured sync jitter.
        scheduler: This worker's sync scheduler, or None where it does not run.
        scheduler_disabled_reason: Why it does not run (shown when ``scheduler`` is None).

    Returns:
        The outcome of each check.
    """
    database, schema = _database_and_schema(db)
    checks = {
        "database": database,
        "schema": schema,
        "keystore": _keystore(identity),
        "scheduler": _scheduler(
            db,
            scheduler,
            scheduler_disabled_reason,
            interval=sync_interval,
            jitter=sync_jitter,
            schema_ok=schema.status == "ok",
        ),
    }
    return Readiness(checks)
