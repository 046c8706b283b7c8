"""Scan attestations inside presentations, and the presentation's own conformance (pure).

A trader's presentation may carry scan attestation bundles, whole, in
``scanAttestationBundles`` (a JSON literal defined by the project's presentation context);
the holder's proof covers them. Here: the data model and JSON-LD rules of the presentation
itself (fixtures written for the project from the shapes of VC DM 2.0 §4.13), the
consignment rule that ties a scan to the challenge's consignment, and the attacker's moves
against the pure check: an attestation added after signing, one smuggled in as if it were
the holder's credential, nine items. The bundles are test_audit's (a node's log holding a
device authorisation and a countersigned attestation).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_audit import World
from test_pipeline import NOW, US_BASE
from test_presentation import CHALLENGE, CONSIGNMENT, HOLDER, SPENT, aeo, signed_vp, verify

from credentials import jsonld as jsonld_module
from credentials.data_integrity import ProofOptions, add_proof
from credentials.errors import MalformedInputError
from credentials.model import (
    PRESENTATION_CONTEXT,
    SCAN_ATTESTATION_BUNDLES,
    VC_V2_CONTEXT,
    VerifiablePresentation,
)
from credentials.result import CheckStatus
from credentials.signing import sign_presentation
from registry.presentation_scans import (
    ConsignmentFacts,
    attestation_result,
    consignment_check,
)

CONTAINER = "CSQU3054383"  # the one container test_audit's scan names
OTHER_CONTAINER = "YMLU3030933"
EXAMPLES = "https://www.w3.org/ns/credentials/examples/v2"


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return World().bundle()


def vp_with(bundles: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    vp: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT, PRESENTATION_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": HOLDER.public_key.did,
        "verifiableCredential": [aeo()],
        SCAN_ATTESTATION_BUNDLES: bundles,
    }
    vp.update(members)
    return {k: v for k, v in vp.items() if v is not None}


def refused(document: dict[str, Any]) -> str:
    with pytest.raises(MalformedInputError) as info:
        VerifiablePresentation.from_dict(document)
    return info.value.code


# -- the presentation's own conformance (VC DM 2.0 §4.13, §4.3, §4.5, §5) -----------------------


def _accepted() -> dict[str, dict[str, Any]]:
    base: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": HOLDER.public_key.did,
        "verifiableCredential": [aeo()],
    }
    return {
        "minimal": base,
        "with-id-and-holder-object": {
            **base,
            "id": "urn:uuid:3f0e9a52-7c2b-4f0e-9d1a-2b7c4e0a9d11",
            "holder": {"id": HOLDER.public_key.did},
        },
        "type-string": {**base, "type": "VerifiablePresentation"},
        "typed-terms-of-use": {
            **base,
            "@context": [VC_V2_CONTEXT, EXAMPLES],
            "termsOfUse": {"type": "TrustFrameworkPolicy", "id": "https://port.example/policy"},
        },
        "extra-type-by-url": {
            **base,
            "type": ["VerifiablePresentation", "https://port.example/vocab#PortPresentation"],
        },
    }


@pytest.mark.parametrize("name", sorted(_accepted()))
def test_conforming_presentations_are_accepted(name: str) -> None:
    document = _accepted()[name]
    vp = VerifiablePresentation.from_dict(document)
    assert "VerifiablePresentation" in vp.types
    assert vp.attestation_bundles == ()


def _refusals() -> list[tuple[str, dict[str, Any], str]]:
    base = _accepted()["minimal"]
    no_vocab = {"@vocab": None}
    return [
        (
            "context-not-first",
            {**base, "@context": [PRESENTATION_CONTEXT, VC_V2_CONTEXT]},
            "INVALID_CONTEXT",
        ),
        ("context-a-string", {**base, "@context": VC_V2_CONTEXT}, "INVALID_CONTEXT"),
        ("no-type", {k: v for k, v in base.items() if k != "type"}, "INVALID_PRESENTATION"),
        ("type-without-vp", {**base, "type": ["VerifiableCredential"]}, "INVALID_PRESENTATION"),
        ("id-not-a-url", {**base, "id": "presentation 1"}, "INVALID_PRESENTATION"),
        ("holder-not-a-url", {**base, "holder": "the trader"}, "INVALID_PRESENTATION"),
        (
            "unknown-context",
            {**base, "@context": [VC_V2_CONTEXT, "https://evil.example/ctx"]},
            "JSONLD_CONTEXT_UNKNOWN",
        ),
        (
            "undefined-term-vocab-off",
            {**base, "@context": [VC_V2_CONTEXT, no_vocab], "portNote": "fast lane"},
            "JSONLD_TERM_UNDEFINED",
        ),
        (
            "undefined-type-vocab-off",
            {
                **base,
                "@context": [VC_V2_CONTEXT, no_vocab],
                "type": ["VerifiablePresentation", "PortPresentation"],
            },
            "INVALID_TYPE",
        ),
        (
            "protected-term-redefined-inline",
            {
                **base,
                "@context": [
                    VC_V2_CONTEXT,
                    {"VerifiablePresentation": "https://evil.example/Presentation"},
                ],
            },
            "JSONLD_PROTECTED_TERM",
        ),
        (
            "protected-bundles-term-redefined",
            {
                **base,
                "@context": [
                    VC_V2_CONTEXT,
                    PRESENTATION_CONTEXT,
                    {SCAN_ATTESTATION_BUNDLES: "https://evil.example/bundles"},
                ],
            },
            "JSONLD_PROTECTED_TERM",
        ),
        (
            "terms-of-use-without-type",
            {**base, "termsOfUse": {"id": "https://port.example/policy"}},
            "MISSING_TYPE",
        ),
        ("no-credential", {**base, "verifiableCredential": []}, "INVALID_PRESENTATION"),
    ]


@pytest.mark.parametrize(
    ("document", "code"),
    [pytest.param(doc, code, id=name) for name, doc, code in _refusals()],
)
def test_nonconforming_presentations_are_refused_with_the_code(
    document: dict[str, Any], code: str
) -> None:
    assert refused(document) == code


def test_the_wallet_cannot_sign_a_nonconforming_presentation() -> None:
    sneaky = {**_accepted()["minimal"], "@context": [VC_V2_CONTEXT, {"@vocab": None}], "x": 1}
    with pytest.raises(MalformedInputError) as info:
        sign_presentation(sneaky, HOLDER, challenge=CHALLENGE, domain=US_BASE, created=NOW)
    assert info.value.code == "JSONLD_TERM_UNDEFINED"


def test_a_port_refuses_an_undefined_term_in_the_data_model_check() -> None:
    # The holder signed it (its own key), but the term would be dropped by JSON-LD: the
    # data_model check fails with the code and nothing else runs.
    document = {**_accepted()["minimal"], "@context": [VC_V2_CONTEXT, {"@vocab": None}]}
    document["priorityLane"] = True
    vp = add_proof(
        document,
        HOLDER,
        ProofOptions(
            verification_method=HOLDER.public_key.verification_method_id,
            proof_purpose="authentication",
            created=NOW,
            challenge=CHALLENGE,
            domain=US_BASE,
        ),
    )
    outcome = verify(vp)
    assert [(c.name, c.code) for c in outcome.presentation.checks] == [
        ("data_model", "JSONLD_TERM_UNDEFINED")
    ]
    assert outcome.credentials == () and outcome.bundles == ()


# -- bundles in the presentation ---------------------------------------------------------------


def test_bundles_are_read_whole_and_take_the_fast_jsonld_path(
    bundle: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_expansion(document: Any) -> Any:
        raise AssertionError("a presentation of shipped contexts needs no full expansion")

    monkeypatch.setattr(jsonld_module, "expand_safe", no_expansion)
    vp = VerifiablePresentation.from_dict(vp_with([bundle]))
    assert vp.attestation_bundles == (bundle,)
    assert len(vp.credentials) == 1


def test_the_bundles_member_needs_the_presentation_context(bundle: dict[str, Any]) -> None:
    assert refused(vp_with([bundle], **{"@context": [VC_V2_CONTEXT]})) == "JSONLD_TERM_UNDEFINED"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        pytest.param({}, "INVALID_PRESENTATION", id="not-a-list"),
        pytest.param([], "INVALID_PRESENTATION", id="empty"),
        pytest.param(["bundle"], "MISSING_TYPE", id="not-an-object"),
        pytest.param([{"attestation": {}}], "MISSING_TYPE", id="untyped"),
    ],
)
def test_malformed_bundle_members_are_refused(value: Any, code: str) -> None:
    document = vp_with([])
    document[SCAN_ATTESTATION_BUNDLES] = value
    assert refused(document) == code


def test_the_same_attestation_twice_is_refused(bundle: dict[str, Any]) -> None:
    assert refused(vp_with([bundle, copy.deepcopy(bundle)])) == "INVALID_PRESENTATION"


def test_nine_items_are_refused_eight_accepted(bundle: dict[str, Any]) -> None:
    def numbered(n: int) -> dict[str, Any]:
        other = copy.deepcopy(bundle)
        other["attestation"]["id"] = f"urn:uuid:5b1f0f5e-0000-4000-8000-0000000001{n:02d}"
        return other

    eight = vp_with([numbered(n) for n in range(7)])
    assert len(VerifiablePresentation.from_dict(eight).attestation_bundles) == 7
    nine = vp_with([numbered(n) for n in range(8)])
    with pytest.raises(MalformedInputError, match="9 items") as info:
        VerifiablePresentation.from_dict(nine)
    assert info.value.code == "INVALID_PRESENTATION"


def test_an_attestation_added_after_signing_fails_the_holder_proof(bundle: dict[str, Any]) -> None:
    signed = signed_vp(vp_with([bundle]))
    outcome = verify(signed).with_challenge(SPENT)
    assert outcome.presentation.verified and len(outcome.bundles) == 1
    tampered = copy.deepcopy(signed)
    other = copy.deepcopy(bundle)
    other["attestation"]["id"] = "urn:uuid:5b1f0f5e-0000-4000-8000-000000000999"
    tampered[SCAN_ATTESTATION_BUNDLES].append(other)
    outcome = verify(tampered)
    assert outcome.presentation.check("proof").code == "PROOF_VERIFICATION_ERROR"  # type: ignore[union-attr]
    # The presentation did not verify: nothing is granted, whatever the attestations say.
    assert not outcome.presentation.verified and outcome.benefits == frozenset()


def test_an_attestation_smuggled_in_as_a_credential_fails_the_holder_rule(
    bundle: dict[str, Any],
) -> None:
    # The scan attestation is a credential, but not the holder's: in verifiableCredential
    # it is held to the holder rule and the whole presentation fails.
    vp = signed_vp(
        vp_with(
            [],
            **{
                SCAN_ATTESTATION_BUNDLES: None,
                "verifiableCredential": [aeo(), bundle["attestation"]],
            },
        )
    )
    outcome = verify(vp).with_challenge(SPENT)
    holder = outcome.presentation.check("holder")
    assert holder is not None and holder.code == "HOLDER_MISMATCH"
    assert outcome.credentials[1].result.check("holder").code == "HOLDER_MISMATCH"  # type: ignore[union-attr]
    assert not outcome.verified and outcome.benefits == frozenset()


def test_attestation_results_never_grant_or_remove_benefits(bundle: dict[str, Any]) -> None:
    outcome = verify(signed_vp(vp_with([bundle]))).with_challenge(SPENT)
    assert outcome.benefits == {"reduced-examination"}
    facts = ConsignmentFacts(CONSIGNMENT, (OTHER_CONTAINER,))
    bad = attestation_result(
        bundle,
        facts,
        audit={"ok": True, "steps": []},
        authorization_status={"status": "pass", "detail": "ok"},
    )
    with_bad = outcome.with_attestations((bad,))
    assert with_bad.benefits == outcome.benefits
    assert not with_bad.verified  # the bad attestation fails alone, but it fails
    assert all(c.verified for c in with_bad.credentials)
    body = with_bad.to_dict()
    assert body["attestationResults"][0]["verified"] is False
    assert {"check": "consignment", "attestation": 0}.items() <= body["errors"][-1].items()
    good = attestation_result(
        bundle,
        ConsignmentFacts(CONSIGNMENT, (CONTAINER,)),
        audit={"ok": True, "steps": []},
        authorization_status={"status": "pass", "detail": "ok"},
    )
    assert outcome.with_attestations((good,)).verified
    with pytest.raises(ValueError, match="one result per bundle"):
        outcome.with_attestations(())


# -- the consignment rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "status", "code"),
    [
        pytest.param(
            ConsignmentFacts(CONSIGNMENT, (CONTAINER,)), "pass", None, id="declared-container"
        ),
        pytest.param(
            ConsignmentFacts(CONSIGNMENT, (OTHER_CONTAINER, CONTAINER)),
            "pass",
            None,
            id="one-of-two",
        ),
        pytest.param(
            ConsignmentFacts(CONSIGNMENT, (OTHER_CONTAINER,)),
            "fail",
            "ATTESTATION_CONSIGNMENT_MISMATCH",
            id="another-consignment",
        ),
        pytest.param(
            ConsignmentFacts(CONSIGNMENT),
            "unknown",
            "ATTESTATION_CONSIGNMENT_UNKNOWN",
            id="containers-not-given",
        ),
        pytest.param(
            ConsignmentFacts(CONSIGNMENT, (), "MAEU123456789"),
            "unknown",
            "ATTESTATION_CONSIGNMENT_UNKNOWN",
            id="scan-names-no-transport-document",
        ),
    ],
)
def test_a_scan_is_tied_to_the_consignment_by_its_containers(
    bundle: dict[str, Any], facts: ConsignmentFacts, status: str, code: str | None
) -> None:
    check = consignment_check(bundle, facts)
    assert (check.status.value, check.code) == (status, code)
    assert CONSIGNMENT in check.detail


def test_a_scan_under_another_transport_document_is_another_consignment(
    bundle: dict[str, Any],
) -> None:
    with_document = copy.deepcopy(bundle)
    subject = with_document["attestation"]["credentialSubject"]
    subject["consignment"]["transportDocument"] = "MAEU000000001"
    check = consignment_check(
        with_document, ConsignmentFacts(CONSIGNMENT, (CONTAINER,), "MAEU123456789")
    )
    assert check.code == "ATTESTATION_CONSIGNMENT_MISMATCH"
    assert "MAEU000000001" in check.detail and "another consignment" in check.detail
    same = consignment_check(with_document, ConsignmentFacts(CONSIGNMENT, (), "MAEU000000001"))
    assert same.status is CheckStatus.PASS


def test_an_unreadable_bundle_is_not_run_and_fails_the_audit() -> None:
    result = attestation_result(
        {"type": "nonsense"},
        ConsignmentFacts(CONSIGNMENT, (CONTAINER,)),
        audit={
            "ok": False,
            "steps": [{"step": "bundle", "status": "fail", "detail": "not a bundle"}],
        },
        authorization_status=None,
    )
    assert [(c.name, c.status.value, c.code) for c in result.result.checks] == [
        ("consignment", "unknown", "NOT_RUN"),
        ("audit", "fail", "ATTESTATION_NOT_VERIFIED"),
        ("authorization", "unknown", "NOT_RUN"),
    ]
    assert result.attestation is None and not result.verified
    assert "not a bundle" in result.result.checks[1].detail


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"status": "fail", "code": "REVOKED", "detail": "revoked"}, ("fail", "REVOKED")),
        ({"status": "unknown", "detail": "list not held"}, ("unknown", "STATUS_UNKNOWN")),
        (None, ("unknown", "STATUS_UNKNOWN")),
    ],
)
def test_a_revoked_or_unknown_authorisation_fails_the_attestation(
    bundle: dict[str, Any], status: dict[str, Any] | None, expected: tuple[str, str]
) -> None:
    result = attestation_result(
        bundle,
        ConsignmentFacts(CONSIGNMENT, (CONTAINER,)),
        audit={"ok": True, "steps": []},
        authorization_status=status,
    )
    check = result.result.check("authorization")
    assert check is not None and (check.status.value, check.code) == expected
    assert not result.verified
    assert result.to_dict()["attestation"] == bundle["attestation"]["id"]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    return "x"


def test_any_change_to_a_carried_bundle_fails_the_holder_proof(bundle: dict[str, Any]) -> None:
    # Every leaf of the bundle (attestation, authorisation, proofs, checkpoint, inclusion
    # hashes) is covered by the holder's signature: changing any one fails the proof.
    signed = signed_vp(vp_with([bundle]))
    assert verify(signed).presentation.check("proof").status is CheckStatus.PASS  # type: ignore[union-attr]
    leaves = _leaves(bundle)
    assert len(leaves) > 40
    for path in leaves:
        tampered = copy.deepcopy(signed)
        target = tampered[SCAN_ATTESTATION_BUNDLES][0]
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = _changed(target[path[-1]])
        outcome = verify(tampered)
        proof = outcome.presentation.check("proof")
        data_model = outcome.presentation.check("data_model")
        assert (proof is not None and proof.status is CheckStatus.FAIL) or (
            data_model is not None and data_model.status is CheckStatus.FAIL
        ), path
