"""Challenges for presentations at a port: issued bound to a consignment, spent once.

An officer's client asks for a challenge for the consignment in front of it (WCO UCR) at its
port (UN/LOCODE) and hands it, with this node's origin as ``domain``, to the trader's wallet.
The wallet signs a presentation for it; :class:`~node.services.presentations.PresentationService`
spends the challenge with :meth:`ChallengeService.redeem`, one conditional UPDATE, so of any
number of workers or replicas racing on one challenge exactly one wins.

Challenges are 256 random bits (base64url). They are not secret (they travel in QR codes and
inside signed presentations): what makes a presentation count is the holder's signature over
the challenge, and that the challenge is spent once. None begins with ``-`` (one draw in 64
would): a trader types or pastes it after ``--challenge``, where a command line would read it
as an option; drawing again costs 0.02 bits of the 256.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from node.storage import challenges_repo
from node.storage.db import Database
from registry.challenges import (
    Challenge,
    Redemption,
    check_challenge_format,
    check_consignment,
    check_port,
    classify,
)

__all__ = ["DEFAULT_CHALLENGE_TTL", "RETENTION", "ChallengeService"]

#: How long a challenge may be answered, unless configured otherwise.
DEFAULT_CHALLENGE_TTL = timedelta(minutes=10)
#: How long an expired or used challenge is remembered (to tell "used" or "expired" from
#: "unknown"); afterwards a presentation for it is refused as CHALLENGE_UNKNOWN.
RETENTION = timedelta(days=1)
_RANDOM_BYTES = 32
_MAX_DRAWS = 64  # a draw begins with "-" one time in 64: all 64 do so never in practice


def _draw_challenge() -> str:
    """A fresh random challenge that does not begin with ``-`` (see the module docstring)."""
    for _ in range(_MAX_DRAWS):
        value = secrets.token_urlsafe(_RANDOM_BYTES)
        if not value.startswith("-"):
            return value
    raise RuntimeError("the random source gave only challenges beginning with '-'")


class ChallengeService:
    """Issues and spends this node's presentation challenges.

    Args:
        db: The node database.
        domain: This node's origin (its base URL), which presentations must name.
        ttl: How long a challenge may be answered.

    """

    def __init__(
        self, *, db: Database, domain: str, ttl: timedelta = DEFAULT_CHALLENGE_TTL
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError("the challenge lifetime must be positive")
        self._db = db
        self.domain = domain.rstrip("/")
        self._ttl = ttl

    def issue(self, consignment: object, port: object, *, now: datetime, actor: str) -> Challenge:
        """Issue a challenge for ``consignment`` at ``port``, usable once until now + ttl.

        Raises:
            MalformedInputError: Not a UCR (``INVALID_CONSIGNMENT``) or not a UN/LOCODE
                (``INVALID_PORT``).
            StorageError: The database cannot be written.
        """
        challenge = Challenge(
            value=_draw_challenge(),
            consignment=check_consignment(consignment),
            port=check_port(port),
            created_at=now,
            expires_at=now + self._ttl,
        )
        with self._db.write() as conn:
            challenges_repo.purge_expired(conn, now - RETENTION)
            challenges_repo.insert_challenge(conn, challenge, issued_by=actor)
        return challenge

    def redeem(
        self, value: str, *, consignment: str, port: str, now: datetime
    ) -> tuple[Redemption, Challenge | None]:
        """Spend the challenge for ``consignment`` at ``port``: REDEEMED for one caller only.

        Otherwise nothing changes, and the answer says why (unknown, issued for another
        consignment or port, used, expired).

        Raises:
            MalformedInputError: ``value`` is not a challenge at all (``INVALID_OPTIONS``).
            StorageError: The database cannot be written.
        """
        check_challenge_format(value)
        with self._db.write() as conn:
            if challenges_repo.redeem_challenge(
                conn, value, consignment=consignment, port=port, now=now
            ):
                return Redemption.REDEEMED, challenges_repo.get_challenge(conn, value)
            found = challenges_repo.get_challenge(conn, value)
        return classify(found, consignment=consignment, port=port, now=now), found

    def look(
        self, value: str, *, consignment: str, port: str, now: datetime
    ) -> tuple[Redemption, Challenge | None]:
        """What :meth:`redeem` would answer, without spending anything.

        Raises:
            MalformedInputError: ``value`` is not a challenge at all (``INVALID_OPTIONS``).
            StorageError: The database cannot be read.
        """
        check_challenge_format(value)
        with self._db.read() as conn:
            found = challenges_repo.get_challenge(conn, value)
        return classify(found, consignment=consignment, port=port, now=now), found
