"""``risk.decide``: hard rules, evidence that counts for nothing, benefits, determinism."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credentials.errors import MalformedInputError
from federation_config.risk import bundled_policy
from risk import (
    Channel,
    CredentialEvidence,
    CredentialStatus,
    Decision,
    Declaration,
    Evidence,
    IdentifierCrosswalk,
    MalformedEvidenceError,
    PartyIdentifier,
    Policy,
    ReasonCode,
    ScanEvidence,
    ScanModality,
    ScanResult,
    WatchList,
    decide,
)

AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SECRET = b"risk-core-test-secret-0123456789"
BOX_A, BOX_B, OTHER_BOX = "CSQU3054383", "YMLU3030933", "MSCU1234566"
EXPORTER_TIN = PartyIdentifier("TIN", "US0000000042")
EXPORTER_CTPAT = PartyIdentifier("CTPAT", "CT0000000042")
IMPORTER_EORI = PartyIdentifier("EORI", "NL123456789")
ALL_BENEFITS = frozenset(
    {
        "reduced-examination",
        "fewer-documentary-checks",
        "priority-processing",
        "origin-scan-recognised",
        "business-continuity",
    }
)
ORIGIN = "did:web:us.customs.example"
CIGARETTES = {
    "hsCode": "240220",
    "description": "cigarettes",
    "declaredValue": {"amount": 1, "currency": "EUR"},
    "grossMassKg": 1,
}


def declaration_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "declarationId": "26NL000000000001",
        "ucr": "6NL123456789000-1",
        "declarant": {
            "name": "Voorbeeld Import BV",
            "identifiers": [IMPORTER_EORI.to_dict()],
            "country": "NL",
        },
        "exporter": {
            "name": "Example Exports Inc",
            "identifiers": [EXPORTER_TIN.to_dict()],
            "country": "US",
        },
        "importer": {
            "name": "Voorbeeld Import BV",
            "identifiers": [IMPORTER_EORI.to_dict()],
            "country": "NL",
        },
        "consignorCountry": "US",
        "consigneeCountry": "NL",
        "portOfLoading": "USNYC",
        "portOfDischarge": "NLRTM",
        "containers": [BOX_A, BOX_B],
        "goodsItems": [
            {
                "hsCode": "850440",
                "description": "power supplies",
                "declaredValue": {"amount": 12000, "currency": "USD"},
                "grossMassKg": 800,
            },
        ],
        "transportDocument": "MAEU123456789",
    }
    doc.update(changes)
    return doc


def declaration(**changes: Any) -> Declaration:
    return Declaration.from_dict(declaration_doc(**changes))


def policy(change: Callable[[dict[str, Any]], None] | None = None) -> Policy:
    """The bundled EU policy, never randomly selecting, with an optional change."""
    doc = bundled_policy("eu-aeo-default").to_dict()
    doc["random_selection"].update(rate=1e-12, floor=1e-12)  # type: ignore[union-attr]
    if change is not None:
        change(doc)
    return Policy.from_dict(doc)


def credential(**changes: Any) -> CredentialEvidence:
    fields: dict[str, Any] = {
        "credential_id": "urn:uuid:cred-1",
        "issuer": ORIGIN,
        "subject_identifiers": (EXPORTER_TIN,),
        "verified": True,
        "status": CredentialStatus.VALID,
        "recognised": True,
        "benefits": ALL_BENEFITS,
        "programme": "CTPAT",
        "level": "Tier2",
    }
    fields.update(changes)
    return CredentialEvidence(**fields)


def scan(**changes: Any) -> ScanEvidence:
    fields: dict[str, Any] = {
        "attestation_id": "urn:uuid:scan-1",
        "issuer": ORIGIN,
        "containers": (BOX_A, BOX_B),
        "modality": ScanModality.XRAY,
        "result": ScanResult.CLEAR,
        "scanned_at": AT - timedelta(days=12),
        "verified": True,
        "device_authorised": True,
        "recognised": True,
    }
    fields.update(changes)
    return ScanEvidence(**fields)


def run(
    evidence: Evidence | None = None,
    *,
    decl: Declaration | None = None,
    pol: Policy | None = None,
    **kwargs: Any,
) -> Decision:
    evidence = evidence or Evidence()
    return decide(decl or declaration(), evidence, pol or policy(), SECRET, at=AT, **kwargs)


def reason(decision: Decision, code: ReasonCode) -> Any:
    found = [r for r in decision.reasons if r.code is code]
    assert len(found) == 1, decision.codes
    return found[0]


# --- Baseline ---------------------------------------------------------------------------------


def test_base_score_and_channel_without_evidence() -> None:
    decision = run()
    # HS 85 (20) + origin US (5) + route default (0).
    assert decision.score == 25.0
    assert decision.codes == (
        ReasonCode.BASE_HS_CHAPTER,
        ReasonCode.BASE_ORIGIN,
        ReasonCode.BASE_ROUTE,
        ReasonCode.SCORE_THRESHOLD,
    )
    assert (decision.channel, decision.score_channel, decision.mandatory_channel) == (
        Channel.DOCUMENTARY,
        Channel.DOCUMENTARY,
        Channel.RELEASE,
    )
    assert reason(decision, ReasonCode.BASE_HS_CHAPTER).evidence == (
        "declaration:/goodsItems/0/hsCode",
        "policy:score.hs_chapters.points.85",
    )
    assert decision.benefits_applied == ()


def test_riskiest_goods_item_and_route_rule_count() -> None:
    item = CIGARETTES
    doc = declaration_doc(portOfLoading="AEJEA")
    doc["goodsItems"].append(item)
    decision = run(decl=Declaration.from_dict(doc))
    # HS 24 (40) + US (5) + AEJEA route rule (15) = 60: non-intrusive.
    assert decision.score == 60.0
    assert (
        reason(decision, ReasonCode.BASE_HS_CHAPTER).evidence[0]
        == "declaration:/goodsItems/1/hsCode"
    )
    assert reason(decision, ReasonCode.BASE_ROUTE).evidence[-1] == "policy:score.routes.rules[0]"
    assert decision.channel is Channel.NON_INTRUSIVE


def test_score_is_capped() -> None:
    def heavy(doc: dict[str, Any]) -> None:
        doc["score"]["hs_chapters"]["points"]["85"] = 500

    decision = run(pol=policy(heavy))
    assert decision.score == 100.0
    assert ReasonCode.SCORE_CAPPED in decision.codes
    assert decision.channel is Channel.PHYSICAL


# --- Hard rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "modality", [ScanModality.RADIATION_PORTAL, ScanModality.RADIATION_HANDHELD]
)
@pytest.mark.parametrize(
    "flaw",
    [
        pytest.param({}, id="clean"),
        pytest.param({"verified": False}, id="unverified"),
        pytest.param({"recognised": False}, id="not-recognised"),
        pytest.param({"device_authorised": False}, id="unauthorised-device"),
        pytest.param({"scanned_at": AT - timedelta(days=400)}, id="stale"),
    ],
)
def test_unresolved_radiation_alarm_always_means_physical(
    modality: ScanModality, flaw: dict[str, Any]
) -> None:
    alarm = scan(modality=modality, result=ScanResult.ALARM, containers=(BOX_B,), **flaw)
    # Every benefit and a clear recognised image scan: still physical examination.
    evidence = Evidence((credential(),), (scan(attestation_id="urn:uuid:xray"), alarm))
    decision = run(evidence)
    assert decision.channel is Channel.PHYSICAL
    assert decision.mandatory_channel is Channel.PHYSICAL
    assert reason(decision, ReasonCode.RADIATION_ALARM_UNRESOLVED).evidence == (
        "scan:urn:uuid:scan-1",
    )
    assert decision.score < 25  # The benefits still lowered the score; the rule overrides it.


def test_resolved_radiation_alarm_only_adds_points() -> None:
    resolved = scan(
        modality=ScanModality.RADIATION_PORTAL, result=ScanResult.ALARM, alarm_resolved=True
    )
    decision = run(Evidence(scans=(resolved,)))
    assert ReasonCode.RADIATION_ALARM_UNRESOLVED not in decision.codes
    assert reason(decision, ReasonCode.SCAN_ALARM_RESOLVED).points == 5.0
    assert decision.score == 30.0
    assert decision.mandatory_channel is Channel.RELEASE


@pytest.mark.parametrize("configured", [Channel.NON_INTRUSIVE, Channel.PHYSICAL])
def test_unresolved_image_alarm_imposes_the_policy_channel(configured: Channel) -> None:
    def set_channel(doc: dict[str, Any]) -> None:
        doc["hard_rules"]["image_alarm_channel"] = configured.value

    alarm = scan(result=ScanResult.ALARM, verified=False)
    decision = run(Evidence((credential(),), (alarm,)), pol=policy(set_channel))
    assert reason(decision, ReasonCode.IMAGE_ALARM_UNRESOLVED).channel is configured
    assert decision.channel is configured


def test_inconclusive_scan_adds_points_that_benefits_do_not_reduce() -> None:
    decision = run(Evidence((credential(),), (scan(result=ScanResult.INCONCLUSIVE),)))
    # (20 + 5) * 0.25 (reduced-examination) + 15 (inconclusive) = 21.25.
    assert decision.score == 21.25


def test_watch_list_hit_overrides_every_benefit() -> None:
    evidence = Evidence((credential(),), (scan(),))
    watch = WatchList(parties=frozenset({EXPORTER_TIN}))
    decision = run(evidence, watch_list=watch)
    assert decision.benefits_applied == ()
    assert ReasonCode.BENEFIT_APPLIED not in decision.codes
    assert reason(decision, ReasonCode.WATCH_LIST_HIT).evidence == ("watch-list:TIN:US0000000042",)
    assert reason(decision, ReasonCode.BENEFITS_WITHHELD).evidence == (
        "credential:urn:uuid:cred-1",
    )
    assert decision.channel is Channel.PHYSICAL
    # No benefit lowers the random selection rate either.
    assert decision.random_rate == policy().random_rate


def test_watch_list_follows_crosswalk_links_and_containers() -> None:
    crosswalk = IdentifierCrosswalk.from_pairs([(EXPORTER_TIN, EXPORTER_CTPAT)])
    by_link = run(watch_list=WatchList(parties=frozenset({EXPORTER_CTPAT})), crosswalk=crosswalk)
    assert reason(by_link, ReasonCode.WATCH_LIST_HIT).evidence == ("watch-list:CTPAT:CT0000000042",)
    by_box = run(watch_list=WatchList(containers=frozenset({BOX_B})))
    assert reason(by_box, ReasonCode.WATCH_LIST_HIT).evidence == (f"watch-list:container:{BOX_B}",)
    assert by_box.channel is Channel.PHYSICAL
    unrelated = run(
        watch_list=WatchList(frozenset({PartyIdentifier("EORI", "DE1")}), frozenset({OTHER_BOX}))
    )
    assert ReasonCode.WATCH_LIST_HIT not in unrelated.codes


# --- Credentials: what grants, and what grants nothing ------------------------------------------


def test_recognised_valid_credential_grants_its_benefits() -> None:
    decision = run(Evidence((credential(),)))
    assert decision.benefits_applied == tuple(sorted(ALL_BENEFITS))
    # (20 + 5) * 0.25 = 6.25; the documentary threshold moved up by 15 anyway.
    assert decision.score == 6.25
    assert decision.channel is Channel.RELEASE
    applied = [r for r in decision.reasons if r.code is ReasonCode.BENEFIT_APPLIED]
    assert applied[0].evidence == (
        "credential:urn:uuid:cred-1",
        "policy:benefits.business-continuity",
    )
    assert decision.random_rate == policy().random_floor


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param(
            {"status": CredentialStatus.UNKNOWN},
            ReasonCode.CREDENTIAL_STATUS_NOT_VALID,
            id="status-unknown",
        ),
        pytest.param(
            {"status": CredentialStatus.REVOKED},
            ReasonCode.CREDENTIAL_STATUS_NOT_VALID,
            id="status-revoked",
        ),
        pytest.param(
            {"status": CredentialStatus.SUSPENDED},
            ReasonCode.CREDENTIAL_STATUS_NOT_VALID,
            id="status-suspended",
        ),
        pytest.param(
            {"verified": False}, ReasonCode.CREDENTIAL_NOT_VERIFIED, id="failed-verification"
        ),
        pytest.param(
            {"verified": False, "status": CredentialStatus.UNKNOWN},
            ReasonCode.CREDENTIAL_NOT_VERIFIED,
            id="unverified-first",
        ),
        pytest.param({"recognised": False}, ReasonCode.CREDENTIAL_NOT_RECOGNISED, id="no-mra"),
        pytest.param(
            {"subject_identifiers": (PartyIdentifier("TIN", "US0000000043"),)},
            ReasonCode.CREDENTIAL_OTHER_PARTY,
            id="other-party",
        ),
        pytest.param(
            {"subject_identifiers": (EXPORTER_CTPAT,)},
            ReasonCode.CREDENTIAL_OTHER_PARTY,
            id="unmapped-scheme",
        ),
        pytest.param(
            {"subject_identifiers": (PartyIdentifier("EORI", "NL99"),)},
            ReasonCode.CREDENTIAL_OTHER_PARTY,
            id="declarant-only",
        ),
    ],
)
def test_credentials_that_grant_nothing(change: dict[str, Any], code: ReasonCode) -> None:
    decision = run(Evidence((credential(**change),)))
    assert decision.benefits_applied == ()
    assert reason(decision, code).evidence == ("credential:urn:uuid:cred-1",)
    assert decision.score == 25.0
    assert decision.random_rate == policy().random_rate


def test_a_declarant_credential_counts_only_if_the_policy_lists_declarants() -> None:
    broker = PartyIdentifier("EORI", "NL555555555")
    doc = declaration_doc()
    doc["declarant"] = {"name": "Broker BV", "identifiers": [broker.to_dict()], "country": "NL"}
    decl = Declaration.from_dict(doc)
    cred = credential(subject_identifiers=(broker,))
    assert run(Evidence((cred,)), decl=decl).benefits_applied == ()

    def add_declarant(p: dict[str, Any]) -> None:
        p["benefit_parties"].append("declarant")

    assert run(Evidence((cred,)), decl=decl, pol=policy(add_declarant)).benefits_applied != ()


def test_crosswalk_link_lets_a_credential_count_but_links_do_not_chain() -> None:
    cred = credential(subject_identifiers=(EXPORTER_CTPAT,))
    linked = IdentifierCrosswalk.from_pairs([(EXPORTER_TIN, EXPORTER_CTPAT)])
    assert run(Evidence((cred,)), crosswalk=linked).benefits_applied == tuple(sorted(ALL_BENEFITS))
    middle = PartyIdentifier("MID", "USEXAEXP42NYC")
    chained = IdentifierCrosswalk.from_pairs([(EXPORTER_TIN, middle), (middle, EXPORTER_CTPAT)])
    decision = run(Evidence((cred,)), crosswalk=chained)
    assert decision.benefits_applied == ()
    assert ReasonCode.CREDENTIAL_OTHER_PARTY in decision.codes


def test_unknown_benefit_codes_grant_nothing_and_codes_apply_once() -> None:
    first = credential(benefits=frozenset({"reduced-examination", "free-pass"}))
    second = credential(
        credential_id="urn:uuid:cred-2", benefits=frozenset({"reduced-examination"})
    )
    decision = run(Evidence((first, second)))
    assert decision.benefits_applied == ("reduced-examination",)
    assert reason(decision, ReasonCode.BENEFIT_NOT_IN_POLICY).message.startswith(
        "benefit 'free-pass'"
    )
    applied = reason(decision, ReasonCode.BENEFIT_APPLIED)
    assert applied.evidence == (
        "credential:urn:uuid:cred-1",
        "credential:urn:uuid:cred-2",
        "policy:benefits.reduced-examination",
    )
    assert decision.score == 6.25  # One factor of 0.25, not two.


def test_fewer_documentary_checks_raises_the_documentary_threshold_only() -> None:
    cred = credential(benefits=frozenset({"fewer-documentary-checks"}))
    decision = run(Evidence((cred,)))
    assert decision.score == 25.0
    assert decision.channel is Channel.RELEASE  # 25 < 25 + 15
    heavier = declaration_doc(goodsItems=[CIGARETTES])
    # 40 + 5 = 45 reaches non-intrusive, which the offset never moves.
    assert (
        run(Evidence((cred,)), decl=Declaration.from_dict(heavier)).channel is Channel.NON_INTRUSIVE
    )


# --- Scans: what counts for which containers --------------------------------------------------


def test_clear_recognised_scan_of_every_container_lowers_the_score() -> None:
    decision = run(Evidence(scans=(scan(),)))
    assert reason(decision, ReasonCode.SCAN_CLEAR).factor == 0.5
    assert decision.score == 12.5


def test_scan_naming_other_containers_counts_for_nothing() -> None:
    clear = scan(containers=(OTHER_BOX,))
    alarm = scan(
        attestation_id="urn:uuid:scan-2",
        containers=(OTHER_BOX,),
        modality=ScanModality.RADIATION_PORTAL,
        result=ScanResult.ALARM,
    )
    decision = run(Evidence(scans=(clear, alarm)))
    assert decision.score == 25.0
    assert decision.mandatory_channel is Channel.RELEASE
    assert [r.code for r in decision.reasons][:2] == [ReasonCode.SCAN_OTHER_CONTAINERS] * 2


def test_clear_scan_must_cover_every_declared_container() -> None:
    partial = scan(containers=(BOX_A, OTHER_BOX))
    decision = run(Evidence(scans=(partial,)))
    assert decision.score == 25.0
    assert BOX_B in reason(decision, ReasonCode.SCAN_PARTIAL_COVERAGE).message
    two = (scan(containers=(BOX_A,)), scan(attestation_id="urn:uuid:scan-2", containers=(BOX_B,)))
    assert run(Evidence(scans=two)).score == 12.5


@pytest.mark.parametrize(
    ("change", "why"),
    [
        pytest.param({"verified": False}, "proofs did not verify", id="unverified"),
        pytest.param({"device_authorised": False}, "device was not authorised", id="device"),
        pytest.param({"recognised": False}, "does not recognise the issuer", id="not-recognised"),
        pytest.param(
            {"scanned_at": AT - timedelta(hours=1441)}, "older than 1440 hours", id="stale"
        ),
        pytest.param(
            {"scanned_at": AT + timedelta(seconds=1)}, "after the assessment", id="future"
        ),
    ],
)
def test_clear_scans_that_do_not_count(change: dict[str, Any], why: str) -> None:
    decision = run(Evidence(scans=(scan(**change),)))
    assert decision.score == 25.0
    assert why in reason(decision, ReasonCode.SCAN_NOT_COUNTED).message


def test_clear_radiation_reading_gives_no_reduction() -> None:
    decision = run(Evidence(scans=(scan(modality=ScanModality.RADIATION_PORTAL),)))
    assert decision.score == 25.0


# --- Determinism, the decision record, inputs -------------------------------------------------


def test_same_inputs_same_decision_and_bytes() -> None:
    portal = scan(
        attestation_id="urn:uuid:r",
        modality=ScanModality.RADIATION_PORTAL,
        result=ScanResult.ALARM,
        alarm_resolved=True,
    )
    evidence = Evidence((credential(),), (scan(), portal))
    first, second = run(evidence), run(evidence)
    assert first == second
    assert first.to_json() == second.to_json()
    assert json.loads(first.to_json()) == first.to_dict()


def test_decision_round_trips_and_records_the_policy() -> None:
    pol = policy()
    decision = run(Evidence((credential(),)), pol=pol)
    assert Decision.from_dict(decision.to_dict()) == decision
    assert decision.to_dict()["policy"] == {
        "policyId": "eu-aeo-default",
        "version": "2026.1",
        "hash": pol.hash,
    }
    assert pol.hash.startswith("sha256:") and len(pol.hash) == 71

    def bump(doc: dict[str, Any]) -> None:
        doc["thresholds"]["physical"] = 66

    assert run(pol=policy(bump)).policy_hash != decision.policy_hash


def test_decision_from_dict_refuses_garbage() -> None:
    good = run().to_dict()
    for key, value in (("channel", "green"), ("reasons", [1]), ("assessedAt", "yesterday")):
        broken = copy.deepcopy(good)
        broken[key] = value
        with pytest.raises(MalformedInputError):
            Decision.from_dict(broken)


def test_time_and_secret_are_checked() -> None:
    with pytest.raises(MalformedEvidenceError):
        decide(declaration(), Evidence(), policy(), SECRET, at=datetime(2026, 12, 3))
    with pytest.raises(MalformedInputError) as caught:
        decide(declaration(), Evidence(), policy(), b"short", at=AT)
    assert caught.value.code == "INVALID_SELECTION_SECRET"


def test_evidence_round_trips_through_json_objects() -> None:
    evidence = Evidence((credential(),), (scan(parser_notes=("N42.42: 2 detectors",)),))
    assert Evidence.from_dict(json.loads(json.dumps(evidence.to_dict()))) == evidence


@pytest.mark.parametrize(
    ("document", "location"),
    [
        pytest.param(
            {"credentials": [{"credentialId": "x"}]}, "credentials/0/issuer", id="missing-issuer"
        ),
        pytest.param(
            {"scans": [{"attestationId": "s", "scannedAt": "2026-12-01T00:00:00"}]},
            "scans/0/scannedAt",
            id="naive-time",
        ),
        pytest.param({"scans": "nope"}, "scans", id="not-a-list"),
        pytest.param({"credentials": [7]}, "credentials/0", id="not-an-object"),
    ],
)
def test_malformed_evidence_is_refused(document: dict[str, Any], location: str) -> None:
    with pytest.raises(MalformedEvidenceError) as caught:
        Evidence.from_dict(document)
    assert caught.value.problems[0][0] == location


def test_scan_evidence_checks_its_containers_and_time() -> None:
    with pytest.raises(MalformedEvidenceError, match="check digit"):
        scan(containers=("CSQU3054384",))
    with pytest.raises(MalformedEvidenceError, match="aware"):
        scan(scanned_at=datetime(2026, 12, 1))


# --- The agreement that grants a benefit is named --------------------------------------------


def test_the_granting_agreement_is_named_once_beside_its_credentials() -> None:
    mra = "urn:uuid:6f0c1f52-7a0e-4d2b-9a51-3c2a5e0b0001"
    first = credential(benefits=frozenset({"reduced-examination"}), agreement=mra)
    second = credential(
        credential_id="urn:uuid:cred-2", benefits=frozenset({"reduced-examination"}), agreement=mra
    )
    applied = reason(run(Evidence((first, second))), ReasonCode.BENEFIT_APPLIED)
    assert applied.evidence == (
        "credential:urn:uuid:cred-1",
        f"agreement:{mra}",
        "credential:urn:uuid:cred-2",
        "policy:benefits.reduced-examination",
    )


def test_a_credential_without_an_agreement_names_none() -> None:
    applied = reason(
        run(Evidence((credential(benefits=frozenset({"reduced-examination"})),))),
        ReasonCode.BENEFIT_APPLIED,
    )
    assert not any(e.startswith("agreement:") for e in applied.evidence)


def test_the_agreement_survives_the_evidence_json_round_trip() -> None:
    cred = credential(agreement="urn:uuid:mra-1")
    assert cred.to_dict()["agreement"] == "urn:uuid:mra-1"
    assert CredentialEvidence.from_dict(cred.to_dict()) == cred
    assert "agreement" not in credential().to_dict()
    assert CredentialEvidence.from_dict(credential().to_dict()) == credential()


@pytest.mark.parametrize("bad", [7, "", ["urn:uuid:mra-1"]])
def test_a_malformed_agreement_is_refused(bad: object) -> None:
    with pytest.raises(MalformedEvidenceError):
        credential(agreement=bad)
    with pytest.raises(MalformedEvidenceError):
        CredentialEvidence.from_dict({**credential().to_dict(), "agreement": bad})
