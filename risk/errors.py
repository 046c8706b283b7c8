"""Errors raised by the risk core.

Every error here is a :class:`~credentials.errors.MalformedInputError`: the input (a
declaration, a piece of evidence, a policy, the selection secret) is not acceptable, and
fixing the input is the only remedy. A decision itself never fails: evidence that does not
count (unverified, revoked, for another party) is explained in the decision's reasons, not
raised. Exceptions never log; callers decide how to show them (``diagnostics()``).
"""

from __future__ import annotations

from collections.abc import Iterable

from credentials.errors import MalformedInputError

__all__ = [
    "MalformedDeclarationError",
    "MalformedEvidenceError",
    "RiskPolicyError",
]

_MAX_SUMMARY = 10


def _summary(what: str, problems: tuple[tuple[str, str], ...]) -> str:
    count = len(problems)
    shown = "; ".join(f"{loc or '(root)'}: {msg}" for loc, msg in problems[:_MAX_SUMMARY])
    more = f"; and {count - _MAX_SUMMARY} more" if count > _MAX_SUMMARY else ""
    noun = "problem" if count == 1 else "problems"
    return f"{what}: {count} {noun}: {shown}{more}"


class _ProblemsError(MalformedInputError):
    """An input with every problem found, each ``(location, message)``."""

    what = "input"

    def __init__(self, problems: Iterable[tuple[str, str]]) -> None:
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        super().__init__(_summary(self.what, self.problems))

    def diagnostics(self) -> str:
        """Explain the error for an operator, one problem per line."""
        lines = [f"{self.code}: {self.what} is not acceptable"]
        lines += [f"  {loc or '(root)'}: {msg}" for loc, msg in self.problems]
        return "\n".join(lines)


class MalformedDeclarationError(_ProblemsError):
    """A declaration is refused: not the schema's shape, or a value fails its own rule.

    Attributes:
        problems: ``(location, message)`` pairs; the location is a JSON Pointer (RFC 6901)
            into the declaration (``/containers/1``), ``""`` for the document itself.
    """

    code = "MALFORMED_DECLARATION"
    what = "declaration"


class MalformedEvidenceError(_ProblemsError):
    """A piece of evidence cannot be built (wrong type, naive time, bad container number).

    Attributes:
        problems: ``(location, message)`` pairs.
    """

    code = "MALFORMED_EVIDENCE"
    what = "evidence"


class RiskPolicyError(_ProblemsError):
    """A risk policy is not acceptable.

    Attributes:
        problems: ``(location, message)`` pairs; the location is a dotted key path
            (``thresholds.physical``, ``score.routes.rules[1].loading``).
    """

    code = "INVALID_RISK_POLICY"
    what = "risk policy"
