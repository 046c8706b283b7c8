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

Status lists the credentials name and this node lacks are queued for a background fetch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from credentials.signature_cache import SignatureCache
from credentials.strict_json import JSONObject
from node.services.challenges import ChallengeService
from node.services.trust import TrustSnapshotSource
from registry.challenges import challenge_check
from registry.presentation import PresentationVerification, verify_presentation_with_snapshot

__all__ = ["PresentationService"]


class PresentationService:
    """Full presentation verification at this node.

    Args:
        trust: The trust snapshot source.
        challenges: Issues and spends this node's challenges (and knows its origin).
        refetch: Queues status list URLs for a background fetch.
        signature_cache: Ed25519 checks of credential proofs that passed before; None
            checks every signature.

    """

    def __init__(
        self,
        *,
        trust: TrustSnapshotSource,
        challenges: ChallengeService,
        refetch: Callable[[Iterable[str]], object] | None = None,
        signature_cache: SignatureCache | None = None,
    ) -> None:
        self._trust = trust
        self._challenges = challenges
        self._refetch = refetch
        self._signatures = signature_cache

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
    ) -> PresentationVerification:
        """Verify ``presentation`` for ``consignment`` at ``port`` and settle ``challenge``.

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
        )
        settle = self._challenges.redeem if outcome.presentation.verified else self._challenges.look
        state, found = settle(challenge, consignment=consignment, port=port, now=now)
        outcome = outcome.with_challenge(
            challenge_check(state, found, consignment=consignment, port=port)
        )
        if outcome.refetch and self._refetch is not None:
            self._refetch(outcome.refetch)
        return outcome
