"""The console's register import: upload, report, idempotent re-run, hostile files.

On both backends, through the Flask test client as a browser sends a multipart form. The
import itself is ``trustlane aeo import``'s (tests/integration/test_aeo_import.py covers it
in depth); here: what the page reports, and that no upload gets a 500 or a traceback.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from console_client import BASE, ORIGIN, csrf_of, logged_in, token_with
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from conftest import NodeFactory
from node.app import create_app
from node.services.aeo_import import CSV_COLUMNS
from node.storage.schema import credentials
from node.wiring import NodeServices

PAGE = "/console/import"
HOLDER = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
HEADER = list(CSV_COLUMNS[:10])


@pytest.fixture
def services(node: tuple[NodeServices, str]) -> NodeServices:
    return node[0]


@pytest.fixture
def issuer(app: Flask, services: NodeServices) -> FlaskClient:
    return logged_in(app, token_with(services, "issuer"))


def trader(i: int, **changes: str) -> dict[str, str]:
    row = {
        "id": HOLDER,
        "legalName": f"Beispiel Logistik {i} GmbH",
        "identifierScheme": "EORI",
        "identifierValue": f"DE{1000 + i}",
        "country": "DE",
        "authorisationNumber": f"DEAEOF{1000 + i}",
        "programme": "EU-AEO",
        "level": "AEOF",
        "roles": "exporter; importer",
        "reassessmentDate": "2029-06-30T00:00:00Z",
    }
    row.update(changes)
    return row


def csv_bytes(*rows: dict[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row.get(c, "") for c in HEADER])
    return out.getvalue().encode()


def upload(
    client: FlaskClient, data: bytes, name: str = "register.csv", **fields: str
) -> TestResponse:
    page = client.get(f"{BASE}{PAGE}")
    assert page.status_code == 200
    form: dict[str, Any] = {"csrf_token": csrf_of(page), **fields}
    form["register"] = (io.BytesIO(data), name)
    return client.post(
        f"{BASE}{PAGE}", data=form, headers=ORIGIN, content_type="multipart/form-data"
    )


def stored(services: NodeServices) -> int:
    with services.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(credentials)).scalar_one())


def summary_of(body: str) -> list[str]:
    table = body.split('id="summary"')[1].split("</table>")[0]
    return [cell.split(">")[-1] for cell in table.split("</td>")[:-1]]


def problems_of(body: str) -> list[list[str]]:
    if 'id="problems"' not in body:
        return []
    table = body.split('id="problems"')[1].split("</tbody>")[0].split("<tbody>")[1]
    rows = [r for r in table.split("</tr>") if "<td>" in r]
    return [
        [
            c.split("<td>")[-1].replace("<code>", "").replace("</code>", "")
            for c in r.split("</td>")[:-1]
        ]
        for r in rows
    ]


def test_an_import_reports_issued_and_failed_rows_and_a_rerun_skips(
    issuer: FlaskClient, services: NodeServices
) -> None:
    data = csv_bytes(trader(1), trader(2, legalName=""), trader(3, identifierValue="de-x"))
    first = upload(issuer, data)
    body = first.get_data(as_text=True)
    assert first.status_code == 422, body  # some rows failed, as the CLI's exit code says
    assert summary_of(body) == ["3", "1", "0", "2"]
    assert [p[:2] for p in problems_of(body)] == [["3", "legalName"], ["4", "identifierValue"]]
    assert stored(services) == 1
    # The same file again: the good row is skipped, nothing is issued twice.
    second = upload(issuer, data)
    assert summary_of(second.get_data(as_text=True)) == ["3", "0", "1", "2"]
    assert stored(services) == 1
    # Corrected: only the two new rows are issued.
    fixed = upload(issuer, csv_bytes(trader(1), trader(2), trader(3)))
    assert fixed.status_code == 200
    assert summary_of(fixed.get_data(as_text=True)) == ["3", "2", "1", "0"]
    assert "Every row is issued." in fixed.get_data(as_text=True)
    assert stored(services) == 3


def test_a_json_lines_register(issuer: FlaskClient, services: NodeServices) -> None:
    subject = {
        "id": HOLDER,
        "type": "AuthorisedEconomicOperator",
        "legalName": "Beispiel Logistik GmbH",
        "identifiers": [{"scheme": "EORI", "value": "DE123456789012345"}],
        "country": "DE",
        "authorisationNumber": "DEAEOF0000012345",
        "programme": "EU-AEO",
        "level": "AEOF",
        "roles": ["exporter"],
        "reassessmentDate": "2028-06-30T00:00:00Z",
    }
    lines = [json.dumps({"credentialSubject": subject}), '{"credentialSubject": 5}', "[1, 2]"]
    answer = upload(issuer, "\n".join(lines).encode(), name="register.txt", format="jsonl")
    body = answer.get_data(as_text=True)
    assert summary_of(body) == ["3", "1", "0", "2"]
    assert [p[:2] for p in problems_of(body)] == [["2", "/credentialSubject"], ["3", "(row)"]]
    assert stored(services) == 1


@pytest.mark.parametrize(
    ("data", "name", "fields", "message"),
    [
        (b"\xff\xfeid,legalName\n", "register.csv", {}, "not UTF-8"),
        (b"id,legal\x00Name\n", "register.csv", {}, "binary data"),
        (bytes(range(256)) * 4, "register.csv", {}, "binary data"),
        (b"", "register.csv", {}, "empty"),
        (b"name,evil\nx,y\n", "register.csv", {}, "unknown column"),
        (b'id,legalName\n"unterminated', "register.csv", {}, "the header lacks"),
        (b"a" * 70_000 + b"\n", "register.csv", {}, "longer than"),
        (b"id\n", "register.xlsx", {}, "choose the format"),
        (b"id\n", "register.csv", {"format": "xml"}, "The format must be"),
    ],
)
def test_an_unusable_file_is_refused_whole_with_a_reason(
    issuer: FlaskClient,
    services: NodeServices,
    data: bytes,
    name: str,
    fields: dict[str, str],
    message: str,
) -> None:
    answer = upload(issuer, data, name=name, **fields)
    body = answer.get_data(as_text=True)
    assert answer.status_code == 400, body
    assert message in body
    assert "Traceback" not in body
    assert stored(services) == 0


def test_hostile_cells_are_reported_and_shown_as_text(
    issuer: FlaskClient, services: NodeServices
) -> None:
    data = csv_bytes(
        trader(1, identifierValue="=cmd|' /C calc'!A0"),
        trader(2, level="<img src=x onerror=alert(1)>"),
        trader(3, legalName="<script>alert(1)</script>"),
        trader(4, legalName='=HYPERLINK("http://evil.example")', roles="+exporter"),
    )
    answer = upload(issuer, data, name="<b>evil</b>.csv")
    body = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "<img src=x" not in body and "<script>alert(1)" not in body and "<b>evil" not in body
    assert "&lt;b&gt;evil&lt;/b&gt;.csv" in body
    fields = {p[0]: p[1] for p in problems_of(body)}
    assert fields == {"2": "identifierValue", "3": "level", "5": "roles"}
    # A legal name is free text: it is issued, and every page shows it escaped.
    assert summary_of(body) == ["4", "1", "0", "3"]


def test_a_file_over_the_request_limit_is_refused_with_the_limit(
    make_node: NodeFactory,
) -> None:
    services, _ = make_node(max_request_bytes=64 * 1024)
    app = create_app(services, testing=True)
    client = logged_in(app, token_with(services, "issuer"))
    answer = upload(client, csv_bytes(*[trader(i) for i in range(600)]))
    body = answer.get_data(as_text=True)
    assert answer.status_code == 413
    assert "larger than this node accepts" in body and "64 KiB" in body
    assert stored(services) == 0


def test_no_file_is_a_400(issuer: FlaskClient) -> None:
    page = issuer.get(f"{BASE}{PAGE}")
    answer = issuer.post(
        f"{BASE}{PAGE}",
        data={"csrf_token": csrf_of(page)},
        headers=ORIGIN,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 400
    assert "Choose a register file" in answer.get_data(as_text=True)


def test_importing_needs_the_issuer_scope_and_the_csrf_token(
    app: Flask, services: NodeServices, issuer: FlaskClient
) -> None:
    data = csv_bytes(trader(1))
    for scope in ("officer", "auditor", "device-admin"):
        other = logged_in(app, token_with(services, scope))
        assert other.get(f"{BASE}{PAGE}").status_code == 403
        page = other.get(f"{BASE}/console/")
        refused = other.post(
            f"{BASE}{PAGE}",
            data={"csrf_token": csrf_of(page), "register": (io.BytesIO(data), "r.csv")},
            headers=ORIGIN,
            content_type="multipart/form-data",
        )
        assert refused.status_code == 403
    no_csrf = issuer.post(
        f"{BASE}{PAGE}",
        data={"register": (io.BytesIO(data), "r.csv")},
        headers=ORIGIN,
        content_type="multipart/form-data",
    )
    assert no_csrf.status_code == 400
    assert stored(services) == 0
