"""The verification result value shared by every verifier in trustlane.

A result is a list of named checks (``proof``, ``issuer``, ``validity``, later ``status``,
``recognition``, ``holder``, ``challenge``...), each ``pass``, ``fail`` or ``unknown``, plus
errors with stable codes and warnings. ``verified`` is true only when there is at least one
check and every check passed: an empty result, or any ``unknown``, is not verified (fail
closed). This module only holds values; it does not verify anything.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Check", "CheckStatus", "ResultError", "VerificationResult"]


class CheckStatus(enum.StrEnum):
    """Outcome of one check."""

    PASS = "pass"  # noqa: S105 - a status word, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"


_PASS = CheckStatus.PASS


@dataclass(frozen=True)
class ResultError:
    """An error attached to a result: a stable code, a message, and the check it belongs to."""

    code: str
    message: str
    check: str

    def to_dict(self) -> dict[str, str]:
        """Return the JSON form."""
        return {"code": self.code, "message": self.message, "check": self.check}


@dataclass(frozen=True)
class Check:
    """One named check.

    Attributes:
        name: The check's name, e.g. ``proof``.
        status: pass, fail or unknown.
        detail: A human explanation of the outcome.
        code: For fail and unknown, the stable error code.

    """

    name: str
    status: CheckStatus
    detail: str
    code: str | None = None

    def __post_init__(self) -> None:
        if self.status is not CheckStatus.PASS and not self.code:
            raise ValueError("a failed or unknown check needs an error code")

    @staticmethod
    def passed(name: str, detail: str) -> Check:
        """Build a passing check (instances are immutable, so equal ones are shared)."""
        return _passed(name, detail)

    @classmethod
    def failed(cls, name: str, code: str, detail: str) -> Check:
        """Build a failing check."""
        return cls(name, CheckStatus.FAIL, detail, code)

    @classmethod
    def unknown(cls, name: str, code: str, detail: str) -> Check:
        """Build a check whose outcome could not be established."""
        return cls(name, CheckStatus.UNKNOWN, detail, code)

    def to_dict(self) -> dict[str, str]:
        """Return the JSON form."""
        out = {"name": self.name, "status": self.status.value, "detail": self.detail}
        if self.code:
            out["code"] = self.code
        return out


@functools.lru_cache(maxsize=1024)
def _passed(name: str, detail: str) -> Check:
    # Passing checks repeat (same issuer, same key, same counts); building a frozen dataclass
    # costs more than the check it reports, so equal ones are built once.
    return Check(name, CheckStatus.PASS, detail)


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of verifying one document.

    Attributes:
        checks: Every check that was run, in order.
        warnings: Things worth telling that do not affect ``verified``.

    """

    checks: tuple[Check, ...]
    warnings: tuple[str, ...] = field(default=())
    _verified: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Read several times per request on the verify path: decided once (checks is a tuple).
        # A plain loop: a generator costs more than the few checks it would look at.
        verified = bool(self.checks)
        for check in self.checks:
            if check.status is not _PASS:
                verified = False
                break
        object.__setattr__(self, "_verified", verified)

    @classmethod
    def _of(cls, checks: tuple[Check, ...]) -> VerificationResult:
        """``VerificationResult(checks)``, built in one step (the cold verification path).

        The same instance: a frozen dataclass without __slots__ keeps its fields in its
        __dict__, and filling that at once spares the frozen attribute assignments of
        __init__ and __post_init__ (``verified`` is decided the same way, here).
        """
        verified = bool(checks)
        for check in checks:
            if check.status is not _PASS:
                verified = False
                break
        result = object.__new__(cls)
        object.__setattr__(
            result, "__dict__", {"checks": checks, "warnings": (), "_verified": verified}
        )
        return result

    @property
    def verified(self) -> bool:
        """True only if at least one check ran and every check passed."""
        return self._verified

    @property
    def errors(self) -> tuple[ResultError, ...]:
        """One error per check that did not pass."""
        return tuple(
            ResultError(c.code or "UNKNOWN", c.detail, c.name)
            for c in self.checks
            if c.status is not CheckStatus.PASS
        )

    def check(self, name: str) -> Check | None:
        """Return the first check called ``name``, if any."""
        return next((c for c in self.checks if c.name == name), None)

    def with_checks(self, *checks: Check, warnings: tuple[str, ...] = ()) -> VerificationResult:
        """Return a copy with more checks (and warnings) appended."""
        return VerificationResult(self.checks + checks, self.warnings + warnings)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: verified, checks, errors, warnings."""
        return {
            "verified": self.verified,
            "checks": [c.to_dict() for c in self.checks],
            "errors": [e.to_dict() for e in self.errors],
            "warnings": list(self.warnings),
        }
