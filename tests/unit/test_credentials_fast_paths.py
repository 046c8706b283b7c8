"""Unit tests for the shortcuts on the cold verification path (issue 8).

Each shortcut must give exactly what the step it shortens gives:

* :meth:`VerifiableCredential._checked` builds the instance the constructor builds;
* :func:`check_asserted_proofs` gives the outcomes of :func:`check_prepared_proofs`, or
  for one verified proof its method, calling the resolver once per proof either way;
* the top-byte test in :meth:`PublicKey.verify` refuses every S >= L, on both sides of
  the boundary;
* :func:`prepare_common` answers for the usual credential, and only after the general path
  has seen its names and types.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credentials import jsonld
from credentials.common_shape import prepare_common
from credentials.data_integrity import (
    DEFAULT_CLOCK_SKEW,
    DIDKeyResolver,
    ProofOptions,
    ResolvedVerificationMethod,
    add_proof,
    check_asserted_proofs,
    check_prepared_proofs,
    prepare_proofs,
)
from credentials.datetimes import shift
from credentials.errors import InvalidSignatureError
from credentials.keys import PrivateKey
from credentials.model import VerifiableCredential

KEY = PrivateKey.from_seed(bytes(range(32)))
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
_L = 2**252 + 27742317777372353535851937790883648493


def _credential() -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://ns.trustlane.org/aeo/v1"],
        "id": "urn:uuid:1b2f7c1e-4d3a-4f6b-8e21-6c0d2a9f5b13",
        "type": ["VerifiableCredential", "AEOCertificate"],
        "issuer": KEY.public_key.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:holder", "legalName": "Beispiel GmbH"},
    }


def _signed(document: dict[str, Any], **options: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "verification_method": KEY.public_key.verification_method_id,
        "created": NOW - timedelta(days=1),
    }
    fields.update(options)
    return add_proof(document, KEY, ProofOptions(**fields))


def test_checked_builds_what_the_constructor_builds() -> None:
    document = _credential()
    general = VerifiableCredential.from_dict(document)
    fields = (
        general.document,
        general.contexts,
        general.id,
        general.types,
        general.issuer,
        general.valid_from,
        general.valid_until,
        general.subjects,
        general.plain_json,
    )
    fast = VerifiableCredential._checked(*fields)
    assert fast == general
    assert repr(fast) == repr(general)
    assert fast.plain_json == general.plain_json
    assert vars(fast) == vars(general)
    with pytest.raises(AttributeError):
        fast.issuer = "did:example:other"  # type: ignore[misc]


class CountingResolver:
    """did:key, counting the calls (each proof must be resolved exactly once)."""

    def __init__(self) -> None:
        self.calls = 0
        self.inner = DIDKeyResolver()

    def resolve_verification_method(
        self, vm_id: str, *, at: datetime | None = None
    ) -> ResolvedVerificationMethod:
        self.calls += 1
        return self.inner.resolve_verification_method(vm_id, at=at)


def _outcomes_as_dicts(outcomes: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (
            o.index,
            o.verified,
            o.method,
            type(o.error).__name__,
            getattr(o.error, "code", None),
            getattr(o.error, "message", None),
        )
        for o in outcomes
    ]


@pytest.mark.parametrize(
    "change",
    [
        "none",
        "tampered",
        "purpose",
        "future",
        "expired",
        "unresolvable",
        "two-proofs",
        "no-proof",
        "bad-value",
    ],
)
def test_check_asserted_proofs_matches_check_prepared_proofs(change: str) -> None:
    document = _signed(_credential())
    if change == "tampered":
        document["validFrom"] = "2026-01-02T00:00:00Z"
    elif change == "purpose":
        document = _signed(_credential(), proof_purpose="authentication")
    elif change == "future":
        document = _signed(_credential(), created=NOW + timedelta(hours=1))
    elif change == "expired":
        document = _signed(_credential(), expires=NOW - timedelta(seconds=1))
    elif change == "unresolvable":
        document["proof"]["verificationMethod"] = "https://example.org/keys/1"
    elif change == "two-proofs":
        document = _signed(document)
    elif change == "no-proof":
        del document["proof"]
    elif change == "bad-value":
        document["proof"]["proofValue"] = "z1"
    prepared = prepare_proofs(document)
    latest = shift(NOW, DEFAULT_CLOCK_SKEW)
    fast_resolver, general_resolver = CountingResolver(), CountingResolver()
    fast = check_asserted_proofs(
        prepared,
        resolver=fast_resolver,
        now=NOW,
        clock_skew=DEFAULT_CLOCK_SKEW,
        latest_created=latest,
    )
    general = check_prepared_proofs(
        prepared,
        resolver=general_resolver,
        expected_purpose="assertionMethod",
        now=NOW,
        clock_skew=DEFAULT_CLOCK_SKEW,
    )
    assert fast_resolver.calls == general_resolver.calls
    if isinstance(fast, list):
        assert _outcomes_as_dicts(fast) == _outcomes_as_dicts(general)
        assert not (len(general) == 1 and general[0].verified)
    else:
        assert len(general) == 1 and general[0].verified
        assert fast == general[0].method


@pytest.mark.parametrize(
    "s",
    [
        _L,
        _L + 1,
        _L - 1,
        2**252,
        2**252 - 1,
        2**256 - 1,
        (0x0F << 248) | (2**248 - 1),
        0x10 << 248,
    ],
)
def test_verify_refuses_exactly_the_s_at_or_above_l(s: int) -> None:
    message = b"m" * 64
    signature = KEY.sign(message)
    forged = signature[:32] + s.to_bytes(32, "little")
    with pytest.raises(InvalidSignatureError) as raised:
        KEY.public_key.verify(forged, message)
    # S >= L is refused as malleable; below it, the signature is simply wrong.
    assert ("malleable" in raised.value.message) == (s >= _L)


def test_the_fast_path_answers_once_the_general_path_has_learnt() -> None:
    document = _signed(_credential())
    document["credentialSubject"]["aNameNeverSeenBefore1"] = "x"
    before = copy.deepcopy(document)
    # A member name not yet known to be plain: only the general path may decide it.
    jsonld._PLAIN_KEYS.discard("aNameNeverSeenBefore1")
    assert prepare_common(document) is None
    general = VerifiableCredential.from_dict(document)
    common = prepare_common(document)
    assert common is not None
    assert common[0] == general
    assert common[1] == prepare_proofs(document, plain=True)
    assert document == before
