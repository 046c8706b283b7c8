"""Scan attestations inside a presentation: what the port makes of each bundle (step 6).

PURE. A presentation may carry scan attestation bundles (``scanAttestationBundles``, a
JSON literal the holder's proof covers). They are not the holder's credentials: no holder
rule, no benefit. The node audits each bundle as ``POST /attestations/verify`` does
(:class:`node.services.attestations.AttestationVerifier`) and turns what that said into an
:class:`AttestationResult` with :func:`attestation_result`: three checks, in order,

1. ``consignment`` (:func:`consignment_check`): the scan is about the consignment the
   challenge names, judged by what was declared (containers, transport document), since a
   scan names containers and never a UCR;
2. ``audit``: every audit step passed with this node's trust;
3. ``authorization``: the device authorisation's status passed now.

Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from credentials.errors import MalformedInputError
from credentials.result import Check, VerificationResult
from credentials.strict_json import JSONObject
from scan_attestation.attestation import read_scan_attestation

__all__ = ["AttestationResult", "ConsignmentFacts", "attestation_result", "consignment_check"]


@dataclass(frozen=True)
class ConsignmentFacts:
    """What the port knows about the consignment a presentation is for.

    Attributes:
        ucr: The consignment's WCO UCR (the challenge's).
        containers: Its declared ISO 6346 container numbers (may be empty: not told).
        transport_document: Its bill of lading or air waybill number, if told.

    """

    ucr: str
    containers: tuple[str, ...] = ()
    transport_document: str | None = None


@dataclass(frozen=True)
class AttestationResult:
    """One presented scan attestation bundle: its checks and the audit behind them.

    Attributes:
        result: ``consignment``, ``audit`` and ``authorization`` checks.
        attestation: The attestation's id, when it can be read.
        audit: The audit report (``{"ok", "steps"}``), as ``POST /attestations/verify``.
        authorization_status: The device authorisation's status now, when it was checked.
        bundle: The bundle as presented.

    """

    result: VerificationResult
    attestation: str | None = None
    audit: JSONObject = field(default_factory=dict)
    authorization_status: JSONObject | None = None
    bundle: JSONObject = field(default_factory=dict, repr=False)

    @property
    def verified(self) -> bool:
        """True when the scan is about this consignment, audits and its device is authorised."""
        return self.result.verified

    def to_dict(self) -> dict[str, Any]:
        """The API body: ``verified``, ``attestation``, the checks, ``audit``, status."""
        body = self.result.to_dict()
        body["attestation"] = self.attestation
        body["audit"] = self.audit
        body["authorizationStatus"] = self.authorization_status
        return body


# -- the checks ---------------------------------------------------------------


def _listed(items: tuple[str, ...] | list[str]) -> str:
    return ", ".join(items) if items else "none"


def consignment_check(bundle: JSONObject, facts: ConsignmentFacts) -> Check:
    """Whether the bundle's scan is about the consignment (the ``consignment`` check).

    A scan attestation names containers (and maybe a transport document), never a UCR: it
    is tied to the consignment through what was declared. It fails
    (``ATTESTATION_CONSIGNMENT_MISMATCH``) when it names another transport document than the
    declared one, or none of the declared containers; it is ``unknown``
    (``ATTESTATION_CONSIGNMENT_UNKNOWN``) when the port was told neither.
    """
    attestation = bundle.get("attestation")
    try:
        if not isinstance(attestation, dict):
            raise MalformedInputError("the bundle holds no attestation")
        claims = read_scan_attestation(attestation)
    except MalformedInputError as e:
        return Check.unknown(
            "consignment", "NOT_RUN", f"not run: the scan attestation cannot be read ({e.message})"
        )
    ucr, named = facts.ucr, claims.containers
    declared_document, scanned_document = facts.transport_document, claims.transport_document
    if declared_document and scanned_document and declared_document != scanned_document:
        return Check.failed(
            "consignment",
            "ATTESTATION_CONSIGNMENT_MISMATCH",
            f"the scan {claims.id} is of a consignment carried under transport document "
            f"{scanned_document}; consignment {ucr} travels under {declared_document}: it is a "
            "scan of another consignment and says nothing about this one",
        )
    if facts.containers:
        covered = [c for c in named if c in facts.containers]
        if not covered:
            return Check.failed(
                "consignment",
                "ATTESTATION_CONSIGNMENT_MISMATCH",
                f"the scan {claims.id} is of container(s) {_listed(named)}; consignment {ucr} "
                f"declares {_listed(facts.containers)}: it is a scan of another consignment "
                "and says nothing about this one",
            )
        others = [c for c in named if c not in facts.containers]
        extra = f" (it also names {_listed(others)}, not declared)" if others else ""
        return Check.passed(
            "consignment",
            f"the scan covers container(s) {_listed(covered)} of consignment {ucr}{extra}",
        )
    if declared_document and scanned_document:
        return Check.passed(
            "consignment",
            f"the scan is of transport document {scanned_document}, consignment {ucr}'s",
        )
    return Check.unknown(
        "consignment",
        "ATTESTATION_CONSIGNMENT_UNKNOWN",
        f"the port was not told which containers consignment {ucr} holds (options.containers) "
        f"or its transport document, so this scan of {_listed(named)} cannot be tied to it",
    )


def _audit_check(audit: JSONObject) -> Check:
    steps = audit.get("steps")
    failed = [
        s
        for s in (steps if isinstance(steps, list) else [])
        if isinstance(s, dict) and s.get("status") == "fail"
    ]
    if audit.get("ok") is True:
        return Check.passed(
            "audit",
            "the scan, its device authorisation, the node's countersignature, its log "
            "inclusion and the checkpoint verify with what this node trusts",
        )
    why = "; ".join(f"{s.get('step')}: {s.get('detail')}" for s in failed) or "no step ran"
    return Check.failed(
        "audit",
        "ATTESTATION_NOT_VERIFIED",
        f"the scan attestation does not verify, so it counts for nothing ({why})",
    )


def _authorization_check(audit_ok: bool, status: JSONObject | None) -> Check:
    if not audit_ok:
        return Check.unknown("authorization", "NOT_RUN", "not run: the audit did not pass")
    if status is None:
        return Check.unknown(
            "authorization",
            "STATUS_UNKNOWN",
            "the device authorisation's status is not known: the scan counts for nothing yet",
        )
    detail = str(status.get("detail", ""))
    if status.get("status") == "pass":
        return Check.passed("authorization", f"the device was authorised: {detail}")
    code = status.get("code")
    text = f"the device's authorisation does not hold now: {detail}"
    if status.get("status") == "fail":
        return Check.failed("authorization", str(code or "STATUS_FAILED"), text)
    return Check.unknown("authorization", str(code or "STATUS_UNKNOWN"), text)


def attestation_result(
    bundle: JSONObject,
    facts: ConsignmentFacts,
    *,
    audit: JSONObject,
    authorization_status: JSONObject | None,
) -> AttestationResult:
    """The result of one presented bundle (step 6), from the node's audit of it.

    Args:
        bundle: The bundle as presented.
        facts: What the port knows about the consignment.
        audit: The audit report (``{"ok", "steps"}``) of ``POST /attestations/verify``.
        authorization_status: The device authorisation's status check, as that route
            reports it (None when not checked).

    Returns:
        Its ``consignment``, ``audit`` and ``authorization`` checks.
    """
    attestation = bundle.get("attestation")
    attestation_id = attestation.get("id") if isinstance(attestation, dict) else None
    audit_ok = audit.get("ok") is True
    checks = (
        consignment_check(bundle, facts),
        _audit_check(audit),
        _authorization_check(audit_ok, authorization_status),
    )
    return AttestationResult(
        VerificationResult(checks),
        attestation=attestation_id if isinstance(attestation_id, str) else None,
        audit=audit,
        authorization_status=authorization_status,
        bundle=bundle,
    )
