"""The pure presentation check: a trader presents EU credentials at a US port.

US verifies, against the trust snapshot of test_pipeline (EU a trusted peer, an EU-US
agreement granting ``reduced-examination``), a presentation signed by the trader's did:key
for the challenge US issued and US's origin. Every abuse case changes one thing and checks
that the presentation (or that one credential) fails with the expected code, and that
nothing is granted before the node's challenge check passed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from test_pipeline import (
    EU,
    EU_BASE,
    EU_KEY1,
    NOW,
    SUBJECT,
    SUSPENSION,
    T0,
    US_BASE,
    _status_list,
    snapshot,
)

from credentials.aeo import build_aeo_credential
from credentials.data_integrity import ProofOptions, add_proof
from credentials.keys import PrivateKey
from credentials.model import MAX_PRESENTED_CREDENTIALS, VC_V2_CONTEXT
from credentials.result import Check, CheckStatus
from credentials.signing import sign_credential, sign_presentation
from registry.challenges import Challenge, Redemption, challenge_check
from registry.presentation import PresentationVerification, verify_presentation_with_snapshot
from registry.trust_snapshot import TrustSnapshot

HOLDER = PrivateKey.from_seed(bytes([21]) * 32)
OTHER = PrivateKey.from_seed(bytes([22]) * 32)
CHALLENGE = "q3B0X2Nfb25jZV9hdF9yb3R0ZXJkYW1fcG9ydF9vbmx5"
CONSIGNMENT = "6GB123456789000-12345"
PORT = "USLAX"
SPENT = challenge_check(Redemption.REDEEMED, None, consignment=CONSIGNMENT, port=PORT)


def aeo(
    holder: str = HOLDER.public_key.did, number: int = 1, roles: list[str] | None = None
) -> dict[str, Any]:
    subject = {**SUBJECT, "id": holder, "roles": roles or ["exporter", "importer"]}
    unsigned = build_aeo_credential(
        subject,
        issuer=EU,
        credential_id=f"urn:uuid:2d1a6c1e-0000-4000-8000-00000000000{number}",
        valid_from=T0,
        valid_until=T0 + timedelta(days=365),
    )
    unsigned["credentialStatus"] = [
        {
            "id": f"{EU_BASE}/status-lists/{purpose}-1#7",
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose,
            "statusListIndex": "7",
            "statusListCredential": f"{EU_BASE}/status-lists/{purpose}-1",
        }
        for purpose in ("revocation", "suspension")
    ]
    return sign_credential(
        unsigned, EU_KEY1, verification_method=f"{EU}#key-1", created=T0 + timedelta(hours=1)
    )


def unsigned_vp(credentials: list[dict[str, Any]] | None = None, **members: Any) -> dict[str, Any]:
    """A presentation of ``credentials``; a member given as None is left out."""
    vp: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": HOLDER.public_key.did,
        "verifiableCredential": credentials if credentials is not None else [aeo()],
    }
    vp.update(members)
    return {k: v for k, v in vp.items() if v is not None}


def signed_vp(
    vp: dict[str, Any] | None = None,
    *,
    key: PrivateKey = HOLDER,
    challenge: str = CHALLENGE,
    domain: str = US_BASE,
    purpose: str = "authentication",
    verification_method: str | None = None,
) -> dict[str, Any]:
    return add_proof(
        vp if vp is not None else unsigned_vp(),
        key,
        ProofOptions(
            verification_method=verification_method or key.public_key.verification_method_id,
            proof_purpose=purpose,
            created=NOW - timedelta(seconds=30),
            challenge=challenge,
            domain=domain,
        ),
    )


def verify(vp: dict[str, Any], snap: TrustSnapshot | None = None) -> PresentationVerification:
    return verify_presentation_with_snapshot(
        vp, snap or snapshot(), now=NOW, challenge=CHALLENGE, domain=US_BASE
    )


def codes(checks: Any) -> dict[str, tuple[str, str | None]]:
    return {c.name: (c.status.value, c.code) for c in checks}


# -- the baseline -------------------------------------------------------------------------------


def test_baseline_grants_benefits_only_once_the_challenge_is_spent() -> None:
    vp = sign_presentation(
        unsigned_vp(),
        HOLDER,
        challenge=CHALLENGE,
        domain=US_BASE,
        created=NOW - timedelta(seconds=30),
    )
    outcome = verify(vp)
    assert [c.name for c in outcome.presentation.checks] == ["data_model", "proof", "holder"]
    assert outcome.presentation.verified, outcome.to_dict()
    assert outcome.holder == HOLDER.public_key.did
    # Before the node spent the challenge nothing is granted and nothing is "verified".
    assert not outcome.verified and outcome.benefits == frozenset()
    assert outcome.credentials[0].verified and outcome.credentials[0].benefits == frozenset()
    spent = outcome.with_challenge(SPENT)
    assert spent.verified
    assert spent.benefits == {"reduced-examination"}
    assert spent.credentials[0].benefits == {"reduced-examination"}
    assert [c.name for c in spent.credentials[0].result.checks] == [
        "data_model",
        "proof",
        "issuer",
        "validity",
        "status",
        "recognition",
        "holder",
    ]
    body = spent.to_dict()
    assert body["verified"] is True and body["errors"] == []
    assert body["benefits"] == ["reduced-examination"]
    assert body["holder"] == HOLDER.public_key.did
    assert body["credentialResults"][0]["benefits"] == ["reduced-examination"]
    assert [c["name"] for c in body["presentationResult"]["checks"]][-1] == "challenge"


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (Redemption.USED, "CHALLENGE_USED"),
        (Redemption.EXPIRED, "CHALLENGE_EXPIRED"),
        (Redemption.MISMATCH, "CHALLENGE_MISMATCH"),
        (Redemption.UNKNOWN, "CHALLENGE_UNKNOWN"),
    ],
)
def test_a_challenge_that_cannot_be_spent_grants_nothing(state: Redemption, code: str) -> None:
    issued = Challenge(
        value=CHALLENGE,
        consignment="6GB123456789000-99999",
        port=PORT,
        created_at=NOW - timedelta(minutes=20),
        expires_at=NOW - timedelta(minutes=10),
        used_at=NOW - timedelta(minutes=15),
    )
    check = challenge_check(state, issued, consignment=CONSIGNMENT, port=PORT)
    outcome = verify(signed_vp()).with_challenge(check)
    assert codes(outcome.presentation.checks)["challenge"] == ("fail", code)
    assert not outcome.verified and outcome.benefits == frozenset()
    assert all(not c.benefits for c in outcome.credentials)
    assert {"code": code, "check": "challenge"}.items() <= outcome.to_dict()["errors"][0].items()


def test_the_challenge_check_is_added_once_and_benefits_need_it() -> None:
    outcome = verify(signed_vp())
    with pytest.raises(ValueError, match="challenge"):
        outcome.with_challenge(SPENT).with_challenge(SPENT)
    with pytest.raises(ValueError, match="challenge"):
        outcome.with_challenge(Check.passed("proof", "not a challenge check"))
    with pytest.raises(ValueError, match="spent"):
        PresentationVerification(
            outcome.presentation,
            tuple(
                c.__class__(c.result, benefits=frozenset({"reduced-examination"}))
                for c in outcome.credentials
            ),
        )


# -- abuse cases: the presentation ------------------------------------------------------------


def _context_not_first() -> dict[str, Any]:
    vp = unsigned_vp()
    vp["@context"] = ["https://w3id.org/security/data-integrity/v2", VC_V2_CONTEXT]
    return signed_vp(vp)


def _tampered_after_signing() -> dict[str, Any]:
    vp = signed_vp()
    vp["holder"] = OTHER.public_key.did
    return vp


def _two_proofs() -> dict[str, Any]:
    return signed_vp(signed_vp(), key=OTHER)


PRESENTATION_CASES: list[tuple[str, Callable[[], dict[str, Any]], str, str]] = [
    ("wrong-challenge", lambda: signed_vp(challenge=CHALLENGE[::-1]), "proof", "INVALID_CHALLENGE"),
    (
        "wrong-domain",
        lambda: signed_vp(domain="https://jp.customs.example"),
        "proof",
        "INVALID_DOMAIN",
    ),
    (
        "wrong-purpose",
        lambda: signed_vp(purpose="assertionMethod"),
        "proof",
        "INVALID_PROOF_PURPOSE",
    ),
    (
        "signer-is-not-the-holder",
        lambda: signed_vp(unsigned_vp(holder=OTHER.public_key.did)),
        "holder",
        "HOLDER_MISMATCH",
    ),
    (
        "signer-is-not-the-subject",
        lambda: signed_vp(unsigned_vp([aeo(holder=OTHER.public_key.did)])),
        "holder",
        "HOLDER_MISMATCH",
    ),
    (
        "copied-credential-signed-by-its-presenter",
        lambda: signed_vp(unsigned_vp([aeo()], holder=OTHER.public_key.did), key=OTHER),
        "holder",
        "HOLDER_MISMATCH",
    ),
    ("no-holder", lambda: signed_vp(unsigned_vp(holder=None)), "holder", "HOLDER_MISMATCH"),
    ("tampered-after-signing", _tampered_after_signing, "proof", "PROOF_VERIFICATION_ERROR"),
    ("unsigned", unsigned_vp, "proof", "HOLDER_PROOF_REQUIRED"),
    ("two-proofs", _two_proofs, "proof", "HOLDER_PROOF_REQUIRED"),
    (
        "signed-by-a-did-web",
        lambda: signed_vp(verification_method=f"{EU}#key-1", key=EU_KEY1),
        "proof",
        "HOLDER_KEY_UNSUPPORTED",
    ),
    (
        "without-type",
        lambda: signed_vp(unsigned_vp(type=None)),
        "data_model",
        "INVALID_PRESENTATION",
    ),
    (
        "type-without-VerifiablePresentation",
        lambda: signed_vp(unsigned_vp(type=["Presentation"])),
        "data_model",
        "INVALID_PRESENTATION",
    ),
    ("context-not-first", _context_not_first, "data_model", "INVALID_CONTEXT"),
    (
        "no-credential",
        lambda: signed_vp(unsigned_vp(credentials=[])),
        "data_model",
        "INVALID_PRESENTATION",
    ),
    (
        "enveloped-credential",
        lambda: signed_vp(
            unsigned_vp(
                [
                    {
                        "@context": [VC_V2_CONTEXT],
                        "type": "EnvelopedVerifiableCredential",
                        "id": "data:application/vc+jwt,eyJ",
                    }
                ]
            )
        ),
        "data_model",
        "INVALID_PRESENTATION",
    ),
    (
        "too-many-credentials",
        lambda: signed_vp(unsigned_vp([aeo(number=1)] * (MAX_PRESENTED_CREDENTIALS + 1))),
        "data_model",
        "INVALID_PRESENTATION",
    ),
]


@pytest.mark.parametrize(
    ("make", "check", "code"),
    [pytest.param(m, ch, co, id=name) for name, m, ch, co in PRESENTATION_CASES],
)
def test_presentation_abuse_is_refused(
    make: Callable[[], dict[str, Any]], check: str, code: str
) -> None:
    outcome = verify(make()).with_challenge(SPENT)
    checks = codes(outcome.presentation.checks)
    assert checks[check] == ("fail", code), outcome.to_dict()
    assert not outcome.verified
    assert outcome.benefits == frozenset()
    assert all(not c.benefits for c in outcome.credentials)
    assert outcome.holder is None
    # A later check is never "pass" when the proof did not pass.
    if check == "proof":
        assert checks["holder"] == ("unknown", "NOT_RUN")
    # Every refusal says why, in words.
    assert all(e["message"] for e in outcome.to_dict()["errors"])


def test_the_officer_reads_why_a_proof_failed() -> None:
    detail = verify(signed_vp(challenge=CHALLENGE[::-1])).presentation.check("proof")
    assert detail is not None and "another challenge" in detail.detail
    detail = verify(signed_vp(domain="https://jp.customs.example")).presentation.check("proof")
    assert detail is not None and US_BASE in detail.detail


def test_a_copied_credential_fails_on_its_own_holder_check() -> None:
    mine, theirs = aeo(number=1), aeo(holder=OTHER.public_key.did, number=2)
    outcome = verify(signed_vp(unsigned_vp([mine, theirs]))).with_challenge(SPENT)
    assert codes(outcome.credentials[0].result.checks)["holder"] == ("pass", None)
    assert codes(outcome.credentials[1].result.checks)["holder"] == ("fail", "HOLDER_MISMATCH")
    holder = outcome.presentation.check("holder")
    assert holder is not None and "urn:uuid:2d1a6c1e-0000-4000-8000-000000000002" in holder.detail
    # The presentation as a whole proves nothing: no credential grants anything.
    assert outcome.benefits == frozenset()


# -- abuse cases: one credential inside -----------------------------------------------------------


def test_a_tampered_credential_fails_that_credential_only() -> None:
    good, bad = aeo(number=1), aeo(number=2)
    bad = copy.deepcopy(bad)
    bad["credentialSubject"]["level"] = "AEOS"  # the holder edits it, then signs the VP
    outcome = verify(signed_vp(unsigned_vp([good, bad]))).with_challenge(SPENT)
    assert outcome.presentation.verified
    assert codes(outcome.credentials[0].result.checks)["proof"] == ("pass", None)
    assert outcome.credentials[0].benefits == {"reduced-examination"}
    second = codes(outcome.credentials[1].result.checks)
    assert second["proof"] == ("fail", "PROOF_VERIFICATION_ERROR")
    assert second["recognition"] == ("unknown", "NOT_RUN")
    assert outcome.credentials[1].benefits == frozenset()
    assert not outcome.verified  # not every credential verified: 422 at the API
    assert outcome.benefits == {"reduced-examination"}  # what the good credential grants
    errors = outcome.to_dict()["errors"]
    assert errors and all(e["credential"] == 1 for e in errors)


def test_a_suspended_credential_grants_nothing_but_the_presentation_is_used() -> None:
    snap = snapshot(
        status_lists={
            **snapshot().status_lists,
            SUSPENSION: _status_list(SUSPENSION, "suspension", set_index=7),
        }
    )
    outcome = verify(signed_vp(), snap)
    # The presentation itself verified: the node spends the challenge.
    assert outcome.presentation.verified
    spent = outcome.with_challenge(SPENT)
    assert codes(spent.credentials[0].result.checks)["status"][0] == "fail"
    assert spent.benefits == frozenset() and not spent.verified


def test_a_credential_outside_the_agreement_verifies_without_benefits() -> None:
    outcome = verify(signed_vp(unsigned_vp([aeo(roles=["importer"])]))).with_challenge(SPENT)
    assert codes(outcome.credentials[0].result.checks)["recognition"] == (
        "fail",
        "OUT_OF_SCOPE",
    )
    assert outcome.benefits == frozenset() and not outcome.verified


def test_credentials_name_missing_lists_for_refetch() -> None:
    outcome = verify(signed_vp(), snapshot(status_lists={}))
    assert outcome.refetch == {
        f"{EU_BASE}/status-lists/revocation-1",
        f"{EU_BASE}/status-lists/suspension-1",
    }
    assert codes(outcome.credentials[0].result.checks)["status"] == (
        "unknown",
        "STATUS_UNAVAILABLE",
    )


def test_sign_presentation_refuses_what_would_not_verify() -> None:
    with pytest.raises(Exception, match="VerifiablePresentation"):
        sign_presentation(
            unsigned_vp(type=["Presentation"]),
            HOLDER,
            challenge=CHALLENGE,
            domain=US_BASE,
            created=NOW,
        )
    with pytest.raises(Exception, match="challenge and a domain"):
        sign_presentation(unsigned_vp(), HOLDER, challenge="", domain=US_BASE, created=NOW)
    signed = sign_presentation(
        unsigned_vp(), HOLDER, challenge=CHALLENGE, domain=US_BASE, created=NOW
    )
    assert signed["proof"]["proofPurpose"] == "authentication"
    assert signed["proof"]["verificationMethod"] == HOLDER.public_key.verification_method_id
    assert codes(verify(signed).presentation.checks) == {
        "data_model": ("pass", None),
        "proof": ("pass", None),
        "holder": ("pass", None),
    }
    assert CheckStatus.PASS.value == "pass"
