"""What the console's risk pages show: a stored decision explained, and the plots' figures.

Read-only. :func:`explain_decision` turns the stored record of a decision (what
:meth:`~node.services.risk.RiskService.assess` stored: the decision, the declaration, the
evidence, the crosswalk links and watch-list entries used, the verification notes) into
what a port officer reads: why this channel, which credential granted which benefit, and
every reason with the evidence it rests on resolved to what that evidence says. It is pure
(the record and two look-up tables in, a value out) and never trusts the record's shape:
a member missing or of the wrong type shows as absent, never as an error.

:class:`ConsoleRisk` gathers the figures behind the plots: the channel shares of the newest
decisions by segment, how old each partner's cached data is, and how long a partner's
status list versions took to reach this node.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from credentials.strict_json import JSONObject, JSONValue, loads_object
from node.federation.agreements import AgreementService
from node.federation.peers import PeerService
from node.services.risk import RiskService
from node.storage import console_plots_repo, risk_repo
from node.storage.db import Database

__all__ = [
    "CHANNELS",
    "CHANNEL_COLOURS",
    "ChannelShares",
    "ConsoleRisk",
    "CredentialView",
    "DecisionView",
    "EvidenceLine",
    "Freshness",
    "Propagation",
    "ReasonView",
    "SegmentRow",
    "explain_decision",
]

#: The control channels, lightest first (as :class:`risk.Channel`).
CHANNELS = ("release", "documentary", "non-intrusive", "physical")
#: The colour officers call each channel by.
CHANNEL_COLOURS = {
    "release": "green",
    "documentary": "yellow",
    "non-intrusive": "orange",
    "physical": "red",
}
#: Decisions the plots count (the newest ones).
PLOT_DECISIONS = 2000
#: Status list versions the propagation plot counts (the newest first fetches).
PLOT_FETCHES = 1000
_ROLES = ("declarant", "exporter", "importer")


def _obj(value: JSONValue | None) -> JSONObject:
    return value if isinstance(value, dict) else {}


def _list(value: JSONValue | None) -> list[JSONValue]:
    return value if isinstance(value, list) else []


def _text(value: JSONValue | None, default: str = "") -> str:
    if isinstance(value, bool) or value is None:
        return default
    return (
        value
        if isinstance(value, str)
        else str(value)
        if isinstance(value, int | float)
        else default
    )


def _pointer(document: JSONValue, pointer: str) -> JSONValue | None:
    """The value at an RFC 6901 JSON Pointer in ``document``, or None."""
    current: JSONValue | None = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            current = current.get(token)
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return None
    return current


def _identifier(value: JSONValue) -> str:
    item = _obj(value)
    return f"{_text(item.get('scheme'), '?')} {_text(item.get('value'), '?')}"


def _yes(value: JSONValue | None) -> bool:
    return value is True


@dataclass(frozen=True)
class EvidenceLine:
    """One piece of evidence a reason rests on, as the officer reads it.

    Attributes:
        ref: The reference as stored (``credential:<id>``, ``declaration:/containers/0``...).
        kind: ``declaration``, ``credential``, ``agreement``, ``scan``, ``watch-list``,
            ``policy``, ``selection`` or ``other``.
        text: What that evidence says.
    """

    ref: str
    kind: str
    text: str


@dataclass(frozen=True)
class ReasonView:
    """One reason: its code, sentence, effect and the evidence it rests on."""

    code: str
    message: str
    effect: str | None
    channel: str | None
    evidence: tuple[EvidenceLine, ...]


@dataclass(frozen=True)
class CredentialView:
    """A presented credential: what verification said and what it granted here."""

    id: str
    issuer: str
    issuer_name: str | None
    programme: str | None
    level: str | None
    identifiers: tuple[str, ...]
    verified: bool
    status: str
    recognised: bool
    benefits: tuple[str, ...]
    granted: tuple[str, ...]
    agreements: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class DecisionView:
    """A stored decision as the decision page shows it."""

    id: str
    declaration_id: str
    channel: str
    score: str
    score_channel: str
    mandatory_channel: str
    why: tuple[str, ...]
    reasons: tuple[ReasonView, ...]
    benefits: tuple[tuple[str, tuple[str, ...]], ...]
    random_selected: bool
    random_draw: str
    random_rate: str
    policy_id: str
    policy_version: str
    policy_hash: str
    assessed_at: str
    assessed_by: str
    ucr: str
    route: str
    containers: tuple[str, ...]
    goods: tuple[tuple[str, str], ...]
    parties: tuple[tuple[str, str, tuple[str, ...], str], ...]
    credentials: tuple[CredentialView, ...]
    scans: tuple[JSONObject, ...]
    crosswalk: tuple[str, ...]
    watch_list: tuple[str, ...]
    presentation: JSONObject | None
    attestations: tuple[JSONObject, ...]
    notes: tuple[str, ...]
    unweighed_scans: frozenset[str] = frozenset()


def _effect(reason: JSONObject) -> str | None:
    parts = []
    points = reason.get("points")
    if isinstance(points, int | float) and not isinstance(points, bool):
        parts.append(f"+{points:g} points")
    factor = reason.get("factor")
    if isinstance(factor, int | float) and not isinstance(factor, bool):
        parts.append(f"score x {factor:g}")
    channel = reason.get("channel")
    if isinstance(channel, str):
        parts.append(f"at least {channel}")
    return ", ".join(parts) or None


class _Resolver:
    """Resolves the evidence references of one record to sentences."""

    def __init__(self, record: JSONObject, peer_names: Mapping[str, str]) -> None:
        self.declaration = _obj(record.get("declaration"))
        evidence = _obj(record.get("evidence"))
        self.credentials = {
            _text(c.get("credentialId")): c for c in map(_obj, _list(evidence.get("credentials")))
        }
        self.scans = {
            _text(s.get("attestationId")): s for s in map(_obj, _list(evidence.get("scans")))
        }
        decision = _obj(record.get("decision"))
        self.selection = _obj(decision.get("randomSelection"))
        policy = _obj(decision.get("policy"))
        self.policy = f"{_text(policy.get('policyId'), '?')} {_text(policy.get('version'), '?')}"
        self.peer_names = peer_names

    def issuer(self, did: str) -> str:
        name = self.peer_names.get(did)
        return f"{name} ({did})" if name else did

    def line(self, ref: str) -> EvidenceLine:
        kind, _, rest = ref.partition(":")
        if kind == "declaration":
            value = _pointer(self.declaration, rest)
            shown = _text(value) if not isinstance(value, dict | list) else "(see the declaration)"
            return EvidenceLine(ref, kind, f"the declaration's {rest} is {shown or 'absent'}")
        if kind == "credential":
            cred = self.credentials.get(rest)
            if cred is None:
                return EvidenceLine(ref, kind, f"credential {rest} (not among the evidence)")
            programme = " ".join(_text(cred.get(k)) for k in ("programme", "level") if cred.get(k))
            return EvidenceLine(
                ref,
                kind,
                f"credential {rest}{f' ({programme})' if programme else ''} issued by "
                f"{self.issuer(_text(cred.get('issuer'), '?'))}: "
                f"{'verified' if _yes(cred.get('verified')) else 'did not verify'}, status "
                f"{_text(cred.get('status'), 'unknown')}, "
                + (
                    (
                        f"recognised under agreement {_text(cred.get('agreement'))}"
                        if cred.get("agreement")
                        else "recognised under an MRA in force"
                    )
                    if _yes(cred.get("recognised"))
                    else "not recognised by any MRA in force"
                ),
            )
        if kind == "agreement":
            return EvidenceLine(
                ref,
                kind,
                f"mutual recognition agreement {rest}, in force at the decision, which grants "
                "this benefit for the credentials named beside it",
            )
        if kind == "scan":
            scan = self.scans.get(rest)
            if scan is None:
                return EvidenceLine(ref, kind, f"scan attestation {rest} (not among the evidence)")
            containers = ", ".join(_text(c) for c in _list(scan.get("containers")))
            checks = [
                "proofs verified" if _yes(scan.get("verified")) else "proofs did not verify",
                "device authorised"
                if _yes(scan.get("deviceAuthorised"))
                else "device not authorised",
                "issuer's scans recognised here"
                if _yes(scan.get("recognised"))
                else "issuer's scans not recognised here",
            ]
            return EvidenceLine(
                ref,
                kind,
                f"{_text(scan.get('modality'), '?')} scan of {containers or '?'}, result "
                f"{_text(scan.get('result'), '?')}, at {_text(scan.get('scannedAt'), '?')}, "
                f"countersigned by {self.issuer(_text(scan.get('issuer'), '?'))}: "
                + ", ".join(checks),
            )
        if kind == "watch-list":
            what, _, value = rest.partition(":")
            target = f"container {value}" if what == "container" else f"party {what} {value}"
            return EvidenceLine(ref, kind, f"this node's watch list names {target}")
        if kind == "policy":
            return EvidenceLine(ref, kind, f"rule {rest} of policy {self.policy}")
        if kind == "selection":
            draw = self.selection.get("draw")
            rate = self.selection.get("rate")
            return EvidenceLine(
                ref,
                kind,
                f"keyed random draw ({rest}) {_text(draw, '?')} against the rate "
                f"{_text(rate, '?')}: selected when the draw is below the rate",
            )
        return EvidenceLine(ref, "other", ref)


def _why(decision: JSONObject, reasons: list[ReasonView]) -> tuple[str, ...]:
    channel = _text(decision.get("channel"), "?")
    score_channel = _text(decision.get("scoreChannel"), "?")
    mandatory = _text(decision.get("mandatoryChannel"), "?")
    score = _text(decision.get("score"), "?")
    colour = CHANNEL_COLOURS.get(channel, "?")
    lines = [f"Channel {channel} ({colour})."]
    threshold = next((r for r in reasons if r.code == "SCORE_THRESHOLD"), None)
    if threshold is not None:
        lines.append(f"The risk score {score} alone gives {score_channel}: {threshold.message}.")
    else:
        lines.append(f"The risk score {score} reaches no threshold: alone it gives release.")
    imposing = [r for r in reasons if r.channel is not None]
    if imposing:
        rules = "; ".join(f"{r.message} ({r.channel})" for r in imposing)
        lines.append(f"Rules imposed at least {mandatory}: {rules}.")
    known = mandatory in CHANNELS and score_channel in CHANNELS
    if known and CHANNELS.index(mandatory) > CHANNELS.index(score_channel):
        lines.append(f"The heavier of the two applies: {channel}, because of those rules.")
    else:
        lines.append(f"The heavier of the two applies: {channel}, set by the score.")
    return tuple(lines)


def explain_decision(
    record: JSONObject,
    *,
    peer_names: Mapping[str, str] | None = None,
    agreements: Mapping[str, Iterable[tuple[str, str]]] | None = None,
) -> DecisionView:
    """The decision page's view of a stored record.

    Args:
        record: The stored record (:meth:`RiskService.decision`).
        peer_names: Partner names by DID (to name issuers).
        agreements: ``(agreement id, state)`` by partner DID, as this node holds them now.
    """
    names = peer_names or {}
    held = agreements or {}
    decision = _obj(record.get("decision"))
    resolver = _Resolver(record, names)
    reasons = [
        ReasonView(
            code=_text(r.get("code"), "?"),
            message=_text(r.get("message")),
            effect=_effect(r),
            channel=_text(r.get("channel")) or None,
            evidence=tuple(resolver.line(_text(e)) for e in _list(r.get("evidence"))),
        )
        for r in map(_obj, _list(decision.get("reasons")))
    ]
    granted: dict[str, list[str]] = {}
    for reason in reasons:
        if reason.code == "BENEFIT_APPLIED":
            code = reason.message.removeprefix("benefit ")
            for line in reason.evidence:
                if line.kind == "credential":
                    granted.setdefault(code, []).append(line.ref.partition(":")[2])
    benefits = tuple(
        (_text(code), tuple(granted.get(_text(code), ())))
        for code in _list(decision.get("benefitsApplied"))
    )
    credentials = tuple(
        CredentialView(
            id=cred_id,
            issuer=_text(cred.get("issuer"), "?"),
            issuer_name=names.get(_text(cred.get("issuer"))),
            programme=_text(cred.get("programme")) or None,
            level=_text(cred.get("level")) or None,
            identifiers=tuple(_identifier(i) for i in _list(cred.get("subjectIdentifiers"))),
            verified=_yes(cred.get("verified")),
            status=_text(cred.get("status"), "unknown"),
            recognised=_yes(cred.get("recognised")),
            benefits=tuple(_text(b) for b in _list(cred.get("benefits"))),
            granted=tuple(code for code, ids in benefits if cred_id in ids),
            agreements=tuple(held.get(_text(cred.get("issuer")), ())),
        )
        for cred_id, cred in resolver.credentials.items()
    )
    declaration = resolver.declaration
    selection = resolver.selection
    policy = _obj(decision.get("policy"))
    verification = _obj(record.get("verification"))
    presentation = verification.get("presentation")
    return DecisionView(
        id=_text(record.get("id"), "?"),
        declaration_id=_text(decision.get("declarationId"), "?"),
        channel=_text(decision.get("channel"), "?"),
        score=_text(decision.get("score"), "?"),
        score_channel=_text(decision.get("scoreChannel"), "?"),
        mandatory_channel=_text(decision.get("mandatoryChannel"), "?"),
        why=_why(decision, reasons),
        reasons=tuple(reasons),
        benefits=benefits,
        random_selected=_yes(selection.get("selected")),
        random_draw=_text(selection.get("draw"), "?"),
        random_rate=_text(selection.get("rate"), "?"),
        policy_id=_text(policy.get("policyId"), "?"),
        policy_version=_text(policy.get("version"), "?"),
        policy_hash=_text(policy.get("hash"), "?"),
        assessed_at=_text(decision.get("assessedAt"), "?"),
        assessed_by=_text(record.get("assessedBy"), "?"),
        ucr=_text(declaration.get("ucr"), "?"),
        route=f"{_text(declaration.get('portOfLoading'), '?')} to "
        f"{_text(declaration.get('portOfDischarge'), '?')}",
        containers=tuple(_text(c) for c in _list(declaration.get("containers"))),
        goods=tuple(
            (_text(g.get("hsCode"), "?"), _text(g.get("description")))
            for g in map(_obj, _list(declaration.get("goodsItems")))
        ),
        parties=tuple(
            (
                role,
                _text(party.get("name"), "?"),
                tuple(_identifier(i) for i in _list(party.get("identifiers"))),
                _text(party.get("country"), "?"),
            )
            for role in _ROLES
            if (party := _obj(declaration.get(role)))
        ),
        credentials=credentials,
        scans=tuple(resolver.scans.values()),
        crosswalk=tuple(
            f"{_identifier(_obj(link).get('identifier'))} is linked to "
            f"{_identifier(_obj(link).get('linked'))}"
            for link in _list(record.get("crosswalk"))
        ),
        watch_list=tuple(
            " ".join(_text(_obj(e).get(k)) for k in ("kind", "scheme", "value") if _obj(e).get(k))
            for e in _list(record.get("watchList"))
        ),
        presentation=presentation if isinstance(presentation, dict) else None,
        attestations=tuple(map(_obj, _list(verification.get("attestations")))),
        notes=tuple(_text(n) for n in _list(verification.get("notes"))),
        unweighed_scans=frozenset(resolver.scans)
        - {e.ref.partition(":")[2] for r in reasons for e in r.evidence if e.kind == "scan"},
    )


# -- plots ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentRow:
    """Decisions of one segment counted by channel."""

    label: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Decisions in the segment."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class ChannelShares:
    """Channel counts of the newest decisions, by segment."""

    decisions: int
    oldest: str | None
    newest: str | None
    by_benefits: tuple[SegmentRow, ...]
    by_port: tuple[SegmentRow, ...]
    by_policy: tuple[SegmentRow, ...]


@dataclass(frozen=True)
class Freshness:
    """How old one partner resource's cached copy is (None: never fetched)."""

    peer: str
    resource: str
    age_seconds: int | None
    failures: int


@dataclass(frozen=True)
class Propagation:
    """Delay from a partner's status list ``validFrom`` to this node's first fetch."""

    peer: str
    versions: int
    median_seconds: float
    max_seconds: float
    early: int = 0


@dataclass(frozen=True)
class PlotFigures:
    """Everything the plots page shows."""

    shares: ChannelShares
    freshness: tuple[Freshness, ...]
    propagation: tuple[Propagation, ...]
    fetches: int
    peers: int = field(default=0)


def _segments(rows: Iterable[tuple[str, str]], *, top: int | None = None) -> tuple[SegmentRow, ...]:
    counts: dict[str, Counter[str]] = {}
    for label, channel in rows:
        counts.setdefault(label, Counter())[channel] += 1
    ordered = sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    if top is not None:
        ordered = ordered[:top]
    return tuple(
        SegmentRow(label, {c: int(counter.get(c, 0)) for c in CHANNELS})
        for label, counter in ordered
    )


def channel_shares(documents: Iterable[str]) -> ChannelShares:
    """Count stored decision documents (newest first) by channel and segment."""
    benefits: list[tuple[str, str]] = []
    ports: list[tuple[str, str]] = []
    policies: list[tuple[str, str]] = []
    times: list[str] = []
    for document in documents:
        record = loads_object(document)
        decision = _obj(record.get("decision"))
        channel = _text(decision.get("channel"))
        if channel not in CHANNELS:
            continue
        applied = bool(_list(decision.get("benefitsApplied")))
        benefits.append(("with AEO benefits" if applied else "without benefits", channel))
        port = _text(_obj(record.get("declaration")).get("portOfDischarge"), "?")
        ports.append((port, channel))
        policy = _obj(decision.get("policy"))
        policies.append(
            (f"{_text(policy.get('policyId'), '?')} {_text(policy.get('version'), '?')}", channel)
        )
        times.append(_text(decision.get("assessedAt")))
    by_benefits = _segments(benefits)
    order = {"with AEO benefits": 0, "without benefits": 1}
    return ChannelShares(
        decisions=len(times),
        oldest=min(times) if times else None,
        newest=max(times) if times else None,
        by_benefits=tuple(sorted(by_benefits, key=lambda r: order.get(r.label, 2))),
        by_port=_segments(ports, top=8),
        by_policy=_segments(policies, top=8),
    )


class ConsoleRisk:
    """The console's read model of risk decisions and partner data freshness."""

    def __init__(
        self,
        *,
        db: Database,
        risk: RiskService,
        peers: PeerService,
        agreements: AgreementService,
    ) -> None:
        self._db = db
        self.risk = risk
        self._peers = peers
        self._agreements = agreements

    def _peer_names(self) -> dict[str, str]:
        return {str(p["did"]): str(p["name"]) for p in self._peers.health()}

    def decision(self, decision_id: str) -> DecisionView:
        """The decision page's view.

        Raises:
            NotFoundError: No decision has that id.
        """
        record = self.risk.decision(decision_id)
        held: dict[str, list[tuple[str, str]]] = {}
        for agreement in self._agreements.list():
            held.setdefault(agreement.peer_did, []).append((agreement.id, agreement.state))
        return explain_decision(record, peer_names=self._peer_names(), agreements=held)

    def plots(self) -> PlotFigures:
        """The plots page's figures (ages measured by the peer service's clock)."""
        with self._db.read() as conn:
            rows = risk_repo.list_decisions(conn, limit=PLOT_DECISIONS)
            fetches = console_plots_repo.status_list_fetches(conn, limit=PLOT_FETCHES)
        health = self._peers.health()
        names = {str(p["did"]): str(p["name"]) for p in health}
        freshness = [
            Freshness(
                peer=str(p["name"]),
                resource=str(r["resource"]),
                age_seconds=r["ageSeconds"] if isinstance(r["ageSeconds"], int) else None,
                failures=int(r["consecutiveFailures"]),
            )
            for p in health
            for r in p["resources"]  # type: ignore[attr-defined]
        ]
        for p in health:
            if not p["resources"]:  # pinned, never synced: show it, with what it holds
                age = p["didDocumentAgeSeconds"]
                document_age = age if isinstance(age, int) else None
                freshness.append(Freshness(str(p["name"]), "did_document", document_age, 0))
        delays: dict[str, list[float]] = {}
        for fetch in fetches:
            delay = (fetch.first_fetched_at - fetch.valid_from).total_seconds()
            delays.setdefault(names.get(fetch.peer_did, fetch.peer_did), []).append(delay)
        propagation = tuple(
            Propagation(
                peer=peer,
                versions=len(values),
                median_seconds=max(0.0, statistics.median(values)),
                max_seconds=max(0.0, max(values)),
                early=sum(1 for v in values if v < 0),
            )
            for peer, values in sorted(delays.items())
        )
        return PlotFigures(
            shares=channel_shares(r.document for r in rows),
            freshness=tuple(sorted(freshness, key=lambda f: (f.peer, f.resource))),
            propagation=propagation,
            fetches=len(fetches),
            peers=len(health),
        )
