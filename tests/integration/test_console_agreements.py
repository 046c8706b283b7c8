"""The console's agreement pages: list, review, propose, countersign, terminate.

Two nodes, EU and US, in this process on the simulated peer network (peersim), pinned to each
other, on SQLite and on PostgreSQL. Each node's console is driven through its own app's test
client as a browser would (console_client); documents travel between the nodes as the node
delivers them (a signed POST to the peer), so a proposal made in EU's console shows up in
US's console for review.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from console_client import BASE, ORIGIN, csrf_of, logged_in, submit, token_with
from flask import Flask
from flask.testing import FlaskClient

from node.app import create_app
from node.wiring import NodeServices
from peersim import Behaviour, PeerNetworkSimulator, pinned_pair

EU, US = 1031, 1032


class Pair:
    def __init__(self, sim: PeerNetworkSimulator, eu: NodeServices, us: NodeServices) -> None:
        self.sim, self.eu, self.us = sim, eu, us
        self.eu_app = create_app(eu, testing=True)
        self.us_app = create_app(us, testing=True)

    def console(self, side: str, *scopes: str) -> FlaskClient:
        services, app = (self.eu, self.eu_app) if side == "eu" else (self.us, self.us_app)
        return logged_in(app, token_with(services, *scopes))


@pytest.fixture(params=["sqlite", "postgresql"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    with pinned_pair(request.param, tmp_path, (EU, US)) as (sim, eu, us):
        yield Pair(sim, eu, us)


def _recognitions(pair: Pair, **overrides: Any) -> list[dict[str, Any]]:
    us_recognises_eu = {
        "recognisingParty": pair.us.identity.did,
        "issuingParty": pair.eu.identity.did,
        "programmes": [{"programme": "EU-AEO", "levels": ["AEOS", "AEOF"]}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["exporter", "importer"],
        "benefits": ["reduced-examination", "origin-scan-recognised"],
    }
    eu_recognises_us = {
        "recognisingParty": pair.eu.identity.did,
        "issuingParty": pair.us.identity.did,
        "programmes": [{"programme": "CTPAT", "levels": ["Tier2", "Tier3"]}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["importer"],
        "benefits": ["priority-processing"],
    }
    us_recognises_eu.update(overrides)
    return [us_recognises_eu, eu_recognises_us]


def _proposal_form(pair: Pair, **overrides: str) -> dict[str, str]:
    form = {
        "peer": "us",
        "recognitions": json.dumps(_recognitions(pair)),
        "notice_days": "30",
        "effective_from": "",
        "effective_until": "",
    }
    form.update(overrides)
    return form


def _propose(client: FlaskClient, form: dict[str, Any]) -> Any:
    return submit(client, "/console/agreements/new", "/console/agreements", form)


def _text(answer: Any) -> str:
    return str(answer.get_data(as_text=True))


def _proposed(pair: Pair) -> str:
    """EU proposes through its console; the id of the agreement."""
    answer = _propose(pair.console("eu", "registry-admin"), _proposal_form(pair))
    assert answer.status_code == 303, _text(answer)
    [record] = pair.eu.agreements.list()
    return record.id


def _countersign(client: FlaskClient, agreement_id: str, **extra: str) -> Any:
    page = client.get(f"{BASE}/console/agreements/countersign/{agreement_id}")
    assert page.status_code == 200
    digest = _text(page).split('name="terms_digest" value="')[1].split('"')[0]
    data = {"terms_digest": digest, "confirm": "yes", "csrf_token": csrf_of(page), **extra}
    return client.post(
        f"{BASE}/console/agreements/countersign/{agreement_id}", data=data, headers=ORIGIN
    )


def test_propose_review_countersign_in_force(pair: Pair) -> None:
    eu_admin = pair.console("eu", "registry-admin")
    answer = _propose(eu_admin, _proposal_form(pair))
    assert answer.status_code == 303
    [record] = pair.eu.agreements.list()
    assert answer.headers["Location"].endswith("?done=proposed")
    assert record.state == "pending"
    shown = _text(eu_admin.get(answer.headers["Location"]))
    assert "Proposal signed and delivered" in shown
    assert "This node's proposal: pending until the peer countersigns it." in shown
    assert "Countersign" not in shown

    # US has it (delivered), pending, and reviews it in words.
    assert pair.us.agreements.get(record.id).state == "pending"
    us_admin = pair.console("us", "registry-admin")
    review = _text(us_admin.get(f"{BASE}/console/agreements/{record.id}"))
    eu_label = f"eu ({pair.eu.identity.did})"
    assert f"this node recognises {eu_label}" in review
    assert f"{eu_label} recognises this node" in review
    assert "EU-AEO (levels AEOS, AEOF)" in review and "CTPAT (levels Tier2, Tier3)" in review
    assert "fewer physical and non-intrusive examinations" in review
    assert f"yes: scan attestations from the devices of {eu_label} count" in review
    assert "no: scans are not recognised in this direction" in review
    assert "30 days" in review
    signatures = review.split('id="signatures"')[1].split("</table>")[0]
    assert "yes, verified" in signatures and "not yet" in signatures
    assert '"@context"' in review.replace("&#34;", '"')  # the raw document
    assert "Countersign…" in review

    confirm = _text(us_admin.get(f"{BASE}/console/agreements/countersign/{record.id}"))
    assert "What you sign" in confirm and "I have reviewed these terms" in confirm
    assert '"proof"' not in confirm.replace("&#34;", '"')  # the terms, not the signatures

    answer = _countersign(us_admin, record.id)
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("?done=countersigned")
    shown = _text(us_admin.get(answer.headers["Location"]))
    assert "Agreement countersigned and delivered" in shown
    assert 'id="in-force">in force' in shown
    signatures = shown.split('id="signatures"')[1].split("</table>")[0]
    assert signatures.count("yes, verified") == 2
    # Both sides hold it active.
    assert pair.us.agreements.get(record.id).state == "active"
    assert pair.eu.agreements.get(record.id).state == "active"
    listing = _text(pair.console("eu", "officer").get(f"{BASE}/console/agreements"))
    assert record.id in listing and ">active<" in listing


def test_a_recognitions_file_can_be_uploaded(pair: Pair) -> None:
    client = pair.console("eu", "registry-admin")
    page = client.get(f"{BASE}/console/agreements/new")
    data = {
        **_proposal_form(pair, recognitions=""),
        "recognitions_file": (BytesIO(json.dumps(_recognitions(pair)).encode()), "mra.json"),
        "csrf_token": csrf_of(page),
    }
    answer = client.post(
        f"{BASE}/console/agreements",
        data=data,
        headers=ORIGIN,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303, _text(answer)
    assert [r.state for r in pair.eu.agreements.list()] == ["pending"]


def test_an_undelivered_proposal_is_stored_and_said_so(pair: Pair) -> None:
    pair.sim.behaviour[pair.us.settings.base_url] = Behaviour(down=True)
    client = pair.console("eu", "registry-admin")
    answer = _propose(client, _proposal_form(pair))
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("?done=proposed-undelivered")
    shown = _text(client.get(answer.headers["Location"]))
    assert "the peer did not take it" in shown
    assert pair.us.agreements.list() == []


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"peer": "jp"}, 400, "Choose one of the pinned peers"),
        ({"peer": ""}, 400, "Choose one of the pinned peers"),
        ({"notice_days": "abc"}, 400, "whole number of days"),
        ({"notice_days": "-1"}, 400, "whole number of days"),
        ({"notice_days": "731"}, 422, "/noticePeriodDays"),
        ({"recognitions": ""}, 400, "Give the recognitions"),
        ({"recognitions": "{not json"}, 400, "not valid JSON"),
        ({"recognitions": '{"a": 1}'}, 400, "JSON array of one or two objects"),
        ({"recognitions": "[1, 2]"}, 400, "JSON array of one or two objects"),
        ({"recognitions": "[" + "1," * 40000 + "1]"}, 400, "larger than"),
        ({"effective_from": "soon"}, 400, "must be a date"),
        ({"effective_until": "2001-01-01"}, 422, "effectiveUntil"),
    ],
)
def test_bad_proposals_show_the_form_again(
    pair: Pair, overrides: dict[str, str], status: int, message: str
) -> None:
    answer = _propose(pair.console("eu", "registry-admin"), _proposal_form(pair, **overrides))
    assert answer.status_code == status, _text(answer)
    text = _text(answer)
    assert message in text and 'class="notice error"' in text
    assert "Sign and send the proposal" in text
    assert pair.eu.agreements.list() == [] and pair.us.agreements.list() == []


def test_invalid_recognitions_name_the_json_pointer(pair: Pair) -> None:
    stranger = "did:web:stranger.example"
    bad = _recognitions(pair, recognisingParty=stranger)
    del bad[1]["benefits"]
    answer = _propose(
        pair.console("eu", "registry-admin"), _proposal_form(pair, recognitions=json.dumps(bad))
    )
    assert answer.status_code == 422
    text = _text(answer)
    assert "/recognitions/1" in text and "/recognitions/0/recognisingParty" in text
    # The input is kept for correction.
    assert stranger in text
    assert pair.eu.agreements.list() == []


def test_hostile_text_is_escaped(pair: Pair) -> None:
    hostile = "<script>alert(1)</script>"
    client = pair.console("eu", "registry-admin")
    answer = _propose(client, _proposal_form(pair, recognitions=hostile))
    assert answer.status_code == 400
    assert hostile not in _text(answer) and "&lt;script&gt;" in _text(answer)
    # A value the schema refuses is named in the message: escaped there too.
    image = "<img src=x onerror=alert(1)>"
    bad = _recognitions(pair, programmes=[{"programme": image, "levels": ["AEOF"]}])
    answer = _propose(client, _proposal_form(pair, recognitions=json.dumps(bad)))
    assert answer.status_code == 422
    assert "/recognitions/0/programmes/0/programme" in _text(answer)
    assert image not in _text(answer) and "&lt;img src=x onerror=alert(1)&gt;" in _text(answer)
    assert pair.eu.agreements.list() == []


def test_countersign_refusals(pair: Pair) -> None:
    agreement_id = _proposed(pair)
    us_admin = pair.console("us", "registry-admin")
    path = f"/console/agreements/countersign/{agreement_id}"
    # Not ticked: asked again.
    answer = _countersign(us_admin, agreement_id, confirm="")
    assert answer.status_code == 400 and "Tick the box" in _text(answer)
    # A digest of other terms (the page was shown for another document): refused.
    answer = submit(us_admin, path, path, {"terms_digest": "0" * 64, "confirm": "yes"})
    assert answer.status_code == 409 and "changed since the page was shown" in _text(answer)
    # No CSRF token.
    answer = us_admin.post(f"{BASE}{path}", data={"confirm": "yes"}, headers=ORIGIN)
    assert answer.status_code == 400
    assert pair.us.agreements.get(agreement_id).state == "pending"
    # The proposer cannot countersign its own proposal.
    eu_admin = pair.console("eu", "registry-admin")
    answer = submit(eu_admin, path, path, {"terms_digest": "x", "confirm": "yes"})
    assert answer.status_code == 409 and "own proposal" in _text(answer)
    assert pair.eu.agreements.get(agreement_id).state == "pending"
    # Read-only scopes may look, not sign.
    for scope in ("officer", "auditor"):
        reader = pair.console("us", scope)
        review = reader.get(f"{BASE}/console/agreements/{agreement_id}")
        assert review.status_code == 200 and "Countersign" not in _text(review)
        assert reader.get(f"{BASE}{path}").status_code == 403
        answer = submit(
            reader,
            f"/console/agreements/{agreement_id}",
            path,
            {"terms_digest": "x", "confirm": "yes"},
        )
        assert answer.status_code == 403
    assert pair.us.agreements.get(agreement_id).state == "pending"
    # Countersigned once; a second time is a clear conflict.
    assert _countersign(us_admin, agreement_id).status_code == 303
    answer = submit(us_admin, path, path, {"terms_digest": "x", "confirm": "yes"})
    assert answer.status_code == 409 and "already active" in _text(answer)


def test_terminate_after_confirmation(pair: Pair) -> None:
    agreement_id = _proposed(pair)
    us_admin = pair.console("us", "registry-admin")
    path = f"/console/agreements/terminate/{agreement_id}"
    # A pending proposal is not terminated.
    answer = submit(us_admin, f"/console/agreements/{agreement_id}", path, {"confirm": "yes"})
    assert answer.status_code == 409 and "only an active agreement" in _text(answer)
    assert _countersign(us_admin, agreement_id).status_code == 303

    before = datetime.now(UTC) + timedelta(days=30)
    confirm = _text(us_admin.get(f"{BASE}{path}"))
    after = datetime.now(UTC) + timedelta(days=30)
    assert "notice period of 30 days" in confirm
    assert (
        before.strftime("%Y-%m-%d %H:%M") in confirm or after.strftime("%Y-%m-%d %H:%M") in confirm
    )
    answer = submit(us_admin, path, path, {})
    assert answer.status_code == 400 and "Tick the box" in _text(answer)
    assert pair.us.agreements.get(agreement_id).state == "active"
    answer = submit(
        pair.console("us", "officer"),
        f"/console/agreements/{agreement_id}",
        path,
        {"confirm": "yes"},
    )
    assert answer.status_code == 403

    answer = submit(us_admin, path, path, {"confirm": "yes"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("?done=terminated")
    shown = _text(us_admin.get(answer.headers["Location"]))
    record = pair.us.agreements.get(agreement_id)
    assert record.state == "terminated" and record.termination_effective is not None
    termination = shown.split('id="termination"')[1].split("</dl>")[0]
    assert "this node" in termination
    assert record.termination_effective.strftime("%Y-%m-%d %H:%M:%S") in termination
    # Still in force until the notice takes effect; the peer got the notice.
    assert 'id="in-force">in force' in shown
    assert pair.eu.agreements.get(agreement_id).state == "terminated"
    eu_review = _text(
        pair.console("eu", "auditor").get(f"{BASE}/console/agreements/{agreement_id}")
    )
    assert f"us ({pair.us.identity.did})" in eu_review.split('id="termination"')[1]
    # Twice: a conflict.
    answer = submit(us_admin, f"/console/agreements/{agreement_id}", path, {"confirm": "yes"})
    assert answer.status_code == 409 and "terminated" in _text(answer)


def test_who_may_open_the_agreement_pages(pair: Pair) -> None:
    agreement_id = _proposed(pair)
    officer = pair.console("eu", "officer")
    listing = _text(officer.get(f"{BASE}/console/agreements"))
    assert agreement_id in listing and "Propose an agreement" not in listing
    assert officer.get(f"{BASE}/console/agreements/new").status_code == 403
    answer = submit(officer, "/console/agreements", "/console/agreements", _proposal_form(pair))
    assert answer.status_code == 403
    assert len(pair.eu.agreements.list()) == 1
    device_admin = pair.console("eu", "device-admin")
    for path in ("/console/agreements", f"/console/agreements/{agreement_id}"):
        assert device_admin.get(f"{BASE}{path}").status_code == 403
    admin = pair.console("eu", "registry-admin")
    assert "Propose an agreement" in _text(admin.get(f"{BASE}/console/agreements"))


def test_an_unknown_agreement_is_a_404_page(pair: Pair) -> None:
    client = pair.console("eu", "registry-admin")
    unknown = "urn:uuid:00000000-0000-4000-8000-00000000dead"
    for path in (
        f"/console/agreements/{unknown}",
        f"/console/agreements/countersign/{unknown}",
        f"/console/agreements/terminate/{unknown}",
    ):
        answer = client.get(f"{BASE}{path}")
        assert answer.status_code == 404 and "no agreement" in _text(answer)
    answer = submit(
        client,
        "/console/agreements",
        f"/console/agreements/terminate/{unknown}",
        {"confirm": "yes"},
    )
    assert answer.status_code == 404
    assert client.get(f"{BASE}/console/agreements/not-an-id").status_code == 404


def test_no_peer_pinned_yet(make_node: Any) -> None:
    services, _ = make_node()
    app: Flask = create_app(services, testing=True)
    client = logged_in(app, token_with(services, "registry-admin"))
    page = _text(client.get(f"{BASE}/console/agreements/new"))
    assert "No peer is pinned yet" in page
    assert "No agreement yet" in _text(client.get(f"{BASE}/console/agreements"))
