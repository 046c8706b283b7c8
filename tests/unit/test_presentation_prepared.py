"""Credentials inside presentations, prepared once per parsed value (issue 9 speed).

The port node keeps the static phase of each credential it has seen inside a presentation
(``prepared_cache``), keyed by the parsed value written out as it is. These tests pin what
that key must tell apart and what it must not keep.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_pipeline import NOW, US_BASE, snapshot
from test_presentation import CHALLENGE, SPENT, aeo, signed_vp, unsigned_vp

from credentials.model import PRESENTATION_CONTEXT, VC_V2_CONTEXT, VerifiablePresentation
from credentials.prepared import PreparedCache
from registry.pipeline import PreparedForSnapshot
from registry.presentation import _value_bytes, verify_presentation_with_snapshot


def _verify(vp: dict[str, Any], cache: PreparedCache[PreparedForSnapshot]) -> dict[str, Any]:
    outcome = verify_presentation_with_snapshot(
        vp, snapshot(), now=NOW, challenge=CHALLENGE, domain=US_BASE, prepared_cache=cache
    )
    return outcome.with_challenge(SPENT).to_dict()


def test_an_integer_and_a_float_of_the_same_value_are_different_keys() -> None:
    # JCS writes both as 1, but a data model rule may accept one type and refuse the other.
    assert _value_bytes({"n": 1}) != _value_bytes({"n": 1.0})
    assert _value_bytes({"a": 1, "b": 2}) != _value_bytes({"b": 2, "a": 1})


def test_what_orjson_cannot_write_is_prepared_without_the_cache() -> None:
    assert _value_bytes({"n": 2**70}) is None
    assert _value_bytes({"s": "\ud800"}) is None
    cache: PreparedCache[PreparedForSnapshot] = PreparedCache()
    credential = aeo()
    credential["credentialSubject"]["n"] = 2**70  # after signing: that credential fails
    body = _verify(signed_vp(unsigned_vp([credential])), cache)
    assert len(cache) == 0 and cache.misses == 0
    assert body["credentialResults"][0]["verified"] is False
    assert body["benefits"] == []


def test_a_credential_changed_after_a_verified_one_is_not_served_from_the_cache() -> None:
    cache: PreparedCache[PreparedForSnapshot] = PreparedCache()
    good = aeo()
    first = _verify(signed_vp(unsigned_vp([good])), cache)
    assert first["verified"] is True and first["benefits"] == ["reduced-examination"]
    assert (len(cache), cache.hits) == (1, 0)
    again = _verify(signed_vp(unsigned_vp([copy.deepcopy(good)])), cache)
    assert again == first and cache.hits == 1
    bad = copy.deepcopy(good)
    bad["credentialSubject"]["level"] = "AEOS"  # the holder edits it and signs the VP
    refused = _verify(signed_vp(unsigned_vp([bad])), cache)
    assert refused["verified"] is False and refused["benefits"] == []
    assert refused["credentialResults"][0]["verified"] is False
    assert (len(cache), cache.hits) == (2, 1)


# -- the holder's proof over a presentation known to be plain JSON ------------------------------


def test_a_plain_presentation_is_known_plain_and_verifies() -> None:
    vp = signed_vp(unsigned_vp([aeo(number=1), aeo(number=2)]))
    assert VerifiablePresentation.from_dict(vp).envelope_plain_json is True
    body = _verify(vp, PreparedCache())
    assert body["verified"] is True and body["benefits"] == ["reduced-examination"]


@pytest.mark.parametrize("cached", [False, True], ids=["cold", "cached"])
def test_floats_anywhere_take_the_reference_canonicalization(cached: bool) -> None:
    # A float in the envelope (inside a JSON literal) or inside a credential: RFC 8785 writes
    # 1.0 as 1 and orjson as 1.0, so a wrong "plain" claim would fail the holder's proof.
    cache: PreparedCache[PreparedForSnapshot] | None = PreparedCache() if cached else None
    in_bundle = unsigned_vp(
        [aeo()],
        **{"@context": [VC_V2_CONTEXT, PRESENTATION_CONTEXT]},
        scanAttestationBundles=[{"type": "ScanAttestationBundle", "reading": 1.0}],
    )
    assert VerifiablePresentation.from_dict(in_bundle).envelope_plain_json is False
    inside = copy.deepcopy(aeo())
    inside["credentialSubject"]["reading"] = 1.0  # an undefined term: that credential fails
    for document in (in_bundle, unsigned_vp([aeo(number=1), inside])):
        outcome = verify_presentation_with_snapshot(
            signed_vp(document),
            snapshot(),
            now=NOW,
            challenge=CHALLENGE,
            domain=US_BASE,
            prepared_cache=cache,
        )
        assert outcome.presentation.check("proof") is not None
        assert outcome.presentation.verified, outcome.presentation.to_dict()
