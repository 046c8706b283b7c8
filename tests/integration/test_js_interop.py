"""Interoperability with an independent implementation: Digital Bazaar's JavaScript libraries.

``tests/interop/js`` pins ``@digitalbazaar/vc``, the eddsa-jcs-2022 and eddsa-rdfc-2022
cryptosuites and ``@digitalbazaar/vc-bitstring-status-list`` in a lockfile; the set-up runs
``npm ci`` when ``node_modules`` is missing. Both directions are tested:

- the JS libraries verify what a real node issues over HTTPS (did:web resolved from the
  node, the status list fetched and its issuer matched), for the did:web and the did:key
  form of the node, and see a revocation;
- the node verifies what the JS libraries sign: eddsa-jcs-2022 and eddsa-rdfc-2022, proof
  sets, large numbers and unicode, and a presentation signed with eddsa-rdfc-2022.

Everything stays on 127.0.0.1 (the script refuses any other URL; its CA arrives through
``NODE_EXTRA_CA_CERTS``), and every subprocess has a timeout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from credentials.aeo import AEO_CONTEXT_URL, aeo_context
from credentials.data_integrity import DIDKeyResolver, get_proof_outcomes
from credentials.jsonld import context_bytes
from credentials.keys import PrivateKey
from credentials.strict_json import loads_object
from nodehelpers import aeo_subject
from nodeproc import NodeProcess, sanitized_env

JS_DIR = Path(__file__).resolve().parents[1] / "interop" / "js"
NPM_TIMEOUT = 300
NODE_TIMEOUT = 60
V2 = "https://www.w3.org/ns/credentials/v2"
EXAMPLES = "https://www.w3.org/ns/credentials/examples/v2"


def _contexts() -> dict[str, Any]:
    return {
        AEO_CONTEXT_URL: aeo_context(),
        EXAMPLES: loads_object(context_bytes(EXAMPLES)),
    }


@pytest.fixture(scope="module")
def js() -> Path:
    """The JS folder with its pinned packages installed (``npm ci`` from the lockfile)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the interoperability tests"
    if not (JS_DIR / "node_modules" / "@digitalbazaar" / "vc").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, f"npm ci failed: {done.stderr[-2000:]}"
    return JS_DIR


def _run(js: Path, command: dict[str, Any], ca: Path | None = None) -> dict[str, Any]:
    extra = {"NODE_EXTRA_CA_CERTS": str(ca)} if ca is not None else {}
    done = subprocess.run(
        [shutil.which("node") or "node", str(js / "interop.mjs")],
        input=json.dumps(command),
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        env=sanitized_env(**extra),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    tmp = Path(tmp_path_factory.mktemp("js-interop"))
    with NodeProcess(tmp / "eu") as started:
        started.init(None, trustme.CA())
        started.start(workers=1)
        yield started


def _js_verify(js: Path, node: NodeProcess, vc: dict[str, Any]) -> dict[str, Any]:
    return _run(js, {"op": "verify", "credential": vc, "contexts": _contexts()}, node.ca_path)


def _revoke(node: NodeProcess, vc: dict[str, Any]) -> None:
    status, body = node.post_json(
        "/credentials/status",
        {
            "credentialId": vc["id"],
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
            "status": True,
        },
        node.admin_token,
    )
    assert status == 200, body


def _statuses(result: dict[str, Any]) -> dict[str, bool]:
    [status] = result["statuses"]
    assert status["verified"] is True, status["error"]
    return {r["purpose"]: r["status"] for r in status["results"]}


def test_js_verifies_a_did_web_aeo_credential_and_sees_its_revocation(
    js: Path, node: NodeProcess
) -> None:
    status, body = node.post_json(
        "/aeo-credentials", {"credentialSubject": aeo_subject()}, node.admin_token
    )
    assert status == 201, body
    vc = body["verifiableCredential"]
    assert vc["issuer"] == node.did
    result = _js_verify(js, node, vc)
    assert result["verified"] is True, result["error"]
    assert _statuses(result) == {"revocation": False, "suspension": False}
    _revoke(node, vc)
    after = _js_verify(js, node, vc)
    assert _statuses(after)["revocation"] is True


def test_js_verifies_a_did_key_credential_on_its_own_did_key_lists(
    js: Path, node: NodeProcess
) -> None:
    # The gap of issue 13: the JS status library refuses a list of another issuer.
    _, did_doc, _ = node.get_json("/.well-known/did.json")
    multibase = did_doc["verificationMethod"][0]["publicKeyMultibase"]
    did_key = f"did:key:{multibase}"
    credential = {
        "@context": [V2],
        "type": ["VerifiableCredential"],
        "issuer": did_key,
        "credentialSubject": {"id": "did:example:holder", "name": "Zoë Ünïcode 税関"},
    }
    status, body = node.post_json(
        "/credentials/issue",
        {
            "credential": credential,
            "options": {"credentialStatus": {"type": "BitstringStatusListEntry"}},
        },
        node.admin_token,
    )
    assert status == 201, body
    vc = body["verifiableCredential"]
    result = _js_verify(js, node, vc)
    assert result["verified"] is True, result["error"]
    assert _statuses(result) == {"revocation": False, "suspension": False}


def test_js_refuses_a_tampered_node_credential(js: Path, node: NodeProcess) -> None:
    status, body = node.post_json(
        "/aeo-credentials", {"credentialSubject": aeo_subject()}, node.admin_token
    )
    assert status == 201
    vc = body["verifiableCredential"]
    vc["credentialSubject"]["legalName"] = "Someone Else Ltd"
    result = _js_verify(js, node, vc)
    assert result["verified"] is False


SEEDS = ["01" * 32, "02" * 32]

ODD_VALUES: dict[str, Any] = {
    "large": 15639868060766604,
    "millionth": 1e-6,
    "negative": -0.5,
    "two-to-the-53": 9007199254740992,
    "list": [0, 1.5, 1e21, -(2**31)],
    "unicode": "Zoë, Ünïcode, 税関, 🚢, \u2028",
    "escapes": 'quote " backslash \\ tab \t',
}


def _js_signed(js: Path, suite: str, seeds: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    key = PrivateKey.from_seed(bytes.fromhex(seeds[0]))
    credential = {
        "@context": [V2, EXAMPLES],
        "id": "urn:uuid:0b7c6a44-46a5-4f4b-9a21-6f1b8e3f1c21",
        "type": ["VerifiableCredential", "ExampleCredential"],
        "issuer": key.public_key.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:holder", **extra},
    }
    signed = _run(
        js,
        {
            "op": "sign",
            "credential": credential,
            "seeds": seeds,
            "suite": suite,
            "contexts": _contexts(),
        },
    )["credential"]
    return signed


# jsonld.js (under eddsa-rdfc-2022) turns a number written without a "." and below 1e21,
# such as 1e-7 (JavaScript's String(1e-7) is "1e-7"), into the integer "0"; JSON-LD 1.1
# makes it the double "1.0E-7", as pyld does. Such values are signed by JS only with JCS here.
JCS_ONLY: dict[str, Any] = {"tiny": 1e-7}


@pytest.mark.parametrize("suite", ["jcs", "rdfc"])
def test_node_verifies_js_signed_proof_sets_with_odd_values(js: Path, suite: str) -> None:
    values = {**ODD_VALUES, **(JCS_ONLY if suite == "jcs" else {})}
    signed = _js_signed(js, suite, SEEDS, values)
    assert len(signed["proof"]) == 2
    assert {p["cryptosuite"] for p in signed["proof"]} == {f"eddsa-{suite}-2022"}
    # Through the wire format: the bytes JS wrote, parsed by the node's strict parser.
    document = loads_object(json.dumps(signed, ensure_ascii=False).encode())
    outcomes = get_proof_outcomes(document, resolver=DIDKeyResolver(), now=datetime.now(UTC))
    assert [o.verified for o in outcomes] == [True, True], [o.error for o in outcomes]
    document["credentialSubject"]["unicode"] = "Zoe"
    tampered = get_proof_outcomes(document, resolver=DIDKeyResolver(), now=datetime.now(UTC))
    assert not any(o.verified for o in tampered)


def test_node_verifies_a_js_signed_credential_through_its_api(js: Path, node: NodeProcess) -> None:
    signed = _js_signed(js, "rdfc", SEEDS[:1], {"name": "rdfc through the API"})
    status, body = node.post_json(
        "/credentials/verify", {"verifiableCredential": signed}, node.admin_token
    )
    proof = next(c for c in body["checks"] if c["name"] == "proof")
    issuer = next(c for c in body["checks"] if c["name"] == "issuer")
    assert proof["status"] == "pass", body
    assert issuer["status"] == "pass", body
    # A stranger's credential: verified cryptographically, not recognised (no agreement).
    assert status == 422 and body["verified"] is False


def test_node_verifies_a_js_signed_rdfc_presentation(js: Path) -> None:
    holder = PrivateKey.from_seed(bytes.fromhex(SEEDS[1]))
    inner = _js_signed(js, "jcs", SEEDS[:1], {"name": "inside a presentation"})
    presentation = {
        "@context": [V2],
        "type": ["VerifiablePresentation"],
        "holder": holder.public_key.did,
        "verifiableCredential": [inner],
    }
    signed = _run(
        js,
        {
            "op": "present",
            "presentation": presentation,
            "seed": SEEDS[1],
            "challenge": "c-123",
            "domain": "https://verifier.example",
            "suite": "rdfc",
            "contexts": _contexts(),
        },
    )["presentation"]
    assert signed["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    outcomes = get_proof_outcomes(
        signed,
        resolver=DIDKeyResolver(),
        expected_purpose="authentication",
        now=datetime.now(UTC),
        challenge="c-123",
        domain="https://verifier.example",
    )
    assert [o.verified for o in outcomes] == [True], [o.error for o in outcomes]
    wrong = get_proof_outcomes(
        signed,
        resolver=DIDKeyResolver(),
        expected_purpose="authentication",
        now=datetime.now(UTC),
        challenge="other",
    )
    assert not wrong[0].verified


def test_node_accepts_a_js_rdfc_presentation_through_its_challenge_flow(
    js: Path, node: NodeProcess
) -> None:
    # How the VC 2.0 test suite and other wallets present: the holder proof is eddsa-rdfc-2022.
    holder = PrivateKey.from_seed(bytes.fromhex(SEEDS[1]))
    status, body = node.post_json(
        "/aeo-credentials",
        {"credentialSubject": aeo_subject(holder.public_key.did)},
        node.admin_token,
    )
    assert status == 201, body
    credential = body["verifiableCredential"]
    status, issued = node.post_json(
        "/challenges", {"consignment": "6GB123456789000-12345", "port": "DEHAM"}, node.admin_token
    )
    assert status == 201, issued

    def present(challenge: str) -> dict[str, Any]:
        return _run(
            js,
            {
                "op": "present",
                "presentation": {
                    "@context": [V2],
                    "type": ["VerifiablePresentation"],
                    "holder": holder.public_key.did,
                    "verifiableCredential": [credential],
                },
                "seed": SEEDS[1],
                "challenge": challenge,
                "domain": issued["domain"],
                "suite": "rdfc",
                "contexts": _contexts(),
            },
        )["presentation"]

    def verify(vp: dict[str, Any]) -> tuple[int, Any]:
        return node.post_json(
            "/presentations/verify",
            {
                "verifiablePresentation": vp,
                "options": {
                    "challenge": issued["challenge"],
                    "consignment": issued["consignment"],
                    "port": issued["port"],
                },
            },
            node.admin_token,
        )

    forged = present("not-the-issued-challenge")
    status, body = verify(forged)
    assert status == 422 and body["verified"] is False, body
    vp = present(issued["challenge"])
    assert vp["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    status, body = verify(vp)
    assert status == 200 and body["verified"] is True, body
