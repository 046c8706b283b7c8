"""C2SP tlog-tiles paths and contents, and the tlog-witness add-checkpoint decision."""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials.keys import PrivateKey
from scan_attestation.checkpoint import (
    Checkpoint,
    cosign,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
    verify_cosignature,
)
from scan_attestation.merkle import EMPTY_ROOT, MerkleTree, fold_root, leaf_hash
from scan_attestation.note import Note, format_note, parse_note
from scan_attestation.tiles import (
    TilePath,
    decode_entry_bundle,
    encode_entry_bundle,
    encode_tile,
    entries_path,
    leaf_hashes_from_tile,
    parse_tile_path,
    partial_tile_width,
    tile_coords,
    tile_path,
)
from scan_attestation.witness import (
    TLOG_SIZE_CONTENT_TYPE,
    Outcome,
    TreeHead,
    WitnessRequestError,
    decide_add_checkpoint,
    detect_split_view,
    parse_add_checkpoint_request,
)

# --- Tile paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        (0, 1234067, 256, "tile/0/x001/x234/067"),  # The spec's example index.
        (0, 0, 256, "tile/0/000"),
        (0, 5, 256, "tile/0/005"),
        (1, 999, 256, "tile/1/999"),
        (1, 1000, 256, "tile/1/x001/000"),
        (2, 0, 1, "tile/2/000.p/1"),
        (0, 273, 112, "tile/0/273.p/112"),
        (63, 2**64 - 1, 255, "tile/63/x018/x446/x744/x073/x709/x551/615.p/255"),
    ],
)
def test_tile_paths(level: int, index: int, width: int, path: str) -> None:
    assert tile_path(level, index, width) == path
    assert parse_tile_path(path) == TilePath(level, index, width, False)
    parsed_level, parsed_index, parsed_width, is_entries = parse_tile_path(path)
    assert (parsed_level, parsed_index, parsed_width, is_entries) == (level, index, width, False)


def test_entries_paths() -> None:
    assert entries_path(1234067) == "tile/entries/x001/x234/067"
    assert entries_path(3, 17) == "tile/entries/003.p/17"
    assert parse_tile_path("tile/entries/003.p/17") == TilePath(0, 3, 17, True)
    assert parse_tile_path("tile/entries/x001/000") == TilePath(0, 1000, 256, True)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("tile/0/../000", id="dotdot-segment"),
        pytest.param("tile/../0/000", id="dotdot-level"),
        pytest.param("tile/0/x001/../067", id="dotdot-index"),
        pytest.param("tile/0/000/../../etc/passwd", id="escape"),
        pytest.param("../tile/0/000", id="dotdot-prefix"),
        pytest.param("tile/0/./000", id="dot-segment"),
        pytest.param("tile/0/%2e%2e/000", id="percent-dotdot"),
        pytest.param("tile/0/x001\\234/067", id="backslash"),
        pytest.param("/tile/0/000", id="leading-slash"),
        pytest.param("tile/0/000/", id="trailing-slash"),
        pytest.param("tile//0/000", id="empty-segment"),
        pytest.param("tile/00/000", id="level-leading-zero"),
        pytest.param("tile/01/000", id="level-leading-zero-2"),
        pytest.param("tile/64/000", id="level-64"),
        pytest.param("tile/-1/000", id="level-negative"),
        pytest.param("tile/a/000", id="level-non-numeric"),
        pytest.param("tile/0/x000/001", id="index-leading-zero-element"),
        pytest.param("tile/0/0001", id="index-four-digits"),
        pytest.param("tile/0/01", id="index-two-digits"),
        pytest.param("tile/0/x01/234", id="x-element-two-digits"),
        pytest.param("tile/0/001/234", id="missing-x"),
        pytest.param("tile/0/x001/x234", id="x-on-last"),
        pytest.param("tile/0/abc", id="index-non-numeric"),
        pytest.param("tile/0/\u0660\u0660\u0660", id="index-arabic-digits"),
        pytest.param("tile/0/x001/x001/x001/x001/x001/x001/x001/000", id="index-too-long"),
        pytest.param("tile/0/x018/x446/x744/x073/x709/x551/616", id="index-2^64"),
        pytest.param("tile/0/000.p/0", id="width-0"),
        pytest.param("tile/0/000.p/256", id="width-256"),
        pytest.param("tile/0/000.p/1000", id="width-1000"),
        pytest.param("tile/0/000.p/012", id="width-leading-zero"),
        pytest.param("tile/0/000.p/", id="width-empty"),
        pytest.param("tile/0/000.p/x", id="width-non-numeric"),
        pytest.param("tile/0/000.p/5/", id="width-trailing-slash"),
        pytest.param("tile/0/000.p5", id="width-no-slash"),
        pytest.param("tile/0/000?x=1", id="query"),
        pytest.param("tile/0/000\n", id="newline"),
        pytest.param(" tile/0/000", id="space"),
        pytest.param("tiles/0/000", id="wrong-root"),
        pytest.param("tile/entries", id="no-index"),
        pytest.param("tile/data/000", id="sumdb-data"),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_tile_paths_are_rejected(path: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_tile_path(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("level", "index", "width"),
    [(-1, 0, 256), (64, 0, 256), (0, -1, 256), (0, 2**64, 256), (0, 0, 0), (0, 0, 257)],
    ids=str,
)
def test_tile_path_rejects_bad_arguments(level: int, index: int, width: int) -> None:
    with pytest.raises(ValueError):
        tile_path(level, index, width)
    with pytest.raises(ValueError):
        tile_coords(level, index, width)


@settings(max_examples=200, deadline=None)
@given(
    level=st.integers(min_value=0, max_value=63),
    index=st.integers(min_value=0, max_value=2**64 - 1),
    width=st.integers(min_value=1, max_value=256),
    entries=st.booleans(),
)
def test_tile_paths_round_trip(level: int, index: int, width: int, entries: bool) -> None:
    path = entries_path(index, width) if entries else tile_path(level, index, width)
    assert parse_tile_path(path) == TilePath(0 if entries else level, index, width, entries)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="tile/entrsx0123456789.p", max_size=40))
def test_parse_tile_path_only_raises_value_error(path: str) -> None:
    try:
        parsed = parse_tile_path(path)
    except ValueError:
        return
    # Whatever parses is the one canonical spelling.
    maker = entries_path if parsed.is_entries else functools.partial(tile_path, parsed.level)
    assert maker(parsed.index, parsed.width) == path


# --- Tile contents ---------------------------------------------------------------------


def test_partial_tile_widths_match_the_spec_examples() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level
    # 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and
    # one partial level 2 tile of width 1."
    assert 70_000 // 256 == 273
    assert [partial_tile_width(level, 70_000) for level in range(4)] == [112, 17, 1, 0]
    assert 70_000 // 256**2 == 1
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
    # tile of width 1."
    assert [partial_tile_width(level, 256) for level in range(3)] == [0, 1, 0]


def test_tile_coords() -> None:
    assert tile_coords(0, 1, 3) == [(0, 256), (0, 257), (0, 258)]
    assert tile_coords(1, 0, 2) == [(8, 0), (8, 1)]
    assert len(tile_coords(2, 5)) == 256
    assert tile_coords(2, 5)[0] == (16, 5 * 256)


@functools.lru_cache(maxsize=1)
def _tree() -> tuple[MerkleTree, list[bytes]]:
    entries = [f"entry {i}".encode() for i in range(3 * 256 + 10)]
    return MerkleTree(entries), entries


def test_tiles_hold_the_tree_hashes() -> None:
    tree, entries = _tree()
    # Level-0 tile 1 holds leaf hashes 256..511, and hashes its entry bundle's entries.
    tile = encode_tile([tree.hash_at(c) for c in tile_coords(0, 1)])
    assert len(tile) == 8192
    assert leaf_hashes_from_tile(tile, 256) == [leaf_hash(e) for e in entries[256:512]]
    bundle = encode_entry_bundle(entries[256:512])
    assert [leaf_hash(e) for e in decode_entry_bundle(bundle, 256)] == leaf_hashes_from_tile(tile)
    # A level-1 tile holds the hashes of the full level-0 tiles: here a partial one of width 3.
    assert partial_tile_width(1, tree.size) == 3
    level1 = leaf_hashes_from_tile(encode_tile([tree.hash_at(c) for c in tile_coords(1, 0, 3)]))
    for i, value in enumerate(level1):
        level0 = [tree.hash_at(c) for c in tile_coords(0, i)]
        # A full tile's hashes fold into the hash of the subtree it spans.
        assert value == fold_root(_pairwise_root(level0))
    # The partial level-0 tile of the current tree: width 10.
    assert partial_tile_width(0, tree.size) == 10
    assert tile_path(0, 3, 10) == "tile/0/003.p/10"


def _pairwise_root(hashes: list[bytes]) -> list[bytes]:
    """Reduce 256 sibling hashes to their one subtree hash, level by level."""
    while len(hashes) > 1:
        hashes = [fold_root(hashes[i : i + 2]) for i in range(0, len(hashes), 2)]
    return hashes


def test_entry_bundles_round_trip() -> None:
    entries = [b"", b"a", b"\x00" * 300, b"x" * 65535]
    data = encode_entry_bundle(entries)
    assert data[:2] == b"\x00\x00"
    assert data[2:5] == b"\x00\x01a"
    assert decode_entry_bundle(data) == entries
    assert decode_entry_bundle(data, 4) == entries
    assert decode_entry_bundle(encode_entry_bundle([b"e"] * 256)) == [b"e"] * 256


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"\x00", "length prefix", id="truncated-prefix"),
        pytest.param(b"\x00\x05abc", "truncated in entry 0", id="truncated-entry"),
        pytest.param(b"\x00\x01a\x00", "length prefix", id="truncated-second-prefix"),
        pytest.param(b"\x00\x00" * 257, "more than 256", id="257-entries"),
        pytest.param(b"\xff\xff" + b"x" * 10, "truncated", id="huge-length"),
    ],
)
def test_malformed_entry_bundles_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_entry_bundle(data)


def test_entry_bundle_limits() -> None:
    with pytest.raises(ValueError, match="65535"):
        encode_entry_bundle([b"x" * 65536])
    with pytest.raises(ValueError, match=r"1\.\.256"):
        encode_entry_bundle([])
    with pytest.raises(ValueError, match=r"1\.\.256"):
        encode_entry_bundle([b""] * 257)
    with pytest.raises(ValueError, match="its path says 3"):
        decode_entry_bundle(encode_entry_bundle([b"a", b"b"]), 3)


@pytest.mark.parametrize(
    ("data", "width"),
    [(b"", None), (b"x" * 31, None), (b"x" * 33, None), (b"x" * 32 * 257, None), (b"x" * 64, 3)],
    ids=["empty", "31", "33", "257-hashes", "width-mismatch"],
)
def test_malformed_tiles_are_rejected(data: bytes, width: int | None) -> None:
    with pytest.raises(ValueError):
        leaf_hashes_from_tile(data, width)


def test_encode_tile_limits() -> None:
    with pytest.raises(ValueError):
        encode_tile([])
    with pytest.raises(ValueError):
        encode_tile([bytes(31)])
    with pytest.raises(ValueError):
        encode_tile([bytes(32)] * 257)


# --- Witness ---------------------------------------------------------------------------

LOG_KEY = PrivateKey.from_seed(bytes(range(32)))
WITNESS_KEY = PrivateKey.from_seed(bytes(range(3, 35)))
ORIGIN = "customs.example/scan-log"
WITNESS = "witness.customs.example/w1"


@functools.lru_cache(maxsize=1)
def _log() -> MerkleTree:
    return MerkleTree(f"scan {i}".encode() for i in range(20))


def _cp(size: int) -> Checkpoint:
    return Checkpoint(ORIGIN, size, _log().root(size))


def _head(size: int) -> TreeHead:
    return TreeHead(size, _log().root(size))


def _proof(old: int, new: int) -> list[bytes]:
    return _log().consistency_proof(old, new) if 0 < old <= new else []


def _flipped(proof: list[bytes]) -> list[bytes]:
    return [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]


OTHER_ROOT = hashlib.sha256(b"fork").digest()


@pytest.mark.parametrize(
    ("known", "old", "proof", "checkpoint", "outcome", "known_size"),
    [
        pytest.param(None, 0, [], _cp(5), Outcome.ACCEPT, None, id="first-checkpoint"),
        pytest.param(None, 0, [], _cp(0), Outcome.ACCEPT, None, id="first-empty-checkpoint"),
        pytest.param(_head(0), 0, [], _cp(7), Outcome.ACCEPT, None, id="from-recorded-empty"),
        pytest.param(_head(5), 5, _proof(5, 8), _cp(8), Outcome.ACCEPT, None, id="consistent"),
        pytest.param(_head(5), 5, [], _cp(5), Outcome.ACCEPT, None, id="same-checkpoint-again"),
        pytest.param(_head(1), 1, _proof(1, 20), _cp(20), Outcome.ACCEPT, None, id="1-to-20"),
        pytest.param(_head(5), 8, [], _cp(5), Outcome.BAD_REQUEST, None, id="old-above-new"),
        pytest.param(None, 3, [], _cp(2), Outcome.BAD_REQUEST, None, id="old-above-new-unknown"),
        pytest.param(
            _head(5), 5, [OTHER_ROOT] * 64, _cp(8), Outcome.BAD_REQUEST, None, id="64-hashes"
        ),
        pytest.param(None, 3, _proof(3, 8), _cp(8), Outcome.CONFLICT, 0, id="unknown-log-old-3"),
        pytest.param(_head(5), 3, _proof(3, 8), _cp(8), Outcome.CONFLICT, 5, id="stale-old"),
        pytest.param(_head(5), 6, _proof(6, 8), _cp(8), Outcome.CONFLICT, 5, id="ahead-old"),
        pytest.param(_head(5), 0, [], _cp(8), Outcome.CONFLICT, 5, id="old-0-but-known"),
        pytest.param(
            None, 0, [], Checkpoint(ORIGIN, 0, OTHER_ROOT), Outcome.UNPROCESSABLE, None,
            id="empty-tree-wrong-root",
        ),
        pytest.param(
            None, 0, [OTHER_ROOT], _cp(5), Outcome.UNPROCESSABLE, None, id="old-0-with-proof"
        ),
        pytest.param(
            _head(5), 5, _flipped(_proof(5, 8)), _cp(8), Outcome.UNPROCESSABLE, None,
            id="bad-proof",
        ),
        pytest.param(
            _head(5), 5, _proof(5, 8)[:-1], _cp(8), Outcome.UNPROCESSABLE, None, id="short-proof"
        ),
        pytest.param(
            _head(5), 5, _proof(4, 8), _cp(8), Outcome.UNPROCESSABLE, None, id="proof-other-old"
        ),
        pytest.param(
            _head(5), 5, [], replace(_cp(5), root=OTHER_ROOT), Outcome.UNPROCESSABLE, None,
            id="same-size-other-root",
        ),
        pytest.param(
            _head(5), 5, [_cp(5).root], _cp(5), Outcome.UNPROCESSABLE, None,
            id="same-size-with-proof",
        ),
        pytest.param(
            TreeHead(5, OTHER_ROOT), 5, _proof(5, 8), _cp(8), Outcome.UNPROCESSABLE, None,
            id="fork-of-recorded-head",
        ),
    ],
)  # fmt: skip
def test_add_checkpoint_decisions(
    known: TreeHead | None,
    old: int,
    proof: list[bytes],
    checkpoint: Checkpoint,
    outcome: Outcome,
    known_size: int | None,
) -> None:
    decision = decide_add_checkpoint(known, old, proof, checkpoint)
    assert decision.outcome is outcome, decision.reason
    assert decision.status == outcome.value
    assert decision.known_size == known_size
    assert decision.accepted is (outcome is Outcome.ACCEPT)
    if outcome is Outcome.ACCEPT:
        assert decision.new_head == TreeHead(checkpoint.size, checkpoint.root)
    else:
        assert decision.new_head is None
    if outcome is Outcome.CONFLICT:
        assert decision.conflict_body() == f"{known_size}\n"
    else:
        with pytest.raises(ValueError):
            decision.conflict_body()


def test_conflict_content_type() -> None:
    assert TLOG_SIZE_CONTENT_TYPE == "text/x.tlog.size"


# tlog-witness.md, "add-checkpoint": the example request body.
SPEC_REQUEST = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhc"
    "yv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/"
    "V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
)


def test_spec_request_parses() -> None:
    request = parse_add_checkpoint_request(SPEC_REQUEST.encode())
    assert request.old_size == 20852014
    assert request.proof[0] == base64.b64decode("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=")
    assert len(request.proof) == 4
    note = parse_note(request.checkpoint_note)
    assert len(note.signatures) == 2
    cp = parse_checkpoint(note.text)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)


def test_request_without_proof() -> None:
    body = b"old 0\n\n" + sign_checkpoint(_cp(3), ORIGIN, LOG_KEY).encode()
    request = parse_add_checkpoint_request(body)
    assert (request.old_size, request.proof) == (0, ())


HASH_LINE = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
CP_NOTE = SPEC_REQUEST.split("\n\n", 1)[1]
SHORT_HASH = base64.b64encode(bytes(31)).decode()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"old 01\n\n" + CP_NOTE.encode(), id="leading-zero"),
        pytest.param(b"old -1\n\n" + CP_NOTE.encode(), id="negative"),
        pytest.param(b"old  1\n\n" + CP_NOTE.encode(), id="two-spaces"),
        pytest.param(b"old 1 \n\n" + CP_NOTE.encode(), id="trailing-space"),
        pytest.param(b"Old 1\n\n" + CP_NOTE.encode(), id="capital"),
        pytest.param(b"old\n\n" + CP_NOTE.encode(), id="no-size"),
        pytest.param(f"old {2**64}\n\n{CP_NOTE}".encode(), id="size-2^64"),
        pytest.param(b"old 1\n" + CP_NOTE.encode(), id="no-empty-line"),
        pytest.param(b"old 1\n" + HASH_LINE.encode(), id="no-checkpoint"),
        pytest.param(f"old 1\n{HASH_LINE[:-2]}\n\n{CP_NOTE}".encode(), id="hash-no-padding"),
        pytest.param(f"old 1\n{SHORT_HASH}\n\n{CP_NOTE}".encode(), id="hash-31-bytes"),
        pytest.param(f"old 1\n{HASH_LINE * 64}\n{CP_NOTE}".encode(), id="64-proof-lines"),
        pytest.param(b"old 1\n\xff\n\n" + CP_NOTE.encode(), id="not-utf8"),
        pytest.param(b"old 1\r\n\r\n" + CP_NOTE.encode(), id="crlf"),
    ],
)
def test_malformed_requests_are_rejected(body: bytes) -> None:
    with pytest.raises(WitnessRequestError) as info:
        parse_add_checkpoint_request(body)
    assert "\n" not in str(info.value)


def test_63_proof_lines_are_accepted_by_the_parser() -> None:
    request = parse_add_checkpoint_request(f"old 1\n{HASH_LINE * 63}\n{CP_NOTE}".encode())
    assert len(request.proof) == 63


def test_witness_end_to_end() -> None:
    """A log submits checkpoints; the witness checks, cosigns and records them."""
    recorded: TreeHead | None = None
    for old, new in [(0, 4), (4, 9), (9, 9), (9, 20)]:
        body = f"old {old}\n" + "".join(
            base64.b64encode(h).decode() + "\n" for h in _proof(old, new)
        )
        body += "\n" + sign_checkpoint(_cp(new), ORIGIN, LOG_KEY)
        request = parse_add_checkpoint_request(body.encode())
        cp = open_checkpoint(request.checkpoint_note, ORIGIN, ORIGIN, LOG_KEY.public_key)
        decision = decide_add_checkpoint(recorded, request.old_size, request.proof, cp)
        assert decision.accepted, decision.reason
        recorded = decision.new_head
        cosig = cosign(cp.body(), WITNESS, WITNESS_KEY, 1_700_000_000 + new)
        # The client appends the returned line to its note and checks it.
        note = parse_note(request.checkpoint_note)
        cosigned = parse_note(format_note(Note(note.text, (*note.signatures, cosig))))
        assert verify_cosignature(cosigned, WITNESS, WITNESS_KEY.public_key) == 1_700_000_000 + new
    assert recorded == _head(20)
    # A rollback attempt after that: the old size no longer matches.
    rollback = decide_add_checkpoint(recorded, 9, _proof(9, 12), _cp(12))
    assert rollback.outcome is Outcome.CONFLICT
    assert rollback.conflict_body() == "20\n"


# --- Split views -----------------------------------------------------------------------


def test_split_view_detection() -> None:
    assert not detect_split_view(_cp(5), _cp(5), [])
    assert detect_split_view(_cp(5), replace(_cp(5), root=OTHER_ROOT), [])
    assert not detect_split_view(_cp(5), _cp(12), _proof(5, 12))
    assert not detect_split_view(_cp(12), _cp(5), _proof(5, 12))  # Either order.
    assert detect_split_view(_cp(5), _cp(12), _flipped(_proof(5, 12)))
    assert detect_split_view(replace(_cp(5), root=OTHER_ROOT), _cp(12), _proof(5, 12))
    assert not detect_split_view(_cp(0), _cp(12), [])
    assert not detect_split_view(_cp(0), _cp(0), [])
    assert _cp(0).root == EMPTY_ROOT
    assert detect_split_view(replace(_cp(0), root=OTHER_ROOT), _cp(12), [])
    assert detect_split_view(_cp(0), replace(_cp(0), root=OTHER_ROOT), [])
    with pytest.raises(ValueError, match="different logs"):
        detect_split_view(_cp(5), replace(_cp(5), origin="customs.example/other"), [])
