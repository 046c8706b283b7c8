"""ISO 6346 freight container numbers: normalise and verify the check digit.

A container number is a 3-letter owner code, a category identifier (``U`` freight
container, ``J`` detachable freight container-related equipment, ``Z`` trailer or chassis),
a 6-digit serial number and a check digit, e.g. ``CSQU3054383``.

Check digit (ISO 6346, Annex A): each letter takes a value from 10 upwards in alphabetical
order, skipping the multiples of 11 (A=10, B=12, ..., K=21, L=23, ..., U=32, V=34, ...,
Z=38); a digit keeps its value. Character ``i`` (0 to 9) is weighted by ``2**i``; the check
digit is the weighted sum modulo 11, then modulo 10 (a remainder of 10 gives 0, which is
why owners avoid serials that produce it).

Findings on the sample data: ``YMLU3030933`` (the container of the NIST N42.42 Annex E
sample) and ``CSQU3054383`` (the usual ISO 6346 example) both have correct check digits.

Pure: no I/O. :func:`validate_container_number` raises; :func:`is_valid_container_number`
answers True or False for filters.

Example::

    >>> validate_container_number(" csqu 305438-3 ")
    'CSQU3054383'
    >>> is_valid_container_number("CSQU3054384")
    False
"""

from __future__ import annotations

import re
import string
from typing import NewType

from scan_attestation.scan import ScanError

__all__ = [
    "ContainerNumber",
    "InvalidContainerNumberError",
    "check_digit",
    "is_valid_container_number",
    "validate_container_number",
]

ContainerNumber = NewType("ContainerNumber", str)
"""A normalised ISO 6346 container number whose check digit is correct."""


class InvalidContainerNumberError(ScanError):
    """The text is not an ISO 6346 container number (the message says why)."""

    code = "INVALID_CONTAINER_NUMBER"


def _letter_values() -> dict[str, int]:
    values: dict[str, int] = {}
    value = 10
    for letter in string.ascii_uppercase:
        if value % 11 == 0:
            value += 1
        values[letter] = value
        value += 1
    return values


_LETTER_VALUES = _letter_values()
_SHAPE = re.compile(r"[A-Z]{3}[UJZ][0-9]{7}\Z", re.ASCII)
# Separators people and devices write inside container numbers ("CSQU 305438 3", "CSQU-...").
_SEPARATORS = str.maketrans("", "", " -\t")
_MAX_INPUT = 64


def check_digit(first_ten: str) -> int:
    """Compute the ISO 6346 check digit of an owner code, category and serial number.

    Args:
        first_ten: Ten characters: 4 uppercase ASCII letters then 6 digits.

    Returns:
        The check digit, 0 to 9.

    Raises:
        InvalidContainerNumberError: ``first_ten`` is not 4 letters and 6 digits.

    """
    if not re.fullmatch(r"[A-Z]{4}[0-9]{6}", first_ten, re.ASCII):
        raise InvalidContainerNumberError(f"{first_ten!r} is not 4 letters and 6 digits")
    total = sum(
        (_LETTER_VALUES[c] if c.isalpha() else int(c)) << i for i, c in enumerate(first_ten)
    )
    return total % 11 % 10


def validate_container_number(text: str) -> ContainerNumber:
    """Normalise an ISO 6346 container number and verify its check digit.

    Upper-cases the text and drops spaces, tabs and hyphens, then checks the shape
    (owner code, category ``U``/``J``/``Z``, serial, check digit) and the check digit.

    Args:
        text: The container number as written, e.g. ``"CSQU 305438 3"``.

    Returns:
        The normalised number, e.g. ``"CSQU3054383"``.

    Raises:
        InvalidContainerNumberError: The text is not a container number; the message says
            which part is wrong (length, owner code, category, serial or check digit).

    """
    if not isinstance(text, str):
        raise InvalidContainerNumberError(
            f"container number must be a string, not {type(text).__name__}"
        )
    if len(text) > _MAX_INPUT:
        raise InvalidContainerNumberError(f"container number is too long ({len(text)} chars)")
    number = text.translate(_SEPARATORS).upper()
    shown = repr(text)
    if _SHAPE.match(number):
        expected = check_digit(number[:10])
        if int(number[10]) != expected:
            raise InvalidContainerNumberError(
                f"container number {shown}: check digit is {number[10]}, "
                f"ISO 6346 gives {expected} for {number[:10]}"
            )
        return ContainerNumber(number)
    if not number.isascii():
        reason = "has characters other than ASCII letters and digits"
    elif len(number) != 11:
        reason = f"has {len(number)} characters, not 11"
    elif not number[:3].isalpha():
        reason = f"owner code {number[:3]!r} is not 3 letters"
    elif number[3] not in "UJZ":
        reason = f"category {number[3]!r} is not U, J or Z"
    else:
        reason = f"serial and check digit {number[4:]!r} are not 7 digits"
    raise InvalidContainerNumberError(f"container number {shown} {reason}")


def is_valid_container_number(text: str) -> bool:
    """Tell whether ``text`` is a valid ISO 6346 container number (see the validator).

    Returns:
        True if :func:`validate_container_number` accepts it.

    """
    try:
        validate_container_number(text)
    except InvalidContainerNumberError:
        return False
    return True
