"""Two-phase key rotation: announce a new key to partners, then publish it.

1. **Begin**: a new key is made *pending*: it is in the key store and the database, not in
   the DID document, and nothing is signed with it. One announcement per trusted peer is
   recorded, to be signed by the key that is current now (the one every peer pins).
2. **Announce**: each peer gets a ``KeyRotated`` event naming the new key (its start is the
   key's creation time). A 2xx answer is the peer's acknowledgement: it holds the key as
   pending, so a DID document listing it is accepted at any later sync.
3. **Publish**: the key becomes current and appears in the DID document; the old key retires
   (its end is recorded) and stays listed, so what it signed keeps verifying.

``rotate`` waits for acknowledgements up to a bound, then publishes anyway and reports who
did not answer. Unacknowledged peers are sent the announcement again by the scheduler
(:meth:`KeyRotation.retry_due`), with a growing but bounded delay, until they acknowledge:
a peer that was down during the rotation recovers without an administrator. A peer that
missed several rotations is sent them all, in order, each signed by the oldest key it has not
been told is replaced (the key it still pins).

A compromised key never signs an announcement and is never announced: ``revoke-key`` is the
path for a compromise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from credentials.datetimes import format_datetime
from credentials.errors import TrustlaneError
from node.federation.peers import PeerService
from node.federation.push import PushService
from node.federation.sync import SyncOutcome
from node.services.identity import NodeIdentity
from node.storage import keys_repo
from node.storage.db import Database
from node.storage.keys_repo import KeyAnnouncementRecord
from node.storage.records import KeyRecord

__all__ = ["KeyRotation", "RotationError", "RotationReport"]


class RotationError(TrustlaneError):
    """A rotation cannot start (no current key, or the current key is compromised)."""

    code = "ROTATION_REFUSED"


@dataclass(frozen=True)
class RotationReport:
    """What a rotation did.

    Attributes:
        kid: The new key's id.
        public_key: Its Multikey.
        previous: The key it replaced (which signed the announcements).
        started: The new key's start (the announcements' ``occurredAt``).
        published: Whether it is now current (in the DID document).
        acknowledged: DIDs of the peers that acknowledged the announcement.
        unacknowledged: DID -> last error of the peers that did not (the scheduler re-sends).

    """

    kid: str
    public_key: str
    previous: str
    started: datetime
    published: bool
    acknowledged: tuple[str, ...]
    unacknowledged: dict[str, str]

    def to_dict(self) -> dict[str, object]:
        """The report as JSON (``rotate-key --json``)."""
        return {
            "current" if self.published else "pending": self.kid,
            "publicKeyMultibase": self.public_key,
            "previous": self.previous,
            "start": format_datetime(self.started),
            "published": self.published,
            "acknowledgedBy": list(self.acknowledged),
            "notAcknowledgedBy": [
                {"did": did, "lastError": error} for did, error in self.unacknowledged.items()
            ],
        }


class KeyRotation:
    """Rotates the node's key in two phases and re-sends announcements until acknowledged.

    Args:
        db: The node database.
        identity: The node's keys.
        peers: The peers to announce to.
        push: Sends signed events.
        clock: The node clock.
        retry_seconds: The first delay before an unacknowledged announcement is sent again.
        max_retry_seconds: The longest delay between two sendings (the backoff's bound).
        max_key_age: Rotate on the scheduler when the current key is this old (None: only
            by hand).
        publish_wait: How long a scheduled rotation waits for acknowledgements before it
            publishes anyway.
        sleep: Waits between rounds while ``rotate`` collects acknowledgements.
        monotonic: Measures that wait.

    """

    def __init__(
        self,
        *,
        db: Database,
        identity: NodeIdentity,
        peers: PeerService,
        push: PushService,
        clock: Callable[[], datetime],
        retry_seconds: int = 60,
        max_retry_seconds: int = 900,
        max_key_age: timedelta | None = None,
        publish_wait: timedelta = timedelta(hours=1),
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._identity = identity
        self._peers = peers
        self._push = push
        self._clock = clock
        self._retry = timedelta(seconds=retry_seconds)
        self._max_retry = timedelta(seconds=max(retry_seconds, max_retry_seconds))
        self._max_key_age = max_key_age
        self._publish_wait = publish_wait
        self._sleep = sleep
        self._monotonic = monotonic

    # -- phases ------------------------------------------------------------------------

    def begin(self, *, actor: str) -> str:
        """Phase 1: a pending key, and one announcement to send per trusted peer.

        A rotation left pending (``rotate-key`` interrupted) is resumed: its key is returned.

        Raises:
            RotationError: No current key, or it is compromised (use ``revoke-key``).
        """
        records = self._identity.keys(fresh=True)
        current = next((r for r in records if r.is_current), None)
        if current is None:
            raise RotationError("the node has no current key; run 'trustlane node init'")
        if current.compromised_since is not None:
            raise RotationError(
                f"{current.kid} is compromised: a compromised key never announces a rotation; "
                "use 'trustlane node revoke-key'"
            )
        pending = [r.kid for r in records if r.pending and r.compromised_since is None]
        if pending:
            return pending[0]
        # Whole seconds: the announcement carries the start as occurredAt, and both sides
        # must record the same instant.
        now = self._clock().replace(microsecond=0)
        kid = self._identity.add_key(now=now, actor=actor, make_current=False)
        with self._db.write() as conn:
            for peer in self._peers.peers():
                if peer.trusted:
                    keys_repo.add_announcement(
                        conn, kid=kid, peer_did=peer.did, signer_kid=current.kid, now=now
                    )
        return kid

    def announce(
        self, *, now: datetime, kid: str | None = None, due_only: bool = True
    ) -> list[SyncOutcome]:
        """Phase 2 (and its retries): send unacknowledged announcements.

        Per peer, every unacknowledged key is sent in the order the keys were made, each
        signed by the signer recorded for the oldest of them (the key the peer still pins);
        the first failure stops that peer's round.

        Args:
            now: This round's time.
            kid: Only peers that have not acknowledged this key (None: every peer).
            due_only: Only peers whose next attempt is due.

        Returns:
            One outcome per sending (resource ``key_announcement:KID``).
        """
        with self._db.read() as conn:
            rows = keys_repo.list_announcements(conn, unacknowledged=True)
        keys = {r.kid: r for r in self._identity.keys(fresh=True)}
        peers = {p.did: p for p in self._peers.peers()}
        by_peer: dict[str, list[KeyAnnouncementRecord]] = {}
        for row in rows:
            by_peer.setdefault(row.peer_did, []).append(row)
        outcomes: list[SyncOutcome] = []
        for peer_did, peer_rows in by_peer.items():
            if kid is not None and all(r.kid != kid for r in peer_rows):
                continue
            if due_only and not any(r.next_attempt and r.next_attempt <= now for r in peer_rows):
                continue
            peer = peers.get(peer_did)
            signer = keys.get(peer_rows[0].signer_kid)
            for row in peer_rows:
                new = keys.get(row.kid)
                error = _refusal(peer is None, signer, new)
                refused = error is not None
                if error is None and peer is not None and signer is not None and new is not None:
                    error = self._push.send_key_announcement(
                        peer,
                        new_key=new.public_key_multibase,
                        start=new.created_at,
                        signer=self._identity.signing_key(signer.kid),
                    )
                self._record(row, now, error, retry=not refused)
                resource = f"key_announcement:{row.kid}"
                outcomes.append(
                    SyncOutcome(peer_did, resource, error is None, error or "acknowledged")
                )
                if error is not None:
                    break
        return outcomes

    def publish(self, kid: str, *, actor: str) -> None:
        """Phase 3: the pending key becomes current and joins the DID document.

        Peers that acknowledged are told again (the same announcement, signed by the same
        key), so that they fetch the DID document now rather than at their next sync; they
        already hold the key, so nothing else changes for them.

        Raises:
            ValueError: No such key, or it is compromised.
        """
        self._identity.publish(kid, now=self._clock(), actor=actor)
        with self._db.read() as conn:
            rows = keys_repo.list_announcements(conn, kid=kid)
        keys = {r.kid: r for r in self._identity.keys(fresh=True)}
        peers = {p.did: p for p in self._peers.peers()}
        for row in rows:
            peer, signer, new = peers.get(row.peer_did), keys.get(row.signer_kid), keys.get(kid)
            if row.acknowledged_at is None or peer is None or signer is None or new is None:
                continue
            if _refusal(False, signer, new) is None:
                self._push.send_key_announcement(
                    peer,
                    new_key=new.public_key_multibase,
                    start=new.created_at,
                    signer=self._identity.signing_key(signer.kid),
                )

    # -- the whole rotation --------------------------------------------------------------

    def rotate(self, *, actor: str, ack_timeout: float, poll: float = 0.5) -> RotationReport:
        """Begin, announce until every peer acknowledged or ``ack_timeout`` passed, publish.

        Raises:
            RotationError: See :meth:`begin`.
        """
        previous = self._identity.current().kid
        kid = self.begin(actor=actor)
        deadline = self._monotonic() + max(0.0, ack_timeout)
        wait = poll
        while True:
            self.announce(now=self._clock(), kid=kid, due_only=False)
            remaining = deadline - self._monotonic()
            if not self._waiting_for(kid) or remaining <= 0:
                break
            self._sleep(min(wait, remaining))
            wait = min(wait * 2, 5.0)
        self.publish(kid, actor=actor)
        return self.report(kid, previous=previous)

    def retry_due(self, now: datetime) -> list[SyncOutcome]:
        """Re-send announcements whose next attempt is due."""
        return self.announce(now=now, due_only=True)

    def scheduled(self, now: datetime) -> list[SyncOutcome]:
        """The scheduler's part (under its job lock, so once across replicas).

        1. Re-send due announcements.
        2. A pending key is published once every peer acknowledged it or the publish wait
           has passed since it was announced.
        3. With a maximum key age, a current key that old starts a rotation (announced now,
           published by a later round, as in step 2): the scheduler never blocks on peers.
        """
        outcomes = self.retry_due(now)
        records = self._identity.keys(fresh=True)
        pending = next((r for r in records if r.pending and r.compromised_since is None), None)
        if pending is not None:
            if not self._waiting_for(pending.kid) or now >= pending.created_at + self._publish_wait:
                self.publish(pending.kid, actor="scheduler")
                outcomes.append(
                    SyncOutcome(
                        self._identity.did, "key_rotation", True, f"{pending.kid} published"
                    )
                )
            return outcomes
        due = self.next_rotation()
        if due is not None and now >= due:
            try:
                kid = self.begin(actor="scheduler")
            except RotationError as e:
                outcomes.append(
                    SyncOutcome(self._identity.did, "key_rotation", False, e.diagnostics())
                )
                return outcomes
            outcomes += self.announce(now=now, kid=kid, due_only=False)
            outcomes.append(
                SyncOutcome(self._identity.did, "key_rotation", True, f"{kid} announced")
            )
        return outcomes

    def next_rotation(self) -> datetime | None:
        """When the scheduler rotates next (None: no maximum key age, or no current key)."""
        if self._max_key_age is None:
            return None
        current = next((r for r in self._identity.keys(fresh=True) if r.is_current), None)
        return None if current is None else current.created_at + self._max_key_age

    def report(self, kid: str, *, previous: str) -> RotationReport:
        """Who acknowledged the announcement of ``kid`` and who did not."""
        with self._db.read() as conn:
            rows = keys_repo.list_announcements(conn, kid=kid)
        record = next(r for r in self._identity.keys(fresh=True) if r.kid == kid)
        return RotationReport(
            kid=kid,
            public_key=record.public_key_multibase,
            previous=previous,
            started=record.created_at,
            published=record.is_current,
            acknowledged=tuple(r.peer_did for r in rows if r.acknowledged_at is not None),
            unacknowledged={
                r.peer_did: r.last_error or "not sent yet"
                for r in rows
                if r.acknowledged_at is None
            },
        )

    def health(self, now: datetime | None = None) -> dict[str, object]:
        """The rotation state for ``/health``: current key, its age, what is pending.

        ``now`` defaults to the node clock.

        ``pendingKey`` is a key announced and not yet published; ``unacknowledged`` lists the
        peers that have not acknowledged some announcement (the scheduler re-sends).
        """
        records = self._identity.keys()
        current = next((r for r in records if r.is_current), None)
        pending = next((r for r in records if r.pending and r.compromised_since is None), None)
        with self._db.read() as conn:
            waiting = keys_repo.list_announcements(conn, unacknowledged=True)
        due = self.next_rotation()
        now = self._clock() if now is None else now
        return {
            "currentKey": None if current is None else current.kid,
            "ageSeconds": None
            if current is None
            else max(0, int((now - current.created_at).total_seconds())),
            "nextRotation": None if due is None else format_datetime(due),
            "pendingKey": None if pending is None else pending.kid,
            "unacknowledged": sorted({r.peer_did for r in waiting}),
        }

    # -- helpers -------------------------------------------------------------------------

    def _waiting_for(self, kid: str) -> bool:
        with self._db.read() as conn:
            return bool(keys_repo.list_announcements(conn, kid=kid, unacknowledged=True))

    def _record(
        self, row: KeyAnnouncementRecord, now: datetime, error: str | None, *, retry: bool
    ) -> None:
        # The delay grows with the time since the key was announced first (half of it),
        # from the first retry delay up to the bound: a peer down for a minute is retried
        # soon, one down for a day every ``max_retry_seconds``.
        delay = min(self._max_retry, max(self._retry, (now - row.created_at) / 2))
        with self._db.write() as conn:
            keys_repo.record_announcement_attempt(
                conn,
                kid=row.kid,
                peer_did=row.peer_did,
                now=now,
                error=error,
                next_attempt=now + delay if error is not None and retry else None,
            )


def _refusal(no_peer: bool, signer: KeyRecord | None, new: KeyRecord | None) -> str | None:
    """Why an announcement must not be sent at all, or None."""
    if no_peer:
        return "ANNOUNCEMENT_REFUSED: the peer was removed"
    if signer is None or new is None:
        return "ANNOUNCEMENT_REFUSED: the key is no longer recorded"
    if signer.compromised_since is not None:
        return (
            f"ANNOUNCEMENT_REFUSED: {signer.kid}, the key the peer pins, is compromised; "
            "the peer's administrator must re-pin"
        )
    if new.compromised_since is not None:
        return f"ANNOUNCEMENT_REFUSED: {new.kid} is compromised and is never announced"
    return None
