"""The trustlane CLI: key, proof and credential commands, exit codes and error lines."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli import main
from support import VECTORS

JCS = VECTORS / "eddsa-jcs-2022"
MB = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
VM = f"did:key:{MB}#{MB}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_proof_sign_reproduces_w3c_vector(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "proof",
        "sign",
        str(JCS / "unsigned.json"),
        "--key",
        str(JCS / "keyPair.json"),
        "--verification-method",
        VM,
        "--created",
        "2023-02-24T23:36:38Z",
    )
    assert code == 0
    signed = json.loads(out)
    expected = json.loads((JCS / "signedJCS.json").read_bytes())
    assert signed["proof"]["proofValue"] == expected["proof"]["proofValue"]
    assert signed == expected


@pytest.mark.parametrize("path", ["signedJCS.json", "previous-version-c3b58d07/signedJCS.json"])
def test_proof_verify_accepts_vectors(capsys: pytest.CaptureFixture[str], path: str) -> None:
    code, out, _ = run(capsys, "proof", "verify", str(JCS / path), "--json")
    assert code == 0
    assert json.loads(out)["verified"] is True


def test_proof_verify_rejects_tampered(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = json.loads((JCS / "signedJCS.json").read_bytes())
    doc["credentialSubject"]["alumniOf"] = "Another School"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "proof", "verify", str(path))
    assert code == 1
    assert "NOT verified" in out and "PROOF_VERIFICATION_ERROR" in out


def test_key_generate_sign_chain_and_verify(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    k1, k2 = tmp_path / "k1.json", tmp_path / "k2.json"
    assert run(capsys, "key", "generate", "--out", str(k1))[0] == 0
    assert stat.S_IMODE(os.stat(k1).st_mode) == 0o600
    code, out, _ = run(capsys, "key", "generate")
    assert code == 0
    k2.write_text(out)
    pair = json.loads(out)
    assert set(pair) == {"publicKeyMultibase", "privateKeyMultibase", "id"}
    assert pair["id"] == f"did:key:{pair['publicKeyMultibase']}#{pair['publicKeyMultibase']}"
    # Refuse to overwrite a key file.
    code, _, err = run(capsys, "key", "generate", "--out", str(k1))
    assert code == 2 and "already exists" in err

    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps({"@context": ["https://www.w3.org/ns/credentials/v2"], "x": 1}))
    code, out, _ = run(capsys, "proof", "sign", str(doc), "--key", str(k1), "--proof-id", "urn:p1")
    assert code == 0
    first = tmp_path / "first.json"
    first.write_text(out)
    code, out, _ = run(
        capsys, "proof", "sign", str(first), "--key", str(k2), "--previous-proof", "urn:p1"
    )
    assert code == 0
    chained = json.loads(out)
    assert isinstance(chained["proof"], list) and chained["proof"][1]["previousProof"] == "urn:p1"
    second = tmp_path / "second.json"
    second.write_text(out)
    code, out, _ = run(capsys, "proof", "verify", str(second), "--json")
    assert code == 0
    assert [p["status"] for p in json.loads(out)["proofs"]] == ["pass", "pass"]


def test_credential_verify_at(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key = tmp_path / "k.json"
    run(capsys, "key", "generate", "--out", str(key))
    did = json.loads(key.read_text())["id"].split("#")[0]
    vc = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": did,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2027-01-01T00:00:00Z",
        "credentialSubject": {"id": did},
    }
    (tmp_path / "vc.json").write_text(json.dumps(vc))
    code, out, _ = run(
        capsys,
        "proof",
        "sign",
        str(tmp_path / "vc.json"),
        "--key",
        str(key),
        "--created",
        "2026-01-02T00:00:00Z",
    )
    (tmp_path / "signed.json").write_text(out)
    code, out, _ = run(
        capsys,
        "credential",
        "verify",
        str(tmp_path / "signed.json"),
        "--at",
        "2026-06-01T00:00:00Z",
        "--json",
    )
    assert code == 0, out
    assert json.loads(out)["verified"] is True
    code, out, _ = run(
        capsys,
        "credential",
        "verify",
        str(tmp_path / "signed.json"),
        "--at",
        "2027-06-01T00:00:00Z",
    )
    assert code == 1
    assert "validity: fail [EXPIRED]" in out


def test_credential_verify_w3c_vector_fails_issuer_binding(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The W3C vector's issuer is an https URL while its key is a did:key: the proof verifies
    # but the issuer does not control the key.
    code, out, _ = run(capsys, "credential", "verify", str(JCS / "signedJCS.json"), "--json")
    assert code == 1
    checks = {c["name"]: c["status"] for c in json.loads(out)["checks"]}
    assert checks["proof"] == "pass" and checks["issuer"] == "fail"


BAD_INPUT = [
    ("not-json", b"{nope"),
    ("duplicate-member", b'{"a": 1, "a": 2}'),
    ("top-level-array", b"[1, 2]"),
    ("invalid-utf8", b'{"a": "\xff"}'),
    ("empty", b""),
]


@pytest.mark.parametrize("data", [b[1] for b in BAD_INPUT], ids=[b[0] for b in BAD_INPUT])
def test_proof_verify_bad_input_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, err = run(capsys, "proof", "verify", "-")
    assert code == 2
    assert out == ""
    assert err.startswith("trustlane: error: -: ") and err.count("\n") == 1


BAD_CREDENTIAL_CODES = {
    "not-json": "MALFORMED_JSON",
    "duplicate-member": "MALFORMED_JSON",
    "top-level-array": "MALFORMED_JSON",
    "invalid-utf8": "MALFORMED_JSON",
    "empty": "MALFORMED_JSON",
}


@pytest.mark.parametrize(("name", "data"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_credential_verify_unacceptable_document_is_a_failure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str, data: bytes
) -> None:
    # Issue 13: a document that was read but is not an acceptable credential fails
    # verification (exit 1) and --json says why; exit 2 is for usage and unreadable files.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, err = run(capsys, "credential", "verify", "-", "--json")
    assert code == 1, err
    body = json.loads(out)
    assert body["verified"] is False
    assert body["checks"] == [
        {
            "name": "data_model",
            "status": "fail",
            "code": BAD_CREDENTIAL_CODES[name],
            "detail": body["checks"][0]["detail"],
        }
    ]
    assert body["checks"][0]["detail"].startswith("not a strict JSON object: ")


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        pytest.param(b'{"a": NaN}', "NaN is not JSON", id="nan"),
        pytest.param(b"[" * 300 + b"]" * 300, "nesting deeper than", id="too-deep"),
    ],
)
def test_credential_verify_text_output_names_the_reason(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, data: bytes, detail: str
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = run(capsys, "credential", "verify", "-")
    assert code == 1
    assert out.startswith("data_model: fail [MALFORMED_JSON]: not a strict JSON object: ")
    assert detail in out and out.rstrip().endswith("NOT verified")


def test_credential_verify_unreadable_file_and_bad_option_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "credential", "verify", str(tmp_path / "absent.json"), "--json")
    assert (code, out) == (2, "") and "cannot read" in err
    code, out, err = run(
        capsys, "credential", "verify", str(JCS / "signedJCS.json"), "--at", "someday"
    )
    assert (code, out) == (2, "") and err.count("\n") == 1


def test_missing_file_and_bad_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "proof", "verify", str(tmp_path / "absent.json"))
    assert code == 2 and "cannot read" in err
    bad_key = tmp_path / "bad.json"
    bad_key.write_text(
        '{"privateKeyMultibase": "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"}'
    )
    code, _, err = run(capsys, "proof", "sign", str(JCS / "unsigned.json"), "--key", str(bad_key))
    assert code == 2 and "INVALID_KEY" in err
    code, _, err = run(
        capsys,
        "proof",
        "sign",
        str(JCS / "unsigned.json"),
        "--key",
        str(JCS / "keyPair.json"),
        "--created",
        "yesterday",
    )
    assert code == 2 and "dateTimeStamp" in err


def test_console_script_exit_codes(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "trustlane"
    ok = subprocess.run(
        [exe, "proof", "verify", JCS / "signedJCS.json"], capture_output=True, check=False
    )
    assert ok.returncode == 0
    garbage = subprocess.run(
        [exe, "credential", "verify", "-"], input=b"\x00garbage", capture_output=True, check=False
    )
    assert garbage.returncode == 1
    assert b"Traceback" not in garbage.stderr and garbage.stdout.endswith(b"NOT verified\n")
    usage = subprocess.run([exe, "proof", "verify"], capture_output=True, check=False)
    assert usage.returncode == 2


def test_demo_refuses_a_data_dir_that_is_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The whole demo (three real nodes) runs in tests/integration/test_demo.py.
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    code, _, err = run(capsys, "demo", "--data-dir", str(target))
    assert code == 2
    assert err.strip().startswith("trustlane: error:") and err.count("\n") == 1, err
    assert target.read_text() == "not a folder"
