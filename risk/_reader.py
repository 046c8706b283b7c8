"""Reading a policy document member by member, collecting problems (private).

:class:`PolicyReader` is what :meth:`risk.Policy.from_dict` reads with: each accessor
checks one member's type and range, records a problem at its dotted location when it is
wrong, and returns a harmless stand-in so that reading goes on and every problem is
reported at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from risk.decision import Channel

MAX_POINTS = 1000.0
"""Largest number of points, threshold or score maximum a policy may use."""

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z", re.ASCII)


class PolicyReader:
    """Reads a policy document, collecting every problem at its dotted location."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, loc: str, message: str) -> None:
        self.problems.append((loc, message))

    def obj(self, parent: Mapping[str, Any], key: str, loc: str, keys: set[str]) -> dict[str, Any]:
        value = parent.get(key)
        where = f"{loc}.{key}" if loc else key
        if not isinstance(value, dict):
            self.fail(where, "is required and must be an object")
            return {}
        for extra in sorted(set(value) - keys):
            self.fail(f"{where}.{extra}", "is not a known member")
        return value

    def number(
        self,
        parent: Mapping[str, Any],
        key: str,
        loc: str,
        *,
        low: float,
        high: float,
        low_open: bool = False,
        default: float | None = None,
    ) -> float:
        value = parent.get(key, default)
        where = f"{loc}.{key}" if loc else key
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(where, "is required and must be a number")
            return low if not low_open else high
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            bound = f"more than {low:g}" if low_open else f"at least {low:g}"
            self.fail(where, f"must be {bound} and at most {high:g} (got {value!r})")
            return high
        return float(value)

    def token(self, parent: Mapping[str, Any], key: str) -> str:
        value = parent.get(key)
        if not isinstance(value, str) or not _TOKEN.match(value):
            self.fail(key, "must be 1-64 letters, digits, '.', '_' or '-'")
            return "?"
        return value

    def channel(
        self, parent: Mapping[str, Any], key: str, loc: str, allowed: tuple[Channel, ...]
    ) -> Channel:
        value = parent.get(key)
        if value not in [c.value for c in allowed]:
            names = ", ".join(c.value for c in allowed)
            self.fail(f"{loc}.{key}", f"must be one of {names}")
            return Channel.PHYSICAL
        return Channel(value)

    def points_table(
        self, parent: Mapping[str, Any], key: str, loc: str, pattern: re.Pattern[str], what: str
    ) -> tuple[float, dict[str, float]]:
        table = self.obj(parent, key, loc, {"default", "points"})
        where = f"{loc}.{key}"
        default = self.number(table, "default", where, low=0, high=MAX_POINTS)
        points = table.get("points", {})
        out: dict[str, float] = {}
        if not isinstance(points, dict):
            self.fail(f"{where}.points", "must be an object")
            return default, out
        for name in sorted(points):
            if not pattern.match(name):
                self.fail(f"{where}.points.{name}", f"is not {what}")
            else:
                out[name] = self.number(points, name, f"{where}.points", low=0, high=MAX_POINTS)
        return default, out
