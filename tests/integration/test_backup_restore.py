"""Back up a node (SQLite) and restore it into a fresh folder, as docs/operations.md says.

The node is created and used through the CLI in process (``node.cli.main``): init, AEO
credentials before and after a key rotation, a token. Its data directory is then copied
either whole with the node stopped, or with the SQLite online backup API (what
``sqlite3 node.db ".backup FILE"`` does) for the database and a copy of the other files. The
original is deleted, and the restore must show the same audit chain (``node audit-verify``),
the same transparency log (size, root and signed checkpoint), the same keys, and verify the
credentials the node issued.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from federation_config.loader import load
from node.cli import main
from node.wiring import build_services
from nodehelpers import aeo_subject, close_services

BASE_URL = "http://127.0.0.1:18997"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().out


def _state(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out = _cli(capsys, "node", "audit-verify", "--data-dir", str(data_dir), "--json")
    assert code == 0, out
    audit = json.loads(out)
    code, out = _cli(capsys, "node", "show", "--data-dir", str(data_dir), "--json")
    assert code == 0
    # node show lists keys by creation time, to the second: sort them for comparison.
    keys = sorted(json.loads(out)["keys"], key=lambda k: k["kid"])
    services = build_services(load(data_dir, os.environ), os.environ)
    try:
        head = services.log.head()
        checkpoint = services.log.checkpoint(datetime.now(UTC))
        current = services.identity.current()
        return {
            "audit": audit,
            "keys": keys,
            "log": (head.size, head.root),
            "checkpoint": (checkpoint.size, checkpoint.root, checkpoint.note),
            "current": (current.kid, current.key.public_key.multibase),
        }
    finally:
        close_services(services)


def _make_node(data_dir: Path, work: Path, capsys: pytest.CaptureFixture[str]) -> list[Path]:
    code, out = _cli(
        capsys,
        "node",
        "init",
        "--data-dir",
        str(data_dir),
        "--name",
        "EU customs (backup test)",
        "--base-url",
        BASE_URL,
        "--json",
    )
    assert code == 0, out
    credentials = []
    for n, holder in enumerate(
        (
            "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        )
    ):
        subject = work / f"subject-{n}.json"
        subject.write_text(json.dumps(aeo_subject(holder)))
        code, out = _cli(capsys, "aeo", "issue", str(subject), "--data-dir", str(data_dir))
        assert code == 0, out
        credential = work / f"credential-{n}.json"
        credential.write_text(out)
        credentials.append(credential)
        if n == 0:  # the second credential is signed by a rotated key
            code, out = _cli(capsys, "node", "rotate-key", "--data-dir", str(data_dir))
            assert code == 0, out
    code, _ = _cli(
        capsys,
        "node",
        "token",
        "create",
        "--data-dir",
        str(data_dir),
        "--name",
        "auditor",
        "--scope",
        "auditor",
    )
    assert code == 0
    return credentials


def _copy_stopped(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True)


def _copy_online(source: Path, target: Path) -> None:
    shutil.copytree(
        source, target, symlinks=True, ignore=shutil.ignore_patterns("node.db", "node.db-*")
    )
    src = sqlite3.connect(source / "node.db")
    dst = sqlite3.connect(target / "node.db")
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


@pytest.mark.parametrize("method", [_copy_stopped, _copy_online], ids=["stopped", "online"])
def test_restore_into_a_fresh_folder_keeps_the_audit_chain_and_log(
    method: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("TRUSTLANE_KEYSTORE_PASSPHRASE", raising=False)
    monkeypatch.delenv("TRUSTLANE_DATABASE_URL", raising=False)
    original = tmp_path / "original"
    credentials = _make_node(original, tmp_path, capsys)
    before = _state(original, capsys)
    assert before["audit"]["ok"] and before["audit"]["events"] > 0
    assert before["log"][0] > 0
    assert [k["kid"] for k in before["keys"]] == ["key-1", "key-2"]

    backup = tmp_path / "backup"
    method(original, backup)
    shutil.rmtree(original)  # the machine is gone

    restored = tmp_path / "restored"
    shutil.copytree(backup, restored, symlinks=True)
    # node.toml names the SQLite file by its absolute path: point the restore at its own.
    config = (restored / "node.toml").read_text()
    assert f"sqlite:///{original}/node.db" in config
    monkeypatch.setenv("TRUSTLANE_DATABASE_URL", f"sqlite:///{restored}/node.db")

    after = _state(restored, capsys)
    assert after == before
    for credential in credentials:
        code, out = _cli(
            capsys, "credential", "verify", str(credential), "--data-dir", str(restored)
        )
        assert code == 0, out
    assert not original.exists(), "the restore must not write to the old path"
