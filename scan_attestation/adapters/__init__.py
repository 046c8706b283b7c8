"""Device adapters: pure functions from the raw bytes of a scan file to a typed :class:`Scan`.

One adapter per device format:

- ``n42``: ANSI N42.42-2012 XML from radiation portal monitors, spectroscopic portals and
  radionuclide identifiers (:func:`scan_attestation.adapters.n42.parse_n42`);
- ``xray``: the JSON result record of an X-ray (NII) scanner
  (:func:`scan_attestation.adapters.xray.parse_xray_result`).

:func:`parse_scan` picks the adapter by name, or sniffs it from the first significant byte
(``<`` is N42 XML, ``{`` is an X-ray JSON record). Every adapter returns a
:class:`~scan_attestation.scan.Scan` or raises
:class:`~scan_attestation.scan.ScanParseError`, whatever the bytes.

Adapters do no I/O and read no clock; they do not sign, verify or log scans.

Example::

    >>> scan = parse_scan(raw_bytes)  # doctest: +SKIP
    >>> scan.format, scan.result, scan.parser_notes  # doctest: +SKIP
    ('n42', 'clear', ())
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from scan_attestation.adapters.n42 import MAX_N42_BYTES, parse_n42
from scan_attestation.adapters.xray import MAX_XRAY_BYTES, parse_xray_result
from scan_attestation.scan import SCAN_FORMATS, Scan, ScanFormat, ScanParseError

__all__ = [
    "ADAPTERS",
    "MAX_SCAN_BYTES",
    "ScanAdapter",
    "parse_scan",
    "sniff_format",
]


class ScanAdapter(Protocol):
    """A device adapter: raw bytes in, a scan out, :class:`ScanParseError` otherwise."""

    def __call__(self, data: bytes) -> Scan:
        """Parse ``data`` into a scan."""
        ...


ADAPTERS: Mapping[ScanFormat, ScanAdapter] = {"n42": parse_n42, "xray": parse_xray_result}
"""The adapter of each scan format."""

MAX_SCAN_BYTES = max(MAX_N42_BYTES, MAX_XRAY_BYTES)
"""The largest input any adapter accepts; a reader need never read more than one byte more."""

_LEADING = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"


def sniff_format(data: bytes) -> ScanFormat:
    """Tell the format from the first byte after a UTF-8 BOM and whitespace.

    Returns:
        ``n42`` for ``<``, ``xray`` for ``{``.

    Raises:
        ScanParseError: The input is empty or starts with anything else.

    """
    head = data.removeprefix(_BOM).lstrip(_LEADING)[:1]
    if head == b"<":
        return "n42"
    if head == b"{":
        return "xray"
    if not head:
        raise ScanParseError("empty input: no scan to read")
    raise ScanParseError(
        f"cannot tell the scan format: the input starts with {head!r}, "
        "neither '<' (N42 XML) nor '{' (X-ray JSON)"
    )


def parse_scan(data: bytes, scan_format: str | None = None) -> Scan:
    """Parse a scan file with the adapter of ``scan_format``, or of the sniffed format.

    Args:
        data: The raw bytes of the scan file.
        scan_format: ``n42`` or ``xray``; None to sniff it from the content.

    Returns:
        The scan.

    Raises:
        ScanParseError: The format is unknown or cannot be sniffed, or the adapter cannot
            read the bytes.

    """
    if scan_format is None:
        return ADAPTERS[sniff_format(data)](data)
    chosen = next((known for known in SCAN_FORMATS if known == scan_format), None)
    if chosen is None:
        raise ScanParseError(
            f"unknown scan format {scan_format!r} (expected one of {', '.join(SCAN_FORMATS)})"
        )
    return ADAPTERS[chosen](data)
