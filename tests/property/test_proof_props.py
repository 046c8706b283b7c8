"""Property tests: sign-then-verify holds for any JSON document; any single mutation of a
signed document fails verification."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credentials.canonical import canonicalize
from credentials.data_integrity import DIDKeyResolver, ProofOptions, add_proof, get_proof_outcomes
from credentials.keys import PrivateKey

KEY = PrivateKey.from_seed(bytes(range(32)))
VM = KEY.public_key.verification_method_id
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
RESOLVER = DIDKeyResolver()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
documents = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k != "proof"), json_values, max_size=6
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sign(doc: dict[str, Any]) -> dict[str, Any]:
    return add_proof(doc, KEY, ProofOptions(verification_method=VM, created=CREATED))


def verified(doc: dict[str, Any]) -> bool:
    return all(o.verified for o in get_proof_outcomes(doc, resolver=RESOLVER, now=NOW))


@SETTINGS
@given(documents)
def test_sign_then_verify(doc: dict[str, Any]) -> None:
    assert verified(sign(doc))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a member or element (including the proof's members)."""
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((*prefix, k))
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append((*prefix, i))
            out.extend(_paths(v, (*prefix, i)))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


@SETTINGS
@given(documents, st.data())
def test_any_single_mutation_fails(doc: dict[str, Any], data: st.DataObject) -> None:
    signed = sign(doc)
    paths = _paths(signed)
    path = data.draw(st.sampled_from(paths))
    kind = data.draw(st.sampled_from(["replace", "delete", "add-member"]))
    mutated = copy.deepcopy(signed)
    parent = _get(mutated, path[:-1])
    old = parent[path[-1]]
    if kind == "replace":
        new = data.draw(json_values.filter(lambda v: canonicalize([v]) != canonicalize([old])))
        parent[path[-1]] = new
    elif kind == "delete":
        del parent[path[-1]]
    else:
        container = old if isinstance(old, dict) else parent
        if not isinstance(container, dict):
            container = mutated
        name = data.draw(st.text(max_size=6).filter(lambda k: k not in container))
        container[name] = data.draw(json_values)
    assert not verified(mutated)
