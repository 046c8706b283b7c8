"""Means and 95 % confidence intervals over seeds (private).

Student's t interval: mean +- t(0.975, n - 1) * s / sqrt(n), with the sample standard
deviation s. The t quantiles for 1-30 degrees of freedom are the standard table values;
beyond 30 the normal quantile (1.96) is used. One seed gives an interval of zero width
(there is nothing to estimate the spread from), marked by ``n`` = 1.
"""

from __future__ import annotations

import math
import statistics

# t(0.975, df) for df = 1..30.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z975 = 1.96
DIGITS = 6


def t975(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom."""
    return _T975[df - 1] if 1 <= df <= len(_T975) else _Z975


def mean_ci(values: list[float | None]) -> dict[str, float | None]:
    """Return ``{"mean", "ci95_low", "ci95_high", "n"}``, rounded to 6 decimals.

    Values that are None (undefined, e.g. a rate over zero consignments) are left out;
    with no value left, the statistics are None.
    """
    present = [v for v in values if v is not None]
    n = len(present)
    if n == 0:
        return {"mean": None, "ci95_low": None, "ci95_high": None, "n": 0}
    mean = statistics.fmean(present)
    half = t975(n - 1) * statistics.stdev(present) / math.sqrt(n) if n > 1 else 0.0
    return {
        "mean": round(mean, DIGITS),
        "ci95_low": round(mean - half, DIGITS),
        "ci95_high": round(mean + half, DIGITS),
        "n": n,
    }


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``; None (undefined) when the denominator is 0."""
    if denominator == 0:
        return None
    return numerator / denominator
