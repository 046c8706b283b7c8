"""``trustlane risk assess`` and ``trustlane registry identifiers import``, in-process (SQLite).

The commands run against a node's data directory as an operator runs them: the assessment
verifies the presentation (spending its challenge) and stores the decision where the API
lists it; the import reports every row with its number and reason. Bad input is one line on
stderr and a non-zero exit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from test_risk_api import CONTAINERS, EORI, MID, PORT, UCR, declaration

from conftest import NodeFactory
from credentials.keys import PrivateKey
from credentials.model import VC_V2_CONTEXT
from credentials.signing import sign_presentation
from node.app import create_app
from node.cli import main
from nodehelpers import aeo_subject

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _write(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def test_risk_assess_runs_against_the_data_dir(
    make_node: NodeFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    services, token = make_node("US customs", "http://127.0.0.1:18444")
    data_dir = services.settings.data_dir
    client = create_app(services, testing=True).test_client()
    admin = {"Authorization": f"Bearer {token}"}
    holder = PrivateKey.generate()
    issued = client.post(
        "/aeo-credentials",
        json={"credentialSubject": aeo_subject(holder.public_key.did)},
        headers=admin,
    )
    challenge = client.post(
        "/challenges", json={"consignment": UCR, "port": PORT}, headers=admin
    ).get_json()
    vp = sign_presentation(
        {
            "@context": [VC_V2_CONTEXT],
            "type": ["VerifiablePresentation"],
            "holder": holder.public_key.did,
            "verifiableCredential": [issued.get_json()["verifiableCredential"]],
        },
        holder,
        challenge=challenge["challenge"],
        domain=challenge["domain"],
        created=datetime.now(UTC),
    )
    decl = _write(tmp_path / "decl.json", declaration())
    presentation = _write(
        tmp_path / "vp.json",
        {"verifiablePresentation": vp, "options": {"challenge": challenge["challenge"]}},
    )
    garbage = _write(tmp_path / "bundle.json", {"type": "nonsense"})

    code, out, err = cli(
        capsys,
        "risk",
        "assess",
        decl,
        "--presentation",
        presentation,
        "--attestation",
        garbage,
        "--data-dir",
        data_dir,
        "--json",
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["assessedBy"] == "cli"
    assert record["verification"]["presentation"]["verified"] is True
    assert record["evidence"]["credentials"][0]["verified"] is True
    assert "counts for nothing" in record["verification"]["notes"][0]
    # Stored where the API lists it.
    listed = client.get("/risk/decisions", headers=admin).get_json()["decisions"]
    assert [d["id"] for d in listed] == [record["id"]]

    # Again: the challenge is spent; the human output names the channel and the reasons.
    code, out, err = cli(
        capsys, "risk", "assess", decl, "--presentation", presentation, "--data-dir", data_dir
    )
    assert code == 0, err
    assert out.startswith("decision ")
    assert "CREDENTIAL_NOT_VERIFIED" in out and "CHALLENGE_USED" in out


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(declaration(containers=["CSQU3054384"]), "check digit", id="check-digit"),
        pytest.param({"declarationId": "x"}, "declaration", id="schema"),
        pytest.param("{not json", "decl.json", id="not-json"),
    ],
)
def test_risk_assess_refuses_bad_declarations_in_one_line(
    make_node: NodeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: Any,
    words: str,
) -> None:
    services, _ = make_node()
    decl = tmp_path / "decl.json"
    decl.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    code, out, err = cli(capsys, "risk", "assess", decl, "--data-dir", services.settings.data_dir)
    assert code == 2 and out == ""
    assert err.startswith("trustlane: error: ") and err.count("\n") == 1, err
    assert words in err


def test_risk_assess_missing_files_are_one_line(
    make_node: NodeFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    services, _ = make_node()
    data_dir = services.settings.data_dir
    decl = _write(tmp_path / "decl.json", declaration())
    for argv in (
        ("risk", "assess", tmp_path / "missing.json", "--data-dir", data_dir),
        ("risk", "assess", decl, "--presentation", tmp_path / "nope.json", "--data-dir", data_dir),
        ("risk", "assess", decl, "--attestation", tmp_path / "nope.json", "--data-dir", data_dir),
        ("risk", "assess", decl, "--data-dir", tmp_path / "no-node"),
    ):
        code, out, err = cli(capsys, *argv)
        assert code == 2 and out == "", argv
        assert err.startswith("trustlane: error: "), err
        assert err.count("\n") == 1 or argv[-1] == tmp_path / "no-node", err


def test_watch_list_cli(
    make_node: NodeFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    services, _ = make_node()
    data_dir = services.settings.data_dir
    code, _, err = cli(
        capsys, "risk", "watch-list", "add", "--container", CONTAINERS[0], "--data-dir", data_dir
    )
    assert code == 0, err
    code, out, err = cli(
        capsys,
        "risk",
        "assess",
        _write(tmp_path / "d.json", declaration()),
        "--data-dir",
        data_dir,
        "--json",
    )
    assert code == 0, err
    assert "WATCH_LIST_HIT" in [r["code"] for r in json.loads(out)["decision"]["reasons"]]
    code, out, err = cli(capsys, "risk", "watch-list", "list", "--data-dir", data_dir)
    assert json.loads(out) == [{"kind": "container", "value": CONTAINERS[0], "reason": None}]
    for bad in (("--container", "CSQU3054384"), ("--party", "EORI"), ("--party", "EORI:de1")):
        code, out, err = cli(capsys, "risk", "watch-list", "add", *bad, "--data-dir", data_dir)
        assert code == 2 and err.count("\n") == 1, (bad, err)


def test_identifiers_import_reports_every_row(
    make_node: NodeFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    services, _ = make_node()
    data_dir = services.settings.data_dir
    good = tmp_path / "good.csv"
    good.write_text(
        "scheme,value,linked_scheme,linked_value,note\n"
        f"{EORI['scheme']},{EORI['value']},{MID['scheme']},{MID['value']},BTI 2026-114\n"
        "EORI,NL123456789,MID,NLVOOIMP77RTM,\n",
        encoding="utf-8",
    )
    code, out, err = cli(capsys, "registry", "identifiers", "import", good, "--data-dir", data_dir)
    assert code == 0, err
    assert out.strip() == "2 stored, 0 already linked, 0 refused"

    mixed = tmp_path / "mixed.csv"
    mixed.write_text(
        "scheme,value,linked_scheme,linked_value\n"
        f"MID,{MID['value']},EORI,{EORI['value']}\n"  # row 2: stored already, the other way
        "EORI,de1,MID,X1\n"  # row 3: not an EORI
        "EORI,FR12345,EORI,FR12345\n"  # row 4: itself
        "CTPAT,CT1,MID,X1\n"  # row 5: good
        "MID,X1,CTPAT,CT1\n"  # row 6: repeats row 5
        "NOPE,1,MID,X2\n"  # row 7: unknown scheme
        "EORI,FR1,MID\n",  # row 8: a field short
        encoding="utf-8",
    )
    code, out, err = cli(
        capsys, "registry", "identifiers", "import", mixed, "--data-dir", data_dir, "--json"
    )
    assert code == 1, err
    report = json.loads(out)
    statuses = {r["row"]: r["status"] for r in report["rows"]}
    assert statuses == {
        2: "exists",
        3: "refused",
        4: "refused",
        5: "stored",
        6: "refused",
        7: "refused",
        8: "refused",
    }
    reasons = {r["row"]: r.get("reason", "") for r in report["rows"]}
    assert "EORI" in reasons[3] and "itself" in reasons[4] and "repeats row 5" in reasons[6]
    assert "unknown identifier scheme" in reasons[7] and "3 fields" in reasons[8]
    assert (report["stored"], report["exists"], report["refused"]) == (1, 1, 5)
    code, out, _ = cli(capsys, "registry", "identifiers", "list", "--data-dir", data_dir)
    assert len(json.loads(out)) == 3

    # Unusable files: one line, exit 2, nothing stored.
    bad_header = tmp_path / "header.csv"
    bad_header.write_text("a,b,c,d\nEORI,FR9,MID,Y9\n", encoding="utf-8")
    not_utf8 = tmp_path / "latin1.csv"
    not_utf8.write_bytes(b"scheme,value,linked_scheme,linked_value\nEORI,FR\xe9,MID,Y9\n")
    for path in (tmp_path / "missing.csv", bad_header, not_utf8):
        code, out, err = cli(
            capsys, "registry", "identifiers", "import", path, "--data-dir", data_dir
        )
        assert code == 2 and out == "", path
        assert err.startswith("trustlane: error: ") and err.count("\n") == 1, err
    code, out, _ = cli(capsys, "registry", "identifiers", "list", "--data-dir", data_dir)
    assert len(json.loads(out)) == 3
