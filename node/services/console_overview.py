"""What the officer console's overview shows, gathered in one place.

Read-only: every figure comes from the same services and tables the API serves, so the
console never shows something the API would contradict.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from credentials.strict_json import JSONObject
from node.federation.agreements import AgreementService
from node.federation.peers import PeerService
from node.federation.witness import WitnessService
from node.services.devices import DeviceService
from node.services.risk import RiskService
from node.storage import console_repo, log_repo
from node.storage.db import Database
from node.storage.federation_repo import MRARecord
from node.storage.witness_repo import SplitViewAlert

__all__ = ["ConsoleOverview", "Overview", "cosignature_count"]


def cosignature_count(note: str) -> int:
    """Signature lines of a C2SP signed note beyond the log's own (its cosignatures)."""
    _, _, signatures = note.partition("\n\n")
    lines = [line for line in signatures.splitlines() if line.startswith("\u2014 ")]
    return max(0, len(lines) - 1)


@dataclass(frozen=True)
class Overview:
    """The overview page's figures."""

    credentials: dict[str, int]
    peers: list[dict[str, object]]
    agreements: list[MRARecord]
    agreement_states: dict[str, int]
    devices: dict[str, int]
    log_size: int
    checkpoint_size: int | None
    checkpoint_signed_at: datetime | None
    checkpoint_cosignatures: int
    split_views: list[SplitViewAlert]
    decisions: list[JSONObject]


class ConsoleOverview:
    """Gathers the overview from the node's services."""

    def __init__(
        self,
        *,
        db: Database,
        peers: PeerService,
        agreements: AgreementService,
        devices: DeviceService,
        witness: WitnessService,
        risk: RiskService,
    ) -> None:
        self._db = db
        self._peers = peers
        self._agreements = agreements
        self._devices = devices
        self._witness = witness
        self._risk = risk

    def gather(self, now: datetime, *, decisions: int = 10) -> Overview:
        """The overview at ``now``."""
        with self._db.read() as conn:
            counts = console_repo.credential_state_counts(conn, now)
            head = log_repo.read_head(conn)
            checkpoint = log_repo.latest_checkpoint(conn)
        agreements = self._agreements.list()
        recent, _ = self._risk.decisions(limit=decisions)
        return Overview(
            credentials=counts,
            peers=self._peers.health(),
            agreements=agreements,
            agreement_states=dict(Counter(a.state for a in agreements)),
            devices=dict(Counter(d.state for d in self._devices.list())),
            log_size=head.size,
            checkpoint_size=checkpoint.size if checkpoint else None,
            checkpoint_signed_at=checkpoint.signed_at if checkpoint else None,
            checkpoint_cosignatures=cosignature_count(checkpoint.note) if checkpoint else 0,
            split_views=self._witness.alerts(),
            decisions=recent,
        )
