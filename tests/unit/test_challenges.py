"""Challenge rules without a database: identifiers, formats, and why a challenge cannot count."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from credentials.errors import MalformedInputError
from credentials.result import CheckStatus
from registry.challenges import (
    CHALLENGE_PATTERN,
    UCR_PATTERN,
    UNLOCODE_PATTERN,
    Challenge,
    Redemption,
    challenge_check,
    check_challenge_format,
    check_consignment,
    check_port,
    classify,
)

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "ucr",
    [
        "6GB123456789000-12345",
        "9DE123456789012345",
        "4NL1/2",
        "7JP12.34-56/78",
        "1US" + "A" * 32,  # 35 characters
    ],
)
def test_ucrs_are_accepted(ucr: str) -> None:
    assert check_consignment(ucr) == ucr
    assert re.fullmatch(UCR_PATTERN, ucr)


@pytest.mark.parametrize(
    "ucr",
    [
        "",
        "6gb123456789000-12345",  # lower case
        "GB123456789000",  # no year digit
        "6G1234",  # no two-letter country
        "6GB",  # nothing after the country
        "6GB12--34",  # two separators
        "6GB1234-",  # trailing separator
        "6GB 1234",
        "6GB1234\n",
        "1US" + "A" * 33,  # 36 characters
        "6GB1234\x00",
        "\uff16GB1234",  # a full-width digit
    ],
)
def test_non_ucrs_are_refused(ucr: str) -> None:
    with pytest.raises(MalformedInputError) as caught:
        check_consignment(ucr)
    assert caught.value.code == "INVALID_CONSIGNMENT"


@pytest.mark.parametrize("port", ["NLRTM", "DEHAM", "USLAX", "JPTYO", "GB2AB", "FR9ZZ"])
def test_unlocodes_are_accepted(port: str) -> None:
    assert check_port(port) == port
    assert re.fullmatch(UNLOCODE_PATTERN, port)


@pytest.mark.parametrize(
    "port", ["", "nlrtm", "NLRT", "NLRTMX", "NL-RT", "NLR0M", "NL1TM", "N1RTM", "NLRTM\n", 7]
)
def test_non_unlocodes_are_refused(port: object) -> None:
    with pytest.raises(MalformedInputError) as caught:
        check_port(port)
    assert caught.value.code == "INVALID_PORT"


def test_challenge_format() -> None:
    good = "A" * 22
    assert check_challenge_format(good) == good
    assert re.fullmatch(CHALLENGE_PATTERN, "x" * 128)
    for bad in ("A" * 21, "A" * 129, "A" * 30 + "=", "A" * 30 + "+", "A" * 30 + "\n", None):
        with pytest.raises(MalformedInputError):
            check_challenge_format(bad)


def _issued(**changes: object) -> Challenge:
    values: dict[str, object] = {
        "value": "c" * 43,
        "consignment": "6GB123456789000-12345",
        "port": "USLAX",
        "created_at": NOW - timedelta(minutes=5),
        "expires_at": NOW + timedelta(minutes=5),
        "used_at": None,
        **changes,
    }
    return Challenge(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("issued", "consignment", "port", "expected", "code"),
    [
        pytest.param(None, "6GB123456789000-12345", "USLAX", Redemption.UNKNOWN,
                     "CHALLENGE_UNKNOWN", id="unknown"),
        pytest.param(_issued(), "6GB123456789000-99999", "USLAX", Redemption.MISMATCH,
                     "CHALLENGE_MISMATCH", id="other-consignment"),
        pytest.param(_issued(), "6GB123456789000-12345", "USNYC", Redemption.MISMATCH,
                     "CHALLENGE_MISMATCH", id="other-port"),
        pytest.param(_issued(used_at=NOW - timedelta(minutes=1)), "6GB123456789000-12345",
                     "USLAX", Redemption.USED, "CHALLENGE_USED", id="used"),
        pytest.param(_issued(expires_at=NOW), "6GB123456789000-12345", "USLAX",
                     Redemption.EXPIRED, "CHALLENGE_EXPIRED", id="expired-at-now"),
        pytest.param(
            _issued(used_at=NOW - timedelta(minutes=1)), "6GB123456789000-99999", "USLAX",
            Redemption.MISMATCH, "CHALLENGE_MISMATCH", id="used-and-for-another-consignment",
        ),
        pytest.param(_issued(), "6GB123456789000-12345", "USLAX", Redemption.AVAILABLE,
                     "NOT_RUN", id="available-but-not-spent"),
    ],
)  # fmt: skip
def test_why_a_challenge_cannot_count(
    issued: Challenge | None, consignment: str, port: str, expected: Redemption, code: str
) -> None:
    outcome = classify(issued, consignment=consignment, port=port, now=NOW)
    assert outcome is expected
    check = challenge_check(outcome, issued, consignment=consignment, port=port)
    assert check.name == "challenge" and check.code == code
    assert check.status is not CheckStatus.PASS
    assert check.detail  # an officer reads why


def test_a_redeemed_challenge_passes() -> None:
    check = challenge_check(
        Redemption.REDEEMED, _issued(), consignment="6GB123456789000-12345", port="USLAX"
    )
    assert check.status is CheckStatus.PASS
    assert "6GB123456789000-12345" in check.detail and "USLAX" in check.detail


def test_a_challenge_must_expire_after_it_was_issued() -> None:
    with pytest.raises(ValueError, match="expire"):
        _issued(expires_at=NOW - timedelta(minutes=5))
