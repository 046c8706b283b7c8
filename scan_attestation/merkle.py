"""RFC 9162 Merkle hash trees (SHA-256): hashing, proof planning, assembly and verification.

The log node stores the hash of every *complete aligned subtree* of its tree, identified by a
:data:`Coord` ``(level, index)``: the subtree over leaves ``[index * 2**level,
(index + 1) * 2**level)``. Every hash RFC 9162 needs (roots, inclusion and consistency proof
elements) is either one such stored hash or the right-to-left fold of a few of them, so this
module works in two steps:

1. *Plan*: :func:`root_coords`, :func:`inclusion_proof_plan` and :func:`consistency_proof_plan`
   say which coords to fold into each value; :func:`needed_coords` gives the set to fetch in one
   query. :func:`coords_read_by_append` does the same for an append.
2. *Assemble*: :func:`assemble` and :func:`fold_root` turn fetched hashes into the proof;
   :func:`stored_hashes_after_append` computes the new subtree hashes to insert.

Every planning function costs O(log n) time and memory, with no recursion over the tree.
:func:`verify_inclusion` and :func:`verify_consistency` implement RFC 9162 sections 2.1.3.2
and 2.1.4.2. :class:`MerkleTree` is an in-memory tree built on the same functions, for
auditors that rebuild a log and for tests.

This module does no I/O and reads no clock. It does not parse or sign checkpoints (see
``checkpoint.py``) and does not know the tile layout (see ``tiles.py``).

Example:
    >>> tree = MerkleTree()
    >>> for entry in (b"a", b"b", b"c"):
    ...     _ = tree.append(entry)
    >>> proof = tree.inclusion_proof(1, 3)
    >>> verify_inclusion(leaf_hash(b"b"), 1, 3, proof, tree.root())
    True

"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Coord",
    "MerkleTree",
    "ProofPlan",
    "assemble",
    "consistency_proof_plan",
    "coords_read_by_append",
    "fold_root",
    "inclusion_proof_plan",
    "leaf_hash",
    "needed_coords",
    "node_hash",
    "range_coords",
    "root_coords",
    "stored_hashes_after_append",
    "verify_consistency",
    "verify_inclusion",
]

#: ``(level, index)``: the complete subtree over leaves ``[index << level, (index + 1) << level)``.
Coord = tuple[int, int]
#: Per proof element, in RFC 9162 order (leaf to root), the coords to fold into that element.
ProofPlan = list[list[Coord]]

#: Size in bytes of every leaf, node and root hash (SHA-256).
HASH_SIZE = 32
#: The root of the empty tree: SHA-256 of the empty string (RFC 9162 section 2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
# Tree sizes are uint64 in RFC 9162 and in checkpoints: an inclusion proof then has at most
# 64 hashes and a consistency proof at most 65 (one more than the tree height).
_MAX_PROOF_LENGTH = 65


def leaf_hash(data: bytes) -> bytes:
    """Hash one log entry: ``SHA-256(0x00 || data)`` (RFC 9162 section 2.1.1).

    Args:
        data: The exact entry bytes.

    Returns:
        The 32-byte leaf hash.

    Raises:
        TypeError: ``data`` is not bytes-like.

    """
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two children: ``SHA-256(0x01 || left || right)`` (RFC 9162 section 2.1.1).

    Args:
        left: The left child hash.
        right: The right child hash.

    Returns:
        The 32-byte interior node hash.

    Raises:
        TypeError: A child is not bytes-like.

    """
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _check_size(value: int, what: str) -> None:
    # bool is an int subclass; a True tree size is a caller bug, not a size of 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")


def range_coords(start: int, end: int) -> list[Coord]:
    """Return the complete subtrees that make up the RFC 9162 subtree over ``[start, end)``.

    The range must be one that RFC 9162's recursion produces: ``start`` is a multiple of the
    smallest power of two that is at least ``end - start``. The coords come left to right,
    largest first; :func:`fold_root` combines their hashes into ``MTH(D[start:end])``.

    Args:
        start: First leaf index of the range.
        end: One past the last leaf index; ``end > start``.

    Returns:
        The coords, one per set bit of ``end - start``.

    Raises:
        ValueError: The range is empty or not aligned as described above.

    """
    _check_size(start, "range start")
    _check_size(end, "range end")
    count = end - start
    if count <= 0:
        raise ValueError(f"empty leaf range [{start}, {end})")
    # 1 << (count - 1).bit_length() is the smallest power of two >= count.
    if start & ((1 << (count - 1).bit_length()) - 1):
        raise ValueError(f"leaf range [{start}, {end}) is not an RFC 9162 subtree")
    coords: list[Coord] = []
    position = start
    while count:  # One coord per set bit of count, largest first.
        level = count.bit_length() - 1
        coords.append((level, position >> level))
        position += 1 << level
        count -= 1 << level
    return coords


def root_coords(size: int) -> list[Coord]:
    """Return the complete subtrees whose right-to-left fold is the root of a tree of ``size``.

    Args:
        size: The tree size.

    Returns:
        The coords, left to right; empty for the empty tree.

    Raises:
        ValueError: ``size`` is negative.

    """
    _check_size(size, "tree size")
    return range_coords(0, size) if size else []


def fold_root(hashes: Sequence[bytes]) -> bytes:
    """Combine the hashes of adjacent complete subtrees, right to left, RFC 9162 style.

    For the coords of :func:`range_coords` (largest subtree first) this computes the Merkle
    Tree Hash of the whole range: ``node_hash(h0, node_hash(h1, ... node_hash(hk-1, hk)))``.

    Args:
        hashes: The subtree hashes, in the order of their coords.

    Returns:
        The folded hash; :data:`EMPTY_ROOT` for an empty sequence (the empty tree).

    Raises:
        TypeError: An element is not bytes-like.

    """
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_proof_plan(index: int, size: int) -> ProofPlan:
    """Plan the RFC 9162 inclusion proof (section 2.1.3.1) of leaf ``index`` in a tree of ``size``.

    At each level the proof holds the hash of the sibling of the node that contains the leaf,
    when that sibling has at least one leaf below ``size``. A sibling on the left is always a
    complete subtree; a sibling on the right may be cut off by ``size`` and is then folded from
    up to ``level`` complete subtrees (this happens at most once per proof).

    Args:
        index: The 0-based leaf index.
        size: The tree size; ``index < size``.

    Returns:
        The coords of each proof element, leaf to root.

    Raises:
        ValueError: ``index >= size`` or a negative value.

    """
    _check_size(index, "leaf index")
    _check_size(size, "tree size")
    if index >= size:
        raise ValueError(f"leaf index {index} is not below tree size {size}")
    plan: ProofPlan = []
    for level in range((size - 1).bit_length()):
        sibling = (index >> level) ^ 1
        sibling_start = sibling << level
        if sibling_start + (1 << level) <= size:
            plan.append([(level, sibling)])
        elif sibling_start < size:
            plan.append(range_coords(sibling_start, size))
    return plan


def consistency_proof_plan(old_size: int, new_size: int) -> ProofPlan:
    """Plan the RFC 9162 consistency proof (section 2.1.4.1) from ``old_size`` to ``new_size``.

    This walks the RFC's ``SUBPROOF`` recursion iteratively: each step splits the current
    subtree at the largest power of two below its size and records the hash of the half that
    the old tree does not descend into.

    Args:
        old_size: The size of the older tree; ``0 < old_size <= new_size``.
        new_size: The size of the newer tree.

    Returns:
        The coords of each proof element, in RFC 9162 order; empty when the sizes are equal.

    Raises:
        ValueError: ``old_size`` is 0 (no proof exists from the empty tree) or exceeds
            ``new_size``.

    """
    _check_size(old_size, "old tree size")
    _check_size(new_size, "new tree size")
    if old_size == 0 or old_size > new_size:
        raise ValueError(f"no consistency proof from tree size {old_size} to {new_size}")
    outer: ProofPlan = []
    start, end, old_in_subtree, complete_old = 0, new_size, old_size, True
    while old_in_subtree != end - start:
        split = 1 << ((end - start - 1).bit_length() - 1)  # Largest power of two < end - start.
        if old_in_subtree <= split:
            outer.append(range_coords(start + split, end))
            end = start + split
        else:
            outer.append([(split.bit_length() - 1, start // split)])  # A complete subtree.
            start += split
            old_in_subtree -= split
            complete_old = False
    # SUBPROOF(m, D[m], false) = [MTH(D[m])]: the old tree's own subtree comes first, unless
    # the whole old tree is a subtree of the new one (the verifier already has its root).
    plan: ProofPlan = [] if complete_old else [range_coords(start, end)]
    plan.extend(reversed(outer))
    return plan


def needed_coords(plan: Iterable[Sequence[Coord]]) -> set[Coord]:
    """Return every coord a plan reads, to fetch them in one query.

    Args:
        plan: A plan from :func:`inclusion_proof_plan` or :func:`consistency_proof_plan`
            (or ``[root_coords(size)]``).

    Returns:
        The set of coords.

    """
    return {coord for element in plan for coord in element}


def assemble(plan: Iterable[Sequence[Coord]], hash_at: Mapping[Coord, bytes]) -> list[bytes]:
    """Build a proof from its plan and the fetched subtree hashes.

    Args:
        plan: The plan (a list of coord lists).
        hash_at: The stored hashes, holding at least :func:`needed_coords` of the plan.

    Returns:
        One hash per plan element, each the :func:`fold_root` of its coords' hashes.

    Raises:
        KeyError: A needed coord is missing from ``hash_at``.

    """
    proof: list[bytes] = []
    for element in plan:
        try:
            hashes = [hash_at[coord] for coord in element]
        except KeyError as e:
            raise KeyError(f"no stored hash for subtree {e.args[0]!r}") from e
        proof.append(fold_root(hashes))
    return proof


def coords_read_by_append(size_before: int, count: int) -> list[Coord]:
    """Return the stored coords that :func:`stored_hashes_after_append` will read.

    They are the complete subtrees on the right edge of the old tree that get a new right
    sibling, hence a parent, within the appended leaves.

    Args:
        size_before: The tree size before the append.
        count: The number of leaves appended.

    Returns:
        The coords, lowest level first.

    Raises:
        ValueError: A negative argument.

    """
    _check_size(size_before, "tree size")
    _check_size(count, "leaf count")
    size_after = size_before + count
    coords: list[Coord] = []
    for level in range(size_before.bit_length()):
        if size_before >> level & 1:
            index = (size_before >> level) - 1
            # Its sibling (level, index + 1) completes once the tree covers that sibling.
            if size_after >= (index + 2) << level:
                coords.append((level, index))
    return coords


def stored_hashes_after_append(
    size_before: int,
    new_leaf_hashes: Sequence[bytes],
    hash_at: Callable[[Coord], bytes],
) -> list[tuple[Coord, bytes]]:
    """Compute every complete subtree hash that appending these leaves creates.

    Args:
        size_before: The tree size before the append.
        new_leaf_hashes: The leaf hashes (see :func:`leaf_hash`) of the appended entries.
        hash_at: Returns a stored hash of the old tree; it is called only for the coords of
            :func:`coords_read_by_append`, each once.

    Returns:
        ``(coord, hash)`` pairs to store, including the level-0 leaf hashes, in the order they
        complete (each parent right after its right child).

    Raises:
        ValueError: ``size_before`` is negative or a leaf hash is not 32 bytes.
        Exception: Whatever ``hash_at`` raises for a missing hash.

    """
    _check_size(size_before, "tree size")
    stored: list[tuple[Coord, bytes]] = []
    # The latest completed left child at each level that still waits for its right sibling,
    # as (index, hash). Left children from before this append are read through hash_at.
    waiting: dict[int, tuple[int, bytes]] = {}
    for offset, leaf in enumerate(new_leaf_hashes):
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        level, index, current = 0, size_before + offset, bytes(leaf)
        stored.append(((0, index), current))
        while index & 1:
            pending = waiting.pop(level, None)
            if pending is not None and pending[0] == index - 1:
                left = pending[1]
            else:
                left = hash_at((level, index - 1))
            current = node_hash(left, current)
            level, index = level + 1, index >> 1
            stored.append(((level, index), current))
        waiting[level] = (index, current)
    return stored


def _is_bytes(value: object) -> bool:
    # A helper rather than an inline isinstance: the annotations promise bytes, but this
    # check exists for callers that pass anything (it must not be optimised away as dead).
    return isinstance(value, bytes)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_proof(proof: object) -> bool:
    return (
        isinstance(proof, Sequence)
        and not isinstance(proof, bytes | str)
        and len(proof) <= _MAX_PROOF_LENGTH
        and all(_is_hash(p) for p in proof)
    )


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Verify an inclusion proof (RFC 9162 section 2.1.3.2).

    Never raises: malformed input (a hash that is not 32 bytes, a negative or out-of-range
    index, a proof of the wrong length) gives ``False``.

    Args:
        leaf_hash: The 32-byte hash of the entry (see :func:`leaf_hash`).
        index: The 0-based leaf index.
        size: The tree size of ``root``.
        proof: The inclusion path, leaf to root.
        root: The 32-byte root hash of the tree of ``size``.

    Returns:
        ``True`` if and only if the proof binds the leaf at ``index`` to ``root``.

    """
    if not (_is_hash(leaf_hash) and _is_hash(root) and _is_size(index) and _is_size(size)):
        return False
    if not _is_proof(proof):
        return False
    # Step 1: the leaf must be in the tree.
    if index >= size:
        return False
    # Steps 2 and 3.
    fn, sn, r = index, size - 1, leaf_hash
    # Step 4.
    for p in proof:
        if sn == 0:  # 4a: more proof than tree.
            return False
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    # Step 5.
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Verify a consistency proof (RFC 9162 section 2.1.4.2).

    Edge cases follow the transparency-dev/merkle test data: ``old_size == 0`` is always
    invalid (a proof from the empty tree means nothing; callers such as the witness handle
    that case themselves); equal sizes are valid if and only if the proof is empty and the
    roots are identical. Never raises: malformed input gives ``False``.

    Args:
        old_size: The size of the older tree.
        new_size: The size of the newer tree.
        old_root: The root hash of the older tree.
        new_root: The root hash of the newer tree.
        proof: The consistency proof, in RFC 9162 order.

    Returns:
        ``True`` if and only if the tree of ``new_size`` extends the tree of ``old_size``.

    """
    if not (_is_size(old_size) and _is_size(new_size) and _is_proof(proof)):
        return False
    if not (_is_bytes(old_root) and _is_bytes(new_root)):
        return False
    if old_size == 0 or old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    # Step 1.
    if not proof:
        return False
    path = list(proof)
    # Step 2: a power-of-two old tree is itself a subtree; its root starts the path.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Steps 3 and 4.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:  # 6a
            return False
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    # Step 7.
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)


class MerkleTree:
    """An in-memory, append-only Merkle tree that stores every complete subtree hash.

    It uses the same planning and assembly functions as the log node, with a list per level
    as storage. Memory is about two hashes per leaf.

    Example:
        >>> tree = MerkleTree([b"a", b"b"])
        >>> tree.size
        2

    """

    def __init__(self, entries: Iterable[bytes] = ()) -> None:
        """Build a tree, optionally from initial entries.

        Args:
            entries: Entry bytes to append, in order.

        """
        self._levels: list[list[bytes]] = []
        self.extend(entries)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0]) if self._levels else 0

    def hash_at(self, coord: Coord) -> bytes:
        """Return the stored hash of a complete subtree.

        Args:
            coord: ``(level, index)``.

        Returns:
            The 32-byte hash.

        Raises:
            KeyError: The subtree is not complete in this tree.

        """
        level, index = coord
        if level < 0 or index < 0 or level >= len(self._levels):
            raise KeyError(coord)
        row = self._levels[level]
        if index >= len(row):
            raise KeyError(coord)
        return row[index]

    def append(self, entry: bytes) -> int:
        """Append one entry (its bytes, hashed with :func:`leaf_hash`).

        Args:
            entry: The exact entry bytes.

        Returns:
            The new leaf's index.

        """
        return self.append_leaf_hashes([leaf_hash(entry)])

    def extend(self, entries: Iterable[bytes]) -> None:
        """Append several entries.

        Args:
            entries: Entry bytes, in order.

        """
        self.append_leaf_hashes([leaf_hash(entry) for entry in entries])

    def append_leaf_hashes(self, leaf_hashes: Sequence[bytes]) -> int:
        """Append leaves given by their leaf hashes.

        Args:
            leaf_hashes: 32-byte leaf hashes, in order.

        Returns:
            The index of the first appended leaf (the old size).

        Raises:
            ValueError: A leaf hash is not 32 bytes.

        """
        first = self.size
        for (level, index), value in stored_hashes_after_append(first, leaf_hashes, self.hash_at):
            while len(self._levels) <= level:
                self._levels.append([])
            # Subtrees complete left to right at each level, so this is always an append.
            row = self._levels[level]
            if len(row) != index:
                raise RuntimeError(f"subtree {(level, index)} completed out of order")
            row.append(value)
        return first

    def _check_tree_size(self, size: int) -> None:
        _check_size(size, "tree size")
        if size > self.size:
            raise ValueError(f"tree size {size} exceeds the current size {self.size}")

    def root(self, size: int | None = None) -> bytes:
        """Return the root hash of the tree at ``size`` (default: the current size).

        Args:
            size: A tree size up to the current one.

        Returns:
            The 32-byte root hash.

        Raises:
            ValueError: ``size`` is negative or larger than the tree.

        """
        size = self.size if size is None else size
        self._check_tree_size(size)
        return fold_root([self.hash_at(coord) for coord in root_coords(size)])

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the inclusion proof of leaf ``index`` in the tree at ``size``.

        Args:
            index: The 0-based leaf index.
            size: The tree size (default: the current size).

        Returns:
            The proof, leaf to root.

        Raises:
            ValueError: ``index >= size`` or ``size`` is larger than the tree.

        """
        size = self.size if size is None else size
        self._check_tree_size(size)
        plan = inclusion_proof_plan(index, size)
        return assemble(plan, _TreeView(self))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Return the consistency proof from ``old_size`` to ``new_size``.

        Args:
            old_size: The older size, at least 1.
            new_size: The newer size (default: the current size).

        Returns:
            The proof, in RFC 9162 order.

        Raises:
            ValueError: The sizes are out of order, 0, or larger than the tree.

        """
        new_size = self.size if new_size is None else new_size
        self._check_tree_size(new_size)
        plan = consistency_proof_plan(old_size, new_size)
        return assemble(plan, _TreeView(self))


class _TreeView(Mapping[Coord, bytes]):
    """A read-only mapping view of a :class:`MerkleTree`'s stored hashes."""

    def __init__(self, tree: MerkleTree) -> None:
        self._tree = tree

    def __getitem__(self, coord: Coord) -> bytes:
        return self._tree.hash_at(coord)

    def __iter__(self) -> Iterator[Coord]:
        for level, row in enumerate(self._tree._levels):
            for index in range(len(row)):
                yield (level, index)

    def __len__(self) -> int:
        return sum(len(row) for row in self._tree._levels)
