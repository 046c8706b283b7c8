"""Mutual recognition agreements: schema, proof set of both parties, termination, recognition."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials.aeo import SchemaValidationError, aeo_subject_schema, build_aeo_credential
from credentials.data_integrity import (
    DIDKeyResolver,
    ProofOptions,
    ResolvedVerificationMethod,
    add_proof,
)
from credentials.errors import (
    InvalidKeyError,
    MalformedInputError,
    UnresolvableVerificationMethodError,
    VerificationError,
)
from credentials.keys import PrivateKey
from credentials.result import CheckStatus
from registry.mra import (
    BENEFIT_CODES,
    MRA_CONTEXT_URL,
    MRA_CREDENTIAL_TYPE,
    MutualRecognitionAgreement,
    build_mra,
    countersign_mra,
    get_mra_signature_status,
    mra_subject_schema,
    propose_mra,
    signer_of,
    validate_mra_subject,
    verify_mra,
)
from registry.mra_recognition import (
    RecognitionFacts,
    RecognitionResult,
    accept_termination_notice,
    aeo_recognition_facts,
    agreement_formed_at,
    build_termination_notice,
    get_recognition_check,
    mra_in_force,
    sign_termination_notice,
    verify_termination_notice,
)

EU_KEY = PrivateKey.from_seed(bytes([1]) * 32)
US_KEY = PrivateKey.from_seed(bytes([2]) * 32)
JP_KEY = PrivateKey.from_seed(bytes([3]) * 32)
STRANGER_KEY = PrivateKey.from_seed(bytes([4]) * 32)
EU, US, JP, STRANGER = (k.public_key.did for k in (EU_KEY, US_KEY, JP_KEY, STRANGER_KEY))
VM = {k.public_key.did: k.public_key.verification_method_id for k in (EU_KEY, US_KEY, JP_KEY)}
VM[STRANGER] = STRANGER_KEY.public_key.verification_method_id
RESOLVER = DIDKeyResolver()

AGREEMENT = "urn:uuid:6f0c1f52-7a0e-4d2b-9a51-3c2a5e0b0001"
SIGNED_AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
EFFECTIVE_FROM = datetime(2027, 1, 1, tzinfo=UTC)
EFFECTIVE_UNTIL = datetime(2032, 1, 1, tzinfo=UTC)
IN_FORCE_AT = datetime(2027, 6, 1, tzinfo=UTC)
ROLES = (
    "exporter",
    "importer",
    "carrier",
    "freight-forwarder",
    "customs-broker",
    "warehouse-keeper",
    "manufacturer",
    "port-operator",
)


def us_recognises_eu(**overrides: Any) -> dict[str, Any]:
    """The US side of the EU-US MRA: EU AEOS/AEOF exporters and manufacturers."""
    direction: dict[str, Any] = {
        "recognisingParty": US,
        "issuingParty": EU,
        "programmes": [{"programme": "EU-AEO", "levels": ["AEOS", "AEOF"]}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["exporter", "manufacturer"],
        "benefits": ["reduced-examination", "priority-processing"],
    }
    return {**direction, **overrides}


def eu_recognises_us(**overrides: Any) -> dict[str, Any]:
    """The EU side: C-TPAT Tier 2 and Tier 3 members."""
    direction: dict[str, Any] = {
        "recognisingParty": EU,
        "issuingParty": US,
        "programmes": [{"programme": "CTPAT", "levels": ["Tier2", "Tier3"]}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["importer", "exporter"],
        "benefits": ["reduced-examination"],
    }
    return {**direction, **overrides}


def mra_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "agreement_id": AGREEMENT,
        "parties": [EU, US],
        "recognitions": [us_recognises_eu(), eu_recognises_us()],
        "effective_from": EFFECTIVE_FROM,
        "effective_until": EFFECTIVE_UNTIL,
        "notice_period_days": 90,
        "proposer": EU,
    }
    return {**args, **overrides}


def propose(unsigned: dict[str, Any], party: str = EU) -> dict[str, Any]:
    key = {EU: EU_KEY, US: US_KEY}[party]
    return propose_mra(unsigned, key, verification_method=VM[party], created=SIGNED_AT)


def countersign(proposed: dict[str, Any], key: PrivateKey = US_KEY, vm: str = VM[US]) -> Any:
    return countersign_mra(
        proposed, key, verification_method=vm, created=SIGNED_AT, resolver=RESOLVER
    )


def signed_mra(**overrides: Any) -> dict[str, Any]:
    return countersign(propose(build_mra(**mra_args(**overrides))))


SIGNED = signed_mra()
MRA = verify_mra(SIGNED, resolver=RESOLVER, now=SIGNED_AT)


# -- build, propose, countersign, verify ------------------------------------------------------


def test_build_propose_countersign_verify_round_trip() -> None:
    unsigned = build_mra(**mra_args())
    assert unsigned["type"] == ["VerifiableCredential", MRA_CREDENTIAL_TYPE]
    assert unsigned["@context"][1] == MRA_CONTEXT_URL
    assert unsigned["issuer"] == EU
    assert (unsigned["validFrom"], unsigned["validUntil"]) == (
        "2027-01-01T00:00:00Z",
        "2032-01-01T00:00:00Z",
    )
    signed = countersign(propose(unsigned))
    proofs = signed["proof"]
    assert [p["id"] for p in proofs] == [f"{AGREEMENT}#proposal", f"{AGREEMENT}#countersignature"]
    assert [signer_of(p["verificationMethod"]) for p in proofs] == [EU, US]
    assert not any("previousProof" in p for p in proofs), "a proof set, not a chain"

    mra = verify_mra(signed, resolver=RESOLVER, now=SIGNED_AT)
    assert (mra.id, mra.parties, mra.proposer) == (AGREEMENT, (EU, US), EU)
    assert (mra.effective_from, mra.effective_until) == (EFFECTIVE_FROM, EFFECTIVE_UNTIL)
    assert mra.notice_period == timedelta(days=90)
    us_side = mra.recognition_for(US, EU)
    assert us_side is not None
    assert us_side.levels_of("EU-AEO") == {"AEOS", "AEOF"}
    assert us_side.levels_of("CTPAT") == frozenset()
    assert us_side.roles == {"exporter", "manufacturer"}
    assert us_side.benefits == {"reduced-examination", "priority-processing"}
    assert mra.recognition_for(EU, JP) is None
    assert mra.document is signed
    # Parsing the stored document gives the same agreement (the document is not compared).
    assert MutualRecognitionAgreement.from_dict(copy.deepcopy(signed)) == mra
    assert hash(MutualRecognitionAgreement.from_dict(signed)) == hash(mra)


def test_signature_status_shows_the_pending_party() -> None:
    unsigned = build_mra(**mra_args())
    proposed = propose(unsigned)
    status = [
        get_mra_signature_status(doc, resolver=RESOLVER, now=SIGNED_AT)
        for doc in (unsigned, proposed, countersign(proposed))
    ]
    assert status == [{EU: False, US: False}, {EU: True, US: False}, {EU: True, US: True}]


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        pytest.param(
            lambda: propose(build_mra(**mra_args())),
            f"signed by 1/2 parties; missing: {US}",
            id="proposal-only",
        ),
        pytest.param(lambda: build_mra(**mra_args()), "0/2 parties", id="unsigned"),
        pytest.param(
            lambda: {**SIGNED, "proof": SIGNED["proof"][1]},
            "missing: " + EU,
            id="proposer-proof-dropped",
        ),
    ],
)
def test_verify_requires_both_parties(make: Callable[[], dict[str, Any]], fragment: str) -> None:
    with pytest.raises(VerificationError) as info:
        verify_mra(make(), resolver=RESOLVER, now=SIGNED_AT)
    assert info.value.code == "MRA_SIGNATURE_MISSING"
    assert fragment in info.value.message


def _tampered_proposal() -> dict[str, Any]:
    proposed = propose(build_mra(**mra_args()))
    proposed["credentialSubject"]["noticePeriodDays"] = 0
    return proposed


@pytest.mark.parametrize(
    ("make", "key", "vm", "error", "code"),
    [
        pytest.param(
            lambda: propose(build_mra(**mra_args())),
            STRANGER_KEY,
            VM[STRANGER],
            MalformedInputError,
            "MRA_WRONG_SIGNER",
            id="third-party-key",
        ),
        pytest.param(
            lambda: propose(build_mra(**mra_args())),
            EU_KEY,
            VM[EU],
            MalformedInputError,
            "MRA_WRONG_SIGNER",
            id="proposer-countersigns-itself",
        ),
        pytest.param(
            lambda: propose(build_mra(**mra_args())),
            STRANGER_KEY,
            VM[US],
            InvalidKeyError,
            "INVALID_KEY",
            id="other-partys-method-with-a-strangers-key",
        ),
        pytest.param(
            lambda: build_mra(**mra_args()),
            US_KEY,
            VM[US],
            VerificationError,
            "MRA_SIGNATURE_MISSING",
            id="nothing-proposed",
        ),
        pytest.param(
            lambda: SIGNED, US_KEY, VM[US], VerificationError, "MRA_ALREADY_SIGNED", id="twice"
        ),
        pytest.param(
            _tampered_proposal,
            US_KEY,
            VM[US],
            VerificationError,
            "MRA_PROOF_INVALID",
            id="tampered-proposal",
        ),
    ],
)
def test_countersign_refuses(
    make: Callable[[], dict[str, Any]],
    key: PrivateKey,
    vm: str,
    error: type[Exception],
    code: str,
) -> None:
    with pytest.raises(error) as info:
        countersign(make(), key, vm)
    assert getattr(info.value, "code", None) == code


@pytest.mark.parametrize(
    ("make", "vm", "code"),
    [
        pytest.param(
            lambda: build_mra(**mra_args()), VM[US], "MRA_WRONG_SIGNER", id="not-proposer"
        ),
        pytest.param(
            lambda: propose(build_mra(**mra_args())), VM[EU], "MRA_ALREADY_SIGNED", id="twice"
        ),
    ],
)
def test_propose_refuses(make: Callable[[], dict[str, Any]], vm: str, code: str) -> None:
    key = EU_KEY if vm == VM[EU] else US_KEY
    with pytest.raises(MalformedInputError) as info:
        propose_mra(make(), key, verification_method=vm, created=SIGNED_AT)
    assert info.value.code == code


def _with_stranger_proof(document: dict[str, Any]) -> dict[str, Any]:
    options = ProofOptions(verification_method=VM[STRANGER], created=SIGNED_AT)
    return add_proof(document, STRANGER_KEY, options)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        pytest.param(
            lambda: _with_stranger_proof(propose(build_mra(**mra_args()))),
            "MRA_UNEXPECTED_SIGNER",
            id="stranger-instead-of-countersigner",
        ),
        pytest.param(
            lambda: _with_stranger_proof(SIGNED), "MRA_UNEXPECTED_SIGNER", id="extra-stranger-proof"
        ),
    ],
)
def test_verify_refuses_strangers(make: Callable[[], dict[str, Any]], code: str) -> None:
    with pytest.raises(VerificationError) as info:
        verify_mra(make(), resolver=RESOLVER, now=SIGNED_AT)
    assert info.value.code == code
    assert STRANGER in info.value.message


def _tamper(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = copy.deepcopy(SIGNED)
    change(document)
    return document


def _extend(doc: dict[str, Any]) -> None:
    doc["validUntil"] = doc["credentialSubject"]["effectiveUntil"] = "2040-01-01T00:00:00Z"


def _flip_signature(doc: dict[str, Any]) -> None:
    value = doc["proof"][1]["proofValue"]
    doc["proof"][1]["proofValue"] = value[:10] + ("2" if value[10] != "2" else "3") + value[11:]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda d: d["credentialSubject"]["recognitions"][0]["benefits"].append(
                "fewer-documentary-checks"
            ),
            id="benefit-added",
        ),
        pytest.param(
            lambda d: d["credentialSubject"]["recognitions"][0]["programmes"][0]["levels"].append(
                "AEOC"
            ),
            id="level-added",
        ),
        pytest.param(
            lambda d: d["credentialSubject"]["recognitions"][0]["roles"].append("importer"),
            id="role-added",
        ),
        pytest.param(
            lambda d: d["credentialSubject"].update(noticePeriodDays=730), id="notice-lengthened"
        ),
        pytest.param(_extend, id="end-date-moved"),
        pytest.param(_flip_signature, id="countersignature-flipped"),
    ],
)
def test_tampering_after_both_signatures_fails_the_proof(
    change: Callable[[dict[str, Any]], None],
) -> None:
    with pytest.raises(VerificationError) as info:
        verify_mra(_tamper(change), resolver=RESOLVER, now=SIGNED_AT)
    assert info.value.code == "MRA_PROOF_INVALID"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        pytest.param(lambda d: d.pop("@context"), "@context", id="not-a-credential"),
        pytest.param(
            lambda d: d.update(type=["VerifiableCredential", "AEOCertificate"]),
            "not a MutualRecognitionAgreement",
            id="wrong-type",
        ),
        pytest.param(
            lambda d: d.update(issuer=JP), "issuer must be one of the parties", id="issuer"
        ),
        pytest.param(
            lambda d: d.update(validFrom="2027-02-01T00:00:00Z"), "validFrom", id="validFrom"
        ),
        pytest.param(lambda d: d.pop("validUntil"), "validUntil", id="validUntil-missing"),
        pytest.param(
            lambda d: d["credentialSubject"].update(noticePeriodDays=-1),
            "/noticePeriodDays",
            id="subject-schema",
        ),
        pytest.param(lambda d: d.update(proof="x"), "proof", id="proof-not-an-object"),
    ],
)
def test_verify_refuses_malformed_agreements(
    change: Callable[[dict[str, Any]], None], fragment: str
) -> None:
    with pytest.raises(VerificationError) as info:
        verify_mra(_tamper(change), resolver=RESOLVER, now=SIGNED_AT)
    assert info.value.code == "MRA_MALFORMED"
    assert fragment in info.value.message
    assert isinstance(info.value.__cause__, MalformedInputError)


class WebResolver:
    """An in-memory did:web resolver: each administration has one key, ``#key-1``."""

    def __init__(self, keys: dict[str, PrivateKey]) -> None:
        self.keys = keys

    def resolve_verification_method(
        self, vm_id: str, *, at: datetime | None = None
    ) -> ResolvedVerificationMethod:
        did, _, fragment = vm_id.partition("#")
        if did not in self.keys or fragment != "key-1":
            raise UnresolvableVerificationMethodError(f"unknown {vm_id}")
        return ResolvedVerificationMethod(
            vm_id, did, self.keys[did].public_key, frozenset({"assertionMethod"})
        )


def test_did_web_parties_round_trip_and_unknown_keys_fail_closed() -> None:
    eu_web, us_web = "did:web:customs.example.eu", "did:web:cbp.example.us"
    resolver = WebResolver({eu_web: EU_KEY, us_web: US_KEY})
    unsigned = build_mra(
        **mra_args(
            parties=[eu_web, us_web],
            proposer=eu_web,
            recognitions=[us_recognises_eu(recognisingParty=us_web, issuingParty=eu_web)],
        )
    )
    proposed = propose_mra(
        unsigned, EU_KEY, verification_method=f"{eu_web}#key-1", created=SIGNED_AT
    )
    signed = countersign_mra(
        proposed,
        US_KEY,
        verification_method=f"{us_web}#key-1",
        created=SIGNED_AT,
        resolver=resolver,
    )
    assert verify_mra(signed, resolver=resolver, now=SIGNED_AT).parties == (eu_web, us_web)
    # The same document checked without the peers' keys: unknown is never valid.
    with pytest.raises(VerificationError) as info:
        verify_mra(signed, resolver=RESOLVER, now=SIGNED_AT)
    assert info.value.code == "MRA_PROOF_INVALID"
    assert "UNRESOLVABLE_VERIFICATION_METHOD" in info.value.message
    assert get_mra_signature_status(signed, resolver=RESOLVER, now=SIGNED_AT) == {
        eu_web: False,
        us_web: False,
    }


# -- the subject schema ----------------------------------------------------------------------


def _rec(index: int, **overrides: Any) -> dict[str, Any]:
    return {"recognitions": [[us_recognises_eu, eu_recognises_us][index](**overrides)]}


SCHEMA_CASES = [
    pytest.param(
        {"parties": [EU, EU]}, "/parties", "must not repeat an item", id="same-party-twice"
    ),
    pytest.param(
        {"parties": [EU]}, "/parties", "must have at least 2 items (got 1)", id="one-party"
    ),
    pytest.param(
        {"parties": ["did:example:123", US], "proposer": US},
        "/parties/0",
        'must be a customs administration\'s DID (did:web or did:key) (got "did:example:123")',
        id="party-not-web-or-key",
    ),
    pytest.param(
        _rec(0, recognisingParty=JP),
        "/recognitions/0/recognisingParty",
        "one of the parties",
        id="recognising-party-not-a-party",
    ),
    pytest.param(
        _rec(0, issuingParty=US),
        "/recognitions/0/issuingParty",
        "must differ",
        id="recognising-itself",
    ),
    pytest.param(
        _rec(0, benefits=["reduced-examination", "free-pass"]),
        "/recognitions/0/benefits/1",
        "must be one of reduced-examination, priority-processing, fewer-documentary-checks, "
        'origin-scan-recognised, business-continuity (got "free-pass")',
        id="unknown-benefit",
    ),
    pytest.param(
        _rec(0, programmes=[{"programme": "EU-AEO", "levels": ["AEOF", "Tier2"]}]),
        "/recognitions/0/programmes/0/levels/1",
        'must be one of AEOC, AEOS, AEOF (got "Tier2")',
        id="ctpat-level-under-eu-aeo",
    ),
    pytest.param(
        _rec(1, programmes=[{"programme": "CTPAT", "levels": ["AEOS"]}]),
        "/recognitions/0/programmes/0/levels/0",
        'must be one of Tier1, Tier2, Tier3 (got "AEOS")',
        id="eu-level-under-ctpat",
    ),
    pytest.param(
        _rec(0, programmes=[{"programme": "EU", "levels": ["AEOS"]}]),
        "/recognitions/0/programmes/0/programme",
        "must be CTPAT, or a national or regional AEO programme",
        id="bad-programme",
    ),
    pytest.param(
        _rec(
            0,
            programmes=[
                {"programme": "EU-AEO", "levels": ["AEOS"]},
                {"programme": "EU-AEO", "levels": ["AEOF"]},
            ],
        ),
        "/recognitions/0/programmes/1/programme",
        "repeats 'EU-AEO'",
        id="programme-twice",
    ),
    pytest.param(
        _rec(0, roles=["exporter", "smuggler"]),
        "/recognitions/0/roles/1",
        '(got "smuggler")',
        id="unknown-role",
    ),
    pytest.param(
        _rec(0, credentialTypes=["VerifiableCredential"]),
        "/recognitions/0/credentialTypes/0",
        'must not be "VerifiableCredential"',
        id="base-type-as-covered-type",
    ),
    pytest.param(
        _rec(0, extra=True),
        "/recognitions/0/extra",
        "is not an allowed property",
        id="extra-member",
    ),
    pytest.param({"notice_period_days": 731}, "/noticePeriodDays", "maximum", id="notice-731"),
    pytest.param({"notice_period_days": -1}, "/noticePeriodDays", "minimum", id="notice-negative"),
    pytest.param(
        {"notice_period_days": "90"}, "/noticePeriodDays", "not of type", id="notice-string"
    ),
    pytest.param(
        {"recognitions": []},
        "/recognitions",
        "must have at least 1 item (got 0)",
        id="no-recognition",
    ),
    pytest.param(
        {"recognitions": [us_recognises_eu(), eu_recognises_us(), us_recognises_eu()]},
        "/recognitions",
        "must have at most 2 items (got 3)",
        id="three-recognitions",
    ),
    pytest.param(
        {"recognitions": [us_recognises_eu(), us_recognises_eu(benefits=["business-continuity"])]},
        "/recognitions/1",
        "repeats the direction",
        id="direction-twice",
    ),
    pytest.param(
        {"agreement_id": AGREEMENT + "\n"}, "/id", "control characters", id="id-trailing-newline"
    ),
    pytest.param({"agreement_id": AGREEMENT + "#x"}, "/id", "without a fragment", id="id-fragment"),
    pytest.param(
        {"effective_until": EFFECTIVE_FROM},
        "/effectiveUntil",
        "after effectiveFrom",
        id="ends-when-it-starts",
    ),
]


@pytest.mark.parametrize(("overrides", "path", "fragment"), SCHEMA_CASES)
def test_build_refuses_invalid_subjects(
    overrides: dict[str, Any], path: str, fragment: str
) -> None:
    with pytest.raises(SchemaValidationError) as info:
        build_mra(**mra_args(**overrides))
    messages = [e["message"] for e in info.value.errors if e["path"] == path]
    assert any(fragment in m for m in messages), info.value.errors


def test_every_violation_is_reported_at_once() -> None:
    subject = build_mra(**mra_args())["credentialSubject"]
    subject["recognitions"][0]["benefits"] = ["free-pass"]
    subject["noticePeriodDays"] = 1000
    del subject["recognitions"][1]["roles"]
    subject["effectiveFrom"] = "2027-02-30T00:00:00Z"
    with pytest.raises(SchemaValidationError) as info:
        validate_mra_subject(subject)
    assert [e["path"] for e in info.value.errors] == [
        "/effectiveFrom",
        "/noticePeriodDays",
        "/recognitions/0/benefits/0",
        "/recognitions/1/roles",
    ]
    assert info.value.errors[0]["message"].startswith("must be a valid date and time")
    assert info.value.errors[3]["message"] == "is required"


@pytest.mark.parametrize(
    ("overrides", "error", "code"),
    [
        pytest.param(
            {"proposer": JP}, MalformedInputError, "INVALID_ISSUER", id="proposer-not-party"
        ),
        pytest.param(
            {"effective_from": datetime(2027, 1, 1)}, ValueError, None, id="naive-effective-from"
        ),
    ],
)
def test_build_refuses(overrides: dict[str, Any], error: type[Exception], code: str | None) -> None:
    with pytest.raises(error) as info:
        build_mra(**mra_args(**overrides))
    assert getattr(info.value, "code", None) == code


def test_one_way_agreement_without_end_date_builds() -> None:
    unsigned = build_mra(**mra_args(recognitions=[us_recognises_eu()], effective_until=None))
    assert "validUntil" not in unsigned
    assert "effectiveUntil" not in unsigned["credentialSubject"]
    mra = MutualRecognitionAgreement.from_dict(unsigned)
    assert (mra.effective_until, len(mra.recognitions)) == (None, 1)


def test_schema_reuses_the_aeo_vocabulary() -> None:
    schema = mra_subject_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    aeo = aeo_subject_schema()
    recognition = schema["$defs"]["recognition"]["properties"]
    assert recognition["roles"]["items"]["enum"] == aeo["properties"]["roles"]["items"]["enum"]
    assert set(recognition["benefits"]["items"]["enum"]) == BENEFIT_CODES
    scope = schema["$defs"]["programmeScope"]
    assert scope["properties"]["programme"]["pattern"] == aeo["properties"]["programme"]["pattern"]
    assert (
        scope["properties"]["levels"]["items"]["pattern"] == aeo["properties"]["level"]["pattern"]
    )
    mra_levels = {
        rule["if"]["properties"]["programme"]["const"]: rule["then"]["properties"]["levels"][
            "items"
        ]["enum"]
        for rule in scope["allOf"]
    }
    aeo_levels = {
        rule["if"]["properties"]["programme"]["const"]: rule["then"]["properties"]["level"]["enum"]
        for rule in aeo["allOf"]
    }
    assert mra_levels == aeo_levels
    schema["title"] = "changed"
    assert mra_subject_schema()["title"] != "changed", "a fresh copy each time"


# -- in force and termination ----------------------------------------------------------------

TERMINATED = datetime(2028, 3, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("at", "termination", "in_force", "reason"),
    [
        pytest.param(EFFECTIVE_FROM - SECOND, None, False, "not yet in force", id="before-start"),
        pytest.param(EFFECTIVE_FROM, None, True, "in force since", id="at-start"),
        pytest.param(EFFECTIVE_UNTIL - SECOND, None, True, "in force", id="just-before-end"),
        pytest.param(EFFECTIVE_UNTIL, None, False, "ended at 2032-01-01", id="at-end"),
        pytest.param(EFFECTIVE_UNTIL + SECOND, None, False, "ended", id="after-end"),
        pytest.param(TERMINATED - SECOND, TERMINATED, True, "in force", id="before-termination"),
        pytest.param(TERMINATED, TERMINATED, False, "terminated with effect", id="at-termination"),
    ],
)
def test_in_force(at: datetime, termination: datetime | None, in_force: bool, reason: str) -> None:
    status = mra_in_force(MRA, at=at, termination_effective=termination)
    assert (bool(status), status.in_force) == (in_force, in_force)
    assert reason in status.reason


def test_in_force_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        mra_in_force(MRA, at=datetime(2027, 6, 1))


NOTICE_AT = datetime(2027, 12, 1, 9, 30, tzinfo=UTC)


def notice(party: str = US, key: PrivateKey = US_KEY, agreement: str = AGREEMENT) -> dict[str, Any]:
    unsigned = build_termination_notice(
        agreement_id=agreement, terminating_party=party, notice_given_at=NOTICE_AT
    )
    options = ProofOptions(
        verification_method=key.public_key.verification_method_id, created=NOTICE_AT
    )
    return add_proof(unsigned, key, options)


def test_termination_takes_effect_after_the_notice_period() -> None:
    unsigned = build_termination_notice(
        agreement_id=AGREEMENT, terminating_party=US, notice_given_at=NOTICE_AT
    )
    assert unsigned["credentialSubject"] == {
        "id": AGREEMENT,
        "terminatingParty": US,
        "noticeGivenAt": "2027-12-01T09:30:00Z",
    }
    signed = sign_termination_notice(
        unsigned, US_KEY, verification_method=VM[US], created=NOTICE_AT
    )
    effective = verify_termination_notice(signed, MRA, resolver=RESOLVER, now=NOTICE_AT)
    assert effective == NOTICE_AT + timedelta(days=90) == datetime(2028, 2, 29, 9, 30, tzinfo=UTC)
    assert mra_in_force(MRA, at=effective - SECOND, termination_effective=effective)
    assert not mra_in_force(MRA, at=effective, termination_effective=effective)


def _backdated() -> dict[str, Any]:
    unsigned = build_termination_notice(
        agreement_id=AGREEMENT, terminating_party=US, notice_given_at=NOTICE_AT - timedelta(days=60)
    )
    options = ProofOptions(verification_method=VM[US], created=NOTICE_AT)
    return add_proof(unsigned, US_KEY, options)


def _retimed() -> dict[str, Any]:
    document = notice()
    document["validFrom"] = document["credentialSubject"]["noticeGivenAt"] = "2027-09-01T00:00:00Z"
    return document


def _no_created() -> dict[str, Any]:
    unsigned = build_termination_notice(
        agreement_id=AGREEMENT, terminating_party=US, notice_given_at=NOTICE_AT
    )
    return add_proof(unsigned, US_KEY, ProofOptions(verification_method=VM[US]))


@pytest.mark.parametrize(
    ("make", "code"),
    [
        pytest.param(lambda: notice(STRANGER, STRANGER_KEY), "MRA_NOT_A_PARTY", id="non-party"),
        pytest.param(lambda: notice(JP, JP_KEY), "MRA_NOT_A_PARTY", id="party-of-another-mra"),
        pytest.param(
            lambda: notice(agreement="urn:uuid:00000000-0000-4000-8000-000000000000"),
            "MRA_NOTICE_MISMATCH",
            id="another-agreement",
        ),
        pytest.param(
            lambda: notice(US, EU_KEY), "MRA_UNEXPECTED_SIGNER", id="signed-by-other-party"
        ),
        pytest.param(
            lambda: build_termination_notice(
                agreement_id=AGREEMENT, terminating_party=US, notice_given_at=NOTICE_AT
            ),
            "MRA_SIGNATURE_MISSING",
            id="unsigned",
        ),
        pytest.param(_retimed, "MRA_PROOF_INVALID", id="notice-date-tampered"),
        pytest.param(_backdated, "MRA_NOTICE_BACKDATED", id="backdated"),
        pytest.param(_no_created, "MRA_NOTICE_BACKDATED", id="proof-without-created"),
        pytest.param(lambda: SIGNED, "MRA_NOTICE_MALFORMED", id="an-mra-is-not-a-notice"),
    ],
)
def test_termination_notice_refused(make: Callable[[], dict[str, Any]], code: str) -> None:
    with pytest.raises(VerificationError) as info:
        verify_termination_notice(make(), MRA, resolver=RESOLVER, now=NOTICE_AT)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        pytest.param({"verification_method": VM[EU]}, "MRA_WRONG_SIGNER", id="other-party"),
        pytest.param(
            {"created": NOTICE_AT + timedelta(days=1)}, "MRA_NOTICE_BACKDATED", id="backdated"
        ),
    ],
)
def test_sign_termination_notice_refuses(kwargs: dict[str, Any], code: str) -> None:
    unsigned = build_termination_notice(
        agreement_id=AGREEMENT, terminating_party=US, notice_given_at=NOTICE_AT
    )
    args = {"verification_method": VM[US], "created": NOTICE_AT, **kwargs}
    key = EU_KEY if args["verification_method"] == VM[EU] else US_KEY
    with pytest.raises(MalformedInputError) as info:
        sign_termination_notice(unsigned, key, **args)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        pytest.param({"agreement_id": AGREEMENT + "#x"}, "agreement id", id="fragment"),
        pytest.param({"terminating_party": "did:example:1"}, "did:web or did:key", id="party"),
        pytest.param({"agreement_id": "not a url"}, "URL", id="not-a-url"),
    ],
)
def test_build_termination_notice_refuses(kwargs: dict[str, Any], fragment: str) -> None:
    args = {"agreement_id": AGREEMENT, "terminating_party": US, "notice_given_at": NOTICE_AT}
    with pytest.raises(MalformedInputError, match=fragment):
        build_termination_notice(**{**args, **kwargs})


# -- recognition -----------------------------------------------------------------------------

ONE_WAY = verify_mra(
    signed_mra(
        agreement_id="urn:uuid:6f0c1f52-7a0e-4d2b-9a51-3c2a5e0b0002",
        recognitions=[us_recognises_eu()],
    ),
    resolver=RESOLVER,
    now=SIGNED_AT,
)
AEO = ("VerifiableCredential", "AEOCertificate")
EU_US_BENEFITS = frozenset({"reduced-examination", "priority-processing"})


def facts(
    programme: str | None = "EU-AEO",
    level: str | None = "AEOF",
    roles: tuple[str, ...] = ("exporter",),
    types: tuple[str, ...] = AEO,
) -> dict[str, Any]:
    return {"credential_types": types, "programme": programme, "level": level, "roles": roles}


def case(
    name: str,
    recogniser: str,
    issuer: str,
    credential: dict[str, Any],
    expect: str,
    *fragments: str,
    at: datetime = IN_FORCE_AT,
    terminated: datetime | None = None,
) -> Any:
    """One row of the matrix; ``expect`` is "pass" or the failure code."""
    return pytest.param(recogniser, issuer, credential, at, terminated, expect, fragments, id=name)


CTPAT_TIER3 = facts(programme="CTPAT", level="Tier3", roles=("importer",))

RECOGNITION_CASES = [
    case("eu-aeof-exporter-at-us", US, EU, facts(), "pass", "AEOF",
         f"under agreement {AGREEMENT}"),
    case("eu-aeos-manufacturer-at-us", US, EU, facts(level="AEOS", roles=("manufacturer",)),
         "pass"),
    case("one-covered-role-is-enough", US, EU, facts(roles=("importer", "exporter")), "pass"),
    case("eu-aeoc-at-us", US, EU, facts(level="AEOC"), "OUT_OF_SCOPE",
         "level AEOC of EU-AEO is not covered (covers AEOF, AEOS)"),
    case("eu-aeof-importer-only", US, EU, facts(roles=("importer",)), "OUT_OF_SCOPE",
         "role importer is not covered (covers exporter, manufacturer)"),
    case("type-not-covered", US, EU, facts(types=("VerifiableCredential", "ScanAttestation")),
         "OUT_OF_SCOPE", "credential type ScanAttestation is not covered (covers AEOCertificate)"),
    case("programme-not-covered", US, EU, facts(programme="JP-AEO", level="AEO-Exporter"),
         "OUT_OF_SCOPE", "programme JP-AEO is not covered (covers EU-AEO)"),
    case("no-programme", US, EU, facts(programme=None, level=None), "OUT_OF_SCOPE",
         "names no programme"),
    case("no-level", US, EU, facts(level=None), "OUT_OF_SCOPE", "level (none) of EU-AEO"),
    case("every-gap-named", US, EU, facts(level="AEOC", roles=("carrier",), types=("Other",)),
         "OUT_OF_SCOPE", "credential type Other", "level AEOC", "role carrier"),
    case("us-ctpat-tier3-at-eu", EU, US, CTPAT_TIER3, "pass",
         "granted only when every check passes"),
    case("us-ctpat-tier1-at-eu", EU, US, {**CTPAT_TIER3, "level": "Tier1"}, "OUT_OF_SCOPE",
         "level Tier1 of CTPAT"),
    case("eu-credential-checked-against-the-us-direction", EU, US, facts(), "OUT_OF_SCOPE",
         "programme EU-AEO is not covered (covers CTPAT)"),
    case("unknown-issuer", US, JP, facts(), "NO_MRA", f"between {US} and {JP}"),
    case("own-credential", US, US, CTPAT_TIER3, "NO_MRA", "only recognises a partner's"),
    case("before-effective-from", US, EU, facts(), "MRA_NOT_IN_FORCE", "not yet in force",
         at=EFFECTIVE_FROM - SECOND),
    case("at-effective-until", US, EU, facts(), "MRA_NOT_IN_FORCE", "ended at",
         at=EFFECTIVE_UNTIL),
    case("after-termination", US, EU, facts(), "MRA_NOT_IN_FORCE",
         f"agreement {AGREEMENT} is terminated with effect from 2028-03-01",
         at=TERMINATED, terminated=TERMINATED),
    case("during-notice-period", US, EU, facts(), "pass",
         at=TERMINATED - SECOND, terminated=TERMINATED),
]  # fmt: skip


@pytest.mark.parametrize(
    ("recogniser", "issuer", "credential", "at", "terminated", "expect", "fragments"),
    RECOGNITION_CASES,
)
def test_recognition_matrix(
    recogniser: str,
    issuer: str,
    credential: dict[str, Any],
    at: datetime,
    terminated: datetime | None,
    expect: str,
    fragments: tuple[str, ...],
) -> None:
    terminations = {AGREEMENT: terminated} if terminated else {}
    result = get_recognition_check(
        [MRA],
        recognising_party=recogniser,
        issuer=issuer,
        at=at,
        terminations=terminations,
        **credential,
    )
    assert result.check.name == "recognition"
    for fragment in fragments:
        assert fragment in result.check.detail
    if expect == "pass":
        assert result.check.status is CheckStatus.PASS
        recognition = MRA.recognition_for(recogniser, issuer)
        assert recognition is not None
        assert (result.benefits, result.agreement_id) == (recognition.benefits, AGREEMENT)
        # Issue 15: the detail never lists benefits; whether they are granted depends on the
        # other checks (registry.pipeline), and the result's `benefits` says so.
        for benefit in recognition.benefits:
            assert benefit not in result.check.detail
    else:
        assert (result.check.status, result.check.code) == (CheckStatus.FAIL, expect)
        assert (result.benefits, result.agreement_id) == (frozenset(), None)


def test_one_way_agreement_gives_nothing_in_the_other_direction() -> None:
    at_us = get_recognition_check(
        [ONE_WAY], recognising_party=US, issuer=EU, at=IN_FORCE_AT, **facts()
    )
    at_eu = get_recognition_check(
        [ONE_WAY],
        recognising_party=EU,
        issuer=US,
        at=IN_FORCE_AT,
        **facts(programme="CTPAT", level="Tier3", roles=("importer",)),
    )
    assert (at_us.check.status, at_us.benefits) == (CheckStatus.PASS, EU_US_BENEFITS)
    assert (at_eu.check.code, at_eu.benefits) == ("OUT_OF_SCOPE", frozenset())
    assert "no recognition in this direction" in at_eu.check.detail


def _renewal(levels: list[str], start: datetime) -> MutualRecognitionAgreement:
    document = signed_mra(
        agreement_id="urn:uuid:6f0c1f52-7a0e-4d2b-9a51-3c2a5e0b0003",
        effective_from=start,
        recognitions=[
            us_recognises_eu(
                programmes=[{"programme": "EU-AEO", "levels": levels}],
                benefits=["reduced-examination", "priority-processing", "fewer-documentary-checks"],
            )
        ],
    )
    return verify_mra(document, resolver=RESOLVER, now=SIGNED_AT)


@pytest.mark.parametrize(
    ("levels", "level", "at", "expected_agreement", "extra_benefit"),
    [
        pytest.param(
            ["AEOS", "AEOF"],
            "AEOF",
            datetime(2029, 1, 1, tzinfo=UTC),
            "urn:uuid:6f0c1f52-7a0e-4d2b-9a51-3c2a5e0b0003",
            True,
            id="newest-decides",
        ),
        pytest.param(
            ["AEOS", "AEOF"], "AEOF", IN_FORCE_AT, AGREEMENT, False, id="renewal-not-yet-in-force"
        ),
        pytest.param(
            ["AEOF"],
            "AEOS",
            datetime(2029, 1, 1, tzinfo=UTC),
            AGREEMENT,
            False,
            id="older-agreement-still-covers",
        ),
    ],
)
def test_several_agreements(
    levels: list[str], level: str, at: datetime, expected_agreement: str, extra_benefit: bool
) -> None:
    renewal = _renewal(levels, datetime(2028, 1, 1, tzinfo=UTC))
    for mras in ([MRA, renewal], [renewal, MRA]):
        result = get_recognition_check(
            mras, recognising_party=US, issuer=EU, at=at, **facts(level=level)
        )
        assert result.agreement_id == expected_agreement
        assert ("fewer-documentary-checks" in result.benefits) is extra_benefit


def test_no_agreements_at_all_is_no_mra() -> None:
    result = get_recognition_check([], recognising_party=US, issuer=EU, at=IN_FORCE_AT, **facts())
    assert (result.check.status, result.check.code) == (CheckStatus.FAIL, "NO_MRA")


def test_recognition_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        get_recognition_check(
            [MRA], recognising_party=US, issuer=EU, at=datetime(2027, 6, 1), **facts()
        )


def test_only_a_passing_check_grants_benefits() -> None:
    failed = get_recognition_check([], recognising_party=US, issuer=EU, at=IN_FORCE_AT, **facts())
    with pytest.raises(ValueError, match="grants benefits"):
        RecognitionResult(failed.check, frozenset({"reduced-examination"}))


def _aeo_credential(**subject: Any) -> dict[str, Any]:
    body = {
        "id": STRANGER,
        "legalName": "Beispiel Logistik GmbH",
        "identifiers": [{"scheme": "EORI", "value": "DE123456789012345"}],
        "country": "DE",
        "authorisationNumber": "DEAEOF0000012345",
        "programme": "EU-AEO",
        "level": "AEOF",
        "roles": ["exporter", "importer"],
        "reassessmentDate": "2029-06-30T00:00:00Z",
        **subject,
    }
    return build_aeo_credential(
        body,
        issuer=EU,
        credential_id="urn:uuid:3f1f0a2e-1111-4c1a-9c55-5a3ad7e4c001",
        valid_from=EFFECTIVE_FROM,
    )


def test_aeo_recognition_facts_feed_the_recognition_check() -> None:
    found = aeo_recognition_facts(_aeo_credential())
    assert found == RecognitionFacts(
        ("AEOCertificate",), "EU-AEO", "AEOF", ("exporter", "importer")
    )
    result = get_recognition_check(
        [MRA], recognising_party=US, issuer=EU, at=IN_FORCE_AT, **found._asdict()
    )
    assert (result.check.status, result.benefits) == (CheckStatus.PASS, EU_US_BENEFITS)
    aeoc = aeo_recognition_facts(_aeo_credential(level="AEOC", authorisationNumber="DEAEOC1"))
    result = get_recognition_check(
        [MRA], recognising_party=US, issuer=EU, at=IN_FORCE_AT, **aeoc._asdict()
    )
    assert (result.check.code, result.benefits) == ("OUT_OF_SCOPE", frozenset())


def test_aeo_recognition_facts_refuse_other_credentials() -> None:
    with pytest.raises(MalformedInputError) as info:
        aeo_recognition_facts(SIGNED)
    assert info.value.code == "NOT_AEO_CREDENTIAL"


# -- property: the scope rule ----------------------------------------------------------------

EU_LEVELS = ("AEOC", "AEOS", "AEOF")


@settings(max_examples=50, deadline=None)
@given(
    covered_levels=st.sets(st.sampled_from(EU_LEVELS), min_size=1),
    covered_roles=st.sets(st.sampled_from(ROLES), min_size=1),
    programme=st.sampled_from(["EU-AEO", "CTPAT"]),
    level=st.sampled_from(EU_LEVELS),
    roles=st.sets(st.sampled_from(ROLES), min_size=1),
    type_covered=st.booleans(),
)
def test_recognised_iff_level_and_a_role_are_covered(
    covered_levels: set[str],
    covered_roles: set[str],
    programme: str,
    level: str,
    roles: set[str],
    type_covered: bool,
) -> None:
    direction = us_recognises_eu(
        programmes=[{"programme": "EU-AEO", "levels": sorted(covered_levels)}],
        roles=sorted(covered_roles),
    )
    mra = MutualRecognitionAgreement.from_dict(build_mra(**mra_args(recognitions=[direction])))
    result = get_recognition_check(
        [mra],
        recognising_party=US,
        issuer=EU,
        at=IN_FORCE_AT,
        **facts(programme, level, tuple(sorted(roles)), AEO if type_covered else ("Other",)),
    )
    expected = (
        type_covered
        and programme == "EU-AEO"
        and level in covered_levels
        and bool(roles & covered_roles)
    )
    assert (result.check.status is CheckStatus.PASS) is expected
    assert result.benefits == (EU_US_BENEFITS if expected else frozenset())
    if not expected:
        assert result.check.code == "OUT_OF_SCOPE"


def test_mra_context_defines_every_term_used() -> None:
    from registry._mra_schema import mra_context

    context = mra_context()["@context"]
    assert context["@protected"] is True
    recognition = context["recognitions"]["@context"]
    programme = recognition["programmes"]["@context"]
    schema = mra_subject_schema()
    top = set(schema["properties"]) - {"id", "type"}
    assert top <= set(context), top - set(context)
    assert set(schema["$defs"]["recognition"]["properties"]) <= set(recognition)
    assert set(schema["$defs"]["programmeScope"]["properties"]) <= set(programme)
    assert {"MutualRecognitionAgreement", "MutualRecognitionTerminationNotice"} <= set(context)
    assert {"terminatingParty", "noticeGivenAt"} <= set(context)


def _notice_at(given: datetime) -> dict[str, Any]:
    unsigned = build_termination_notice(
        agreement_id=AGREEMENT, terminating_party=US, notice_given_at=given
    )
    options = ProofOptions(verification_method=VM[US], created=given)
    return add_proof(unsigned, US_KEY, options)


@pytest.mark.parametrize(
    ("given", "delivered_by", "now", "code"),
    [
        # Relayed by the other party (or anyone else): only the terminating party delivers.
        pytest.param(NOTICE_AT, EU, NOTICE_AT, "MRA_NOTICE_RELAYED", id="relayed-by-other"),
        pytest.param(NOTICE_AT, JP, NOTICE_AT, "MRA_NOTICE_RELAYED", id="relayed-by-stranger"),
        # Break 1: a stolen key's notice dated before the agreement began.
        pytest.param(
            EFFECTIVE_FROM - timedelta(days=1),
            US,
            EFFECTIVE_FROM,
            "MRA_NOTICE_BACKDATED",
            id="before-effective-date",
        ),
        pytest.param(
            SIGNED_AT - timedelta(days=1),
            US,
            IN_FORCE_AT,
            "MRA_NOTICE_BACKDATED",
            id="before-the-agreement-was-formed",
        ),
        pytest.param(
            NOTICE_AT, US, NOTICE_AT + timedelta(days=31), "MRA_NOTICE_STALE", id="replayed-old"
        ),
        pytest.param(
            NOTICE_AT + timedelta(hours=1), US, NOTICE_AT, "MRA_NOTICE_STALE", id="from-future"
        ),
    ],
)
def test_accept_termination_notice_refuses(
    given: datetime, delivered_by: str, now: datetime, code: str
) -> None:
    with pytest.raises(VerificationError) as caught:
        accept_termination_notice(
            _notice_at(given),
            MRA,
            resolver=RESOLVER,
            now=now,
            delivered_by=delivered_by,
            formed_at=agreement_formed_at(SIGNED),
        )
    assert caught.value.code == code


def test_accept_termination_notice_from_the_party_itself() -> None:
    assert agreement_formed_at(SIGNED) == SIGNED_AT
    effective = accept_termination_notice(
        _notice_at(NOTICE_AT),
        MRA,
        resolver=RESOLVER,
        now=NOTICE_AT + timedelta(minutes=5),
        delivered_by=US,
        formed_at=SIGNED_AT,
    )
    assert effective == NOTICE_AT + timedelta(days=90)
