"""Mutual recognition agreements at the node: propose, receive, countersign, terminate.

An agreement is a credential both parties sign (a proof set). The node stores every
agreement it is party to with a state: ``pending`` (one signature: a proposal sent or
received), ``active`` (both signatures verified) or ``terminated`` (a verified termination
notice; it still counts until the notice takes effect) or ``withdrawn`` (open when its peer
was removed with ``registry peer remove --force``; it never counts again). Only active or
terminated-but-not-yet-effective agreements grant recognition.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from credentials.data_integrity import ProofOptions, add_proof, proofs_of
from credentials.errors import MalformedInputError, VerificationError
from credentials.strict_json import JSONObject, JSONValue, loads_object
from node.federation.peers import PeerService
from node.services.audit import record_event
from node.services.identity import NodeIdentity
from node.services.status import NotFoundError
from node.services.transparency import record_signed
from node.services.trust import own_proof_value
from node.storage import federation_repo as repo
from node.storage.db import Database
from node.storage.documents import serialize_document
from node.storage.federation_repo import MRARecord
from registry.mra import (
    MutualRecognitionAgreement,
    build_mra,
    countersign_mra,
    propose_mra,
    verify_mra,
    verify_party_proofs,
)
from registry.mra_recognition import (
    TERMINATION_NOTICE_TYPE,
    accept_termination_notice,
    agreement_formed_at,
    build_termination_notice,
    sign_termination_notice,
)

__all__ = ["AgreementService"]


def _unsigned(document: JSONObject) -> JSONObject:
    """The document without its proofs (its terms)."""
    return {k: v for k, v in document.items() if k != "proof"}


class AgreementService:
    """Agreements of one node with its peers."""

    def __init__(
        self,
        *,
        db: Database,
        identity: NodeIdentity,
        peers: PeerService,
        clock: Callable[[], datetime],
        deliver: Callable[[str, JSONObject], bool] | None = None,
    ) -> None:
        self._db = db
        self._identity = identity
        self._peers = peers
        self._clock = clock
        # Sends a document to a peer as a signed request; None: documents are handed over
        # by the administrators through the API instead.
        self._deliver_to = deliver

    def _deliver(self, peer_did: str, document: JSONObject) -> None:
        if self._deliver_to is not None:
            self._deliver_to(peer_did, document)

    def _other_party(self, mra: MutualRecognitionAgreement) -> str:
        if self._identity.did not in mra.parties:
            raise MalformedInputError(
                f"this node ({self._identity.did}) is not a party to {mra.id}", code="NOT_A_PARTY"
            )
        return next(p for p in mra.parties if p != self._identity.did)

    def _store(
        self,
        document: JSONObject,
        state: str,
        now: datetime,
        actor: str,
        *,
        own_proof: str | None = None,
    ) -> MRARecord:
        """Store an agreement; ``own_proof`` is set only by this node's own workflow."""
        mra = MutualRecognitionAgreement.from_dict(document)
        with self._db.write() as conn:
            existing = repo.get_mra(conn, mra.id)
            recorded = own_proof or (existing.own_proof_value if existing else None)
            carried = own_proof_value(document, self._identity.did)
            if carried is not None and carried != recorded:
                # Our key's signature, but not one our MRA workflow made (an issuer token
                # minting an agreement, or a stolen key): it counts for nothing.
                raise VerificationError(
                    f"agreement {mra.id} carries a signature by this node that its MRA "
                    "workflow did not make",
                    code="MRA_NOT_OURS",
                )
            if state == "active" and carried is None:
                raise VerificationError(
                    f"agreement {mra.id} is not signed by this node", code="MRA_SIGNATURE_MISSING"
                )
            record = MRARecord(
                id=mra.id,
                peer_did=self._other_party(mra),
                state=state,
                document=serialize_document(document),
                termination_notice=None,
                termination_effective=None,
                updated_at=now,
                own_proof_value=recorded,
            )
            if existing is not None and (existing.state, existing.document) == (
                record.state,
                record.document,
            ):
                return existing  # the same document again (re-delivery): nothing changes
            resigned = (
                existing is not None
                and existing.state == state == "active"
                and _unsigned(loads_object(existing.document)) == _unsigned(document)
            )
            if existing is not None and existing.state != "pending" and not resigned:
                raise MalformedInputError(
                    f"agreement {mra.id} is already {existing.state}", code="MRA_CONFLICT"
                )
            # The same terms, our own signature unchanged (checked above), the other party's
            # signature made again (its old key was compromised): take it, audited as such.
            action_state = "resigned" if resigned else state
            repo.put_mra(conn, record)
            if own_proof is not None:
                # This node's workflow has just signed it (an agreement's id is its subject's).
                record_signed(conn, document, document_id=mra.id)
            record_event(
                conn,
                now=now,
                actor=actor,
                action=f"mra.{action_state}",
                target=mra.id,
                details={"peer": record.peer_did},
            )
        return record

    def propose(
        self,
        *,
        peer_did: str,
        recognitions: Sequence[JSONObject],
        effective_from: datetime,
        effective_until: datetime | None,
        notice_period_days: int,
        actor: str,
    ) -> JSONObject:
        """Build and sign a proposal to ``peer_did``; store it as pending and return it."""
        now = self._clock()
        agreement_id = f"urn:uuid:{uuid.uuid4()}"
        unsigned = build_mra(
            agreement_id=agreement_id,
            parties=[self._identity.did, peer_did],
            recognitions=recognitions,
            effective_from=effective_from,
            effective_until=effective_until,
            notice_period_days=notice_period_days,
            proposer=self._identity.did,
        )
        signer = self._identity.current()
        proposal = propose_mra(
            unsigned, signer.key, verification_method=signer.did_web_vm, created=now
        )
        self._store(
            proposal, "pending", now, actor, own_proof=own_proof_value(proposal, self._identity.did)
        )
        self._deliver(peer_did, proposal)
        return proposal

    def receive(self, document: JSONObject, *, actor: str) -> MRARecord:
        """Store an agreement received from a peer: pending with one signature, or active.

        Raises:
            VerificationError: A proof fails, or a stranger signed.
            MalformedInputError: Not an agreement this node is party to.
        """
        now = self._clock()
        mra = MutualRecognitionAgreement.from_dict(document)
        self._other_party(mra)
        # Every proof must verify and come from a party: nothing unverified is stored.
        signed = verify_party_proofs(document, mra.parties, resolver=self._peers, now=now)
        if all(signed.values()):
            verify_mra(document, resolver=self._peers, now=now)
            return self._store(document, "active", now, actor)
        if not signed.get(mra.proposer):
            raise VerificationError(
                f"the proposal is not signed by its proposer {mra.proposer}",
                code="MRA_SIGNATURE_MISSING",
            )
        return self._store(document, "pending", now, actor)

    def countersign(self, agreement_id: str, *, actor: str) -> JSONObject:
        """Countersign a pending proposal from a peer; the agreement becomes active."""
        now = self._clock()
        record = self.get(agreement_id)
        if record.state != "pending":
            raise MalformedInputError(
                f"agreement {agreement_id} is {record.state}", code="MRA_CONFLICT"
            )
        signer = self._identity.current()
        signed = countersign_mra(
            loads_object(record.document),
            signer.key,
            verification_method=signer.did_web_vm,
            created=now,
            resolver=self._peers,
        )
        verify_mra(signed, resolver=self._peers, now=now)
        self._store(
            signed, "active", now, actor, own_proof=own_proof_value(signed, self._identity.did)
        )
        self._deliver(record.peer_did, signed)
        return signed

    def terminate(self, agreement_id: str, *, actor: str) -> JSONObject:
        """Give signed notice; the agreement ends after its notice period."""
        now = self._clock()
        record = self.get(agreement_id)
        if record.state != "active":
            raise MalformedInputError(
                f"agreement {agreement_id} is {record.state}", code="MRA_CONFLICT"
            )
        signer = self._identity.current()
        notice = sign_termination_notice(
            build_termination_notice(
                agreement_id=agreement_id, terminating_party=self._identity.did, notice_given_at=now
            ),
            signer.key,
            verification_method=signer.did_web_vm,
            created=now,
        )
        self.receive_termination(notice, actor=actor, delivered_by=self._identity.did)
        self._deliver(record.peer_did, notice)
        return notice

    def receive_termination(
        self, notice: JSONObject, *, actor: str, delivered_by: str | None = None
    ) -> datetime:
        """Verify a termination notice and record when it takes effect.

        Args:
            notice: The signed notice.
            actor: For the audit log.
            delivered_by: Who handed it over: this node (its own notice), or the peer
                that signed the request or served the copy. Only the terminating party
                itself may deliver a notice (:func:`accept_termination_notice`). None: an
                administrator hands over a notice received from the other party out of band.

        Raises:
            VerificationError: The notice does not count (see ``accept_termination_notice``).
            MalformedInputError: Not a notice, or the agreement is not active here.
        """
        now = self._clock()
        subject = notice.get("credentialSubject")
        agreement_id = subject.get("id") if isinstance(subject, dict) else None
        if not isinstance(agreement_id, str):
            raise MalformedInputError("not a termination notice", code="INVALID_TERMINATION_NOTICE")
        record = self.get(agreement_id)
        text = serialize_document(notice)
        if (
            record.state == "terminated"
            and record.termination_notice == text
            and record.termination_effective is not None
        ):
            effective_before: datetime = record.termination_effective
            return effective_before  # the same notice again (re-delivery)
        if record.state != "active":
            # Only an agreement both parties signed can be terminated; a pending proposal is
            # withdrawn, never "terminated" (which would count as in force until it ends).
            raise MalformedInputError(
                f"agreement {agreement_id} is {record.state}, not active", code="MRA_CONFLICT"
            )
        document = loads_object(record.document)
        mra = MutualRecognitionAgreement.from_dict(document)
        effective = accept_termination_notice(
            notice,
            mra,
            resolver=self._peers,
            now=now,
            delivered_by=record.peer_did if delivered_by is None else delivered_by,
            formed_at=agreement_formed_at(document),
        )
        with self._db.write() as conn:
            repo.put_mra(
                conn,
                MRARecord(
                    id=record.id,
                    peer_did=record.peer_did,
                    state="terminated",
                    document=record.document,
                    termination_notice=text,
                    termination_effective=effective,
                    updated_at=now,
                    own_proof_value=record.own_proof_value,
                ),
            )
            if delivered_by == self._identity.did:  # this node's own notice
                record_signed(conn, notice, document_id=f"{record.id}#termination-notice")
            record_event(
                conn,
                now=now,
                actor=actor,
                action="mra.terminated",
                target=record.id,
                details={"effective": effective.isoformat()},
            )
        return effective

    def receive_from_peer(self, document: JSONObject, *, sender: str) -> str:
        """Take a document a peer delivered (signed request from ``sender``); return the state.

        The sender must be a party: the proposer of a proposal, either party of an agreement
        or of a termination notice (whose own proof names the terminating party).

        Raises:
            VerificationError: The sender is not a party, or a proof fails.
            MalformedInputError: Not an agreement or a notice this node is party to.
        """
        actor = f"peer:{sender}"
        types = document.get("type")
        if isinstance(types, list) and TERMINATION_NOTICE_TYPE in types:
            if sender == self._identity.did:
                raise VerificationError(
                    "a peer cannot deliver this node's own notice", code="MRA_NOTICE_RELAYED"
                )
            self.receive_termination(document, actor=actor, delivered_by=sender)
            return "terminated"
        mra = MutualRecognitionAgreement.from_dict(document)
        if sender not in mra.parties or sender == self._identity.did:
            raise VerificationError(
                f"{sender} is not the other party of {mra.id}", code="MRA_UNEXPECTED_SIGNER"
            )
        return self.receive(document, actor=actor).state

    def sync_with_peer(self, record: MRARecord, fetch: Callable[[str], JSONObject]) -> str:
        """Pull the peer's copy of one agreement and take what it has that we lack.

        A countersignature we missed makes a pending agreement active; a termination notice
        we missed terminates it. Everything is verified as if it had been delivered.
        Returns the local state afterwards.
        """
        theirs = fetch(record.id)
        document = theirs.get("agreement")
        if record.state in ("pending", "active") and isinstance(document, dict):
            # A countersignature we missed, or the peer's signature made again after its key
            # was compromised: verified as if delivered.
            if serialize_document(document) != record.document:
                record = self.receive(document, actor=f"sync:{record.peer_did}")
        notice = theirs.get("terminationNotice")
        if record.state == "active" and isinstance(notice, dict):
            # Served by the peer itself at its pinned origin: the peer is the deliverer.
            self.receive_termination(
                notice, actor=f"sync:{record.peer_did}", delivered_by=record.peer_did
            )
            record = self.get(record.id)
        return record.state

    def resign_own_proofs(self, kid: str, *, actor: str) -> int:
        """Sign again, with the current key, every agreement this node signed with ``kid``.

        For after ``kid`` was marked compromised: its proofs no longer count. Each agreement
        keeps its terms and the other party's signature; this node's proof is made again
        (same proof id), recorded as the workflow's own, and re-delivered to the peer, which
        replaces its copy (or takes it at its next sync). Returns how many were re-signed.
        """
        now = self._clock()
        old_vm = f"{self._identity.did}#{kid}"
        signer = self._identity.current()
        count = 0
        for record in self.list():
            document = loads_object(record.document)
            proofs = proofs_of(document)
            own = [p for p in proofs if p.get("verificationMethod") == old_vm]
            if not own or signer.kid == kid:
                continue
            others = [p for p in proofs if p.get("verificationMethod") != old_vm]
            unsigned = _unsigned(document)
            if len(others) == 1:
                unsigned["proof"] = others[0]
            elif others:
                unsigned["proof"] = list[JSONValue](others)
            proof_id = own[0].get("id")
            resigned = add_proof(
                unsigned,
                signer.key,
                ProofOptions(
                    verification_method=signer.did_web_vm,
                    created=now,
                    id=proof_id if isinstance(proof_id, str) else None,
                ),
            )
            with self._db.write() as conn:
                repo.put_mra(
                    conn,
                    replace(
                        record,
                        document=serialize_document(resigned),
                        own_proof_value=own_proof_value(resigned, self._identity.did),
                        updated_at=now,
                    ),
                )
                record_signed(conn, resigned, document_id=record.id)
                record_event(
                    conn,
                    now=now,
                    actor=actor,
                    action="mra.resigned",
                    target=record.id,
                    details={"compromisedKey": kid, "verificationMethod": signer.did_web_vm},
                )
            if record.state in ("pending", "active"):
                self._deliver(record.peer_did, resigned)
            count += 1
        return count

    def open_agreements(self) -> list[MRARecord]:
        """Agreements whose state may still change at the peer (pending or active)."""
        with self._db.read() as conn:
            return repo.list_mras(conn, state="pending") + repo.list_mras(conn, state="active")

    def get(self, agreement_id: str) -> MRARecord:
        """An agreement by id.

        Raises:
            NotFoundError: Unknown agreement (404).
        """
        with self._db.read() as conn:
            record = repo.get_mra(conn, agreement_id)
        if record is None:
            raise NotFoundError(f"no agreement {agreement_id} here")
        return record

    def list(self) -> list[MRARecord]:
        """Every agreement."""
        with self._db.read() as conn:
            return repo.list_mras(conn)
