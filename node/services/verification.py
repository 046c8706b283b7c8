"""Verifying credentials at this node: the trust kernel plus the status check.

Keys come from the node's own identity (its did:web with key lifetimes, and did:key); status
from its own status lists. Peers' keys and lists arrive with the federation layer, until
then they are ``unknown``: never valid.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from credentials.result import VerificationResult
from credentials.strict_json import JSONObject
from credentials.verification import get_credential_verification_result
from node.services.identity import NodeIdentity
from node.services.status import StatusService

__all__ = ["VerificationService"]


class VerificationService:
    """Full credential verification at this node."""

    def __init__(
        self, *, identity: NodeIdentity, status: StatusService, clock_skew: timedelta
    ) -> None:
        self._identity = identity
        self._status = status
        self._skew = clock_skew

    def verify_credential(
        self, credential: JSONObject, *, now: datetime, at: datetime | None = None
    ) -> VerificationResult:
        """Verify at ``at`` (default ``now``): data model, proof, issuer, validity, status."""
        reference = at or now
        result = get_credential_verification_result(
            credential, resolver=self._identity, now=reference, clock_skew=self._skew
        )
        if result.check("data_model") is not None and len(result.checks) == 1:
            return result  # not a credential: nothing more to check
        return result.with_checks(self._status.status_check(credential, now=now, at=at))
