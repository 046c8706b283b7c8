"""``trustlane demo``: a short credential round trip.

Until the federation exists, the demo shows the trust kernel: generate an issuer key, sign an
AEO credential with eddsa-jcs-2022, verify it, then show a tampered copy and an expired
reading failing with reasons.
"""

from __future__ import annotations

import argparse
import copy
import uuid
from datetime import UTC, datetime, timedelta

from credentials.aeo import build_aeo_credential
from credentials.data_integrity import DIDKeyResolver
from credentials.keys import PrivateKey
from credentials.result import VerificationResult
from credentials.signing import sign_credential
from credentials.verification import get_credential_verification_result
from node.cli._io import EXIT_FAILED, EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` command."""
    demo = sub.add_parser("demo", help="run a short credential round trip")
    demo.set_defaults(func=_demo)


def _show(title: str, result: VerificationResult) -> None:
    print(f"\n== {title}: {'VERIFIED' if result.verified else 'NOT VERIFIED'}")
    for check in result.checks:
        code = f" [{check.code}]" if check.code else ""
        print(f"   {check.name:<10} {check.status.value:<7}{code} {check.detail}")


def _demo(args: argparse.Namespace) -> int:
    now = datetime.now(UTC).replace(microsecond=0)
    issuer_key = PrivateKey.generate()
    holder_key = PrivateKey.generate()
    print("trustlane demo: AEO credential round trip (trust kernel)")
    print(f"   issuer (EU customs, did:key) {issuer_key.public_key.did}")
    print(f"   holder (trader, did:key)     {holder_key.public_key.did}")
    credential = build_aeo_credential(
        {
            "id": holder_key.public_key.did,
            "legalName": "Beispiel Logistik GmbH",
            "identifiers": [{"scheme": "EORI", "value": "DE123456789012345"}],
            "country": "DE",
            "authorisationNumber": "DEAEOF0000012345",
            "programme": "EU-AEO",
            "level": "AEOF",
            "roles": ["exporter", "importer"],
            "reassessmentDate": (now + timedelta(days=2 * 365)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        issuer=issuer_key.public_key.did,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        valid_from=now,
        valid_until=now + timedelta(days=3 * 365),
    )
    signed = sign_credential(
        credential,
        issuer_key,
        verification_method=issuer_key.public_key.verification_method_id,
        created=now,
    )
    proof = signed["proof"]
    assert isinstance(proof, dict)  # noqa: S101 - one proof was just added
    print(f"\n1. signed {credential['id']}")
    print(f"   proofValue {str(proof['proofValue'])[:40]}...")

    resolver = DIDKeyResolver()
    good = get_credential_verification_result(signed, resolver=resolver, now=now)
    _show("2. verify as issued", good)

    tampered = copy.deepcopy(signed)
    subject = tampered["credentialSubject"]
    assert isinstance(subject, dict)  # noqa: S101 - built above
    subject["level"] = "AEOS"  # a self-made "upgrade"
    bad = get_credential_verification_result(tampered, resolver=resolver, now=now)
    _show("3. verify a copy whose level was edited", bad)

    later = now + timedelta(days=4 * 365)
    expired = get_credential_verification_result(signed, resolver=resolver, now=later)
    _show(f"4. verify as of {later.date()} (after validUntil)", expired)

    ok = good.verified and not bad.verified and not expired.verified
    print(
        "\ndemo",
        "complete: the genuine credential verified and the others failed"
        if ok
        else "FAILED: unexpected verification outcome",
    )
    return EXIT_OK if ok else EXIT_FAILED
