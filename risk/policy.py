"""The risk policy: how a declaration and its evidence become a score and a channel.

A policy is a versioned JSON document (format ``trustlane-risk-policy/1``; the bundled ones
and their JSON Schema are under ``federation_config/risk/``, which also reads files).
:meth:`Policy.from_dict` checks every member and the relations between them, reports every
problem at once in a :class:`~risk.errors.RiskPolicyError`, and records the SHA-256 of the
document's RFC 8785 canonical form: every decision names the policy id, version and hash it
was made under, so the exact rules behind a decision can be found again.

What a policy says (``docs/risk.md`` has the full reference):

- ``score``: points by HS chapter (the riskiest goods item counts), by country of dispatch
  and by route (port of loading and/or discharge), their weights, and the maximum score;
- ``thresholds``: the score from which each channel applies;
- ``scans``: how old a scan may be, the factor a clear recognised scan of every container
  applies, the points an inconclusive scan or a resolved alarm adds;
- ``benefits``: the effect of each MRA benefit code (score factor, random selection factor,
  documentary threshold offset), and which parties' credentials count;
- ``hard_rules``: the channel a watch-list hit and an unresolved image alarm impose (an
  unresolved radiation alarm always imposes physical examination; that is not configurable);
- ``random_selection``: the rate, the floor no benefit can go below (more than zero), and
  the channel a selected declaration gets.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from credentials.canonical import canonicalize
from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject, loads_object
from risk._reader import MAX_POINTS as _MAX_POINTS
from risk._reader import PolicyReader as _Reader
from risk.decision import Channel
from risk.errors import RiskPolicyError
from risk.identifiers import unlocode_issue

__all__ = [
    "POLICY_FORMAT",
    "BenefitEffect",
    "Policy",
    "RouteRule",
]

POLICY_FORMAT = "trustlane-risk-policy/1"
"""The ``format`` member every policy of this version carries."""

PARTY_ROLES = ("declarant", "exporter", "importer")
_CHAPTER = re.compile(r"[0-9]{2}\Z", re.ASCII)
_COUNTRY = re.compile(r"[A-Z]{2}\Z", re.ASCII)
_BENEFIT_CODE = re.compile(r"[a-z][a-z0-9-]{0,63}\Z", re.ASCII)
_Problems = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class BenefitEffect:
    """What one MRA benefit code does to a decision.

    Attributes:
        score_factor: Multiplies the risk score, in (0, 1].
        random_factor: Multiplies the random selection rate, in (0, 1]; the result never
            goes below the policy's floor.
        documentary_offset: Points added to the documentary threshold (fewer documentary
            checks); the threshold never goes above the non-intrusive one.
    """

    score_factor: float = 1.0
    random_factor: float = 1.0
    documentary_offset: float = 0.0


@dataclass(frozen=True, slots=True)
class RouteRule:
    """Points for a route: a port of loading and/or a port of discharge (``*``: any)."""

    loading: str
    discharge: str
    points: float

    def matches(self, loading: str, discharge: str) -> bool:
        """True when both ends match (``*`` matches any port)."""
        return self.loading in ("*", loading) and self.discharge in ("*", discharge)


@dataclass(frozen=True, eq=False)
class Policy:
    """A checked risk policy. Build it with :meth:`from_dict` or :meth:`from_json`.

    Two policies are equal when their canonical forms are (same :attr:`sha256`).

    Attributes:
        policy_id: Identifier, e.g. ``eu-aeo-default``.
        version: Version, e.g. ``2026.1``.
        description: Free text.
        weights: Weight of the ``hs_chapter``, ``origin`` and ``route`` points.
        hs_default: Points of an HS chapter the policy does not list.
        hs_points: Points by two-digit HS chapter.
        origin_default: Points of a country the policy does not list.
        origin_points: Points by country of dispatch.
        route_default: Points when no route rule matches.
        route_rules: Route rules; the highest matching one counts.
        max_score: Scores are capped here.
        thresholds: Score from which ``documentary``, ``non-intrusive`` and ``physical``
            apply, strictly ascending.
        scan_max_age_hours: Older scans do not count as clear.
        scan_clear_factor: Score factor when clear, counted image scans cover every container.
        inconclusive_points: Points added when a counted scan is inconclusive.
        resolved_alarm_points: Points added when an alarm was resolved at origin.
        benefits: Effect of each benefit code; codes not listed grant nothing.
        benefit_parties: Roles whose credentials count (``exporter``, ``importer``...).
        watch_list_channel: Lowest channel on a watch-list hit.
        image_alarm_channel: Lowest channel on an unresolved image alarm.
        random_rate: Random selection rate without benefits.
        random_floor: The rate no benefit can take the selection below; more than zero.
        random_channel: Lowest channel of a randomly selected declaration.
        sha256: Hex SHA-256 of the document's RFC 8785 canonical form.
    """

    policy_id: str
    version: str
    description: str
    weights: Mapping[str, float]
    hs_default: float
    hs_points: Mapping[str, float]
    origin_default: float
    origin_points: Mapping[str, float]
    route_default: float
    route_rules: tuple[RouteRule, ...]
    max_score: float
    thresholds: Mapping[Channel, float]
    scan_max_age_hours: float
    scan_clear_factor: float
    inconclusive_points: float
    resolved_alarm_points: float
    benefits: Mapping[str, BenefitEffect]
    benefit_parties: frozenset[str]
    watch_list_channel: Channel
    image_alarm_channel: Channel
    random_rate: float
    random_floor: float
    random_channel: Channel
    sha256: str
    _document: JSONObject

    def __post_init__(self) -> None:
        problems: _Problems = []
        levels = [self.thresholds.get(c) for c in list(Channel)[1:]]
        pairs = itertools.pairwise(levels)
        if None in levels or any(a is not None and b is not None and a >= b for a, b in pairs):
            problems.append(("thresholds", "documentary < non_intrusive < physical must hold"))
        if any(t is not None and t > self.max_score for t in levels):
            problems.append(("thresholds", f"must not exceed score.max ({self.max_score:g})"))
        if not 0 < self.random_floor <= self.random_rate <= 1:
            problems.append(
                (
                    "random_selection.floor",
                    "0 < floor <= rate <= 1 must hold (a floor of zero would let benefits "
                    "exempt a trader from random selection)",
                )
            )
        for code, effect in self.benefits.items():
            if not (0 < effect.score_factor <= 1 and 0 < effect.random_factor <= 1):
                problems.append((f"benefits.{code}", "factors must be in (0, 1]"))
        if problems:
            raise RiskPolicyError(problems)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Policy) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    @property
    def hash(self) -> str:
        """``sha256:`` + the hex digest, as decisions record it."""
        return f"sha256:{self.sha256}"

    @functools.cached_property
    def _lookups(self) -> dict[str, Any]:
        # Weighted points with the policy reference they come from, computed once: the risk
        # core asks for them on every decision.
        w = self.weights
        return {
            "hs": {
                c: (w["hs_chapter"] * p, f"policy:score.hs_chapters.points.{c}")
                for c, p in self.hs_points.items()
            },
            "hs_default": (w["hs_chapter"] * self.hs_default, "policy:score.hs_chapters.default"),
            "origin": {
                c: (w["origin"] * p, f"policy:score.origins.points.{c}")
                for c, p in self.origin_points.items()
            },
            "origin_default": (w["origin"] * self.origin_default, "policy:score.origins.default"),
            "routes": {},
        }

    def hs_points_of(self, chapter: str) -> tuple[float, str]:
        """The weighted points of an HS chapter, and the policy member they come from."""
        lookups = self._lookups
        found: tuple[float, str] | None = lookups["hs"].get(chapter)
        return found if found is not None else lookups["hs_default"]

    def origin_points_of(self, country: str) -> tuple[float, str]:
        """The weighted points of a country of dispatch, and the policy member they come from."""
        lookups = self._lookups
        found: tuple[float, str] | None = lookups["origin"].get(country)
        return found if found is not None else lookups["origin_default"]

    def route_points_of(self, loading: str, discharge: str) -> tuple[float, str]:
        """The weighted points of a route (the highest matching rule), and their source."""
        memo: dict[tuple[str, str], tuple[float, str]] = self._lookups["routes"]
        found = memo.get((loading, discharge))
        if found is None:
            points, ref = self.route_default, "policy:score.routes.default"
            for i, rule in enumerate(self.route_rules):
                if rule.points > points and rule.matches(loading, discharge):
                    points, ref = rule.points, f"policy:score.routes.rules[{i}]"
            found = (self.weights["route"] * points, ref)
            if len(memo) < 100_000:  # Bounded: ports are many, but not unbounded.
                memo[(loading, discharge)] = found
        return found

    def to_dict(self) -> JSONObject:
        """Return the policy document (a fresh copy); :meth:`from_dict` is the inverse."""
        return copy.deepcopy(self._document)

    @classmethod
    def from_json(cls, data: bytes | str) -> Policy:
        """Parse strict JSON and check the policy.

        Raises:
            RiskPolicyError: Not strict JSON, or not an acceptable policy.
        """
        try:
            document = loads_object(data)
        except MalformedInputError as e:
            raise RiskPolicyError([("", e.message)]) from e
        return cls.from_dict(document)

    @classmethod
    def from_dict(cls, document: JSONObject) -> Policy:
        """Check a parsed policy document and build the policy.

        Args:
            document: The policy object.

        Returns:
            The policy, with the SHA-256 of the document's canonical form.

        Raises:
            RiskPolicyError: Every problem found, each at its dotted location.
        """
        r = _Reader()
        if not isinstance(document, dict):
            raise RiskPolicyError([("", "must be a JSON object")])
        known = {
            "format",
            "policy_id",
            "version",
            "description",
            "score",
            "thresholds",
            "scans",
            "benefits",
            "benefit_parties",
            "hard_rules",
            "random_selection",
        }
        for extra in sorted(set(document) - known):
            r.fail(extra, "is not a known member")
        if document.get("format") != POLICY_FORMAT:
            r.fail("format", f"must be {POLICY_FORMAT!r}")
        description = document.get("description", "")
        if not isinstance(description, str) or len(description) > 2000:
            r.fail("description", "must be a string of at most 2000 characters")
            description = ""

        score = r.obj(document, "score", "", {"weights", "hs_chapters", "origins", "routes", "max"})
        weights_doc = r.obj(score, "weights", "score", {"hs_chapter", "origin", "route"})
        weights = {
            k: r.number(weights_doc, k, "score.weights", low=0, high=100)
            for k in ("hs_chapter", "origin", "route")
        }
        hs_default, hs_points = r.points_table(
            score, "hs_chapters", "score", _CHAPTER, "an HS chapter (2 digits)"
        )
        origin_default, origin_points = r.points_table(
            score, "origins", "score", _COUNTRY, "a country code"
        )
        route_default, route_rules = _routes(r, score)
        max_score = r.number(score, "max", "score", low=1, high=_MAX_POINTS)

        th = r.obj(document, "thresholds", "", {"documentary", "non_intrusive", "physical"})
        thresholds = {
            channel: r.number(th, key, "thresholds", low=0, high=_MAX_POINTS, low_open=True)
            for channel, key in (
                (Channel.DOCUMENTARY, "documentary"),
                (Channel.NON_INTRUSIVE, "non_intrusive"),
                (Channel.PHYSICAL, "physical"),
            )
        }
        scans = r.obj(
            document,
            "scans",
            "",
            {"max_age_hours", "clear_factor", "inconclusive_points", "resolved_alarm_points"},
        )
        benefits = _benefits(r, document)
        parties = document.get("benefit_parties")
        if (
            not isinstance(parties, list)
            or not parties
            or any(p not in PARTY_ROLES for p in parties)
            or len(set(parties)) != len(parties)
        ):
            r.fail("benefit_parties", f"must list one or more of {', '.join(PARTY_ROLES)}, once")
            parties = []
        hard = r.obj(document, "hard_rules", "", {"watch_list_channel", "image_alarm_channel"})
        heavy = (Channel.NON_INTRUSIVE, Channel.PHYSICAL)
        rnd = r.obj(document, "random_selection", "", {"rate", "floor", "channel"})
        points: dict[str, Any] = {"low": 0.0, "high": _MAX_POINTS}
        fraction: dict[str, Any] = {"low": 0.0, "high": 1.0, "low_open": True}
        values = {
            "scan_max_age_hours": r.number(
                scans, "max_age_hours", "scans", low=0, high=8760, low_open=True
            ),
            "scan_clear_factor": r.number(scans, "clear_factor", "scans", **fraction),
            "inconclusive_points": r.number(scans, "inconclusive_points", "scans", **points),
            "resolved_alarm_points": r.number(scans, "resolved_alarm_points", "scans", **points),
            "watch_list_channel": r.channel(hard, "watch_list_channel", "hard_rules", heavy),
            "image_alarm_channel": r.channel(hard, "image_alarm_channel", "hard_rules", heavy),
            "random_rate": r.number(rnd, "rate", "random_selection", **fraction),
            "random_floor": r.number(rnd, "floor", "random_selection", **fraction),
            "random_channel": r.channel(rnd, "channel", "random_selection", tuple(Channel)[1:]),
        }
        policy_id, version = r.token(document, "policy_id"), r.token(document, "version")
        if r.problems:
            raise RiskPolicyError(sorted(r.problems))
        try:
            digest = hashlib.sha256(canonicalize(document)).hexdigest()
        except MalformedInputError as e:
            raise RiskPolicyError([("", e.message)]) from e
        return cls(
            policy_id=policy_id,
            version=version,
            description=description,
            weights=MappingProxyType(weights),
            hs_default=hs_default,
            hs_points=MappingProxyType(hs_points),
            origin_default=origin_default,
            origin_points=MappingProxyType(origin_points),
            route_default=route_default,
            route_rules=route_rules,
            max_score=max_score,
            thresholds=MappingProxyType(thresholds),
            benefits=MappingProxyType(benefits),
            benefit_parties=frozenset(str(p) for p in parties),
            sha256=digest,
            _document=copy.deepcopy(document),
            **values,  # type: ignore[arg-type]
        )


def _routes(r: _Reader, score: Mapping[str, Any]) -> tuple[float, tuple[RouteRule, ...]]:
    table = r.obj(score, "routes", "score", {"default", "rules"})
    default = r.number(table, "default", "score.routes", low=0, high=_MAX_POINTS)
    rules_doc = table.get("rules", [])
    if not isinstance(rules_doc, list) or len(rules_doc) > 1000:
        r.fail("score.routes.rules", "must be an array of at most 1000 rules")
        return default, ()
    rules = []
    for i, rule in enumerate(rules_doc):
        where = f"score.routes.rules[{i}]"
        if not isinstance(rule, dict):
            r.fail(where, "must be an object")
            continue
        for extra in sorted(set(rule) - {"loading", "discharge", "points"}):
            r.fail(f"{where}.{extra}", "is not a known member")
        ends = []
        for end in ("loading", "discharge"):
            port = rule.get(end, "*")
            if not isinstance(port, str) or (port != "*" and unlocode_issue(port) is not None):
                r.fail(f"{where}.{end}", "must be a UN/LOCODE or '*'")
                port = "*"
            ends.append(port)
        if ends == ["*", "*"]:
            r.fail(where, "must name a port of loading or of discharge (use routes.default)")
        points = r.number(rule, "points", where, low=0, high=_MAX_POINTS)
        rules.append(RouteRule(ends[0], ends[1], points))
    return default, tuple(rules)


def _benefits(r: _Reader, document: Mapping[str, Any]) -> dict[str, BenefitEffect]:
    table = document.get("benefits")
    if not isinstance(table, dict):
        r.fail("benefits", "is required and must be an object")
        return {}
    out = {}
    for code in sorted(table):
        where = f"benefits.{code}"
        if not _BENEFIT_CODE.match(code):
            r.fail(where, "is not a benefit code (lower-case letters, digits and '-')")
            continue
        effect = table[code]
        if not isinstance(effect, dict):
            r.fail(where, "must be an object")
            continue
        for extra in sorted(set(effect) - {"score_factor", "random_factor", "documentary_offset"}):
            r.fail(f"{where}.{extra}", "is not a known member")
        fraction: dict[str, Any] = {"low": 0.0, "high": 1.0, "low_open": True, "default": 1.0}
        out[code] = BenefitEffect(
            score_factor=r.number(effect, "score_factor", where, **fraction),
            random_factor=r.number(effect, "random_factor", where, **fraction),
            documentary_offset=r.number(
                effect, "documentary_offset", where, low=0, high=_MAX_POINTS, default=0.0
            ),
        )
    return out
