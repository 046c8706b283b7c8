"""Verifying credentials at this node: the pure pipeline over the current trust snapshot.

A verify request reads the trust snapshot (one integer from the database when nothing
changed), runs :func:`registry.pipeline.verify_with_snapshot` and hands the lists the result
names for refetching to the background queue. It never fetches from a peer and never writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from credentials.datetimes import format_datetime
from credentials.errors import MalformedInputError
from credentials.result import VerificationResult
from credentials.signature_cache import SignatureCache
from credentials.strict_json import JSONObject
from node.services.trust import TrustSnapshotSource
from registry.pipeline import TrustedVerification, verify_with_snapshot
from registry.status_list import status_entries_of

__all__ = ["VerificationService"]


class VerificationService:
    """Full credential verification at this node.

    Args:
        trust: The trust snapshot source.
        clock_skew: How far in the future ``at`` may lie.
        refetch: Queues status list URLs for a background fetch.
        signature_cache: Ed25519 checks that passed before (shared with presentations);
            None checks every signature.

    """

    def __init__(
        self,
        *,
        trust: TrustSnapshotSource,
        clock_skew: timedelta,
        refetch: Callable[[Iterable[str]], object] | None = None,
        signature_cache: SignatureCache | None = None,
    ) -> None:
        self._trust = trust
        self._skew = clock_skew
        self._refetch = refetch
        self._signatures = signature_cache

    @property
    def signature_cache(self) -> SignatureCache | None:
        """The Ed25519 checks that passed (shared with presentation verification)."""
        return self._signatures

    def verify_credential(
        self, credential: JSONObject, *, now: datetime, at: datetime | None = None
    ) -> VerificationResult:
        """Verify at ``at`` (default ``now``) and return the checks only."""
        return self.verify(credential, now=now, at=at).result

    def verify(
        self, credential: JSONObject, *, now: datetime, at: datetime | None = None
    ) -> TrustedVerification:
        """Verify now, or answer "was it valid at ``at``" (historical: never benefits).

        Raises:
            MalformedInputError: ``at`` lies in the future beyond the clock skew
                (``INVALID_OPTIONS``).
            StorageError: The database cannot be read.
        """
        if at is not None and at > now + self._skew:
            raise MalformedInputError(
                f"'at' ({format_datetime(at)}) is in the future; ask about now or the past",
                code="INVALID_OPTIONS",
            )
        snapshot = self._trust.current()
        if at is not None and at != now:
            try:
                urls = [e.status_list_credential for e in status_entries_of(credential)]
            except MalformedInputError:
                urls = []  # the pipeline reports the malformed entries itself
            snapshot = snapshot.with_status_lists(self._trust.lists_at(urls, at))
        outcome = verify_with_snapshot(
            credential, snapshot, now=now, at=at, signature_cache=self._signatures
        )
        if outcome.refetch and self._refetch is not None:
            self._refetch(outcome.refetch)
        return outcome
