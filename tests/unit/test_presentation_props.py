"""Property tests of the presentation check (issue 9): change any one field and it fails.

Hypothesis picks one member anywhere in a signed two-credential presentation and changes it
(a string gets a character more, a number grows, a boolean flips, a list loses its last
item, an object loses a member). A change to the presentation's own members (its proof
included) must make the presentation fail; a change inside one credential must make that
credential fail, whatever happens to the rest. Nothing is ever granted for a changed
presentation.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_pipeline import NOW, US_BASE, snapshot
from test_presentation import CHALLENGE, HOLDER, SPENT, aeo, unsigned_vp, verify

from credentials.prepared import PreparedCache
from credentials.signature_cache import SignatureCache
from credentials.signing import sign_presentation
from credentials.strict_json import loads_object
from registry.pipeline import PreparedForSnapshot
from registry.presentation import verify_presentation_with_snapshot

Path = tuple[str | int, ...]

VP = sign_presentation(
    unsigned_vp([aeo(number=1), aeo(number=2)]),
    HOLDER,
    challenge=CHALLENGE,
    domain=US_BASE,
    created=NOW - timedelta(seconds=30),
)


def _paths(value: Any, prefix: Path = ()) -> list[Path]:
    """Every member and item of ``value``, as paths from the root."""
    found: list[Path] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*prefix, index))
            found.extend(_paths(child, (*prefix, index)))
    return found


PATHS = _paths(VP)


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, list):
        return value[:-1] if value else [0]
    if isinstance(value, dict):
        return dict(list(value.items())[:-1]) if value else {"x": 1}
    return "x"


def _mutate(document: dict[str, Any], path: Path) -> dict[str, Any]:
    out = copy.deepcopy(document)
    parent: Any = out
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = _changed(parent[path[-1]])
    return out


def test_the_unchanged_presentation_verifies() -> None:
    outcome = verify(VP).with_challenge(SPENT)
    assert outcome.verified, outcome.to_dict()
    assert outcome.benefits == {"reduced-examination"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS))
def test_any_one_change_fails(path: Path) -> None:
    outcome = verify(_mutate(VP, path))
    if path[0] == "verifiableCredential" and len(path) > 2:
        # Inside credential N: that credential fails (its issuer's proof covers it all).
        index = path[1]
        assert isinstance(index, int)
        assert not outcome.credentials or not outcome.credentials[index].verified, path
    else:
        assert not outcome.presentation.verified, path
    # A changed presentation never grants anything, even with the challenge spent.
    spent = (
        outcome.with_challenge(SPENT)
        if outcome.presentation.check("challenge") is None
        else outcome
    )
    assert not spent.verified, path
    assert spent.benefits == frozenset() or not outcome.presentation.verified, path


# One snapshot, signature cache and prepared-credential cache shared by every example, as a
# node worker shares them between requests: warmed with the unchanged presentation.
SNAPSHOT = snapshot()
SIGNATURES = SignatureCache()
PREPARED: PreparedCache[PreparedForSnapshot] = PreparedCache()


def _cached(document: dict[str, Any]) -> dict[str, Any]:
    outcome = verify_presentation_with_snapshot(
        # Parsed from bytes like a request body: the cache must not depend on the objects.
        loads_object(json.dumps(document).encode()),
        SNAPSHOT,
        now=NOW,
        challenge=CHALLENGE,
        domain=US_BASE,
        signature_cache=SIGNATURES,
        prepared_cache=PREPARED,
    )
    return outcome.with_challenge(SPENT).to_dict()


def test_the_caches_fill_and_hit_for_the_unchanged_presentation() -> None:
    first = _cached(VP)
    hits = PREPARED.hits
    assert _cached(VP) == first and first["verified"] is True
    assert PREPARED.hits == hits + 2  # both credentials inside, prepared once


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS))
def test_any_one_change_gets_the_same_answer_with_warm_caches(path: Path) -> None:
    _cached(VP)  # the unchanged presentation's credentials are held
    changed = _mutate(VP, path)
    fresh = verify(copy.deepcopy(changed)).with_challenge(SPENT).to_dict()
    assert _cached(changed) == fresh, path
