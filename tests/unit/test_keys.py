"""Tests for credentials.keys: Multikey, did:key, sign/verify, key files."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_core_ed25519_add, crypto_scalarmult_ed25519_base_noclamp

from credentials.errors import InvalidKeyError, InvalidSignatureError, MalformedInputError
from credentials.keys import (
    ED25519_PRIV_MULTICODEC,
    ED25519_PUB_MULTICODEC,
    PrivateKey,
    PublicKey,
    b58decode,
    b58encode,
    key_pair_from_dict,
    key_pair_to_dict,
    public_key_from_verification_method,
    resolve_did_key,
)

VECTORS = Path(__file__).parents[1] / "vectors"
DID_KEY = VECTORS / "did-key"
JCS = VECTORS / "eddsa-jcs-2022"

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
X25519_PUB_MULTICODEC = b"\xec\x01"
RELATIONSHIPS = (
    "authentication",
    "assertionMethod",
    "capabilityDelegation",
    "capabilityInvocation",
)


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def multibase(header: bytes, payload: bytes) -> str:
    return "z" + b58encode(header + payload)


# A well-formed key used by the negative tables (seed 0 of the did:key spec vectors).
GOOD = PrivateKey.from_seed(bytes(32))
GOOD_PUB = GOOD.public_key
OTHER_PUB = PrivateKey.from_seed(bytes(31) + b"\x01").public_key
BASEPOINT = crypto_scalarmult_ed25519_base_noclamp((1).to_bytes(32, "little"))
ORDER_8_POINT = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")


# --- base58btc ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param(b"", "", id="empty"),
        pytest.param(b"\x00\x00a", "112g", id="leading-zeros"),
        pytest.param(b"hello world", "StV1DL6CwTryKyV", id="hello-world"),
    ],
)
def test_b58_known_answers(data: bytes, text: str) -> None:
    assert b58encode(data) == text
    assert b58decode(text) == data


def test_b58encode_rejects_str() -> None:
    with pytest.raises(TypeError):
        b58encode("abc")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("0OIl", id="zero-O-I-l"),
        pytest.param("abc+", id="plus"),
        pytest.param("z\u00e9", id="non-ascii"),
    ],
)
def test_b58decode_rejects_non_base58(text: str) -> None:
    with pytest.raises(MalformedInputError, match=r"^not base58btc$"):
        b58decode(text)


# --- vc-di-eddsa key pairs ------------------------------------------------------------------


def test_vc_di_eddsa_key_pair() -> None:
    pair = load(JCS / "keyPair.json")
    private = PrivateKey.from_multibase(pair["privateKeyMultibase"])
    assert private.seed.hex() == "c96ef9ea10c5e414c471723aff9de72c35fa5b70fae97e8832ecac7d2e2b8ed6"
    assert private.public_key.raw.hex() == (
        "b00d8d938e7f773d51565aad36a623f5344f7f5d1960f9cf3e8e12620ea2810f"
    )
    assert private.public_key.multibase == pair["publicKeyMultibase"]
    assert private.multibase == pair["privateKeyMultibase"]
    assert PublicKey.from_multibase(pair["publicKeyMultibase"]) == private.public_key


def test_vc_di_eddsa_signature_vector() -> None:
    # The eddsa-jcs-2022 vector signs the 64 bytes proofHash || docHash.
    private = PrivateKey.from_multibase(load(JCS / "keyPair.json")["privateKeyMultibase"])
    hash_data = bytes.fromhex((JCS / "combinedHashJCS.txt").read_text(encoding="ascii").strip())
    signature = bytes.fromhex((JCS / "sigHexJCS.txt").read_text(encoding="ascii").strip())
    assert len(hash_data) == 64
    private.public_key.verify(signature, hash_data)
    assert private.sign(hash_data) == signature  # Ed25519 signing is deterministic.
    proof_value = (JCS / "sigBTC58JCS.txt").read_text(encoding="ascii").strip()
    assert proof_value == "z" + b58encode(signature)


MULTI_KEY_PAIRS = load(JCS / "proof-set-chain-rdfc" / "multiKeyPairs.json")


@pytest.mark.parametrize("name", sorted(MULTI_KEY_PAIRS))
def test_multi_key_pairs(name: str) -> None:
    pair = MULTI_KEY_PAIRS[name]
    assert set(pair) == {"publicKeyMultibase", "privateKeyMultibase"}
    private = PrivateKey.from_multibase(pair["privateKeyMultibase"])
    assert private.public_key.multibase == pair["publicKeyMultibase"]
    assert private.multibase == pair["privateKeyMultibase"]
    assert key_pair_from_dict(pair) == private


# --- did:key spec vectors -------------------------------------------------------------------

ED25519_X25519 = load(DID_KEY / "ed25519-x25519.json")


@pytest.mark.parametrize("did", list(ED25519_X25519))
def test_did_key_spec_seed_vectors(did: str) -> None:
    entry = ED25519_X25519[did]
    expected_doc = entry["didDocument"]
    key = PrivateKey.from_seed(bytes.fromhex(entry["seed"])).public_key
    assert key.did == did
    assert PublicKey.from_did_key(did) == key

    # The Ed25519 key, given either as publicKeyBase58 or as a JWK.
    verification = entry["verificationKeyPair"]
    if "publicKeyBase58" in verification:
        assert b58encode(key.raw) == verification["publicKeyBase58"]
    else:
        assert verification["publicKeyJwk"]["crv"] == "Ed25519"
        assert b64url(verification["publicKeyJwk"]["x"]) == key.raw
    assert verification["id"].endswith("#" + key.multibase)

    # The X25519 key-agreement key is the Ed25519 -> Curve25519 conversion.
    agreement = entry["keyAgreementKeyPair"]
    if "publicKeyBase58" in agreement:
        x25519_raw = b58decode(agreement["publicKeyBase58"])
    else:
        assert agreement["publicKeyJwk"]["crv"] == "X25519"
        x25519_raw = b64url(agreement["publicKeyJwk"]["x"])
    x25519_multibase = multibase(X25519_PUB_MULTICODEC, x25519_raw)
    assert agreement["id"].endswith("#" + x25519_multibase)

    resolved = resolve_did_key(did)
    assert resolved["id"] == expected_doc["id"] == did
    (method,) = resolved["verificationMethod"]
    assert method["id"] == expected_doc["verificationMethod"][0]["id"]
    assert method["controller"] == expected_doc["verificationMethod"][0]["controller"]
    assert method["id"] == key.verification_method_id
    for relationship in RELATIONSHIPS:
        assert resolved[relationship] == expected_doc[relationship]  # type: ignore[literal-required]
    (key_agreement,) = resolved["keyAgreement"]
    assert key_agreement["publicKeyMultibase"] == x25519_multibase
    assert [key_agreement["id"]] == expected_doc["keyAgreement"]
    assert key_agreement["id"] == expected_doc["verificationMethod"][1]["id"]


SPEC_EXAMPLES = {e["name"]: e for e in load(DID_KEY / "did-key-spec-examples.json")["examples"]}


def test_did_key_spec_example_previous_contexts() -> None:
    # The DID Core 1.0 variant of the spec's example is exactly what we emit.
    example = SPEC_EXAMPLES["test-vector-ed25519-with-x25519-did-v1-multikey-v1"]
    assert resolve_did_key(example["did"]) == example["didDocument"]


@pytest.mark.parametrize(
    "name", ["create-example-did-v1.1", "test-vector-ed25519-with-x25519-did-v1.1"]
)
def test_did_key_spec_example_current_contexts(name: str) -> None:
    # The current spec differs only in @context (DID v1.1); everything else must match.
    example = SPEC_EXAMPLES[name]
    resolved: dict[str, Any] = dict(resolve_did_key(example["did"]))
    expected = dict(example["didDocument"])
    assert expected.pop("@context") == ["https://www.w3.org/ns/did/v1.1"]
    assert resolved.pop("@context") == [
        "https://www.w3.org/ns/did/v1",
        "https://w3id.org/security/multikey/v1",
    ]
    assert resolved == expected


def test_did_key_spec_example_did_only() -> None:
    example = SPEC_EXAMPLES["test-vector-ed25519-did-only"]
    assert example["didDocument"] is None
    assert PublicKey.from_did_key(example["did"]).did == example["did"]


SUMMARY = load(DID_KEY / "ed25519-did-key-summary.json")["keys"]


@pytest.mark.parametrize("entry", SUMMARY, ids=[e["publicKeyMultibase"][:12] for e in SUMMARY])
def test_did_key_summary(entry: dict[str, str]) -> None:
    assert entry["multicodec_header_hex"] == ED25519_PUB_MULTICODEC.hex()
    key = PublicKey(bytes.fromhex(entry["publicKey_hex"]))
    assert key.multibase == entry["publicKeyMultibase"]
    assert key.did == entry["did"]
    assert key.verification_method_id == entry["verificationMethod_id"]
    assert PublicKey.from_did_key(entry["verificationMethod_id"]) == key
    assert public_key_from_verification_method(entry["verificationMethod_id"]) == key
    (key_agreement,) = resolve_did_key(entry["did"])["keyAgreement"]
    assert key_agreement["publicKeyMultibase"] == entry["x25519_keyAgreement_multibase"]
    if "ed25519_seed_hex" in entry:
        private = PrivateKey.from_seed(bytes.fromhex(entry["ed25519_seed_hex"]))
        assert private.public_key == key
    if "secretKeyMultibase" in entry:
        assert entry["secret_multicodec_header_hex"] == ED25519_PRIV_MULTICODEC.hex()
        private = PrivateKey.from_multibase(entry["secretKeyMultibase"])
        assert private.public_key == key
        assert private.seed.hex() == entry["ed25519_seed_hex"]


VC_DI_EDDSA_EXAMPLES = load(DID_KEY / "vc-di-eddsa-multikey-examples.json")["examples"]


@pytest.mark.parametrize("example", VC_DI_EDDSA_EXAMPLES, ids=lambda e: f"line{e['html_line']}")
def test_vc_di_eddsa_multikey_examples(example: dict[str, Any]) -> None:
    document = example["document"]
    methods = document.get("verificationMethod", [document])
    for method in methods:
        assert method["type"] == "Multikey"
        text = method["publicKeyMultibase"]
        assert text.startswith("z6Mk")
        assert b58decode(text[1:])[:2] == ED25519_PUB_MULTICODEC
        assert PublicKey.from_multibase(text).multibase == text
        # These examples use did:example and https controllers, which we do not resolve.
        with pytest.raises(InvalidKeyError, match=r"unsupported DID method|not a did:key"):
            public_key_from_verification_method(method["id"])


# --- negative tables --------------------------------------------------------------------------


def y_encoding(y: int, *, x_negative: bool = False) -> bytes:
    return (y | (x_negative << 255)).to_bytes(32, "little")


BAD_PUBLIC_MULTIBASE = [
    pytest.param(
        "u" + base64.urlsafe_b64encode(ED25519_PUB_MULTICODEC + GOOD_PUB.raw).decode().rstrip("="),
        "must be multibase base58btc \\(prefix 'z'\\), got prefix 'u'",
        id="base64url-prefix-u",
    ),
    pytest.param(GOOD_PUB.multibase[1:], "got prefix '6'", id="no-multibase-prefix"),
    pytest.param("", "got prefix ''", id="empty-string"),
    pytest.param(
        "z",
        "missing or malformed multicodec header, expected Ed25519 public key 0xed01",
        id="empty-payload",
    ),
    pytest.param(GOOD_PUB.multibase[:-1] + "0", "is not base58btc", id="non-base58-char"),
    pytest.param(
        multibase(X25519_PUB_MULTICODEC, GOOD_PUB.raw),
        "^unsupported multicodec 0xec \\(x25519-pub\\), expected Ed25519 public key 0xed01$",
        id="x25519-0xec01",
    ),
    pytest.param(
        multibase(b"\xe7\x01", b"\x02" + GOOD_PUB.raw),
        "unsupported multicodec 0xe7 \\(secp256k1-pub\\)",
        id="secp256k1-0xe701",
    ),
    pytest.param(
        multibase(b"\x80\x24", b"\x02" + GOOD_PUB.raw),
        "unsupported multicodec 0x1200 \\(p256-pub\\), expected Ed25519 public key 0xed01",
        id="p256-0x8024",
    ),
    pytest.param(
        multibase(b"\x55", GOOD_PUB.raw),
        "^unsupported multicodec 0x55, expected Ed25519 public key 0xed01$",
        id="unnamed-codec-raw-0x55",
    ),
    pytest.param(
        multibase(ED25519_PRIV_MULTICODEC, GOOD.seed),
        "unsupported multicodec 0x1300 \\(ed25519-priv\\)",
        id="private-key-as-public",
    ),
    pytest.param(
        multibase(b"\xed\x81\x00", GOOD_PUB.raw),
        r"malformed multicodec header \(non-minimal varint\), expected Ed25519 public key",
        id="non-minimal-varint-header",
    ),
    pytest.param(
        multibase(b"\xff\xff\xff\xff", b""), "missing or malformed multicodec", id="unending-varint"
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, b""),
        "must be 32 bytes after the 0xed01 header, got 0",
        id="header-only",
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, GOOD_PUB.raw[:31]),
        "must be 32 bytes after the 0xed01 header, got 31",
        id="truncated-payload",
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, GOOD_PUB.raw + b"\x00"),
        "must be 32 bytes after the 0xed01 header, got 33",
        id="extended-payload",
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, b"\x01" + bytes(31)),
        "small-order point",
        id="small-order-identity",
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, bytes(32)), "small-order point", id="small-order-all-zero"
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, y_encoding(P - 1)),
        "small-order point",
        id="small-order-2-y=p-1",
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, ORDER_8_POINT), "small-order point", id="small-order-8"
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, y_encoding(1, x_negative=True)),
        "small-order point",
        id="identity-with-negative-zero-x",
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, crypto_core_ed25519_add(BASEPOINT, ORDER_8_POINT)),
        "not in the prime-order subgroup",
        id="mixed-order-B+T8",
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, y_encoding(2)),
        "not a point on the curve",
        id="not-on-curve-y=2",
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, y_encoding(2**255 - 1)),
        "not canonical: y >= 2\\^255 - 19",
        id="non-canonical-y=ff..ff7f",
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, y_encoding(P)),
        "not canonical",
        id="non-canonical-y=p",
    ),
    pytest.param(
        multibase(ED25519_PUB_MULTICODEC, y_encoding(P + 1, x_negative=True)),
        "not canonical",
        id="non-canonical-identity-y=p+1",
    ),
]


@pytest.mark.parametrize(("text", "match"), BAD_PUBLIC_MULTIBASE)
def test_public_from_multibase_rejects(text: str, match: str) -> None:
    with pytest.raises(InvalidKeyError, match=match):
        PublicKey.from_multibase(text)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        pytest.param(GOOD_PUB.raw[:31], "must be 32 bytes, got 31", id="31-bytes"),
        pytest.param(GOOD_PUB.raw + b"\x00", "must be 32 bytes, got 33", id="33-bytes"),
        pytest.param(GOOD_PUB.raw.hex(), "must be bytes, got str", id="hex-string"),
        pytest.param(bytearray(GOOD_PUB.raw), "must be bytes, got bytearray", id="bytearray"),
    ],
)
def test_public_key_constructor_rejects(raw: Any, match: str) -> None:
    with pytest.raises(InvalidKeyError, match=match):
        PublicKey(raw)


GOOD_DID = GOOD_PUB.did


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(
            "did:web:example.com", "^unsupported DID method 'web', expected did:key$", id="did-web"
        ),
        pytest.param(
            "did:web:example.com#key-1", "unsupported DID method 'web'", id="did-web-with-fragment"
        ),
        pytest.param(GOOD_PUB.multibase, "not a did:key identifier", id="bare-multibase"),
        pytest.param("did:", "not a did:key identifier", id="did-colon-only"),
        pytest.param(
            f"{GOOD_DID}#{OTHER_PUB.multibase}",
            "fragment must equal the DID's multibase value",
            id="mismatched-fragment",
        ),
        pytest.param(f"{GOOD_DID}#", "fragment must equal", id="empty-fragment"),
        pytest.param(f"{GOOD_DID}#key-1", "fragment must equal", id="named-fragment"),
        pytest.param(
            "did:key:" + multibase(X25519_PUB_MULTICODEC, GOOD_PUB.raw),
            "unsupported multicodec 0xec",
            id="did-key-x25519",
        ),
        pytest.param("did:key:" + GOOD_PUB.multibase[1:], "got prefix '6'", id="no-z-prefix"),
        pytest.param(GOOD_DID + "/path", "not base58btc", id="did-url-path"),
        pytest.param("did:key:" + GOOD.multibase, "ed25519-priv", id="private-key-did"),
        pytest.param(None, "must be a string, got NoneType", id="none"),
    ],
)
def test_from_did_key_rejects(text: Any, match: str) -> None:
    with pytest.raises(InvalidKeyError, match=match):
        PublicKey.from_did_key(text)


def test_from_did_key_accepts_did_and_verification_method_id() -> None:
    assert PublicKey.from_did_key(GOOD_PUB.did) == GOOD_PUB
    assert PublicKey.from_did_key(GOOD_PUB.verification_method_id) == GOOD_PUB


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("did:web:example.com#key-1", "unsupported DID method 'web'", id="did-web"),
        pytest.param(GOOD_DID, "has no '#' fragment", id="no-fragment"),
        pytest.param(f"{GOOD_DID}#{OTHER_PUB.multibase}", "fragment must", id="wrong-fragment"),
        pytest.param(12, "must be a string, got int", id="not-a-string"),
    ],
)
def test_public_key_from_verification_method_rejects(text: Any, match: str) -> None:
    with pytest.raises(InvalidKeyError, match=match):
        public_key_from_verification_method(text)


def test_public_key_from_verification_method_is_cached() -> None:
    vm_id = OTHER_PUB.verification_method_id
    first = public_key_from_verification_method(vm_id)
    hits = public_key_from_verification_method.cache_info().hits
    assert public_key_from_verification_method(vm_id) is first
    assert public_key_from_verification_method.cache_info().hits == hits + 1
    assert public_key_from_verification_method.cache_info().maxsize == 4096


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(GOOD_PUB.verification_method_id, "without a '#' fragment", id="vm-id"),
        pytest.param("did:web:example.com", "unsupported DID method 'web'", id="did-web"),
        pytest.param(b"did:key:z6Mk", "must be a string, got bytes", id="bytes"),
    ],
)
def test_resolve_did_key_rejects(text: Any, match: str) -> None:
    with pytest.raises(InvalidKeyError, match=match):
        resolve_did_key(text)


def test_resolve_did_key_returns_fresh_documents() -> None:
    first = resolve_did_key(GOOD_DID)
    first["@context"].append("https://example.com/extra")
    first["verificationMethod"][0]["type"] = "Changed"
    first["authentication"].clear()
    second = resolve_did_key(GOOD_DID)
    assert second["@context"] == [
        "https://www.w3.org/ns/did/v1",
        "https://w3id.org/security/multikey/v1",
    ]
    assert second["verificationMethod"][0]["type"] == "Multikey"
    assert second["authentication"] == [GOOD_PUB.verification_method_id]


BAD_PRIVATE_MULTIBASE = [
    pytest.param(
        GOOD_PUB.multibase,
        "^unsupported multicodec 0xed \\(ed25519-pub\\), expected Ed25519 private key 0x8026$",
        id="public-header",
    ),
    pytest.param("u" + GOOD.multibase[1:], "got prefix 'u'", id="prefix-u"),
    pytest.param(GOOD.multibase[:-1] + "l", "is not base58btc", id="non-base58-char"),
    pytest.param(
        multibase(ED25519_PRIV_MULTICODEC, GOOD.seed[:31]),
        "must be 32 bytes after the 0x8026 header, got 31",
        id="truncated-seed",
    ),
    pytest.param(
        multibase(ED25519_PRIV_MULTICODEC, GOOD.seed + GOOD_PUB.raw),
        "got 64",
        id="seed-plus-public-key",
    ),
    pytest.param(
        multibase(b"\x82\x26", GOOD.seed), "unsupported multicodec 0x1302", id="x25519-priv"
    ),
]


@pytest.mark.parametrize(("text", "match"), BAD_PRIVATE_MULTIBASE)
def test_private_from_multibase_rejects(text: str, match: str) -> None:
    with pytest.raises(InvalidKeyError, match=match):
        PrivateKey.from_multibase(text)


@pytest.mark.parametrize(
    ("seed", "match"),
    [
        pytest.param(bytes(31), "must be 32 bytes, got 31", id="31-bytes"),
        pytest.param(bytes(64), "must be 32 bytes, got 64", id="64-bytes"),
        pytest.param("00" * 32, "must be bytes, got str", id="hex-string"),
    ],
)
def test_private_key_from_seed_rejects(seed: Any, match: str) -> None:
    with pytest.raises(InvalidKeyError, match=match):
        PrivateKey.from_seed(seed)


# --- private key behaviour ------------------------------------------------------------------


def test_private_key_repr_hides_seed() -> None:
    seed = bytes(range(32))
    key = PrivateKey.from_seed(seed)
    text = repr(key)
    assert text == f"PrivateKey(public_key={key.public_key.multibase!r})"
    assert seed.hex() not in text
    assert repr(seed) not in text
    assert key.multibase not in text


def test_private_key_equality_and_hash() -> None:
    assert PrivateKey.from_seed(bytes(32)) == GOOD
    assert hash(PrivateKey.from_seed(bytes(32))) == hash(GOOD)
    assert GOOD != PrivateKey.from_seed(bytes(31) + b"\x01")
    assert GOOD != GOOD.seed


def test_private_key_is_frozen() -> None:
    with pytest.raises(AttributeError):
        GOOD.seed = bytes(32)  # type: ignore[misc]


def test_generate_gives_distinct_working_keys() -> None:
    first, second = PrivateKey.generate(), PrivateKey.generate()
    assert first != second
    first.public_key.verify(first.sign(b"m"), b"m")
    assert PrivateKey.from_multibase(first.multibase) == first
    assert first.multibase.startswith("z3u2")
    assert first.public_key.multibase.startswith("z6Mk")


# --- sign / verify --------------------------------------------------------------------------

MESSAGE = b"customs declaration 42"
SIGNATURE = GOOD.sign(MESSAGE)


def test_sign_verify_round_trip() -> None:
    assert len(SIGNATURE) == 64
    GOOD_PUB.verify(SIGNATURE, MESSAGE)
    GOOD_PUB.verify(GOOD.sign(b""), b"")


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def malleate(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:], "little") + L
    return signature[:32] + s.to_bytes(32, "little")


@pytest.mark.parametrize(
    ("signature", "message", "match"),
    [
        pytest.param(flip(SIGNATURE, 0), MESSAGE, "does not verify", id="flip-R-bit-0"),
        pytest.param(flip(SIGNATURE, 300), MESSAGE, "does not verify", id="flip-S-bit-300"),
        pytest.param(SIGNATURE, flip(MESSAGE, 5), "does not verify", id="flip-message-bit"),
        pytest.param(SIGNATURE, MESSAGE + b"\x00", "does not verify", id="extended-message"),
        pytest.param(GOOD.sign(b"other"), MESSAGE, "does not verify", id="other-message"),
        pytest.param(malleate(SIGNATURE), MESSAGE, "malleable: S >= group order L", id="S-plus-L"),
        pytest.param(SIGNATURE[:32] + b"\xff" * 32, MESSAGE, "malleable", id="S-all-ones"),
        pytest.param(SIGNATURE[:63], MESSAGE, "must be 64 bytes, got 63", id="truncated"),
        pytest.param(SIGNATURE + b"\x00", MESSAGE, "must be 64 bytes, got 65", id="extended"),
        pytest.param(b"", MESSAGE, "must be 64 bytes, got 0", id="empty"),
        pytest.param(bytes(64), MESSAGE, "does not verify", id="all-zero"),
    ],
)
def test_verify_rejects(signature: bytes, message: bytes, match: str) -> None:
    with pytest.raises(InvalidSignatureError, match=match):
        GOOD_PUB.verify(signature, message)


def test_malleated_signature_would_otherwise_be_accepted_by_s_reduction() -> None:
    # S + L has the same value mod L, so only the range check stops it.
    malleated = malleate(SIGNATURE)
    assert int.from_bytes(malleated[32:], "little") % L == int.from_bytes(SIGNATURE[32:], "little")


def test_signature_from_other_key_fails() -> None:
    with pytest.raises(InvalidSignatureError):
        OTHER_PUB.verify(SIGNATURE, MESSAGE)


@settings(max_examples=50, deadline=None, database=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=256))
def test_property_sign_then_verify(seed: bytes, message: bytes) -> None:
    key = PrivateKey.from_seed(seed)
    key.public_key.verify(key.sign(message), message)
    assert PrivateKey.from_multibase(key.multibase) == key
    assert PublicKey.from_multibase(key.public_key.multibase) == key.public_key


@settings(max_examples=50, deadline=None, database=None)
@given(message=st.binary(max_size=64), bit=st.integers(min_value=0, max_value=511))
def test_property_flipped_signature_bit_fails(message: bytes, bit: int) -> None:
    with pytest.raises(InvalidSignatureError):
        GOOD_PUB.verify(flip(GOOD.sign(message), bit), message)


# --- key files ------------------------------------------------------------------------------


def test_key_pair_dict_round_trip() -> None:
    d = key_pair_to_dict(GOOD)
    assert d == {
        "id": GOOD_PUB.verification_method_id,
        "publicKeyMultibase": GOOD_PUB.multibase,
        "privateKeyMultibase": GOOD.multibase,
    }
    assert key_pair_from_dict(d) == GOOD
    assert key_pair_to_dict(key_pair_from_dict(d)) == d
    assert key_pair_from_dict({"privateKeyMultibase": GOOD.multibase}) == GOOD


@pytest.mark.parametrize(
    ("d", "match"),
    [
        pytest.param({}, "no privateKeyMultibase string", id="empty"),
        pytest.param(
            {"publicKeyMultibase": GOOD_PUB.multibase},
            "no privateKeyMultibase string",
            id="public-only",
        ),
        pytest.param({"privateKeyMultibase": 5}, "no privateKeyMultibase string", id="not-str"),
        pytest.param(
            {"privateKeyMultibase": GOOD.multibase, "publicKeyMultibase": OTHER_PUB.multibase},
            "^publicKeyMultibase does not match privateKeyMultibase$",
            id="mismatched-public",
        ),
        pytest.param(
            {"privateKeyMultibase": GOOD.multibase, "publicKeyMultibase": None},
            "publicKeyMultibase must be a string",
            id="public-none",
        ),
        pytest.param(
            {"privateKeyMultibase": GOOD.multibase, "publicKeyMultibase": GOOD.multibase},
            "expected Ed25519 public key 0xed01",
            id="public-is-private",
        ),
        pytest.param(
            {"privateKeyMultibase": GOOD_PUB.multibase},
            "expected Ed25519 private key 0x8026",
            id="private-is-public",
        ),
    ],
)
def test_key_pair_from_dict_rejects(d: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidKeyError, match=match):
        key_pair_from_dict(d)


def test_errors_are_chained_from_third_party_errors() -> None:
    with pytest.raises(InvalidKeyError) as key_error:
        PublicKey.from_multibase("z0")
    assert isinstance(key_error.value.__cause__, MalformedInputError)
    assert isinstance(key_error.value.__cause__.__cause__, ValueError)
    with pytest.raises(InvalidSignatureError) as signature_error:
        GOOD_PUB.verify(flip(SIGNATURE, 0), MESSAGE)
    assert type(signature_error.value.__cause__).__module__ == "nacl.exceptions"
