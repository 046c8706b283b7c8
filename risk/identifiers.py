"""Cargo and trader identifier rules: ISO 6346 containers, HS codes, UN/LOCODE, party ids.

Each ``*_issue`` function says what is wrong with a value (a short phrase such as
``"check digit is 4, expected 3"``) or returns None when the value is acceptable; the
declaration parser turns the phrases into located problems. Nothing here normalises: a
container number written with spaces or in lower case is refused, not repaired, because
the number on the declaration must be the one on the box and in the scan attestation.

The ISO 6346 check lives here for now; ``scan_attestation`` is getting its own, and the two
are to be merged into one.

Pure: no I/O, no clock.

Example:
    >>> container_issue("CSQU3054383") is None
    True
    >>> container_issue("CSQU3054384")
    'check digit is 4, expected 3'
"""

from __future__ import annotations

import re

from registry.challenges import UCR_MAX_LENGTH, UCR_PATTERN, UNLOCODE_PATTERN
from scan_attestation.containers import check_digit as iso6346_check_digit

__all__ = [
    "CONTAINER_CATEGORIES",
    "PARTY_SCHEMES",
    "container_issue",
    "hs_chapter",
    "hs_code_issue",
    "iso6346_check_digit",
    "party_identifier_issue",
    "ucr_issue",
    "unlocode_issue",
]

CONTAINER_CATEGORIES = frozenset("UJZ")
"""ISO 6346 equipment categories: freight container, detachable equipment, trailer/chassis."""

PARTY_SCHEMES = frozenset(
    {"EORI", "TIN", "MID", "CTPAT", "JP-AEO-CODE", "UCR-PARTY", "LEI", "OTHER"}
)
"""Identifier schemes of parties: the same list as the AEO credential subject's.

``EORI`` (EU), ``MID`` (US CBP Manufacturer Identification Code), ``CTPAT`` (C-TPAT account
number), ``TIN`` (a national trader identification number), ``JP-AEO-CODE``, ``LEI``
(ISO 17442), ``UCR-PARTY`` and ``OTHER``.
"""

_CONTAINER = re.compile(r"[A-Z]{3}[A-Z][0-9]{7}\Z", re.ASCII)
_HS_CODE = re.compile(r"[0-9]{6}(?:[0-9]{2}){0,2}\Z", re.ASCII)
_UNLOCODE = re.compile(UNLOCODE_PATTERN + r"\Z", re.ASCII)
_UCR = re.compile(UCR_PATTERN + r"\Z", re.ASCII)
_SCHEME_PATTERNS = {
    "EORI": (
        re.compile(r"[A-Z]{2}[A-Za-z0-9]{1,15}\Z", re.ASCII),
        "2-letter country + 1-15 letters or digits",
    ),
    "MID": (re.compile(r"[A-Z0-9]{1,15}\Z", re.ASCII), "1-15 capital letters or digits"),
    "CTPAT": (re.compile(r"[A-Z0-9]{1,35}\Z", re.ASCII), "1-35 capital letters or digits"),
    "LEI": (re.compile(r"[A-Z0-9]{18}[0-9]{2}\Z", re.ASCII), "18 letters or digits + 2 digits"),
}
# Any other scheme: 1-70 characters, no surrounding or control whitespace.
_GENERIC_ID = re.compile(r"[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]{0,68}[^\s\x00-\x1f\x7f])?\Z")


def container_issue(value: str) -> str | None:
    """Say what is wrong with an ISO 6346 container number (None: nothing).

    Args:
        value: The number as written, 11 characters without spaces (``CSQU3054383``).

    Returns:
        None, or why it is not one: its shape, its category letter or its check digit.
    """
    if not _CONTAINER.match(value):
        return (
            "is not an ISO 6346 container number: 3-letter owner code, category letter, "
            "6-digit serial and check digit, without spaces (e.g. CSQU3054383)"
        )
    if value[3] not in CONTAINER_CATEGORIES:
        return f"category letter is {value[3]}, expected U, J or Z"
    expected = iso6346_check_digit(value[:10])
    if int(value[10]) != expected:
        return f"check digit is {value[10]}, expected {expected}"
    return None


def hs_code_issue(value: str) -> str | None:
    """Say what is wrong with a Harmonized System code (None: nothing).

    Six digits worldwide, or a national extension to eight or ten. Chapter 00 does not
    exist and chapter 77 is reserved by the HS, so both are refused.
    """
    if not _HS_CODE.match(value):
        return "is not an HS code: 6, 8 or 10 digits (e.g. 851712)"
    if value[:2] in ("00", "77"):
        return f"HS chapter {value[:2]} does not exist"
    return None


def hs_chapter(value: str) -> str:
    """Return the chapter (first two digits) of an HS code."""
    return value[:2]


def unlocode_issue(value: str) -> str | None:
    """Say what is wrong with a UN/LOCODE (None: nothing); the rule of the challenges."""
    if not _UNLOCODE.match(value):
        return (
            "is not a UN/LOCODE: 2-letter country + 3 letters or digits 2-9, upper case "
            "(e.g. NLRTM)"
        )
    return None


def ucr_issue(value: str) -> str | None:
    """Say what is wrong with a WCO UCR (None: nothing); the rule of the challenges."""
    if len(value) > UCR_MAX_LENGTH:
        return f"a UCR has at most {UCR_MAX_LENGTH} characters ({len(value)} given)"
    if not _UCR.match(value):
        return (
            "is not a WCO UCR: a year digit, a 2-letter country, then capital letters and "
            "digits (single '-', '.' or '/' between them), e.g. 6GB123456789000-12345"
        )
    return None


def party_identifier_issue(scheme: str, value: str) -> str | None:
    """Say what is wrong with a party identifier in its scheme (None: nothing).

    Args:
        scheme: One of :data:`PARTY_SCHEMES`.
        value: The identifier.

    Returns:
        None, or why the scheme is unknown or the value does not fit it.
    """
    if scheme not in PARTY_SCHEMES:
        return f"unknown identifier scheme {scheme!r} (one of {', '.join(sorted(PARTY_SCHEMES))})"
    rule = _SCHEME_PATTERNS.get(scheme)
    if rule is not None:
        pattern, shape = rule
        if not pattern.match(value):
            return f"is not a {scheme} identifier ({shape})"
        return None
    if not _GENERIC_ID.match(value):
        return "must be 1-70 characters without control characters or surrounding spaces"
    return None
