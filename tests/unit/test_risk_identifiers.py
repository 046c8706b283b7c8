"""Identifier rules of the risk core: ISO 6346, HS codes, UN/LOCODE, UCR, party schemes."""

from __future__ import annotations

import pytest

from registry.challenges import UCR_PATTERN, UNLOCODE_PATTERN
from risk.declaration import declaration_schema
from risk.identifiers import (
    container_issue,
    hs_code_issue,
    iso6346_check_digit,
    party_identifier_issue,
    ucr_issue,
    unlocode_issue,
)


@pytest.mark.parametrize("number", ["CSQU3054383", "YMLU3030933", "MSCU1234566", "TGHJ0000000"])
def test_valid_container_numbers(number: str) -> None:
    assert container_issue(number) is None


def test_check_digit_of_the_glossary_examples() -> None:
    assert iso6346_check_digit("CSQU305438") == 3
    assert iso6346_check_digit("YMLU303093") == 3


def test_a_remainder_of_ten_is_written_as_zero() -> None:
    # Find an owner + serial whose weighted sum is 10 mod 11; its check digit is 0.
    for serial in range(1000):
        head = f"ABCU{serial:06d}"
        values = {"A": 10, "B": 12, "C": 13, "U": 32}
        total = sum((values[c] if c.isalpha() else int(c)) << i for i, c in enumerate(head))
        if total % 11 == 10:
            assert iso6346_check_digit(head) == 0
            assert container_issue(head + "0") is None
            return
    pytest.fail("no serial with remainder 10 found")


@pytest.mark.parametrize(
    ("number", "message"),
    [
        pytest.param("CSQU3054384", "check digit is 4, expected 3", id="wrong-check-digit"),
        pytest.param("CSQX3054383", "category letter is X, expected U, J or Z", id="category"),
        pytest.param("csqu3054383", "is not an ISO 6346", id="lower-case"),
        pytest.param("CSQU 305438 3", "is not an ISO 6346", id="spaces"),
        pytest.param("CSQU305438", "is not an ISO 6346", id="too-short"),
        pytest.param("CSQU3054383\n", "is not an ISO 6346", id="trailing-newline"),
        pytest.param("ÄSQU3054383", "is not an ISO 6346", id="non-ascii"),
    ],
)
def test_bad_container_numbers(number: str, message: str) -> None:
    issue = container_issue(number)
    assert issue is not None and issue.startswith(message)


def test_check_digit_refuses_what_is_not_owner_and_serial() -> None:
    for bad in ("CSQU30543", "1SQU305438", "CSQUX05438", "ÄSQU305438"):
        with pytest.raises(ValueError, match="is not 4 letters and 6 digits"):
            iso6346_check_digit(bad)


@pytest.mark.parametrize("code", ["851712", "85171200", "8517120090", "010121", "970110"])
def test_valid_hs_codes(code: str) -> None:
    assert hs_code_issue(code) is None


@pytest.mark.parametrize("code", ["8517", "8517120", "85171200901", "770110", "000110", "85a712"])
def test_bad_hs_codes(code: str) -> None:
    assert hs_code_issue(code) is not None


@pytest.mark.parametrize(("value", "ok"), [("NLRTM", True), ("USLAX", True), ("JPYOK", True),
                                            ("DEHA2", True), ("NLRT1", False), ("nlrtm", False),
                                            ("NLRTMX", False), ("NLRTM\n", False)])  # fmt: skip
def test_unlocode(value: str, ok: bool) -> None:
    assert (unlocode_issue(value) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("6GB123456789000-12345", True), ("6NL1-2.3/4", True), ("GB123", False),
     ("6GB123--4", False), ("6GB" + "1" * 40, False)],
)  # fmt: skip
def test_ucr(value: str, ok: bool) -> None:
    assert (ucr_issue(value) is None) is ok


@pytest.mark.parametrize(
    ("scheme", "value", "ok"),
    [
        ("EORI", "DE123456789012345", True),
        ("EORI", "DK12345678", True),
        ("EORI", "D123", False),
        ("EORI", "DE1234567890123456", False),
        ("MID", "DEBAYMOT1234MUN", True),
        ("MID", "debaymot", False),
        ("CTPAT", "CT0000001234", True),
        ("CTPAT", "CT-1", False),
        ("LEI", "5493001KJTIIGC8Y1R12", True),
        ("LEI", "5493001KJTIIGC8Y1R1X", False),
        ("TIN", "NL 123 456", True),
        ("TIN", " NL123", False),
        ("TIN", "NL123\n", False),
        ("OTHER", "x" * 70, True),
        ("OTHER", "x" * 71, False),
        ("DUNS", "123456789", False),
    ],
)
def test_party_identifiers_per_scheme(scheme: str, value: str, ok: bool) -> None:
    assert (party_identifier_issue(scheme, value) is None) is ok


def test_declaration_schema_patterns_are_the_challenge_rules() -> None:
    # One rule, written twice (the schema is read by other validators too): keep them equal.
    schema = declaration_schema()
    assert schema["properties"]["ucr"]["pattern"] == f"^{UCR_PATTERN}$"  # type: ignore[index]
    assert schema["$defs"]["unlocode"]["pattern"] == f"^{UNLOCODE_PATTERN}$"  # type: ignore[index]
