"""Risk core throughput: :func:`risk.decide` decisions per second on one core (issue 11).

Builds a varied set of declarations with their evidence once (1-3 goods items, 1-3
containers, a recognised AEO credential on most, origin X-ray and radiation scans on some,
an identifier crosswalk and a watch list), then times ``decide`` over them in CPU time
(``time.process_time``: the figure is per second of one core's time, so other load on a
shared machine disturbs it less than wall time would), best of a few rounds. Declaration
parsing is not timed: the node parses once per request, and this measures the pure core.
``make bench`` reports it; ``python -m bench.risk_bench`` runs it alone.
"""

from __future__ import annotations

import os
import platform
import random
import time
from datetime import UTC, datetime, timedelta

from federation_config.risk import bundled_policy
from risk import (
    CredentialEvidence,
    CredentialStatus,
    Declaration,
    Evidence,
    GoodsItem,
    IdentifierCrosswalk,
    Party,
    PartyIdentifier,
    ScanEvidence,
    ScanModality,
    ScanResult,
    WatchList,
    decide,
)
from risk.identifiers import iso6346_check_digit

AT = datetime(2026, 12, 3, tzinfo=UTC)
SECRET = bytes(range(32))
CHAPTERS = ("84", "85", "61", "24", "39", "69", "30", "94")
ORIGINS = (("CN", "CNSHA"), ("US", "USNYC"), ("JP", "JPTYO"), ("VN", "VNSGN"), ("AE", "AEJEA"))
BENEFITS = frozenset({"reduced-examination", "priority-processing", "fewer-documentary-checks"})


def _container(rng: random.Random) -> str:
    head = f"{rng.choice(('MSC', 'MAE', 'CSQ', 'HLX'))}U{rng.randrange(10**6):06d}"
    return head + str(iso6346_check_digit(head))


def workload(count: int, *, seed: int = 11) -> list[tuple[Declaration, Evidence]]:
    """``count`` declarations with their evidence (deterministic for a seed)."""
    rng = random.Random(seed)
    importer = Party("Voorbeeld Import BV", (PartyIdentifier("EORI", "NL123456789"),), "NL")
    out = []
    for i in range(count):
        country, port = rng.choice(ORIGINS)
        exporter_id = PartyIdentifier("TIN", f"{country}{i % 500:010d}")
        containers = tuple(dict.fromkeys(_container(rng) for _ in range(rng.randint(1, 3))))
        goods = tuple(
            GoodsItem(f"{rng.choice(CHAPTERS)}{rng.randrange(10, 99)}10", "goods", 1e4, "EUR", 5e3)
            for _ in range(rng.randint(1, 3))
        )
        declaration = Declaration(
            declaration_id=f"26NL{i:012d}",
            ucr=f"6NL{i:012d}",
            declarant=importer,
            exporter=Party(f"Exporter {i % 500}", (exporter_id,), country),
            importer=importer,
            consignor_country=country,
            consignee_country="NL",
            port_of_loading=port,
            port_of_discharge="NLRTM",
            containers=containers,
            goods_items=goods,
            transport_document=f"BL{i:010d}",
        )
        credentials = ()
        if rng.random() < 0.7:
            credentials = (
                CredentialEvidence(
                    f"urn:uuid:cred-{i}",
                    f"did:web:{country.lower()}.customs.example",
                    (PartyIdentifier("OTHER", f"{country}-AEO-{i % 500}"),),
                    verified=rng.random() < 0.98,
                    status=CredentialStatus.VALID,
                    recognised=True,
                    benefits=BENEFITS,
                ),
            )
        scans: tuple[ScanEvidence, ...] = ()
        if rng.random() < 0.4:
            scanned = AT - timedelta(days=rng.uniform(5, 40))
            issuer = f"did:web:{country.lower()}.customs.example"
            scans = tuple(
                ScanEvidence(
                    f"urn:scan:{i}:{modality.value}",
                    issuer,
                    containers,
                    modality,
                    rng.choice(
                        (ScanResult.CLEAR,) * 8 + (ScanResult.ALARM, ScanResult.INCONCLUSIVE)
                    ),
                    scanned,
                    verified=True,
                    device_authorised=True,
                    recognised=True,
                    alarm_resolved=rng.random() < 0.8,
                )
                for modality in (ScanModality.XRAY, ScanModality.RADIATION_PORTAL)
            )
        out.append((declaration, Evidence(credentials, scans)))
    return out


def _crosswalk() -> IdentifierCrosswalk:
    return IdentifierCrosswalk.from_pairs(
        (PartyIdentifier("TIN", f"{c}{i:010d}"), PartyIdentifier("OTHER", f"{c}-AEO-{i}"))
        for c, _ in ORIGINS
        for i in range(500)
    )


def bench_decisions(n: int = 20_000, *, rounds: int = 5) -> float:
    """Return the decisions per CPU second of :func:`risk.decide` (best of ``rounds``).

    Args:
        n: Decisions per round (over a fixed set of 2,000 varied declarations).
        rounds: Rounds; the fastest counts.
    """
    policy = bundled_policy("eu-aeo-default")
    items = workload(min(n, 2_000))
    crosswalk = _crosswalk()
    watch_list = WatchList(parties=frozenset({PartyIdentifier("TIN", "CN0000000007")}))
    best = 0.0
    for _ in range(rounds):
        start = time.process_time()
        for k in range(n):
            declaration, evidence = items[k % len(items)]
            decide(
                declaration,
                evidence,
                policy,
                SECRET,
                at=AT,
                crosswalk=crosswalk,
                watch_list=watch_list,
            )
        best = max(best, n / (time.process_time() - start))
    return best


def main() -> None:
    """Print the figure (pinned to one core where the OS allows it)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rate = bench_decisions()
    print(
        f"risk.decide: {rate:,.0f} decisions/s (per CPU second, best of 5 rounds of 20,000; "
        f"one core; Python {platform.python_version()}; {os.cpu_count()} CPUs; load "
        f"{os.getloadavg()[0]:.1f}). Goal: >= 20,000/s."
    )


if __name__ == "__main__":  # pragma: no cover
    main()
