"""The node's identity: its did:web, signing keys and DID document.

Resolving keys for verification, with the lifetime rules, is the trust snapshot's job
(:mod:`registry.trust_snapshot`), for this node's keys and peers' alike.

Private keys live in the encrypted key store; their lifecycle (current, retired, compromised
since T) lives in the database so that every worker and replica sees the same state. Key
records are cached for a second, so a rotation made by the CLI reaches running workers fast
without a database read per verification.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from credentials.datetimes import format_datetime
from credentials.keys import PrivateKey
from node.keystore import KeyStore
from node.services.audit import record_event
from node.storage import keys_repo, trust_repo
from node.storage.db import Database
from node.storage.records import KeyRecord

__all__ = ["NodeIdentity", "SigningKey"]


@dataclass(frozen=True)
class SigningKey:
    """The current assertion key with both ways of naming it."""

    kid: str
    key: PrivateKey
    did_web_vm: str
    did_key_vm: str


class NodeIdentity:
    """Keys and DID document of one node.

    Args:
        did: The node's did:web.
        db: The node database.
        keystore: The opened key store.
    """

    def __init__(self, did: str, db: Database, keystore: KeyStore) -> None:
        self.did = did
        self._db = db
        self._keystore = keystore
        self._lock = threading.Lock()
        self._cached: tuple[int, list[KeyRecord]] | None = None
        self._generation_sql = trust_repo.generation_sql(db.engine.dialect)
        self._shared_generation: Callable[[float | None], int] | None = None

    def share_generation(self, generation: Callable[[float | None], int]) -> None:
        """Read the trust generation through ``generation`` (the trust snapshot source's).

        A request then checks it once for everything it does: the read it shares began
        after the request was received (see
        :meth:`node.services.trust.TrustSnapshotSource.generation`).
        """
        self._shared_generation = generation

    # -- key records -------------------------------------------------------------------

    def keys(self, *, fresh: bool = False, fresh_since: float | None = None) -> list[KeyRecord]:
        """Every key record, re-read whenever the trust generation moved.

        Every key change (a new key, a new current key, a compromise) bumps the trust
        generation in its transaction, so a worker signs with the new current key from the
        first request after the change committed, whichever process made it. Checking the
        generation is one statement (:meth:`Database.read_value`), or a read shared with
        the request received at ``fresh_since`` (:meth:`share_generation`).
        """
        if self._shared_generation is not None:
            generation = self._shared_generation(fresh_since)
        else:
            generation = int(self._db.read_value(self._generation_sql) or 0)
        with self._lock:
            if not fresh and self._cached is not None and self._cached[0] == generation:
                return self._cached[1]
        with self._db.read() as conn:
            generation = trust_repo.read_generation(conn)
            records = keys_repo.list_keys(conn)
        with self._lock:
            self._cached = (generation, records)
        return records

    def forget_cache(self) -> None:
        """Drop cached key records (after this process changed them)."""
        with self._lock:
            self._cached = None

    def current(self, *, fresh_since: float | None = None) -> SigningKey:
        """The current assertion key (``fresh_since``: see :meth:`keys`).

        Raises:
            RuntimeError: The node has no current key (not initialised).
        """
        for record in self.keys(fresh_since=fresh_since):
            if record.is_current:
                return self.signing_key(record.kid)
        raise RuntimeError("the node has no current signing key; run 'trustlane node init'")

    def signing_key(self, kid: str) -> SigningKey:
        """The key ``kid`` from the key store (for announcements signed by an earlier key).

        Raises:
            KeyStoreError: The key store has no such key.
        """
        key = self._keystore.load(kid)
        return SigningKey(
            kid=kid,
            key=key,
            did_web_vm=f"{self.did}#{kid}",
            did_key_vm=key.public_key.verification_method_id,
        )

    def add_key(self, *, now: datetime, actor: str, make_current: bool) -> str:
        """Generate a key in the key store, record it, optionally make it current.

        A key not made current is *pending*: recorded, but out of the DID document until
        :meth:`publish` (partners are told about it first: two-phase rotation).
        """
        existing = {r.kid for r in self.keys()} | set(self._keystore.kids())
        n = len(existing) + 1
        while f"key-{n}" in existing:
            n += 1
        kid = f"key-{n}"
        key = self._keystore.generate(kid, created_at=format_datetime(now))
        with self._db.write() as conn:
            keys_repo.add_key(conn, kid, key.public_key.multibase, now)
            if make_current:
                keys_repo.set_current(conn, kid, now)
            record_event(
                conn,
                now=now,
                actor=actor,
                action="key.added",
                target=kid,
                details={
                    "publicKeyMultibase": key.public_key.multibase,
                    "current": make_current,
                    "pending": not make_current,
                },
            )
        self.forget_cache()
        return kid

    def publish(self, kid: str, *, now: datetime, actor: str) -> None:
        """Make the pending key ``kid`` current: it joins the DID document, the old one retires.

        Raises:
            ValueError: No such key, or it is compromised.
        """
        with self._db.write() as conn:
            record = next((r for r in keys_repo.list_keys(conn) if r.kid == kid), None)
            if record is None or record.compromised_since is not None:
                raise ValueError(f"{kid} is not a key that can be published")
            keys_repo.set_current(conn, kid, now)
            record_event(conn, now=now, actor=actor, action="key.published", target=kid, details={})
        self.forget_cache()

    def revoke_key(self, kid: str, *, since: datetime, now: datetime, actor: str) -> bool:
        """Mark ``kid`` compromised since ``since``; False when there is no such key."""
        with self._db.write() as conn:
            done = keys_repo.mark_compromised(conn, kid, since)
            if done:
                record_event(
                    conn,
                    now=now,
                    actor=actor,
                    action="key.compromised",
                    target=kid,
                    details={"compromisedSince": format_datetime(since)},
                )
        self.forget_cache()
        return done

    # -- DID document ------------------------------------------------------------------

    def did_document(self) -> dict[str, Any]:
        """The did:web document: every key as a Multikey; compromised keys carry ``revoked``.

        Retired keys stay listed under ``assertionMethod`` so that what they signed still
        verifies; only the current key is listed under ``authentication``.
        """
        methods: list[dict[str, Any]] = []
        assertion: list[str] = []
        authentication: list[str] = []
        # Never from the cache: a worker that served a document without a compromise another
        # process just recorded would look to partners like a withdrawn revocation.
        for record in self.keys(fresh=True):
            if record.pending:
                continue  # announced to partners, not published yet
            vm_id = f"{self.did}#{record.kid}"
            method: dict[str, Any] = {
                "id": vm_id,
                "type": "Multikey",
                "controller": self.did,
                "publicKeyMultibase": record.public_key_multibase,
            }
            if record.compromised_since is not None:
                method["revoked"] = format_datetime(record.compromised_since)
            methods.append(method)
            assertion.append(vm_id)
            if record.is_current:
                authentication.append(vm_id)
        return {
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
            "id": self.did,
            "verificationMethod": methods,
            "assertionMethod": assertion,
            "authentication": authentication,
        }
