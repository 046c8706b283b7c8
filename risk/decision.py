"""The control decision for one declaration: channel, score, and the reasons behind them.

A :class:`Decision` is a value: the same declaration, evidence, policy, secret and time
always give an equal decision, and :meth:`Decision.to_json` gives the same bytes (RFC 8785
canonical JSON), so a stored decision can be recomputed and compared by an auditor.
:meth:`Decision.from_dict` is the exact inverse of :meth:`Decision.to_dict`.

Every :class:`Reason` has a stable :class:`ReasonCode`, a sentence for the officer, and the
evidence it rests on, written as references: ``declaration:/containers/0``,
``credential:<id>``, ``agreement:<id>``, ``scan:<id>``, ``watch-list:EORI:DE123``,
``policy:thresholds.physical`` or ``selection:hmac-sha256``.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import NamedTuple

from credentials.canonical import canonicalize
from credentials.datetimes import parse_datetime
from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject

__all__ = ["CHANNEL_ORDER", "Channel", "Decision", "Reason", "ReasonCode", "stricter"]


class Channel(enum.StrEnum):
    """Control channels, from the lightest to the heaviest."""

    RELEASE = "release"
    DOCUMENTARY = "documentary"
    NON_INTRUSIVE = "non-intrusive"
    PHYSICAL = "physical"


CHANNEL_ORDER = {c: i for i, c in enumerate(Channel)}
"""Rank of each channel: release 0 < documentary 1 < non-intrusive 2 < physical 3."""


def stricter(a: Channel, b: Channel) -> Channel:
    """Return the heavier of two channels."""
    return a if CHANNEL_ORDER[a] >= CHANNEL_ORDER[b] else b


class ReasonCode(enum.StrEnum):
    """Stable codes of the reasons a decision gives (see ``docs/risk.md``)."""

    # Score components.
    BASE_HS_CHAPTER = "BASE_HS_CHAPTER"
    BASE_ORIGIN = "BASE_ORIGIN"
    BASE_ROUTE = "BASE_ROUTE"
    SCAN_CLEAR = "SCAN_CLEAR"
    SCAN_INCONCLUSIVE = "SCAN_INCONCLUSIVE"
    SCAN_ALARM_RESOLVED = "SCAN_ALARM_RESOLVED"
    BENEFIT_APPLIED = "BENEFIT_APPLIED"
    SCORE_CAPPED = "SCORE_CAPPED"
    SCORE_THRESHOLD = "SCORE_THRESHOLD"
    # Hard rules.
    RADIATION_ALARM_UNRESOLVED = "RADIATION_ALARM_UNRESOLVED"
    IMAGE_ALARM_UNRESOLVED = "IMAGE_ALARM_UNRESOLVED"
    WATCH_LIST_HIT = "WATCH_LIST_HIT"
    BENEFITS_WITHHELD = "BENEFITS_WITHHELD"
    RANDOM_SELECTED = "RANDOM_SELECTED"
    # Evidence that counts for nothing, and why.
    CREDENTIAL_NOT_VERIFIED = "CREDENTIAL_NOT_VERIFIED"
    CREDENTIAL_STATUS_NOT_VALID = "CREDENTIAL_STATUS_NOT_VALID"
    CREDENTIAL_NOT_RECOGNISED = "CREDENTIAL_NOT_RECOGNISED"
    CREDENTIAL_OTHER_PARTY = "CREDENTIAL_OTHER_PARTY"
    BENEFIT_NOT_IN_POLICY = "BENEFIT_NOT_IN_POLICY"
    SCAN_OTHER_CONTAINERS = "SCAN_OTHER_CONTAINERS"
    SCAN_NOT_COUNTED = "SCAN_NOT_COUNTED"
    SCAN_PARTIAL_COVERAGE = "SCAN_PARTIAL_COVERAGE"


class Reason(NamedTuple):
    """One reason of a decision.

    A named tuple rather than a frozen dataclass: every decision makes several, and a frozen
    dataclass takes twice as long to build.

    Attributes:
        code: Stable code.
        message: One sentence for the officer.
        evidence: References to what the reason rests on (see the module docstring).
        points: Score points the reason added, if it added any.
        factor: Factor the reason multiplied the score by, if any.
        channel: The lowest channel the reason imposes, if it imposes one.
    """

    code: ReasonCode
    message: str
    evidence: tuple[str, ...] = ()
    points: float | None = None
    factor: float | None = None
    channel: Channel | None = None

    def to_dict(self) -> JSONObject:
        """Return the reason as a JSON object; absent members are left out."""
        out: JSONObject = {
            "code": self.code.value,
            "message": self.message,
            "evidence": list(self.evidence),
        }
        if self.points is not None:
            out["points"] = self.points
        if self.factor is not None:
            out["factor"] = self.factor
        if self.channel is not None:
            out["channel"] = self.channel.value
        return out

    @classmethod
    def from_dict(cls, value: JSONObject) -> Reason:
        """Inverse of :meth:`to_dict`.

        Raises:
            MalformedInputError: A member is missing or of the wrong type.
        """
        evidence = value.get("evidence")
        if not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence):
            raise MalformedInputError("reason evidence must be a list of strings")
        channel = value.get("channel")
        return cls(
            code=ReasonCode(_str(value, "code")),
            message=_str(value, "message"),
            evidence=tuple(str(e) for e in evidence),
            points=_optional_float(value, "points"),
            factor=_optional_float(value, "factor"),
            channel=None if channel is None else Channel(str(channel)),
        )


def _str(value: JSONObject, key: str) -> str:
    item = value.get(key)
    if not isinstance(item, str):
        raise MalformedInputError(f"{key} must be a string")
    return item


def _float(value: JSONObject, key: str) -> float:
    item = value.get(key)
    if isinstance(item, bool) or not isinstance(item, int | float):
        raise MalformedInputError(f"{key} must be a number")
    return float(item)


def _optional_float(value: JSONObject, key: str) -> float | None:
    return None if value.get(key) is None else _float(value, key)


class Decision(NamedTuple):
    """The control decision for one declaration.

    An immutable named tuple rather than a frozen dataclass: building a frozen dataclass of
    fourteen fields costs about 5 us on Python 3.11, an eighth of a whole decision.

    Attributes:
        declaration_id: The declaration decided on.
        channel: The channel to apply: the heavier of :attr:`score_channel` and
            :attr:`mandatory_channel`.
        score: The risk score, 0 to the policy's maximum, rounded to 2 decimals.
        score_channel: The channel the score alone reaches under the policy's thresholds.
        mandatory_channel: The lowest channel imposed whatever the score: hard rules and
            random selection (``release`` when none applies).
        reasons: Every reason, in the order they were found.
        benefits_applied: The benefit codes that changed something, sorted.
        random_selected: The random selection picked this declaration.
        random_draw: The keyed draw in [0, 1) (HMAC-SHA256 of the declaration id).
        random_rate: The selection rate applied (never below the policy's floor).
        policy_id: The policy's id.
        policy_version: The policy's version.
        policy_hash: ``sha256:`` + hex SHA-256 of the policy's RFC 8785 canonical form.
        assessed_at: The time the decision was made for (given by the caller).
    """

    declaration_id: str
    channel: Channel
    score: float
    score_channel: Channel
    mandatory_channel: Channel
    reasons: tuple[Reason, ...]
    benefits_applied: tuple[str, ...]
    random_selected: bool
    random_draw: float
    random_rate: float
    policy_id: str
    policy_version: str
    policy_hash: str
    assessed_at: datetime

    @property
    def codes(self) -> tuple[ReasonCode, ...]:
        """The reason codes, in order (handy for tests and logs)."""
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> JSONObject:
        """Return the decision as a JSON object (camelCase members)."""
        return {
            "declarationId": self.declaration_id,
            "channel": self.channel.value,
            "score": self.score,
            "scoreChannel": self.score_channel.value,
            "mandatoryChannel": self.mandatory_channel.value,
            "reasons": [r.to_dict() for r in self.reasons],
            "benefitsApplied": list(self.benefits_applied),
            "randomSelection": {
                "selected": self.random_selected,
                "draw": self.random_draw,
                "rate": self.random_rate,
            },
            "policy": {
                "policyId": self.policy_id,
                "version": self.policy_version,
                "hash": self.policy_hash,
            },
            "assessedAt": _format_time(self.assessed_at),
        }

    def to_json(self) -> bytes:
        """Return :meth:`to_dict` as RFC 8785 canonical JSON (UTF-8 bytes)."""
        return canonicalize(self.to_dict())

    @classmethod
    def from_dict(cls, value: JSONObject) -> Decision:
        """Inverse of :meth:`to_dict` (for stored decisions).

        Raises:
            MalformedInputError: A member is missing or of the wrong type.
        """
        selection, policy, reasons = (
            value.get("randomSelection"),
            value.get("policy"),
            value.get("reasons"),
        )
        if not isinstance(selection, dict) or not isinstance(policy, dict):
            raise MalformedInputError("randomSelection and policy must be objects")
        if not isinstance(reasons, list):
            raise MalformedInputError("reasons must be a list")
        benefits = value.get("benefitsApplied")
        if not isinstance(benefits, list) or not all(isinstance(b, str) for b in benefits):
            raise MalformedInputError("benefitsApplied must be a list of strings")
        selected = selection.get("selected")
        if not isinstance(selected, bool):
            raise MalformedInputError("randomSelection.selected must be true or false")
        try:
            return cls(
                declaration_id=_str(value, "declarationId"),
                channel=Channel(_str(value, "channel")),
                score=_float(value, "score"),
                score_channel=Channel(_str(value, "scoreChannel")),
                mandatory_channel=Channel(_str(value, "mandatoryChannel")),
                reasons=tuple(
                    Reason.from_dict(r) if isinstance(r, dict) else _not_object() for r in reasons
                ),
                benefits_applied=tuple(str(b) for b in benefits),
                random_selected=selected,
                random_draw=_float(selection, "draw"),
                random_rate=_float(selection, "rate"),
                policy_id=_str(policy, "policyId"),
                policy_version=_str(policy, "version"),
                policy_hash=_str(policy, "hash"),
                assessed_at=parse_datetime(value.get("assessedAt"), field="assessedAt"),
            )
        except ValueError as e:  # An unknown channel or reason code.
            raise MalformedInputError(f"not a decision: {e}") from e


def _format_time(value: datetime) -> str:
    # Microseconds are kept (when there are any), so from_dict gives back an equal decision.
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _not_object() -> Reason:
    raise MalformedInputError("each reason must be an object")
