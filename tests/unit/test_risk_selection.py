"""Random selection: keyed, reproducible, uniform, and never zero for anyone."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from federation_config.risk import bundled_policy
from risk import (
    CredentialEvidence,
    CredentialStatus,
    Declaration,
    Evidence,
    GoodsItem,
    Party,
    PartyIdentifier,
    Policy,
    ReasonCode,
    RiskPolicyError,
    decide,
    selection_draw,
)
from risk.selection import SELECTION_LABEL

AT = datetime(2026, 12, 3, tzinfo=UTC)
SECRET = bytes(range(32))
EXPORTER = PartyIdentifier("TIN", "JP0000000007")
IMPORTER = Party("Voorbeeld Import BV", (PartyIdentifier("EORI", "NL123456789"),), "NL")
BENEFITS = (
    "reduced-examination",
    "fewer-documentary-checks",
    "priority-processing",
    "origin-scan-recognised",
    "business-continuity",
)


def within(count: int, n: int, p: float, sigmas: float = 4.5) -> bool:
    """``count`` successes of ``n`` draws is within ``sigmas`` standard deviations of n * p."""
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def declaration(i: int) -> Declaration:
    return Declaration(
        declaration_id=f"26NL{i:012d}",
        ucr=f"6NL{i:012d}",
        declarant=IMPORTER,
        exporter=Party("Example KK", (EXPORTER,), "JP"),
        importer=IMPORTER,
        consignor_country="JP",
        consignee_country="NL",
        port_of_loading="JPTYO",
        port_of_discharge="NLRTM",
        containers=("CSQU3054383",),
        goods_items=(GoodsItem("850440", "power supplies", 1e4, "EUR", 500.0),),
        transport_document="BL1",
    )


RECOGNISED = Evidence(
    (
        CredentialEvidence(
            "urn:uuid:aeo-jp-7",
            "did:web:jp.customs.example",
            (EXPORTER,),
            verified=True,
            status=CredentialStatus.VALID,
            recognised=True,
            benefits=frozenset(BENEFITS),
        ),
    )
)


@pytest.mark.parametrize("key_length", [16, 32, 64, 65, 200])
@pytest.mark.parametrize("declaration_id", ["26NL000000000001", "x", "Ω-" * 100])
def test_the_draw_is_hmac_sha256_of_the_declaration_id(
    key_length: int, declaration_id: str
) -> None:
    secret = bytes(range(key_length))
    message = SELECTION_LABEL + declaration_id.encode()
    mac = hmac.new(secret, message, hashlib.sha256).digest()
    expected = (int.from_bytes(mac[:8]) >> 11) / 2**53
    assert selection_draw(secret, declaration_id) == expected


def test_same_declaration_id_always_draws_the_same() -> None:
    draws = {selection_draw(SECRET, "26NL000000000001") for _ in range(50)}
    assert len(draws) == 1
    first = decide(declaration(1), RECOGNISED, bundled_policy("eu-aeo-default"), SECRET, at=AT)
    again = decide(declaration(1), RECOGNISED, bundled_policy("eu-aeo-default"), SECRET, at=AT)
    assert (first.random_draw, first.random_selected) == (again.random_draw, again.random_selected)


def test_a_different_secret_draws_differently() -> None:
    ids = [f"26NL{i:012d}" for i in range(2000)]
    other = bytes(reversed(SECRET))
    pairs = [(selection_draw(SECRET, i), selection_draw(other, i)) for i in ids]
    assert all(a != b for a, b in pairs)
    # Selections at 10 % under the two secrets agree no more than independence predicts.
    both = sum(1 for a, b in pairs if a < 0.1 and b < 0.1)
    assert within(both, len(ids), 0.01)


def test_draws_are_uniform() -> None:
    n = 20_000
    draws = sorted(selection_draw(SECRET, f"26NL{i:012d}") for i in range(n))
    assert 0 <= draws[0] and draws[-1] < 1
    # Kolmogorov-Smirnov distance; the 0.1 % critical value is 1.95 / sqrt(n).
    distance = max(max((k + 1) / n - x, x - k / n) for k, x in enumerate(draws))
    assert distance < 1.95 / math.sqrt(n)


def test_long_run_rate_without_benefits_is_the_policy_rate() -> None:
    policy = bundled_policy("eu-aeo-default")
    n = 4000
    selected = sum(
        decide(declaration(i), Evidence(), policy, SECRET, at=AT).random_selected for i in range(n)
    )
    assert within(selected, n, policy.random_rate)


def test_recognised_traders_are_never_exempt_from_the_floor() -> None:
    policy = bundled_policy("eu-aeo-default")
    n = 8000
    decisions = [decide(declaration(i), RECOGNISED, policy, SECRET, at=AT) for i in range(n)]
    assert {d.random_rate for d in decisions} == {policy.random_floor}
    assert all(d.benefits_applied for d in decisions)
    selected = [d for d in decisions if d.random_selected]
    assert selected
    assert within(len(selected), n, policy.random_floor)
    # Selected recognised traders get the selection channel whatever their score.
    assert all(d.channel.value == "physical" for d in selected)
    assert all(ReasonCode.RANDOM_SELECTED in d.codes for d in selected)


def _policy_with(**random_selection: Any) -> dict[str, Any]:
    doc = bundled_policy("eu-aeo-default").to_dict()
    doc["random_selection"].update(random_selection)  # type: ignore[union-attr]
    return doc


@pytest.mark.parametrize("size", range(len(BENEFITS) + 1))
def test_no_combination_of_benefits_goes_below_the_floor(size: int) -> None:
    # Factors far below the floor: the rate must stop at the floor, never at zero.
    doc = _policy_with(rate=0.02, floor=0.001)
    for code in BENEFITS:
        doc["benefits"][code] = {"random_factor": 1e-6}  # type: ignore[index]
    policy = Policy.from_dict(doc)
    for combination in itertools.combinations(BENEFITS, size):
        evidence = Evidence(
            (
                CredentialEvidence(
                    "urn:uuid:c",
                    "did:web:jp.customs.example",
                    (EXPORTER,),
                    verified=True,
                    status=CredentialStatus.VALID,
                    recognised=True,
                    benefits=frozenset(combination),
                ),
            )
        )
        decision = decide(declaration(7), evidence, policy, SECRET, at=AT)
        assert decision.random_rate == (0.02 if not combination else 0.001)


@pytest.mark.parametrize(
    ("change", "location"),
    [
        pytest.param({"floor": 0}, "random_selection.floor", id="zero-floor"),
        pytest.param(
            {"floor": 0.05, "rate": 0.01}, "random_selection.floor", id="floor-above-rate"
        ),
        pytest.param({"rate": 0}, "random_selection.rate", id="zero-rate"),
    ],
)
def test_a_policy_cannot_set_the_floor_to_zero(change: dict[str, Any], location: str) -> None:
    with pytest.raises(RiskPolicyError) as caught:
        Policy.from_dict(_policy_with(**change))
    assert location in [loc for loc, _ in caught.value.problems]


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(Exception, match="at least 16 bytes"):
        selection_draw(b"0123456789abcde", "x")
