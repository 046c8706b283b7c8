"""Read QR codes back as a wallet app's camera would (zxing-cpp), from what the node shows.

The console shows an inline SVG of module paths (segno: ``M x y`` then runs of ``h n`` dark
modules, ``m dx dy`` moves), the CLI a terminal block of Unicode half blocks (two module rows
per line). Both are drawn here into a grayscale image with a white margin and decoded; a
symbol that does not read, or reads as something else, fails the test that uses it.
"""

from __future__ import annotations

import re

import zxingcpp

__all__ = ["read_svg", "read_terminal"]

_PIXELS = 4  # per module
_MARGIN = 8  # modules of white around the drawing


def _decode(width: int, height: int, dark: set[tuple[int, int]]) -> list[str]:
    cols, rows = (width + 2 * _MARGIN) * _PIXELS, (height + 2 * _MARGIN) * _PIXELS
    image = bytearray(b"\xff" * (cols * rows))
    for x, y in dark:
        for line in range((y + _MARGIN) * _PIXELS, (y + _MARGIN + 1) * _PIXELS):
            start = line * cols + (x + _MARGIN) * _PIXELS
            image[start : start + _PIXELS] = b"\x00" * _PIXELS
    found = zxingcpp.read_barcodes(memoryview(image).cast("B", (rows, cols)))
    return [barcode.text for barcode in found]


def read_svg(svg: str) -> list[str]:
    """The texts of the QR codes in a segno SVG (scaled, one path of dark modules)."""
    width = re.search(r'<svg[^>]* width="(\d+)"', svg)
    scale = re.search(r'transform="scale\((\d+)\)"', svg)
    path = re.search(r'<path class="qrline"[^>]* d="([^"]+)"', svg)
    assert width and scale and path, "not a segno SVG of module paths"
    size = int(width.group(1)) // int(scale.group(1))
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for command, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.group(1)):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:  # a run of dark modules on the row whose centre line is y
            dark.update((int(x) + i, int(y - 0.5)) for i in range(int(float(a))))
            x += float(a)
    return _decode(size, size, dark)


def read_terminal(block: str) -> list[str]:
    """The texts of the QR codes in a half-block drawing (light modules drawn, dark blank)."""
    lines = [line for line in block.splitlines() if line]
    upper_light = {"█": True, "▀": True, "▄": False, " ": False}
    lower_light = {"█": True, "▀": False, "▄": True, " ": False}
    dark: set[tuple[int, int]] = set()
    for row, line in enumerate(lines):
        for col, char in enumerate(line):
            if not upper_light[char]:
                dark.add((col, 2 * row))
            if not lower_light[char]:
                dark.add((col, 2 * row + 1))
    width = max(len(line) for line in lines)
    return _decode(width, 2 * len(lines), dark)
