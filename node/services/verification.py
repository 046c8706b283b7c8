"""Verifying credentials at this node: the trust kernel, status, and recognition.

Keys come from the node's own identity (its did:web with key lifetimes, and did:key) and
from trusted peers' DID documents; status from this node's lists or the cached, verified
lists of peers (within the freshness limit); recognition from the mutual recognition
agreements in force. Anything undecidable is ``unknown``: never valid, never a benefit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from credentials.result import Check, VerificationResult
from credentials.strict_json import JSONObject
from credentials.verification import get_credential_verification_result
from node.services.identity import NodeIdentity
from node.services.status import StatusService
from registry.status_list import StatusListEntry

if TYPE_CHECKING:
    from node.federation.agreements import AgreementService
    from node.federation.peers import PeerService

__all__ = ["NodeVerification", "VerificationService"]


@dataclass(frozen=True)
class NodeVerification:
    """A verification result with the benefits it grants here."""

    result: VerificationResult
    benefits: frozenset[str] = frozenset()
    agreement: str | None = None

    @property
    def verified(self) -> bool:
        """True when every check passed."""
        return self.result.verified

    def __post_init__(self) -> None:
        if self.benefits and not self.result.verified:
            raise ValueError("benefits are granted only with a verified result")

    def to_dict(self) -> dict[str, Any]:
        """The API body: the result plus ``benefits`` (empty unless verified)."""
        body = self.result.to_dict()
        body["benefits"] = sorted(self.benefits)
        if self.agreement is not None:
            body["agreement"] = self.agreement
        return body


class VerificationService:
    """Full credential verification at this node."""

    def __init__(
        self,
        *,
        identity: NodeIdentity,
        status: StatusService,
        clock_skew: timedelta,
        peers: PeerService | None = None,
        agreements: AgreementService | None = None,
    ) -> None:
        self._identity = identity
        self._status = status
        self._skew = clock_skew
        self.peers = peers
        self.agreements = agreements

    def _issuer_of(self, credential: JSONObject) -> str | None:
        raw = credential.get("issuer")
        issuer = raw.get("id") if isinstance(raw, dict) else raw
        return issuer if isinstance(issuer, str) else None

    def _is_own(self, issuer: str | None) -> bool:
        if issuer == self._identity.did:
            return True
        return issuer is not None and any(
            f"did:key:{k.public_key_multibase}" == issuer for k in self._identity.keys()
        )

    def verify_credential(
        self, credential: JSONObject, *, now: datetime, at: datetime | None = None
    ) -> VerificationResult:
        """Verify at ``at`` (default ``now``): the kernel's checks plus ``status``."""
        return self.verify(credential, now=now, at=at).result

    def verify(
        self, credential: JSONObject, *, now: datetime, at: datetime | None = None
    ) -> NodeVerification:
        """Verify, adding ``status`` and (for peers' credentials) ``recognition``."""
        reference = at or now
        resolver = self.peers if self.peers is not None else self._identity
        result = get_credential_verification_result(
            credential, resolver=resolver, now=reference, clock_skew=self._skew
        )
        if result.check("data_model") is not None and len(result.checks) == 1:
            return NodeVerification(result)  # not a credential: nothing more to check
        peers = self.peers

        def foreign(entry: StatusListEntry) -> Check:
            if peers is None or peers.peer_for_url(entry.status_list_credential) is None:
                return Check.unknown(
                    "status",
                    "STATUS_UNAVAILABLE",
                    f"status list {entry.status_list_credential} is not published by this node "
                    "or a peer",
                )
            return peers.status_check(entry, now=now, at=at)

        result = result.with_checks(
            self._status.status_check(credential, now=now, at=at, foreign=foreign)
        )
        issuer = self._issuer_of(credential)
        if self._is_own(issuer) or issuer is None or self.agreements is None:
            return NodeVerification(result)
        recognition = self.agreements.recognition(credential, issuer, at=reference)
        if isinstance(recognition, Check):
            return NodeVerification(result.with_checks(recognition))
        final = result.with_checks(recognition.check)
        if not final.verified:
            # Fail closed: any failed or unknown check (status, proof...) voids every benefit.
            return NodeVerification(final)
        return NodeVerification(
            final, benefits=recognition.benefits, agreement=recognition.agreement_id
        )
