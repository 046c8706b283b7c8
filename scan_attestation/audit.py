"""Offline audit of a scan attestation bundle and of a node's transparency log.

An auditor pins, out of band, the Ed25519 keys of the nodes it trusts (:class:`TrustedNodes`,
the ``--trust`` file of ``trustlane audit``). With them, :func:`audit_bundle` checks a bundle
step by step, each step giving a :class:`StepResult` (ok, fail or skipped, with a one-line
detail), in this order:

1. ``bundle``: the bundle, its attestation and its checkpoint note parse; the device
   authorisation's issuer is a did:web (the node that countersigns and logs).
2. ``device-authorization``: a ``DeviceAuthorization`` signed by that node with a trusted
   key, for the attestation's issuer, covering the scan (validity, modality, site,
   calibration due).
3. ``device-proof`` and ``node-proof``: the device's proof by the issuer's did:key, and the
   node's proof chained to it (``previousProof``) by a trusted key of the node.
4. ``inclusion``: RFC 9162 section 2.1.3.2 inclusion of the attestation's log entry (and of
   the authorisation's, when the bundle proves it) under the checkpoint's root.
5. ``checkpoint``: the C2SP checkpoint is signed by the node under ``<host[:port]>/log`` with
   a trusted key, and names that origin.
6. ``witnesses``: valid ``cosignature/v1`` cosignatures by the other trusted nodes, at least
   ``min_witnesses`` of them.
7. ``consistency``, once per other checkpoint given: signed by the node, same origin; the
   same size must mean the same root, and a different size is checked with a consistency
   proof (RFC 9162 section 2.1.4.2) or reported as skipped.

For a whole log, :func:`entry_bundle_paths` lists what to fetch, :class:`LogRebuild`
rebuilds the tree from the entry bundles, and :func:`check_rebuilt_tree` and
:func:`check_from_checkpoint` compare it with the checkpoints.

Nothing here raises on hostile input: a malformed document is a failed step. Status lists
are not checked (that needs the network), nor is any time compared with the clock: this
module does no I/O and never reads the clock.

Example:
    >>> report = audit_bundle({"type": "nonsense"}, TrustedNodes({}))
    >>> report.ok, report.steps[0].step, report.steps[0].status.value
    (False, 'bundle', 'fail')

"""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from credentials.data_integrity import (
    DIDKeyResolver,
    ResolvedVerificationMethod,
    get_proof_outcomes,
    proofs_of,
)
from credentials.errors import (
    MalformedInputError,
    TrustlaneError,
    UnresolvableVerificationMethodError,
)
from credentials.keys import PublicKey
from credentials.model import issuer_id
from credentials.strict_json import JSONObject, JSONValue
from scan_attestation.attestation import (
    AttestationClaims,
    authorization_problems,
    check_proof_chain,
    read_device_authorization,
    read_scan_attestation,
)
from scan_attestation.bundle import AttestationBundle, read_bundle
from scan_attestation.checkpoint import (
    Checkpoint,
    CheckpointError,
    open_checkpoint,
    parse_checkpoint,
    verify_cosignature,
)
from scan_attestation.log_entry import log_entry, log_origin, parse_log_entry, witness_name
from scan_attestation.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from scan_attestation.note import NoteError, parse_note
from scan_attestation.tiles import (
    TILE_WIDTH,
    decode_entry_bundle,
    entries_path,
    partial_tile_width,
)

__all__ = [
    "MAX_KEYS_PER_NODE",
    "MAX_TRUSTED_NODES",
    "AuditReport",
    "ConsistencyProof",
    "LogRebuild",
    "OtherCheckpoint",
    "StepResult",
    "StepStatus",
    "TrustedNodes",
    "audit_bundle",
    "check_checkpoint",
    "check_consistency",
    "check_from_checkpoint",
    "check_rebuilt_tree",
    "entry_bundle_paths",
    "open_trusted_checkpoint",
]

#: Most nodes a trust file may list, and most keys per node (each key may cost a check).
MAX_TRUSTED_NODES = 100
MAX_KEYS_PER_NODE = 16
_MAX_PROOF_HASHES = 64
_ASSERTION = frozenset({"assertionMethod"})
# Types every credential carries; an entry is counted under its most specific type.
_GENERIC_TYPES = frozenset({"VerifiableCredential", "VerifiablePresentation"})


class StepStatus(enum.StrEnum):
    """How a step ended; only ``FAIL`` fails the audit."""

    OK = "ok"
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class StepResult:
    """One step of an audit.

    Attributes:
        step: The step's name, e.g. ``"node-proof"``.
        status: ok, fail or skipped.
        detail: One line: what was found, or why the step failed or was skipped.

    """

    step: str
    status: StepStatus
    detail: str

    def to_json(self) -> JSONObject:
        """The JSON form: ``{"step", "status", "detail"}``."""
        return {"step": self.step, "status": self.status.value, "detail": self.detail}


def _ok(step: str, detail: str) -> StepResult:
    return StepResult(step, StepStatus.OK, detail)


def _fail(step: str, detail: str) -> StepResult:
    return StepResult(step, StepStatus.FAIL, detail)


def _skipped(step: str, detail: str) -> StepResult:
    return StepResult(step, StepStatus.SKIPPED, detail)


def _reason(error: Exception) -> str:
    return error.message if isinstance(error, TrustlaneError) else str(error)


@dataclass(frozen=True)
class AuditReport:
    """Every step of an audit, in order."""

    steps: tuple[StepResult, ...]

    @property
    def ok(self) -> bool:
        """True when there is a step and none failed (skipped steps do not fail)."""
        return bool(self.steps) and all(s.status is not StepStatus.FAIL for s in self.steps)

    @property
    def failed(self) -> tuple[str, ...]:
        """The names of the failed steps."""
        return tuple(s.step for s in self.steps if s.status is StepStatus.FAIL)

    def to_json(self) -> JSONObject:
        """The JSON form: ``{"ok": bool, "steps": [...]}``."""
        return {"ok": self.ok, "steps": [s.to_json() for s in self.steps]}


@dataclass(frozen=True)
class TrustedNodes:
    """What an auditor pins: each trusted node's did:web and its Ed25519 keys.

    The node that countersigns an attestation must be listed; every other listed node is a
    potential witness of its log.
    """

    nodes: Mapping[str, tuple[PublicKey, ...]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: JSONValue) -> TrustedNodes:
        """Read ``{"did:web:...": ["z6Mk...", ...], ...}``.

        Raises:
            MalformedInputError: Not an object, too many nodes or keys, a key that is not a
                did:web naming an origin, or a value that is not a non-empty list of Ed25519
                Multikeys.
        """
        if not isinstance(value, dict):
            raise MalformedInputError("the trust file must be a JSON object: did:web -> keys")
        if len(value) > MAX_TRUSTED_NODES:
            raise MalformedInputError(f"the trust file lists more than {MAX_TRUSTED_NODES} nodes")
        nodes: dict[str, tuple[PublicKey, ...]] = {}
        for did, keys in value.items():
            log_origin(did)  # raises unless a did:web naming an origin
            if (
                not isinstance(keys, list)
                or not keys
                or len(keys) > MAX_KEYS_PER_NODE
                or not all(isinstance(k, str) for k in keys)
            ):
                raise MalformedInputError(
                    f"the trust file must map {did} to a list of 1 to {MAX_KEYS_PER_NODE} "
                    "Ed25519 Multikeys (z6Mk...)"
                )
            try:
                parsed = tuple(PublicKey.from_multibase(str(k)) for k in keys)
            except MalformedInputError as e:
                raise MalformedInputError(f"a key of {did} in the trust file: {e.message}") from e
            nodes[did] = tuple(dict.fromkeys(parsed))
        return cls(nodes)

    def keys_of(self, did: str) -> tuple[PublicKey, ...]:
        """The pinned keys of ``did`` (empty when it is not trusted)."""
        return self.nodes.get(did, ())


class _TrustedKeyResolver:
    """Resolves did:key, and ``<did>#<fragment>`` of a trusted node to one of its pinned keys.

    A node names its keys ``<did>#key-N`` (its DID document maps ``key-N`` to a Multikey),
    and the trust file holds the Multikeys only. A fragment that is a pinned Multikey
    resolves to it; a fragment that is another Multikey does not resolve; any other fragment
    resolves to the pinned key at position ``attempt``, so a caller tries each pinned key in
    turn and accepts the proof when one verifies.
    """

    def __init__(self, trust: TrustedNodes, attempt: int) -> None:
        self._trust = trust
        self._attempt = attempt
        self.used: PublicKey | None = None

    def resolve_verification_method(
        self, vm_id: str, *, at: datetime | None = None
    ) -> ResolvedVerificationMethod:
        """Resolve ``vm_id`` (see the class docstring); pinned keys never expire here.

        Raises:
            UnresolvableVerificationMethodError: Not did:key and not a pinned key.
            InvalidKeyError: A malformed did:key.
        """
        if vm_id.startswith("did:key:"):
            return DIDKeyResolver().resolve_verification_method(vm_id, at=at)
        did, _, fragment = vm_id.partition("#")
        keys = self._trust.keys_of(did)
        if not keys or not fragment:
            raise UnresolvableVerificationMethodError(
                f"{did} is not a node in the trust file" if not keys else f"{vm_id} names no key"
            )
        named = [k for k in keys if k.multibase == fragment]
        if named:
            key = named[0]
        elif fragment.startswith("z6Mk") or self._attempt >= len(keys):
            raise UnresolvableVerificationMethodError(
                f"{vm_id} is not a key the trust file lists for {did}"
            )
        else:
            key = keys[self._attempt]
        self.used = key
        return ResolvedVerificationMethod(vm_id, did, key, _ASSERTION)


def _resolvers(trust: TrustedNodes, did: str) -> list[_TrustedKeyResolver]:
    return [_TrustedKeyResolver(trust, i) for i in range(max(1, len(trust.keys_of(did))))]


def _short(key: PublicKey) -> str:
    text = key.multibase
    return f"{text[:12]}...{text[-4:]}"


# -- step 1: bundle ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parsed:
    bundle: AttestationBundle
    claims: AttestationClaims
    node_did: str
    checkpoint: Checkpoint


def _check_bundle(document: JSONObject) -> tuple[StepResult, _Parsed | None]:
    step = "bundle"
    try:
        bundle = read_bundle(document)
        claims = read_scan_attestation(bundle.attestation)
        node_did = issuer_id(bundle.device_authorization)
        if node_did is None or not node_did.startswith("did:web:"):
            return _fail(step, "the device authorisation's issuer must be a node's did:web"), None
        log_origin(node_did)
        checkpoint = parse_checkpoint(parse_note(bundle.checkpoint).text)
    except (TrustlaneError, ValueError) as e:
        return _fail(step, _reason(e)), None
    detail = (
        f"attestation {claims.id} ({claims.modality}, {claims.result}) by {claims.device}, "
        f"node {node_did}, checkpoint of size {checkpoint.size}"
    )
    return _ok(step, detail), _Parsed(bundle, claims, node_did, checkpoint)


# -- step 2: device authorisation ----------------------------------------------------------


def _signed_by_trusted_key(
    document: JSONObject, did: str, trust: TrustedNodes
) -> tuple[PublicKey | None, str]:
    """The pinned key of ``did`` whose proofs verify on ``document``, or why none does."""
    reasons: list[str] = []
    for resolver in _resolvers(trust, did):
        outcomes = get_proof_outcomes(document, resolver=resolver, now=None)
        failed = [o for o in outcomes if not o.verified]
        if failed:
            error = failed[0].error
            reasons.append(error.message if error is not None else "a proof does not verify")
        elif any(o.method is None or o.method.controller != did for o in outcomes):
            reasons.append(f"a proof is not by {did}")
        elif resolver.used is not None:
            return resolver.used, ""
    return None, _summarize(reasons, did)


def _summarize(reasons: list[str], did: str) -> str:
    unique = "; ".join(dict.fromkeys(reasons))
    return f"no key the trust file lists for {did} verifies it ({unique})"


def _check_device_authorization(parsed: _Parsed, trust: TrustedNodes) -> StepResult:
    step = "device-authorization"
    document = parsed.bundle.device_authorization
    try:
        grant = read_device_authorization(document)
    except TrustlaneError as e:
        return _fail(step, e.message)
    if not trust.keys_of(grant.issuer):
        return _fail(step, f"its issuer {grant.issuer} is not a node in the trust file")
    key, why = _signed_by_trusted_key(document, grant.issuer, trust)
    if key is None:
        return _fail(step, f"not signed by {grant.issuer} with a trusted key: {why}")
    problems = authorization_problems(parsed.claims, grant)
    if problems:
        return _fail(step, "; ".join(problems))
    return _ok(
        step,
        f"{grant.name} ({', '.join(grant.modalities)} at {grant.site}) authorised by "
        f"{grant.issuer} (key {_short(key)}), covering the scan",
    )


# -- step 3: device and node proofs --------------------------------------------------------


def _check_proofs(parsed: _Parsed, trust: TrustedNodes) -> tuple[StepResult, StepResult]:
    document, claims, did = parsed.bundle.attestation, parsed.claims, parsed.node_did
    try:
        count = len(proofs_of(document))
        problem = None if count == 2 else f"it carries {count}"
    except MalformedInputError as e:
        problem = e.message
    if problem is not None:
        return (
            _fail(
                "device-proof",
                f"a countersigned attestation carries two proofs, the device's and the "
                f"node's: {problem}",
            ),
            _skipped("node-proof", "the attestation's proof set is malformed"),
        )
    device = _ok("device-proof", f"signed by its issuer {claims.device}")
    reasons: list[str] = []
    for resolver in _resolvers(trust, did):
        try:
            check_proof_chain(document, claims, node_resolver=resolver, node_did=did)
        except TrustlaneError as e:
            if e.code != "NODE_PROOF":
                return (
                    _fail("device-proof", e.message),
                    _skipped("node-proof", "it chains to a device proof that failed"),
                )
            reasons.append(e.message)
            continue
        key = resolver.used
        shown = "" if key is None else f" (key {_short(key)})"
        return device, _ok("node-proof", f"countersigned by {did}{shown}, chained")
    if not trust.keys_of(did):
        return device, _fail("node-proof", f"{did} is not a node in the trust file")
    return device, _fail("node-proof", _summarize(reasons, did))


# -- step 4: inclusion ---------------------------------------------------------------------


def _check_inclusion(parsed: _Parsed) -> StepResult:
    step = "inclusion"
    bundle, checkpoint = parsed.bundle, parsed.checkpoint
    items = [("attestation", bundle.attestation, bundle.attestation_inclusion)]
    if bundle.authorization_inclusion is not None:
        items.append(
            ("device authorisation", bundle.device_authorization, bundle.authorization_inclusion)
        )
    found: list[str] = []
    for name, document, inclusion in items:
        if inclusion.tree_size != checkpoint.size:
            return _fail(
                step,
                f"the {name}'s proof is for a tree of size {inclusion.tree_size}, the "
                f"checkpoint's is {checkpoint.size}",
            )
        try:
            leaf = leaf_hash(log_entry(document))
        except TrustlaneError as e:
            return _fail(step, f"the {name} cannot be a log entry: {e.message}")
        if not verify_inclusion(
            leaf, inclusion.index, inclusion.tree_size, inclusion.hashes, checkpoint.root
        ):
            return _fail(
                step,
                f"the {name}'s inclusion proof (index {inclusion.index}) does not lead to the "
                "checkpoint's root",
            )
        found.append(f"{name} at index {inclusion.index}")
    detail = f"{' and '.join(found)} in the tree of size {checkpoint.size}"
    if bundle.authorization_inclusion is None:
        detail += "; the device authorisation has no inclusion proof (signed before the log)"
    return _ok(step, detail)


# -- steps 5 and 6: checkpoint and witnesses -----------------------------------------------


def open_trusted_checkpoint(
    text: str | bytes, node_did: str, trust: TrustedNodes
) -> tuple[Checkpoint, PublicKey]:
    """Open a checkpoint of ``node_did``'s log signed with one of its pinned keys.

    Args:
        text: The signed checkpoint note.
        node_did: The node's did:web; the origin and key name are ``<host[:port]>/log``.
        trust: The pinned keys.

    Returns:
        The checkpoint and the key that signed it.

    Raises:
        MalformedInputError: ``node_did`` is not a trusted did:web, the note is malformed,
            no pinned key signed it, or it names another origin (``NoteError`` and
            ``CheckpointError`` are subclasses).
    """
    origin = log_origin(node_did)
    keys = trust.keys_of(node_did)
    if not keys:
        raise MalformedInputError(f"{node_did} is not a node in the trust file")
    first: NoteError | None = None
    for key in keys:
        try:
            return open_checkpoint(text, origin, origin, key), key
        except CheckpointError:
            raise  # signed with this key, but not a checkpoint of this origin
        except NoteError as e:
            first = first or e
    raise first or NoteError("no signature")


def check_checkpoint(
    text: str | bytes, node_did: str, trust: TrustedNodes
) -> tuple[StepResult, Checkpoint | None]:
    """Step ``checkpoint``: the note is signed by the node with a pinned key, its origin.

    Returns:
        The step, and the checkpoint when the step passed.
    """
    step = "checkpoint"
    try:
        checkpoint, key = open_trusted_checkpoint(text, node_did, trust)
    except (TrustlaneError, ValueError) as e:
        return _fail(step, _reason(e)), None
    detail = f"{checkpoint.origin} size {checkpoint.size} signed by {node_did} (key {_short(key)})"
    return _ok(step, detail), checkpoint


def _check_witnesses(text: str, node_did: str, trust: TrustedNodes, minimum: int) -> StepResult:
    step = "witnesses"
    try:
        note = parse_note(text)
    except NoteError as e:
        return _fail(step, e.message)
    potential = [did for did in trust.nodes if did != node_did]
    cosigned = [
        did
        for did in potential
        if any(
            verify_cosignature(note, witness_name(did), key) is not None
            for key in trust.keys_of(did)
        )
    ]
    detail = f"{len(cosigned)} of {len(potential)} trusted witnesses cosigned"
    if cosigned:
        detail += f" ({', '.join(cosigned)})"
    if len(cosigned) < minimum:
        return _fail(step, f"{detail}; at least {minimum} required")
    return _ok(step, detail)


# -- step 7: consistency with other checkpoints --------------------------------------------


@dataclass(frozen=True)
class ConsistencyProof:
    """A consistency proof as ``GET /log/proof/consistency`` answers it."""

    first: int
    second: int
    hashes: tuple[bytes, ...]

    @classmethod
    def from_json(cls, value: JSONValue) -> ConsistencyProof:
        """Read ``{"first": M, "second": N, "hashes": [base64, ...]}``.

        Raises:
            MalformedInputError: Not such an object: sizes that are not whole numbers with
                ``first <= second``, or hashes that are not base64 SHA-256 hashes.
        """
        if not isinstance(value, dict):
            raise MalformedInputError("a consistency proof must be a JSON object")
        first, second, hashes = value.get("first"), value.get("second"), value.get("hashes")
        if (
            not isinstance(first, int)
            or isinstance(first, bool)
            or not isinstance(second, int)
            or isinstance(second, bool)
            or not 0 <= first <= second
        ):
            raise MalformedInputError("a consistency proof needs sizes first <= second")
        if not isinstance(hashes, list) or len(hashes) > _MAX_PROOF_HASHES:
            raise MalformedInputError(
                f"a consistency proof's hashes must be a list of at most {_MAX_PROOF_HASHES}"
            )
        decoded: list[bytes] = []
        for item in hashes:
            try:
                raw = base64.b64decode(item, validate=True) if isinstance(item, str) else b""
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != HASH_SIZE:
                raise MalformedInputError("a consistency proof's hashes must be base64 SHA-256")
            decoded.append(raw)
        return cls(first, second, tuple(decoded))


@dataclass(frozen=True)
class OtherCheckpoint:
    """A checkpoint of the same log obtained elsewhere, and a label to name it by."""

    label: str
    text: str | bytes


def check_consistency(
    other: OtherCheckpoint,
    checkpoint: Checkpoint,
    node_did: str,
    trust: TrustedNodes,
    proofs: Sequence[ConsistencyProof] = (),
) -> StepResult:
    """Step ``consistency``: can ``other`` and ``checkpoint`` both be true of one log?

    ``other`` must be signed by the node with a pinned key, under the same origin. The same
    size must mean the same root (else a split view); of different sizes the smaller tree
    must be a prefix of the larger, which only a consistency proof between the two sizes
    shows: without one the step is skipped, not passed.
    """
    step, label = "consistency", other.label
    try:
        theirs, _ = open_trusted_checkpoint(other.text, node_did, trust)
    except (TrustlaneError, ValueError) as e:
        return _fail(step, f"{label}: {_reason(e)}")
    small, large = sorted((checkpoint, theirs), key=lambda c: c.size)
    if small.size == large.size:
        if hmac.compare_digest(small.root, large.root):
            return _ok(step, f"{label}: the same tree (size {small.size})")
        return _fail(
            step,
            f"{label}: split view: two signed checkpoints of size {small.size} with "
            "different roots",
        )
    sizes = f"from size {small.size} to {large.size}"
    if small.size == 0:
        if hmac.compare_digest(small.root, EMPTY_ROOT):
            return _ok(step, f"{label}: {sizes}: the empty tree is a prefix of every tree")
        return _fail(step, f"{label}: a checkpoint of size 0 with another root than the empty tree")
    proof = next((p for p in proofs if (p.first, p.second) == (small.size, large.size)), None)
    if proof is None:
        return _skipped(
            step, f"{label}: sizes differ and no consistency proof {sizes} was given (--proof)"
        )
    if verify_consistency(small.size, large.size, small.root, large.root, proof.hashes):
        return _ok(step, f"{label}: consistent {sizes} (consistency proof)")
    return _fail(
        step,
        f"{label}: the consistency proof {sizes} does not verify: the log rewrote its history "
        "or the proof is wrong",
    )


# -- the whole bundle ----------------------------------------------------------------------


def audit_bundle(
    document: JSONValue,
    trust: TrustedNodes,
    *,
    checkpoints: Sequence[OtherCheckpoint] = (),
    proofs: Sequence[ConsistencyProof] = (),
    min_witnesses: int = 0,
) -> AuditReport:
    """Check a bundle offline, every step in order (see the module docstring).

    Args:
        document: The bundle's JSON.
        trust: The pinned keys of the node and of its potential witnesses.
        checkpoints: Other checkpoints of the node's log to compare with the bundle's.
        proofs: Consistency proofs between the bundle's checkpoint and those.
        min_witnesses: How many trusted witnesses must have cosigned the checkpoint.

    Returns:
        The report. When the bundle does not parse, it holds that one failed step.

    """
    if not isinstance(document, dict):
        return AuditReport((_fail("bundle", "a bundle is a JSON object"),))
    first, parsed = _check_bundle(document)
    if parsed is None:
        return AuditReport((first,))
    device_proof, node_proof = _check_proofs(parsed, trust)
    text, did = parsed.bundle.checkpoint, parsed.node_did
    steps = [
        first,
        _check_device_authorization(parsed, trust),
        device_proof,
        node_proof,
        _check_inclusion(parsed),
        check_checkpoint(text, did, trust)[0],
        _check_witnesses(text, did, trust, min_witnesses),
    ]
    steps += [check_consistency(c, parsed.checkpoint, did, trust, proofs) for c in checkpoints]
    if not checkpoints:
        steps.append(_skipped("consistency", "no other checkpoint given (--checkpoint)"))
    return AuditReport(tuple(steps))


# -- a whole log ---------------------------------------------------------------------------


def entry_bundle_paths(tree_size: int) -> Iterable[tuple[str, int]]:
    """The entry bundles of a tree, in order: full ones, then the partial one if any.

    Args:
        tree_size: The checkpoint's size.

    Returns:
        ``(path, width)`` pairs, paths relative to the log prefix (``tile/entries/...``).

    Raises:
        ValueError: ``tree_size`` is out of range.
    """
    full, width = tree_size // TILE_WIDTH, partial_tile_width(0, tree_size)
    for index in range(full):
        yield entries_path(index), TILE_WIDTH
    if width:
        yield entries_path(full, width), width


def _entry_type(types: tuple[str, ...]) -> str:
    specific = [t for t in types if t not in _GENERIC_TYPES]
    return specific[-1] if specific else (types[-1] if types else "(no type)")


class LogRebuild:
    """Rebuilds a log's Merkle tree from its entry bundles, counting entries by type."""

    def __init__(self) -> None:
        self._tree = MerkleTree()
        self._types: Counter[str] = Counter()
        self._malformed: list[tuple[int, str]] = []

    @property
    def size(self) -> int:
        """The number of entries added."""
        return self._tree.size

    def add_bundle(self, data: bytes, width: int) -> None:
        """Append the entries of the next entry bundle.

        Raises:
            ValueError: The bundle is malformed or does not hold ``width`` entries.
        """
        entries = decode_entry_bundle(data, width)
        first = self._tree.size
        self._tree.extend(entries)
        for offset, entry in enumerate(entries):
            try:
                parsed = parse_log_entry(entry)
            except MalformedInputError as e:
                self._malformed.append((first + offset, e.message))
            else:
                self._types[_entry_type(parsed.types)] += 1

    def root(self, size: int | None = None) -> bytes:
        """The rebuilt root at ``size`` (default: every entry added).

        Raises:
            ValueError: ``size`` is larger than the rebuilt tree.
        """
        return self._tree.root(size)

    def entry_types(self) -> dict[str, int]:
        """Entries per type (the most specific one), by name."""
        return dict(sorted(self._types.items()))

    def check_entries(self) -> StepResult:
        """Step ``entries``: every entry is a trustlane log entry; the counts per type."""
        counts = ", ".join(f"{n} {t}" for t, n in self.entry_types().items()) or "none"
        if self._malformed:
            index, why = self._malformed[0]
            return _fail(
                "entries",
                f"{len(self._malformed)} of {self.size} entries are not trustlane log entries "
                f"(first: index {index}: {why})",
            )
        return _ok("entries", f"{self.size} entries: {counts}")


def check_rebuilt_tree(rebuild: LogRebuild, checkpoint: Checkpoint) -> StepResult:
    """Step ``tree``: the tree rebuilt from the entries has the checkpoint's size and root."""
    step = "tree"
    if rebuild.size != checkpoint.size:
        return _fail(step, f"rebuilt {rebuild.size} entries, the checkpoint says {checkpoint.size}")
    if not hmac.compare_digest(rebuild.root(), checkpoint.root):
        return _fail(step, f"the rebuilt root of size {checkpoint.size} is not the checkpoint's")
    return _ok(step, f"the rebuilt root of size {checkpoint.size} is the checkpoint's root")


def check_from_checkpoint(
    other: OtherCheckpoint,
    rebuild: LogRebuild,
    checkpoint: Checkpoint,
    node_did: str,
    trust: TrustedNodes,
) -> StepResult:
    """Step ``from-checkpoint``: an older checkpoint is a prefix of the rebuilt log.

    It must be signed by the node with a pinned key, name the same origin, be no larger than
    ``checkpoint`` and have the rebuilt tree's root at its size.
    """
    step, label = "from-checkpoint", other.label
    try:
        old, _ = open_trusted_checkpoint(other.text, node_did, trust)
    except (TrustlaneError, ValueError) as e:
        return _fail(step, f"{label}: {_reason(e)}")
    if old.size > checkpoint.size or old.size > rebuild.size:
        return _fail(
            step,
            f"{label}: size {old.size} is larger than the log's {checkpoint.size}: the log "
            "shrank (rollback)",
        )
    if not hmac.compare_digest(rebuild.root(old.size), old.root):
        return _fail(
            step,
            f"{label}: its root at size {old.size} is not the rebuilt root: the log rewrote "
            "its history",
        )
    return _ok(step, f"{label}: size {old.size} is a prefix of the rebuilt log")
