"""Peer sync against misbehaving peers (in-memory network): down, garbage, older status
list (rollback), swapped key. Each is reported in health, grants nothing, and the other
peers keep working."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from credentials.errors import MalformedInputError
from node.federation import sync as sync_module
from node.federation.scheduler import sync_agreements
from node.storage import federation_repo
from node.wiring import NodeServices
from nodehelpers import aeo_subject, close_services
from peersim import Behaviour, PeerNetworkSimulator, make_sim_node, pin, sign_agreement
from registry.mra_recognition import aeo_recognition_facts, get_recognition_check

EU, US, JP = 1001, 1002, 1003


@pytest.fixture
def net(tmp_path: Path) -> Any:
    sim = PeerNetworkSimulator()
    eu, _ = make_sim_node(sim, tmp_path, "eu", EU)
    us, _ = make_sim_node(sim, tmp_path, "us", US)
    jp, _ = make_sim_node(sim, tmp_path, "jp", JP)
    pin(eu, us, "us")
    pin(eu, jp, "jp")
    pin(us, eu, "eu")
    pin(jp, eu, "eu")
    now = datetime.now(UTC)
    for node in (eu, us, jp):
        assert all(o.ok for o in node.sync.sync_all(now))
    sign_agreement(eu, us)
    sign_agreement(eu, jp)
    yield sim, eu, us, jp
    close_services(eu, us, jp)


def _verify(node: NodeServices, vc: dict[str, Any]) -> Any:
    # A list this node has not held yet answers unknown at once and is fetched in the
    # background; ask again once that fetch is done.
    outcome = node.verification.verify(vc, now=datetime.now(UTC))
    if outcome.refetch:
        assert node.refetch.drain(10)
        outcome = node.verification.verify(vc, now=datetime.now(UTC))
    return outcome


def _codes(outcome: Any) -> dict[str, tuple[str, str | None]]:
    return {c.name: (c.status.value, c.code) for c in outcome.result.checks}


def _health(node: NodeServices, did: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(p for p in node.peers.health() if p["did"] == did)
    return entry


def test_baseline_benefits(net: Any) -> None:
    _, eu, us, jp = net
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    for node in (us, jp):
        outcome = _verify(node, vc)
        assert outcome.verified, outcome.to_dict()
        assert outcome.benefits == {"reduced-examination"}


def test_peer_down_reports_and_grants_nothing(net: Any) -> None:
    sim, eu, us, jp = net
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    sim.behaviour[eu.settings.base_url] = Behaviour(down=True)
    # US has never cached EU's lists: the on-demand fetch fails, status is unknown.
    outcome = _verify(us, vc)
    assert not outcome.verified and outcome.benefits == frozenset()
    assert _codes(outcome)["status"] == ("unknown", "STATUS_UNAVAILABLE")
    outcomes = us.sync.sync_all(datetime.now(UTC), force=True)
    assert [o.ok for o in outcomes] == [False]
    health = _health(us, eu.identity.did)
    assert health["resources"][0]["consecutiveFailures"] >= 1
    assert "connection refused" in health["resources"][0]["lastError"]
    # The other direction keeps working: EU still verifies its own and syncs JP.
    assert all(
        o.ok
        for o in eu.sync.sync_all(datetime.now(UTC), force=True)
        if o.peer_did == jp.identity.did
    )


def test_garbage_is_reported_and_keeps_the_last_good_state(net: Any) -> None:
    sim, eu, us, _ = net
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    assert _verify(us, vc).verified
    sim.behaviour[eu.settings.base_url] = Behaviour(garbage=True)
    outcomes = us.sync.sync_all(datetime.now(UTC), force=True)
    assert not outcomes[0].ok and "MALFORMED_JSON" in outcomes[0].detail
    assert _health(us, eu.identity.did)["trusted"] is True  # last good document still holds
    assert _verify(us, vc).verified  # cached, fresh, verified status list


def test_older_status_list_is_refused_as_rollback(net: Any) -> None:
    sim, eu, us, _ = net
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    url = vc["credentialStatus"][0]["statusListCredential"]
    path = url.split(str(EU), 1)[1]
    old_list = sim.clients[eu.settings.base_url].get(path).get_data()
    assert _verify(us, vc).verified  # US caches the current (clear) list
    eu.status.set_status(vc["id"], "revocation", True, now=datetime.now(UTC), actor="test")
    assert us.sync.sync_status_list(url, datetime.now(UTC)).ok
    assert _codes(_verify(us, vc))["status"] == ("fail", "REVOKED")
    # EU (or someone in between) now serves the older list: refused, revocation stands.
    sim.behaviour[eu.settings.base_url] = Behaviour(replay={path: old_list})
    outcome = us.sync.sync_status_list(url, datetime.now(UTC))
    assert not outcome.ok and "STATUS_LIST_ROLLBACK" in outcome.detail
    assert _codes(_verify(us, vc))["status"] == ("fail", "REVOKED")


def test_swapped_key_makes_the_peer_untrusted(net: Any) -> None:
    sim, eu, us, jp = net
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    impostor = jp.identity.current().key.public_key.multibase

    def swap(doc: dict[str, Any]) -> dict[str, Any]:
        doc["verificationMethod"][0]["publicKeyMultibase"] = impostor
        return doc

    sim.behaviour[eu.settings.base_url] = Behaviour(rewrite_did=swap)
    outcome = us.sync.sync_did_document(next(p for p in us.peers.peers()), datetime.now(UTC))
    assert not outcome.ok and "KEY_CHANGE_REJECTED" in outcome.detail
    health = _health(us, eu.identity.did)
    assert health["trusted"] is False and "different key" in health["untrustedReason"]
    result = _verify(us, vc)
    assert not result.verified and result.benefits == frozenset()
    assert _codes(result)["proof"][0] == "unknown"
    # JP (not affected) still grants the benefit.
    assert _verify(jp, vc).verified


def test_stale_status_list_is_unknown(net: Any) -> None:
    sim, eu, us, _ = net
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    assert _verify(us, vc).verified
    sim.behaviour[eu.settings.base_url] = Behaviour(down=True)
    later = datetime.now(UTC) + timedelta(
        seconds=us.federation.freshness.status_max_age_seconds + 5
    )
    outcome = us.verification.verify(vc, now=later)
    assert _codes(outcome)["status"] == ("unknown", "STATUS_STALE")
    assert outcome.benefits == frozenset()


def test_untrusted_issuer_gets_no_recognition(net: Any) -> None:
    _, _, us, jp = net
    # JP and US are not peers: a JP credential is unknown at US.
    subject = aeo_subject() | {
        "programme": "JP-AEO",
        "level": "AEO-Exporter",
        "country": "JP",
        "identifiers": [{"scheme": "JP-AEO-CODE", "value": "JP-1"}],
        "authorisationNumber": "JP-1",
    }
    vc = jp.issuance.issue_aeo(subject, now=datetime.now(UTC), actor="test")
    outcome = _verify(us, vc)
    assert not outcome.verified and outcome.benefits == frozenset()
    assert _codes(outcome)["proof"][0] == "unknown"
    assert json.dumps(outcome.to_dict())  # serialisable for the API


def test_termination_takes_effect_after_the_notice_period(net: Any) -> None:
    _, eu, us, _ = net
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    [agreement] = [r for r in eu.agreements.list() if r.peer_did == us.identity.did]
    notice = eu.agreements.terminate(agreement.id, actor="test")
    effective = us.agreements.receive_termination(
        notice, actor="test", delivered_by=eu.identity.did
    )
    assert effective - datetime.now(UTC) > timedelta(days=29)
    assert _verify(us, vc).result.check("recognition").status.value == "pass"
    [held] = [a for a in us.trust.current().agreements if a.mra.id == agreement.id]
    assert held.termination_effective == effective
    facts = aeo_recognition_facts(vc)
    after = get_recognition_check(
        [held.mra],
        recognising_party=us.identity.did,
        issuer=eu.identity.did,
        at=effective + timedelta(seconds=1),
        terminations={held.mra.id: effective},
        **facts._asdict(),
    )
    assert (after.check.status.value, after.check.code) == ("fail", "MRA_NOT_IN_FORCE")
    # The notice already reached US as a signed delivery; receiving it again changes nothing.
    assert (
        us.agreements.receive_termination(notice, actor="test", delivered_by=eu.identity.did)
        == effective
    )
    # A second notice for a terminated agreement is refused.
    with pytest.raises(MalformedInputError, match="is terminated"):
        eu.agreements.terminate(agreement.id, actor="test")


def _us_proposes(us: NodeServices, eu: NodeServices, *, level: str, role: str) -> Any:
    """US proposes that EU recognise its CTPAT ``level`` for ``role`` (delivered to EU)."""
    return us.agreements.propose(
        peer_did=eu.identity.did,
        recognitions=[
            {
                "recognisingParty": eu.identity.did,
                "issuingParty": us.identity.did,
                "programmes": [{"programme": "CTPAT", "levels": [level]}],
                "credentialTypes": ["AEOCertificate"],
                "roles": [role],
                "benefits": ["priority-processing"],
            }
        ],
        effective_from=datetime.now(UTC),
        effective_until=None,
        notice_period_days=10,
        actor="test",
    )


def test_agreement_documents_are_delivered_as_signed_requests(net: Any) -> None:
    sim, eu, us, jp = net
    proposal = _us_proposes(us, eu, level="Tier3", role="importer")
    agreement_id = proposal["credentialSubject"]["id"]
    # EU got it without anyone handing it over: pending, for review.
    assert eu.agreements.get(agreement_id).state == "pending"
    eu.agreements.countersign(agreement_id, actor="test")
    assert us.agreements.get(agreement_id).state == "active"
    # The delivery endpoint refuses unsigned requests and documents from non-parties.
    client = sim.clients[eu.settings.base_url]
    unsigned = client.post("/federation/agreements", json=proposal)
    assert unsigned.status_code == 401 and unsigned.get_json()["code"] == "MISSING_SIGNATURE"
    with pytest.raises(Exception, match="not the other party"):
        eu.agreements.receive_from_peer(proposal, sender=jp.identity.did)


def _rotate(node: NodeServices) -> tuple[Any, str]:
    previous = node.identity.current()
    node.identity.add_key(now=datetime.now(UTC), actor="test", make_current=True)
    node.identity.forget_cache()
    return previous, node.identity.current().key.public_key.multibase


def test_announced_key_rotation_is_accepted(net: Any) -> None:
    _, eu, us, jp = net
    report = eu.rotation.rotate(actor="test", ack_timeout=0)
    assert sorted(report.acknowledged) == sorted([us.identity.did, jp.identity.did])
    assert report.published and report.unacknowledged == {}
    # Each peer checked the announcement, accepted the new key and stayed trusted.
    for node in (us, jp):
        health = _health(node, eu.identity.did)
        assert health["trusted"] is True, health
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    assert vc["proof"]["verificationMethod"].endswith("#key-2")
    assert _verify(us, vc).verified


def test_a_sync_that_read_the_peer_before_an_announcement_still_sees_it(net: Any) -> None:
    # Issue 14's race, made deterministic: US's sync read EU's peer record, then EU's
    # announcement re-pinned the new key, then the sync wrote. The sync decides on the peer
    # row as it is inside its write transaction, so the announced key is accepted.
    _, eu, us, _ = net
    us.refetch.stop()  # no background fetch of EU's document: this sync is the first to see it
    stale = next(p for p in us.peers.peers() if p.did == eu.identity.did)
    report = eu.rotation.rotate(actor="test", ack_timeout=0)
    assert us.identity.did in report.acknowledged
    new_key = report.public_key
    assert new_key not in stale.repinned_keys  # what the sync read is out of date
    outcome = us.sync.sync_did_document(stale, datetime.now(UTC))
    assert outcome.ok, outcome.detail
    assert _health(us, eu.identity.did)["trusted"] is True
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    assert vc["proof"]["verificationMethod"].endswith("#key-2")
    assert all(o.ok for o in us.sync.sync_all(datetime.now(UTC), force=True))
    assert us.verification.verify(vc, now=datetime.now(UTC)).verified


def test_unannounced_key_rotation_makes_the_peer_untrusted(net: Any) -> None:
    _, eu, us, _ = net
    _rotate(eu)  # no announcement (say, the peers were unreachable)
    outcome = us.sync.sync_did_document(next(p for p in us.peers.peers()), datetime.now(UTC))
    assert not outcome.ok and "without a signed announcement" in outcome.detail
    assert _health(us, eu.identity.did)["trusted"] is False
    # An administrator re-pins the new key out of band: trusted again.
    us.peers.repin(
        eu.identity.did,
        frozenset({eu.identity.current().key.public_key.multibase}),
        now=datetime.now(UTC),
        actor="test",
    )
    assert us.sync.sync_did_document(next(p for p in us.peers.peers()), datetime.now(UTC)).ok


def test_a_lost_countersignature_is_pulled_by_the_sync_job(net: Any) -> None:
    sim, eu, us, _ = net
    proposal = _us_proposes(us, eu, level="Tier2", role="exporter")
    agreement_id = proposal["credentialSubject"]["id"]
    sim.behaviour[us.settings.base_url] = Behaviour(down=True)
    eu.agreements.countersign(agreement_id, actor="test")  # the delivery to US is lost
    assert us.agreements.get(agreement_id).state == "pending"
    sim.behaviour.pop(us.settings.base_url)
    outcomes = sync_agreements(us.sync, us.agreements)
    assert (agreement_id, "active") in {(o.resource.split(":", 1)[1], o.detail) for o in outcomes}
    assert us.agreements.get(agreement_id).state == "active"
    # A termination notice lost on its way is pulled the same way.
    sim.behaviour[us.settings.base_url] = Behaviour(down=True)
    eu.agreements.terminate(agreement_id, actor="test")
    sim.behaviour.pop(us.settings.base_url)
    sync_agreements(us.sync, us.agreements)
    assert us.agreements.get(agreement_id).state == "terminated"


def test_a_closed_push_service_sends_nothing_and_never_raises(
    net: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown order: pushes end first, and a status change afterwards pushes nothing (the
    partners' scheduled pull still sees it), instead of raising or running after the
    database is gone."""
    _, eu, us, _ = net
    sent: list[str] = []
    monkeypatch.setattr(eu.push, "_send", lambda base_url, *_: sent.append(base_url))
    first = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    second = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    eu.status.set_status(str(first["id"]), "revocation", True, now=datetime.now(UTC), actor="t")
    eu.push.flush()
    assert sorted(sent) == [f"http://127.0.0.1:{p}" for p in (US, JP)]  # open: both told
    sent.clear()
    eu.push.close()
    eu.push.close()  # twice is fine
    eu.push.flush()  # nothing queued, nothing raised
    eu.status.set_status(str(second["id"]), "revocation", True, now=datetime.now(UTC), actor="t")
    eu.push.flush()
    assert sent == []  # closed: the change is committed and published, not pushed
    # US learns it by its scheduled pull.
    assert all(o.ok for o in us.sync.sync_all(datetime.now(UTC)))
    assert _codes(_verify(us, second))["status"] == ("fail", "REVOKED")


@pytest.mark.parametrize("add_again", [False, True], ids=["removed", "removed-and-added-again"])
def test_a_list_fetched_while_its_peer_was_removed_is_not_stored(
    net: Any, add_again: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The peer was removed (say, distrusted) after its list was fetched and verified, before
    # it was stored: it is not stored, neither for the removed peer nor for a peer added again
    # under the same DID since, and the sync reports it instead of raising.
    _, eu, us, _ = net
    vc = eu.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    url = vc["credentialStatus"][0]["statusListCredential"]
    us.refetch.stop()
    peer = next(p for p in us.peers.peers() if p.did == eu.identity.did)
    real = sync_module.serialize_document

    def removed_meanwhile(document: Any) -> str:
        now = datetime.now(UTC)
        us.peers.remove(peer.name, force=True, configured=(), now=now, actor="t")
        if add_again:
            us.peers.add_peer(
                name=peer.name,
                did=peer.did,
                base_url=peer.base_url,
                pinned_keys=peer.pinned_keys,
                ca_bundle=peer.ca_bundle,
                now=now + timedelta(seconds=1),
                actor="t",
            )
        return real(document)

    monkeypatch.setattr(sync_module, "serialize_document", removed_meanwhile)
    outcome = us.sync.sync_status_list(url, datetime.now(UTC))
    assert not outcome.ok and "removed" in outcome.detail, outcome
    with us.db.read() as conn:
        assert federation_repo.current_status_list(conn, url) is None
        assert federation_repo.status_list_urls(conn, eu.identity.did) == []
    present = [p.did for p in us.peers.peers()]
    assert (eu.identity.did in present) is add_again
