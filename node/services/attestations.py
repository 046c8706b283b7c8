"""Checking a scan attestation bundle at a port, against what this node trusts.

The same steps as the offline audit (:func:`scan_attestation.audit.audit_bundle`), with the
pinned keys taken from the trust snapshot instead of a file: this node's own uncompromised
keys, and each trusted partner's (fresh DID document) uncompromised assertion keys. Every
other trusted node counts as a witness. Then what only a connected node can add: the device
authorisation's status (revocation, suspension) through the verification pipeline, as of now.

A bundle counts (``verified``) only when every audit step passed (a skipped consistency step
is fine: no other checkpoint was given), the witnesses asked for cosigned, and the
authorisation's status passed; ``unknown`` status grants nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from credentials.keys import PublicKey
from credentials.strict_json import JSONObject, JSONValue
from node.services.trust import TrustSnapshotSource
from node.services.verification import VerificationService
from registry.trust_snapshot import TrustSnapshot
from scan_attestation.audit import AuditReport, TrustedNodes, audit_bundle

__all__ = ["AttestationCheck", "AttestationVerifier", "trusted_nodes"]


def trusted_nodes(snapshot: TrustSnapshot, now: datetime) -> TrustedNodes:
    """The keys a port trusts for bundles: its own and its fresh, trusted partners'."""
    nodes: dict[str, tuple[PublicKey, ...]] = {}
    own = [k for k in snapshot.own_keys.values() if k.compromised_since is None]
    nodes[snapshot.own_did] = tuple(PublicKey.from_multibase(k.multibase) for k in own)
    for peer in snapshot.peers.values():
        fetched = peer.did_document_fetched_at
        if (
            not peer.trusted
            or fetched is None
            or now - fetched > snapshot.limits.did_document_max_age
        ):
            continue
        keys = [
            PublicKey.from_multibase(k.multibase)
            for k in peer.keys.values()
            if k.compromised_since is None and "assertionMethod" in k.relationships
        ]
        if keys:
            nodes[peer.did] = tuple(keys)
    return TrustedNodes({did: keys for did, keys in nodes.items() if keys})


@dataclass(frozen=True)
class AttestationCheck:
    """A port's answer about a bundle."""

    verified: bool
    audit: AuditReport
    authorization_status: JSONObject | None

    def to_json(self) -> JSONObject:
        """The API body."""
        body: JSONObject = {"verified": self.verified, **self.audit.to_json()}
        body["authorizationStatus"] = self.authorization_status
        return body


class AttestationVerifier:
    """Checks bundles presented at this node."""

    def __init__(self, *, trust: TrustSnapshotSource, verification: VerificationService) -> None:
        self._trust = trust
        self._verification = verification

    def check(self, bundle: JSONValue, *, now: datetime, min_witnesses: int) -> AttestationCheck:
        """Audit ``bundle`` with this node's trust, then the authorisation's status now."""
        report = audit_bundle(
            bundle,
            trusted_nodes(self._trust.current(), now),
            min_witnesses=min_witnesses,
        )
        status: JSONObject | None = None
        if report.ok and isinstance(bundle, dict):
            authorization = bundle.get("deviceAuthorization")
            if isinstance(authorization, dict):
                outcome = self._verification.verify(authorization, now=now)
                check = next((c for c in outcome.result.checks if c.name == "status"), None)
                if check is not None:
                    status = {"status": check.status.value, "detail": check.detail}
                    if check.code is not None:
                        status["code"] = check.code
        verified = report.ok and status is not None and status.get("status") == "pass"
        return AttestationCheck(verified, report, status)
