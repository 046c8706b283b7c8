"""Scheduled federation sync: one run per interval across every worker and replica.

Each worker runs an APScheduler job every ``interval ± jitter`` seconds; the job first takes
a database lock (``job_locks``) valid for most of an interval, so only one worker in the
whole deployment syncs per interval. The lock is taken and expires under the database's
clock, never a worker's, so replicas with skewed clocks still run once per interval.
Failures back off per peer and resource (recorded in ``sync_health``). The job is a plain
function, testable without the scheduler.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from credentials.errors import TrustlaneError
from node.federation.agreements import AgreementService
from node.federation.cosigning import Cosigning
from node.federation.rotation import KeyRotation
from node.federation.sync import PeerSync, SyncOutcome
from node.storage import federation_repo as repo
from node.storage.db import Database

__all__ = ["run_sync_once", "start_scheduler"]

log = logging.getLogger("trustlane.sync")
JOB_LOCK = "federation-sync"
# The lock holds for this share of an interval, so that jitter does not skip a round.
LOCK_SHARE = 0.9


def sync_agreements(peers: PeerSync, agreements: AgreementService) -> list[SyncOutcome]:
    """Pull the peers' copies of open agreements (a lost delivery is made good here)."""
    trusted = {p.did: p for p in peers.registry.peers() if p.trusted}
    outcomes = []
    for record in agreements.open_agreements():
        peer = trusted.get(record.peer_did)
        if peer is None:
            continue
        resource = "agreement:" + record.id
        try:
            state = agreements.sync_with_peer(
                record, functools.partial(peers.fetch_agreement, peer)
            )
        except TrustlaneError as e:
            outcomes.append(SyncOutcome(peer.did, resource, False, e.diagnostics()))
            continue
        outcomes.append(SyncOutcome(peer.did, resource, True, state))
    return outcomes


def run_sync_once(
    db: Database,
    peers: PeerSync,
    *,
    now: datetime,
    interval: timedelta,
    owner: str,
    agreements: AgreementService | None = None,
    cosigning: Cosigning | None = None,
    rotation: KeyRotation | None = None,
) -> list[SyncOutcome] | None:
    """Sync every due peer if this process wins the lock; None when another one did.

    Args:
        db: The node's database (holds the lock).
        peers: The peers to sync.
        now: This worker's time, for the peers' backoff and freshness only. The lock never
            reads it: it is taken and expires under the database's clock, so workers whose
            clocks disagree cannot both run in one interval.
        interval: The sync interval; the lock holds for most of it (database time).
        owner: This worker (host and process), recorded with the lock.
        agreements: Also pull the peers' copies of open agreements.
        cosigning: Also have partners cosign this log and watch theirs for split views.
        rotation: Also re-send key announcements that peers have not acknowledged (first,
            so that a peer that missed a rotation trusts this node again before the round),
            and rotate the key when the rotation policy says so.

    Returns:
        What the round did, or None when another worker holds the lock.
    """
    with db.write() as conn:
        if not repo.acquire_job_lock(conn, JOB_LOCK, owner, interval * LOCK_SHARE):
            return None
    outcomes: list[SyncOutcome] = []
    if rotation is not None:
        outcomes += rotation.scheduled(now)
    outcomes += peers.sync_all(now)
    if agreements is not None:
        outcomes += sync_agreements(peers, agreements)
    if cosigning is not None:
        outcomes += cosigning.round(now)
    for outcome in outcomes:
        if not outcome.ok:
            log.warning("sync %s %s: %s", outcome.peer_did, outcome.resource, outcome.detail)
    return outcomes


def start_scheduler(
    db: Database,
    peers: PeerSync,
    *,
    agreements: AgreementService | None = None,
    cosigning: Cosigning | None = None,
    rotation: KeyRotation | None = None,
    interval_seconds: int,
    jitter_seconds: int,
    clock: Callable[[], datetime],
) -> BackgroundScheduler:
    """Start the background sync job in this process; return the scheduler."""
    owner = f"{socket.gethostname()}:{os.getpid()}"
    interval = timedelta(seconds=interval_seconds)

    def job() -> None:
        try:
            run_sync_once(
                db,
                peers,
                now=clock(),
                interval=interval,
                owner=owner,
                agreements=agreements,
                cosigning=cosigning,
                rotation=rotation,
            )
        except TrustlaneError as e:
            log.error("sync round failed: %s", e.diagnostics())

    scheduler = BackgroundScheduler(daemon=True)
    scheduler.add_job(
        job,
        "interval",
        seconds=interval_seconds,
        jitter=jitter_seconds,
        next_run_time=clock() + timedelta(seconds=random.uniform(0, max(1, jitter_seconds))),  # noqa: S311
        id=JOB_LOCK,
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    return scheduler
