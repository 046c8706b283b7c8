"""Partners witness each other's transparency logs (C2SP tlog-witness, tlog-cosignature).

In-memory network (EU, US, JP): EU's checkpoints are cosigned by US and JP, and the
cosignatures verify with their keys; growth is accepted with a consistency proof. Then the
attacks on a witness: an unknown log, a checkpoint signed by a stranger, a stale old size
(409 with the size held), a bad proof, a malformed body, a rollback, and a log showing two
trees of one size (a split view: recorded, in /metrics and /health). And the watch: a log
that shows a partner a forked checkpoint is caught by the partner's sync round.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from credentials.keys import PrivateKey
from node.app import create_app
from node.wiring import NodeServices
from nodehelpers import aeo_subject, close_services
from peersim import Behaviour, PeerNetworkSimulator, make_sim_node, pin
from scan_attestation.checkpoint import Checkpoint, sign_checkpoint, verify_cosignature
from scan_attestation.log_entry import log_origin, witness_name
from scan_attestation.note import parse_note

EU, US, JP = 1101, 1102, 1103


@pytest.fixture
def net(tmp_path: Path) -> Any:
    sim = PeerNetworkSimulator()
    eu, _ = make_sim_node(sim, tmp_path, "eu", EU)
    us, _ = make_sim_node(sim, tmp_path, "us", US)
    jp, _ = make_sim_node(sim, tmp_path, "jp", JP)
    for a, b, name in ((eu, us, "us"), (eu, jp, "jp"), (us, eu, "eu"), (jp, eu, "eu")):
        pin(a, b, name)
    now = datetime.now(UTC)
    for node in (eu, us, jp):
        assert all(o.ok for o in node.sync.sync_all(now))
    yield sim, eu, us, jp
    close_services(eu, us, jp)


def _issue(node: NodeServices, count: int = 1) -> None:
    for _ in range(count):
        node.issuance.issue_aeo(
            aeo_subject(PrivateKey.generate().public_key.did), now=datetime.now(UTC), actor="t"
        )


def _cosign_ok(node: NodeServices) -> list[Any]:
    outcomes = node.cosigning.round(datetime.now(UTC))
    assert all(o.ok for o in outcomes), outcomes
    return outcomes


def _add(witness: NodeServices, body: str) -> Any:
    client = create_app(witness, testing=True).test_client()
    return client.post("/add-checkpoint", data=body.encode(), content_type="text/plain")


def _signed(eu: NodeServices, size: int, root: bytes, key: PrivateKey | None = None) -> str:
    origin = log_origin(eu.identity.did)
    return sign_checkpoint(
        Checkpoint(origin=origin, size=size, root=root),
        origin,
        key or eu.identity.current().key,
    )


def test_partners_cosign_and_follow_the_log(net: Any) -> None:
    _, eu, us, jp = net
    _issue(eu)
    _cosign_ok(eu)
    note = parse_note(eu.log.checkpoint(datetime.now(UTC)).note)
    for witness in (us, jp):
        key = witness.identity.current().key.public_key
        assert verify_cosignature(note, witness_name(witness.identity.did), key) is not None
    first_size = eu.log.head().size
    # The log grows: the partners accept it with a consistency proof from what they hold.
    _issue(eu, 3)
    _cosign_ok(eu)
    note = parse_note(eu.log.checkpoint(datetime.now(UTC)).note)
    assert eu.log.head().size > first_size
    key = us.identity.current().key.public_key
    assert verify_cosignature(note, witness_name(us.identity.did), key) is not None
    # The published checkpoint carries the cosignatures (what auditors download).
    served = create_app(eu, testing=True).test_client().get("/checkpoint").get_data(as_text=True)
    assert witness_name(jp.identity.did) in served
    # A second round with nothing new asks nobody again.
    details = [o.detail for o in _cosign_ok(eu) if o.resource == "cosign"]
    assert all("already cosigned" in d for d in details), details


def test_witness_refuses_what_it_cannot_vouch_for(net: Any) -> None:
    _, eu, us, _ = net
    _issue(eu)
    _cosign_ok(eu)
    held = eu.log.head()
    _issue(eu)
    grown = eu.log.head()
    proof = eu.log.consistency_proof(held.size, grown.size)
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    good = _signed(eu, grown.size, grown.root)
    # A log US does not witness (a stranger's origin and key).
    stranger = PrivateKey.generate()
    strange = sign_checkpoint(
        Checkpoint(origin="evil.example/log", size=1, root=b"\x01" * 32),
        "evil.example/log",
        stranger,
    )
    assert _add(us, "old 0\n\n" + strange).status_code == 404
    # EU's origin, a stranger's signature.
    forged = _signed(eu, grown.size, grown.root, key=stranger)
    assert _add(us, f"old {held.size}\n{lines}\n" + forged).status_code == 403
    # A stale old size: 409 names the size held.
    stale = _add(us, f"old 0\n\n{good}")
    assert stale.status_code == 409
    assert stale.content_type.startswith("text/x.tlog.size")
    assert stale.get_data(as_text=True) == f"{held.size}\n"
    # A proof that does not verify.
    bad = "".join(base64.b64encode(b"\x07" * 32).decode() + "\n" for _ in proof)
    assert _add(us, f"old {held.size}\n{bad}\n{good}").status_code == 422
    # Malformed bodies and a rollback below the size held.
    for body in ("", "old x\n\n" + good, f"old {held.size}\n" + good, "\xff"):
        response = _add(us, body)
        assert response.status_code == 400, body
        assert response.mimetype == "application/problem+json"
    rollback = _signed(eu, held.size - 1, b"\x02" * 32) if held.size > 1 else None
    if rollback is not None:
        assert _add(us, f"old {held.size}\n\n{rollback}").status_code == 400
    # The honest request still works after all that.
    accepted = _add(us, f"old {held.size}\n{lines}\n{good}")
    assert accepted.status_code == 200, accepted.get_data()
    assert accepted.get_data(as_text=True).startswith("\u2014 " + witness_name(us.identity.did))
    assert us.witness.alert_count() == 0


def test_two_trees_of_one_size_are_a_recorded_split_view(net: Any) -> None:
    _, eu, us, _ = net
    _issue(eu)
    _cosign_ok(eu)
    held = eu.log.head()
    # EU's own key (a rogue operator, or a stolen key) signs another tree of the same size.
    fork = _signed(eu, held.size, b"\x03" * 32)
    response = _add(us, f"old {held.size}\n\n{fork}")
    assert response.status_code == 422
    assert us.witness.alert_count() == 1
    alert = us.witness.alerts()[0]
    assert alert.peer_did == eu.identity.did
    assert "different roots" in alert.detail
    assert fork.split("\n")[0] in alert.conflicting_checkpoint
    client = create_app(us, testing=True).test_client()
    health = client.get("/health")
    assert health.get_json()["splitViewAlerts"] == 1


def test_a_forked_checkpoint_shown_to_a_partner_is_caught_by_its_watch(net: Any) -> None:
    sim, eu, us, _ = net
    _issue(eu, 2)
    _cosign_ok(eu)
    held = eu.log.head()
    _issue(eu)
    grown = eu.log.head()
    # EU shows US a checkpoint of a bigger tree that does not extend what US cosigned.
    forked = _signed(eu, grown.size, b"\x04" * 32)
    sim.behaviour[eu.settings.base_url] = Behaviour(replay={"/checkpoint": forked.encode()})
    outcomes = {
        o.resource: o
        for o in us.cosigning.round(datetime.now(UTC))
        if o.peer_did == eu.identity.did
    }
    assert not outcomes["log"].ok
    assert "split view" in outcomes["log"].detail
    assert us.witness.alert_count() == 1
    assert held.size < grown.size
    # The honest checkpoint is consistent again: no new alert.
    sim.behaviour[eu.settings.base_url] = Behaviour()
    outcomes = {
        o.resource: o
        for o in us.cosigning.round(datetime.now(UTC))
        if o.peer_did == eu.identity.did
    }
    assert outcomes["log"].ok, outcomes["log"]
    assert us.witness.alert_count() == 1
