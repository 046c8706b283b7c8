"""RFC 9162 Merkle trees: every vector of tests/vectors/merkle/rfc6962.json, planning and
assembly against an independent recursive reference, appends, and hypothesis properties."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scan_attestation.merkle import (
    EMPTY_ROOT,
    Coord,
    MerkleTree,
    assemble,
    consistency_proof_plan,
    coords_read_by_append,
    fold_root,
    inclusion_proof_plan,
    leaf_hash,
    needed_coords,
    node_hash,
    range_coords,
    root_coords,
    stored_hashes_after_append,
    verify_consistency,
    verify_inclusion,
)
from support import load_vector

VECTORS: dict[str, Any] = load_vector("merkle", "rfc6962.json")
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]
TREE = MerkleTree(LEAVES)


def _hex(values: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


# --- An independent reference: the recursive definitions of RFC 9162 section 2.1, written
# --- straight from the text, with no stored subtrees. Only for small trees.


class Reference:
    """MTH, PATH and PROOF of RFC 9162 sections 2.1.1, 2.1.3.1 and 2.1.4.1."""

    def __init__(self, entries: Sequence[bytes]) -> None:
        self.leaves = [leaf_hash(e) for e in entries]
        self.mth = functools.lru_cache(maxsize=None)(self._mth)

    @staticmethod
    def _split(n: int) -> int:
        k = 1
        while k * 2 < n:
            k *= 2
        return k  # The largest power of two smaller than n.

    def _mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return self.leaves[start]
        k = self._split(n)
        return node_hash(self.mth(start, start + k), self.mth(start + k, end))

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = self._split(n)
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def subproof(self, m: int, start: int, end: int, b: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if b else [self.mth(start, end)]
        k = self._split(n)
        if m <= k:
            return [*self.subproof(m, start, start + k, b), self.mth(start + k, end)]
        return [*self.subproof(m - k, start + k, end, False), self.mth(start, start + k)]


# --- Vectors ---------------------------------------------------------------------------


def test_hash_constants() -> None:
    assert VECTORS["hash_algorithm"] == "SHA-256"
    assert EMPTY_ROOT.hex() == VECTORS["empty_tree_root"]
    assert VECTORS["leaf_prefix"] == "00"
    assert VECTORS["node_prefix"] == "01"


@pytest.mark.parametrize("case", VECTORS["leaf_hash_vectors"], ids=lambda c: c["input_hex"][:12])
def test_leaf_hash_vectors(case: dict[str, str]) -> None:
    assert leaf_hash(bytes.fromhex(case["input_hex"])).hex() == case["leaf_hash"]


@pytest.mark.parametrize("case", VECTORS["node_hash_vectors"], ids=lambda c: c["left"][:8])
def test_node_hash_vectors(case: dict[str, str]) -> None:
    left, right = bytes.fromhex(case["left"]), bytes.fromhex(case["right"])
    assert node_hash(left, right).hex() == case["hash"]


def test_leaf_hashes_of_the_eight_leaves() -> None:
    assert [leaf_hash(x).hex() for x in LEAVES] == VECTORS["leaf_hashes"]


def test_every_complete_subtree_of_the_eight_leaf_tree() -> None:
    levels = VECTORS["node_hashes_by_level"]["levels"]
    for level, row in enumerate(levels):
        for index, expected in enumerate(row):
            assert TREE.hash_at((level, index)).hex() == expected
    # And nothing else is stored: 8 + 4 + 2 + 1 subtrees.
    with pytest.raises(KeyError):
        TREE.hash_at((0, 8))
    with pytest.raises(KeyError):
        TREE.hash_at((4, 0))


@pytest.mark.parametrize("size", range(9))
def test_roots(size: int) -> None:
    expected = VECTORS["roots"][str(size)]
    assert TREE.root(size).hex() == expected
    assert MerkleTree(LEAVES[:size]).root().hex() == expected
    assert Reference(LEAVES).mth(0, size).hex() == expected


def _inclusion_id(case: dict[str, Any]) -> str:
    return str(case["source_file"]).removeprefix("testdata/inclusion/")


def _consistency_id(case: dict[str, Any]) -> str:
    return str(case["source_file"]).removeprefix("testdata/consistency/")


@pytest.mark.parametrize(
    "case", VECTORS["inclusion_proofs"] + VECTORS["inclusion_proofs_invalid"], ids=_inclusion_id
)
def test_inclusion_vectors_verify_as_expected(case: dict[str, Any]) -> None:
    result = verify_inclusion(
        bytes.fromhex(case["leaf_hash"]),
        case["leaf_index"],
        case["tree_size"],
        _hex(case["proof"]),
        bytes.fromhex(case["root"]),
    )
    assert result is case["expect_valid"]


@pytest.mark.parametrize("case", VECTORS["inclusion_proofs"], ids=_inclusion_id)
def test_inclusion_vectors_are_generated(case: dict[str, Any]) -> None:
    index, size = case["leaf_index"], case["tree_size"]
    if case["leaf_hash"] in VECTORS["leaf_hashes"]:
        assert TREE.inclusion_proof(index, size) == _hex(case["proof"])
        assert TREE.root(size).hex() == case["root"]
    else:  # A one-leaf tree of an unknown leaf: the proof is empty whatever the leaf.
        assert (index, size) == (0, 1)
        assert inclusion_proof_plan(index, size) == []
        assert case["proof"] == []


@pytest.mark.parametrize(
    "case",
    VECTORS["consistency_proofs"] + VECTORS["consistency_proofs_invalid"],
    ids=_consistency_id,
)
def test_consistency_vectors_verify_as_expected(case: dict[str, Any]) -> None:
    result = verify_consistency(
        case["size1"],
        case["size2"],
        bytes.fromhex(case["root1"]),
        bytes.fromhex(case["root2"]),
        _hex(case["proof"]),
    )
    assert result is case["expect_valid"]


@pytest.mark.parametrize("case", VECTORS["consistency_proofs"], ids=_consistency_id)
def test_consistency_vectors_are_generated(case: dict[str, Any]) -> None:
    old, new = case["size1"], case["size2"]
    assert TREE.consistency_proof(old, new) == _hex(case["proof"])
    if case["root1"] == TREE.root(old).hex():
        assert TREE.root(new).hex() == case["root2"]


def test_real_ct_log_inclusion_proof() -> None:
    case = VECTORS["real_log_inclusion_proof"]
    computed = leaf_hash(bytes.fromhex(case["leaf_input"]))
    assert computed.hex() == case["leaf_hash"]
    proof = _hex(case["proof"])
    args = (case["leaf_index"], case["tree_size"])
    assert verify_inclusion(computed, *args, proof, bytes.fromhex(case["root"])) is True
    # The plan has the same shape as the real log's proof.
    assert len(inclusion_proof_plan(*args)) == len(proof)
    assert verify_inclusion(computed, args[0] + 1, args[1], proof, bytes.fromhex(case["root"])) is (
        False
    )


def test_vector_file_counts() -> None:
    # Every entry is exercised above; this pins the collection so a truncated copy fails.
    assert len(VECTORS["inclusion_proofs"]) + len(VECTORS["inclusion_proofs_invalid"]) == 98
    assert len(VECTORS["consistency_proofs"]) + len(VECTORS["consistency_proofs_invalid"]) == 98


# --- Planning --------------------------------------------------------------------------


def test_range_and_root_coords() -> None:
    assert root_coords(0) == []
    assert root_coords(1) == [(0, 0)]
    assert root_coords(11) == [(3, 0), (1, 4), (0, 10)]
    assert range_coords(8, 11) == [(1, 4), (0, 10)]
    assert range_coords(12, 16) == [(2, 3)]
    assert fold_root([]) == EMPTY_ROOT


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 0), (5, 5), (6, 4), (1, 3), (2, 5), (4, 9), (-1, 2)],
    ids=["empty", "empty-offset", "reversed", "misaligned-1-3", "misaligned-2-5", "4-9", "neg"],
)
def test_range_coords_rejects_non_subtrees(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="range"):
        range_coords(start, end)


@pytest.mark.parametrize(
    ("index", "size"), [(0, 0), (5, 5), (6, 5), (-1, 5), (0, -1), (True, 5)], ids=str
)
def test_inclusion_plan_rejects_bad_arguments(index: int, size: int) -> None:
    with pytest.raises(ValueError):
        inclusion_proof_plan(index, size)


@pytest.mark.parametrize(("old", "new"), [(0, 0), (0, 5), (6, 5), (-1, 5)], ids=str)
def test_consistency_plan_rejects_bad_arguments(old: int, new: int) -> None:
    with pytest.raises(ValueError):
        consistency_proof_plan(old, new)


def test_consistency_plan_of_equal_sizes_is_empty() -> None:
    assert consistency_proof_plan(7, 7) == []


def test_assemble_names_the_missing_coord() -> None:
    plan = inclusion_proof_plan(0, 8)
    store = {coord: TREE.hash_at(coord) for coord in needed_coords(plan)}
    assert assemble(plan, store) == TREE.inclusion_proof(0, 8)
    del store[(2, 1)]
    with pytest.raises(KeyError, match=r"\(2, 1\)"):
        assemble(plan, store)


def test_tree_rejects_sizes_beyond_its_end() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        TREE.root(9)
    with pytest.raises(ValueError, match="exceeds"):
        TREE.inclusion_proof(0, 9)
    with pytest.raises(ValueError, match="exceeds"):
        TREE.consistency_proof(1, 9)
    assert MerkleTree().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", [10**6, 2**40 + 12345, 2**64 - 1])
def test_plans_are_logarithmic_and_fast(size: int) -> None:
    started = time.perf_counter()
    for i in range(100):
        index = (size // 3 + i * 7919) % size
        inclusion = inclusion_proof_plan(index, size)
        consistency = consistency_proof_plan(index + 1, size)
        # Every element is at most one fold of one right-edge range: O(log n) coords in all.
        assert len(needed_coords(inclusion)) <= 2 * size.bit_length()
        assert len(needed_coords(consistency)) <= 2 * size.bit_length()
    per_pair = (time.perf_counter() - started) / 100
    # About 40 us at 10**6 and 300 us at 2**64 on an idle machine; the margin absorbs CI load.
    budget = 1e-3 if size <= 10**6 else 3e-3
    assert per_pair < budget, f"planning took {per_pair * 1e6:.0f} us"


class _UniformTree(dict[Coord, bytes]):
    """Stored hashes of a tree whose leaves are all equal: one hash per level, any size."""

    def __init__(self) -> None:
        super().__init__()
        self.levels = [leaf_hash(b"same")]
        for _ in range(64):
            self.levels.append(node_hash(self.levels[-1], self.levels[-1]))

    def __missing__(self, coord: Coord) -> bytes:
        return self.levels[coord[0]]

    def root(self, size: int) -> bytes:
        return fold_root([self[c] for c in root_coords(size)])


@pytest.mark.parametrize("new", [2**64 - 1, 2**63 + 1, 2**64 - 2])
def test_proofs_at_the_uint64_limit(new: int) -> None:
    store = _UniformTree()
    for old in (1, 2, 3, new - 1, 2**62 + 1, new // 3):
        proof = assemble(consistency_proof_plan(old, new), store)
        assert len(proof) <= 65
        assert verify_consistency(old, new, store.root(old), store.root(new), proof)
        index = old - 1
        path = assemble(inclusion_proof_plan(index, new), store)
        assert len(path) <= 64
        assert verify_inclusion(store.levels[0], index, new, path, store.root(new))
    # The longest consistency proofs have 65 hashes, one more than the tree height (here
    # from an odd old size to 2**64 - 1); the verifier must not cap them at 64.
    proof = assemble(consistency_proof_plan(3, new), store)
    assert len(proof) == (65 if new == 2**64 - 1 else len(proof))
    assert verify_consistency(3, new, store.root(3), store.root(new), proof)
    assert not verify_consistency(3, new, store.root(3), store.root(new), [*proof, H])


# --- Appends ---------------------------------------------------------------------------


def _all_complete_coords(size: int) -> set[Coord]:
    return {(level, index) for level in range(size.bit_length()) for index in range(size >> level)}


def _append_in_batches(batches: Sequence[int]) -> tuple[dict[Coord, bytes], int, list[bytes]]:
    """Append leaves batch by batch into a dict store, prefetching as the node would."""
    store: dict[Coord, bytes] = {}
    entries: list[bytes] = []
    size = 0
    for count in batches:
        new_entries = [i.to_bytes(4, "big") for i in range(size, size + count)]
        entries.extend(new_entries)
        prefetched = {c: store[c] for c in coords_read_by_append(size, count)}
        reads: list[Coord] = []

        def hash_at(
            coord: Coord, prefetched: dict[Coord, bytes] = prefetched, reads: list[Coord] = reads
        ) -> bytes:
            reads.append(coord)
            return prefetched[coord]

        stored = stored_hashes_after_append(size, [leaf_hash(e) for e in new_entries], hash_at)
        # It reads exactly the announced coords, each once.
        assert sorted(reads) == sorted(prefetched)
        new_coords = [coord for coord, _ in stored]
        assert len(new_coords) == len(set(new_coords))
        assert not set(new_coords) & set(store)
        store.update(stored)
        size += count
        assert set(store) == _all_complete_coords(size)
    return store, size, entries


def test_append_one_by_one_and_in_batches_agree() -> None:
    one_by_one, size, entries = _append_in_batches([1] * 70)
    batched, size2, _ = _append_in_batches([3, 0, 1, 31, 2, 33])
    assert size == size2 == 70
    assert one_by_one == batched
    reference = Reference(entries)
    for (level, index), value in one_by_one.items():
        assert value == reference.mth(index << level, (index + 1) << level)


def test_coords_read_by_append() -> None:
    assert coords_read_by_append(0, 5) == []
    assert coords_read_by_append(5, 0) == []
    # 5 = 4 + 1: leaf 4 pairs with leaf 5; [0, 4) waits for [4, 8).
    assert coords_read_by_append(5, 1) == [(0, 4)]
    assert coords_read_by_append(5, 3) == [(0, 4), (2, 0)]
    assert coords_read_by_append(7, 1) == [(0, 6), (1, 2), (2, 0)]


def test_append_rejects_bad_leaf_hashes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        stored_hashes_after_append(0, [b"short"], lambda c: b"")
    with pytest.raises(ValueError):
        MerkleTree().append_leaf_hashes([bytes(33)])


def test_proofs_at_50k_leaves_are_fast() -> None:
    size = 50_003
    tree = MerkleTree()
    tree.append_leaf_hashes([leaf_hash(i.to_bytes(4, "big")) for i in range(size)])
    root = tree.root()
    started = time.perf_counter()
    for i in range(100):
        index = (i * 7919) % size
        proof = tree.inclusion_proof(index)
        assert verify_inclusion(leaf_hash(index.to_bytes(4, "big")), index, size, proof, root)
        old = index + 1
        assert verify_consistency(old, size, tree.root(old), root, tree.consistency_proof(old))
    per_round = (time.perf_counter() - started) / 100
    assert per_round < 5e-3, f"two proofs, a root and two verifications took {per_round:.4f} s"


# --- Verification never raises ---------------------------------------------------------

H = bytes(32)


@pytest.mark.parametrize(
    "args",
    [
        (H, -1, 4, [H, H], H),
        (H, 0, -4, [], H),
        (H, True, 4, [H, H], H),
        (H, 0, 1.0, [], H),
        (H[:31], 0, 1, [], H[:31]),
        (H, 0, 2, [H[:31]], H),
        (H, 0, 2, b"x" * 32, H),
        (H, 0, 2, "x" * 32, H),
        (H, 0, 2, None, H),
        (H, 0, 2, [None], H),
        (H, 0, 2**70, [H] * 70, H),
        (None, 0, 1, [], None),
        ("00" * 32, 0, 1, [], "00" * 32),
    ],
    ids=lambda a: repr(a)[:40],
)
def test_verify_inclusion_returns_false_on_junk(args: tuple[Any, ...]) -> None:
    assert verify_inclusion(*args) is False


@pytest.mark.parametrize(
    "args",
    [
        (-1, 4, H, H, [H]),
        (1, -4, H, H, [H]),
        (True, 2, H, H, [H]),
        (1, 2, None, H, [H]),
        (1, 2, H, "x", [H]),
        (1, 2, H, H, [H[:31]]),
        (1, 2, H, H, None),
        (1, 2, H, H, b"x" * 32),
        (1, 2**70, H, H, [H] * 70),
        (2, 2, H, H, [H]),
    ],
    ids=lambda a: repr(a)[:40],
)
def test_verify_consistency_returns_false_on_junk(args: tuple[Any, ...]) -> None:
    assert verify_consistency(*args) is False


def test_proofs_do_not_bind_the_size_alone() -> None:
    # RFC 9162 verification walks the bits of (index, size - 1); sizes 33 and 34 give leaf 0
    # the same walk, so a size-33 proof also "verifies" for size 34 *with the size-33 root*.
    # This is why a root is only meaningful together with its signed size (a checkpoint).
    tree, _, _ = _fixture()
    proof, root33 = tree.inclusion_proof(0, 33), tree.root(33)
    assert verify_inclusion(tree.hash_at((0, 0)), 0, 34, proof, root33)
    assert not verify_inclusion(tree.hash_at((0, 0)), 0, 34, proof, tree.root(34))
    consistency = tree.consistency_proof(1, 33)
    assert verify_consistency(1, 34, tree.root(1), root33, consistency)
    assert not verify_consistency(1, 34, tree.root(1), tree.root(34), consistency)


# --- Properties ------------------------------------------------------------------------


MAX_SIZE = 300


@functools.lru_cache(maxsize=1)
def _fixture() -> tuple[MerkleTree, Reference, dict[Coord, bytes]]:
    """One tree of MAX_SIZE leaves; smaller trees are its prefixes."""
    entries = [i.to_bytes(4, "big") for i in range(MAX_SIZE)]
    tree = MerkleTree(entries)
    store = {c: tree.hash_at(c) for c in _all_complete_coords(MAX_SIZE)}
    return tree, Reference(entries), store


def _fetch(store: dict[Coord, bytes], plan: list[list[Coord]], size: int) -> dict[Coord, bytes]:
    """Fetch a plan's coords as the node would, checking they are complete at ``size``."""
    coords = needed_coords(plan)
    assert all((index + 1) << level <= size for level, index in coords)
    return {c: store[c] for c in coords}


def _flip(value: bytes, bit: int) -> bytes:
    data = bytearray(value)
    data[bit // 8 % len(data)] ^= 1 << (bit % 8)
    return bytes(data)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), tree_size=st.integers(min_value=1, max_value=MAX_SIZE))
def test_inclusion_property(data: st.DataObject, tree_size: int) -> None:
    tree, reference, store = _fixture()
    size = MAX_SIZE
    index = data.draw(st.integers(min_value=0, max_value=tree_size - 1), label="index")
    plan = inclusion_proof_plan(index, tree_size)
    proof = assemble(plan, _fetch(store, plan, tree_size))
    assert proof == tree.inclusion_proof(index, tree_size)
    assert proof == reference.path(index, 0, tree_size)
    fetched = _fetch(store, [root_coords(tree_size)], tree_size)
    root = fold_root([fetched[c] for c in root_coords(tree_size)])
    assert root == reference.mth(0, tree_size) == tree.root(tree_size)
    leaf = reference.leaves[index]
    assert verify_inclusion(leaf, index, tree_size, proof, root)

    # Any single change fails: a proof bit, the root, the leaf, the index, the size, the length.
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    if proof:
        at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="at")
        bad = [*proof[:at], _flip(proof[at], bit), *proof[at + 1 :]]
        assert not verify_inclusion(leaf, index, tree_size, bad, root)
        assert not verify_inclusion(leaf, index, tree_size, proof[:-1], root)
    assert not verify_inclusion(leaf, index, tree_size, [*proof, root], root)
    assert not verify_inclusion(leaf, index, tree_size, proof, _flip(root, bit))
    assert not verify_inclusion(_flip(leaf, bit), index, tree_size, proof, root)
    other = data.draw(st.integers(min_value=0, max_value=tree_size), label="other_index")
    if other != index:
        assert not verify_inclusion(leaf, other, tree_size, proof, root)
    # A proof does not bind the size on its own (see test_proofs_do_not_bind_the_size_alone);
    # against the true root of another size it must fail.
    other_size = data.draw(st.integers(min_value=0, max_value=size), label="other_size")
    if other_size != tree_size:
        other_root = reference.mth(0, other_size)
        assert not verify_inclusion(leaf, index, other_size, proof, other_root)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), new=st.integers(min_value=1, max_value=MAX_SIZE))
def test_consistency_property(data: st.DataObject, new: int) -> None:
    tree, reference, store = _fixture()
    size = MAX_SIZE
    old = data.draw(st.integers(min_value=1, max_value=new), label="old")
    plan = consistency_proof_plan(old, new)
    proof = assemble(plan, _fetch(store, plan, new))
    assert proof == tree.consistency_proof(old, new)
    assert proof == (reference.subproof(old, 0, new, True) if old < new else [])
    old_root, new_root = reference.mth(0, old), reference.mth(0, new)
    assert verify_consistency(old, new, old_root, new_root, proof)

    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    assert not verify_consistency(old, new, _flip(old_root, bit), new_root, proof)
    assert not verify_consistency(old, new, old_root, _flip(new_root, bit), proof)
    assert not verify_consistency(old, new, old_root, new_root, [*proof, new_root])
    if proof:
        at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="at")
        bad = [*proof[:at], _flip(proof[at], bit), *proof[at + 1 :]]
        assert not verify_consistency(old, new, old_root, new_root, bad)
        assert not verify_consistency(old, new, old_root, new_root, proof[:-1])
    if old < new:
        assert not verify_consistency(new, old, new_root, old_root, proof)
    other_old = data.draw(st.integers(min_value=0, max_value=size), label="other_old")
    if other_old != old:
        other_root = reference.mth(0, other_old)
        assert not verify_consistency(other_old, new, other_root, new_root, proof)
    other_new = data.draw(st.integers(min_value=0, max_value=size), label="other_new")
    if other_new != new:
        other_root = reference.mth(0, other_new)
        assert not verify_consistency(old, other_new, old_root, other_root, proof)


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=8))
def test_append_property(batches: list[int]) -> None:
    store, size, entries = _append_in_batches(batches)
    reference = Reference(entries)
    assert fold_root([store[c] for c in root_coords(size)]) == reference.mth(0, size)
