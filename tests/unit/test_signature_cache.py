"""The signature cache: a hit skips only the Ed25519 check, and never vouches for other bytes.

Issue 8: re-verifying a credential already verified takes the signature result from a cache
keyed by a digest of the exact proof input; status, recognition and validity are checked
every time; the cache is bounded and emptied of a key on rotation or compromise. Each abuse
case below first puts the genuine credential's signature in the cache, then changes one
thing and checks that trust is withdrawn all the same.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_node_config import load_error, write
from test_pipeline import (
    EU_KEY1,
    EU_KEY2,
    NOW,
    REVOCATION,
    SUSPENSION,
    T0,
    US_KEY,
    _compromised_key1,
    _peer,
    _retired_key1,
    _status_list,
    codes,
    credential,
    snapshot,
)
from test_presentation import CHALLENGE, aeo, signed_vp, unsigned_vp

from credentials.data_integrity import DIDKeyResolver, ResolvedVerificationMethod
from credentials.errors import InvalidSignatureError, UnresolvableVerificationMethodError
from credentials.keys import PrivateKey
from credentials.result import VerificationResult
from credentials.signature_cache import DEFAULT_MAX_ENTRIES, SignatureCache
from credentials.signing import sign_credential
from credentials.verification import get_credential_verification_result
from federation_config.loader import dump, load
from node.services.trust import _forget_changed_keys
from registry.pipeline import verify_with_snapshot
from registry.presentation import verify_presentation_with_snapshot
from registry.trust_snapshot import TrustSnapshot

KEY = PrivateKey.from_seed(bytes([31]) * 32)
OTHER = PrivateKey.from_seed(bytes([32]) * 32)
MESSAGE = bytes(range(64))


def _cached(vc: dict[str, Any], snap: TrustSnapshot | None = None) -> SignatureCache:
    """A cache holding ``vc``'s signature, put there by a verification that passed."""
    cache = SignatureCache()
    outcome = verify_with_snapshot(vc, snap or snapshot(), now=NOW, signature_cache=cache)
    assert outcome.verified, outcome.to_dict()
    assert (len(cache), cache.misses, cache.hits) == (1, 1, 0)
    return cache


# -- the cache on its own --------------------------------------------------------------------


def test_a_passed_check_is_remembered_and_a_second_check_skips_libsodium() -> None:
    cache = SignatureCache()
    signature = KEY.sign(MESSAGE)
    cache.verify(KEY.public_key, signature, MESSAGE)
    cache.verify(KEY.public_key, signature, MESSAGE)
    assert (cache.misses, cache.hits, len(cache)) == (1, 1, 1)
    assert (KEY.public_key.raw, signature, MESSAGE) in cache


def test_a_failed_check_is_never_remembered() -> None:
    cache = SignatureCache()
    forged = OTHER.sign(MESSAGE)
    for _ in range(3):
        with pytest.raises(InvalidSignatureError):
            cache.verify(KEY.public_key, forged, MESSAGE)
    assert (len(cache), cache.hits, cache.misses) == (0, 0, 3)


@pytest.mark.parametrize(
    "change",
    ["message", "signature", "key", "byte moved from signature to message"],
)
def test_a_cached_check_vouches_for_nothing_else(change: str) -> None:
    cache = SignatureCache()
    signature = KEY.sign(MESSAGE)
    cache.verify(KEY.public_key, signature, MESSAGE)
    key, sig, message = KEY.public_key, signature, MESSAGE
    if change == "message":
        message = MESSAGE[:-1] + b"\x00"
    elif change == "signature":
        sig = signature[:-1] + bytes([signature[-1] ^ 1])
    elif change == "key":
        key = OTHER.public_key
    else:
        # Fixed-length fields: shifting a byte across a boundary is another entry key.
        sig, message = signature[:63] + MESSAGE[:1], signature[63:] + MESSAGE[1:]
    assert (key.raw, sig, message) not in cache
    with pytest.raises(InvalidSignatureError):
        cache.verify(key, sig, message)
    assert (cache.hits, len(cache)) == (0, 1)


def test_entry_keys_differ_for_every_field_and_refuse_odd_lengths() -> None:
    raw, sig = KEY.public_key.raw, KEY.sign(MESSAGE)
    keys = {
        SignatureCache.entry_key(raw, sig, MESSAGE),
        SignatureCache.entry_key(OTHER.public_key.raw, sig, MESSAGE),
        SignatureCache.entry_key(raw, OTHER.sign(MESSAGE), MESSAGE),
        SignatureCache.entry_key(raw, sig, MESSAGE + b"\x00"),
        SignatureCache.entry_key(raw, sig, b""),
    }
    assert len(keys) == 5 and all(len(k) == 32 for k in keys)
    with pytest.raises(ValueError, match="32-byte keys"):
        SignatureCache.entry_key(raw[:31], sig, MESSAGE)
    with pytest.raises(ValueError, match="64-byte signatures"):
        SignatureCache.entry_key(raw, sig + b"\x00", MESSAGE)


def test_a_malformed_signature_is_refused_and_not_cached() -> None:
    cache = SignatureCache()
    sig = KEY.sign(MESSAGE)
    for bad in (sig[:63], sig + b"\x00", b""):
        with pytest.raises(InvalidSignatureError):
            cache.verify(KEY.public_key, bad, MESSAGE)
    # S >= L (a malleated signature) fails too, and is not remembered.
    malleable = sig[:32] + (2**256 - 1).to_bytes(32, "little")
    with pytest.raises(InvalidSignatureError, match="malleable"):
        cache.verify(KEY.public_key, malleable, MESSAGE)
    assert len(cache) == 0


def test_the_bound_holds_and_the_least_recently_used_goes_first() -> None:
    cache = SignatureCache(max_entries=3)
    messages = [bytes([i]) * 64 for i in range(10)]
    signatures = [KEY.sign(m) for m in messages]
    for i in range(3):
        cache.verify(KEY.public_key, signatures[i], messages[i])
    cache.verify(KEY.public_key, signatures[0], messages[0])  # 0 is now the most recent
    for i in range(3, 10):
        cache.verify(KEY.public_key, signatures[i], messages[i])
        assert len(cache) <= 3
    assert len(cache) == 3
    present = [i for i in range(10) if (KEY.public_key.raw, signatures[i], messages[i]) in cache]
    assert present == [7, 8, 9]
    assert cache.max_entries == 3
    assert SignatureCache().max_entries == DEFAULT_MAX_ENTRIES


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10"])
def test_the_bound_must_be_a_positive_integer(bad: Any) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        SignatureCache(max_entries=bad)


def test_forget_key_drops_only_that_keys_entries() -> None:
    cache = SignatureCache()
    for key in (KEY, OTHER):
        for i in range(3):
            message = bytes([i]) * 64
            cache.verify(key.public_key, key.sign(message), message)
    assert cache.count_key(KEY.public_key.raw) == 3
    assert cache.forget_key(KEY.public_key.raw) == 3
    assert (cache.count_key(KEY.public_key.raw), cache.count_key(OTHER.public_key.raw)) == (0, 3)
    assert cache.forget_key(KEY.public_key.raw) == 0
    assert len(cache) == 3
    cache.clear()
    assert len(cache) == 0


def test_threads_share_one_cache_safely() -> None:
    cache = SignatureCache(max_entries=50)
    messages = [bytes([i]) * 64 for i in range(80)]
    signatures = [KEY.sign(m) for m in messages]
    forged = OTHER.sign(messages[0])
    errors: list[str] = []

    def work(offset: int) -> None:
        for round_ in range(3):
            for i in range(80):
                j = (i + offset) % 80
                cache.verify(KEY.public_key, signatures[j], messages[j])
                if i % 20 == round_:
                    try:
                        cache.verify(KEY.public_key, forged, messages[0])
                    except InvalidSignatureError:
                        continue
                    errors.append("a forged signature passed")

    threads = [threading.Thread(target=work, args=(n * 7,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 50
    assert cache.hits + cache.misses == 8 * 3 * (80 + 4)


# -- the trust kernel: only the Ed25519 step comes from the cache ----------------------------


class _SwitchableResolver:
    """did:key resolution that can be told the key was reported compromised."""

    def __init__(self) -> None:
        self.compromised = False

    def resolve_verification_method(self, vm_id: str, *, at: Any = None) -> Any:
        if self.compromised:
            raise UnresolvableVerificationMethodError(f"{vm_id} was reported compromised")
        method: ResolvedVerificationMethod = DIDKeyResolver().resolve_verification_method(vm_id)
        return method


def _status_and_code(result: VerificationResult, name: str) -> tuple[str, str | None]:
    check = result.check(name)
    assert check is not None, name
    return check.status.value, check.code


def _did_key_credential() -> dict[str, Any]:
    unsigned = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": "urn:uuid:7e0c1f52-7a0e-4d2b-9a51-3c2a5e0b0001",
        "type": ["VerifiableCredential"],
        "issuer": KEY.public_key.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2027-01-01T00:00:00Z",
        "credentialSubject": {"id": OTHER.public_key.did, "name": "x"},
    }
    return sign_credential(
        unsigned,
        KEY,
        verification_method=KEY.public_key.verification_method_id,
        created=T0 - timedelta(days=1),
    )


def test_kernel_re_verify_hits_and_gives_the_same_result() -> None:
    vc, resolver, cache = _did_key_credential(), _SwitchableResolver(), SignatureCache()
    first = get_credential_verification_result(
        vc, resolver=resolver, now=NOW, signature_cache=cache
    )
    second = get_credential_verification_result(
        vc, resolver=resolver, now=NOW, signature_cache=cache
    )
    plain = get_credential_verification_result(vc, resolver=resolver, now=NOW)
    assert first.verified and first == second == plain
    assert (cache.misses, cache.hits) == (1, 1)


def test_kernel_key_reported_compromised_after_caching_fails() -> None:
    vc, resolver, cache = _did_key_credential(), _SwitchableResolver(), SignatureCache()
    assert get_credential_verification_result(
        vc, resolver=resolver, now=NOW, signature_cache=cache
    ).verified
    resolver.compromised = True
    result = get_credential_verification_result(
        vc, resolver=resolver, now=NOW, signature_cache=cache
    )
    assert not result.verified
    assert _status_and_code(result, "proof") == ("unknown", "UNRESOLVABLE_VERIFICATION_METHOD")
    assert cache.hits == 0  # resolution refused the key before the cache was asked


def test_kernel_validity_and_proof_options_run_on_every_hit() -> None:
    vc, resolver, cache = _did_key_credential(), _SwitchableResolver(), SignatureCache()
    assert get_credential_verification_result(
        vc, resolver=resolver, now=NOW, signature_cache=cache
    ).verified
    # After validUntil: the cached signature does not keep an expired credential alive.
    later = T0 + timedelta(days=400)
    expired = get_credential_verification_result(
        vc, resolver=resolver, now=later, signature_cache=cache
    )
    assert _status_and_code(expired, "validity") == ("fail", "EXPIRED")
    assert cache.hits == 1
    # A proof dated in the future (relative to ``now``) fails before the cache is asked.
    before = T0 - timedelta(days=2)
    early = get_credential_verification_result(
        vc, resolver=resolver, now=before, signature_cache=cache
    )
    assert _status_and_code(early, "proof") == ("fail", "PROOF_NOT_YET_VALID")
    assert cache.hits == 1


# -- the pipeline: status, recognition, key state and peer trust on every hit ----------------


def test_tampered_credential_with_a_cached_signature_fails() -> None:
    vc = credential()
    cache = _cached(vc)
    for path, value in (
        (("credentialSubject", "level"), "AEOS"),
        (("validUntil",), "2099-01-01T00:00:00Z"),
        (("proof", "created"), "2026-12-01T10:00:01Z"),
        (("credentialStatus", 0, "statusListIndex"), "8"),
    ):
        tampered = copy.deepcopy(vc)
        target: Any = tampered
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        outcome = verify_with_snapshot(tampered, snapshot(), now=NOW, signature_cache=cache)
        assert codes(outcome)["proof"][0] == "fail", (path, outcome.to_dict())
        assert not outcome.benefits
    assert cache.hits == 0 and len(cache) == 1


def test_revoked_after_caching_fails_status() -> None:
    vc = credential()
    cache = _cached(vc)
    revoked = snapshot(
        status_lists={
            REVOCATION: _status_list(REVOCATION, "revocation", set_index=7),
            SUSPENSION: _status_list(SUSPENSION, "suspension"),
        }
    )
    outcome = verify_with_snapshot(vc, revoked, now=NOW, signature_cache=cache)
    assert cache.hits == 1  # the signature came from the cache ...
    assert codes(outcome)["status"] == ("fail", "REVOKED")  # ... and status still decided
    assert not outcome.verified and not outcome.benefits


@pytest.mark.parametrize(
    ("make_snapshot", "code"),
    [
        pytest.param(_compromised_key1, "KEY_COMPROMISED", id="key-compromised"),
        pytest.param(
            lambda: snapshot(peers=_peer(trusted=False, untrusted_reason="distrusted")),
            "UNRESOLVABLE_VERIFICATION_METHOD",
            id="peer-distrusted",
        ),
        pytest.param(lambda: snapshot(peers={}), None, id="peer-removed"),
        pytest.param(lambda: snapshot(agreements=()), None, id="agreement-gone"),
    ],
)
def test_trust_withdrawn_after_caching_withdraws_the_credential(
    make_snapshot: Any, code: str | None
) -> None:
    vc = credential()
    cache = _cached(vc)
    outcome = verify_with_snapshot(vc, make_snapshot(), now=NOW, signature_cache=cache)
    assert not outcome.verified and not outcome.benefits, outcome.to_dict()
    if code is not None:
        assert codes(outcome)["proof"][1] == code, outcome.to_dict()


def test_a_retired_keys_cached_signature_still_obeys_the_retirement_date() -> None:
    # Signed at T0 + 5h by key-1; key-1 retired at T0 + 2h: refused with or without a cache.
    late = credential(created=T0 + timedelta(hours=5))
    cache = _cached(late)
    outcome = verify_with_snapshot(late, _retired_key1(), now=NOW, signature_cache=cache)
    assert codes(outcome)["proof"][1] == "KEY_RETIRED"


def test_presentation_reuses_credential_signatures_but_never_its_own() -> None:
    cache = SignatureCache()
    vp = signed_vp(unsigned_vp([aeo(number=1), aeo(number=2)]))
    for _ in range(3):
        outcome = verify_presentation_with_snapshot(
            vp,
            snapshot(),
            now=NOW,
            challenge=CHALLENGE,
            domain="https://us.customs.example",
            signature_cache=cache,
        )
        assert outcome.presentation.verified and all(c.verified for c in outcome.credentials)
    # Two credential proofs cached once, hit twice each; the holder's proof never cached.
    assert (len(cache), cache.misses, cache.hits) == (2, 2, 4)
    # A credential inside changed: that credential fails (and so does the holder's proof).
    tampered = copy.deepcopy(vp)
    tampered["verifiableCredential"][0]["credentialSubject"]["level"] = "AEOS"
    outcome = verify_presentation_with_snapshot(
        tampered,
        snapshot(),
        now=NOW,
        challenge=CHALLENGE,
        domain="https://us.customs.example",
        signature_cache=cache,
    )
    assert not outcome.presentation.verified
    assert codes(outcome.credentials[0])["proof"][0] == "fail"
    assert codes(outcome.credentials[1])["proof"][0] == "pass"  # the untouched one, cached
    assert not any(c.verified for c in outcome.credentials)  # no holder: nothing counts


# -- the node empties the cache of keys whose state changed ----------------------------------


def _cache_with_every_key() -> SignatureCache:
    cache = SignatureCache()
    for key in (EU_KEY1, EU_KEY2, US_KEY):
        cache.verify(key.public_key, key.sign(MESSAGE), MESSAGE)
    return cache


def _left(cache: SignatureCache) -> set[str]:
    names = {"eu-key-1": EU_KEY1, "eu-key-2": EU_KEY2, "us-key": US_KEY}
    return {
        name
        for name, key in names.items()
        if (key.public_key.raw, key.sign(MESSAGE), MESSAGE) in cache
    }


def _own_key_compromised() -> TrustSnapshot:
    base = snapshot()
    [(vm, key)] = base.own_keys.items()
    return snapshot(own_keys={vm: dataclasses.replace(key, compromised_since=NOW)})


@pytest.mark.parametrize(
    ("make_current", "left"),
    [
        pytest.param(snapshot, {"eu-key-1", "eu-key-2", "us-key"}, id="unchanged"),
        pytest.param(
            lambda: snapshot(peers=_peer(did_document_fetched_at=NOW)),
            {"eu-key-1", "eu-key-2", "us-key"},
            id="document-refetched",
        ),
        pytest.param(_compromised_key1, {"eu-key-2", "us-key"}, id="peer-key-compromised"),
        pytest.param(_retired_key1, {"eu-key-2", "us-key"}, id="peer-key-rotated-out"),
        pytest.param(
            lambda: snapshot(peers=_peer(trusted=False, untrusted_reason="distrusted")),
            {"us-key"},
            id="peer-distrusted",
        ),
        pytest.param(lambda: snapshot(peers={}), {"us-key"}, id="peer-removed"),
        pytest.param(_own_key_compromised, {"eu-key-1", "eu-key-2"}, id="own-key-compromised"),
    ],
)
def test_a_rebuilt_snapshot_forgets_keys_whose_state_changed(
    make_current: Any, left: set[str]
) -> None:
    cache = _cache_with_every_key()
    _forget_changed_keys(cache, snapshot(), make_current())
    assert _left(cache) == left


# -- the bound is a node setting ----------------------------------------------------------


def test_the_bound_is_read_from_limits_and_refused_when_not_positive(tmp_path: Path) -> None:
    assert load(write(tmp_path), {}).signature_cache_entries == DEFAULT_MAX_ENTRIES
    settings = load(write(tmp_path, limits={"signature_cache_entries": 1024}), {})
    assert settings.signature_cache_entries == 1024
    assert "signature_cache_entries = 1024" in dump(settings)
    for bad in (0, -5):
        message = load_error(write(tmp_path, limits={"signature_cache_entries": bad}))
        assert "signature_cache_entries must be positive" in message
    message = load_error(write(tmp_path, limits={"signature_cache_entries": "many"}))
    assert "limits.signature_cache_entries must be int" in message
