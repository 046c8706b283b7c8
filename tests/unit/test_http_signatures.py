"""RFC 9421 request signatures: round trip, one case per tampering, fuzzing and interop."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    MappingKeyResolver,
    algorithms,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials.errors import MalformedInputError, VerificationError
from credentials.keys import PrivateKey, PublicKey
from registry.http_signatures import (
    EVENT_TAG,
    Ed25519Algorithm,
    RequestSignatureError,
    VerifiedRequest,
    new_nonce,
    sign_request,
    verify_request,
)

SEED = bytes(range(32))
KEY = PrivateKey.from_seed(SEED)
OTHER = PrivateKey.from_seed(bytes(range(1, 33)))
KEY_ID = "did:web:eu.customs.example#key-2"
URL = "https://us.customs.example/federation/events"
# A fixed past instant: the stock library verifier used in the interop tests refuses a
# `created` in the future of the wall clock.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SKEW = timedelta(seconds=60)
BODY = b'{"type":"StatusListUpdated","issuer":"did:web:eu.customs.example"}'
NONCE = "AAECAwQFBgcICQoLDA0ODw"
COMPONENTS = ("@method", "@target-uri", "content-type", "content-digest")


@dataclass(frozen=True)
class Req:
    """A request as the receiver sees it."""

    method: str = "POST"
    url: str = URL
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = BODY


def signed(*, created: datetime = NOW, nonce: str = NONCE, key: PrivateKey = KEY) -> Req:
    headers = {"Content-Type": "application/json"}
    headers |= sign_request(
        method="POST",
        url=URL,
        headers=headers,
        body=BODY,
        key=key,
        key_id=KEY_ID,
        created=created,
        nonce=nonce,
    )
    return Req(headers=headers)


def with_headers(req: Req, **changes: str | None) -> Req:
    """Replace (str) or drop (None) fields; names use '_' for '-'."""
    headers = dict(req.headers)
    for name, value in changes.items():
        header = name.replace("_", "-")
        if value is None:
            del headers[header]
        else:
            headers[header] = value
    return replace(req, headers=headers)


def resolver(key: PublicKey = KEY.public_key) -> Callable[[str], PublicKey]:
    def resolve(key_id: str) -> PublicKey:
        return key

    return resolve


def verify(
    req: Req,
    *,
    resolve_key: Callable[[str], PublicKey] | None = None,
    now: datetime = NOW,
) -> VerifiedRequest:
    return verify_request(
        method=req.method,
        url=req.url,
        headers=req.headers,
        body=req.body,
        resolve_key=resolve_key or resolver(),
        now=now,
        max_skew=SKEW,
    )


def code_of(req: Req, **kw: Any) -> str:
    with pytest.raises(RequestSignatureError) as info:
        verify(req, **kw)
    return info.value.code


class _OurKey(HTTPSignatureKeyResolver):
    def resolve_private_key(self, key_id: str) -> PrivateKey:
        return KEY


def library_signed(
    components: tuple[str, ...] = COMPONENTS,
    *,
    with_body: bool = True,
    content_type: bool = True,
    **params: Any,
) -> Req:
    """Sign through the library with our plug-in, with any components and parameters."""
    message = requests.Request(
        "POST",
        URL,
        data=BODY,
        headers={"Content-Type": "application/json"} if content_type else {},
    ).prepare()
    options: dict[str, Any] = {"nonce": NONCE, "tag": EVENT_TAG} | params
    HTTPMessageSigner(signature_algorithm=Ed25519Algorithm, key_resolver=_OurKey()).sign(
        message,
        key_id=KEY_ID,
        created=NOW,
        covered_component_ids=components,
        body=BODY if with_body else None,
        **{k: v for k, v in options.items() if v is not None},
    )
    return Req(headers=dict(message.headers))


def signature_input(req: Req) -> str:
    return req.headers["Signature-Input"]


def edit_input(req: Req, old: str, new: str) -> Req:
    value = signature_input(req)
    assert old in value
    return with_headers(req, Signature_Input=value.replace(old, new, 1))


# -- round trip ------------------------------------------------------------------------


def test_round_trip_returns_the_signed_parameters() -> None:
    req = signed()
    assert verify(req) == VerifiedRequest(key_id=KEY_ID, created=NOW, nonce=NONCE)
    assert set(req.headers) == {"Content-Type", "Content-Digest", "Signature-Input", "Signature"}
    value = signature_input(req)
    assert value.startswith('trustlane=("@method" "@target-uri" "content-type" "content-digest")')
    for param in (
        f"created={int(NOW.timestamp())}",
        f'keyid="{KEY_ID}"',
        'alg="ed25519"',
        f'nonce="{NONCE}"',
        'tag="trustlane-event"',
    ):
        assert param in value
    digest = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert req.headers["Content-Digest"] == f"sha-256=:{digest}:"


def test_field_names_are_case_insensitive() -> None:
    req = signed()
    lowered = replace(req, headers={k.lower(): v for k, v in req.headers.items()})
    assert verify(lowered).key_id == KEY_ID


def test_field_lines_given_as_repeated_items_are_combined() -> None:
    class Lines(dict[str, str]):
        """A multi-valued mapping: items() repeats a name, as werkzeug Headers does."""

        def items(self) -> Any:
            return [*super().items(), ("Signature", "x=:AAAA:")]

    assert code_of(replace(signed(), headers=Lines(signed().headers))) == "MULTIPLE_SIGNATURES"


def test_boundaries_of_the_freshness_window_are_accepted() -> None:
    assert verify(signed(created=NOW - SKEW)).created == NOW - SKEW
    assert verify(signed(created=NOW + SKEW)).created == NOW + SKEW


def test_authority_and_path_may_replace_target_uri() -> None:
    req = library_signed(("@method", "@authority", "@path", "content-type", "content-digest"))
    assert verify(req).nonce == NONCE


def test_library_adds_content_digest_coverage_when_given_a_body() -> None:
    req = library_signed(("@method", "@target-uri", "content-type"))
    assert '"content-digest"' in signature_input(req)
    assert verify(req).key_id == KEY_ID


def test_existing_matching_content_digest_is_reused() -> None:
    first = signed()
    headers = {
        "Content-Type": "application/json",
        "content-digest": first.headers["Content-Digest"],
    }
    out = sign_request(
        method="POST",
        url=URL,
        headers=headers,
        body=BODY,
        key=KEY,
        key_id=KEY_ID,
        created=NOW,
        nonce=NONCE,
    )
    assert set(out) == {"Signature-Input", "Signature"}
    assert verify(Req(headers=headers | out)).nonce == NONCE


# -- one case per tampering --------------------------------------------------------------


def _flip_signature(req: Req) -> Req:
    label, _, value = req.headers["Signature"].partition("=")
    raw = bytearray(base64.b64decode(value.strip(":")))
    raw[0] ^= 1
    return with_headers(req, Signature=f"{label}=:{base64.b64encode(raw).decode()}:")


def _second_label(req: Req) -> Req:
    sig_input, sig = req.headers["Signature-Input"], req.headers["Signature"]
    return with_headers(
        req,
        Signature_Input=f"{sig_input}, again={sig_input.partition('=')[2]}",
        Signature=f"{sig}, again={sig.partition('=')[2]}",
    )


def _refused(exc: Exception) -> Callable[[str], PublicKey]:
    def resolve(key_id: str) -> PublicKey:
        raise exc

    return resolve


SIGNED = signed()
OTHER_DIGEST = sign_request(
    method="POST",
    url=URL,
    headers={},
    body=b"{}",
    key=KEY,
    key_id=KEY_ID,
    created=NOW,
    nonce=NONCE,
)["Content-Digest"]

TAMPERINGS: list[tuple[str, Req, dict[str, Any], str]] = [
    ("wrong-key", SIGNED, {"resolve_key": resolver(OTHER.public_key)}, "BAD_SIGNATURE"),
    ("signed-by-other-key", signed(key=OTHER), {}, "BAD_SIGNATURE"),
    ("flipped-signature-bit", _flip_signature(SIGNED), {}, "BAD_SIGNATURE"),
    ("body-altered", replace(SIGNED, body=BODY + b" "), {}, "DIGEST_MISMATCH"),
    ("body-emptied", replace(SIGNED, body=b""), {}, "DIGEST_MISMATCH"),
    (
        "body-and-digest-altered",
        with_headers(replace(SIGNED, body=b"{}"), Content_Digest=OTHER_DIGEST),
        {},
        "BAD_SIGNATURE",
    ),
    ("method-altered", replace(SIGNED, method="PUT"), {}, "BAD_SIGNATURE"),
    ("method-lower-case", replace(SIGNED, method="post"), {}, "BAD_SIGNATURE"),
    ("path-altered", replace(SIGNED, url=URL.replace("/events", "/evil")), {}, "BAD_SIGNATURE"),
    ("query-added", replace(SIGNED, url=URL + "?x=1"), {}, "BAD_SIGNATURE"),
    (
        "authority-altered",
        replace(SIGNED, url=URL.replace("us.customs", "jp.customs")),
        {},
        "BAD_SIGNATURE",
    ),
    (
        "port-added",
        replace(SIGNED, url=URL.replace(".example/", ".example:8443/")),
        {},
        "BAD_SIGNATURE",
    ),
    ("scheme-altered", replace(SIGNED, url=URL.replace("https:", "http:")), {}, "BAD_SIGNATURE"),
    ("url-not-absolute", replace(SIGNED, url="/federation/events"), {}, "BAD_SIGNATURE"),
    ("content-type-altered", with_headers(SIGNED, Content_Type="text/plain"), {}, "BAD_SIGNATURE"),
    ("content-type-removed", with_headers(SIGNED, Content_Type=None), {}, "BAD_SIGNATURE"),
    ("content-digest-removed", with_headers(SIGNED, Content_Digest=None), {}, "BAD_SIGNATURE"),
    ("signature-removed", with_headers(SIGNED, Signature=None), {}, "MISSING_SIGNATURE"),
    (
        "signature-input-removed",
        with_headers(SIGNED, Signature_Input=None),
        {},
        "MISSING_SIGNATURE",
    ),
    (
        "both-removed",
        with_headers(SIGNED, Signature=None, Signature_Input=None),
        {},
        "MISSING_SIGNATURE",
    ),
    ("signature-empty", with_headers(SIGNED, Signature=" "), {}, "MISSING_SIGNATURE"),
    ("signature-input-garbage", with_headers(SIGNED, Signature_Input="(((;;"), {}, "BAD_SIGNATURE"),
    (
        "signature-garbage",
        with_headers(SIGNED, Signature="trustlane=not-bytes"),
        {},
        "BAD_SIGNATURE",
    ),
    (
        "labels-differ",
        with_headers(SIGNED, Signature="other=" + SIGNED.headers["Signature"].partition("=")[2]),
        {},
        "BAD_SIGNATURE",
    ),
    ("two-signatures", _second_label(SIGNED), {}, "MULTIPLE_SIGNATURES"),
    (
        "duplicate-label",
        with_headers(
            SIGNED, Signature_Input=f"{signature_input(SIGNED)}, {signature_input(SIGNED)}"
        ),
        {},
        "BAD_SIGNATURE",
    ),
    ("keyid-altered", edit_input(SIGNED, "#key-2", "#key-3"), {}, "BAD_SIGNATURE"),
    ("nonce-altered", edit_input(SIGNED, NONCE, new_nonce()), {}, "BAD_SIGNATURE"),
    ("alg-hmac", edit_input(SIGNED, 'alg="ed25519"', 'alg="hmac-sha256"'), {}, "BAD_SIGNATURE"),
    ("unknown-parameter", edit_input(SIGNED, ";tag=", ';x="1";tag='), {}, "BAD_SIGNATURE"),
    ("component-dropped", edit_input(SIGNED, ' "content-type"', ""), {}, "BAD_SIGNATURE"),
    (
        "created-removed",
        edit_input(SIGNED, f";created={int(NOW.timestamp())}", ""),
        {},
        "STALE_REQUEST",
    ),
    (
        "created-huge",
        edit_input(SIGNED, f"created={int(NOW.timestamp())}", "created=999999999999999"),
        {},
        "STALE_REQUEST",
    ),
    ("stale-61s", signed(created=NOW - SKEW - timedelta(seconds=1)), {}, "STALE_REQUEST"),
    ("future-61s", signed(created=NOW + SKEW + timedelta(seconds=1)), {}, "STALE_REQUEST"),
    ("expires-passed", library_signed(expires=NOW - timedelta(seconds=1)), {}, "STALE_REQUEST"),
    (
        "unknown-key-verification-error",
        SIGNED,
        {"resolve_key": _refused(VerificationError("no", code="UNKNOWN_KEY"))},
        "UNKNOWN_KEY",
    ),
    (
        "unknown-key-lookup-error",
        SIGNED,
        {"resolve_key": _refused(KeyError(KEY_ID))},
        "UNKNOWN_KEY",
    ),
    (
        "unknown-key-malformed-did",
        SIGNED,
        {"resolve_key": _refused(MalformedInputError("bad"))},
        "UNKNOWN_KEY",
    ),
    (
        "method-not-covered",
        library_signed(("@target-uri", "content-type", "content-digest")),
        {},
        "COVERAGE",
    ),
    (
        "target-not-covered",
        library_signed(("@method", "content-type", "content-digest")),
        {},
        "COVERAGE",
    ),
    (
        "authority-without-path",
        library_signed(("@method", "@authority", "content-type", "content-digest")),
        {},
        "COVERAGE",
    ),
    (
        "digest-not-covered",
        library_signed(("@method", "@target-uri", "content-type"), with_body=False),
        {},
        "COVERAGE",
    ),
    (
        "content-type-not-covered",
        library_signed(("@method", "@target-uri", "content-digest")),
        {},
        "COVERAGE",
    ),
    ("tag-missing", library_signed(tag=None), {}, "COVERAGE"),
    ("tag-wrong", library_signed(tag="someone-else"), {}, "COVERAGE"),
    ("nonce-missing", library_signed(nonce=None), {}, "COVERAGE"),
    ("nonce-too-short", library_signed(nonce="abc"), {}, "COVERAGE"),
    ("nonce-not-base64url", library_signed(nonce="A" * 21 + "+"), {}, "COVERAGE"),
]


@pytest.mark.parametrize(
    ("req", "kw", "code"), [t[1:] for t in TAMPERINGS], ids=[t[0] for t in TAMPERINGS]
)
def test_tampering_is_refused(req: Req, kw: dict[str, Any], code: str) -> None:
    assert code_of(req, **kw) == code


def test_refusal_keeps_the_resolver_error_as_cause() -> None:
    cause = VerificationError("revoked", code="KEY_COMPROMISED")
    with pytest.raises(RequestSignatureError) as info:
        verify(SIGNED, resolve_key=_refused(cause))
    assert info.value.code == "UNKNOWN_KEY"
    assert "KEY_COMPROMISED" in info.value.message
    assert info.value.__cause__ is not None
    assert info.value.__cause__.__cause__ is cause
    assert isinstance(info.value, VerificationError)


def test_resolver_bug_fails_closed_and_keeps_its_traceback() -> None:
    bug = RuntimeError("bug")
    with pytest.raises(RequestSignatureError) as info:
        verify(SIGNED, resolve_key=_refused(bug))
    # The library wraps unexpected errors as a failed verification: nothing is accepted, and
    # the original error stays in the chain for the operator.
    assert info.value.code == "BAD_SIGNATURE"
    assert info.value.__cause__ is not None
    assert info.value.__cause__.__cause__ is bug


# -- argument checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"nonce": "short"}, "INVALID_REQUEST"),
        ({"nonce": "A" * 129}, "INVALID_REQUEST"),
        ({"url": "not a url"}, "INVALID_REQUEST"),
        ({"method": "post"}, "INVALID_REQUEST"),
        ({"headers": {"Content-Type": "application/json\n"}}, "INVALID_REQUEST"),
        ({"headers": {"Content-Digest": "sha-256=:AAAA:"}}, "INVALID_REQUEST"),
    ],
    ids=["nonce-short", "nonce-long", "url", "method-lower", "newline-in-field", "wrong-digest"],
)
def test_sign_request_refuses_bad_input(changes: dict[str, Any], code: str) -> None:
    args: dict[str, Any] = {
        "method": "POST",
        "url": URL,
        "headers": {"Content-Type": "application/json"},
        "body": BODY,
        "key": KEY,
        "key_id": KEY_ID,
        "created": NOW,
        "nonce": NONCE,
    } | changes
    with pytest.raises(MalformedInputError) as info:
        sign_request(**args)
    assert info.value.code == code


def test_naive_times_and_negative_skew_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="naive"):
        signed(created=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="naive"):
        verify(SIGNED, now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="max_skew"):
        verify_request(
            method="POST",
            url=URL,
            headers=SIGNED.headers,
            body=BODY,
            resolve_key=resolver(),
            now=NOW,
            max_skew=timedelta(seconds=-1),
        )


def test_new_nonce_is_128_bit_base64url() -> None:
    nonces = {new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    for nonce in nonces:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", nonce)
        assert len(base64.urlsafe_b64decode(nonce + "==")) == 16


def test_plug_in_refuses_foreign_key_types() -> None:
    from http_message_signatures.exceptions import HTTPMessageSignaturesException

    crypto_key = Ed25519PrivateKey.from_private_bytes(SEED)
    with pytest.raises(HTTPMessageSignaturesException):
        Ed25519Algorithm(private_key=crypto_key)  # type: ignore[arg-type]
    with pytest.raises(HTTPMessageSignaturesException):
        Ed25519Algorithm(public_key=crypto_key.public_key())  # type: ignore[arg-type]
    with pytest.raises(HTTPMessageSignaturesException):
        Ed25519Algorithm().sign(b"x")
    with pytest.raises(HTTPMessageSignaturesException):
        Ed25519Algorithm().verify(bytes(64), b"x")


# -- fuzzing: garbage never escapes as anything but our errors -----------------------------

CODES = {
    "MISSING_SIGNATURE",
    "MULTIPLE_SIGNATURES",
    "BAD_SIGNATURE",
    "STALE_REQUEST",
    "COVERAGE",
    "DIGEST_MISMATCH",
}
SF_PIECES = st.sampled_from(
    [
        "trustlane",
        "=",
        "(",
        ")",
        '"',
        ";",
        ",",
        " ",
        ":",
        "@method",
        "created",
        "keyid",
        "=:",
        "AAAA",
        "1618884473",
        "-1",
        "?1",
        "*",
        "%",
        "\t",
        "\\",
        "é",
        "\x00",
        "\n",
        "a=b",
        "tag",
    ]
)
GARBAGE = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(SF_PIECES, st.text(max_size=3)), max_size=25).map("".join),
)


def _assert_refused_cleanly(req: Req) -> None:
    try:
        result = verify(req)
    except (RequestSignatureError, MalformedInputError) as e:
        assert e.code in CODES
        return
    # A mutation that leaves the fields equivalent (e.g. extra spaces) may still verify, but
    # then only to exactly what was signed.
    assert result == VerifiedRequest(key_id=KEY_ID, created=NOW, nonce=NONCE)


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(["Signature-Input", "Signature", "Content-Digest"]), value=GARBAGE)
def test_garbage_field_values_are_refused_cleanly(name: str, value: str) -> None:
    with pytest.raises((RequestSignatureError, MalformedInputError)) as info:
        verify(replace(SIGNED, headers=SIGNED.headers | {name: value}))
    assert info.value.code in CODES


@settings(max_examples=100, deadline=None)
@given(
    name=st.sampled_from(["Signature-Input", "Signature", "Content-Digest"]),
    position=st.integers(min_value=0, max_value=300),
    cut=st.integers(min_value=0, max_value=5),
    insert=st.one_of(SF_PIECES, st.text(max_size=4)),
)
def test_mutated_field_values_are_refused_cleanly(
    name: str, position: int, cut: int, insert: str
) -> None:
    value = SIGNED.headers[name]
    position %= len(value) + 1
    mutated = value[:position] + insert + value[position + cut :]
    _assert_refused_cleanly(replace(SIGNED, headers=SIGNED.headers | {name: mutated}))


# -- interoperability with the library's stock ed25519 (cryptography) ----------------------


def _prepared() -> requests.PreparedRequest:
    return requests.Request(
        "POST", URL, data=BODY, headers={"Content-Type": "application/json"}
    ).prepare()


def test_stock_library_signature_verifies_with_our_verifier() -> None:
    message = _prepared()
    stock_key = Ed25519PrivateKey.from_private_bytes(SEED)
    HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={KEY_ID: stock_key}),
    ).sign(
        message,
        key_id=KEY_ID,
        created=NOW,
        nonce=NONCE,
        tag=EVENT_TAG,
        label="trustlane",
        covered_component_ids=COMPONENTS,
        body=BODY,
    )
    req = Req(headers=dict(message.headers))
    assert verify(req) == VerifiedRequest(key_id=KEY_ID, created=NOW, nonce=NONCE)
    # Ed25519 is deterministic: the stock class and our plug-in produce the same bytes.
    ours = signed()
    assert req.headers["Signature"] == ours.headers["Signature"]
    assert req.headers["Signature-Input"] == ours.headers["Signature-Input"]


def test_our_signature_verifies_with_the_stock_library_verifier() -> None:
    message = _prepared()
    for name, value in sign_request(
        method="POST",
        url=URL,
        headers=dict(message.headers),
        body=BODY,
        key=KEY,
        key_id=KEY_ID,
        created=NOW,
        nonce=NONCE,
    ).items():
        message.headers[name] = value
    stock_public = Ed25519PrivateKey.from_private_bytes(SEED).public_key()
    results = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={KEY_ID: stock_public}, private_keys={}),
    ).verify(
        message,
        max_age=None,
        body=BODY,
        expect_tag=EVENT_TAG,
        require_components=("@method", "@target-uri", "content-digest"),
    )
    assert [(r.label, r.parameters["keyid"], r.nonce, r.body) for r in results] == [
        ("trustlane", KEY_ID, NONCE, BODY)
    ]


# RFC 9421 appendix B.1.4 (test-key-ed25519, as JWK "d" and "x") and B.2.6 (signing the
# appendix B.2 test request with it). Ed25519 is deterministic, so the plug-in must produce
# the RFC's exact signature.
RFC9421_SEED = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"
RFC9421_PUBLIC = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
RFC9421_B26_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
RFC9421_B26_SIGNATURE = (
    "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPp"
    "BKRCw==:"
)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _rfc9421_b2_request() -> requests.PreparedRequest:
    request = requests.Request(
        "POST",
        "https://example.com/foo?param=Value&Pet=dog",
        data=b'{"hello": "world"}',
        headers={
            "Host": "example.com",
            "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
            "Content-Type": "application/json",
        },
    ).prepare()
    assert request.headers["Content-Length"] == "18"
    return request


def test_rfc9421_b26_signature_is_reproduced_by_the_plug_in() -> None:
    rfc_key = PrivateKey.from_seed(_b64url(RFC9421_SEED))
    assert rfc_key.public_key.raw == _b64url(RFC9421_PUBLIC)

    class RFCKey(HTTPSignatureKeyResolver):
        def resolve_private_key(self, key_id: str) -> PrivateKey:
            return rfc_key

        def resolve_public_key(self, key_id: str) -> PublicKey:
            return rfc_key.public_key

    message = _rfc9421_b2_request()
    HTTPMessageSigner(signature_algorithm=Ed25519Algorithm, key_resolver=RFCKey()).sign(
        message,
        key_id="test-key-ed25519",
        created=datetime.fromtimestamp(1618884473, UTC),
        label="sig-b26",
        include_alg=False,
        covered_component_ids=(
            "date",
            "@method",
            "@path",
            "@authority",
            "content-type",
            "content-length",
        ),
    )
    assert f"sig-b26={message.headers['Signature-Input'].partition('=')[2]}" == RFC9421_B26_INPUT
    assert f"sig-b26={message.headers['Signature'].partition('=')[2]}" == RFC9421_B26_SIGNATURE

    # And the RFC's signature verifies through the plug-in.
    received = _rfc9421_b2_request()
    received.headers["Signature-Input"] = RFC9421_B26_INPUT
    received.headers["Signature"] = RFC9421_B26_SIGNATURE
    [result] = HTTPMessageVerifier(
        signature_algorithm=Ed25519Algorithm, key_resolver=RFCKey()
    ).verify(received, max_age=None)
    assert result.parameters["keyid"] == "test-key-ed25519"
