"""Verifying credentials at this node: the pure pipeline over the current trust snapshot.

A verify request reads the trust snapshot (one integer from the database when nothing
changed, or none when a read that began after the request was received can be shared: see
:mod:`node.services.trust`), runs :func:`registry.pipeline.verify_with_snapshot` and hands
the lists the result names for refetching to the background queue. It never fetches from a
peer and never writes.

With a :class:`~credentials.prepared.PreparedCache`, what the request body's exact bytes
decide (strict parse, the data model and JSON-LD checks, the proofs' static steps and the
bytes they sign, the parsed status entries and recognition facts) is kept per body, so the
same body sent again runs only the checks that depend on the time and on trust: key
resolution, proof times, the signature (through the signature cache), issuer binding,
validity, status and recognition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from credentials.datetimes import format_datetime
from credentials.errors import MalformedInputError
from credentials.prepared import PreparedCache
from credentials.result import VerificationResult
from credentials.signature_cache import SignatureCache
from credentials.strict_json import JSONObject
from node.services.trust import TrustSnapshotSource
from registry.pipeline import (
    PreparedForSnapshot,
    TrustedVerification,
    prepare_for_snapshot,
    verify_with_snapshot,
)
from registry.status_list import status_entries_of

__all__ = ["PreparedVerifyRequest", "VerificationService"]


@dataclass(frozen=True, slots=True)
class PreparedVerifyRequest:
    """A verify request body after the steps its bytes decide (shared when cached).

    Attributes:
        credential: The ``verifiableCredential`` member (read only).
        options: The ``options`` member (read only; empty when absent).
        prepared: What the credential's bytes decide (:func:`prepare_for_snapshot`).

    """

    credential: JSONObject
    options: JSONObject
    prepared: PreparedForSnapshot

    @classmethod
    def build(cls, credential: JSONObject, options: JSONObject) -> PreparedVerifyRequest:
        """Run the static steps for ``credential`` (:func:`prepare_for_snapshot`)."""
        return cls(credential, options, prepare_for_snapshot(credential))


class VerificationService:
    """Full credential verification at this node.

    Args:
        trust: The trust snapshot source.
        clock_skew: How far in the future ``at`` may lie.
        refetch: Queues status list URLs for a background fetch.
        signature_cache: Ed25519 checks that passed before (shared with presentations);
            None checks every signature.
        prepared_cache: Verify request bodies already prepared, by their exact bytes; None
            prepares every body.

    """

    def __init__(
        self,
        *,
        trust: TrustSnapshotSource,
        clock_skew: timedelta,
        refetch: Callable[[Iterable[str]], object] | None = None,
        signature_cache: SignatureCache | None = None,
        prepared_cache: PreparedCache[PreparedVerifyRequest] | None = None,
    ) -> None:
        self._trust = trust
        self._skew = clock_skew
        self._refetch = refetch
        self._signatures = signature_cache
        self._prepared = prepared_cache

    @property
    def signature_cache(self) -> SignatureCache | None:
        """The Ed25519 checks that passed (shared with presentation verification)."""
        return self._signatures

    @property
    def prepared_cache(self) -> PreparedCache[PreparedVerifyRequest] | None:
        """The verify request bodies kept prepared, or None."""
        return self._prepared

    def prepare_request(
        self, data: bytes, parse: Callable[[bytes], PreparedVerifyRequest]
    ) -> PreparedVerifyRequest:
        """The prepared form of the verify request body ``data`` (kept when cached).

        Args:
            data: The request body's exact bytes.
            parse: Strictly parses ``data`` into a request (a pure function of the bytes).

        Raises:
            MalformedInputError: From ``parse`` (a body that does not parse is never kept).

        """
        if self._prepared is None:
            return parse(data)
        return self._prepared.get_or_prepare(data, parse)

    def verify_credential(
        self, credential: JSONObject, *, now: datetime, at: datetime | None = None
    ) -> VerificationResult:
        """Verify at ``at`` (default ``now``) and return the checks only."""
        return self.verify(credential, now=now, at=at).result

    def verify(
        self,
        credential: JSONObject,
        *,
        now: datetime,
        at: datetime | None = None,
        prepared: PreparedForSnapshot | None = None,
        fresh_since: float | None = None,
    ) -> TrustedVerification:
        """Verify now, or answer "was it valid at ``at``" (historical: never benefits).

        ``prepared``, when given, is the static phase of exactly ``credential``
        (:meth:`prepare_request`); every check that depends on time or trust runs anyway.
        ``fresh_since``, when given, is when the request was received (``time.monotonic()``):
        the trust snapshot then reflects every change committed before that time
        (:meth:`TrustSnapshotSource.current`).

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
        snapshot = self._trust.current(fresh_since=fresh_since)
        if at is not None and at != now:
            try:
                urls = [e.status_list_credential for e in status_entries_of(credential)]
            except MalformedInputError:
                urls = []  # the pipeline reports the malformed entries itself
            snapshot = snapshot.with_status_lists(self._trust.lists_at(urls, at))
        outcome = verify_with_snapshot(
            credential,
            snapshot,
            now=now,
            at=at,
            signature_cache=self._signatures,
            prepared=prepared,
        )
        if outcome.refetch and self._refetch is not None:
            self._refetch(outcome.refetch)
        return outcome
