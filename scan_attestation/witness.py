"""C2SP tlog-witness decisions: the add-checkpoint checks and split-view detection.

:func:`parse_add_checkpoint_request` reads the body of an ``add-checkpoint`` request and
:func:`decide_add_checkpoint` makes the witness's decision once the caller has found the log
by origin (404 otherwise) and verified the log's signature on the checkpoint (403 otherwise),
following c2sp.org/tlog-witness, "add-checkpoint":

1. The old size exceeds the checkpoint size: 400 Bad Request.
2. The old size differs from the size of the latest checkpoint the witness cosigned for the
   origin (0 if none): 409 Conflict, with that size as a ``text/x.tlog.size`` body.
3. A checkpoint of size 0 without the empty-tree root: 422 Unprocessable Entity.
4. Old size 0 with a non-empty proof, equal sizes with different roots, or a consistency
   proof that does not verify against the witness's recorded root: 422.
5. Otherwise: accept; the caller persists the new tree head, atomically with the check of
   step 2, then returns a cosignature with a non-zero timestamp (the spec forbids zero).

:func:`detect_split_view` tells whether two checkpoints of one log cannot both be honest.

This module does no I/O, holds no state and reads no clock: the caller loads and stores the
witness's latest tree head and passes the cosigning time to
:func:`scan_attestation.checkpoint.cosign`.
"""

from __future__ import annotations

import enum
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from credentials.errors import MalformedInputError
from scan_attestation.checkpoint import MAX_TREE_SIZE, Checkpoint
from scan_attestation.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from scan_attestation.note import NoteError, decode_base64

__all__ = [
    "MAX_PROOF_LINES",
    "TLOG_SIZE_CONTENT_TYPE",
    "AddCheckpointDecision",
    "AddCheckpointRequest",
    "Outcome",
    "TreeHead",
    "WitnessRequestError",
    "decide_add_checkpoint",
    "detect_split_view",
    "parse_add_checkpoint_request",
]

#: Most consistency proof lines a client may send (tlog-witness, "add-checkpoint").
MAX_PROOF_LINES = 63
#: Content type of the 409 Conflict response body.
TLOG_SIZE_CONTENT_TYPE = "text/x.tlog.size"

_OLD_LINE = re.compile(r"old (0|[1-9][0-9]{0,19})")


class WitnessRequestError(MalformedInputError, ValueError):
    """An add-checkpoint request body is malformed (respond 400 Bad Request)."""

    code = "MALFORMED_WITNESS_REQUEST"


class TreeHead(NamedTuple):
    """The latest tree head a witness cosigned for one origin.

    Attributes:
        size: The tree size.
        root: The 32-byte root hash.

    """

    size: int
    root: bytes


class Outcome(enum.Enum):
    """The witness's answer to an add-checkpoint request, with its HTTP status."""

    ACCEPT = 200
    BAD_REQUEST = 400
    CONFLICT = 409
    UNPROCESSABLE = 422


@dataclass(frozen=True)
class AddCheckpointDecision:
    """The decision on one add-checkpoint request.

    Attributes:
        outcome: What to answer.
        reason: A one-line explanation for logs and error bodies.
        known_size: For :attr:`Outcome.CONFLICT`, the size of the latest cosigned checkpoint.
        new_head: For :attr:`Outcome.ACCEPT`, the tree head to persist before responding.

    """

    outcome: Outcome
    reason: str
    known_size: int | None = None
    new_head: TreeHead | None = None

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return self.outcome.value

    @property
    def accepted(self) -> bool:
        """Whether the witness should cosign."""
        return self.outcome is Outcome.ACCEPT

    def conflict_body(self) -> str:
        """Return the 409 body: the known size in decimal and a newline.

        Raises:
            ValueError: The outcome is not a conflict.

        """
        if self.outcome is not Outcome.CONFLICT or self.known_size is None:
            raise ValueError("only a conflict decision has a tree size body")
        return f"{self.known_size}\n"


class AddCheckpointRequest(NamedTuple):
    """A parsed add-checkpoint request body.

    Attributes:
        old_size: The size of the previous checkpoint the client knows the witness holds.
        proof: The consistency proof hashes, in order.
        checkpoint_note: The signed checkpoint note, as text (not yet verified).

    """

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint_note: str


def parse_add_checkpoint_request(body: bytes) -> AddCheckpointRequest:
    r"""Parse an add-checkpoint request body (tlog-witness, "add-checkpoint").

    The body is ``"old <size>\n"``, zero to 63 base64 hash lines, an empty line, then the
    signed checkpoint note.

    Args:
        body: The raw request body.

    Returns:
        The request; the checkpoint note still has to be opened with the log's key.

    Raises:
        WitnessRequestError: The body is not UTF-8 or breaks the format above.

    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WitnessRequestError("request body is not valid UTF-8") from e
    head, separator, checkpoint_note = text.partition("\n\n")
    if not separator:
        raise WitnessRequestError("request body has no empty line before the checkpoint")
    lines = head.split("\n")
    match = _OLD_LINE.fullmatch(lines[0])
    if match is None:
        raise WitnessRequestError("first line must be 'old <size>' without leading zeros")
    old_size = int(match[1])
    if old_size > MAX_TREE_SIZE:
        raise WitnessRequestError("old size exceeds 2^64-1")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessRequestError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof: list[bytes] = []
    for number, line in enumerate(lines[1:], start=1):
        try:
            value = decode_base64(line, f"consistency proof line {number}")
        except NoteError as e:
            raise WitnessRequestError(e.message) from e
        if len(value) != HASH_SIZE:
            raise WitnessRequestError(f"consistency proof line {number} is not a 32-byte hash")
        proof.append(value)
    return AddCheckpointRequest(old_size, tuple(proof), checkpoint_note)


def decide_add_checkpoint(
    known: tuple[int, bytes] | None,
    old_size: int,
    proof: Sequence[bytes],
    checkpoint: Checkpoint,
) -> AddCheckpointDecision:
    """Decide an add-checkpoint request whose log signature the caller already verified.

    Args:
        known: The latest ``(size, root)`` the witness cosigned for this origin, or ``None``
            if it never cosigned one.
        old_size: The request's old size.
        proof: The request's consistency proof.
        checkpoint: The submitted checkpoint (origin known, log signature valid).

    Returns:
        The decision; see the module docstring for the order of the checks.

    """
    new_head = TreeHead(checkpoint.size, checkpoint.root)
    # 1. The old size must not exceed the checkpoint size.
    if old_size < 0 or old_size > checkpoint.size:
        return AddCheckpointDecision(
            Outcome.BAD_REQUEST, f"old size {old_size} exceeds checkpoint size {checkpoint.size}"
        )
    if len(proof) > MAX_PROOF_LINES:
        return AddCheckpointDecision(
            Outcome.BAD_REQUEST, f"more than {MAX_PROOF_LINES} consistency proof hashes"
        )
    # 2. The old size must be the size the witness last cosigned (0 if it never did).
    known_size, known_root = (0, EMPTY_ROOT) if known is None else known
    if old_size != known_size:
        return AddCheckpointDecision(
            Outcome.CONFLICT,
            f"old size {old_size} is not the latest cosigned size {known_size}",
            known_size=known_size,
        )
    # 3. An empty tree has one root.
    if checkpoint.size == 0 and not hmac.compare_digest(checkpoint.root, EMPTY_ROOT):
        return AddCheckpointDecision(
            Outcome.UNPROCESSABLE, "checkpoint of size 0 does not have the empty tree root"
        )
    # 4. Consistency with the recorded tree head.
    if old_size == 0:
        # The empty tree is consistent with every tree, so no proof is needed or allowed.
        if proof:
            return AddCheckpointDecision(
                Outcome.UNPROCESSABLE, "consistency proof must be empty when the old size is 0"
            )
        return AddCheckpointDecision(
            Outcome.ACCEPT, "consistent with the empty tree", None, new_head
        )
    if old_size == checkpoint.size and not hmac.compare_digest(known_root, checkpoint.root):
        return AddCheckpointDecision(
            Outcome.UNPROCESSABLE,
            f"checkpoint has the cosigned size {old_size} but another root hash",
        )
    if not verify_consistency(old_size, checkpoint.size, known_root, checkpoint.root, proof):
        return AddCheckpointDecision(
            Outcome.UNPROCESSABLE,
            f"consistency proof from size {old_size} to {checkpoint.size} does not verify",
        )
    return AddCheckpointDecision(
        Outcome.ACCEPT, f"consistent with cosigned size {old_size}", None, new_head
    )


def detect_split_view(a: Checkpoint, b: Checkpoint, consistency_proof: Sequence[bytes]) -> bool:
    """Tell whether two checkpoints of one log cannot both be honest.

    They conflict when they have the same size but different roots, when a size-0 checkpoint
    lacks the empty-tree root, or when ``consistency_proof`` (from the smaller to the larger
    tree) does not verify. A failed proof shows misbehaviour only if the log itself was asked
    for it: an honest log can always produce one, but anybody can send a bad one.

    Args:
        a: One checkpoint.
        b: Another checkpoint of the same origin, in either order.
        consistency_proof: The proof between their sizes (ignored when a size is 0 or both
            are equal).

    Returns:
        ``True`` if the two views cannot both be true.

    Raises:
        ValueError: The checkpoints have different origins (they are different logs).

    """
    if a.origin != b.origin:
        raise ValueError(f"checkpoints of different logs: {a.origin!r} and {b.origin!r}")
    old, new = (a, b) if a.size <= b.size else (b, a)
    if old.size == 0:
        # Both empty-tree roots must be right; a size-0 head is consistent with any tree.
        return not hmac.compare_digest(old.root, EMPTY_ROOT) or (
            new.size == 0 and not hmac.compare_digest(new.root, EMPTY_ROOT)
        )
    if old.size == new.size:
        return not hmac.compare_digest(old.root, new.root)
    return not verify_consistency(old.size, new.size, old.root, new.root, consistency_proof)
