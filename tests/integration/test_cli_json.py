"""Node commands with ``--json``: one JSON document on stdout, nothing on stderr (docs/cli.md).

Also the node-side errors of the conventions: a wrong key store passphrase and a stolen
data directory without it name the variable to check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import NodeFactory
from node.cli import main


def as_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), (argv, out, err)
    return json.loads(out)  # exactly one document: trailing text would not parse


def test_node_commands_print_one_json_document(
    make_node: NodeFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    services, _ = make_node()
    monkeypatch.delenv("TRUSTLANE_KEYSTORE_PASSPHRASE", raising=False)
    monkeypatch.setenv("TRUSTLANE_DATA_DIR", str(services.settings.data_dir))

    assert as_json(capsys, "node", "show")["did"] == services.identity.did
    assert [k["state"] for k in as_json(capsys, "node", "keys", "list")["keys"]] == ["current"]
    assert as_json(capsys, "node", "audit-verify")["ok"] is True
    assert as_json(capsys, "node", "migrate")["changed"] is False

    created = as_json(capsys, "node", "token", "create", "--name", "port", "--scope", "officer")
    assert created["scopes"] == ["officer"]
    listed = as_json(capsys, "node", "token", "list")
    assert created["id"] in {t["id"] for t in listed}
    assert as_json(capsys, "node", "token", "revoke", created["id"]) == {
        "id": created["id"],
        "revoked": True,
    }

    device = as_json(
        capsys,
        "device", "register", "--name", "rtm-rpm-01", "--modality", "rpm",
        "--site", "NLRTM", "--out", str(tmp_path / "device"),
    )  # fmt: skip
    assert device["did"].startswith("did:key:z6Mk") and device["dir"] == str(tmp_path / "device")
    assert json.loads((tmp_path / "device" / "device.json").read_text())["did"] == device["did"]
    suspended = as_json(capsys, "device", "suspend", "rtm-rpm-01", "--reason", "test")
    assert suspended["state"] == "suspended"
    assert [d["state"] for d in as_json(capsys, "device", "list")] == ["suspended"]
    assert as_json(capsys, "device", "resume", "rtm-rpm-01")["state"] == "active"

    entry = as_json(
        capsys, "risk", "watch-list", "add", "--container", "CSQU3054383", "--reason", "tip"
    )
    assert entry == {"kind": "container", "value": "CSQU3054383", "reason": "tip"}
    party = as_json(capsys, "risk", "watch-list", "add", "--party", "EORI:DE123456789012345")
    assert party == {
        "kind": "party",
        "scheme": "EORI",
        "value": "DE123456789012345",
        "reason": None,
    }
    listed_entries = as_json(capsys, "risk", "watch-list", "list")
    assert sorted(listed_entries, key=str) == sorted([entry, party], key=str)

    assert as_json(capsys, "registry", "peer", "list") == []
    assert as_json(capsys, "registry", "sync") == []
    assert as_json(capsys, "registry", "identifiers", "list") == []
    assert as_json(capsys, "registry", "mra", "list") == {"agreements": []}


def test_a_wrong_key_store_passphrase_names_the_variable(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    services, _ = make_node()
    data_dir = str(services.settings.data_dir)
    monkeypatch.setenv("TRUSTLANE_KEYSTORE_PASSPHRASE", "not the passphrase")
    code = main(["node", "show", "--data-dir", data_dir, "--json"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith("trustlane: error: WRONG_PASSPHRASE: ") and err.count("\n") == 1
    assert "check $TRUSTLANE_KEYSTORE_PASSPHRASE" in err
    # The key store stays shut: a stolen data directory without the passphrase gives nothing.
    assert services.identity.did not in err


def test_domain_refusals_say_what_to_do_next(
    make_node: NodeFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    services, _ = make_node()
    monkeypatch.setenv("TRUSTLANE_DATA_DIR", str(services.settings.data_dir))
    for argv, expected in (
        (("aeo", "offer", "EORI:FR000000000000001"), "pass the register key as SCHEME:VALUE"),
        (("risk", "watch-list", "add", "--party", "EORI:not-an-eori"), "give SCHEME:VALUE"),
    ):
        assert main(list(argv)) == 2, argv
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1, (argv, err)
        assert expected in err and "Traceback" not in err
