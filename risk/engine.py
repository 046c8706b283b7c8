"""``decide``: declaration + evidence + policy + secret -> :class:`~risk.decision.Decision`.

The steps, in order (each adds its reasons to the decision):

1. Watch list. Any party identifier (or one crosswalk link away from it) or container on the
   watch list is a hit: the policy's ``watch_list_channel`` is imposed and *every* benefit is
   withheld, whatever the credentials say.
2. Scans. A scan counts only for the declared containers it names; one naming none of them
   counts for nothing. An unresolved radiation alarm imposes physical examination, always.
   An unresolved image alarm imposes the policy's ``image_alarm_channel``. Alarms and
   inconclusive results count whether or not the attestation verified: they can only make
   controls heavier (fail closed). A clear image scan lowers the score only if its proofs
   verified, its device was authorised, this administration recognises the issuer's scans,
   it was taken no later than ``at`` and no earlier than the policy's maximum age, and such
   scans cover *every* declared container.
3. Credentials. A credential grants its benefit codes only when, in this order: it verified;
   its status is ``valid`` (``unknown``, ``revoked`` and ``suspended`` grant nothing); an MRA
   recognises it; and one of its subject identifiers is an identifier of a party whose role
   the policy lists (``benefit_parties``), directly or through one crosswalk link. Codes the
   policy does not list grant nothing. Each code applies once, however many credentials
   carry it.
4. Score. Base points by HS chapter (the riskiest goods item), country of dispatch and route,
   weighted; times the clear-scan factor; times each applied benefit's score factor; plus
   the points of inconclusive scans and resolved alarms (which no benefit reduces); capped
   at the policy maximum; rounded to 2 decimals.
5. Channel by score: the highest threshold reached (benefits may raise the documentary
   threshold, never above the non-intrusive one).
6. Random selection: the declaration's keyed draw (:mod:`risk.selection`) against the rate,
   which benefits may lower by their random factors but never below the policy's floor
   (more than zero): no trader is ever exempt. A watch-list hit draws at the full rate.
7. The channel is the heavier of the score's channel and the mandatory one (hard rules and
   random selection).

Pure and deterministic: the same inputs give an equal decision.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from risk.decision import Channel, Decision, Reason, ReasonCode, stricter
from risk.declaration import Declaration, PartyIdentifier
from risk.errors import MalformedEvidenceError
from risk.evidence import (
    CredentialStatus,
    Evidence,
    IdentifierCrosswalk,
    ScanModality,
    ScanResult,
    WatchList,
)
from risk.policy import Policy
from risk.selection import selection_draw

__all__ = ["EMPTY_CROSSWALK", "EMPTY_WATCH_LIST", "decide"]

EMPTY_CROSSWALK = IdentifierCrosswalk()
"""A crosswalk without links: credentials count only for identical identifiers."""

EMPTY_WATCH_LIST = WatchList()
"""A watch list without entries."""

_ZERO = timedelta(0)
# Enum member look-ups cost about 0.2 us each on Python 3.11 (3.12 made them fast), and a
# decision makes dozens: the hot path uses these module-level aliases instead.
_DOCUMENTARY = Channel.DOCUMENTARY
_NON_INTRUSIVE = Channel.NON_INTRUSIVE
_PHYSICAL = Channel.PHYSICAL
_RELEASE = Channel.RELEASE
_BASE_HS_CHAPTER = ReasonCode.BASE_HS_CHAPTER
_BASE_ORIGIN = ReasonCode.BASE_ORIGIN
_BASE_ROUTE = ReasonCode.BASE_ROUTE
_BENEFITS_WITHHELD = ReasonCode.BENEFITS_WITHHELD
_BENEFIT_APPLIED = ReasonCode.BENEFIT_APPLIED
_BENEFIT_NOT_IN_POLICY = ReasonCode.BENEFIT_NOT_IN_POLICY
_CREDENTIAL_NOT_RECOGNISED = ReasonCode.CREDENTIAL_NOT_RECOGNISED
_CREDENTIAL_NOT_VERIFIED = ReasonCode.CREDENTIAL_NOT_VERIFIED
_CREDENTIAL_OTHER_PARTY = ReasonCode.CREDENTIAL_OTHER_PARTY
_CREDENTIAL_STATUS_NOT_VALID = ReasonCode.CREDENTIAL_STATUS_NOT_VALID
_IMAGE_ALARM_UNRESOLVED = ReasonCode.IMAGE_ALARM_UNRESOLVED
_RADIATION_ALARM_UNRESOLVED = ReasonCode.RADIATION_ALARM_UNRESOLVED
_RANDOM_SELECTED = ReasonCode.RANDOM_SELECTED
_SCAN_ALARM_RESOLVED = ReasonCode.SCAN_ALARM_RESOLVED
_SCAN_CLEAR = ReasonCode.SCAN_CLEAR
_SCAN_INCONCLUSIVE = ReasonCode.SCAN_INCONCLUSIVE
_SCAN_NOT_COUNTED = ReasonCode.SCAN_NOT_COUNTED
_SCAN_OTHER_CONTAINERS = ReasonCode.SCAN_OTHER_CONTAINERS
_SCAN_PARTIAL_COVERAGE = ReasonCode.SCAN_PARTIAL_COVERAGE
_SCORE_CAPPED = ReasonCode.SCORE_CAPPED
_SCORE_THRESHOLD = ReasonCode.SCORE_THRESHOLD
_WATCH_LIST_HIT = ReasonCode.WATCH_LIST_HIT
_ALARM = ScanResult.ALARM
_INCONCLUSIVE = ScanResult.INCONCLUSIVE
_VALID = CredentialStatus.VALID
_RADIATION = frozenset({ScanModality.RADIATION_PORTAL, ScanModality.RADIATION_HANDHELD})


def _identifiers(
    declaration: Declaration, roles: frozenset[str] | None, crosswalk: IdentifierCrosswalk
) -> set[PartyIdentifier]:
    """The identifiers of the parties in ``roles`` (None: all), and those linked to them."""
    found: list[PartyIdentifier] = []
    for role, party in (
        ("declarant", declaration.declarant),
        ("exporter", declaration.exporter),
        ("importer", declaration.importer),
    ):
        if roles is None or role in roles:
            found += party.identifiers
    return crosswalk.expand(found)


def _watch_list_hits(
    declaration: Declaration, identifiers: set[PartyIdentifier], watch_list: WatchList
) -> list[str]:
    hits = [f"watch-list:{i}" for i in sorted(identifiers & watch_list.parties)]
    if watch_list.containers:
        hits += [
            f"watch-list:container:{c}"
            for c in declaration.containers
            if c in watch_list.containers
        ]
    return hits


class _Assessment:
    """The working state of one decision (private; one instance per call)."""

    def __init__(self, declaration: Declaration, policy: Policy, at: datetime) -> None:
        self.declaration = declaration
        self.policy = policy
        self.at = at
        self.reasons: list[Reason] = []
        self.mandatory = _RELEASE
        self.clear_factor = 1.0
        self.added_points = 0.0

    def note(
        self,
        code: ReasonCode,
        message: str,
        evidence: tuple[str, ...],
        *,
        points: float | None = None,
        factor: float | None = None,
        channel: Channel | None = None,
    ) -> None:
        self.reasons.append(Reason(code, message, evidence, points, factor, channel))
        if channel is not None:
            self.mandatory = stricter(self.mandatory, channel)

    def scans(self, evidence: Evidence) -> None:
        declared = set(self.declaration.containers)
        covered: set[str] = set()
        clear_refs: list[str] = []
        inconclusive_refs: list[str] = []
        resolved_refs: list[str] = []
        for scan in evidence.scans:
            ref = f"scan:{scan.attestation_id}"
            named = [c for c in scan.containers if c in declared]
            if not named:
                self.note(
                    _SCAN_OTHER_CONTAINERS,
                    "the scan names none of the declared containers; it counts for nothing",
                    (ref,),
                )
                continue
            where = f"{scan.modality.value} scan of {', '.join(named)}"
            if scan.result is _ALARM and not scan.alarm_resolved:
                if scan.modality in _RADIATION:
                    self.note(
                        _RADIATION_ALARM_UNRESOLVED,
                        f"unresolved radiation alarm ({where}): physical examination",
                        (ref,),
                        channel=_PHYSICAL,
                    )
                else:
                    channel = self.policy.image_alarm_channel
                    self.note(
                        _IMAGE_ALARM_UNRESOLVED,
                        f"unresolved image alarm ({where})",
                        (ref, "policy:hard_rules.image_alarm_channel"),
                        channel=channel,
                    )
                continue
            if scan.result is _ALARM:
                resolved_refs.append(ref)
                continue
            if scan.result is _INCONCLUSIVE:
                inconclusive_refs.append(ref)
                continue
            if scan.modality in _RADIATION:
                continue  # A clear radiation reading says nothing about undeclared goods.
            why = self._not_counted(
                scan.verified, scan.device_authorised, scan.recognised, self.at - scan.scanned_at
            )
            if why:
                self.note(
                    _SCAN_NOT_COUNTED,
                    f"clear {where} does not count: {'; '.join(why)}",
                    (ref,),
                )
                continue
            covered.update(named)
            clear_refs.append(ref)
        if resolved_refs:
            points = self.policy.resolved_alarm_points
            self.added_points += points
            self.note(
                _SCAN_ALARM_RESOLVED,
                "an alarm was resolved at origin",
                tuple(resolved_refs),
                points=points,
            )
        if inconclusive_refs:
            points = self.policy.inconclusive_points
            self.added_points += points
            self.note(
                _SCAN_INCONCLUSIVE,
                "a scan was inconclusive",
                tuple(inconclusive_refs),
                points=points,
            )
        if clear_refs and covered >= declared:
            self.clear_factor = self.policy.scan_clear_factor
            self.note(
                _SCAN_CLEAR,
                "recognised clear image scans cover every declared container",
                tuple(clear_refs),
                factor=self.clear_factor,
            )
        elif clear_refs:
            missing = ", ".join(c for c in self.declaration.containers if c not in covered)
            self.note(
                _SCAN_PARTIAL_COVERAGE,
                f"clear scans do not cover {missing}; no scan reduction",
                tuple(clear_refs),
            )

    def _not_counted(
        self, verified: bool, authorised: bool, recognised: bool, age: timedelta
    ) -> list[str]:
        why = []
        if not verified:
            why.append("its proofs did not verify")
        if not authorised:
            why.append("the device was not authorised")
        if not recognised:
            why.append("this administration does not recognise the issuer's scans")
        if age < _ZERO:
            why.append("it is dated after the assessment time")
        elif age > timedelta(hours=self.policy.scan_max_age_hours):
            why.append(f"it is older than {self.policy.scan_max_age_hours:g} hours")
        return why

    def credentials(
        self, evidence: Evidence, crosswalk: IdentifierCrosswalk
    ) -> dict[str, list[str]]:
        """Return the benefit codes granted, each with the credentials granting it."""
        roles = self.policy.benefit_parties
        if not evidence.credentials:
            return {}
        keys = _identifiers(self.declaration, roles, crosswalk)
        granted: dict[str, list[str]] = {}
        for cred in evidence.credentials:
            ref = f"credential:{cred.credential_id}"
            if not cred.verified:
                self.note(
                    _CREDENTIAL_NOT_VERIFIED,
                    "the credential did not verify; it grants nothing",
                    (ref,),
                )
            elif cred.status is not _VALID:
                self.note(
                    _CREDENTIAL_STATUS_NOT_VALID,
                    f"the credential's status is {cred.status.value}; it grants nothing",
                    (ref,),
                )
            elif not cred.recognised:
                self.note(
                    _CREDENTIAL_NOT_RECOGNISED,
                    "no MRA in force recognises the credential; it grants nothing",
                    (ref,),
                )
            elif not any(i in keys for i in cred.subject_identifiers):
                self.note(
                    _CREDENTIAL_OTHER_PARTY,
                    f"the credential is for none of the declaration's "
                    f"{', '.join(sorted(roles))} (nor linked to them); it grants nothing",
                    (ref,),
                )
            else:
                for code in sorted(cred.benefits):
                    if code in self.policy.benefits:
                        refs = granted.setdefault(code, [])
                        refs.append(ref)
                        # The agreement that grants the code, named once beside its credentials.
                        if cred.agreement is not None:
                            agreement = f"agreement:{cred.agreement}"
                            if agreement not in refs:
                                refs.append(agreement)
                    else:
                        self.note(
                            _BENEFIT_NOT_IN_POLICY,
                            f"benefit {code!r} has no effect in this policy",
                            (ref,),
                        )
        return granted

    def base_score(self) -> float:
        policy, decl = self.policy, self.declaration
        # The riskiest goods item counts; ties go to the first.
        hs, hs_ref, hs_index = -1.0, "", 0
        for i, item in enumerate(decl.goods_items):
            points, ref = policy.hs_points_of(item.hs_code[:2])
            if points > hs:
                hs, hs_ref, hs_index = points, ref, i
        chapter = decl.goods_items[hs_index].hs_code[:2]
        self.reasons.append(
            Reason(
                _BASE_HS_CHAPTER,
                f"HS chapter {chapter} (goods item {hs_index + 1})",
                (f"declaration:/goodsItems/{hs_index}/hsCode", hs_ref),
                hs,
            )
        )
        country = decl.consignor_country
        origin, origin_ref = policy.origin_points_of(country)
        self.reasons.append(
            Reason(
                _BASE_ORIGIN,
                f"dispatched from {country}",
                ("declaration:/consignorCountry", origin_ref),
                origin,
            )
        )
        loading, discharge = decl.port_of_loading, decl.port_of_discharge
        route, route_ref = policy.route_points_of(loading, discharge)
        self.reasons.append(
            Reason(
                _BASE_ROUTE,
                f"route {loading} to {discharge}",
                ("declaration:/portOfLoading", "declaration:/portOfDischarge", route_ref),
                route,
            )
        )
        return hs + origin + route


def decide(
    declaration: Declaration,
    evidence: Evidence,
    policy: Policy,
    secret: bytes,
    *,
    at: datetime,
    crosswalk: IdentifierCrosswalk = EMPTY_CROSSWALK,
    watch_list: WatchList = EMPTY_WATCH_LIST,
) -> Decision:
    """Decide the control channel of a declaration.

    Args:
        declaration: The declaration (already checked: see :meth:`Declaration.from_json`).
        evidence: The verification outcomes of the credentials and scans presented.
        policy: The risk policy.
        secret: The node's random selection secret (at least 16 bytes).
        at: The assessment time (aware); scan ages are measured to it.
        crosswalk: The administration's identifier links.
        watch_list: The administration's targets.

    Returns:
        The decision, with its reasons. Evidence that counts for nothing is explained in the
        reasons, never raised.

    Raises:
        MalformedEvidenceError: ``at`` is not an aware datetime.
        MalformedInputError: The secret is too short (``INVALID_SELECTION_SECRET``).
    """
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise MalformedEvidenceError([("at", "must be an aware datetime")])
    draw = selection_draw(secret, declaration.declaration_id)
    state = _Assessment(declaration, policy, at)

    # 1. Watch list.
    hits = (
        _watch_list_hits(declaration, _identifiers(declaration, None, crosswalk), watch_list)
        if watch_list.parties or watch_list.containers
        else []
    )
    if hits:
        state.note(
            _WATCH_LIST_HIT,
            "watch-list hit: every benefit is withheld",
            tuple(hits),
            channel=policy.watch_list_channel,
        )
    # 2. Scans; 3. credentials.
    state.scans(evidence)
    granted = state.credentials(evidence, crosswalk)
    if hits and granted:
        refs = tuple(dict.fromkeys(r for refs in granted.values() for r in refs))
        state.note(
            _BENEFITS_WITHHELD,
            f"benefits withheld on a watch-list hit: {', '.join(sorted(granted))}",
            refs,
        )
        granted = {}

    # 4. Score.
    score = state.base_score() * state.clear_factor
    rate = policy.random_rate
    documentary_offset = 0.0
    for code in sorted(granted):
        effect = policy.benefits[code]
        score *= effect.score_factor
        rate *= effect.random_factor
        documentary_offset += effect.documentary_offset
        state.note(
            _BENEFIT_APPLIED,
            f"benefit {code}",
            (*granted[code], f"policy:benefits.{code}"),
            factor=effect.score_factor,
        )
    score += state.added_points
    if score > policy.max_score:
        state.note(_SCORE_CAPPED, f"score capped at {policy.max_score:g}", ("policy:score.max",))
        score = policy.max_score
    score = round(score, 2)

    # 5. Channel by score.
    thresholds = policy.thresholds
    non_intrusive = thresholds[_NON_INTRUSIVE]
    ladder = (
        (_PHYSICAL, thresholds[_PHYSICAL], "physical"),
        (_NON_INTRUSIVE, non_intrusive, "non_intrusive"),
        (
            _DOCUMENTARY,
            min(thresholds[_DOCUMENTARY] + documentary_offset, non_intrusive),
            "documentary",
        ),
    )
    score_channel = _RELEASE
    for channel, threshold, key in ladder:
        if score >= threshold:
            score_channel = channel
            state.reasons.append(
                Reason(
                    _SCORE_THRESHOLD,
                    f"score {score:g} reaches the {key.replace('_', '-')} threshold {threshold:g}",
                    (f"policy:thresholds.{key}",),
                )
            )
            break

    # 6. Random selection, never below the floor.
    rate = max(rate, policy.random_floor)
    selected = draw < rate
    if selected:
        state.note(
            _RANDOM_SELECTED,
            f"selected at random (rate {rate:g})",
            ("selection:hmac-sha256", "policy:random_selection"),
            channel=policy.random_channel,
        )

    # 7. The heavier channel wins.
    return Decision(
        declaration_id=declaration.declaration_id,
        channel=stricter(score_channel, state.mandatory),
        score=score,
        score_channel=score_channel,
        mandatory_channel=state.mandatory,
        reasons=tuple(state.reasons),
        benefits_applied=tuple(sorted(granted)),
        random_selected=selected,
        random_draw=draw,
        random_rate=rate,
        policy_id=policy.policy_id,
        policy_version=policy.version,
        policy_hash=policy.hash,
        assessed_at=at,
    )
