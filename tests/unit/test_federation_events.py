"""Federation events: body parsing, signed push, acceptance order, replay store."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from credentials.errors import MalformedInputError, VerificationError
from credentials.keys import PrivateKey, PublicKey
from registry.events import (
    AcceptedEvent,
    FederationEvent,
    FederationEventType,
    InMemoryNonceStore,
    NonceStoreFullError,
    accept_event,
    authentication_key_resolver,
    build_signed_event,
    did_of,
)
from registry.http_signatures import RequestSignatureError, sign_request
from registry.peer_keys import PeerKeys, parse_did_document

EU = "did:web:eu.customs.example"
US = "did:web:us.customs.example"
ASSERTION_KEY = PrivateKey.from_seed(bytes([1]) * 32)  # key-1: assertionMethod only
REQUEST_KEY = PrivateKey.from_seed(bytes([2]) * 32)  # key-2: authentication
REVOKED_KEY = PrivateKey.from_seed(bytes([3]) * 32)  # key-3: authentication, revoked
KEY_ID = f"{EU}#key-2"
URL = "https://us.customs.example/federation/events"
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
SKEW = timedelta(seconds=60)
TTL = timedelta(minutes=5)
NONCE = "AAECAwQFBgcICQoLDA0ODw"
LIST_URL = "https://eu.customs.example/status/revocation/1"
EVENT_ID = "urn:uuid:8f0c4a52-3b1e-4c55-9d2a-0e7f6a1b2c3d"

EVENT = FederationEvent(
    type=FederationEventType.STATUS_LIST_UPDATED,
    issuer=EU,
    id=EVENT_ID,
    occurred_at=NOW - timedelta(seconds=2),
    status_list_credential=LIST_URL,
)


def eu_document() -> dict[str, Any]:
    methods = [
        {
            "id": f"{EU}#key-{n}",
            "type": "Multikey",
            "controller": EU,
            "publicKeyMultibase": key.public_key.multibase,
        }
        for n, key in ((1, ASSERTION_KEY), (2, REQUEST_KEY), (3, REVOKED_KEY))
    ]
    methods[2]["revoked"] = "2026-11-01T00:00:00Z"
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": EU,
        "verificationMethod": methods,
        "assertionMethod": [f"{EU}#key-1"],
        "authentication": ["#key-2", "#key-3"],
    }


PEERS: dict[str, PeerKeys] = {EU: parse_did_document(eu_document(), EU)}


@dataclass(frozen=True)
class Req:
    """A received request."""

    headers: dict[str, str]
    body: bytes
    method: str = "POST"
    url: str = URL


def push(
    event: FederationEvent = EVENT,
    *,
    key: PrivateKey = REQUEST_KEY,
    key_id: str = KEY_ID,
    now: datetime = NOW,
    nonce: str | None = NONCE,
) -> Req:
    body, headers = build_signed_event(event, url=URL, key=key, key_id=key_id, now=now, nonce=nonce)
    return Req(headers=headers, body=body)


def raw_push(body: bytes, *, key_id: str = KEY_ID, key: PrivateKey = REQUEST_KEY) -> Req:
    """Sign any body, bypassing build_signed_event's own checks."""
    headers = {"Content-Type": "application/json"}
    headers |= sign_request(
        method="POST",
        url=URL,
        headers=headers,
        body=body,
        key=key,
        key_id=key_id,
        created=NOW,
        nonce=NONCE,
    )
    return Req(headers=headers, body=body)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def accept(
    req: Req,
    store: InMemoryNonceStore,
    *,
    now: datetime = NOW,
    resolve_key: Callable[[str], PublicKey] | None = None,
    nonce_ttl: timedelta = TTL,
) -> AcceptedEvent:
    return accept_event(
        method=req.method,
        url=req.url,
        headers=req.headers,
        body=req.body,
        resolve_key=resolve_key or authentication_key_resolver(PEERS.__getitem__, at=now),
        nonces=store,
        now=now,
        max_skew=SKEW,
        nonce_ttl=nonce_ttl,
    )


def new_store(clock: Clock | None = None, max_entries: int = 100) -> InMemoryNonceStore:
    return InMemoryNonceStore(clock=clock or Clock(), max_entries=max_entries)


# -- event bodies ------------------------------------------------------------------------


def event_dict(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "StatusListUpdated",
        "issuer": EU,
        "statusListCredential": LIST_URL,
        "id": EVENT_ID,
        "occurredAt": "2026-11-30T09:59:58Z",
    }
    for name, value in changes.items():
        if value is None:
            obj.pop(name, None)
        else:
            obj[name] = value
    return obj


def test_event_body_is_compact_json_and_round_trips() -> None:
    body = EVENT.to_bytes()
    assert body == (
        b'{"type":"StatusListUpdated","issuer":"did:web:eu.customs.example",'
        b'"id":"urn:uuid:8f0c4a52-3b1e-4c55-9d2a-0e7f6a1b2c3d",'
        b'"occurredAt":"2026-11-30T09:59:58Z",'
        b'"statusListCredential":"https://eu.customs.example/status/revocation/1"}'
    )
    assert json.loads(body) == event_dict()
    assert FederationEvent.from_bytes(body) == EVENT
    assert FederationEvent.from_dict(EVENT.to_dict()) == EVENT


@pytest.mark.parametrize("kind", [t for t in FederationEventType if t.value != "StatusListUpdated"])
def test_other_event_types_round_trip_without_a_list_url(kind: FederationEventType) -> None:
    event = FederationEvent(type=kind, issuer=EU, id=EVENT_ID, occurred_at=NOW)
    assert FederationEvent.from_bytes(event.to_bytes()) == event
    assert "statusListCredential" not in event.to_dict()


def test_unknown_members_are_kept_on_a_round_trip() -> None:
    obj = event_dict(reason={"code": "revoked", "count": 3})
    event = FederationEvent.from_dict(obj)
    assert dict(event.extensions) == {"reason": {"code": "revoked", "count": 3}}
    assert event.to_dict() == obj
    assert FederationEvent.from_bytes(event.to_bytes()) == event


def test_occurred_at_with_offset_and_fraction_is_normalised_to_utc() -> None:
    event = FederationEvent.from_dict(event_dict(occurredAt="2026-11-30T11:59:58.250+02:00"))
    assert event.occurred_at == datetime(2026, 11, 30, 9, 59, 58, 250000, tzinfo=UTC)
    assert event.to_dict()["occurredAt"] == "2026-11-30T09:59:58.250000Z"
    assert FederationEvent.from_dict(event.to_dict()) == event


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("not-json", b"{not json", "MALFORMED_JSON"),
    ("duplicate-member", b'{"type":"KeyRotated","type":"KeyRotated"}', "MALFORMED_JSON"),
    ("array", b"[]", "MALFORMED_JSON"),
    ("too-large", b'{"x":"' + b"a" * 20000 + b'"}', "MALFORMED_JSON"),
    ("unknown-type", json.dumps(event_dict(type="Revoked")).encode(), "INVALID_EVENT"),
    ("type-not-string", json.dumps(event_dict(type=1)).encode(), "INVALID_EVENT"),
    ("type-missing", json.dumps(event_dict(type=None)).encode(), "INVALID_EVENT"),
    ("issuer-missing", json.dumps(event_dict(issuer=None)).encode(), "INVALID_EVENT"),
    ("issuer-not-string", json.dumps(event_dict(issuer=["did:web:x"])).encode(), "INVALID_EVENT"),
    (
        "issuer-not-a-did",
        json.dumps(event_dict(issuer="https://eu.example")).encode(),
        "INVALID_EVENT",
    ),
    ("issuer-is-a-did-url", json.dumps(event_dict(issuer=KEY_ID)).encode(), "INVALID_EVENT"),
    ("id-missing", json.dumps(event_dict(id=None)).encode(), "INVALID_EVENT"),
    ("id-not-urn-uuid", json.dumps(event_dict(id="urn:x:1")).encode(), "INVALID_EVENT"),
    (
        "id-upper-case-uuid",
        json.dumps(event_dict(id=EVENT_ID.upper().replace("URN:UUID", "urn:uuid"))).encode(),
        "INVALID_EVENT",
    ),
    (
        "id-braced-uuid",
        json.dumps(event_dict(id="urn:uuid:{" + EVENT_ID[9:] + "}")).encode(),
        "INVALID_EVENT",
    ),
    ("occurred-at-missing", json.dumps(event_dict(occurredAt=None)).encode(), "INVALID_EVENT"),
    (
        "occurred-at-no-zone",
        json.dumps(event_dict(occurredAt="2026-11-30T10:00:00")).encode(),
        "INVALID_EVENT",
    ),
    ("occurred-at-number", json.dumps(event_dict(occurredAt=1796032800)).encode(), "INVALID_EVENT"),
    (
        "list-url-missing",
        json.dumps(event_dict(statusListCredential=None)).encode(),
        "INVALID_EVENT",
    ),
    (
        "list-url-not-http",
        json.dumps(event_dict(statusListCredential="ftp://eu.example/l")).encode(),
        "INVALID_EVENT",
    ),
    (
        "list-url-no-host",
        json.dumps(event_dict(statusListCredential="https:///l")).encode(),
        "INVALID_EVENT",
    ),
    ("list-url-number", json.dumps(event_dict(statusListCredential=7)).encode(), "INVALID_EVENT"),
    ("list-url-on-key-event", json.dumps(event_dict(type="KeyRotated")).encode(), "INVALID_EVENT"),
]


@pytest.mark.parametrize(
    ("body", "code"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES]
)
def test_bad_event_bodies_are_refused(body: bytes, code: str) -> None:
    with pytest.raises(MalformedInputError) as info:
        FederationEvent.from_bytes(body)
    assert info.value.code == code


@pytest.mark.parametrize(
    "changes",
    [
        {"occurred_at": NOW.replace(tzinfo=None)},
        {"type": "StatusListUpdated"},
        {"extensions": {"issuer": EU}},
        {"status_list_credential": None},
    ],
    ids=["naive-time", "type-as-plain-string", "extension-shadows-member", "no-list-url"],
)
def test_event_invariants_are_checked_at_construction(changes: dict[str, Any]) -> None:
    with pytest.raises(MalformedInputError) as info:
        replace(EVENT, **changes)
    assert info.value.code == "INVALID_EVENT"


# -- building the signed request ------------------------------------------------------------


def test_build_signed_event_gives_body_and_headers_for_requests() -> None:
    req = push()
    assert req.body == EVENT.to_bytes()
    assert set(req.headers) == {"Content-Type", "Content-Digest", "Signature-Input", "Signature"}
    assert req.headers["Content-Type"] == "application/json"
    assert f'nonce="{NONCE}"' in req.headers["Signature-Input"]
    assert f'keyid="{KEY_ID}"' in req.headers["Signature-Input"]
    # What requests actually sends (it adds Content-Length) is accepted.
    prepared = requests.Request("POST", URL, data=req.body, headers=req.headers).prepare()
    assert isinstance(prepared.body, bytes)
    received = Req(headers=dict(prepared.headers), body=prepared.body)
    assert accept(received, new_store()) == AcceptedEvent(event=EVENT, key_id=KEY_ID)


def test_build_signed_event_draws_a_fresh_nonce_by_default() -> None:
    first, second = push(nonce=None), push(nonce=None)
    assert first.headers["Signature-Input"] != second.headers["Signature-Input"]
    store = new_store()
    accept(first, store)
    accept(second, store)
    assert len(store) == 2


@pytest.mark.parametrize(
    "key_id", [f"{US}#key-1", EU, f"{EU}x#key-2"], ids=["other-did", "no-fragment", "prefix-did"]
)
def test_build_signed_event_refuses_to_sign_for_another_issuer(key_id: str) -> None:
    with pytest.raises(MalformedInputError) as info:
        push(key_id=key_id)
    assert info.value.code == "INVALID_EVENT"


def test_did_of_strips_the_fragment() -> None:
    assert did_of(KEY_ID) == EU
    assert did_of(EU) == EU


# -- accepting -------------------------------------------------------------------------------


def test_accepted_event_records_its_nonce() -> None:
    store = new_store()
    accepted = accept(push(), store)
    assert accepted == AcceptedEvent(event=EVENT, key_id=KEY_ID)
    assert accepted.event.status_list_credential == LIST_URL
    assert len(store) == 1


def test_replay_of_the_exact_same_request_is_refused_the_second_time() -> None:
    store, req = new_store(), push()
    accept(req, store)
    with pytest.raises(RequestSignatureError) as info:
        accept(req, store)
    assert info.value.code == "REPLAYED_REQUEST"
    assert len(store) == 1


def test_same_nonce_under_another_key_is_not_a_replay() -> None:
    # Two keys of one peer keep separate nonce spaces: the store is keyed by (keyid, nonce).
    peers = {EU: parse_did_document(eu_document() | {"authentication": ["#key-1", "#key-2"]}, EU)}
    store = new_store()
    resolve = authentication_key_resolver(peers.__getitem__, at=NOW)
    accept(push(), store, resolve_key=resolve)
    other = push(key=ASSERTION_KEY, key_id=f"{EU}#key-1")
    assert accept(other, store, resolve_key=resolve).key_id == f"{EU}#key-1"
    assert len(store) == 2


def _tamper_body(req: Req) -> Req:
    return replace(req, body=req.body.replace(b"revocation", b"suspension"))


FAILURES: list[tuple[str, Callable[[], Req], type[Exception], str]] = [
    (
        "bad-signature-body-altered",
        lambda: _tamper_body(push()),
        RequestSignatureError,
        "DIGEST_MISMATCH",
    ),
    (
        "bad-signature-path",
        lambda: replace(push(), url=URL + "x"),
        RequestSignatureError,
        "BAD_SIGNATURE",
    ),
    (
        "unsigned",
        lambda: Req(headers={"Content-Type": "application/json"}, body=EVENT.to_bytes()),
        RequestSignatureError,
        "MISSING_SIGNATURE",
    ),
    (
        "stale-61s",
        lambda: push(now=NOW - timedelta(seconds=61)),
        RequestSignatureError,
        "STALE_REQUEST",
    ),
    (
        "future-61s",
        lambda: push(now=NOW + timedelta(seconds=61)),
        RequestSignatureError,
        "STALE_REQUEST",
    ),
    (
        "wrong-key-for-key-id",
        lambda: push(key=ASSERTION_KEY),
        RequestSignatureError,
        "BAD_SIGNATURE",
    ),
    (
        "assertion-only-key",
        lambda: push(key=ASSERTION_KEY, key_id=f"{EU}#key-1"),
        RequestSignatureError,
        "UNKNOWN_KEY",
    ),
    (
        "revoked-key",
        lambda: push(key=REVOKED_KEY, key_id=f"{EU}#key-3"),
        RequestSignatureError,
        "UNKNOWN_KEY",
    ),
    ("unlisted-key-id", lambda: push(key_id=f"{EU}#key-9"), RequestSignatureError, "UNKNOWN_KEY"),
    (
        "unknown-peer",
        lambda: push(
            FederationEvent(
                type=FederationEventType.KEY_ROTATED, issuer=US, id=EVENT_ID, occurred_at=NOW
            ),
            key_id=f"{US}#key-1",
        ),
        RequestSignatureError,
        "UNKNOWN_KEY",
    ),
    (
        "issuer-is-not-the-signer",
        lambda: raw_push(replace(EVENT, issuer=US).to_bytes()),
        RequestSignatureError,
        "ISSUER_MISMATCH",
    ),
    (
        "signed-but-malformed-event",
        lambda: raw_push(b'{"type":"Nope"}'),
        MalformedInputError,
        "INVALID_EVENT",
    ),
    ("signed-but-not-json", lambda: raw_push(b"\xff"), MalformedInputError, "MALFORMED_JSON"),
]


@pytest.mark.parametrize(
    ("make", "error", "code"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_refused_request_does_not_use_up_its_nonce(
    make: Callable[[], Req], error: type[Exception], code: str
) -> None:
    store = new_store()
    with pytest.raises(error) as info:
        accept(make(), store)
    assert getattr(info.value, "code", None) == code
    assert len(store) == 0
    # The genuine request with the same key id and nonce still goes through afterwards.
    assert accept(push(), store).key_id == KEY_ID


def test_resolver_uses_the_authentication_relationship() -> None:
    resolve = authentication_key_resolver(PEERS.__getitem__, at=NOW)
    assert resolve(KEY_ID) == REQUEST_KEY.public_key
    with pytest.raises(VerificationError) as info:
        resolve(f"{EU}#key-1")
    assert info.value.code == "KEY_NOT_FOR_REQUESTS"
    with pytest.raises(VerificationError) as info:
        resolve(f"{EU}#key-3")
    assert info.value.code == "KEY_COMPROMISED"
    with pytest.raises(KeyError):
        resolve(f"{US}#key-1")
    # Before its revocation time, key-3 was a valid request key.
    before = authentication_key_resolver(PEERS.__getitem__, at=datetime(2026, 10, 1, tzinfo=UTC))
    assert before(f"{EU}#key-3") == REVOKED_KEY.public_key


def test_nonce_is_remembered_for_as_long_as_the_request_is_fresh() -> None:
    # nonce_ttl=0: the store still keeps the nonce until created + max_skew, so a replay
    # inside the freshness window is caught, and after it the request is simply stale.
    clock = Clock()
    store = new_store(clock)
    req = push()
    accept(req, store, nonce_ttl=timedelta(0))
    clock.now = NOW + SKEW - timedelta(seconds=1)
    with pytest.raises(RequestSignatureError) as info:
        accept(req, store, now=clock.now, nonce_ttl=timedelta(0))
    assert info.value.code == "REPLAYED_REQUEST"
    clock.now = NOW + SKEW + timedelta(seconds=1)
    with pytest.raises(RequestSignatureError) as info:
        accept(req, store, now=clock.now, nonce_ttl=timedelta(0))
    assert info.value.code == "STALE_REQUEST"


def test_negative_nonce_ttl_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="nonce_ttl"):
        accept(push(), new_store(), nonce_ttl=timedelta(seconds=-1))


# -- the in-memory nonce store -----------------------------------------------------------------


def test_store_reports_replays_and_purges_expired_entries() -> None:
    clock = Clock()
    store = new_store(clock)
    assert store.remember(KEY_ID, "n1", NOW + timedelta(seconds=10)) is True
    assert store.remember(KEY_ID, "n1", NOW + timedelta(seconds=99)) is False
    assert store.remember(f"{EU}#key-3", "n1", NOW + timedelta(seconds=10)) is True
    clock.now = NOW + timedelta(seconds=10)
    assert store.remember(KEY_ID, "n2", NOW + timedelta(seconds=20)) is True
    assert len(store) == 1
    assert store.remember(KEY_ID, "n1", NOW + timedelta(seconds=20)) is True


def test_full_store_refuses_instead_of_forgetting() -> None:
    clock = Clock()
    store = new_store(clock, max_entries=2)
    store.remember(KEY_ID, "n1", NOW + timedelta(seconds=5))
    store.remember(KEY_ID, "n2", NOW + timedelta(seconds=50))
    with pytest.raises(NonceStoreFullError) as info:
        store.remember(KEY_ID, "n3", NOW + timedelta(seconds=50))
    assert info.value.code == "NONCE_STORE_FULL"
    assert store.remember(KEY_ID, "n2", NOW + timedelta(seconds=50)) is False
    clock.now = NOW + timedelta(seconds=5)
    assert store.remember(KEY_ID, "n3", NOW + timedelta(seconds=50)) is True
    assert store.purge(NOW + timedelta(seconds=50)) == 2
    assert len(store) == 0


def test_store_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        InMemoryNonceStore(clock=Clock(), max_entries=0)
    with pytest.raises(ValueError, match="naive"):
        new_store().remember(KEY_ID, "n", NOW.replace(tzinfo=None))
