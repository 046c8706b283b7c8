"""Chart geometry for the console's inline SVG plots (pure: numbers in, shapes out).

The templates draw the shapes with SVG presentation attributes and console.css classes:
the Content Security Policy forbids inline ``style`` and script, so nothing here emits
markup. Every bar carries its figure as text too (a ``<title>`` and a label), so a chart
reads without colours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Bar",
    "BarChart",
    "Segment",
    "StackedChart",
    "StackedRow",
    "bar_chart",
    "duration",
    "stacked_chart",
]

WIDTH = 760
LABEL_WIDTH = 220
VALUE_WIDTH = 120
ROW_HEIGHT = 26
GAP = 8
TOP = 8
_AREA = WIDTH - LABEL_WIDTH - VALUE_WIDTH


@dataclass(frozen=True)
class Segment:
    """One part of a stacked bar."""

    key: str
    count: int
    percent: float
    x: float
    width: float

    @property
    def label(self) -> str:
        """The percentage, when the segment is wide enough to hold it."""
        return f"{self.percent:.0f}%" if self.width >= 34 else ""


@dataclass(frozen=True)
class StackedRow:
    """One stacked bar (100% of its total) and its label."""

    label: str
    total: int
    y: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class StackedChart:
    """Stacked 100% bars, one per row."""

    width: int
    height: int
    label_width: int
    bar_end: int
    row_height: int
    rows: tuple[StackedRow, ...]


def stacked_chart(
    rows: Sequence[tuple[str, Mapping[str, int]]], keys: Sequence[str]
) -> StackedChart:
    """A stacked 100% bar per row; ``keys`` give the segment order."""
    built = []
    for index, (label, counts) in enumerate(rows):
        total = sum(max(0, counts.get(k, 0)) for k in keys)
        x = float(LABEL_WIDTH)
        segments = []
        for key in keys:
            count = max(0, counts.get(key, 0))
            if not count or not total:
                continue
            width = _AREA * count / total
            segments.append(Segment(key, count, 100 * count / total, round(x, 2), round(width, 2)))
            x += width
        built.append(StackedRow(label, total, TOP + index * (ROW_HEIGHT + GAP), tuple(segments)))
    height = TOP * 2 + max(1, len(built)) * (ROW_HEIGHT + GAP)
    return StackedChart(WIDTH, height, LABEL_WIDTH, LABEL_WIDTH + _AREA, ROW_HEIGHT, tuple(built))


def duration(seconds: float) -> str:
    """A duration for people: ``42 s``, ``7.5 min``, ``3.2 h``, ``2.1 days``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 120 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@dataclass(frozen=True)
class Bar:
    """One horizontal bar (``width`` 0 and ``missing`` when there is no value)."""

    label: str
    value: float | None
    text: str
    y: float
    width: float
    css: str

    @property
    def missing(self) -> bool:
        """True when the row has no value."""
        return self.value is None


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars on one linear scale, from 0 to ``scale_max``."""

    width: int
    height: int
    label_width: int
    row_height: int
    scale_text: str
    bars: tuple[Bar, ...]


def bar_chart(items: Sequence[tuple[str, float | None, str]]) -> BarChart:
    """Bars for ``(label, value, css class)`` items, labelled as durations in seconds."""
    values = [v for _, v, _ in items if v is not None]
    top = max(values, default=0.0)
    bars = []
    for index, (label, value, css) in enumerate(items):
        y = TOP + index * (ROW_HEIGHT + GAP)
        if value is None:
            bars.append(Bar(label, None, "never", y, 0.0, css))
            continue
        value = max(0.0, value)
        width = _AREA * value / top if top > 0 else 0.0
        bars.append(Bar(label, value, duration(value), y, round(max(width, 1.0), 2), css))
    height = TOP * 2 + max(1, len(bars)) * (ROW_HEIGHT + GAP)
    return BarChart(WIDTH, height, LABEL_WIDTH, ROW_HEIGHT, duration(top), tuple(bars))
