"""The trust snapshot: everything verification may rely on, as one immutable value (PURE).

A node builds a :class:`TrustSnapshot` from its database (its own keys and lists, each peer
with its pinned keys and their starts and compromise times, agreements with their history,
the status list versions it holds with the time each was fetched) and replaces it when
something changes. Verification (:mod:`registry.pipeline`) reads only this value: it does no
I/O, writes nothing and never reads a clock.

:class:`SnapshotResolver` resolves verification methods from a snapshot under the key rules:

1. A key marked compromised fails every proof (``KEY_COMPROMISED``), whatever ``created``
   the proof claims: a thief can write any date.
2. A key with a start (the announcement that introduced it, or an administrator's re-pin)
   fails proofs dated before that start, less the clock skew (``KEY_NOT_YET_VALID``); a
   proof without ``created`` cannot show it is not back-dated and fails too.
3. A key with an end (the time it stopped being its controller's current key, after a
   rotation) fails proofs dated after that end, plus the clock skew (``KEY_RETIRED``): the
   retired key stays listed so that what it signed keeps verifying, not so that it can sign
   more. A peer's key ends when this node first saw it leave ``authentication`` (never
   before the truth); this node's own keys end when the next key was published.
4. A peer's keys resolve only while the peer is trusted and its accepted DID document is
   fresher than the configured limit; otherwise the method is unresolvable (``unknown``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from credentials.data_integrity import DIDKeyResolver, ResolvedVerificationMethod
from credentials.datetimes import format_datetime
from credentials.errors import UnresolvableVerificationMethodError, VerificationError
from credentials.keys import PublicKey
from credentials.result import Check
from registry.mra import MutualRecognitionAgreement
from registry.status_list import StatusListCredentialInfo
from registry.window_memo import WindowMemo

__all__ = [
    "AgreementState",
    "KeyCompromisedError",
    "KeyNotYetValidError",
    "KeyRetiredError",
    "KeyState",
    "PeerState",
    "SnapshotResolver",
    "StatusListState",
    "TrustLimits",
    "TrustSnapshot",
]


class KeyCompromisedError(VerificationError):
    """The key was reported compromised: none of its proofs count, whatever their date."""

    code = "KEY_COMPROMISED"


class KeyNotYetValidError(VerificationError):
    """The proof claims a time before the key was introduced."""

    code = "KEY_NOT_YET_VALID"


class KeyRetiredError(VerificationError):
    """The proof claims a time after the key stopped being its controller's current key."""

    code = "KEY_RETIRED"


@dataclass(frozen=True)
class KeyState:
    """One key of this node or of a peer, with its lifetime.

    Attributes:
        vm_id: The verification method id (``did:web:...#key-2``).
        controller: The DID that controls it.
        multibase: The Ed25519 Multikey.
        relationships: Verification relationships it is listed under.
        not_before: The earliest proof time accepted (None: no start is recorded).
        compromised_since: Set when the key was reported compromised: every proof fails.
        not_after: When it stopped being current (None: current, or no end recorded).

    """

    vm_id: str
    controller: str
    multibase: str
    relationships: frozenset[str]
    not_before: datetime | None = None
    compromised_since: datetime | None = None
    not_after: datetime | None = None


@dataclass(frozen=True)
class PeerState:
    """A peer as verification sees it.

    Attributes:
        did: Its did:web.
        name: Its registry name.
        base_url: Its pinned origin (no trailing slash).
        trusted: Whether its DID document matched the pinning and rotation rules.
        untrusted_reason: Why not, when not trusted.
        keys: Its keys by verification method id (from the accepted DID document).
        did_document_fetched_at: When that document was last accepted.

    """

    did: str
    name: str
    base_url: str
    trusted: bool
    untrusted_reason: str | None
    keys: Mapping[str, KeyState]
    did_document_fetched_at: datetime | None

    @property
    def status_list_prefix(self) -> str:
        """Where the peer publishes its status lists; lists elsewhere are foreign."""
        return self.base_url + "/status-lists/"


@dataclass(frozen=True)
class AgreementState:
    """An agreement this node is party to, with its local history.

    Attributes:
        mra: The agreement (both parties' proofs were verified when it was stored).
        state: ``pending``, ``active`` or ``terminated``.
        termination_effective: When a verified termination notice takes effect.
        own_signature_recorded: This node's own signature on it was made by its MRA
            workflow (recorded at propose or countersign time). Without it, the agreement
            grants nothing, whatever proofs it carries.

    """

    mra: MutualRecognitionAgreement
    state: str
    termination_effective: datetime | None
    own_signature_recorded: bool

    @property
    def counts(self) -> bool:
        """Whether it may grant recognition at all (signed by our workflow, both signed)."""
        return self.own_signature_recorded and self.state in ("active", "terminated")


@dataclass(frozen=True)
class StatusListState:
    """A status list version held by this node.

    Attributes:
        url: The list's URL (its credential id).
        issuer: The DID that signed it (checked when it was fetched or published).
        info: The parsed list.
        checked_at: When it was last confirmed current by its issuer; None for this
            node's own lists, which are read from its own database and always current.

    """

    url: str
    issuer: str
    info: StatusListCredentialInfo
    checked_at: datetime | None


@dataclass(frozen=True)
class TrustLimits:
    """The freshness limits and tolerances verification applies.

    Attributes:
        clock_skew: Tolerance for times in the future and for key starts.
        did_document_max_age: A peer DID document older than this resolves no keys.
        status_max_age: A status list confirmed longer ago than this answers ``unknown``.

    """

    clock_skew: timedelta
    did_document_max_age: timedelta
    status_max_age: timedelta


@dataclass(frozen=True)
class TrustSnapshot:
    """Everything verification relies on, fixed at one generation of the node's data.

    Attributes:
        own_did: This node's did:web.
        own_base_url: This node's public base URL (no trailing slash).
        own_keys: This node's keys by verification method id.
        peers: Peers by DID.
        agreements: Agreements this node is party to.
        status_lists: Status list versions by URL (own and peers').
        limits: Freshness limits.
        generation: The database generation it was built at.
        status_memo: Status checks already answered against this snapshot, each for the
            interval in which its answer cannot change (:mod:`registry.window_memo`); a
            new snapshot starts empty.
        recognition_memo: The same for recognition checks.

    """

    own_did: str
    own_base_url: str
    own_keys: Mapping[str, KeyState]
    peers: Mapping[str, PeerState]
    agreements: tuple[AgreementState, ...]
    status_lists: Mapping[str, StatusListState]
    limits: TrustLimits
    generation: int = 0
    _own_by_multibase: Mapping[str, KeyState] = field(
        init=False, repr=False, compare=False, hash=False
    )
    status_memo: WindowMemo[tuple[Check, frozenset[str]]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    recognition_memo: WindowMemo[tuple[Check, frozenset[str], str | None]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        for name in ("own_keys", "peers", "status_lists"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(
            self,
            "_own_by_multibase",
            MappingProxyType({k.multibase: k for k in self.own_keys.values()}),
        )
        object.__setattr__(self, "status_memo", WindowMemo())
        object.__setattr__(self, "recognition_memo", WindowMemo())

    @property
    def own_status_list_prefix(self) -> str:
        """Where this node publishes its status lists."""
        return self.own_base_url + "/status-lists/"

    def own_key_for(self, multibase: str) -> KeyState | None:
        """This node's key with this Multikey, if any (for its did:key form)."""
        return self._own_by_multibase.get(multibase)

    def is_own(self, issuer: str | None) -> bool:
        """Whether ``issuer`` is this node (its did:web or the did:key of one of its keys)."""
        if issuer is None:
            return False
        if issuer == self.own_did:
            return True
        return issuer.startswith("did:key:") and issuer[8:] in self._own_by_multibase

    def with_status_lists(self, lists: Mapping[str, StatusListState]) -> TrustSnapshot:
        """A copy holding ``lists`` instead (the versions held at a past time)."""
        return TrustSnapshot(
            own_did=self.own_did,
            own_base_url=self.own_base_url,
            own_keys=self.own_keys,
            peers=self.peers,
            agreements=self.agreements,
            status_lists=lists,
            limits=self.limits,
            generation=self.generation,
        )


_DID_KEYS = DIDKeyResolver()


def _check_lifetime(key: KeyState, at: datetime | None, skew: timedelta) -> None:
    # Rule 1: compromise voids every proof, whatever it claims.
    if key.compromised_since is not None:
        raise KeyCompromisedError(
            f"{key.vm_id} was reported compromised (since "
            f"{format_datetime(key.compromised_since)}); none of its proofs count"
        )
    # Rule 2: nothing dated before the key existed.
    if key.not_before is not None:
        if at is None:
            raise KeyNotYetValidError(
                f"the proof by {key.vm_id} has no created time to check against the key's start"
            )
        if at + skew < key.not_before:
            raise KeyNotYetValidError(
                f"{key.vm_id} was introduced at {format_datetime(key.not_before)}; "
                f"a proof dated {format_datetime(at)} cannot be its"
            )
    # Rule 3: nothing dated after the key was retired.
    if key.not_after is not None and at is not None and at - skew > key.not_after:
        raise KeyRetiredError(
            f"{key.vm_id} stopped being current at {format_datetime(key.not_after)}; "
            f"a proof dated {format_datetime(at)} cannot be its"
        )


class SnapshotResolver:
    """Resolves verification methods from a :class:`TrustSnapshot` (module rules 1-4).

    Args:
        snapshot: The trust snapshot.
        now: The request's time, for the DID document freshness rule.

    """

    def __init__(self, snapshot: TrustSnapshot, *, now: datetime) -> None:
        self._snapshot = snapshot
        self._now = now

    def trusted_peer(self, did: str) -> PeerState:
        """The peer ``did``, when it is trusted and its DID document is fresh (rule 4).

        Raises:
            UnresolvableVerificationMethodError: Not a peer, untrusted, or stale.
        """
        snap = self._snapshot
        peer = snap.peers.get(did)
        if peer is None:
            raise UnresolvableVerificationMethodError(f"{did} is not a peer of this node")
        if not peer.trusted or peer.did_document_fetched_at is None:
            raise UnresolvableVerificationMethodError(
                f"peer {did} is not trusted: {peer.untrusted_reason or 'no DID document'}"
            )
        if self._now - peer.did_document_fetched_at > snap.limits.did_document_max_age:
            raise UnresolvableVerificationMethodError(
                f"peer {did}'s DID document is stale (accepted "
                f"{format_datetime(peer.did_document_fetched_at)})"
            )
        return peer

    def resolve_verification_method(
        self, vm_id: str, *, at: datetime | None = None
    ) -> ResolvedVerificationMethod:
        """Resolve ``vm_id`` for a proof dated ``at``.

        Raises:
            UnresolvableVerificationMethodError: Not this node, a trusted fresh peer or a
                did:key (verification answers ``unknown``).
            VerificationError: Compromised, not yet valid, or not listed.
        """
        snap = self._snapshot
        did = vm_id.split("#", 1)[0]
        skew = snap.limits.clock_skew
        if did == snap.own_did:
            key = snap.own_keys.get(vm_id)
            if key is None:
                raise UnresolvableVerificationMethodError(f"{vm_id} is not a key of this node")
            _check_lifetime(key, at, skew)
            return _resolved(key)
        if vm_id.startswith("did:key:"):
            method = _DID_KEYS.resolve_verification_method(vm_id, at=at)
            own = snap.own_key_for(method.public_key.multibase)
            if own is not None:
                # The did:key form of our own key: the same lifetime rules.
                _check_lifetime(own, at, skew)
            return method
        peer = self.trusted_peer(did)
        key = peer.keys.get(vm_id)
        if key is None:
            raise VerificationError(f"{vm_id} is not in {did}'s DID document", code="UNKNOWN_KEY")
        _check_lifetime(key, at, skew)
        return _resolved(key)


def _resolved(key: KeyState) -> ResolvedVerificationMethod:
    return ResolvedVerificationMethod(
        id=key.vm_id,
        controller=key.controller,
        public_key=_public_key(key.multibase),
        relationships=key.relationships,
    )


@functools.lru_cache(maxsize=1024)
def _public_key(multibase: str) -> PublicKey:
    # Decoding and checking a key (small order, canonical) costs more than the lookup.
    return PublicKey.from_multibase(multibase)
