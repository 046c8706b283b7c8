"""Pure risk core: declaration + verified evidence + policy -> channel, with reasons.

The node verifies presentations and scan attestations; this package only weighs the outcomes.
It reads no clock, no disk (apart from its bundled declaration schema) and no network, so
the same inputs always give an equal decision, and an auditor can recompute any decision
from what was stored.

- :class:`Declaration` (``from_json``/``from_dict``: JSON Schema at the edge, then ISO 6346
  check digits, HS codes, UN/LOCODEs and party identifiers per scheme);
- :class:`Evidence` of :class:`CredentialEvidence` and :class:`ScanEvidence`, plus the
  administration's :class:`IdentifierCrosswalk` and :class:`WatchList`;
- :class:`Policy` (versioned JSON, hashed; files and schema in ``federation_config/risk/``);
- :func:`decide` -> :class:`Decision` (channel, score, reasons with evidence, benefits
  applied, keyed random selection, policy id, version and hash).

Example:
    >>> declaration = Declaration.from_json(declaration_bytes)
    >>> evidence = Evidence(credentials=(CredentialEvidence(
    ...     credential_id="urn:uuid:1", issuer="did:web:us.customs.example",
    ...     subject_identifiers=(PartyIdentifier("CTPAT", "12345678"),),
    ...     verified=True, status=CredentialStatus.VALID, recognised=True,
    ...     benefits=frozenset({"reduced-examination"})),))
    >>> decision = decide(declaration, evidence, policy, secret, at=now)
    >>> decision.channel, [r.code for r in decision.reasons]
"""

from risk.decision import Channel, Decision, Reason, ReasonCode
from risk.declaration import Declaration, GoodsItem, Party, PartyIdentifier
from risk.engine import EMPTY_CROSSWALK, EMPTY_WATCH_LIST, decide
from risk.errors import MalformedDeclarationError, MalformedEvidenceError, RiskPolicyError
from risk.evidence import (
    CredentialEvidence,
    CredentialStatus,
    Evidence,
    IdentifierCrosswalk,
    ScanEvidence,
    ScanModality,
    ScanResult,
    WatchList,
)
from risk.policy import POLICY_FORMAT, BenefitEffect, Policy, RouteRule
from risk.selection import selection_draw

__all__ = [
    "EMPTY_CROSSWALK",
    "EMPTY_WATCH_LIST",
    "POLICY_FORMAT",
    "BenefitEffect",
    "Channel",
    "CredentialEvidence",
    "CredentialStatus",
    "Decision",
    "Declaration",
    "Evidence",
    "GoodsItem",
    "IdentifierCrosswalk",
    "MalformedDeclarationError",
    "MalformedEvidenceError",
    "Party",
    "PartyIdentifier",
    "Policy",
    "Reason",
    "ReasonCode",
    "RiskPolicyError",
    "RouteRule",
    "ScanEvidence",
    "ScanModality",
    "ScanResult",
    "WatchList",
    "decide",
    "selection_draw",
]
