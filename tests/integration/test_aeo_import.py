"""``trustlane aeo import``: a national AEO register in CSV or JSON Lines, on both backends.

Good rows are issued (and verify), bad rows are reported with row, field and reason while
the good ones go through, a re-run issues nothing, a changed row is reported rather than
issued twice, and an unusable file is refused with one line and exit code 2.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from conftest import NodeFactory
from credentials.strict_json import loads_object
from node.cli import main
from node.services.aeo_import import (
    CSV_COLUMNS,
    ImportSummary,
    Register,
    RegisterError,
    import_register,
    parse_register,
)
from node.services.audit import verify_chain
from node.storage import aeo_import_repo, status_alloc_repo, status_repo
from node.storage.schema import (
    aeo_import_keys,
    audit_events,
    credentials,
    metadata,
    status_entries,
)
from node.wiring import NodeServices

HOLDER = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
HEADER = list(CSV_COLUMNS[:10])


def trader(i: int, **changes: str) -> dict[str, str]:
    """A valid CSV row (as column -> cell) for trader ``i``."""
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


def csv_bytes(rows: Sequence[dict[str, str] | list[str]], header: Sequence[str] = ()) -> bytes:
    columns = list(header) or HEADER
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(row if isinstance(row, list) else [row.get(c, "") for c in columns])
    return out.getvalue().encode()


def run_import(services: NodeServices, data: bytes, fmt: str = "csv", **kw: Any) -> ImportSummary:
    return import_register(
        parse_register(data, fmt),
        issuance=services.issuance,
        db=services.db,
        clock=services.clock,
        actor="test",
        **kw,
    )


def count(services: NodeServices, table: Any) -> int:
    with services.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def issued_documents(services: NodeServices) -> list[dict[str, Any]]:
    with services.db.read() as conn:
        return [loads_object(r.document) for r in conn.execute(select(credentials.c.document))]


def errors_of(summary: ImportSummary) -> list[tuple[int, str]]:
    return [(e.row, e.field) for e in summary.errors]


# -- importing ---------------------------------------------------------------------------


def test_good_rows_are_issued_and_bad_rows_reported(make_node: NodeFactory) -> None:
    services, _ = make_node()
    rows: list[dict[str, str] | list[str]] = [
        trader(1),
        trader(2, legalName=""),  # line 3: required member missing
        trader(3, identifierValue="de-1003"),  # line 4: not an EORI number
        trader(4, roles="exporter;pilot", level="AEOX"),  # line 5: two problems
        trader(5),
        ["did:key:z6Mk", "too few fields"],  # line 7
        trader(6, reassessmentDate="2029-02-30T00:00:00Z"),  # line 8: no such day
        trader(7),
    ]
    summary = run_import(services, csv_bytes(rows))
    assert (summary.rows, summary.issued, summary.skipped, summary.failed) == (8, 3, 0, 5)
    assert errors_of(summary) == [
        (3, "legalName"),
        (4, "identifierValue"),
        (5, "level"),
        (5, "roles"),
        (7, "(row)"),
        (8, "reassessmentDate"),
    ]
    reasons = {(e.row, e.field): e.reason for e in summary.errors}
    assert reasons[(3, "legalName")] == "is required"
    assert "EORI" in reasons[(4, "identifierValue")]
    assert "pilot" in reasons[(5, "roles")]
    assert "has 2 fields; the header has 10" in reasons[(7, "(row)")]
    docs = issued_documents(services)
    assert sorted(d["credentialSubject"]["legalName"] for d in docs) == [
        "Beispiel Logistik 1 GmbH",
        "Beispiel Logistik 5 GmbH",
        "Beispiel Logistik 7 GmbH",
    ]
    now = datetime.now(UTC)
    for doc in docs:
        assert doc["type"] == ["VerifiableCredential", "AEOCertificate"]
        assert doc["credentialSubject"]["roles"] == ["exporter", "importer"]
        assert doc["credentialSubject"]["identifiers"][0]["scheme"] == "EORI"
        assert [s["statusPurpose"] for s in doc["credentialStatus"]] == [
            "revocation",
            "suspension",
        ]
        assert doc["proof"]["verificationMethod"] == services.identity.current().did_web_vm
        assert services.verification.verify_credential(doc, now=now).verified
    # Every credential has its two status entries, one audit event, one import key.
    assert count(services, status_entries) == 6
    assert count(services, aeo_import_keys) == 3
    chain = verify_chain(services.db)
    assert chain.ok, chain.problem
    with services.db.read() as conn:
        targets = [
            r.target
            for r in conn.execute(
                select(audit_events.c.target).where(audit_events.c.action == "credential.issued")
            )
        ]
    assert sorted(targets) == sorted(d["id"] for d in docs)


def test_revoking_an_imported_credential_works(make_node: NodeFactory) -> None:
    services, _ = make_node()
    run_import(services, csv_bytes([trader(1)]))
    (doc,) = issued_documents(services)
    now = datetime.now(UTC)
    services.status.set_status(doc["id"], "revocation", True, now=now, actor="test")
    result = services.verification.verify_credential(doc, now=now + timedelta(seconds=1))
    assert not result.verified


def test_a_rerun_issues_nothing_new(make_node: NodeFactory) -> None:
    services, _ = make_node()
    data = csv_bytes([trader(i) for i in range(1, 8)] + [trader(9, country="Germany")])
    first = run_import(services, data, batch_size=3)
    assert (first.issued, first.skipped, first.failed) == (7, 0, 1)
    ids = {d["id"] for d in issued_documents(services)}
    again = run_import(services, data, batch_size=3)
    assert (again.issued, again.skipped, again.failed) == (0, 7, 1)
    assert errors_of(again) == [(9, "country")]
    assert {d["id"] for d in issued_documents(services)} == ids
    assert count(services, status_entries) == 14
    assert verify_chain(services.db).ok


def test_a_changed_row_is_reported_until_its_credential_is_revoked(
    make_node: NodeFactory,
) -> None:
    services, _ = make_node()
    run_import(services, csv_bytes([trader(1), trader(2)]))
    (old,) = [
        d for d in issued_documents(services) if "1 GmbH" in d["credentialSubject"]["legalName"]
    ]
    changed = csv_bytes([trader(1, legalName="Neuer Name AG", level="AEOC"), trader(2)])
    summary = run_import(services, changed)
    assert (summary.issued, summary.skipped, summary.failed) == (0, 1, 1)
    assert errors_of(summary) == [(2, "legalName"), (2, "level")]
    assert all(f"already issued as {old['id']}, differs" in e.reason for e in summary.errors)
    assert count(services, credentials) == 2
    # Revoked: the new data is issued, and the key follows the new credential.
    services.status.set_status(old["id"], "revocation", True, now=datetime.now(UTC), actor="t")
    summary = run_import(services, changed)
    assert (summary.issued, summary.skipped, summary.failed) == (1, 1, 0)
    assert count(services, credentials) == 3
    assert run_import(services, changed).skipped == 2
    # An unchanged row whose credential was revoked is not issued again.
    assert run_import(services, csv_bytes([trader(2)])).skipped == 1


def test_given_validity_is_used_and_checked(make_node: NodeFactory) -> None:
    services, _ = make_node()
    header = [*HEADER, "validFrom", "validUntil"]
    rows: list[dict[str, str] | list[str]] = [
        trader(1, validFrom="2026-01-01T00:00:00Z", validUntil="2028-01-01T00:00:00Z"),
        trader(2, validUntil="2020-01-01T00:00:00Z"),  # before the import time
        trader(3, validFrom="2026-13-01T00:00:00Z"),
        trader(4, validFrom="2027-01-01T00:00:00Z", validUntil="2026-01-01T00:00:00Z"),
    ]
    summary = run_import(services, csv_bytes(rows, header))
    assert summary.issued == 1
    assert errors_of(summary) == [(3, "validUntil"), (4, "validFrom"), (5, "validUntil")]
    (doc,) = issued_documents(services)
    assert (doc["validFrom"], doc["validUntil"]) == ("2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z")
    # A re-run with another validUntil for the same trader differs in that field only.
    rows = [trader(1, validFrom="2026-01-01T00:00:00Z", validUntil="2029-01-01T00:00:00Z")]
    assert errors_of(run_import(services, csv_bytes(rows, header))) == [(2, "validUntil")]


def test_the_same_trader_twice_in_one_file(make_node: NodeFactory) -> None:
    services, _ = make_node()
    rows: list[dict[str, str] | list[str]] = [
        trader(1),
        trader(1),
        trader(1, legalName="Other GmbH"),
    ]
    summary = run_import(services, csv_bytes(rows), batch_size=2)
    assert (summary.issued, summary.skipped, summary.failed) == (1, 1, 1)
    assert errors_of(summary) == [(4, "identifierValue")]
    assert "also on row 2" in summary.errors[0].reason


def test_jsonl_register(make_node: NodeFactory) -> None:
    services, _ = make_node()

    def subject(i: int, **changes: Any) -> dict[str, Any]:
        s: dict[str, Any] = {
            "id": HOLDER,
            "legalName": f"Trader {i}",
            "identifiers": [
                {"scheme": "EORI", "value": f"DE{2000 + i}"},
                {"scheme": "LEI", "value": "5493001KJTIIGC8Y1R12"},
            ],
            "country": "DE",
            "authorisationNumber": f"DEAEOS{2000 + i}",
            "programme": "EU-AEO",
            "level": "AEOS",
            "roles": ["carrier"],
            "reassessmentDate": "2029-06-30T00:00:00Z",
            "address": {"streetAddress": "Hafenstr. 1", "city": "Hamburg", "country": "DE"},
        }
        s.update(changes)
        return s

    lines = [
        json.dumps(
            {
                "credentialSubject": subject(1, legalName='Müller "&" Söhne 株式会社 \\ 😀'),
                "validUntil": "2029-01-01T00:00:00Z",
            }
        ),
        "",
        '{"credentialSubject": {"id": 1}, "credentialSubject": {}}',  # duplicate member
        json.dumps({"credentialSubject": subject(2), "issuer": "did:web:elsewhere.example"}),
        json.dumps({"credentialSubject": subject(3, legalName=" ", roles=[])}),
        json.dumps({"credentialSubject": "DE2004"}),
        json.dumps({"credentialSubject": subject(5), "validFrom": 2026}),
        "[1, 2]",
        json.dumps({"credentialSubject": subject(6)}),
    ]
    summary = run_import(services, "\n".join(lines).encode(), "jsonl")
    assert (summary.rows, summary.issued, summary.failed) == (8, 2, 6)
    assert errors_of(summary) == [
        (3, "(row)"),
        (4, "/issuer"),
        (5, "/credentialSubject/legalName"),
        (5, "/credentialSubject/roles"),
        (6, "/credentialSubject"),
        (7, "/validFrom"),
        (8, "(row)"),
    ]
    docs = {d["credentialSubject"]["legalName"]: d for d in issued_documents(services)}
    first = docs['Müller "&" Söhne 株式会社 \\ 😀']
    assert first["validUntil"] == "2029-01-01T00:00:00Z"
    # Stored exactly as single issuance stores documents.
    record = services.issuance.get(first["id"])
    assert record is not None
    assert record.document == json.dumps(first, separators=(",", ":"), ensure_ascii=False)
    assert docs["Trader 6"]["credentialSubject"]["address"]["city"] == "Hamburg"
    assert run_import(services, "\n".join(lines).encode(), "jsonl").skipped == 2


def test_bulk_allocation_opens_lists_like_single_allocation(make_node: NodeFactory) -> None:
    services, _ = make_node()
    ids = [f"urn:uuid:bulk-{i}" for i in range(21)]
    now = datetime.now(UTC)
    with services.db.write() as conn:
        # Lists of 16 entries are full at 8: the batch spills over into two more lists.
        entries, first = status_alloc_repo.allocate_indexes(
            conn, purpose="revocation", credential_ids=ids, size=16, now=now
        )
        single = status_alloc_repo.allocate_index(
            conn, purpose="revocation", credential_id="urn:uuid:one", size=16, now=now
        )
    assert [e[0] for e in entries] == ["revocation-1"] * 8 + ["revocation-2"] * 8 + [
        "revocation-3"
    ] * 5
    assert first == ["revocation-1", "revocation-2", "revocation-3"]
    assert len(set(entries)) == len(entries)
    assert all(0 <= idx < 16 for _, idx in entries)
    assert single[0] == "revocation-3" and (single[0], single[1]) not in entries
    with services.db.read() as conn:
        for credential_id, (list_id, idx) in zip(ids, entries, strict=True):
            (entry,) = status_repo.entries_for_credential(conn, credential_id)
            assert (entry.list_id, entry.idx, entry.value) == (list_id, idx, False)


def test_import_publishes_the_first_version_of_a_new_list(make_node: NodeFactory) -> None:
    services, _ = make_node()
    run_import(services, csv_bytes([trader(1), trader(2)]))
    (doc, _) = issued_documents(services)
    for status in doc["credentialStatus"]:
        list_id = status["statusListCredential"].rsplit("/", 1)[1]
        version = services.status.current_version(list_id, datetime.now(UTC))
        assert version.version == 1


# -- unusable files ----------------------------------------------------------------------

UNUSABLE = [
    pytest.param(b"", "the file is empty", id="empty"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data", id="binary"),
    pytest.param(
        csv_bytes([trader(1)]).replace(b"Beispiel", "Müller".encode("latin-1")),
        "line 2: not UTF-8",
        id="latin-1",
    ),
    pytest.param(b"\xff\xfei\x00d\x00", "binary data", id="utf-16"),
    pytest.param(
        csv_bytes([trader(1, legalName="x" * 70_000)]), "line 2 is longer than", id="huge-line"
    ),
    pytest.param(b"id,legalName,foo\n", "unknown column 'foo'", id="unknown-column"),
    pytest.param(b"id,legalName\n", "lacks the column(s) identifierScheme", id="missing-column"),
    pytest.param(
        csv_bytes([trader(1)], [*HEADER, "legalName"]), "appears twice", id="repeated-column"
    ),
    pytest.param(
        csv_bytes([trader(1)]) + b'did:key:z,"unterminated\n', "CSV:", id="broken-quoting"
    ),
]


@pytest.mark.parametrize(("data", "message"), UNUSABLE)
def test_unusable_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(RegisterError) as info:
        parse_register(data, "csv")
    assert message in info.value.message
    assert "\n" not in info.value.message


# -- the command line --------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_import_report_and_rerun(
    make_node: NodeFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    services, _ = make_node()
    data_dir = services.settings.data_dir
    register = tmp_path / "register.csv"
    register.write_bytes(csv_bytes([trader(1), trader(2, country="de"), trader(3)]))
    report = tmp_path / "errors.csv"
    code, out, err = cli(
        capsys, "aeo", "import", register, "--data-dir", data_dir, "--errors", report, "--json"
    )
    assert code == 1, err
    summary = json.loads(out)
    assert {k: summary[k] for k in ("rows", "issued", "skipped", "failed")} == {
        "rows": 3,
        "issued": 2,
        "skipped": 0,
        "failed": 1,
    }
    assert summary["seconds"] > 0 and summary["rate"] > 0
    lines = list(csv.reader(report.read_text(encoding="utf-8").splitlines()))
    assert lines[0] == ["row", "field", "reason"]
    assert [line[:2] for line in lines[1:]] == [["3", "country"]]
    assert "ISO 3166-1" in lines[1][2]
    # The re-run: nothing new; problems go to stderr without --errors.
    code, out, err = cli(capsys, "aeo", "import", register, "--data-dir", data_dir)
    assert code == 1
    assert out.startswith("issued 0, skipped 2, failed 1 of 3 rows in ")
    assert "credentials/s" in out
    assert err.startswith("trustlane: row 3: country: must be")
    # A file of good rows only: exit 0, with a progress bar when asked.
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes([trader(1), trader(4)]))
    code, out, err = cli(capsys, "aeo", "import", good, "--data-dir", data_dir, "--progress")
    assert code == 0, err
    assert out.startswith("issued 1, skipped 1, failed 0 of 2 rows")
    assert "importing [" in err and "2/2 rows" in err
    assert count(services, credentials) == 3


def test_cli_jsonl_from_stdin(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    services, _ = make_node()
    row = {
        "credentialSubject": {
            "id": HOLDER,
            "legalName": "Example Imports Inc.",
            "identifiers": [{"scheme": "CTPAT", "value": "12345678"}],
            "country": "US",
            "authorisationNumber": "12345678",
            "programme": "CTPAT",
            "level": "Tier2",
            "roles": ["importer"],
            "reassessmentDate": "2028-03-31T00:00:00-05:00",
        }
    }
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(row).encode() + b"\n"))
    monkeypatch.setattr("sys.stdin", stdin)
    data_dir = services.settings.data_dir
    code, out, err = cli(
        capsys, "aeo", "import", "-", "--format", "jsonl", "--data-dir", data_dir, "--json"
    )
    assert code == 0, err
    assert json.loads(out)["issued"] == 1


BAD_FILES = [
    pytest.param("register.csv", b"\x00\x01\x02binary", id="binary"),
    pytest.param("register.csv", b"id;legalName;roles\n", id="bad-header"),
    pytest.param("register.csv", b"id," + b"x" * 100_000 + b"\n", id="huge-line"),
    pytest.param("register.jsonl", b'{"credentialSubject": "\xe9t\xe9"}\n', id="encoding"),
    pytest.param("register.txt", b"id\n", id="unknown-extension"),
    pytest.param("missing.csv", None, id="missing-file"),
]


@pytest.mark.parametrize(("name", "content"), BAD_FILES)
def test_cli_unusable_input_is_one_line_and_exit_2(
    make_node: NodeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes | None,
) -> None:
    services, _ = make_node()
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, out, err = cli(capsys, "aeo", "import", path, "--data-dir", services.settings.data_dir)
    assert code == 2
    assert out == ""
    assert err.startswith("trustlane: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert count(services, credentials) == 0


def test_cli_refuses_a_report_it_cannot_write(
    make_node: NodeFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    services, _ = make_node()
    register = tmp_path / "register.csv"
    register.write_bytes(csv_bytes([trader(1)]))
    code, _, err = cli(
        capsys,
        "aeo",
        "import",
        register,
        "--data-dir",
        services.settings.data_dir,
        "--errors",
        tmp_path / "no" / "such" / "dir.csv",
    )
    assert code == 2 and err.count("\n") == 1 and "cannot write" in err
    assert count(services, credentials) == 0


def test_register_field_names() -> None:
    csv_register = Register("csv", ())
    assert csv_register.field_of("/identifiers/0/value") == "identifierValue"
    assert csv_register.field_of("/identifiers/0/scheme") == "identifierScheme"
    assert csv_register.field_of("/identifiers") == "identifierValue"
    assert csv_register.field_of("/roles/1") == "roles"
    assert csv_register.field_of("") == "(row)"
    assert csv_register.field_of("/address/city") == "(row)"
    jsonl = Register("jsonl", ())
    assert jsonl.field_of("/roles/1") == "/credentialSubject/roles/1"


def test_migration_0006_matches_the_schema_module(make_node: NodeFactory) -> None:
    services, _ = make_node()
    with services.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        # 0006 or a later revision (0007: presentation challenges) at the head.
        assert (context.get_current_revision() or "") >= "0006"
        diffs = compare_metadata(context, metadata)
    assert [d for d in diffs if "aeo_import_keys" in repr(d)] == []


def test_a_concurrent_import_of_the_same_key_is_retried_not_duplicated(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, _ = make_node()
    run_import(services, csv_bytes([trader(1)]))
    # As if another import committed trader 1 after this one looked: the first look misses
    # it, the insert of its key fails, and the batch runs again.
    real = aeo_import_repo.find_keys
    calls: list[int] = []

    def find_keys(conn: Any, keys: Any) -> Any:
        calls.append(1)
        return {} if len(calls) == 1 else real(conn, keys)

    monkeypatch.setattr(aeo_import_repo, "find_keys", find_keys)
    summary = run_import(services, csv_bytes([trader(1), trader(2)]))
    assert (summary.issued, summary.skipped, summary.failed) == (1, 1, 0)
    assert len(calls) == 2
    assert count(services, credentials) == 2
    assert count(services, status_entries) == 4
    assert verify_chain(services.db).ok


def test_excel_style_csv_is_read() -> None:
    # A byte order mark, CRLF line ends, a quoted cell with a comma, blank lines.
    header, row = (
        csv_bytes([trader(1, legalName="Müller, Söhne & Co. KG")]).decode().split("\n")[:2]
    )
    data = "\ufeff" + "\r\n".join([header, row, "", "", row]) + "\r\n"
    register = parse_register(data.encode(), "csv")
    assert [r.row for r in register.rows] == [2, 5]
    subject = register.rows[0].subject
    assert subject is not None
    assert subject["legalName"] == "Müller, Söhne & Co. KG"
    assert subject["identifiers"] == [{"scheme": "EORI", "value": "DE1001"}]
    assert subject["roles"] == ["exporter", "importer"]
