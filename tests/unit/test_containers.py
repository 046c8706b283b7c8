"""ISO 6346 container numbers: check digits worked by hand, normalisation, clear refusals."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials.errors import MalformedInputError
from scan_attestation.containers import (
    _LETTER_VALUES,
    InvalidContainerNumberError,
    check_digit,
    is_valid_container_number,
    validate_container_number,
)
from scan_attestation.scan import ScanError


def test_letter_values_skip_multiples_of_eleven() -> None:
    assert _LETTER_VALUES["A"] == 10
    assert _LETTER_VALUES["B"] == 12  # 11 skipped
    assert _LETTER_VALUES["K"] == 21
    assert _LETTER_VALUES["L"] == 23  # 22 skipped
    assert _LETTER_VALUES["U"] == 32
    assert _LETTER_VALUES["V"] == 34  # 33 skipped
    assert _LETTER_VALUES["Z"] == 38
    assert not any(v % 11 == 0 for v in _LETTER_VALUES.values())


def test_check_digits_worked_by_hand() -> None:
    # CSQU3054383 (the usual ISO 6346 example): C=13 S=30 Q=28 U=32, weights 2**i:
    # 13 + 30*2 + 28*4 + 32*8 + 3*16 + 0*32 + 5*64 + 4*128 + 3*256 + 8*512 = 6185;
    # 6185 = 11*562 + 3, so the check digit is 3.
    assert check_digit("CSQU305438") == 3
    # YMLU3030933 (the container of the NIST N42.42 Annex E sample): Y=37 M=24 L=23 U=32:
    # 37 + 24*2 + 23*4 + 32*8 + 3*16 + 0*32 + 3*64 + 0*128 + 9*256 + 3*512 = 4513;
    # 4513 = 11*410 + 3: valid.
    assert check_digit("YMLU303093") == 3


@pytest.mark.parametrize("number", ["CSQU3054383", "YMLU3030933"])
def test_known_valid_numbers(number: str) -> None:
    assert validate_container_number(number) == number
    assert is_valid_container_number(number)


def test_remainder_ten_gives_check_digit_zero() -> None:
    # Find a serial whose weighted sum leaves 10 modulo 11: its check digit is 0.
    serial = next(
        f"{n:06d}"
        for n in range(1_000_000)
        if sum(
            (_LETTER_VALUES[c] if c.isalpha() else int(c)) << i
            for i, c in enumerate(f"CSQU{n:06d}")
        )
        % 11
        == 10
    )
    assert check_digit(f"CSQU{serial}") == 0
    assert validate_container_number(f"CSQU{serial}0") == f"CSQU{serial}0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" csqu 305438-3 ", "CSQU3054383"),
        ("CSQU-305438-3", "CSQU3054383"),
        ("ymlu3030933", "YMLU3030933"),
        ("CSQU\t3054383", "CSQU3054383"),
    ],
)
def test_normalisation(text: str, expected: str) -> None:
    assert validate_container_number(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param(
            "CSQU3054384", "check digit is 4, ISO 6346 gives 3 for CSQU305438", id="digit"
        ),
        pytest.param("YMLU3030934", "check digit is 4, ISO 6346 gives 3", id="sample-digit"),
        pytest.param("CSQX3054383", "category 'X' is not U, J or Z", id="category"),
        pytest.param("C5QU3054383", "owner code 'C5Q' is not 3 letters", id="owner"),
        pytest.param(
            "CSQU30543A3", "serial and check digit '30543A3' are not 7 digits", id="serial"
        ),
        pytest.param("CSQU305438", "has 10 characters, not 11", id="short"),
        pytest.param("CSQU30543833", "has 12 characters, not 11", id="long"),
        pytest.param("ÇSQU3054383", "other than ASCII letters and digits", id="non-ascii"),
        pytest.param("", "has 0 characters", id="empty"),
        pytest.param("C" * 65, "too long (65 chars)", id="huge"),
    ],
)
def test_invalid_numbers_say_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidContainerNumberError) as raised:
        validate_container_number(text)
    assert reason in raised.value.message
    assert not is_valid_container_number(text)


def test_error_types() -> None:
    with pytest.raises(InvalidContainerNumberError) as raised:
        validate_container_number(3054383)  # type: ignore[arg-type]
    assert "must be a string" in raised.value.message
    assert isinstance(raised.value, ScanError)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, MalformedInputError)
    assert raised.value.code == "INVALID_CONTAINER_NUMBER"
    with pytest.raises(InvalidContainerNumberError):
        check_digit("CSQU30543")


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.text(string.ascii_uppercase, min_size=3, max_size=3),
    st.sampled_from("UJZ"),
    st.text(string.digits, min_size=6, max_size=6),
    st.integers(1, 9),
)
def test_check_digit_catches_every_single_digit_change(
    owner: str, category: str, serial: str, shift: int
) -> None:
    first_ten = owner + category + serial
    good = first_ten + str(check_digit(first_ten))
    assert validate_container_number(good) == good
    wrong = first_ten + str((check_digit(first_ten) + shift) % 10)
    assert not is_valid_container_number(wrong)
