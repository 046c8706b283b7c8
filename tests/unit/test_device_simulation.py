"""The pure scan simulator: repeatable, valid containers, alarm rate, modalities, real scans."""

from __future__ import annotations

import hashlib
import random
import re
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from scan_attestation.adapters import parse_scan
from scan_attestation.attestation import build_scan_attestation, read_scan_attestation
from scan_attestation.containers import is_valid_container_number
from scan_attestation.scan import (
    MODALITIES,
    N42Summary,
    ScanError,
    XRaySummary,
    format_timestamp,
    parse_timestamp,
)
from scan_attestation.simulation import (
    N42Samples,
    SimulatedScan,
    SimulationError,
    random_container_number,
    simulate_scan,
)
from support import VECTORS

NOW = datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=UTC)
SAMPLE_FILES = ("AnnexD.n42", "AnnexD_alarmed.n42", "AnnexE.n42")
DEVICE = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


def shipped(name: str) -> bytes:
    return (resources.files("scan_attestation") / "samples" / name).read_bytes()


@pytest.fixture(scope="module")
def samples() -> N42Samples:
    return N42Samples.from_bytes(
        rpm_clear=shipped("AnnexD.n42"),
        rpm_alarm=shipped("AnnexD_alarmed.n42"),
        spectroscopic=shipped("AnnexE.n42"),
    )


def draw(
    samples: N42Samples,
    n: int,
    *,
    seed: int = 1,
    modalities: tuple[str, ...] = MODALITIES,
    alarm_rate: float = 0.3,
) -> list[SimulatedScan]:
    rng = random.Random(seed)  # noqa: S311
    return [
        simulate_scan(
            modalities=modalities, rng=rng, now=NOW, samples=samples, alarm_rate=alarm_rate
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_the_package_ships_the_vectors_byte_for_byte(name: str) -> None:
    assert shipped(name) == (VECTORS / "n42" / name).read_bytes()


def test_a_seed_gives_the_same_scans(samples: N42Samples) -> None:
    first = draw(samples, 15, seed=7)
    assert first == draw(samples, 15, seed=7)
    assert first != draw(samples, 15, seed=8)


def test_every_scan_is_what_the_adapter_reads(samples: N42Samples) -> None:
    seen = set()
    for drawn in draw(samples, 30, alarm_rate=0.5):
        scan = parse_scan(drawn.raw)
        assert scan.to_json() == drawn.scan_json
        assert drawn.scan_json["rawSha256"] == hashlib.sha256(drawn.raw).hexdigest()
        assert drawn.scan_json["scanTime"] == format_timestamp(NOW) == "2026-03-01T09:30:15.25Z"
        assert drawn.result in ("clear", "alarm")
        # The scan's own containers are among the consignment's.
        assert set(scan.containers) <= set(drawn.containers)
        if drawn.modality == "spectroscopic-rpm":
            assert scan.containers == drawn.containers[:1]
            assert b"YMLU3030933" not in drawn.raw
        if drawn.modality == "xray":
            assert isinstance(scan.summary, XRaySummary)
            assert scan.containers == drawn.containers
        seen.add((drawn.modality, drawn.result))
        claims = read_scan_attestation(
            build_scan_attestation(
                attestation_id="urn:uuid:5f0c0e1e-8d3c-4f7e-9a55-0b1f3c2d4e5f",
                device=DEVICE,
                authorization_id="urn:uuid:0d6f3c1a-2b4e-4c5d-8e9f-a0b1c2d3e4f5",
                site="NLRTM",
                scan=drawn.scan_json,
                containers=drawn.containers,
                seals=drawn.seals,
                transport_document=drawn.transport_document,
            )
        )
        assert claims.scan_time == NOW
    assert seen == {(m, r) for m in MODALITIES for r in ("clear", "alarm")}


def test_replayed_occupancies_keep_their_spacing(samples: N42Samples) -> None:
    original = parse_scan(shipped("AnnexE.n42")).summary
    drawn = draw(samples, 1, modalities=("spectroscopic-rpm",))[0]
    replayed = parse_scan(drawn.raw).summary
    assert isinstance(original, N42Summary) and isinstance(replayed, N42Summary)

    def starts(summary: N42Summary) -> list[datetime]:
        return [parse_timestamp(m.start_time or "")[0] for m in summary.measurements]

    shifts = {new - old for old, new in zip(starts(original), starts(replayed), strict=True)}
    assert len(shifts) == 1
    assert shifts.pop() == NOW - datetime(2010, 1, 27, 13, 2, 20, 400000, tzinfo=UTC)


def test_clear_spectroscopic_scans_drop_the_alarm_and_the_nuclides(samples: N42Samples) -> None:
    clear = [d for d in draw(samples, 12, modalities=("spectroscopic-rpm",)) if d.result == "clear"]
    assert clear
    for drawn in clear:
        summary = parse_scan(drawn.raw).summary
        assert isinstance(summary, N42Summary)
        assert (summary.alarms, summary.nuclides, summary.faults) == ((), (), ())


def test_containers_seals_and_documents_are_valid(samples: N42Samples) -> None:
    rng = random.Random(3)  # noqa: S311
    numbers = {random_container_number(rng) for _ in range(500)}
    assert len(numbers) > 490
    assert all(is_valid_container_number(n) and n[3] == "U" for n in numbers)
    for drawn in draw(samples, 40, modalities=("xray",)):
        assert 1 <= len(drawn.containers) <= 2
        assert len(set(drawn.containers)) == len(drawn.containers)
        assert all(is_valid_container_number(c) for c in drawn.containers)
        assert len(drawn.seals) == len(drawn.containers)
        assert all(re.fullmatch(r"[A-Z]{2}[0-9]{7}", s) for s in drawn.seals)
        assert re.fullmatch(r"[A-Z]{4}[0-9]{9}", drawn.transport_document)


@pytest.mark.parametrize(("rate", "low", "high"), [(0.0, 0, 0), (0.25, 60, 140), (1.0, 400, 400)])
def test_the_alarm_rate_is_honoured(samples: N42Samples, rate: float, low: int, high: int) -> None:
    drawn = draw(samples, 400, seed=11, modalities=("xray", "rpm"), alarm_rate=rate)
    alarms = sum(d.result == "alarm" for d in drawn)
    # 400 draws at 0.25: mean 100, standard deviation about 8.7; the bounds are 4.6 of them.
    assert low <= alarms <= high
    assert {d.result for d in drawn} <= {"clear", "alarm"}


@pytest.mark.parametrize(
    "modalities",
    [("xray",), ("rpm",), ("spectroscopic-rpm",), ("rpm", "spectroscopic-rpm"), MODALITIES],
    ids=lambda m: "+".join(m),
)
def test_only_the_device_modalities_are_drawn(
    samples: N42Samples, modalities: tuple[str, ...]
) -> None:
    drawn = draw(samples, 24, modalities=modalities)
    assert {d.modality for d in drawn} == set(modalities)
    for d in drawn:
        assert d.scan_json["format"] == ("xray" if d.modality == "xray" else "n42")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"modalities": ()}, SimulationError),
        ({"modalities": ("ultrasound",)}, SimulationError),
        ({"alarm_rate": 1.5}, SimulationError),
        ({"alarm_rate": -0.1}, SimulationError),
        ({"now": datetime(2026, 3, 1)}, ValueError),
        ({"modalities": ("xray",), "scanner_id": "bad\nid"}, ScanError),
    ],
    ids=["no-modality", "unknown-modality", "rate-above-1", "rate-below-0", "naive-now", "bad-id"],
)
def test_bad_arguments_are_refused(
    samples: N42Samples, kwargs: dict[str, object], error: type[Exception]
) -> None:
    arguments: dict[str, object] = {
        "modalities": MODALITIES,
        "rng": random.Random(0),  # noqa: S311
        "now": NOW,
        "samples": samples,
        "alarm_rate": 0.5,
        **kwargs,
    }
    with pytest.raises(error):
        simulate_scan(**arguments)  # type: ignore[arg-type]


def test_samples_that_do_not_fit_are_refused() -> None:
    with pytest.raises(SimulationError, match="rpm_clear"):
        N42Samples.from_bytes(
            rpm_clear=shipped("AnnexD_alarmed.n42"),
            rpm_alarm=shipped("AnnexD_alarmed.n42"),
            spectroscopic=shipped("AnnexE.n42"),
        )
    with pytest.raises(SimulationError, match="not UTF-8"):
        N42Samples.from_bytes(
            rpm_clear=b"\xff<",
            rpm_alarm=shipped("AnnexD_alarmed.n42"),
            spectroscopic=shipped("AnnexE.n42"),
        )


def test_a_scan_time_is_any_instant(samples: N42Samples) -> None:
    later = NOW + timedelta(days=400, microseconds=1)
    rng = random.Random(5)  # noqa: S311
    for _ in range(6):
        drawn = simulate_scan(
            modalities=MODALITIES, rng=rng, now=later, samples=samples, alarm_rate=0.5
        )
        assert drawn.scan_json["scanTime"] == format_timestamp(later)
