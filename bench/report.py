"""The raw figures of a benchmark run, for the JSON report (``docs/benchmarks.json``).

Every benchmark module adds its figures here with :func:`record` as it measures them;
``bench/run.py`` writes them out with the machine, the versions and the date.
"""

from __future__ import annotations

import statistics
from typing import Any

#: The figures recorded in this process, in the order they were measured.
FIGURES: list[dict[str, Any]] = []
#: The reference most ratios are taken to.
RAW = "raw libsodium Ed25519 verify (64-byte message)"


def record(
    section: str,
    name: str,
    per_round: list[float],
    *,
    unit: str = "ops/s",
    reference: list[float] | None = None,
    reference_name: str = RAW,
    goal: str | None = None,
    figures: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Add one figure to the JSON report (``figures``, default :data:`FIGURES`).

    Args:
        section: The report section it belongs to.
        name: The figure's name, as in the markdown table.
        per_round: The value measured in each round.
        unit: What the values count.
        reference: The reference figure's value in the same rounds (for the ratio).
        reference_name: What the reference is.
        goal: The goal stated for this figure, if any.
        figures: Where to add it.

    Returns:
        The entry added.

    """
    entry: dict[str, Any] = {
        "section": section,
        "name": name,
        "unit": unit,
        "per_round": [round(v, 3) for v in per_round],
        "median": round(statistics.median(per_round), 3) if per_round else None,
        "best": round(max(per_round), 3) if per_round else None,
    }
    if reference is not None and per_round:
        ratios = [v / r for v, r in zip(per_round, reference, strict=True)]
        entry["ratio_to"] = reference_name
        entry["ratio_per_round"] = [round(r, 4) for r in ratios]
        entry["ratio_median"] = round(statistics.median(ratios), 4)
    if goal is not None:
        entry["goal"] = goal
    (FIGURES if figures is None else figures).append(entry)
    return entry
