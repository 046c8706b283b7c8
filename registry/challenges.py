"""Presentation challenges: consignment and port identifiers, and what a redemption says (PURE).

At a port the node issues a challenge bound to one consignment (WCO UCR) and one port
(UN/LOCODE); the trader's wallet signs it into a presentation; the node redeems it once. This
module holds the rules that need no database:

1. the identifier formats (:func:`check_consignment`, :func:`check_port`) and the challenge
   format (:func:`check_challenge_format`);
2. how a challenge that could not be redeemed is explained (:func:`classify`): unknown,
   issued for another consignment or port, used already, or expired;
3. the ``challenge`` check of a presentation result (:func:`challenge_check`).

It does not redeem anything: redemption is one atomic database operation in the node
(``node/storage/challenges_repo.py``), so that replicas racing on one challenge let exactly
one win.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from credentials.datetimes import format_datetime, require_aware
from credentials.errors import MalformedInputError
from credentials.result import Check

__all__ = [
    "CHALLENGE_PATTERN",
    "UCR_MAX_LENGTH",
    "UCR_PATTERN",
    "UNLOCODE_PATTERN",
    "Challenge",
    "Redemption",
    "challenge_check",
    "check_challenge_format",
    "check_consignment",
    "check_port",
    "classify",
]

#: WCO UCR (ISO 15459 based): a year digit, the ISO 3166-1 country of the issuer, then the
#: issuer's identifier and its own reference in upper-case letters and digits, optionally
#: split by single ``-``, ``.`` or ``/`` (``6GB123456789000-12345``). At most 35 characters.
UCR_PATTERN = r"[0-9][A-Z]{2}[A-Z0-9]+(?:[-./][A-Z0-9]+)*"
UCR_MAX_LENGTH = 35
#: UN/LOCODE: ISO 3166-1 country + 3 characters (letters, or digits 2-9: UN/LOCODE leaves
#: out 0 and 1, which read like O and I).
UNLOCODE_PATTERN = r"[A-Z]{2}[A-Z2-9]{3}"
#: Challenges are base64url text without padding; this node issues 43 characters (256 bits).
CHALLENGE_PATTERN = r"[A-Za-z0-9_-]{22,128}"

_UCR = re.compile(UCR_PATTERN + r"\Z", re.ASCII)
_UNLOCODE = re.compile(UNLOCODE_PATTERN + r"\Z", re.ASCII)
_CHALLENGE = re.compile(CHALLENGE_PATTERN + r"\Z", re.ASCII)


def check_consignment(value: object) -> str:
    """Return ``value`` when it is a WCO UCR (see :data:`UCR_PATTERN`).

    Raises:
        MalformedInputError: Not a UCR (``INVALID_CONSIGNMENT``); the message says why.
    """
    if not isinstance(value, str) or not value:
        raise MalformedInputError(
            "the consignment must be its WCO UCR, e.g. 6GB123456789000-12345",
            code="INVALID_CONSIGNMENT",
        )
    if len(value) > UCR_MAX_LENGTH:
        raise MalformedInputError(
            f"a UCR has at most {UCR_MAX_LENGTH} characters ({len(value)} given)",
            code="INVALID_CONSIGNMENT",
        )
    if not _UCR.match(value):
        raise MalformedInputError(
            f"{value!r} is not a WCO UCR: a year digit, a two-letter country code, then upper-"
            "case letters and digits (single '-', '.' or '/' between them), e.g. "
            "6GB123456789000-12345",
            code="INVALID_CONSIGNMENT",
        )
    return value


def check_port(value: object) -> str:
    """Return ``value`` when it is a UN/LOCODE (see :data:`UNLOCODE_PATTERN`).

    Raises:
        MalformedInputError: Not a UN/LOCODE (``INVALID_PORT``).
    """
    if not isinstance(value, str) or not _UNLOCODE.match(value):
        raise MalformedInputError(
            f"{value!r} is not a UN/LOCODE: a two-letter country code and three letters or "
            "digits 2-9, upper case, e.g. NLRTM or USLAX",
            code="INVALID_PORT",
        )
    return value


def check_challenge_format(value: object) -> str:
    """Return ``value`` when it has the form of a challenge (see :data:`CHALLENGE_PATTERN`).

    Raises:
        MalformedInputError: Not a challenge at all (``INVALID_OPTIONS``).
    """
    if not isinstance(value, str) or not _CHALLENGE.match(value):
        raise MalformedInputError(
            "options.challenge must be the challenge this node issued (22-128 base64url "
            "characters)",
            code="INVALID_OPTIONS",
        )
    return value


@dataclass(frozen=True)
class Challenge:
    """A challenge as issued: bound to one consignment at one port, usable once.

    Attributes:
        value: The challenge text (random, base64url).
        consignment: The WCO UCR it was issued for.
        port: The UN/LOCODE of the port it was issued at.
        created_at: When it was issued.
        expires_at: When it stops being usable.
        used_at: When a presentation spent it (None while unused).

    """

    value: str
    consignment: str
    port: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.created_at)
        require_aware(self.expires_at)
        if self.used_at is not None:
            require_aware(self.used_at)
        if self.expires_at <= self.created_at:
            raise ValueError("a challenge must expire after it was issued")


class Redemption(enum.Enum):
    """What became of an attempt to spend a challenge."""

    REDEEMED = "redeemed"
    #: Usable, but not spent (the presentation itself did not verify).
    AVAILABLE = "available"
    UNKNOWN = "unknown"
    MISMATCH = "mismatch"
    USED = "used"
    EXPIRED = "expired"


def classify(
    challenge: Challenge | None, *, consignment: str, port: str, now: datetime
) -> Redemption:
    """Why ``challenge`` cannot be spent for ``consignment`` at ``port`` now (or that it can).

    Order: unknown, bound to another consignment or port, used, expired. A replay of a used
    challenge for another consignment is told as a mismatch: the officer's question is
    whether this presentation is about the consignment in front of them.
    """
    if challenge is None:
        return Redemption.UNKNOWN
    if challenge.consignment != consignment or challenge.port != port:
        return Redemption.MISMATCH
    if challenge.used_at is not None:
        return Redemption.USED
    if challenge.expires_at <= now:
        return Redemption.EXPIRED
    return Redemption.AVAILABLE


def challenge_check(
    outcome: Redemption, challenge: Challenge | None, *, consignment: str, port: str
) -> Check:
    """The ``challenge`` check of a presentation result, in words an officer understands."""
    if outcome is Redemption.REDEEMED:
        return Check.passed(
            "challenge",
            f"issued for consignment {consignment} at {port}; spent by this presentation "
            "(it cannot be used again)",
        )
    if outcome is Redemption.UNKNOWN or challenge is None:
        return Check.failed(
            "challenge",
            "CHALLENGE_UNKNOWN",
            "this node never issued that challenge (or forgot it long after it expired): "
            "request a new challenge and present again",
        )
    if outcome is Redemption.MISMATCH:
        return Check.failed(
            "challenge",
            "CHALLENGE_MISMATCH",
            f"the challenge was issued for consignment {challenge.consignment} at "
            f"{challenge.port}, not for consignment {consignment} at {port}: the presentation "
            "was made for another consignment",
        )
    if outcome is Redemption.USED:
        used = challenge.used_at
        when = format_datetime(used) if used is not None else "earlier"
        return Check.failed(
            "challenge",
            "CHALLENGE_USED",
            f"the challenge was already used at {when}: this presentation is a replay; the "
            "trader must answer a new challenge",
        )
    if outcome is Redemption.EXPIRED:
        return Check.failed(
            "challenge",
            "CHALLENGE_EXPIRED",
            f"the challenge expired at {format_datetime(challenge.expires_at)}: request a new "
            "challenge and present again",
        )
    return Check.unknown(
        "challenge",
        "NOT_RUN",
        "not spent: the presentation did not verify; the challenge stays usable until "
        f"{format_datetime(challenge.expires_at)}",
    )
