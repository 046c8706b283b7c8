"""C2SP tiled transparency logs (c2sp.org/tlog-tiles): tile paths, tile contents, entry bundles.

A hash tile at level ``L`` and index ``N`` holds up to 256 consecutive Merkle tree hashes at
Merkle level ``8 * L``; an entry bundle holds up to 256 consecutive log entries, each with a
big-endian uint16 length prefix. This module builds and strictly parses their paths
(``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``), maps a tile to the
:data:`~scan_attestation.merkle.Coord` values it holds, and encodes and decodes the contents.

It does no I/O: serving tiles and choosing which ones a client may fetch is the node's job.

Example:
    >>> tile_path(0, 1234067)
    'tile/0/x001/x234/067'
    >>> parse_tile_path("tile/1/005.p/17")
    TilePath(level=1, index=5, width=17, is_entries=False)

"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from scan_attestation.merkle import HASH_SIZE, Coord

__all__ = [
    "MAX_ENTRY_SIZE",
    "MAX_LEVEL",
    "TILE_WIDTH",
    "TilePath",
    "decode_entry_bundle",
    "encode_entry_bundle",
    "encode_tile",
    "entries_path",
    "leaf_hashes_from_tile",
    "parse_tile_path",
    "partial_tile_width",
    "tile_coords",
    "tile_path",
]

#: Hashes in a full tile and entries in a full bundle.
TILE_WIDTH = 256
#: Highest tile level allowed in a path (tlog-tiles: "between 0 and 63").
MAX_LEVEL = 63
#: Largest entry an entry bundle can hold (uint16 length prefix).
MAX_ENTRY_SIZE = 0xFFFF
# Tile heights are 8 Merkle levels (256 = 2**8).
_TILE_HEIGHT = 8
# Indexes are below 2**64 (uint64 tree sizes), so at most 20 digits, 7 three-digit elements.
_MAX_INDEX = 2**64 - 1

_PATH = re.compile(
    r"tile/(?P<level>[0-9]+|entries)"
    r"/(?P<index>(?:x[0-9]{3}/){0,6}[0-9]{3})"
    r"(?:\.p/(?P<width>[0-9]+))?"
)


class TilePath(NamedTuple):
    """A parsed tile or entry-bundle path.

    Attributes:
        level: The tile level (0 for entry bundles, which match level-0 tiles).
        index: The tile index within its level.
        width: The number of hashes or entries: 256 for a full tile, 1..255 for a partial one.
        is_entries: ``True`` for ``tile/entries/...``.

    """

    level: int
    # The spec's word; it shadows tuple.index, which nothing here uses.
    index: int  # type: ignore[assignment]
    width: int
    is_entries: bool


def _check_int(value: object, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer in {low}..{high}, got {value!r}")
    return value


def _encode_index(index: int) -> str:
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def _suffix(width: int) -> str:
    _check_int(width, "tile width", 1, TILE_WIDTH)
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """Return the path of a hash tile, relative to the log prefix.

    Args:
        level: The tile level, 0..63.
        index: The tile index, from 0.
        width: 256 for a full tile, 1..255 for a partial one (adds ``.p/<W>``).

    Returns:
        For example ``"tile/0/x001/x234/067"`` or ``"tile/2/000.p/1"``.

    Raises:
        ValueError: An argument is out of range.

    """
    _check_int(level, "tile level", 0, MAX_LEVEL)
    _check_int(index, "tile index", 0, _MAX_INDEX)
    return f"tile/{level}/{_encode_index(index)}{_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """Return the path of an entry bundle, relative to the log prefix.

    Args:
        index: The bundle index (the same as the level-0 tile index).
        width: 256 for a full bundle, 1..255 for a partial one.

    Returns:
        For example ``"tile/entries/x001/234"``.

    Raises:
        ValueError: An argument is out of range.

    """
    _check_int(index, "tile index", 0, _MAX_INDEX)
    return f"tile/entries/{_encode_index(index)}{_suffix(width)}"


def parse_tile_path(path: str) -> TilePath:
    """Parse a tile or entry-bundle path strictly (tlog-tiles, "Merkle Tree", "Log entries").

    The path is relative to the log prefix, with no leading slash. Only the canonical spelling
    is accepted, so each tile has exactly one path: decimal numbers without leading zeros,
    three-digit index elements with an ``x`` on all but the last, no leading ``x000``
    element, and a width of 1..255 after ``.p/``. This also rules out ``..``, empty segments,
    percent escapes and query strings.

    Args:
        path: For example ``"tile/0/x001/x234/067"`` or ``"tile/entries/000.p/12"``.

    Returns:
        The parsed path.

    Raises:
        ValueError: The path is not a canonical tile path.

    """
    if not isinstance(path, str):
        raise ValueError("tile path must be a string")
    match = _PATH.fullmatch(path)
    if match is None:
        raise ValueError(f"not a tile path: {path[:100]!r}")
    index_text = match["index"]
    if index_text.startswith("x000"):
        raise ValueError(f"tile index has a leading zero element: {path[:100]!r}")
    index = int(index_text.replace("x", "").replace("/", ""))
    if index > _MAX_INDEX:
        raise ValueError("tile index exceeds 2^64-1")
    is_entries = match["level"] == "entries"
    level = 0 if is_entries else _parse_decimal(match["level"], "tile level", 0, MAX_LEVEL)
    width = TILE_WIDTH
    if match["width"] is not None:
        width = _parse_decimal(match["width"], "partial tile width", 1, TILE_WIDTH - 1)
    return TilePath(level, index, width, is_entries)


def _parse_decimal(text: str, what: str, low: int, high: int) -> int:
    if len(text) > 1 and text.startswith("0"):
        raise ValueError(f"{what} has a leading zero: {text[:10]!r}")
    # Bound the length before int(): the allowed values have at most 3 digits.
    value = int(text) if len(text) <= 3 else high + 1
    if not low <= value <= high:
        raise ValueError(f"{what} must be {low}..{high}, got {text[:10]!r}")
    return value


def tile_coords(level: int, index: int, width: int = TILE_WIDTH) -> list[Coord]:
    """Return the Merkle coords whose hashes make up a hash tile, in tile order.

    Hash ``i`` of tile ``(L, N)`` is ``MTH(D[(N * 256 + i) * 256**L : ...])``, the complete
    subtree at Merkle level ``8 * L`` and index ``N * 256 + i``.

    Args:
        level: The tile level.
        index: The tile index.
        width: The tile width, 1..256.

    Returns:
        ``width`` coords.

    Raises:
        ValueError: An argument is out of range.

    """
    _check_int(level, "tile level", 0, MAX_LEVEL)
    _check_int(index, "tile index", 0, _MAX_INDEX)
    _check_int(width, "tile width", 1, TILE_WIDTH)
    first = index * TILE_WIDTH
    return [(_TILE_HEIGHT * level, first + i) for i in range(width)]


def partial_tile_width(level: int, tree_size: int) -> int:
    """Return the width of the rightmost partial tile at ``level`` (0 if there is none).

    Args:
        level: The tile level.
        tree_size: The tree size of a checkpoint.

    Returns:
        ``floor(tree_size / 256**level) mod 256`` (tlog-tiles, "Partial Tiles").

    Raises:
        ValueError: An argument is out of range.

    """
    _check_int(level, "tile level", 0, MAX_LEVEL)
    _check_int(tree_size, "tree size", 0, _MAX_INDEX)
    return (tree_size >> (_TILE_HEIGHT * level)) % TILE_WIDTH


def encode_tile(hashes: Sequence[bytes]) -> bytes:
    """Concatenate 1..256 hashes into a tile.

    Args:
        hashes: The 32-byte hashes, in tile order.

    Returns:
        The tile bytes.

    Raises:
        ValueError: No hash, more than 256, or a hash that is not 32 bytes.

    """
    if not 1 <= len(hashes) <= TILE_WIDTH:
        raise ValueError(f"a tile holds 1..256 hashes, got {len(hashes)}")
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ValueError("tile hashes must be 32 bytes each")
    return b"".join(hashes)


def leaf_hashes_from_tile(data: bytes, width: int | None = None) -> list[bytes]:
    """Split a tile into its 32-byte hashes.

    Args:
        data: The tile bytes.
        width: The width the tile's path promised, to check; ``None`` skips the check.

    Returns:
        The hashes, in tile order.

    Raises:
        ValueError: The length is not a multiple of 32, the tile is empty or wider than 256,
            or the width differs from ``width``.

    """
    if len(data) % HASH_SIZE:
        raise ValueError(f"tile length {len(data)} is not a multiple of 32")
    count = len(data) // HASH_SIZE
    if not 1 <= count <= TILE_WIDTH:
        raise ValueError(f"a tile holds 1..256 hashes, got {count}")
    if width is not None and count != width:
        raise ValueError(f"tile holds {count} hashes, its path says {width}")
    return [bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)]


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Encode 1..256 entries as an entry bundle (uint16 big-endian length, then the bytes).

    Args:
        entries: The exact entry bytes, in log order.

    Returns:
        The bundle bytes.

    Raises:
        ValueError: No entry, more than 256, or an entry longer than 65,535 bytes.

    """
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise ValueError(f"an entry bundle holds 1..256 entries, got {len(entries)}")
    parts: list[bytes] = []
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(f"entry of {len(entry)} bytes exceeds the 65535-byte bundle limit")
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(bytes(entry))
    return b"".join(parts)


def decode_entry_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """Decode an entry bundle strictly.

    Args:
        data: The bundle bytes (after any HTTP content decoding).
        width: The number of entries the bundle's path promised; ``None`` skips the check.

    Returns:
        The entries, in log order.

    Raises:
        ValueError: The bundle is empty, truncated, holds more than 256 entries, or holds
            another number of entries than ``width``.

    """
    entries: list[bytes] = []
    view = memoryview(data)
    position = 0
    while position < len(view):
        if len(entries) == TILE_WIDTH:
            raise ValueError("entry bundle holds more than 256 entries")
        if position + 2 > len(view):
            raise ValueError(f"entry bundle truncated in a length prefix at byte {position}")
        size = int.from_bytes(view[position : position + 2], "big")
        position += 2
        if position + size > len(view):
            raise ValueError(f"entry bundle truncated in entry {len(entries)}")
        entries.append(bytes(view[position : position + size]))
        position += size
    if not entries:
        raise ValueError("entry bundle is empty")
    if width is not None and len(entries) != width:
        raise ValueError(f"entry bundle holds {len(entries)} entries, its path says {width}")
    return entries
