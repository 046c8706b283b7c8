"""An independent verifier, written from the specifications only, against a real node.

Nothing here imports the project's ``credentials`` or ``node`` packages (the node runs as a
separate process through ``nodeproc``). The verifier uses only ``rfc8785`` (JCS),
``hashlib`` (SHA-256), ``nacl.signing`` (Ed25519), ``requests`` and a base58btc decoder
written below. Specifications followed:

- did:web method (https://w3c-ccg.github.io/did-method-web/): ``did:web:host%3Aport`` resolves
  to ``https://host:port/.well-known/did.json``;
- did:key method: ``did:key:<multibase>`` names its own key, no network;
- Multikey (Controlled Identifiers 1.0): ``z`` + base58btc(0xed 0x01 + 32-byte Ed25519 key);
- Data Integrity EdDSA Cryptosuites 1.0, ``eddsa-jcs-2022`` Verify Proof;
- Bitstring Status List 1.0: ``u`` + base64url (no padding) of a GZIP-compressed bitstring,
  index 0 is the most significant bit of the first byte.

All traffic goes to 127.0.0.1 over HTTPS, verified with the test's trustme CA.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import nacl.exceptions
import nacl.signing
import pytest
import requests
import rfc8785
import trustme

from nodehelpers import aeo_subject
from nodeproc import NodeProcess

# -- base58btc, Multikey ---------------------------------------------------------------

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ED25519_PUB_HEADER = b"\xed\x01"


def b58decode(text: str) -> bytes:
    """Decode base58btc (Bitcoin alphabet); leading '1's are leading zero bytes."""
    number = 0
    for char in text:
        digit = BASE58_ALPHABET.find(char)
        if digit < 0:
            raise ValueError(f"not base58btc: {char!r}")
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * zeros + body


def test_b58decode_known_values() -> None:
    # Test vectors from draft-msporny-base58 (the base58btc Internet-Draft).
    assert b58decode("2NEpo7TZRRrLZSi2U") == b"Hello World!"
    assert b58decode("11233QC4") == b"\x00\x00(\x7f\xb4\xcd"
    assert b58decode("") == b""
    with pytest.raises(ValueError):
        b58decode("0OIl")


def multikey_ed25519(multibase: str) -> bytes:
    """The raw Ed25519 public key of a Multikey ``publicKeyMultibase``."""
    assert multibase.startswith("z"), "Multikey uses base58btc (multibase prefix z)"
    raw = b58decode(multibase[1:])
    assert raw[:2] == ED25519_PUB_HEADER, "not an Ed25519 public key (multicodec 0xed)"
    assert len(raw) == 34
    return raw[2:]


# -- DID resolution ----------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """A verification method found for a proof."""

    controller: str
    public_key: bytes


def did_web_url(did: str) -> str:
    """did:web §3.2 Read: the DID document URL (only bare domains, no path, here)."""
    assert did.startswith("did:web:")
    segments = did[len("did:web:") :].split(":")
    domain = unquote(segments[0])  # the port's colon arrives percent-encoded
    path = "/".join(unquote(s) for s in segments[1:])
    return f"https://{domain}/{path}/did.json" if path else f"https://{domain}/.well-known/did.json"


def fetch_json(http: requests.Session, url: str) -> Any:
    """GET a JSON document, only ever from loopback."""
    assert urlsplit(url).hostname == "127.0.0.1", f"refusing non-loopback URL {url}"
    with http.get(url, timeout=10.0) as response:
        assert response.status_code == 200, (url, response.status_code)
        return response.json()


def _vm_id(did: str, value: str) -> str:
    return did + value if value.startswith("#") else value


def resolve_did_web(http: requests.Session, vm_url: str, purpose: str) -> Resolved:
    """Resolve a did:web verification method listed under ``purpose``."""
    did, _, fragment = vm_url.partition("#")
    assert fragment, "a verification method URL has a fragment"
    document = fetch_json(http, did_web_url(did))
    assert document["id"] == did, "the DID document must be about the DID asked for"
    methods = {_vm_id(did, m["id"]): m for m in document.get("verificationMethod", [])}
    relation = document.get(purpose, [])
    listed = {_vm_id(did, r) if isinstance(r, str) else _vm_id(did, r["id"]) for r in relation}
    for item in relation:
        if isinstance(item, dict):
            methods.setdefault(_vm_id(did, item["id"]), item)
    assert vm_url in listed, f"{vm_url} is not listed for {purpose}"
    method = methods[vm_url]
    assert method["type"] == "Multikey"
    assert method["controller"] == did
    assert "revoked" not in method, f"{vm_url} was revoked"
    return Resolved(did, multikey_ed25519(method["publicKeyMultibase"]))


def resolve_did_key(vm_url: str) -> Resolved:
    """did:key: the key is the identifier; the VM fragment repeats the multibase value."""
    did, _, fragment = vm_url.partition("#")
    assert did.startswith("did:key:")
    multibase = did[len("did:key:") :]
    assert fragment == multibase, "a did:key verification method is did#<multibase>"
    # did:key lists its one key under every verification relationship, assertionMethod too.
    return Resolved(did, multikey_ed25519(multibase))


# -- eddsa-jcs-2022 ----------------------------------------------------------------------


def verify_eddsa_jcs_2022(secured: dict[str, Any], public_key: bytes) -> bool:
    """Data Integrity EdDSA Cryptosuites v1.0, 3.3.2 Verify Proof (eddsa-jcs-2022)."""
    proof = secured["proof"]
    assert isinstance(proof, dict), "one proof expected"
    # 1. unsecuredDocument: the document without its proof.
    unsecured = {k: copy.deepcopy(v) for k, v in secured.items() if k != "proof"}
    # 2. proofOptions: the proof without proofValue.
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    # 3. proofBytes: the multibase base58btc-decoded proofValue.
    proof_value = proof["proofValue"]
    if not isinstance(proof_value, str) or not proof_value.startswith("z"):
        return False
    try:
        proof_bytes = b58decode(proof_value[1:])
    except ValueError:
        return False
    # 4. When the proof carries @context, the document's @context must start with it.
    if "@context" in options:
        proof_ctx = options["@context"]
        proof_ctx = proof_ctx if isinstance(proof_ctx, list) else [proof_ctx]
        doc_ctx = secured.get("@context")
        doc_ctx = doc_ctx if isinstance(doc_ctx, list) else [doc_ctx]
        if doc_ctx[: len(proof_ctx)] != proof_ctx:
            return False
        unsecured["@context"] = options["@context"]
    # Proof configuration checks (3.3.5).
    if options.get("type") != "DataIntegrityProof":
        return False
    if options.get("cryptosuite") != "eddsa-jcs-2022":
        return False
    if "created" in options:
        datetime.fromisoformat(options["created"].replace("Z", "+00:00"))
    # 5.-7. Transformation (JCS), proof configuration (JCS), hashing (SHA-256 each, config first).
    hash_data = (
        hashlib.sha256(rfc8785.dumps(options)).digest()
        + hashlib.sha256(rfc8785.dumps(unsecured)).digest()
    )
    # 8. Ed25519 verification.
    if len(proof_bytes) != 64:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(hash_data, proof_bytes)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def issuer_of(document: dict[str, Any]) -> str:
    issuer = document["issuer"]
    return str(issuer["id"] if isinstance(issuer, dict) else issuer)


def verify_secured(
    http: requests.Session | None, document: dict[str, Any], *, now: datetime
) -> bool:
    """Resolve the proof's key (did:web over HTTPS, did:key offline) and verify the proof."""
    proof = document["proof"]
    assert proof["proofPurpose"] == "assertionMethod"
    vm_url = proof["verificationMethod"]
    if vm_url.startswith("did:key:"):
        resolved = resolve_did_key(vm_url)
    else:
        assert http is not None, "did:web needs HTTPS"
        resolved = resolve_did_web(http, vm_url, "assertionMethod")
    assert resolved.controller == issuer_of(document), "the key must belong to the issuer"
    for member, ok in (("validFrom", lambda t: t <= now), ("validUntil", lambda t: now <= t)):
        if member in document:
            when = datetime.fromisoformat(document[member].replace("Z", "+00:00"))
            assert ok(when), f"{member} {document[member]} excludes {now.isoformat()}"
    return verify_eddsa_jcs_2022(document, resolved.public_key)


# -- Bitstring Status List -------------------------------------------------------------


def status_bit(http: requests.Session, entry: dict[str, Any], *, now: datetime) -> int:
    """Bitstring Status List v1.0 §3.2 (validate): fetch, verify, expand, read the bit."""
    assert entry["type"] == "BitstringStatusListEntry"
    list_vc = fetch_json(http, entry["statusListCredential"])
    assert "BitstringStatusListCredential" in list_vc["type"]
    assert verify_secured(http, list_vc, now=now), "status list credential proof"
    subject = list_vc["credentialSubject"]
    assert subject["type"] == "BitstringStatusList"
    assert subject["statusPurpose"] == entry["statusPurpose"]
    encoded = subject["encodedList"]
    assert encoded.startswith("u"), "multibase base64url"
    b64 = encoded[1:]
    compressed = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
    bits = gzip.decompress(compressed)
    assert len(bits) * 8 >= 131_072, "the list must have at least 131,072 entries"
    index = int(entry["statusListIndex"])
    assert 0 <= index < len(bits) * 8
    return (bits[index // 8] >> (7 - index % 8)) & 1


def status_entries(credential: dict[str, Any]) -> dict[str, dict[str, Any]]:
    raw = credential["credentialStatus"]
    items = raw if isinstance(raw, list) else [raw]
    return {e["statusPurpose"]: e for e in items}


# -- the node under test -----------------------------------------------------------------


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    tmp = Path(tmp_path_factory.mktemp("independent"))
    with NodeProcess(tmp / "eu") as started:
        started.init(None, trustme.CA())
        started.start(workers=2)
        yield started


@pytest.fixture
def http(node: NodeProcess) -> Iterator[requests.Session]:
    """A session with no token: a verifier needs none for DID documents and status lists."""
    with node.session() as session:
        yield session


def _now() -> datetime:
    return datetime.now(UTC)


def test_aeo_credential_verifies_independently_then_is_revoked(
    node: NodeProcess, http: requests.Session
) -> None:
    status, body = node.post_json(
        "/aeo-credentials", {"credentialSubject": aeo_subject()}, node.admin_token
    )
    assert status == 201, body
    vc = body["verifiableCredential"]
    assert vc["issuer"] == node.did
    assert node.did == f"did:web:127.0.0.1%3A{node.port}"
    assert did_web_url(node.did) == f"https://127.0.0.1:{node.port}/.well-known/did.json"
    assert vc["proof"]["cryptosuite"] == "eddsa-jcs-2022"

    assert verify_secured(http, vc, now=_now()) is True
    entries = status_entries(vc)
    assert set(entries) == {"revocation", "suspension"}
    assert status_bit(http, entries["revocation"], now=_now()) == 0
    assert status_bit(http, entries["suspension"], now=_now()) == 0

    # The verifier is not vacuous: a changed claim or a changed signature fails.
    tampered = copy.deepcopy(vc)
    tampered["credentialSubject"]["legalName"] = "Someone Else GmbH"
    assert verify_secured(http, tampered, now=_now()) is False
    forged = copy.deepcopy(vc)
    value = forged["proof"]["proofValue"]
    forged["proof"]["proofValue"] = value[:-2] + ("11" if value[-2:] != "11" else "22")
    assert verify_secured(http, forged, now=_now()) is False
    shifted = copy.deepcopy(vc)
    shifted["proof"]["created"] = "2020-01-01T00:00:00Z"
    assert verify_secured(http, shifted, now=_now()) is False

    status, change = node.post_json(
        "/credentials/status",
        {
            "credentialId": vc["id"],
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
            "status": True,
        },
        node.admin_token,
    )
    assert status == 200, change
    # The credential's own proof still verifies; its revocation bit is now set.
    assert verify_secured(http, vc, now=_now()) is True
    assert status_bit(http, entries["revocation"], now=_now()) == 1
    assert status_bit(http, entries["suspension"], now=_now()) == 0


def test_did_key_issuer_verifies_without_network(node: NodeProcess, http: requests.Session) -> None:
    did_document = fetch_json(http, did_web_url(node.did))
    current = did_document["authentication"][0]
    method = next(
        m for m in did_document["verificationMethod"] if _vm_id(node.did, m["id"]) == current
    )
    did_key = "did:key:" + method["publicKeyMultibase"]
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": did_key,
        "credentialSubject": {
            "id": "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
            "name": "did:key issuance check",
        },
    }
    status, body = node.post_json(
        "/credentials/issue", {"credential": credential}, node.admin_token
    )
    assert status == 201, body
    vc = body["verifiableCredential"]
    assert vc["issuer"] == did_key
    assert vc["proof"]["verificationMethod"] == f"{did_key}#{method['publicKeyMultibase']}"
    assert "credentialStatus" not in vc
    # http=None: a did:web lookup would fail the assertion in verify_secured.
    assert verify_secured(None, vc, now=_now()) is True
    tampered = copy.deepcopy(vc)
    tampered["credentialSubject"]["name"] = "changed"
    assert verify_secured(None, tampered, now=_now()) is False
