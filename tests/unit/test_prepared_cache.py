"""Re-verifying the same bytes from their prepared form (issue 8), from the attacker's side.

A :class:`~credentials.prepared.PreparedCache` keeps what a credential's bytes decide (parse,
data model, the proofs' static steps and the bytes they sign). Each abuse case first puts the
genuine credential in both caches (prepared form and signature), then changes the world (a
key compromised, a list revoking it, time passing) or the bytes, and checks that the answer
is exactly what a verification from scratch gives: a hit never skips a check that depends on
time or trust, and never vouches for other bytes.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from test_pipeline import (
    EU,
    EU_KEY1,
    NOW,
    REVOCATION,
    SUSPENSION,
    T0,
    _compromised_key1,
    _peer,
    _retired_key1,
    _status_list,
    codes,
    credential,
    snapshot,
)
from test_verification import credential as plain_credential

from credentials.data_integrity import DIDKeyResolver, ProofOptions, add_proof
from credentials.errors import MalformedInputError
from credentials.keys import PrivateKey
from credentials.prepared import PreparedCache, prepare_credential_bytes
from credentials.signature_cache import SignatureCache
from credentials.signing import sign_credential
from credentials.strict_json import loads_object
from credentials.verification import (
    PreparedCredential,
    check_prepared_credential,
    get_credential_verification_result,
    prepare_credential,
)
from registry.pipeline import (
    PreparedForSnapshot,
    TrustedVerification,
    prepare_for_snapshot,
    verify_with_snapshot,
)
from registry.trust_snapshot import TrustSnapshot


def _bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


BODY = _bytes(credential())
Prepared = PreparedCredential | PreparedForSnapshot


def _for_snapshot(data: bytes) -> PreparedForSnapshot:
    return prepare_for_snapshot(loads_object(data))


# The kernel's prepared form alone, and the pipeline's (status entries and recognition facts
# too, as the node keeps them).
PREPARERS = {"kernel": prepare_credential_bytes, "pipeline": _for_snapshot}


def _cached_verify(
    cache: PreparedCache[Any],
    signatures: SignatureCache,
    data: bytes,
    snap: TrustSnapshot,
    kind: str = "pipeline",
    **kw: Any,
) -> TrustedVerification:
    prepared: Prepared = cache.get_or_prepare(data, PREPARERS[kind])
    return verify_with_snapshot(
        prepared.document, snap, signature_cache=signatures, prepared=prepared, **kw
    )


def _fresh(data: bytes, snap: TrustSnapshot, **kw: Any) -> TrustedVerification:
    return verify_with_snapshot(loads_object(data), snap, **kw)


def _primed(kind: str = "pipeline") -> tuple[PreparedCache[Any], SignatureCache]:
    cache: PreparedCache[Any] = PreparedCache()
    signatures = SignatureCache()
    first = _cached_verify(cache, signatures, BODY, snapshot(), kind, now=NOW)
    assert first.verified and first.benefits, first.to_dict()
    assert (cache.misses, cache.hits, signatures.misses) == (1, 0, 1)
    return cache, signatures


def _revoked() -> TrustSnapshot:
    return snapshot(
        status_lists={
            **snapshot().status_lists,
            REVOCATION: _status_list(REVOCATION, "revocation", 7),
        }
    )


def _suspended() -> TrustSnapshot:
    return snapshot(
        status_lists={
            **snapshot().status_lists,
            SUSPENSION: _status_list(SUSPENSION, "suspension", 7),
        }
    )


def _later(**delta: float) -> dict[str, Any]:
    return {"now": NOW + timedelta(**delta)}


# Each case: the world after the first (cached) verification, and the code that must show.
CHANGES: list[tuple[str, Any, dict[str, Any], str | None]] = [
    ("nothing changed", snapshot, {"now": NOW}, None),
    ("key compromised after", _compromised_key1, {"now": NOW}, "KEY_COMPROMISED"),
    (
        "peer no longer trusted",
        lambda: snapshot(peers=_peer(trusted=False, untrusted_reason="x")),
        {"now": NOW},
        "UNRESOLVABLE_VERIFICATION_METHOD",
    ),
    ("revoked after", _revoked, {"now": NOW}, "REVOKED"),
    ("suspended after", _suspended, {"now": NOW}, "SUSPENDED"),
    ("no agreement any more", lambda: snapshot(agreements=()), {"now": NOW}, "NO_MRA"),
    ("expired by time", snapshot, _later(days=400), "EXPIRED"),
    (
        "not yet valid at a past time",
        snapshot,
        {"now": NOW, "at": T0 - timedelta(days=1)},
        "NOT_YET_VALID",
    ),
    ("key retired, signed before", _retired_key1, {"now": NOW}, None),
]


@pytest.mark.parametrize("kind", sorted(PREPARERS))
@pytest.mark.parametrize(
    ("snap", "kw", "code"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES]
)
def test_a_hit_gives_exactly_the_fresh_answer_after_the_world_changed(
    kind: str, snap: Any, kw: dict[str, Any], code: str | None
) -> None:
    cache, signatures = _primed(kind)
    world = snap()
    hit = _cached_verify(cache, signatures, BODY, world, kind, **kw)
    assert cache.hits == 1  # the prepared form came from the cache
    assert hit.to_dict() == _fresh(BODY, world, **kw).to_dict()
    got = {c for _, c in codes(hit).values() if c}
    if code is None:
        assert hit.verified and hit.benefits, hit.to_dict()
    else:
        assert not hit.verified and code in got, hit.to_dict()
        assert not hit.benefits


def test_a_proof_that_expires_is_refused_once_its_time_has_passed() -> None:
    key = PrivateKey.from_seed(bytes([41]) * 32)
    doc = plain_credential(issuer=key.public_key.did)
    signed = add_proof(
        doc,
        key,
        ProofOptions(
            verification_method=key.public_key.verification_method_id,
            created=NOW - timedelta(days=1),
            expires=NOW + timedelta(hours=1),
        ),
    )
    prepared = prepare_credential(signed)
    resolver, signatures = DIDKeyResolver(), SignatureCache()
    before = check_prepared_credential(
        prepared, resolver=resolver, now=NOW, signature_cache=signatures
    )
    after = check_prepared_credential(
        prepared, resolver=resolver, now=NOW + timedelta(hours=2), signature_cache=signatures
    )
    assert before.verified
    assert not after.verified and after.errors[0].code == "PROOF_EXPIRED"
    assert after == get_credential_verification_result(
        signed, resolver=resolver, now=NOW + timedelta(hours=2)
    )
    # created in the future relative to an earlier reference time: refused too.
    early = check_prepared_credential(prepared, resolver=resolver, now=NOW - timedelta(days=2))
    assert not early.verified and "PROOF_NOT_YET_VALID" in {e.code for e in early.errors}


def test_one_changed_byte_is_a_miss_and_a_full_verification() -> None:
    cache, signatures = _primed()
    tampered = BODY.replace(b"Beispiel", b"Beispiek", 1)
    assert tampered != BODY and len(tampered) == len(BODY)
    assert tampered not in cache
    outcome = _cached_verify(cache, signatures, tampered, snapshot(), now=NOW)
    assert (cache.misses, cache.hits) == (2, 0)
    assert not outcome.verified and codes(outcome)["proof"][0] == "fail"
    assert outcome.to_dict() == _fresh(tampered, snapshot(), now=NOW).to_dict()
    # Other bytes with the same meaning are another entry too, and verify on their own merit
    # (the signature cache, keyed by the proof input, may hit: same proof input).
    spaced = BODY + b" "
    assert _cached_verify(cache, signatures, spaced, snapshot(), now=NOW).verified
    assert (cache.misses, len(cache)) == (3, 3)
    assert signatures.hits == 1


def test_a_hostile_flood_of_distinct_bodies_stays_within_both_bounds() -> None:
    cache: PreparedCache[PreparedCredential] = PreparedCache(max_entries=32, max_bytes=20_000)
    signatures = SignatureCache()
    good = _cached_verify(cache, signatures, BODY, snapshot(), now=NOW)
    assert good.verified
    for i in range(1_500):
        # Distinct bodies: cheap failures, genuine credentials with padding, and junk.
        if i % 3 == 0:
            data = _bytes({"@context": ["x"], "n": i})
        elif i % 3 == 1:
            data = b" " * (i % 97) + BODY + b"\n" * (i // 97)
        else:
            data = b"{" + str(i).encode()
        try:
            cache.get_or_prepare(data, prepare_credential_bytes)
        except MalformedInputError:
            pass
        assert len(cache) <= 32 and cache.total_bytes <= 20_000
    # Junk that does not parse is never kept; the genuine body was evicted, and verifies
    # again from scratch (eviction costs time, never correctness).
    assert BODY not in cache
    assert _cached_verify(cache, signatures, BODY, snapshot(), now=NOW).verified
    # A body larger than the byte bound is prepared but never kept.
    big = BODY + b" " * 20_000
    cache.get_or_prepare(big, prepare_credential_bytes)
    assert big not in cache and cache.total_bytes <= 20_000


def test_a_body_that_does_not_parse_is_refused_every_time_and_never_kept() -> None:
    cache: PreparedCache[PreparedCredential] = PreparedCache()
    for _ in range(3):
        with pytest.raises(MalformedInputError):
            cache.get_or_prepare(b'{"a": 1, "a": 2}', prepare_credential_bytes)
    assert (len(cache), cache.misses, cache.hits) == (0, 3, 0)


def test_a_static_failure_is_kept_and_answers_the_same_every_time() -> None:
    cache: PreparedCache[PreparedCredential] = PreparedCache()
    doc = credential()
    doc["proof"]["proofValue"] = "z1"  # decodes to the wrong length
    data = _bytes(doc)
    first = _cached_verify(cache, SignatureCache(), data, snapshot(), "kernel", now=NOW)
    again = _cached_verify(cache, SignatureCache(), data, snapshot(), "kernel", now=NOW)
    assert (cache.misses, cache.hits) == (1, 1)
    assert first.to_dict() == again.to_dict() == _fresh(data, snapshot(), now=NOW).to_dict()
    assert not again.verified
    # The kept error holds no traceback (no frames of the first request kept alive).
    prepared = cache.get_or_prepare(data, prepare_credential_bytes)
    assert prepared.proofs is not None
    error = prepared.proofs.proofs[0].error
    assert error is not None and error.__traceback__ is None


def test_shared_prepared_forms_are_never_changed_by_verifying_or_by_callers() -> None:
    cache, signatures = _primed()
    prepared = cache.get_or_prepare(BODY, _for_snapshot)
    assert isinstance(prepared, PreparedForSnapshot)
    with pytest.raises(AttributeError):
        prepared.status_entries = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        prepared.credential.data_model = prepared.credential.data_model  # type: ignore[misc]
    assert prepared.credential.proofs is not None
    with pytest.raises(AttributeError):
        prepared.credential.proofs.proofs[0].hashed = b"x"  # type: ignore[misc]
    assert isinstance(prepared.status_entries, tuple) and len(prepared.status_entries) == 2
    worlds = [snapshot(), _compromised_key1(), _revoked(), _suspended(), snapshot(agreements=())]
    for world in worlds:
        for kw in ({"now": NOW}, _later(days=400), {"now": NOW, "at": T0}):
            outcome = _cached_verify(cache, signatures, BODY, world, **kw)
            # A caller that scribbles on its answer changes nothing kept.
            body = outcome.to_dict()
            body["verified"] = True
            body["checks"].clear()  # type: ignore[attr-defined]
    # The document the cache holds is still exactly what the bytes say.
    assert prepared.document == loads_object(BODY)
    assert cache.get_or_prepare(BODY, _for_snapshot) is prepared
    assert _cached_verify(cache, signatures, BODY, snapshot(), now=NOW).to_dict() == (
        _fresh(BODY, snapshot(), now=NOW).to_dict()
    )


def test_many_threads_share_both_caches_and_each_gets_the_right_answer() -> None:
    cache: PreparedCache[PreparedCredential] = PreparedCache(max_entries=3)
    signatures = SignatureCache()
    world = snapshot()
    other = _bytes(credential(key=PrivateKey.from_seed(bytes([99]) * 32)))  # not EU's key
    bodies = [BODY, BODY.replace(b"Beispiel", b"Beispiek", 1), BODY + b" ", other, b"{}"]
    expected = [_fresh(b, world, now=NOW).to_dict() for b in bodies]
    assert [e["verified"] for e in expected] == [True, False, True, False, False]
    failures: list[str] = []
    rounds = 150

    def work(offset: int) -> None:
        for i in range(rounds):
            n = (i + offset) % len(bodies)
            got = _cached_verify(cache, signatures, bodies[n], world, now=NOW).to_dict()
            if got != expected[n]:
                failures.append(f"body {n}: {got}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    assert cache.hits + cache.misses == 8 * rounds
    assert len(cache) <= 3
    assert cache.total_bytes == sum(len(b) for b in bodies if b in cache)


def test_the_bounds_are_checked() -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="positive integer"):
            PreparedCache(max_entries=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="positive integer"):
            PreparedCache(max_bytes=bad)  # type: ignore[arg-type]
    cache: PreparedCache[int] = PreparedCache(max_entries=2, max_bytes=10)
    assert (cache.max_entries, cache.max_bytes) == (2, 10)
    assert "text" not in cache  # only bytes are ever keys
    for data in (b"aaaa", b"bbbb", b"cccc"):
        cache.get_or_prepare(data, len)
    assert (len(cache), cache.total_bytes) == (2, 8)
    assert b"aaaa" not in cache and b"cccc" in cache  # least recently used went first
    cache.clear()
    assert (len(cache), cache.total_bytes) == (0, 0)


def test_the_issuer_key_owner_is_still_bound_on_a_hit() -> None:
    # A credential whose issuer does not control the signing key fails the issuer check on
    # the first verification and on every hit.
    doc = credential()
    doc["issuer"] = "did:web:other.example"
    del doc["proof"]
    signed = sign_credential(doc, EU_KEY1, verification_method=f"{EU}#key-1", created=T0)
    cache: PreparedCache[PreparedCredential] = PreparedCache()
    data = _bytes(signed)
    for _ in range(2):
        outcome = _cached_verify(cache, SignatureCache(), data, snapshot(), now=NOW)
        assert not outcome.verified
        assert outcome.to_dict() == _fresh(data, snapshot(), now=NOW).to_dict()
    assert cache.hits == 1


def _not_aeo() -> dict[str, Any]:
    doc = plain_credential(issuer=EU)
    return sign_credential(doc, EU_KEY1, verification_method=f"{EU}#key-1", created=T0)


@pytest.mark.parametrize(
    "document",
    [
        lambda: credential(status=[{"type": "SomethingElse", "statusPurpose": "revocation"}]),
        lambda: credential(status=[]),
        _not_aeo,
    ],
    ids=["malformed status entry", "no status entries", "not an AEO credential"],
)
def test_kept_status_and_recognition_failures_answer_as_fresh(document: Any) -> None:
    data = _bytes(document())
    cache: PreparedCache[Any] = PreparedCache()
    for _ in range(2):
        outcome = _cached_verify(cache, SignatureCache(), data, snapshot(), now=NOW)
        assert not outcome.verified and not outcome.benefits
        assert outcome.to_dict() == _fresh(data, snapshot(), now=NOW).to_dict()
    assert cache.hits == 1
    prepared = cache.get_or_prepare(data, _for_snapshot)
    for kept in (prepared.status_entries, prepared.recognition_facts):
        if isinstance(kept, Exception):
            assert kept.__traceback__ is None
