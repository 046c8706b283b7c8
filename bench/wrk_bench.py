"""Keep-alive HTTP figures with Debian's ``wrk``, worker RSS, and a bounded soak (issue 8).

Starts ``trustlane node serve`` (SQLite, plain HTTP on 127.0.0.1, 2 workers) as
``bench.http_bench`` does, issues one AEO credential, and then, all against that one node:

1. **Keep-alive throughput**: ``wrk`` with 16 connections on 2 threads, interleaved round
   by round: ``GET /health/live`` and ``POST /credentials/verify`` of the credential
   (``bench/wrk_post.lua`` sends the body and token). Ratio verify / live per round, median.
   Each endpoint is first loaded for ``WARM_UP_SECONDS``, not measured.
   The same credential is verified every time, so after the first request its signature
   comes from the worker's signature cache (status, recognition and validity are still
   checked: see ``credentials/signature_cache.py``).
2. **Worker RSS**: each worker's resident set (``/proc/PID/status`` ``VmRSS``) when idle
   (after start and one issuance), after at least 10,000 verifies, and after 10,000 more.
3. **Soak**: ``POST /credentials/verify`` at about 80 % of the throughput measured in step 1
   for ``soak_seconds`` (paced by a per-connection delay, corrected every segment), counting
   every socket error and every answer that is not 200; RSS at its start and end.

``wrk`` is installed from Debian (``apt-get install -y wrk``) when it is missing and this
process may (root); otherwise the section says it was not measured. Every run is bounded
(``wrk -d``, a timeout on each subprocess). ``python -m bench.wrk_bench [--quick]
[--soak-seconds N]`` runs it alone.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.http_bench import _free_port, init_bench_node, issue_one, serving

LUA = Path(__file__).with_name("wrk_post.lua")
CONNECTIONS = 16
THREADS = 2
WORKERS = 2
SOAK_SHARE = 0.8
RSS_VERIFIES = 10_000
WARM_UP_SECONDS = 1.0


@dataclass(frozen=True)
class WrkRun:
    """What one ``wrk`` run reported.

    Attributes:
        requests: Completed requests.
        seconds: Duration as measured by wrk.
        rate: Requests per second.
        errors: Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers.
        latency_ms: Mean latency.
        server_cpu_us: CPU time the node's workers used per request (user + system), when
            measured.

    """

    requests: int
    seconds: float
    rate: float
    errors: int
    latency_ms: float
    server_cpu_us: float = float("nan")


def ensure_wrk() -> str | None:
    """Path of ``wrk``, installing Debian's package when missing and allowed; None if not."""
    found = shutil.which("wrk")
    if found or not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Without package lists (a fresh container) the install fails: update them, then retry.
    for command in (
        ["install", "-y", "-q", "wrk"],
        ["update", "-q"],
        ["install", "-y", "-q", "wrk"],
    ):
        if shutil.which("wrk"):
            break
        try:
            subprocess.run(  # noqa: S603 - fixed commands
                ["apt-get", *command],  # noqa: S607 - the system's apt-get
                check=False,
                capture_output=True,
                timeout=300,
                env=env,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
    return shutil.which("wrk")


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _parse(output: str) -> WrkRun:
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if done is None or rate is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    seconds = float(done.group(2)) * _UNIT_MS[done.group(3)] / 1000.0
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket_errors is not None:
        errors += sum(int(n) for n in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx is not None:
        errors += int(non_2xx.group(1))
    latency = re.search(r"Latency\s+([\d.]+)(us|ms|s|m)", output)
    latency_ms = float(latency.group(1)) * _UNIT_MS[latency.group(2)] if latency else math_nan()
    return WrkRun(int(done.group(1)), seconds, float(rate.group(1)), errors, latency_ms)


def math_nan() -> float:
    """NaN (wrk printed no latency line)."""
    return float("nan")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk(
    exe: str,
    url: str,
    seconds: float,
    *,
    connections: int = CONNECTIONS,
    body_file: Path | None = None,
    token: str | None = None,
    delay_ms: int = 0,
    workers: list[int] | None = None,
) -> WrkRun:
    """One bounded ``wrk`` run (a POST with ``body_file``, else a GET).

    With ``workers``, also the CPU time they used per request.
    """
    command = [exe, "-t", str(THREADS), "-c", str(connections), "-d", f"{seconds:g}s"]
    command += ["--timeout", "5s"]
    env = dict(os.environ)
    if body_file is not None:
        command += ["-s", str(LUA)]
        env.update(WRK_BODY_FILE=str(body_file), WRK_TOKEN=token or "", WRK_DELAY_MS=str(delay_ms))
    command.append(url)
    before = cpu_seconds(workers) if workers else 0.0
    done = subprocess.run(  # noqa: S603 - wrk with our arguments
        command, check=True, capture_output=True, text=True, timeout=seconds + 30, env=env
    )
    result = _parse(done.stdout)
    if workers and result.requests:
        used = cpu_seconds(workers) - before
        result = dataclasses.replace(result, server_cpu_us=1e6 * used / result.requests)
    return result


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def rss_mib(pids: list[int]) -> list[float]:
    """Resident set of each process, in MiB."""
    sizes = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def _fmt_rss(sizes: list[float]) -> str:
    return " / ".join(f"{s:.0f}" for s in sizes)


# Where a verify request's samples go: the first rule whose frame is in a sample's stack
# names its stage (frames as py-spy writes them, "function (file:line)", line ignored).
_STAGES = (
    (
        "TrustSnapshotSource.current (",
        "app: trust snapshot freshness check (one SELECT, or one shared with other requests)",
    ),
    ("verify_with_snapshot (", "app: verification pipeline (pure)"),
    ("json_body (", "app: request body (strict JSON parse)"),
    ("VerifyAnswers.response (", "app: response body (JSON)"),
    ("jsonify (", "app: response body (JSON)"),
    ("BufferingWorker.call_app (", "app: Flask, token guard, the rest"),
    ("_write_to_self (", "thread to event loop hand-off (wake-up write, GIL)"),
    ("EpollSelector.select (", "event loop: waiting in epoll"),
    ("BufferingWorker.run (", "event loop: accept, h11 parsing, socket reads and writes"),
    ("_worker (concurrent/futures/thread.py", "request threads: waiting for work (GIL)"),
)


def py_spy() -> str | None:
    """The ``py-spy`` next to this interpreter or on PATH (a dev dependency), or None."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def profile_workers(
    spy: str, workers: list[int], run_load: Callable[[], WrkRun], seconds: float, out: Path
) -> tuple[list[str], WrkRun]:
    """Sample every worker with py-spy while ``run_load`` runs; markdown rows by stage."""
    spies = [
        subprocess.Popen(  # noqa: S603 - py-spy with our arguments
            [
                *(spy, "record", "--pid", str(pid), "--duration", f"{seconds + 2:g}"),
                *("--rate", "200", "--format", "raw", "--nonblocking"),
                *("--output", str(out / f"spy-{pid}.txt")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in workers
    ]
    time.sleep(1.0)
    load = run_load()
    for proc in spies:
        try:
            proc.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    stages: collections.Counter[str] = collections.Counter()
    for pid in workers:
        path = out / f"spy-{pid}.txt"
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            stage = next((name for frame, name in _STAGES if frame in stack), "other")
            stages[stage] += int(count)
    total = sum(stages.values())
    if not total:
        return [], load
    rows = ["| where | share of the workers' samples |", "|---|---:|"]
    for name in dict.fromkeys(name for _, name in (*_STAGES, ("", "other"))):
        if stages[name]:
            rows.append(f"| {name} | {stages[name] / total:.0%} |")
    return rows, load


def soak(
    exe: str,
    url: str,
    body_file: Path,
    token: str,
    *,
    target: float,
    seconds: float,
    latency_ms: float,
    segment: float = 5.0,
) -> tuple[WrkRun, list[float]]:
    """POST at about ``target`` req/s for ``seconds``; total run and the achieved segment rates.

    Each connection waits a delay before each request: the period one connection needs
    (connections / target) less about half the latency at full load to start with; after
    every segment the delay moves by half the gap between the period achieved and the one
    wanted.
    """
    period = 1000 * CONNECTIONS / target
    delay = max(0, round(period - latency_ms / 2))
    total_requests, total_seconds, errors, rates = 0, 0.0, 0, []
    latencies = []
    left = seconds
    while left > 0.5:
        part = min(segment, left)
        run = wrk(exe, url, part, body_file=body_file, token=token, delay_ms=delay)
        total_requests += run.requests
        total_seconds += run.seconds
        errors += run.errors
        rates.append(run.rate)
        latencies.append(run.latency_ms)
        left -= part
        if run.rate > 0:
            # Half the gap: other load on the machine moves the rate too; do not chase it.
            delay = max(0, round(delay - (1000 * CONNECTIONS / run.rate - period) / 2))
    rate = total_requests / total_seconds if total_seconds else 0.0
    mean_latency = statistics.fmean(latencies) if latencies else math_nan()
    return WrkRun(total_requests, total_seconds, rate, errors, mean_latency), rates


def run(
    *,
    rounds: int = 5,
    seconds: float = 5.0,
    soak_seconds: float = 180.0,
    quick: bool = False,
    json_figures: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Measure and return the markdown section (``quick``: RSS after 10,000 verifies only).

    ``json_figures``, when given, gets the raw figures (req/s per round, latency, server CPU per
    request, ratio to live per round; RSS; the soak) for the JSON report of ``bench/run.py``.
    """
    exe = ensure_wrk()
    header = ["## Node over HTTP with keep-alive (`wrk`, gunicorn + buffering worker, SQLite)", ""]
    if exe is None:
        return [*header, "Not measured: `wrk` is missing and could not be installed.", ""]
    version = subprocess.run(  # noqa: S603 - wrk -v prints its version
        [exe, "-v"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.splitlines()
    with tempfile.TemporaryDirectory(prefix="trustlane-wrk-") as tmp:
        port = _free_port()
        services, token, settings = init_bench_node(Path(tmp), port)
        services.db.dispose()
        base = f"http://127.0.0.1:{port}"
        body_file = Path(tmp) / "verify.json"
        with serving(settings, port, WORKERS, Path(tmp) / "serve.log") as server:
            vc = issue_one(port, token)
            body_file.write_bytes(
                json.dumps({"verifiableCredential": vc}, separators=(",", ":")).encode()
            )
            workers = _children(server)
            time.sleep(1.0)
            rss_idle = rss_mib(workers)
            live: list[WrkRun] = []
            verify: list[WrkRun] = []

            def verify_load(duration: float) -> WrkRun:
                return wrk(
                    exe,
                    f"{base}/credentials/verify",
                    duration,
                    body_file=body_file,
                    token=token,
                    workers=workers,
                )

            # Warm-up, not measured: both endpoints once for a second, so that the first
            # round of neither pays the workers' start (threads, pooled connections, the
            # first preparation of the body).
            wrk(exe, f"{base}/health/live", WARM_UP_SECONDS)
            wrk(
                exe, f"{base}/credentials/verify", WARM_UP_SECONDS, body_file=body_file, token=token
            )
            for _ in range(rounds):
                live.append(wrk(exe, f"{base}/health/live", seconds, workers=workers))
                verify.append(verify_load(seconds))
            verifies = sum(r.requests for r in verify)
            while verifies < RSS_VERIFIES:
                top_up = wrk(
                    exe, f"{base}/credentials/verify", 2.0, body_file=body_file, token=token
                )
                verifies += top_up.requests
            rss_10k = rss_mib(workers)
            counted = verifies
            while not quick and verifies < counted + RSS_VERIFIES:
                more = wrk(exe, f"{base}/credentials/verify", 2.0, body_file=body_file, token=token)
                verifies += more.requests
            rss_20k = rss_mib(workers)
            capacity = statistics.median(r.rate for r in verify)
            target = SOAK_SHARE * capacity
            rss_soak_start = rss_mib(workers)
            soaked, segment_rates = soak(
                exe,
                f"{base}/credentials/verify",
                body_file,
                token,
                target=target,
                seconds=soak_seconds,
                latency_ms=statistics.median(r.latency_ms for r in verify),
            )
            rss_soak_end = rss_mib(workers)
            alive = _children(server) == workers
            spy = py_spy()
            where: list[str] = []
            if spy is not None:
                where, profiled = profile_workers(
                    spy, workers, lambda: verify_load(seconds), seconds, Path(tmp)
                )
    ratios = [v.rate / g.rate for v, g in zip(verify, live, strict=True)]
    cpu_ratio = statistics.median(r.server_cpu_us for r in live) / statistics.median(
        r.server_cpu_us for r in verify
    )
    errors = sum(r.errors for r in (*live, *verify))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    lines = [
        *header,
        f"{WORKERS} workers (ADR 0002), `{version[0] if version else 'wrk'}` with "
        f"{CONNECTIONS} keep-alive connections on {THREADS} threads, {rounds} interleaved "
        f"rounds of {seconds:g} s per figure; server and wrk share this machine's "
        f"{os.cpu_count()} CPUs. {when}, load average {load:.1f} at the end.",
        "",
        "| figure | median req/s | best req/s | mean latency (median round) | "
        "server CPU per request | ratio to live (median of per-round ratios) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    section = "node over HTTP with keep-alive (wrk)"
    for name, runs in (
        ("`GET /health/live`", live),
        ("`POST /credentials/verify` (same body: prepared form and signature cached)", verify),
    ):
        rates = [r.rate for r in runs]
        ratio = 1.0 if runs is live else statistics.median(ratios)
        lines.append(
            f"| {name} | {statistics.median(rates):,.0f} | {max(rates):,.0f} | "
            f"{statistics.median(r.latency_ms for r in runs):.1f} ms | "
            f"{statistics.median(r.server_cpu_us for r in runs):,.0f} us | {ratio:.2f} |"
        )
        if json_figures is not None:
            per_round = [v.rate / g.rate for v, g in zip(runs, live, strict=True)]
            json_figures.append(
                {
                    "section": section,
                    "name": name,
                    "unit": "req/s",
                    "per_round": [round(x, 3) for x in rates],
                    "median": round(statistics.median(rates), 3),
                    "best": round(max(rates), 3),
                    "mean_latency_ms_per_round": [round(r.latency_ms, 3) for r in runs],
                    "server_cpu_us_per_request_per_round": [
                        round(r.server_cpu_us, 1) for r in runs
                    ],
                    "errors": sum(r.errors for r in runs),
                    "ratio_to": "`GET /health/live`",
                    "ratio_per_round": [round(x, 4) for x in per_round],
                    "ratio_median": round(statistics.median(per_round), 4),
                    **({"goal": ">= 0.8 x live (issue 8)"} if runs is verify else {}),
                }
            )
    lines += [
        "",
        f"Goal (issue 8): verify >= 0.8 x live; measured {statistics.median(ratios):.2f}. "
        f"Socket errors and answers other than 200 in these runs: {errors}. Server CPU per "
        "request is the workers' user + system time over the run divided by its requests; "
        f"live / verify of it is {cpu_ratio:.2f}, the ratio if the workers' CPU were the only "
        "limit (less moved by other load on the machine than the throughput ratio).",
        "",
    ]
    if where:
        lines += [
            f"Where a verify request's time goes: py-spy sampling both workers (200 Hz, "
            f"{seconds:g} s of the same load, {profiled.rate:,.0f} req/s while sampled), "
            "samples grouped by stage:",
            "",
            *where,
            "",
        ]
    lines += [
        "### Worker RSS (VmRSS of each worker, MiB)",
        "",
        "| when | workers |",
        "|---|---:|",
        f"| idle (after start and one issuance) | {_fmt_rss(rss_idle)} |",
        f"| after {counted:,} verifies | {_fmt_rss(rss_10k)} |",
        *([f"| after {verifies:,} verifies | {_fmt_rss(rss_20k)} |"] if not quick else []),
        "",
        "Goal: <= 100 MiB, flat.",
        "",
        "### Soak",
        "",
        f"`POST /credentials/verify` for {soaked.seconds:.0f} s at a target of {target:,.0f} "
        f"req/s ({SOAK_SHARE:.0%} of the median keep-alive figure above), {CONNECTIONS} "
        "connections paced by a per-connection delay corrected every 5 s: "
        f"{soaked.requests:,} requests, {soaked.rate:,.0f} req/s achieved (segments "
        f"{min(segment_rates):,.0f}-{max(segment_rates):,.0f}), mean latency "
        f"{soaked.latency_ms:.1f} ms, **{soaked.errors} errors** (socket errors and answers "
        f"other than 200). Worker RSS at start {_fmt_rss(rss_soak_start)} MiB, at end "
        f"{_fmt_rss(rss_soak_end)} MiB; "
        f"{'the same worker processes throughout' if alive else 'a worker was replaced'}.",
        "",
    ]
    if json_figures is not None:
        json_figures += [
            {
                "section": section,
                "name": "worker RSS",
                "unit": "MiB per worker",
                "idle": [round(x, 1) for x in rss_idle],
                f"after {counted} verifies": [round(x, 1) for x in rss_10k],
                **(
                    {f"after {verifies} verifies": [round(x, 1) for x in rss_20k]}
                    if not quick
                    else {}
                ),
                "goal": "<= 100 MiB, flat",
            },
            {
                "section": section,
                "name": "soak, POST /credentials/verify",
                "unit": "req/s",
                "target": round(target, 1),
                "seconds": round(soaked.seconds, 1),
                "requests": soaked.requests,
                "achieved": round(soaked.rate, 3),
                "segments": [round(x, 1) for x in segment_rates],
                "mean_latency_ms": round(soaked.latency_ms, 3),
                "errors": soaked.errors,
                "rss_start_mib": [round(x, 1) for x in rss_soak_start],
                "rss_end_mib": [round(x, 1) for x in rss_soak_end],
                "same_workers": alive,
            },
        ]
    return lines


def main() -> None:
    """Print the section alone."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3 s, 15 s soak")
    parser.add_argument("--soak-seconds", type=float, default=None)
    args = parser.parse_args()
    soak_seconds = args.soak_seconds
    if soak_seconds is None:
        soak_seconds = 15.0 if args.quick else 180.0
    if args.quick:
        print("\n".join(run(rounds=2, seconds=3.0, soak_seconds=soak_seconds, quick=True)))
    else:
        print("\n".join(run(soak_seconds=soak_seconds)))


if __name__ == "__main__":
    main()
