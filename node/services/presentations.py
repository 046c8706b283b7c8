"""Verifying presentations at a port: the pure checks, then the challenge spent once.

A verify request reads the trust snapshot, runs
:func:`registry.presentation.verify_presentation_with_snapshot` (no I/O) and then settles
the challenge:

- When the presentation itself verified (data model, the holder's proof over this
  challenge and this node's origin, holder binding), the challenge is spent in one atomic
  operation, whatever its credentials say: a validly signed presentation has been used, and
  replaying it later (say once a status that was ``unknown`` is known) must not count.
- When it did not, the challenge is only looked at (its state is reported) and stays usable
  until it expires: a presentation that does not verify proves nothing about the holder, so
  letting it spend the challenge would let anyone who saw the challenge (it is shown at the
  port) void the trader's real answer.

Then each scan attestation bundle the presentation carries is checked by the same
:class:`~node.services.attestations.AttestationVerifier` as ``POST /attestations/verify``
(this node's trust, the device authorisation's status now) and tied to the consignment by
:func:`registry.presentation_scans.attestation_result`: a bundle that fails, fails alone,
and never grants or removes a benefit.

Status lists the credentials name and this node lacks are queued for a background fetch.

With a :class:`~credentials.prepared.PreparedCache`, what a credential inside decides by
itself (its data model and JSON-LD checks, its proofs' static steps, the bytes they sign, its
status entries and recognition facts) is kept per parsed credential: a trader presents the
same credentials many times, each time inside a new presentation. Keys, time, status and
recognition are checked every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from credentials.prepared import PreparedCache
from credentials.signature_cache import SignatureCache
from credentials.strict_json import JSONObject
from node.services.attestations import AttestationVerifier
from node.services.challenges import ChallengeService
from node.services.trust import TrustSnapshotSource
from registry.challenges import challenge_check
from registry.pipeline import PreparedForSnapshot
from registry.presentation import PresentationVerification, verify_presentation_with_snapshot
from registry.presentation_scans import AttestationResult, ConsignmentFacts, attestation_result

__all__ = ["PresentationService"]


class PresentationService:
    """Full presentation verification at this node.

    Args:
        trust: The trust snapshot source.
        challenges: Issues and spends this node's challenges (and knows its origin).
        refetch: Queues status list URLs for a background fetch.
        signature_cache: Ed25519 checks of credential proofs that passed before; None
            checks every signature.
        attestations: Checks the scan attestation bundles a presentation carries; None
            reports each as not checked (it then never verifies).
        prepared_cache: Credentials inside presentations already prepared, by their parsed
            value; None prepares every one.

    """

    def __init__(
        self,
        *,
        trust: TrustSnapshotSource,
        challenges: ChallengeService,
        refetch: Callable[[Iterable[str]], object] | None = None,
        signature_cache: SignatureCache | None = None,
        attestations: AttestationVerifier | None = None,
        prepared_cache: PreparedCache[PreparedForSnapshot] | None = None,
    ) -> None:
        self._trust = trust
        self._challenges = challenges
        self._refetch = refetch
        self._signatures = signature_cache
        self._attestations = attestations
        self._prepared = prepared_cache

    @property
    def domain(self) -> str:
        """This node's origin: the ``domain`` every presentation must be signed for."""
        return self._challenges.domain

    def verify(
        self,
        presentation: JSONObject,
        *,
        challenge: str,
        consignment: str,
        port: str,
        now: datetime,
        containers: tuple[str, ...] = (),
        transport_document: str | None = None,
        min_witnesses: int = 0,
    ) -> PresentationVerification:
        """Verify ``presentation`` for ``consignment`` at ``port`` and settle ``challenge``.

        Args:
            presentation: The presentation, parsed strictly.
            challenge: The challenge it answers.
            consignment: The consignment's UCR (the challenge's).
            port: The port's UN/LOCODE (the challenge's).
            now: The request's time.
            containers: The consignment's declared containers: what ties a presented scan
                attestation to it (none: attestations cannot be tied, so none verifies).
            transport_document: The consignment's declared transport document, if known.
            min_witnesses: Witness cosignatures each attestation's checkpoint needs.

        Raises:
            MalformedInputError: ``challenge`` is not a challenge at all (``INVALID_OPTIONS``).
            StorageError: The database cannot be used.
        """
        snapshot = self._trust.current()
        outcome = verify_presentation_with_snapshot(
            presentation,
            snapshot,
            now=now,
            challenge=challenge,
            domain=self.domain,
            signature_cache=self._signatures,
            prepared_cache=self._prepared,
        )
        settle = self._challenges.redeem if outcome.presentation.verified else self._challenges.look
        state, found = settle(challenge, consignment=consignment, port=port, now=now)
        outcome = outcome.with_challenge(
            challenge_check(state, found, consignment=consignment, port=port)
        )
        if outcome.bundles:
            facts = ConsignmentFacts(consignment, containers, transport_document)
            outcome = outcome.with_attestations(
                tuple(self._attestation(b, facts, now, min_witnesses) for b in outcome.bundles)
            )
        if outcome.refetch and self._refetch is not None:
            self._refetch(outcome.refetch)
        return outcome

    def _attestation(
        self, bundle: JSONObject, facts: ConsignmentFacts, now: datetime, min_witnesses: int
    ) -> AttestationResult:
        if self._attestations is None:
            return attestation_result(
                bundle,
                facts,
                audit={"ok": False, "steps": []},
                authorization_status=None,
            )
        checked = self._attestations.check(bundle, now=now, min_witnesses=min_witnesses)
        return attestation_result(
            bundle,
            facts,
            audit=checked.audit.to_json(),
            authorization_status=checked.authorization_status,
        )
