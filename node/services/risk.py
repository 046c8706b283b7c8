"""Risk assessment at this node: verify what was presented, weigh it, store the decision.

``POST /risk/assess`` and ``trustlane risk assess`` both come here. For one request:

1. The request was read by :func:`node.services.risk_request.parse_assessment_request`,
   which checks the declaration first (:meth:`risk.Declaration.from_dict`: JSON Schema,
   then ISO 6346 check digits, HS chapters, identifiers per scheme), so a refused
   declaration spends no challenge.
2. The presentation, if any, is verified by :class:`~node.services.presentations.
   PresentationService` for the declaration's consignment (UCR) at its port of discharge,
   which spends the challenge when the presentation itself verified and checks the scan
   attestations it carries against the declared containers and transport document; each
   attestation bundle given beside it by
   :class:`~node.services.attestations.AttestationVerifier`. An attestation given both
   ways counts once.
3. The outcomes become :class:`risk.Evidence` (:mod:`node.services.risk_evidence`, failing
   closed), the crosswalk links and watch-list entries that touch the declaration are read
   from the database, and :func:`risk.decide` runs with the node's policy and its random
   selection secret (derived from the key store, never stored in clear nor shown).
4. The decision is stored with everything it rests on (declaration, evidence, the links and
   entries used, the verification notes) and audited, in one transaction.

A presentation or attestation that does not verify is not an error: the decision is still
made, they grant nothing, and the notes say why.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from credentials.canonical import canonicalize
from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject, JSONValue, loads_object
from federation_config.federation import RiskPolicyRef
from federation_config.risk import bundled_policy, resolve_policy
from node.services.attestations import AttestationVerifier
from node.services.audit import record_event
from node.services.presentations import PresentationService
from node.services.risk_evidence import (
    credential_evidence,
    merge_scans,
    presented_scan_evidence,
    scan_evidence,
)
from node.services.risk_request import AssessmentRequest, PresentationRequest
from node.services.status import NotFoundError
from node.services.trust import TrustSnapshotSource
from node.storage import identifiers_repo, risk_repo
from node.storage.db import Database
from risk import (
    CredentialEvidence,
    Declaration,
    Evidence,
    IdentifierCrosswalk,
    PartyIdentifier,
    Policy,
    ScanEvidence,
    WatchList,
    decide,
)
from risk.declaration import Party
from risk.identifiers import container_issue

__all__ = ["DEFAULT_POLICY_ID", "SELECTION_SECRET_PURPOSE", "RiskService", "node_policy"]

#: The bundled policy a node applies when its federation.toml names none.
DEFAULT_POLICY_ID = "eu-aeo-default"
#: What the random selection secret is derived for (:meth:`node.keystore.KeyStore.derive_secret`).
SELECTION_SECRET_PURPOSE = "risk/random-selection/v1"  # noqa: S105 - a label, not a secret
#: Largest page of a list.
MAX_PAGE = 100


def node_policy(ref: RiskPolicyRef | None) -> Policy:
    """The policy a node applies: the one ``[risk]`` names, else :data:`DEFAULT_POLICY_ID`.

    Raises:
        RiskPolicyError: The named policy cannot be read or is not acceptable.
    """
    return bundled_policy(DEFAULT_POLICY_ID) if ref is None else resolve_policy(ref)


def _bad(message: str, code: str) -> MalformedInputError:
    return MalformedInputError(message, code=code)


def _party_identifiers(declaration: Declaration) -> set[PartyIdentifier]:
    parties: Iterable[Party] = declaration.parties.values()
    return {i for party in parties for i in party.identifiers}


def _identifier_json(identifier: tuple[str, str]) -> JSONObject:
    return {"scheme": identifier[0], "value": identifier[1]}


class RiskService:
    """Assesses declarations and keeps the decisions.

    Args:
        db: The node database.
        policy: The risk policy the node applies.
        secret: The random selection secret (at least 16 bytes; never shown).
        presentations: Verifies presentations (and spends their challenges).
        attestations: Checks scan attestation bundles.
        trust: The trust snapshot (whose scans this node recognises).
    """

    def __init__(
        self,
        *,
        db: Database,
        policy: Policy,
        secret: bytes,
        presentations: PresentationService,
        attestations: AttestationVerifier,
        trust: TrustSnapshotSource,
    ) -> None:
        self._db = db
        self.policy = policy
        self._secret = secret
        self._presentations = presentations
        self._attestations = attestations
        self._trust = trust

    def __repr__(self) -> str:
        """Name the policy, never the secret."""
        return f"RiskService(policy={self.policy.policy_id!r} {self.policy.version!r})"

    def assess(self, request: AssessmentRequest, *, now: datetime, actor: str) -> JSONObject:
        """Verify the evidence, decide, store the decision and return the stored record.

        Raises:
            MalformedInputError: The presentation options name another consignment, port or
                verifier than the declaration's (``INVALID_OPTIONS``).
            StorageError: The database cannot be used.
        """
        declaration = request.declaration
        notes: list[str] = []
        verification: JSONObject = {"presentation": None, "attestations": []}
        credentials: tuple[CredentialEvidence, ...] = ()
        presented: tuple[ScanEvidence, ...] = ()
        snapshot = self._trust.current()
        if request.presentation is not None:
            wanted = self._check_options(request.presentation, declaration)
            outcome = self._presentations.verify(
                request.presentation.presentation,
                challenge=request.presentation.challenge,
                consignment=wanted[0],
                port=wanted[1],
                now=now,
                containers=declaration.containers,
                transport_document=declaration.transport_document,
                min_witnesses=request.presentation.min_witnesses,
            )
            credentials, found = credential_evidence(request.presentation.presentation, outcome)
            notes += found
            presented, found = presented_scan_evidence(outcome, snapshot, now)
            notes += found
            summary = outcome.to_dict()
            verification["presentation"] = {
                "verified": summary["verified"],
                "consignment": wanted[0],
                "port": wanted[1],
                "errors": summary["errors"],
                "benefits": summary["benefits"],
                "attestations": [
                    {"attestation": a.attestation, "verified": a.verified}
                    for a in outcome.attestations
                ],
            }
        checked = [
            (a.bundle, self._attestations.check(a.bundle, now=now, min_witnesses=a.min_witnesses))
            for a in request.attestations
        ]
        given, found = scan_evidence(checked, snapshot, now)
        notes += found
        scans, found = merge_scans(given, presented)
        notes += found
        verification["attestations"] = [
            {"verified": c.verified, "failedSteps": list(c.audit.failed)} for _, c in checked
        ]
        verification["notes"] = list(notes)
        evidence = Evidence(credentials=credentials, scans=scans)
        decision_id = str(uuid.uuid4())
        with self._db.write() as conn:
            crosswalk, links = self._crosswalk(conn, declaration)
            watch_list, entries = self._watch_list(conn, declaration, crosswalk)
            decision = decide(
                declaration,
                evidence,
                self.policy,
                self._secret,
                at=now,
                crosswalk=crosswalk,
                watch_list=watch_list,
            )
            record: JSONObject = {
                "id": decision_id,
                "decision": decision.to_dict(),
                "declaration": declaration.to_dict(),
                "evidence": evidence.to_dict(),
                "crosswalk": links,
                "watchList": entries,
                "verification": verification,
                "assessedBy": actor,
            }
            risk_repo.insert_decision(
                conn,
                decision_id=decision_id,
                declaration_id=declaration.declaration_id,
                channel=decision.channel.value,
                policy_hash=decision.policy_hash,
                assessed_at=now,
                assessed_by=actor[:64],
                document=canonicalize(record).decode("utf-8"),
            )
            record_event(
                conn,
                now=now,
                actor=actor,
                action="risk.assessed",
                target=decision_id,
                details={
                    "declarationId": declaration.declaration_id,
                    "channel": decision.channel.value,
                    "policyHash": decision.policy_hash,
                },
            )
        return record

    def _check_options(
        self, request: PresentationRequest, declaration: Declaration
    ) -> tuple[str, str]:
        """The consignment and port the presentation is verified for: the declaration's."""
        consignment, port = declaration.ucr, declaration.port_of_discharge
        if request.domain is not None and request.domain != self._presentations.domain:
            raise MalformedInputError(
                f"presentation.options.domain must be this node's origin "
                f"({self._presentations.domain}); presentations for other verifiers are not "
                "verified here",
                code="INVALID_OPTIONS",
            )
        for name, given, wanted in (
            ("consignment", request.consignment, consignment),
            ("port", request.port, port),
        ):
            if given is not None and given != wanted:
                what = "UCR" if name == "consignment" else "port of discharge"
                raise MalformedInputError(
                    f"presentation.options.{name} must be the declaration's {what} ({wanted}): "
                    "a presentation counts only for the consignment assessed",
                    code="INVALID_OPTIONS",
                )
        return consignment, port

    def _crosswalk(
        self, conn: Connection, declaration: Declaration
    ) -> tuple[IdentifierCrosswalk, list[JSONValue]]:
        declared = _party_identifiers(declaration)
        records = identifiers_repo.links_touching(conn, declared)
        pairs = []
        used: list[JSONValue] = []
        for record in records:
            try:
                pair = (PartyIdentifier(*record.a), PartyIdentifier(*record.b))
            except MalformedInputError:
                continue  # stored before a scheme rule tightened: it links nothing now
            pairs.append(pair)
            used.append(
                {"identifier": _identifier_json(record.a), "linked": _identifier_json(record.b)}
            )
        return IdentifierCrosswalk.from_pairs(pairs), used

    def _watch_list(
        self, conn: Connection, declaration: Declaration, crosswalk: IdentifierCrosswalk
    ) -> tuple[WatchList, list[JSONValue]]:
        expanded = crosswalk.expand(_party_identifiers(declaration))
        entries = risk_repo.watch_entries_matching(
            conn, parties=expanded, containers=declaration.containers
        )
        parties: set[PartyIdentifier] = set()
        containers: set[str] = set()
        used: list[JSONValue] = []
        for entry in entries:
            if entry.kind == risk_repo.PARTY:
                try:
                    parties.add(PartyIdentifier(entry.scheme, entry.value))
                except MalformedInputError:
                    continue
                used.append({"kind": entry.kind, "scheme": entry.scheme, "value": entry.value})
            else:
                containers.add(entry.value)
                used.append({"kind": entry.kind, "value": entry.value})
        return WatchList(frozenset(parties), frozenset(containers)), used

    def decision(self, decision_id: str) -> JSONObject:
        """The stored record of one decision.

        Raises:
            NotFoundError: No decision has that id.
        """
        with self._db.read() as conn:
            row = risk_repo.get_decision(conn, decision_id)
        if row is None:
            raise NotFoundError(f"no risk decision {decision_id}")
        return loads_object(row.document)

    def decisions(
        self, *, limit: int, cursor: str | None = None, declaration_id: str | None = None
    ) -> tuple[list[JSONObject], str | None]:
        """A page of decisions, newest first, and the cursor of the next page (or None).

        Raises:
            MalformedInputError: ``limit`` is out of range or ``cursor`` is not one this node
                gave (``INVALID_QUERY``).
        """
        if not 1 <= limit <= MAX_PAGE:
            raise _bad(f"limit must be from 1 to {MAX_PAGE}", "INVALID_QUERY")
        before = _cursor(cursor)
        with self._db.read() as conn:
            rows = risk_repo.list_decisions(
                conn, limit=limit + 1, before=before, declaration_id=declaration_id
            )
        page = [_summary(r) for r in rows[:limit]]
        following = str(rows[limit - 1].seq) if len(rows) > limit else None
        return page, following

    def add_watch_entry(
        self,
        *,
        party: PartyIdentifier | None = None,
        container: str | None = None,
        reason: str | None,
        now: datetime,
        actor: str,
    ) -> None:
        """Put a party identifier or a container number on the watch list.

        Raises:
            MalformedInputError: Neither or both given, or a container number that is not
                ISO 6346 (``INVALID_WATCH_ENTRY``).
            StorageConflictError: The entry is already on the list.
        """
        if (party is None) == (container is None):
            raise _bad("give a party identifier or a container number", "INVALID_WATCH_ENTRY")
        if container is not None and (issue := container_issue(container)) is not None:
            raise _bad(f"container {container}: {issue}", "INVALID_WATCH_ENTRY")
        kind, scheme, value = (
            (risk_repo.PARTY, party.scheme, party.value)
            if party is not None
            else (risk_repo.CONTAINER, "", str(container))
        )
        with self._db.write() as conn:
            risk_repo.insert_watch_entry(
                conn, kind=kind, scheme=scheme, value=value, reason=reason, now=now, actor=actor
            )
            record_event(
                conn,
                now=now,
                actor=actor,
                action="risk.watch-list.added",
                target=f"{kind}:{scheme}:{value}" if scheme else f"{kind}:{value}",
            )

    def watch_list(self) -> list[risk_repo.WatchEntry]:
        """Every watch-list entry."""
        with self._db.read() as conn:
            return risk_repo.list_watch_entries(conn)


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise _bad("cursor must be the 'next' value of an earlier page", "INVALID_QUERY")
    return int(value)


def _summary(row: risk_repo.DecisionRow) -> JSONObject:
    record = json.loads(row.document)
    decision = record["decision"]
    return {
        "id": row.id,
        "declarationId": row.declaration_id,
        "channel": decision["channel"],
        "score": decision["score"],
        "benefitsApplied": decision["benefitsApplied"],
        "randomSelected": decision["randomSelection"]["selected"],
        "policy": decision["policy"],
        "assessedAt": decision["assessedAt"],
        "assessedBy": row.assessed_by,
    }
