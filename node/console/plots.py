"""The console's plots: inspection rates by segment and how fresh partners' data is here.

Every chart is inline SVG drawn server-side from :mod:`node.console.charts` (no script, no
inline style: the Content Security Policy forbids both), with its figures in text too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response

from node.console.charts import bar_chart, stacked_chart
from node.console.web import console_blueprint, console_scope, render_page
from node.services.console_risk import (
    CHANNEL_COLOURS,
    CHANNELS,
    PLOT_DECISIONS,
    PLOT_FETCHES,
    ConsoleRisk,
    SegmentRow,
)
from node.services.console_sessions import ConsoleSessions

__all__ = ["make_blueprint"]


def _stacked(rows: tuple[SegmentRow, ...]) -> object:
    return stacked_chart([(r.label, r.counts) for r in rows], CHANNELS) if rows else None


def make_blueprint(
    *, sessions: ConsoleSessions, read: ConsoleRisk, clock: Callable[[], datetime]
) -> Blueprint:
    """The ``/console/plots`` blueprint."""
    bp = console_blueprint("console_plots", __name__, sessions=sessions, clock=clock)

    @bp.get("/plots")
    @console_scope("officer", "auditor", "registry-admin")
    def plots() -> Response:
        figures = read.plots()
        shares = figures.shares
        freshness = bar_chart(
            [
                (
                    f"{f.peer}: {f.resource}",
                    None if f.age_seconds is None else float(f.age_seconds),
                    "bar bad" if f.failures else "bar",
                )
                for f in figures.freshness
            ]
        )
        delays = bar_chart(
            [
                item
                for p in figures.propagation
                for item in (
                    (f"{p.peer}: median of {p.versions}", p.median_seconds, "bar"),
                    (f"{p.peer}: longest", p.max_seconds, "bar alt"),
                )
            ]
        )
        return render_page(
            "console/plots.html",
            figures=figures,
            shares=shares,
            by_benefits=_stacked(shares.by_benefits),
            by_port=_stacked(shares.by_port),
            by_policy=_stacked(shares.by_policy),
            freshness=freshness if figures.freshness else None,
            delays=delays if figures.propagation else None,
            channels=CHANNELS,
            colours=CHANNEL_COLOURS,
            plot_decisions=PLOT_DECISIONS,
            plot_fetches=PLOT_FETCHES,
        )

    return bp
