"""Two-phase key rotation between in-process nodes (issue 14).

EU announces a new key to US and JP before it publishes it; the orderings of US's sync and
EU's announcement are forced with a fetcher that runs the announcement in the middle of the
sync (no sleeps). US never ends untrusted, a lost announcement is sent again by EU's
scheduler and lifts US's distrust at once, and announcements cannot be abused: a key US does
not pin, a compromised key, or distrust for another reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import BACKENDS
from credentials.keys import PrivateKey
from node.cli import main
from node.cli.node_keys import keys_report
from node.federation.fetcher import FetchResponse
from node.federation.rotation import KeyRotation, RotationError
from node.federation.scheduler import run_sync_once
from node.services.tokens import create_token
from node.storage import trust_repo
from node.wiring import NodeServices
from nodehelpers import aeo_subject, close_services, temporary_database
from openapi_check import assert_matches_openapi
from peersim import Behaviour, PeerNetworkSimulator, SimFetcher, make_sim_node, pin
from registry.events import FederationEvent, FederationEventType, build_signed_event

EU, US, JP = 1201, 1202, 1203


def _recognise(issuer: NodeServices, recogniser: NodeServices) -> None:
    """An MRA in force: ``recogniser`` grants benefits to ``issuer``'s AEO exporters."""
    proposal = issuer.agreements.propose(
        peer_did=recogniser.identity.did,
        recognitions=[
            {
                "recognisingParty": recogniser.identity.did,
                "issuingParty": issuer.identity.did,
                "programmes": [{"programme": "EU-AEO", "levels": ["AEOF"]}],
                "credentialTypes": ["AEOCertificate"],
                "roles": ["exporter"],
                "benefits": ["reduced-examination"],
            }
        ],
        effective_from=datetime.now(UTC) - timedelta(minutes=1),
        effective_until=None,
        notice_period_days=30,
        actor="test",
    )
    record = recogniser.agreements.receive(proposal, actor="test")
    recogniser.agreements.countersign(record.id, actor="test")


@pytest.fixture
def backend() -> str:
    """SQLite unless a test runs on both (``parametrize("backend", BACKENDS)``)."""
    return "sqlite"


@pytest.fixture
def net(
    tmp_path: Path, backend: str
) -> Iterator[tuple[PeerNetworkSimulator, NodeServices, NodeServices, NodeServices]]:
    sim = PeerNetworkSimulator()
    with ExitStack() as stack:
        urls = [
            stack.enter_context(temporary_database(backend, tmp_path, f"{name}.db"))
            for name in ("eu", "us", "jp")
        ]
        yield from _network(sim, tmp_path, urls)


def _network(
    sim: PeerNetworkSimulator, tmp_path: Path, urls: list[str]
) -> Iterator[tuple[PeerNetworkSimulator, NodeServices, NodeServices, NodeServices]]:
    eu, _ = make_sim_node(sim, tmp_path, "eu", EU, urls[0])
    us, _ = make_sim_node(sim, tmp_path, "us", US, urls[1])
    jp, _ = make_sim_node(sim, tmp_path, "jp", JP, urls[2])
    for a, b, name in ((eu, us, "us"), (eu, jp, "jp"), (us, eu, "eu"), (jp, eu, "eu")):
        pin(a, b, name)
    now = datetime.now(UTC)
    for node in (eu, us, jp):
        assert all(o.ok for o in node.sync.sync_all(now))
    _recognise(eu, us)
    _recognise(eu, jp)
    yield sim, eu, us, jp
    close_services(eu, us, jp)


class Interleaving(SimFetcher):
    """US's fetcher: runs ``action`` once, right after it fetched EU's DID document.

    The sync has then read the peer (before the fetch) and not yet written (after it):
    whatever ``action`` does lands exactly between the two.
    """

    def __init__(self, sim: PeerNetworkSimulator, action: Callable[[], None]) -> None:
        super().__init__(sim)
        self._action: Callable[[], None] | None = action

    def get(self, url: str, *, ca_bundle: str | None, etag: str | None = None) -> FetchResponse:
        response = super().get(url, ca_bundle=ca_bundle, etag=etag)
        if url.endswith("/.well-known/did.json") and self._action is not None:
            action, self._action = self._action, None
            action()
        return response


def _peer(node: NodeServices, did: str) -> Any:
    return next(p for p in node.peers.peers() if p.did == did)


def _health(node: NodeServices, did: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(p for p in node.peers.health() if p["did"] == did)
    return entry


def _verified_with_new_key(eu: NodeServices, us: NodeServices, kid: str) -> None:
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    assert vc["proof"]["verificationMethod"] == f"{eu.identity.did}#{kid}"
    outcome = us.verification.verify(vc, now=datetime.now(UTC))
    if outcome.refetch:  # EU's status lists, fetched once in the background
        assert us.sync.sync_all(datetime.now(UTC), force=True)
        outcome = us.verification.verify(vc, now=datetime.now(UTC))
    assert outcome.verified, outcome.to_dict()
    assert outcome.benefits == {"reduced-examination"}


def _listed(node: NodeServices) -> set[str]:
    return {m["publicKeyMultibase"] for m in node.identity.did_document()["verificationMethod"]}


def test_the_new_key_is_announced_before_it_is_published(net: Any) -> None:
    _, eu, us, jp = net
    kid = eu.rotation.begin(actor="test")
    pending = next(k for k in eu.identity.keys(fresh=True) if k.kid == kid)
    assert pending.pending and pending.public_key_multibase not in _listed(eu)
    assert eu.identity.current().kid == "key-1"  # nothing is signed with it yet
    outcomes = eu.rotation.announce(now=datetime.now(UTC), kid=kid, due_only=False)
    assert sorted(o.peer_did for o in outcomes if o.ok) == sorted(
        [us.identity.did, jp.identity.did]
    )
    # US holds the key as pending; a sync of the (unchanged) document keeps it pending.
    assert pending.public_key_multibase in _health(us, eu.identity.did)["pendingKeys"]
    assert all(o.ok for o in us.sync.sync_all(datetime.now(UTC), force=True))
    assert pending.public_key_multibase in _peer(us, eu.identity.did).repinned_keys
    eu.rotation.publish(kid, actor="test")
    assert pending.public_key_multibase in _listed(eu)
    for node in (us, jp):
        assert all(o.ok for o in node.sync.sync_all(datetime.now(UTC), force=True))
        health = _health(node, eu.identity.did)
        assert health["trusted"] is True and health["pendingKeys"] == [], health
    _verified_with_new_key(eu, us, kid)
    # The report and `node keys list` say who acknowledged it.
    report = eu.rotation.report(kid, previous="key-1")
    assert report.published and sorted(report.acknowledged) == sorted(
        [us.identity.did, jp.identity.did]
    )
    listed = {k["kid"]: k for k in keys_report(eu)}
    assert listed["key-1"]["state"] == "retired" and listed["key-1"]["end"] is not None
    assert listed[kid]["state"] == "current"
    assert {a["did"] for a in listed[kid]["acknowledgedBy"]} == {us.identity.did, jp.identity.did}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sync_that_reads_before_the_announcement_and_writes_after_it(net: Any) -> None:
    # The sync read EU's peer row and fetched the old document; the announcement arrives;
    # the sync writes. The key must stay pending, so the published document is accepted.
    sim, eu, us, _ = net
    us.refetch.stop()
    kid = eu.rotation.begin(actor="test")
    stale = _peer(us, eu.identity.did)
    us.sync.fetcher = Interleaving(
        sim, lambda: eu.rotation.announce(now=datetime.now(UTC), kid=kid, due_only=False)
    )
    outcome = us.sync.sync_did_document(stale, datetime.now(UTC))
    assert outcome.ok, outcome.detail
    new_key = eu.rotation.report(kid, previous="key-1").public_key
    assert us.identity.did in eu.rotation.report(kid, previous="key-1").acknowledged
    assert new_key in _peer(us, eu.identity.did).repinned_keys  # not lost by the write
    eu.rotation.publish(kid, actor="test")
    assert us.sync.sync_did_document(_peer(us, eu.identity.did), datetime.now(UTC)).ok
    assert _health(us, eu.identity.did)["trusted"] is True
    _verified_with_new_key(eu, us, kid)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sync_that_fetches_the_new_document_before_the_announcement_arrives(net: Any) -> None:
    # EU published without US's acknowledgement (say, the wait ran out); US's sync fetches
    # the new document, then the announcement arrives, then the sync decides.
    sim, eu, us, _ = net
    us.refetch.stop()
    sim.behaviour[us.settings.base_url] = Behaviour(down=True)
    report = eu.rotation.rotate(actor="test", ack_timeout=0)
    assert report.published and us.identity.did in report.unacknowledged
    sim.behaviour.pop(us.settings.base_url)
    stale = _peer(us, eu.identity.did)
    us.sync.fetcher = Interleaving(
        sim, lambda: eu.rotation.announce(now=datetime.now(UTC), due_only=False)
    )
    outcome = us.sync.sync_did_document(stale, datetime.now(UTC))
    assert outcome.ok, outcome.detail
    assert _health(us, eu.identity.did)["trusted"] is True
    _verified_with_new_key(eu, us, report.kid)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sync_that_refuses_the_new_document_first_recovers_at_the_announcement(
    net: Any,
) -> None:
    # The other order: US's sync refuses the new document before the announcement arrives.
    # The announcement (signed by the key US still pins) accepts that document at once.
    sim, eu, us, _ = net
    us.refetch.stop()
    sim.behaviour[us.settings.base_url] = Behaviour(down=True)
    report = eu.rotation.rotate(actor="test", ack_timeout=0)
    sim.behaviour.pop(us.settings.base_url)
    refused = us.sync.sync_did_document(_peer(us, eu.identity.did), datetime.now(UTC))
    assert not refused.ok and "KEY_CHANGE_REJECTED" in refused.detail
    assert _health(us, eu.identity.did)["trusted"] is False
    outcomes = eu.rotation.announce(now=datetime.now(UTC), due_only=False)
    assert [o.ok for o in outcomes] == [True]
    health = _health(us, eu.identity.did)
    assert health["trusted"] is True, health
    assert "KEY_CHANGE_REJECTED" in health["recovery"]["detail"]
    # No further fetch: the refused document was accepted with the announcement.
    _verified_with_new_key(eu, us, report.kid)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_lost_announcement_is_sent_again_by_the_scheduler(net: Any) -> None:
    sim, eu, us, jp = net
    us.refetch.stop()
    sim.behaviour[us.settings.base_url] = Behaviour(down=True)  # US is down during rotation
    report = eu.rotation.rotate(actor="test", ack_timeout=0)
    assert report.acknowledged == (jp.identity.did,)
    assert "connection refused" in report.unacknowledged[us.identity.did]
    sim.behaviour.pop(us.settings.base_url)
    # US comes back and syncs before the scheduler re-sent: it refuses the new key...
    outcome = us.sync.sync_did_document(_peer(us, eu.identity.did), datetime.now(UTC))
    assert not outcome.ok and "without a signed announcement" in outcome.detail
    # ...the scheduler does not re-send before the (bounded) delay...
    now = datetime.now(UTC)
    assert eu.rotation.retry_due(now) == []
    [row] = next(k for k in keys_report(eu) if k["kid"] == report.kid)["notAcknowledgedBy"]
    assert row["nextAttempt"] is not None
    # ...then EU's scheduled round re-sends it and US trusts EU again, no administrator.
    later = now + timedelta(seconds=eu.federation.sync.max_backoff_seconds + 1)
    outcomes = run_sync_once(
        eu.db, eu.sync, now=later, interval=timedelta(seconds=60), owner="eu", rotation=eu.rotation
    )
    assert outcomes is not None
    assert any(o.resource == f"key_announcement:{report.kid}" and o.ok for o in outcomes)
    assert _health(us, eu.identity.did)["trusted"] is True
    _verified_with_new_key(eu, us, report.kid)
    assert eu.rotation.report(report.kid, previous="key-1").unacknowledged == {}
    assert eu.rotation.retry_due(later + timedelta(days=1)) == []  # nothing left to send


def test_two_missed_rotations_are_sent_in_order_signed_by_the_pinned_key(net: Any) -> None:
    sim, eu, us, _ = net
    us.refetch.stop()
    sim.behaviour[us.settings.base_url] = Behaviour(down=True)
    first = eu.rotation.rotate(actor="test", ack_timeout=0)
    second = eu.rotation.rotate(actor="test", ack_timeout=0)
    assert (first.kid, second.kid) == ("key-2", "key-3")
    sim.behaviour.pop(us.settings.base_url)
    assert not us.sync.sync_did_document(_peer(us, eu.identity.did), datetime.now(UTC)).ok
    later = datetime.now(UTC) + timedelta(hours=1)
    outcomes = eu.rotation.retry_due(later)
    assert [(o.resource, o.ok) for o in outcomes] == [
        ("key_announcement:key-2", True),
        ("key_announcement:key-3", True),
    ]
    assert _health(us, eu.identity.did)["trusted"] is True
    _verified_with_new_key(eu, us, "key-3")


def _forged(
    sim: PeerNetworkSimulator,
    eu: NodeServices,
    us: NodeServices,
    key: PrivateKey,
    key_id: str,
    new_key: str,
) -> tuple[int, Mapping[str, Any]]:
    event = FederationEvent(
        type=FederationEventType.KEY_ROTATED,
        issuer=eu.identity.did,
        id="urn:uuid:6d0e7ab1-0f7e-4c3b-9a57-1f1d2c3b4a5e",
        occurred_at=datetime.now(UTC).replace(microsecond=0),
        extensions={"newKey": new_key},
    )
    url = us.settings.base_url + "/federation/events"
    body, headers = build_signed_event(
        event, url=url, key=key, key_id=key_id, now=datetime.now(UTC)
    )
    return _post(sim, us, body, headers)


def _post(
    sim: PeerNetworkSimulator, us: NodeServices, body: bytes, headers: Mapping[str, str]
) -> tuple[int, Any]:
    response = sim.clients[us.settings.base_url].post(
        "/federation/events", data=body, headers=dict(headers)
    )
    return response.status_code, response.get_json()


@pytest.mark.parametrize("signer", ["stranger", "pending-key"])
def test_an_announcement_signed_by_a_key_the_receiver_does_not_pin_is_refused(
    net: Any, signer: str
) -> None:
    sim, eu, us, _ = net
    intruder = PrivateKey.generate()
    if signer == "stranger":
        key, key_id = intruder, f"{eu.identity.did}#key-1"
    else:
        # EU's own pending key: US has not been told about it, so it cannot vouch for others.
        kid = eu.rotation.begin(actor="test")
        key, key_id = eu.identity.signing_key(kid).key, f"{eu.identity.did}#{kid}"
    status, body = _forged(sim, eu, us, key, key_id, intruder.public_key.multibase)
    assert status == 401, body
    assert intruder.public_key.multibase not in _peer(us, eu.identity.did).repinned_keys


def test_a_compromised_key_is_never_announced(net: Any) -> None:
    _, eu, us, _ = net
    # A rotation signed by a key marked compromised is refused: revoke-key is the path.
    current = eu.identity.current().kid
    now = datetime.now(UTC)
    eu.identity.revoke_key(current, since=now, now=now, actor="test")
    with pytest.raises(RotationError, match="revoke-key"):
        eu.rotation.begin(actor="test")
    assert [k.kid for k in eu.identity.keys(fresh=True)] == [current]  # no key was made
    assert _peer(us, eu.identity.did).repinned_keys == frozenset()


def test_an_announcement_whose_signer_was_since_compromised_is_not_sent(net: Any) -> None:
    sim, eu, us, _ = net
    sim.behaviour[us.settings.base_url] = Behaviour(down=True)
    report = eu.rotation.rotate(actor="test", ack_timeout=0)
    sim.behaviour.pop(us.settings.base_url)
    now = datetime.now(UTC)
    eu.identity.revoke_key("key-1", since=now, now=now, actor="test")
    [outcome] = eu.rotation.retry_due(now + timedelta(hours=1))
    assert not outcome.ok and "ANNOUNCEMENT_REFUSED" in outcome.detail
    assert report.public_key not in _peer(us, eu.identity.did).repinned_keys
    # Refused for good: it is not sent again (US's administrator must re-pin).
    assert eu.rotation.retry_due(now + timedelta(days=2)) == []


def test_an_announced_key_reported_compromised_is_refused(net: Any) -> None:
    sim, eu, us, _ = net
    report = eu.rotation.rotate(actor="test", ack_timeout=0)
    now = datetime.now(UTC)
    eu.identity.revoke_key("key-1", since=now, now=now, actor="test")
    assert us.sync.sync_did_document(_peer(us, eu.identity.did), now).ok
    # key-1 is now listed as revoked at US: an announcement naming it is refused, whoever
    # signs it (here the current key-2, which US holds under authentication).
    key2 = eu.identity.signing_key(report.kid)
    status, body = _forged(
        sim,
        eu,
        us,
        key2.key,
        key2.did_web_vm,
        eu.identity.signing_key("key-1").key.public_key.multibase,
    )
    assert (status, body["code"]) == (400, "KEY_COMPROMISED"), body


def test_an_announcement_cannot_lift_distrust_with_another_reason(net: Any) -> None:
    sim, eu, us, jp = net
    us.refetch.stop()
    impostor = jp.identity.current().key.public_key.multibase

    def swap(doc: dict[str, Any]) -> dict[str, Any]:
        doc["verificationMethod"][0]["publicKeyMultibase"] = impostor
        return doc

    sim.behaviour[eu.settings.base_url] = Behaviour(rewrite_did=swap)
    outcome = us.sync.sync_did_document(_peer(us, eu.identity.did), datetime.now(UTC))
    assert not outcome.ok and "now names a different key" in outcome.detail
    sim.behaviour.pop(eu.settings.base_url)
    reason = _health(us, eu.identity.did)["untrustedReason"]
    # EU (which still trusts US) rotates: the announcement, signed by the key US pins, is
    # refused, and US's distrust keeps its reason.
    report = eu.rotation.rotate(actor="test", ack_timeout=0)
    assert "401" in report.unacknowledged[us.identity.did]
    health = _health(us, eu.identity.did)
    assert health["trusted"] is False and health["untrustedReason"] == reason
    assert "recovery" not in health
    assert report.public_key not in _peer(us, eu.identity.did).repinned_keys


def test_a_peer_untrusted_for_keys_may_announce_but_not_push_status(net: Any) -> None:
    sim, eu, us, _ = net
    us.refetch.stop()
    sim.behaviour[us.settings.base_url] = Behaviour(down=True)
    eu.rotation.rotate(actor="test", ack_timeout=0)
    sim.behaviour.pop(us.settings.base_url)
    assert not us.sync.sync_did_document(_peer(us, eu.identity.did), datetime.now(UTC)).ok
    event = FederationEvent(
        type=FederationEventType.STATUS_LIST_UPDATED,
        issuer=eu.identity.did,
        id="urn:uuid:0b7f7f55-7a61-4a4e-8f0e-2d1f3a4b5c6d",
        occurred_at=datetime.now(UTC).replace(microsecond=0),
        status_list_credential=eu.settings.base_url + "/status-lists/revocation-1",
    )
    old = eu.identity.signing_key("key-1")
    url = us.settings.base_url + "/federation/events"
    body, headers = build_signed_event(
        event, url=url, key=old.key, key_id=old.did_web_vm, now=datetime.now(UTC)
    )
    status, answer = _post(sim, us, body, headers)
    assert (status, answer["code"]) == (401, "UNKNOWN_KEY"), answer
    assert _health(us, eu.identity.did)["trusted"] is False


def test_key_start_and_end_are_recorded_on_both_sides(net: Any) -> None:
    _, eu, us, _ = net
    report = eu.rotation.rotate(actor="test", ack_timeout=0)
    assert us.refetch.drain(10)
    assert us.sync.sync_did_document(_peer(us, eu.identity.did), datetime.now(UTC)).ok
    with us.db.read() as conn:
        records = {r.multibase: r for r in trust_repo.list_peer_key_records(conn, eu.identity.did)}
    old_key = eu.identity.signing_key("key-1").key.public_key.multibase
    # Start: the announcement's occurredAt, which is the key's creation on EU's side.
    assert records[report.public_key].not_before == report.started
    assert records[report.public_key].source == "announcement"
    # End: EU retired key-1 when it published key-2; US saw it leave `authentication`.
    eu_old = next(k for k in eu.identity.keys(fresh=True) if k.kid == "key-1")
    assert eu_old.retired_at is not None and eu_old.retired_at >= report.started
    assert records[old_key].not_after is not None
    assert records[old_key].not_after >= eu_old.retired_at
    assert records[report.public_key].not_after is None


def test_the_scheduler_rotates_when_the_key_reaches_its_maximum_age(net: Any) -> None:
    sim, eu, us, jp = net
    clock = [datetime.now(UTC)]
    policy = KeyRotation(
        db=eu.db,
        identity=eu.identity,
        peers=eu.peers,
        push=eu.push,
        clock=lambda: clock[0],
        max_key_age=timedelta(days=90),
        publish_wait=timedelta(hours=1),
    )
    created = eu.identity.keys(fresh=True)[0].created_at
    assert policy.next_rotation() == created + timedelta(days=90)
    assert policy.scheduled(clock[0]) == []  # young key: nothing to do
    # The key is 91 days old: a round announces key-2 (both peers acknowledge) ...
    clock[0] += timedelta(days=91)
    sim.behaviour[jp.settings.base_url] = Behaviour(down=True)  # JP misses it
    outcomes = policy.scheduled(clock[0])
    assert ("key_rotation", True, "key-2 announced") in {
        (o.resource, o.ok, o.detail) for o in outcomes
    }
    assert eu.identity.current().kid == "key-1"  # announced, not published
    # ... the next round waits for JP (the publish wait has not passed) ...
    clock[0] += timedelta(minutes=1)
    assert all(o.resource != "key_rotation" for o in policy.scheduled(clock[0]))
    assert eu.identity.current().kid == "key-1"
    # ... and publishes anyway once it has; JP gets the announcement when it is back.
    clock[0] += timedelta(hours=1)
    outcomes = policy.scheduled(clock[0])
    assert ("key_rotation", True, "key-2 published") in {
        (o.resource, o.ok, o.detail) for o in outcomes
    }
    eu.identity.forget_cache()
    assert eu.identity.current().kid == "key-2"
    key2 = next(k for k in eu.identity.keys(fresh=True) if k.kid == "key-2")
    assert policy.next_rotation() == key2.created_at + timedelta(days=90)
    sim.behaviour.pop(jp.settings.base_url)
    clock[0] += timedelta(hours=1)
    outcomes = policy.scheduled(clock[0])
    assert [(o.peer_did, o.ok) for o in outcomes] == [(jp.identity.did, True)]
    for node in (us, jp):
        node.refetch.drain(10)
        assert all(o.ok for o in node.sync.sync_all(datetime.now(UTC), force=True))
        assert _health(node, eu.identity.did)["trusted"] is True
    _verified_with_new_key(eu, us, "key-2")


def test_health_and_the_peer_list_say_what_happened(net: Any) -> None:
    sim, eu, us, _ = net
    us.refetch.stop()
    sim.behaviour[us.settings.base_url] = Behaviour(down=True)
    report = eu.rotation.rotate(actor="test", ack_timeout=0)
    health = sim.clients[eu.settings.base_url].get("/health")
    assert_matches_openapi(health, "get", "/health")
    rotation = health.get_json()["keyRotation"]
    assert rotation["currentKey"] == report.kid and rotation["pendingKey"] is None
    assert rotation["unacknowledged"] == [us.identity.did]
    assert rotation["nextRotation"] is None  # no [keys] max_age_days
    sim.behaviour.pop(us.settings.base_url)
    assert not us.sync.sync_did_document(_peer(us, eu.identity.did), datetime.now(UTC)).ok
    eu.rotation.retry_due(datetime.now(UTC) + timedelta(hours=1))
    # US's peer list shows the recovery; EU's health has nothing left unacknowledged.
    _, token = create_token(
        us.db,
        name="registry",
        scopes=frozenset({"registry-admin"}),
        now=datetime.now(UTC),
        actor="test",
    )
    listing = sim.clients[us.settings.base_url].get(
        "/registry/peers", headers={"Authorization": f"Bearer {token}"}
    )
    assert_matches_openapi(listing, "get", "/registry/peers")
    [entry] = [p for p in listing.get_json()["peers"] if p["did"] == eu.identity.did]
    assert entry["trusted"] is True and entry["pendingKeys"] == []
    assert entry["recovery"]["detail"].startswith("trusted again")
    health = sim.clients[eu.settings.base_url].get("/health")
    assert_matches_openapi(health, "get", "/health")
    assert health.get_json()["keyRotation"]["unacknowledged"] == []


def test_rotate_key_and_keys_list_from_the_cli(
    net: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI opens its own services, whose fetcher really connects: the simulated peers'
    # ports are closed, so nobody acknowledges and the key is published after the wait.
    _, eu, _, _ = net
    data_dir = str(eu.settings.data_dir)
    assert main(["node", "rotate-key", "--data-dir", data_dir, "--ack-timeout", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["current"] == "key-2" and report["previous"] == "key-1"
    assert report["published"] is True and report["acknowledgedBy"] == []
    assert len(report["notAcknowledgedBy"]) == 2
    assert main(["node", "keys", "list", "--data-dir", data_dir, "--json"]) == 0
    listed = {k["kid"]: k for k in json.loads(capsys.readouterr().out)["keys"]}
    assert [listed["key-1"]["state"], listed["key-2"]["state"]] == ["retired", "current"]
    assert listed["key-1"]["end"] is not None and listed["key-2"]["start"] == report["start"]
    assert {p["attempts"] for p in listed["key-2"]["notAcknowledgedBy"]} == {1}
    assert main(["node", "keys", "list", "--data-dir", data_dir]) == 0
    text = capsys.readouterr().out
    assert "key-2 (current)" in text and "not acknowledged by" in text
    # A node whose current key is marked compromised refuses to rotate: revoke-key it is.
    now = datetime.now(UTC)
    eu.identity.revoke_key("key-2", since=now, now=now, actor="test")
    assert main(["node", "rotate-key", "--data-dir", data_dir, "--ack-timeout", "0"]) != 0
    assert "revoke-key" in capsys.readouterr().err
