"""The console's plots page: inspection rates by segment, partner data freshness, propagation.

The page runs on SQLite and PostgreSQL: empty (every chart says why it is empty), with
decisions of one node (watch-list hits and plain ones), and with the EU/US federation of
test_risk_api.py, where the US holds decisions with and without AEO benefits, partner sync
health and fetched EU status lists. The chart geometry and the counting are pure and are
checked directly too.
"""

# ruff: noqa: F811 - tests take the fixtures imported below as parameters of the same name

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime

import pytest
from console_client import BASE, logged_in, token_with
from flask import Flask
from test_console_risk import decide
from test_risk_api import (  # noqa: F401 - fixtures used by name
    Federation,
    Port,
    Trader,
    declaration,
    federation,
    us_database_url,
)
from werkzeug.test import TestResponse

from node.app import create_app
from node.console.charts import bar_chart, duration, stacked_chart
from node.services.console_risk import CHANNELS, channel_shares
from node.wiring import NodeServices

PLOTS = "/console/plots"


def text(page: TestResponse) -> str:
    """What a reader sees: the page without tags, entities decoded, whitespace collapsed."""
    plain = re.sub(r"<[^>]+>", " ", page.get_data(as_text=True))
    return " ".join(html.unescape(plain).split())


@pytest.fixture
def services(node: tuple[NodeServices, str]) -> NodeServices:
    return node[0]


def test_an_empty_node_says_why_each_chart_is_empty(app: Flask, services: NodeServices) -> None:
    client = logged_in(app, token_with(services, "registry-admin"))
    page = client.get(f"{BASE}{PLOTS}")
    assert page.status_code == 200
    body = text(page)
    assert "No risk decision yet" in body
    assert "No partner pinned yet" in body
    assert "No partner status list fetched yet" in body
    assert 'class="chart"' not in page.get_data(as_text=True)


def test_channel_shares_of_one_node(app: Flask, services: NodeServices) -> None:
    decide(services, declarationId="26US000000000001")
    services.risk.add_watch_entry(
        container="CSQU3054383", reason=None, now=datetime.now(UTC), actor="test"
    )
    decide(services, declarationId="26US000000000002")
    decide(services, declarationId="26US000000000003")
    channels = [d["channel"] for d in services.risk.decisions(limit=10)[0]]
    client = logged_in(app, token_with(services, "auditor"))
    page = client.get(f"{BASE}{PLOTS}")
    raw = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Share of each control channel among the 3 newest risk decisions" in text(page)
    physical = channels.count("physical")
    assert physical >= 2  # the two watch-list hits
    assert f"without benefits: physical (red) {physical} of 3" in html.unescape(raw)
    assert "No decision with AEO benefits among these yet: nothing to compare with." in text(page)
    assert "USNYC" in text(page)  # the port row
    # The figures table holds the same counts.
    row = re.search(r"without benefits</th>((?:<td>\d+</td>)+)", raw)
    assert row is not None
    counts = [int(n) for n in re.findall(r"\d+", row.group(1))]
    assert counts == [channels.count(c) for c in CHANNELS] + [3]
    # No inline style: the CSP would block it.
    assert "style=" not in raw


def test_segments_freshness_and_propagation_in_a_federation(
    federation: tuple[Port, Trader, Federation],
) -> None:
    port, trader, fed = federation
    port.decided({"declaration": declaration()})
    port.decided({"declaration": declaration(), "presentation": trader.present(port.challenge())})
    app = create_app(port.services, testing=True)
    client = logged_in(app, token_with(port.services, "officer"))
    page = client.get(f"{BASE}{PLOTS}")
    assert page.status_code == 200
    raw = html.unescape(page.get_data(as_text=True))
    body = text(page)
    assert re.search(r"with AEO benefits: \w[\w-]* \(\w+\) 1 of 1", raw), raw
    assert re.search(r"without benefits: \w[\w-]* \(\w+\) 1 of 1", raw)
    # Freshness: the EU peer's resources, each with its age.
    peer = next(p for p in port.services.peers.health() if p["did"] == fed.eu.identity.did)
    assert peer["resources"]
    for resource in peer["resources"]:  # type: ignore[attr-defined]
        assert f"{peer['name']}: {resource['resource']}" in raw
    # Propagation: the EU status lists the US fetched, measured from their validFrom.
    assert "No partner status list fetched yet" not in body
    assert re.search(rf"{re.escape(str(peer['name']))}: median of \d+: \d", raw)
    assert "Status list propagation" in body


def test_scopes_that_may_not_see_plots(app: Flask, services: NodeServices) -> None:
    for scope in ("issuer", "device-admin"):
        client = logged_in(app, token_with(services, scope))
        assert client.get(f"{BASE}{PLOTS}").status_code == 403
    assert app.test_client().get(f"{BASE}{PLOTS}").status_code == 303


# -- pure parts ----------------------------------------------------------------------------


def _document(channel: str, *, benefits: list[str], port: str = "USNYC") -> str:
    return json.dumps(
        {
            "decision": {
                "channel": channel,
                "benefitsApplied": benefits,
                "policy": {"policyId": "eu-aeo-default", "version": "2026.1"},
                "assessedAt": "2026-12-03T10:00:00Z",
            },
            "declaration": {"portOfDischarge": port},
        }
    )


def test_channel_shares_count_by_segment_and_skip_unknown_channels() -> None:
    documents = [
        _document("release", benefits=["reduced-examination"]),
        _document("release", benefits=["reduced-examination"]),
        _document("physical", benefits=[]),
        _document("documentary", benefits=[], port="NLRTM"),
        _document("<script>", benefits=[]),
        json.dumps({"decision": "not an object"}),
    ]
    shares = channel_shares(documents)
    assert shares.decisions == 4
    rows = {r.label: r.counts for r in shares.by_benefits}
    assert [r.label for r in shares.by_benefits] == ["with AEO benefits", "without benefits"]
    assert rows["with AEO benefits"] == {
        "release": 2,
        "documentary": 0,
        "non-intrusive": 0,
        "physical": 0,
    }
    assert rows["without benefits"]["physical"] == 1
    assert rows["without benefits"]["documentary"] == 1
    assert [(r.label, r.total) for r in shares.by_port] == [("USNYC", 3), ("NLRTM", 1)]
    assert [(r.label, r.total) for r in shares.by_policy] == [("eu-aeo-default 2026.1", 4)]


def test_stacked_bars_fill_the_area_in_proportion() -> None:
    chart = stacked_chart(
        [("a", {"release": 3, "physical": 1}), ("b", {"documentary": 0})], CHANNELS
    )
    first, second = chart.rows
    assert first.total == 4 and second.total == 0 and second.segments == ()
    release, physical = first.segments
    assert (release.key, physical.key) == ("release", "physical")
    assert release.percent == 75 and physical.percent == 25
    area = chart.bar_end - chart.label_width
    assert release.width == pytest.approx(area * 0.75, abs=0.01)
    assert physical.x == pytest.approx(release.x + release.width, abs=0.02)
    assert release.label == "75%"
    assert second.y > first.y and chart.height > second.y


def test_bars_scale_to_the_longest_and_mark_missing_values() -> None:
    chart = bar_chart([("eu", 3600.0, "bar"), ("us", 900.0, "bar"), ("jp", None, "bar")])
    eu, us, jp = chart.bars
    assert eu.width == pytest.approx(4 * us.width, rel=0.01)
    assert jp.missing and jp.text == "never" and jp.width == 0
    assert (eu.text, us.text, chart.scale_text) == ("60.0 min", "15.0 min", "60.0 min")
    negative = bar_chart([("skewed", -5.0, "bar")]).bars[0]
    assert negative.value == 0 and negative.text == "0 s"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0 s"),
        (119, "119 s"),
        (120, "2.0 min"),
        (7199, "120.0 min"),
        (7200, "2.0 h"),
        (172_800, "2.0 days"),
    ],
)
def test_durations_read_in_sensible_units(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown
