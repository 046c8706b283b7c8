"""The synthetic trade flow of ``trustlane simulate`` (private).

An EU import port (Rotterdam) receives containers from nine countries. The model's numbers
are assumptions written down here once (see ``docs/simulation.md``); the risk *policy* is
not derived from them: it is the bundled example policy, whose points are an analyst's
rough view (high-risk chapters and origins score higher), not the hidden truth below.

- Traders (exporters abroad): a country, one or two HS chapters, a trade volume
  (log-normal), and an illicit propensity (log-normal, mean 1). A share ``aeo_share`` are
  AEO at origin; their propensity is :data:`AEO_PROPENSITY` times lower. AEO traders from
  a country with an MRA (:data:`ORIGINS`) are *recognised* at destination. A few non-AEO
  traders are on the watch list, more likely the higher their propensity.
- Consignments: a trader (by volume), one of its chapters, its country's port or (sometimes)
  a transshipment hub, 1-3 ISO 6346 containers. Each is illicit with a probability
  proportional to propensity x chapter x origin x route multipliers, scaled so that the
  non-AEO consignments' illicit rate is ``illicit_rate``.
- Origin scans (some consignments): an X-ray image (alarms on most illicit cargo, sometimes
  on licit cargo) and a radiation portal reading (nuisance alarms on NORM-bearing chapters,
  mostly resolved at origin by a handheld identifier).
- At destination, a declaration whose mandatory channel is non-intrusive (the policy may send
  unresolved origin image alarms there) is re-scanned; the re-scan alarms on most illicit
  cargo and a few licit ones (:data:`NII_ALARM`), and an alarm leads to a physical
  examination.
- Evidence: AEO traders present their credential (status sometimes not ``valid``, rarely not
  verified); half carry the identifier the declaration uses, the others only their
  programme's, which the administration's crosswalk links (with a few links missing).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from risk.declaration import Declaration, GoodsItem, Party, PartyIdentifier
from risk.evidence import (
    CredentialEvidence,
    CredentialStatus,
    Evidence,
    ScanEvidence,
    ScanModality,
    ScanResult,
)
from risk.identifiers import iso6346_check_digit

AT = datetime.fromisoformat("2026-12-03T00:00:00+00:00")
"""The assessment time of every simulated declaration."""

DESTINATION = ("NL", "NLRTM")
PARTNER = "did:web:{}.customs.example"

# country, trade weight, MRA with the destination, true risk multiplier, ports, transit days
ORIGINS = (
    ("CN", 0.28, True, 1.3, ("CNSHA", "CNNGB", "CNYTN"), 32),
    ("US", 0.14, True, 0.6, ("USNYC", "USSAV"), 12),
    ("JP", 0.08, True, 0.5, ("JPTYO", "JPYOK"), 36),
    ("IN", 0.10, False, 1.3, ("INNSA",), 24),
    ("VN", 0.10, False, 1.2, ("VNSGN",), 30),
    ("TR", 0.08, False, 1.2, ("TRMER",), 12),
    ("MY", 0.08, False, 1.1, ("MYPKG",), 28),
    ("BR", 0.07, False, 1.0, ("BRSSZ",), 18),
    ("AE", 0.07, False, 1.8, ("AEJEA",), 20),
)
HUBS = ("AEJEA", "MYPKG")
HUB_MULTIPLIER = 1.6
HUB_SHARE = {True: 0.04, False: 0.12}  # by MRA

# chapter, trade weight, true risk multiplier, NORM nuisance alarm rate of the portal
CHAPTERS = (
    ("84", 0.15, 0.7, 0.005),
    ("85", 0.15, 1.2, 0.005),
    ("39", 0.07, 0.6, 0.005),
    ("94", 0.07, 0.6, 0.005),
    ("87", 0.06, 1.0, 0.005),
    ("61", 0.06, 2.0, 0.005),
    ("62", 0.05, 2.0, 0.005),
    ("64", 0.04, 2.2, 0.005),
    ("95", 0.05, 1.6, 0.005),
    ("33", 0.04, 1.5, 0.005),
    ("30", 0.03, 2.5, 0.005),
    ("22", 0.02, 2.0, 0.005),
    ("24", 0.02, 5.0, 0.005),
    ("71", 0.01, 3.0, 0.005),
    ("69", 0.04, 0.5, 0.08),
    ("25", 0.03, 0.4, 0.10),
    ("31", 0.03, 0.4, 0.10),
    ("72", 0.04, 0.5, 0.03),
)
CONTAINER_COUNTS = (1, 1, 1, 1, 1, 1, 1, 2, 2, 3)  # containers per consignment, uniform pick
OWNER_CODES = ("MSC", "MAE", "CMA", "HLX", "OOL", "EGH", "CSQ", "TGH", "YML", "ONE")

AEO_PROPENSITY = 0.1  # AEO traders' illicit propensity relative to others
PROPENSITY_SIGMA = 1.0  # log-normal spread of propensity between traders
VOLUME_SIGMA = 1.0  # log-normal spread of trade volume between traders
TRADERS_PER_DECLARATION = 1 / 25
WATCH_LIST_RATE = 0.01  # per unit of propensity, non-AEO traders only
SCAN_SHARE = {True: 0.35, False: 0.20}  # consignments scanned at origin, by MRA
XRAY = {True: (0.60, 0.10), False: (0.02, 0.04)}  # (alarm, inconclusive) by illicit
PORTAL_RESOLVED = 0.8  # nuisance radiation alarms resolved at origin
REUSED_SCAN = 0.02  # an old attestation presented again (too old to count)
DEVICE_AUTHORISED = 0.99
SCAN_VERIFIED = 0.995
PRESENTS_CREDENTIAL = 0.95
STATUS_WEIGHTS = (("valid", 0.96), ("unknown", 0.02), ("suspended", 0.01), ("revoked", 0.01))
CREDENTIAL_VERIFIED = 0.99
CARRIES_DECLARED_ID = 0.5
CROSSWALK_COVERAGE = 0.97
MRA_BENEFITS = frozenset(
    {
        "reduced-examination",
        "priority-processing",
        "fewer-documentary-checks",
        "origin-scan-recognised",
        "business-continuity",
    }
)
DETECTION = 0.9  # a physical examination finds illicit goods
NII_ALARM = {True: 0.7, False: 0.03}  # destination X-ray re-scan alarms, by illicit


@dataclass(frozen=True, slots=True)
class Trader:
    """One exporter abroad."""

    index: int
    country: str
    mra: bool
    aeo: bool
    chapters: tuple[str, ...]
    propensity: float
    watch_listed: bool
    declared_id: PartyIdentifier
    programme_id: PartyIdentifier
    carries_declared_id: bool
    linked: bool

    @property
    def segment(self) -> str:
        """``non-aeo``, ``aeo-not-recognised`` or ``aeo-recognised``."""
        if not self.aeo:
            return "non-aeo"
        return "aeo-recognised" if self.mra else "aeo-not-recognised"


@dataclass(frozen=True, slots=True)
class Consignment:
    """One declaration with its two evidence variants and its hidden truth."""

    declaration: Declaration
    trader: Trader
    evidence_mra: Evidence
    evidence_none: Evidence
    illicit: bool
    detect_draw: float
    nii_draw: float

    @property
    def found_if_examined(self) -> bool:
        """A physical examination would find it illicit."""
        return self.illicit and self.detect_draw < DETECTION

    @property
    def nii_alarms(self) -> bool:
        """A destination non-intrusive re-scan would alarm (and lead to an examination)."""
        return self.nii_draw < NII_ALARM[self.illicit]


def _lognormal(rng: random.Random, sigma: float) -> float:
    # Mean 1: exp(N(-sigma^2/2, sigma)).
    return math.exp(rng.gauss(-sigma * sigma / 2, sigma))


def _container(rng: random.Random) -> str:
    head = f"{rng.choice(OWNER_CODES)}U{rng.randrange(10**6):06d}"
    return head + str(iso6346_check_digit(head))


def make_traders(rng: random.Random, count: int, aeo_share: float) -> list[Trader]:
    """Draw ``count`` traders."""
    countries = [o[0] for o in ORIGINS]
    weights = [o[1] for o in ORIGINS]
    mra = {o[0]: o[2] for o in ORIGINS}
    chapters = [c[0] for c in CHAPTERS]
    chapter_weights = [c[1] for c in CHAPTERS]
    traders = []
    for i in range(count):
        country = rng.choices(countries, weights)[0]
        aeo = rng.random() < aeo_share
        propensity = _lognormal(rng, PROPENSITY_SIGMA) * (AEO_PROPENSITY if aeo else 1.0)
        own = tuple(dict.fromkeys(rng.choices(chapters, chapter_weights, k=rng.randint(1, 2))))
        scheme, value = {
            "US": ("CTPAT", f"CT{i:010d}"),
            "JP": ("JP-AEO-CODE", f"JPAEO{i:08d}"),
        }.get(country, ("OTHER", f"{country}-AEO-{i:08d}"))
        traders.append(
            Trader(
                index=i,
                country=country,
                mra=mra[country],
                aeo=aeo,
                chapters=own,
                propensity=propensity,
                watch_listed=not aeo and rng.random() < WATCH_LIST_RATE * propensity,
                declared_id=PartyIdentifier("TIN", f"{country}{i:010d}"),
                programme_id=PartyIdentifier(scheme, value),
                carries_declared_id=rng.random() < CARRIES_DECLARED_ID,
                linked=rng.random() < CROSSWALK_COVERAGE,
            )
        )
    return traders


def _scans(
    rng: random.Random,
    tag: str,
    containers: tuple[str, ...],
    illicit: bool,
    chapter_norm: float,
    origin: tuple[str, bool, int],
) -> tuple[tuple[ScanEvidence, ...], tuple[ScanEvidence, ...]]:
    """Origin scans of one consignment: (as recognised under the MRA, as not recognised)."""
    country, mra, transit_days = origin
    if rng.random() >= SCAN_SHARE[mra]:
        return (), ()
    alarm, inconclusive = XRAY[illicit]
    u = rng.random()
    xray = (
        ScanResult.ALARM
        if u < alarm
        else ScanResult.INCONCLUSIVE
        if u < alarm + inconclusive
        else ScanResult.CLEAR
    )
    portal_alarm = rng.random() < chapter_norm
    resolved = portal_alarm and rng.random() < PORTAL_RESOLVED
    days = transit_days * rng.uniform(0.9, 1.3)
    if rng.random() < REUSED_SCAN:
        days += 90
    scanned_at = AT - timedelta(days=days)
    authorised = rng.random() < DEVICE_AUTHORISED
    verified = rng.random() < SCAN_VERIFIED
    variants = []
    for recognised in (mra, False):
        variants.append(
            (
                ScanEvidence(
                    f"urn:scan:{tag}:x",
                    PARTNER.format(country.lower()),
                    containers,
                    ScanModality.XRAY,
                    xray,
                    scanned_at,
                    verified,
                    authorised,
                    recognised,
                ),
                ScanEvidence(
                    f"urn:scan:{tag}:r",
                    PARTNER.format(country.lower()),
                    containers,
                    ScanModality.RADIATION_PORTAL,
                    ScanResult.ALARM if portal_alarm else ScanResult.CLEAR,
                    scanned_at,
                    verified,
                    authorised,
                    recognised,
                    alarm_resolved=resolved,
                ),
            )
        )
    return variants[0], variants[1]


def _credentials(
    rng: random.Random, tag: str, trader: Trader
) -> tuple[tuple[CredentialEvidence, ...], tuple[CredentialEvidence, ...]]:
    """The trader's credential, if presented: (under the MRA, without recognition)."""
    if not trader.aeo or rng.random() >= PRESENTS_CREDENTIAL:
        return (), ()
    status = rng.choices([s for s, _ in STATUS_WEIGHTS], [w for _, w in STATUS_WEIGHTS])[0]
    verified = rng.random() < CREDENTIAL_VERIFIED
    ids = (
        (trader.programme_id, trader.declared_id)
        if trader.carries_declared_id
        else (trader.programme_id,)
    )
    issuer = PARTNER.format(trader.country.lower())
    cred_id = f"urn:aeo:{trader.country}:{trader.index}"
    recognised = trader.mra
    with_mra = CredentialEvidence(
        cred_id,
        issuer,
        ids,
        verified,
        CredentialStatus(status),
        recognised,
        MRA_BENEFITS if recognised else frozenset(),
    )
    without = CredentialEvidence(cred_id, issuer, ids, verified, CredentialStatus(status), False)
    return (with_mra,), (without,)


def make_consignments(
    rng: random.Random, seed: int, count: int, traders: list[Trader], illicit_rate: float
) -> list[Consignment]:
    """Draw ``count`` consignments from ``traders``."""
    origins = {o[0]: o for o in ORIGINS}
    chapter_info = {c[0]: c for c in CHAPTERS}
    volumes = [_lognormal(rng, VOLUME_SIGMA) for _ in traders]
    importer = Party(
        "Voorbeeld Import BV", (PartyIdentifier("EORI", "NL123456789"),), DESTINATION[0]
    )
    drafts = []
    for i, trader in enumerate(rng.choices(traders, volumes, k=count)):
        _, _, mra, origin_risk, ports, transit = origins[trader.country]
        chapter = rng.choice(trader.chapters)
        hub = rng.random() < HUB_SHARE[mra]
        loading = rng.choice(HUBS) if hub else rng.choice(ports)
        count_boxes = rng.choice(CONTAINER_COUNTS)
        containers = tuple(dict.fromkeys(_container(rng) for _ in range(count_boxes)))
        risk = trader.propensity * chapter_info[chapter][2] * origin_risk
        risk *= HUB_MULTIPLIER if loading in HUBS and loading not in ports else 1.0
        drafts.append((i, trader, chapter, loading, containers, risk, transit))
    plain = [d[5] for d in drafts if not d[1].aeo]
    scale = illicit_rate / (sum(plain) / len(plain)) if plain else illicit_rate
    out = []
    for i, trader, chapter, loading, containers, risk, transit in drafts:
        illicit = rng.random() < min(0.95, risk * scale)
        tag = f"{seed}-{i}"
        exporter_ids = (trader.declared_id,)
        declaration = Declaration(
            declaration_id=f"26NL{seed:04d}{i:08d}",
            ucr=f"6NL{seed:04d}{i:09d}",
            declarant=importer,
            exporter=Party(f"Exporter {trader.index}", exporter_ids, trader.country),
            importer=importer,
            consignor_country=trader.country,
            consignee_country=DESTINATION[0],
            port_of_loading=loading,
            port_of_discharge=DESTINATION[1],
            containers=containers,
            goods_items=(
                GoodsItem(
                    f"{chapter}{rng.randrange(1, 100):02d}{rng.randrange(100):02d}",
                    f"goods of chapter {chapter}",
                    25_000.0,
                    "EUR",
                    8_000.0,
                ),
            ),
            transport_document=f"BL{seed:04d}{i:09d}",
        )
        scans_mra, scans_none = _scans(
            rng,
            tag,
            containers,
            illicit,
            chapter_info[chapter][3],
            (trader.country, trader.mra, transit),
        )
        creds_mra, creds_none = _credentials(rng, tag, trader)
        out.append(
            Consignment(
                declaration=declaration,
                trader=trader,
                evidence_mra=Evidence(creds_mra, scans_mra),
                evidence_none=Evidence(creds_none, scans_none),
                illicit=illicit,
                detect_draw=rng.random(),
                nii_draw=rng.random(),
            )
        )
    return out
