"""Peer DID documents and the key-pinning rules (PURE).

A peer is added with the Multikey fingerprints of its keys, obtained out of band. Then:

1. First contact: the fetched did:web document must list exactly the pinned keys, in any
   verification relationship (no unpinned key, no pinned key missing): a key listed only
   under ``authentication`` signs requests and announcements, so it is pinned like the rest.
2. Later changes are accepted only when consistent with the rotation rules: every key the
   peer had is still listed (retired keys stay, so what they signed keeps verifying), at
   most :data:`MAX_NEW_KEYS_PER_SYNC` keys are new, and every new key was announced in a
   signed key-change event (the caller verifies that event and passes the announced keys),
   or an administrator re-pinned the peer. A key that gains a relationship (moved from
   ``authentication`` to ``assertionMethod``, say) is a key change and needs the same;
   leaving one (a retired key leaves ``authentication``) takes power away and is allowed. A key
   may gain a ``revoked`` time but never lose it or move it later.
3. Anything else makes the peer untrusted, with the reason.

No I/O and no clock: documents and times come from the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from credentials.data_integrity import ResolvedVerificationMethod
from credentials.datetimes import parse_datetime
from credentials.errors import MalformedInputError, VerificationError
from credentials.keys import PublicKey
from credentials.strict_json import JSONObject

__all__ = [
    "MAX_NEW_KEYS_PER_SYNC",
    "KeyChangeRejectedError",
    "PeerKey",
    "PeerKeys",
    "PinMismatchError",
    "accept_first_contact",
    "accept_key_change",
    "parse_did_document",
]

MAX_NEW_KEYS_PER_SYNC = 2


class PinMismatchError(VerificationError):
    """A peer's DID document does not match the keys pinned for it."""

    code = "PIN_MISMATCH"


class KeyChangeRejectedError(VerificationError):
    """A peer's keys changed in a way the rotation rules do not allow.

    Attributes:
        unannounced: When the only fault is keys that nobody announced or re-pinned, those
            keys: a later signed announcement of them makes the same document acceptable.
            Empty when another rule was broken (nothing but a re-pin can help then).

    """

    code = "KEY_CHANGE_REJECTED"

    def __init__(self, message: str, *, unannounced: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.unannounced = frozenset(unannounced)


@dataclass(frozen=True)
class PeerKey:
    """One Multikey of a peer, as its DID document lists it."""

    vm_id: str
    multibase: str
    relationships: frozenset[str]
    revoked: datetime | None


@dataclass(frozen=True)
class PeerKeys:
    """The keys of one peer DID document, by verification method id."""

    did: str
    keys: Mapping[str, PeerKey]

    def assertion_fingerprints(self) -> frozenset[str]:
        """Multibase keys listed for ``assertionMethod``."""
        return frozenset(
            k.multibase for k in self.keys.values() if "assertionMethod" in k.relationships
        )

    def all_fingerprints(self) -> frozenset[str]:
        """Multibase keys listed in any relationship (or in none)."""
        return frozenset(k.multibase for k in self.keys.values())

    def resolve(self, vm_id: str, at: datetime | None) -> ResolvedVerificationMethod:
        """The method ``vm_id`` as of ``at`` (None: now).

        Raises:
            VerificationError: Not listed, or revoked at ``at`` (code ``KEY_COMPROMISED``).
        """
        key = self.keys.get(vm_id)
        if key is None:
            raise VerificationError(
                f"{vm_id} is not in {self.did}'s DID document", code="UNKNOWN_KEY"
            )
        if key.revoked is not None and (at is None or at >= key.revoked):
            raise VerificationError(
                f"{vm_id} is revoked since {key.revoked.isoformat()}", code="KEY_COMPROMISED"
            )
        return ResolvedVerificationMethod(
            id=vm_id,
            controller=self.did,
            public_key=PublicKey.from_multibase(key.multibase),
            relationships=key.relationships,
        )


def _bad(message: str) -> MalformedInputError:
    return MalformedInputError(message, code="INVALID_DID_DOCUMENT")


def _reference_ids(document: JSONObject, relationship: str, did: str) -> set[str]:
    raw = document.get(relationship, [])
    if not isinstance(raw, list):
        raise _bad(f"{relationship} must be a list")
    ids: set[str] = set()
    for item in raw:
        ref = item.get("id") if isinstance(item, dict) else item
        if not isinstance(ref, str):
            raise _bad(f"{relationship} entries must be ids or objects with an id")
        ids.add(did + ref if ref.startswith("#") else ref)
    return ids


def parse_did_document(document: JSONObject, expected_did: str) -> PeerKeys:
    """Read the Multikey Ed25519 keys of a peer's did:web document.

    Raises:
        MalformedInputError: Wrong ``id``, malformed methods, or a key that is not an
            acceptable Ed25519 Multikey.
    """
    if document.get("id") != expected_did:
        raise _bad(f"DID document id is {document.get('id')!r}, expected {expected_did}")
    methods = document.get("verificationMethod", [])
    if not isinstance(methods, list):
        raise _bad("verificationMethod must be a list")
    relationships = {
        rel: _reference_ids(document, rel, expected_did)
        for rel in ("assertionMethod", "authentication", "capabilityInvocation")
    }
    keys: dict[str, PeerKey] = {}
    for method in methods:
        if not isinstance(method, dict):
            raise _bad("verificationMethod entries must be objects")
        vm_id, kind, controller = method.get("id"), method.get("type"), method.get("controller")
        multibase, revoked = method.get("publicKeyMultibase"), method.get("revoked")
        if not isinstance(vm_id, str) or not vm_id.startswith(expected_did + "#"):
            raise _bad(f"verification method id {vm_id!r} is not under {expected_did}")
        if kind != "Multikey" or controller != expected_did or not isinstance(multibase, str):
            raise _bad(f"{vm_id} must be a Multikey controlled by {expected_did}")
        if vm_id in keys:
            raise _bad(f"{vm_id} is listed twice")
        PublicKey.from_multibase(multibase)  # raises InvalidKeyError for bad keys
        keys[vm_id] = PeerKey(
            vm_id=vm_id,
            multibase=multibase,
            relationships=frozenset(r for r, ids in relationships.items() if vm_id in ids),
            revoked=None if revoked is None else parse_datetime(revoked, field=f"{vm_id} revoked"),
        )
    return PeerKeys(did=expected_did, keys=keys)


def accept_first_contact(keys: PeerKeys, pinned: Iterable[str]) -> PeerKeys:
    """Accept a first DID document only if its keys are exactly the pinned ones.

    Raises:
        PinMismatchError: Names the unpinned and the missing keys.
    """
    pins = frozenset(pinned)
    if not pins:
        raise PinMismatchError(f"no keys pinned for {keys.did}; pin them out of band first")
    listed = keys.all_fingerprints()
    unpinned, missing = listed - pins, pins - listed
    if unpinned or missing:
        parts = []
        if unpinned:
            parts.append(f"not pinned: {', '.join(sorted(unpinned))}")
        if missing:
            parts.append(f"pinned but missing: {', '.join(sorted(missing))}")
        raise PinMismatchError(
            f"{keys.did} DID document does not match its pins ({'; '.join(parts)})"
        )
    return keys


def accept_key_change(
    old: PeerKeys, new: PeerKeys, *, announced: Iterable[str] = (), repinned: Iterable[str] = ()
) -> PeerKeys:
    """Accept a changed DID document only under the rotation rules (module docstring).

    Args:
        old: The keys trusted so far.
        new: The keys just fetched.
        announced: Multibase keys announced by verified, signed key-change events.
        repinned: Multibase keys an administrator pinned since the last sync.

    Raises:
        KeyChangeRejectedError: Says which rule was broken.
    """
    if old.did != new.did:
        raise KeyChangeRejectedError(f"DID changed from {old.did} to {new.did}")
    for vm_id, key in old.keys.items():
        kept = new.keys.get(vm_id)
        if kept is None:
            raise KeyChangeRejectedError(f"{vm_id} was removed (retired keys must stay listed)")
        if kept.multibase != key.multibase:
            raise KeyChangeRejectedError(f"{vm_id} now names a different key")
        if key.revoked is not None and (kept.revoked is None or kept.revoked > key.revoked):
            raise KeyChangeRejectedError(f"{vm_id} revocation was withdrawn or moved later")
    added = [k for vm_id, k in new.keys.items() if vm_id not in old.keys]
    if len(added) > MAX_NEW_KEYS_PER_SYNC:
        raise KeyChangeRejectedError(
            f"{len(added)} new keys at once; at most {MAX_NEW_KEYS_PER_SYNC} per sync"
        )
    # Every other rule held: what is left is keys that need an announcement (or a re-pin).
    allowed = frozenset(announced) | frozenset(repinned)
    problems: list[str] = []
    needed: set[str] = set()
    for vm_id, key in old.keys.items():
        kept = new.keys[vm_id]
        gained = kept.relationships - key.relationships
        if gained and key.multibase not in allowed:
            # Losing a relationship (a retired key leaves ``authentication``) takes power
            # away; gaining one gives the key new power and is a key change.
            problems.append(
                f"{vm_id} gained {', '.join(sorted(gained))} without a signed announcement "
                "or re-pin"
            )
            needed.add(key.multibase)
    unannounced = sorted(k.multibase for k in added if k.multibase not in allowed)
    if unannounced:
        problems.append(
            f"new keys without a signed announcement or re-pin: {', '.join(unannounced)}"
        )
        needed.update(unannounced)
    if problems:
        raise KeyChangeRejectedError("; ".join(problems), unannounced=needed)
    return new
