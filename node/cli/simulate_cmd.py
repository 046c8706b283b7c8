"""``trustlane simulate``: fewer inspections for recognised traders, and no less detection?

Runs :func:`risk.simulation.run_simulation` (the real pure risk core on a synthetic trade
flow, with and without mutual recognition, under the same examination budget), prints a
summary, and with ``--out DIR`` writes ``summary.json`` (byte-identical for the same
parameters: no timestamps, no durations, sorted keys), ``results.csv`` (one row per seed,
segment and run) and two PNG charts. Progress goes to stderr for long runs. Exit codes:
0 done, 2 bad arguments or an output that cannot be written (one line on stderr).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from credentials.errors import MalformedInputError
from federation_config.risk import bundled_policy, load_policy
from node.cli._io import EXIT_OK, fail, os_problem, progress_wanted
from risk import Policy, RiskPolicyError
from risk.simulation import MODES, SEGMENTS, SimulationConfig, SimulationResult, run_simulation

_DESCRIPTION = """\
Simulate a synthetic trade flow into an EU port and run the real risk core on every
declaration twice, with and without mutual recognition of partner AEO credentials and origin
scans, under the same physical examination budget (hard rules and random selection first,
then the highest scores). Reports per trader segment the examination rate, the illicit
consignments found, the examinations saved and the officer hours they represent, with 95 %%
confidence intervals over seeds. The model's assumptions are in docs/simulation.md.
"""
_DEFAULT_POLICY = "eu-aeo-default"
_PROGRESS_FROM = 100_000  # decisions; shorter runs print no progress
_LABELS = {
    "non-aeo": "non-AEO",
    "aeo-not-recognised": "AEO, not recognised",
    "aeo-recognised": "AEO, recognised (MRA)",
}
_CSV_FIELDS = (
    "seed",
    "segment",
    "run",
    "consignments",
    "illicit",
    "examined",
    "detected",
    "physical_rate",
    "detected_share",
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``simulate`` command."""
    cmd = sub.add_parser(
        "simulate",
        help="simulate trade with and without mutual recognition",
        description=_DESCRIPTION,
    )
    cmd.add_argument(
        "--declarations", default="20000", metavar="N", help="declarations per seed (default 20000)"
    )
    cmd.add_argument("--seed", default="1", metavar="S", help="first seed (default 1)")
    cmd.add_argument(
        "--seeds", default="1", metavar="K", help="number of seeds: S, S+1, ... (default 1)"
    )
    cmd.add_argument(
        "--aeo-share",
        default="0.3",
        metavar="F",
        help="share of traders that are AEO at origin (default 0.3)",
    )
    cmd.add_argument(
        "--illicit-rate",
        default="0.02",
        metavar="F",
        help="share of non-AEO consignments that are illicit (default 0.02)",
    )
    cmd.add_argument(
        "--budget",
        default="0.05",
        metavar="F",
        help="share of declarations physically examined (default 0.05)",
    )
    cmd.add_argument(
        "--policy",
        metavar="FILE",
        help=f"risk policy file (default: the bundled {_DEFAULT_POLICY})",
    )
    cmd.add_argument("--out", metavar="DIR", help="write summary.json, results.csv and charts here")
    cmd.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    cmd.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even without a terminal or with --json (long runs only)",
    )
    cmd.set_defaults(func=_simulate)


def _number(args: argparse.Namespace, name: str, *, integer: bool) -> float:
    text = getattr(args, name)
    option = "--" + name.replace("_", "-")
    try:
        return int(text) if integer else float(text)
    except ValueError:
        fail(f"{option}: {'an integer' if integer else 'a number'} is required (got {text!r})")


def _config(args: argparse.Namespace) -> SimulationConfig:
    try:
        return SimulationConfig(
            declarations=int(_number(args, "declarations", integer=True)),
            seed=int(_number(args, "seed", integer=True)),
            seeds=int(_number(args, "seeds", integer=True)),
            aeo_share=_number(args, "aeo_share", integer=False),
            illicit_rate=_number(args, "illicit_rate", integer=False),
            budget=_number(args, "budget", integer=False),
        )
    except MalformedInputError as e:
        fail(f"--{e.message}")


def _policy(args: argparse.Namespace) -> Policy:
    try:
        return (
            bundled_policy(_DEFAULT_POLICY)
            if args.policy is None
            else load_policy(Path(args.policy))
        )
    except RiskPolicyError as e:
        first = e.problems[0] if e.problems else ("", e.message)
        more = (
            f" (and {len(e.problems) - 1} more; see trustlane config check)"
            if len(e.problems) > 1
            else ""
        )
        where = "" if first[0] in ("", args.policy) else f"{first[0]}: "
        fix = "" if more else "; fix the policy (`trustlane config check FILE` lists every problem)"
        fail(f"{args.policy}: {where}{first[1]}{more}{fix}")


class _Progress:
    """Progress on stderr: a rewritten line on a terminal, a line per 10 % otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total
        step = percent if self.tty else percent - percent % 10
        if step == self.shown:
            return
        self.shown = step
        text = f"simulate: {percent:3d} % ({done:,}/{total:,} decisions)"
        if self.tty:
            sys.stderr.write("\r" + text + ("\n" if done >= total else ""))
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()


def summary_json(summary: dict[str, Any]) -> str:
    """The summary as written to ``summary.json``: sorted keys, 2-space indent, newline."""
    return json.dumps(summary, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _csv(result: SimulationResult) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in result.rows:
        rate = row["examined"] / row["consignments"] if row["consignments"] else ""
        share = row["detected"] / row["illicit"] if row["illicit"] else ""
        writer.writerow({**row, "physical_rate": _fmt(rate), "detected_share": _fmt(share)})
    return out.getvalue()


def _fmt(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:.6f}"


def _charts(summary: dict[str, Any], out: Path) -> list[Path]:
    # Imported here: matplotlib is slow to import and only --out needs it.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = summary["results"]
    colours = {"with_mra": "#1b7837", "without_mra": "#9970ab"}
    names = {"with_mra": "with mutual recognition", "without_mra": "without"}
    seeds = summary["parameters"]["seeds"]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for k, mode in enumerate(MODES):
        stats = [results["physical_rate"][g][mode] for g in SEGMENTS]
        means = [100 * (s["mean"] or 0) for s in stats]
        errors = [
            [100 * ((s["mean"] or 0) - (s["ci95_low"] or 0)) for s in stats],
            [100 * ((s["ci95_high"] or 0) - (s["mean"] or 0)) for s in stats],
        ]
        xs = [i + (k - 0.5) * 0.38 for i in range(len(SEGMENTS))]
        ax.bar(xs, means, 0.38, yerr=errors, capsize=4, color=colours[mode], label=names[mode])
    ax.set_xticks(range(len(SEGMENTS)), [_LABELS[g] for g in SEGMENTS])
    ax.set_ylabel("physically examined (%)")
    ax.set_title(f"Physical examination rate by trader segment (mean, 95 % CI, {seeds} seeds)")
    ax.legend()
    fig.tight_layout()
    rate_png = out / "physical-rate.png"
    fig.savefig(rate_png, dpi=110, metadata={"Software": None})
    plt.close(fig)

    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9, 4.2), gridspec_kw={"width_ratios": [1, 1.4]}
    )
    shares = [results["detected_share"][m] for m in MODES]
    left.bar(
        [names[m] for m in MODES],
        [100 * (s["mean"] or 0) for s in shares],
        yerr=[
            [100 * ((s["mean"] or 0) - (s["ci95_low"] or 0)) for s in shares],
            [100 * ((s["ci95_high"] or 0) - (s["mean"] or 0)) for s in shares],
        ],
        capsize=4,
        color=[colours[m] for m in MODES],
    )
    left.set_ylabel("illicit consignments found (%)")
    left.set_title("Same budget: share found (95 % CI)")
    for per_seed in summary["per_seed"]:
        segs = per_seed["segments"]
        illicit = sum(segs[g]["illicit"] for g in SEGMENTS) or 1
        found = [100 * sum(segs[g][m]["detected"] for g in SEGMENTS) / illicit for m in MODES]
        right.plot([1, 0], found, marker="o", color="#777777", alpha=0.7)
    right.set_xticks([0, 1], [names["without_mra"], names["with_mra"]])
    right.set_xlim(-0.3, 1.3)
    right.set_ylabel("illicit consignments found (%)")
    right.set_title("Per seed (paired: same flow)")
    fig.tight_layout()
    detection_png = out / "detection.png"
    fig.savefig(detection_png, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return [rate_png, detection_png]


def _ci(stats: dict[str, Any], scale: float = 1.0, unit: str = "") -> str:
    if stats["mean"] is None:
        return "n/a"
    text = f"{stats['mean'] * scale:.2f}{unit}"
    if stats["n"] > 1:
        text += f" (95% CI {stats['ci95_low'] * scale:.2f}..{stats['ci95_high'] * scale:.2f})"
    return text


def _report(summary: dict[str, Any], written: list[Path]) -> None:
    p, r = summary["parameters"], summary["results"]
    policy = summary["policy"]
    print(
        f"{p['declarations']:,} declarations x {p['seeds']} seed(s) from {p['seed']}; AEO share "
        f"{p['aeo_share']:g}, illicit rate {p['illicit_rate']:g}, budget {p['budget']:g}; "
        f"policy {policy['policy_id']} {policy['version']}"
    )
    print("physical examination rate, with / without mutual recognition:")
    for g in SEGMENTS:
        rates = r["physical_rate"][g]
        saved = r["examinations_saved"][g]
        print(
            f"  {_LABELS[g]:<22} {_ci(rates['with_mra'], 100, ' %')} / "
            f"{_ci(rates['without_mra'], 100, ' %')}; examinations saved per seed "
            f"{_ci(saved)}, officer hours {_ci(r['officer_hours_saved'][g])}"
        )
    print(f"recognised AEO / non-AEO rate: {_ci(r['recognised_to_non_aeo_physical_ratio'])}")
    share = r["detected_share"]
    print(
        f"illicit found: {_ci(share['with_mra'], 100, ' %')} with, "
        f"{_ci(share['without_mra'], 100, ' %')} without; difference "
        f"{_ci(share['difference'], 100, ' points')}"
    )
    equal = r["equal_detection"]
    print(
        f"at equal detection, recognition saves {_ci(equal['examinations_saved'])} examinations "
        f"per seed ({_ci(equal['officer_hours_saved'])} officer hours)"
    )
    for claim, holds in sorted(summary["claims"].items()):
        print(f"{claim}: {'yes' if holds else 'NO'}")
    for path in written:
        print(f"wrote {path}")


def _make_dir(out: Path) -> Path:
    # Before the run, so that a bad --out fails at once, not after minutes of simulation.
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(os_problem(out, "write", e))
    return out


def _write(out: Path, result: SimulationResult) -> list[Path]:
    try:
        files = [out / "summary.json", out / "results.csv"]
        files[0].write_text(summary_json(result.summary), encoding="utf-8")
        files[1].write_text(_csv(result), encoding="utf-8")
        return files + _charts(result.summary, out)
    except OSError as e:
        fail(os_problem(out, "write", e))


def _simulate(args: argparse.Namespace) -> int:
    config = _config(args)
    policy = _policy(args)
    out = _make_dir(Path(args.out)) if args.out else None
    progress = (
        _Progress() if config.decisions_total >= _PROGRESS_FROM and progress_wanted(args) else None
    )
    result = run_simulation(config, policy, progress)
    written = _write(out, result) if out is not None else []
    if args.json:
        sys.stdout.write(summary_json(result.summary))
    else:
        _report(result.summary, written)
    return EXIT_OK
