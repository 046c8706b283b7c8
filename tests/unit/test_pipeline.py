"""The pure verification pipeline over a trust snapshot: each fail-closed rule, one case each.

US verifies credentials issued by its peer EU, under an EU-US agreement that US's own MRA
workflow signed. Every case starts from a snapshot in which the credential verifies with
benefits, changes one thing, and checks that trust is withdrawn with the expected code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credentials.aeo import build_aeo_credential
from credentials.keys import PrivateKey
from credentials.result import CheckStatus
from credentials.signing import sign_credential
from registry.mra import build_mra, countersign_mra, propose_mra, verify_mra
from registry.pipeline import TrustedVerification, verify_with_snapshot
from registry.status_list import (
    BitstringStatusList,
    build_status_list_credential,
    parse_status_list_credential,
)
from registry.trust_snapshot import (
    AgreementState,
    KeyState,
    PeerState,
    SnapshotResolver,
    StatusListState,
    TrustLimits,
    TrustSnapshot,
)

EU = "did:web:eu.customs.example"
US = "did:web:us.customs.example"
EU_BASE = "https://eu.customs.example"
US_BASE = "https://us.customs.example"
EU_KEY1 = PrivateKey.from_seed(bytes([11]) * 32)
EU_KEY2 = PrivateKey.from_seed(bytes([12]) * 32)
US_KEY = PrivateKey.from_seed(bytes([13]) * 32)
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=6)
LIMITS = TrustLimits(
    clock_skew=timedelta(seconds=60),
    did_document_max_age=timedelta(hours=1),
    status_max_age=timedelta(minutes=15),
)
REVOCATION = f"{EU_BASE}/status-lists/revocation-1"
SUSPENSION = f"{EU_BASE}/status-lists/suspension-1"
SUBJECT = {
    "id": "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
    "legalName": "Beispiel Logistik GmbH",
    "identifiers": [{"scheme": "EORI", "value": "DE123456789012345"}],
    "country": "DE",
    "authorisationNumber": "DEAEOF0000012345",
    "programme": "EU-AEO",
    "level": "AEOF",
    "roles": ["exporter", "importer"],
    "reassessmentDate": "2028-06-30T00:00:00Z",
}


def _eu_key(vm: str, key: PrivateKey, **kw: Any) -> KeyState:
    return KeyState(
        vm_id=f"{EU}#{vm}",
        controller=EU,
        multibase=key.public_key.multibase,
        relationships=frozenset({"assertionMethod", "authentication"}),
        **kw,
    )


def _status_entries(index: int = 7) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{url}#{index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose,
            "statusListIndex": str(index),
            "statusListCredential": url,
        }
        for purpose, url in (("revocation", REVOCATION), ("suspension", SUSPENSION))
    ]


def credential(
    *,
    key: PrivateKey = EU_KEY1,
    vm: str = "key-1",
    created: datetime = T0 + timedelta(hours=1),
    status: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    unsigned = build_aeo_credential(
        SUBJECT,
        issuer=EU,
        credential_id="urn:uuid:2d1a6c1e-0000-4000-8000-000000000001",
        valid_from=T0,
        valid_until=T0 + timedelta(days=365),
    )
    unsigned["credentialStatus"] = _status_entries() if status is None else status
    return sign_credential(unsigned, key, verification_method=f"{EU}#{vm}", created=created)


def _status_list(url: str, purpose: str, set_index: int | None = None) -> StatusListState:
    bits = BitstringStatusList(131_072)
    if set_index is not None:
        bits.set(set_index, True)
    doc = build_status_list_credential(
        list_id=url,
        issuer=EU,
        purpose=purpose,
        status_list=bits,
        valid_from=T0,
        valid_until=T0 + timedelta(days=2),
    )
    return StatusListState(
        url=url, issuer=EU, info=parse_status_list_credential(doc), checked_at=NOW
    )


def _agreement(snapshot_resolver: SnapshotResolver) -> AgreementState:
    unsigned = build_mra(
        agreement_id="urn:uuid:6f0c1f52-7a0e-4d2b-9a51-3c2a5e0b0001",
        parties=[EU, US],
        recognitions=[
            {
                "recognisingParty": US,
                "issuingParty": EU,
                "programmes": [{"programme": "EU-AEO", "levels": ["AEOS", "AEOF"]}],
                "credentialTypes": ["AEOCertificate"],
                "roles": ["exporter"],
                "benefits": ["reduced-examination"],
            }
        ],
        effective_from=T0,
        effective_until=T0 + timedelta(days=3650),
        notice_period_days=90,
        proposer=EU,
    )
    proposal = propose_mra(unsigned, EU_KEY1, verification_method=f"{EU}#key-1", created=T0)
    signed = countersign_mra(
        proposal,
        US_KEY,
        verification_method=f"{US}#key-1",
        created=T0,
        resolver=snapshot_resolver,
    )
    mra = verify_mra(signed, resolver=snapshot_resolver, now=T0)
    return AgreementState(
        mra=mra, state="active", termination_effective=None, own_signature_recorded=True
    )


def snapshot(**changes: Any) -> TrustSnapshot:
    eu = PeerState(
        did=EU,
        name="eu",
        base_url=EU_BASE,
        trusted=True,
        untrusted_reason=None,
        keys={
            f"{EU}#key-1": _eu_key("key-1", EU_KEY1),
            f"{EU}#key-2": _eu_key("key-2", EU_KEY2, not_before=T0 + timedelta(hours=2)),
        },
        did_document_fetched_at=NOW - timedelta(minutes=5),
    )
    own = {
        f"{US}#key-1": KeyState(
            vm_id=f"{US}#key-1",
            controller=US,
            multibase=US_KEY.public_key.multibase,
            relationships=frozenset({"assertionMethod", "authentication"}),
            not_before=T0 - timedelta(days=1),
        )
    }
    base = TrustSnapshot(
        own_did=US,
        own_base_url=US_BASE,
        own_keys=own,
        peers={EU: eu},
        agreements=(),
        status_lists={
            REVOCATION: _status_list(REVOCATION, "revocation"),
            SUSPENSION: _status_list(SUSPENSION, "suspension"),
        },
        limits=LIMITS,
    )
    base = dataclasses.replace(base, agreements=(_agreement(SnapshotResolver(base, now=T0)),))
    return dataclasses.replace(base, **changes)


def _peer(**changes: Any) -> dict[str, PeerState]:
    return {EU: dataclasses.replace(snapshot().peers[EU], **changes)}


def codes(outcome: TrustedVerification) -> dict[str, tuple[str, str | None]]:
    return {c.name: (c.status.value, c.code) for c in outcome.result.checks}


def test_baseline_verifies_with_benefits() -> None:
    outcome = verify_with_snapshot(credential(), snapshot(), now=NOW)
    assert outcome.verified, outcome.to_dict()
    assert outcome.benefits == {"reduced-examination"}
    assert [c.name for c in outcome.result.checks] == [
        "data_model",
        "proof",
        "issuer",
        "validity",
        "status",
        "recognition",
    ]
    assert not outcome.historical and not outcome.refetch


def _compromised_key1() -> TrustSnapshot:
    keys = dict(snapshot().peers[EU].keys)
    keys[f"{EU}#key-1"] = dataclasses.replace(
        keys[f"{EU}#key-1"], compromised_since=T0 + timedelta(hours=3)
    )
    return snapshot(peers=_peer(keys=keys))


def _retired_key1() -> TrustSnapshot:
    # Issue 14: key-1 stopped being current at T0 + 2h (key-2 was published).
    keys = dict(snapshot().peers[EU].keys)
    keys[f"{EU}#key-1"] = dataclasses.replace(
        keys[f"{EU}#key-1"], not_after=T0 + timedelta(hours=2)
    )
    return snapshot(peers=_peer(keys=keys))


CASES: list[tuple[str, Callable[[], dict[str, Any]], Callable[[], TrustSnapshot], str, str]] = [
    # Break 1: a proof by a compromised key fails whatever date it claims.
    (
        "compromised-key-backdated-proof",
        lambda: credential(created=T0 + timedelta(hours=1)),
        _compromised_key1,
        "proof",
        "KEY_COMPROMISED",
    ),
    # Break 1: a key introduced by an announcement cannot sign before it existed.
    (
        "key-2-backdated-before-its-announcement",
        lambda: credential(key=EU_KEY2, vm="key-2", created=T0 - timedelta(days=400)),
        snapshot,
        "proof",
        "KEY_NOT_YET_VALID",
    ),
    # Issue 14: a retired key stays listed for what it signed, and signs nothing later.
    (
        "retired-key-signs-after-its-end",
        lambda: credential(created=T0 + timedelta(hours=5)),
        _retired_key1,
        "proof",
        "KEY_RETIRED",
    ),
    (
        "proof-from-the-future",
        lambda: credential(created=NOW + timedelta(hours=1)),
        snapshot,
        "proof",
        "PROOF_NOT_YET_VALID",
    ),
    # Break 5: no status entries, or entries on another node's lists.
    ("no-status-entries", lambda: credential(status=[]), snapshot, "status", "STATUS_REQUIRED"),
    (
        "revocation-entry-only",
        lambda: credential(status=_status_entries()[:1]),
        snapshot,
        "status",
        "STATUS_REQUIRED",
    ),
    (
        "status-list-of-another-node",
        lambda: credential(
            status=[
                {**e, "statusListCredential": e["statusListCredential"].replace("eu.", "jp.")}
                for e in _status_entries()
            ]
        ),
        snapshot,
        "status",
        "STATUS_LIST_FOREIGN",
    ),
    (
        "status-list-outside-the-published-path",
        lambda: credential(
            status=[
                {**e, "statusListCredential": f"{EU_BASE}/admin/{e['statusPurpose']}"}
                for e in _status_entries()
            ]
        ),
        snapshot,
        "status",
        "STATUS_LIST_FOREIGN",
    ),
    (
        "revoked",
        credential,
        lambda: snapshot(
            status_lists={
                REVOCATION: _status_list(REVOCATION, "revocation", set_index=7),
                SUSPENSION: _status_list(SUSPENSION, "suspension"),
            }
        ),
        "status",
        "REVOKED",
    ),
    (
        "stale-status-list",
        credential,
        lambda: snapshot(
            status_lists={
                url: dataclasses.replace(held, checked_at=NOW - timedelta(hours=1))
                for url, held in snapshot().status_lists.items()
            }
        ),
        "status",
        "STATUS_STALE",
    ),
    (
        "list-not-held",
        credential,
        lambda: snapshot(status_lists={}),
        "status",
        "STATUS_UNAVAILABLE",
    ),
    (
        "untrusted-peer",
        credential,
        lambda: snapshot(peers=_peer(trusted=False, untrusted_reason="pin mismatch")),
        "proof",
        "UNRESOLVABLE_VERIFICATION_METHOD",
    ),
    (
        "stale-did-document",
        credential,
        lambda: snapshot(peers=_peer(did_document_fetched_at=NOW - timedelta(hours=2))),
        "proof",
        "UNRESOLVABLE_VERIFICATION_METHOD",
    ),
    # Break 2: an agreement whose own signature no workflow of ours made grants nothing.
    (
        "agreement-not-signed-by-our-workflow",
        credential,
        lambda: snapshot(
            agreements=tuple(
                dataclasses.replace(a, own_signature_recorded=False) for a in snapshot().agreements
            )
        ),
        "recognition",
        "NO_MRA",
    ),
    (
        "agreement-terminated",
        credential,
        lambda: snapshot(
            agreements=tuple(
                dataclasses.replace(a, state="terminated", termination_effective=NOW)
                for a in snapshot().agreements
            )
        ),
        "recognition",
        "MRA_NOT_IN_FORCE",
    ),
]


@pytest.mark.parametrize(
    ("make_vc", "make_snapshot", "check", "code"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_each_break_withdraws_trust(
    make_vc: Callable[[], dict[str, Any]],
    make_snapshot: Callable[[], TrustSnapshot],
    check: str,
    code: str,
) -> None:
    outcome = verify_with_snapshot(make_vc(), make_snapshot(), now=NOW)
    assert not outcome.verified
    assert outcome.benefits == frozenset() and outcome.agreement is None
    assert codes(outcome)[check][1] == code, outcome.to_dict()
    assert codes(outcome)[check][0] in ("fail", "unknown")


def test_what_a_retired_key_signed_before_its_end_still_verifies() -> None:
    # Signed at T0 + 1h, key-1 retired at T0 + 2h: the credential keeps its benefits.
    outcome = verify_with_snapshot(credential(), _retired_key1(), now=NOW)
    assert outcome.verified, outcome.to_dict()
    assert outcome.benefits == {"reduced-examination"}


def test_later_checks_are_not_run_when_the_proof_failed() -> None:
    # Break 7: recognition and status were reported pass on credentials whose proof failed.
    outcome = verify_with_snapshot(credential(), _compromised_key1(), now=NOW)
    found = codes(outcome)
    assert found["proof"] == ("fail", "KEY_COMPROMISED")
    assert found["status"] == ("unknown", "NOT_RUN")
    assert found["recognition"] == ("unknown", "NOT_RUN")
    assert not outcome.refetch


def test_tampered_credential_runs_no_later_check() -> None:
    vc = credential()
    vc["credentialSubject"]["level"] = "AEOS"
    found = codes(verify_with_snapshot(vc, snapshot(), now=NOW))
    assert found["proof"][0] == "fail"
    assert {found["status"][1], found["recognition"][1]} == {"NOT_RUN"}


def test_missing_or_stale_list_is_queued_for_refetch_not_fetched() -> None:
    outcome = verify_with_snapshot(credential(), snapshot(status_lists={}), now=NOW)
    assert outcome.refetch == {REVOCATION, SUSPENSION}
    # A list named by a credential whose proof failed is never fetched.
    tampered = credential()
    tampered["credentialStatus"][0]["statusListCredential"] = f"{EU_BASE}/status-lists/x-1"
    assert not verify_with_snapshot(tampered, snapshot(status_lists={}), now=NOW).refetch


def test_historical_question_never_grants_benefits() -> None:
    # Break 3: 'at' one second before a revocation answered with benefit codes.
    at = NOW - timedelta(seconds=1)
    outcome = verify_with_snapshot(credential(), snapshot(), now=NOW, at=at)
    assert outcome.verified and outcome.historical
    assert outcome.benefits == frozenset() and outcome.agreement is None
    assert outcome.to_dict()["historical"] is True


def test_historical_gap_in_status_history_is_unknown() -> None:
    at = NOW - timedelta(hours=2)  # the held version was confirmed only at NOW
    stale = {
        url: dataclasses.replace(held, checked_at=at - timedelta(hours=1))
        for url, held in snapshot().status_lists.items()
    }
    outcome = verify_with_snapshot(credential(), snapshot(status_lists=stale), now=NOW, at=at)
    assert codes(outcome)["status"] == ("unknown", "STATUS_UNKNOWN_AT_TIME")
    assert not outcome.refetch
    none_held = verify_with_snapshot(credential(), snapshot(status_lists={}), now=NOW, at=at)
    assert codes(none_held)["status"] == ("unknown", "STATUS_UNKNOWN_AT_TIME")


def test_own_credentials_need_own_lists() -> None:
    unsigned = build_aeo_credential(
        SUBJECT,
        issuer=US,
        credential_id="urn:uuid:2d1a6c1e-0000-4000-8000-000000000002",
        valid_from=T0,
        valid_until=T0 + timedelta(days=365),
    )
    unsigned["credentialStatus"] = _status_entries()  # EU's lists, on a US credential
    vc = sign_credential(unsigned, US_KEY, verification_method=f"{US}#key-1", created=T0)
    outcome = verify_with_snapshot(vc, snapshot(), now=NOW)
    assert codes(outcome)["status"] == ("fail", "STATUS_LIST_FOREIGN")
    assert "recognition" not in codes(outcome)  # own credentials are not "recognised"


def test_benefits_require_a_verified_result() -> None:
    result = verify_with_snapshot(credential(), snapshot(status_lists={}), now=NOW).result
    with pytest.raises(ValueError, match="benefits"):
        TrustedVerification(result, benefits=frozenset({"reduced-examination"}))
    assert result.check("status") is not None
    assert result.check("status").status is CheckStatus.UNKNOWN  # type: ignore[union-attr]


def test_recognition_detail_never_claims_benefits_the_result_does_not_grant() -> None:
    # Issue 15: the recognition check read "pass ... benefits: reduced-examination" next to
    # "benefits": [] (status unknown, or a question about the past). The detail names the
    # agreement only; the result's `benefits` alone says what is granted.
    granted = verify_with_snapshot(credential(), snapshot(), now=NOW)
    unknown_status = verify_with_snapshot(credential(), snapshot(status_lists={}), now=NOW)
    historical = verify_with_snapshot(
        credential(), snapshot(), now=NOW, at=NOW - timedelta(seconds=1)
    )
    assert granted.benefits == {"reduced-examination"}
    assert codes(unknown_status)["status"][0] == "unknown"
    for outcome in (granted, unknown_status, historical):
        check = outcome.result.check("recognition")
        assert check is not None and check.status is CheckStatus.PASS
        assert "reduced-examination" not in check.detail
        assert "benefits:" not in check.detail
        assert "granted only when every check passes" in check.detail
        assert outcome.to_dict()["benefits"] == sorted(outcome.benefits)
    assert unknown_status.benefits == frozenset() and historical.benefits == frozenset()
