"""``trustlane wallet``: init, list, show, export, delete and offline present, in process.

Every bad input is one ``trustlane: error:`` line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from test_audit import World
from test_wallet_store import issued_to

from credentials.data_integrity import DIDKeyResolver, get_proof_outcomes
from credentials.model import PRESENTATION_CONTEXT, VC_V2_CONTEXT
from node.cli import main
from node.wallet.store import Wallet

PASSPHRASE = "wallet passphrase for tests"  # noqa: S105 - a test passphrase
CHALLENGE = "c" * 43
DOMAIN = "https://us.customs.example"
UCR = "6GB123456789000-12345"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRUSTLANE_WALLET_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("TRUSTLANE_WALLET_DIR", str(tmp_path / "default-wallet"))
    monkeypatch.delenv("TRUSTLANE_PORT_TOKEN", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["wallet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 2) -> str:
    got, out, err = run(capsys, *argv)
    assert got == code, (out, err)
    assert err.startswith("trustlane: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def wallet_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    directory = tmp_path / "wallet"
    code, out, _ = run(capsys, "init", "--dir", str(directory), "--json")
    assert code == 0
    assert json.loads(out)["holder"].startswith("did:key:z6Mk")
    return directory


def _holder(directory: Path) -> str:
    return Wallet.open(directory).holder


def _with_credentials(directory: Path, count: int = 1) -> list[str]:
    wallet = Wallet.open(directory)
    return [wallet.add(issued_to(wallet.holder, n + 1)).id for n in range(count)]


def test_init_uses_the_default_dir_and_refuses_a_second_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "init")
    assert code == 0 and "holder: did:key:" in out
    default = tmp_path / "default-wallet"
    assert stat.S_IMODE(default.stat().st_mode) == 0o700
    assert "already exists" in refused(capsys, "init")


def test_init_without_a_passphrase_and_no_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TRUSTLANE_WALLET_PASSPHRASE")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    err = refused(capsys, "init", "--dir", str(tmp_path / "w"))
    assert "TRUSTLANE_WALLET_PASSPHRASE" in err


def test_list_show_export_delete(
    capsys: pytest.CaptureFixture[str], wallet_dir: Path, tmp_path: Path
) -> None:
    first, second = _with_credentials(wallet_dir, 2)
    code, out, _ = run(capsys, "list", "--dir", str(wallet_dir), "--json")
    listed = json.loads(out)
    assert code == 0 and listed["holder"] == _holder(wallet_dir)
    assert {c["id"] for c in listed["credentials"]} == {first, second}
    code, out, _ = run(capsys, "list", "--dir", str(wallet_dir))
    assert code == 0 and first in out and "AEOCertificate" in out
    code, out, _ = run(capsys, "show", first[:8], "--dir", str(wallet_dir), "--json")
    shown = json.loads(out)
    assert shown["id"] == first and shown["verifiableCredential"]["proof"]
    code, out, _ = run(capsys, "show", first, "--dir", str(wallet_dir))
    assert code == 0 and "Beispiel Logistik GmbH" in out
    code, out, _ = run(capsys, "export", first, "--dir", str(wallet_dir))
    assert code == 0 and json.loads(out) == shown["verifiableCredential"]
    target = tmp_path / "exported.json"
    code, _, _ = run(capsys, "export", first, "--dir", str(wallet_dir), "--out", str(target))
    assert code == 0 and json.loads(target.read_text()) == shown["verifiableCredential"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    code, out, _ = run(capsys, "delete", first, "--dir", str(wallet_dir), "--json")
    assert code == 0 and json.loads(out)["deleted"] == first
    assert "no credential" in refused(capsys, "show", first, "--dir", str(wallet_dir))
    assert "no credential" in refused(capsys, "delete", first, "--dir", str(wallet_dir))


def test_commands_without_a_wallet(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for argv in (("list",), ("show", "abcd"), ("export", "abcd"), ("delete", "abcd")):
        assert "trustlane wallet init" in refused(capsys, *argv, "--dir", str(tmp_path / "none"))


def _present_offline(
    capsys: pytest.CaptureFixture[str], wallet_dir: Path, out: Path, *extra: str
) -> dict[str, Any]:
    code, _, err = run(
        capsys,
        "present",
        "--dir",
        str(wallet_dir),
        "--consignment",
        UCR,
        "--port",
        "USLAX",
        "--challenge",
        CHALLENGE,
        "--domain",
        DOMAIN,
        "--out",
        str(out),
        *extra,
    )
    assert code == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    vp: dict[str, Any] = json.loads(out.read_text())
    return vp


def test_present_offline_signs_for_the_challenge_and_domain(
    capsys: pytest.CaptureFixture[str], wallet_dir: Path, tmp_path: Path
) -> None:
    (only,) = _with_credentials(wallet_dir)
    vp = _present_offline(capsys, wallet_dir, tmp_path / "vp.json", "--credential", only)
    assert vp["holder"] == _holder(wallet_dir)
    assert [c["id"] for c in vp["verifiableCredential"]] == [
        Wallet.open(wallet_dir).get(only).credential_id
    ]
    assert vp["proof"]["proofPurpose"] == "authentication"
    outcomes = get_proof_outcomes(
        vp,
        resolver=DIDKeyResolver(),
        expected_purpose="authentication",
        challenge=CHALLENGE,
        domain=DOMAIN,
    )
    assert [o.verified for o in outcomes] == [True]
    assert outcomes[0].method is not None
    assert outcomes[0].method.controller == _holder(wallet_dir)


def test_a_challenge_that_begins_with_a_dash_is_given_with_an_equals_sign(
    capsys: pytest.CaptureFixture[str], wallet_dir: Path, tmp_path: Path
) -> None:
    """Challenges are base64url: one in 64 begins with "-", which argparse reads as an option
    unless it is bound with "=" (what the docs and the demo do)."""
    (only,) = _with_credentials(wallet_dir)
    dashed = "-" + "c" * 42
    out = tmp_path / "vp.json"
    args = ("--dir", str(wallet_dir), "--consignment", UCR, "--port", "USLAX")
    rest = ("--domain", DOMAIN, "--out", str(out), "--credential", only)
    with pytest.raises(SystemExit) as stopped:  # argparse's own usage error
        main(["wallet", "present", *args, "--challenge", dashed, *rest])
    assert stopped.value.code == 2 and "--challenge" in capsys.readouterr().err
    code, _, err = run(capsys, "present", *args, f"--challenge={dashed}", *rest)
    assert code == 0, err
    vp = json.loads(out.read_text())
    outcomes = get_proof_outcomes(
        vp,
        resolver=DIDKeyResolver(),
        expected_purpose="authentication",
        challenge=dashed,
        domain=DOMAIN,
    )
    assert outcomes and all(o.verified for o in outcomes)


def test_present_offline_with_an_attestation_bundle(
    capsys: pytest.CaptureFixture[str], wallet_dir: Path, tmp_path: Path
) -> None:
    _with_credentials(wallet_dir)
    bundle = World().bundle()
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    vp = _present_offline(capsys, wallet_dir, tmp_path / "vp.json", "--attestation", str(path))
    # The bundle travels whole, beside the holder's credentials, under the holder's proof.
    assert vp["scanAttestationBundles"] == [bundle]
    assert vp["@context"] == [VC_V2_CONTEXT, PRESENTATION_CONTEXT]
    assert all(
        c["credentialSubject"]["id"] == _holder(wallet_dir) for c in vp["verifiableCredential"]
    )
    outcomes = get_proof_outcomes(
        vp,
        resolver=DIDKeyResolver(),
        expected_purpose="authentication",
        challenge=CHALLENGE,
        domain=DOMAIN,
    )
    assert [o.verified for o in outcomes] == [True]


def test_present_refuses_a_bare_attestation_and_too_many_items(
    capsys: pytest.CaptureFixture[str], wallet_dir: Path, tmp_path: Path
) -> None:
    _with_credentials(wallet_dir)
    bare = tmp_path / "attestation.json"
    bare.write_text(json.dumps(World().attestation))
    offline = (
        "present",
        "--dir",
        str(wallet_dir),
        "--consignment",
        UCR,
        "--port",
        "USLAX",
        "--challenge",
        CHALLENGE,
        "--domain",
        DOMAIN,
        "--out",
        str(tmp_path / "vp.json"),
    )
    err = refused(capsys, *offline, "--attestation", str(bare))
    assert "not a scan attestation bundle" in err
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(World().bundle()))
    err = refused(capsys, *offline, *(["--attestation", str(bundle)] * 8))
    assert "at most 8" in err
    assert not (tmp_path / "vp.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--consignment", "not a ucr", "--port", "USLAX", "--challenge", CHALLENGE), "UCR"),
        (("--consignment", UCR, "--port", "usla", "--challenge", CHALLENGE), "UN/LOCODE"),
        (("--consignment", UCR, "--port", "USLAX"), "--token"),
        (("--consignment", UCR, "--port", "USLAX", "--challenge", CHALLENGE), "--domain"),
        (
            ("--consignment", UCR, "--port", "USLAX", "--challenge", "x", "--domain", DOMAIN),
            "challenge",
        ),
        (
            (
                "--consignment",
                UCR,
                "--port",
                "USLAX",
                "--challenge",
                CHALLENGE,
                "--domain",
                "ftp://x",
            ),
            "https",
        ),
        (("--consignment", UCR, "--port", "USLAX", "--token", "t"), "--to"),
        (
            ("--consignment", UCR, "--port", "USLAX", "--token", "t", "--challenge", CHALLENGE),
            "not both",
        ),
        (
            (
                "--consignment",
                UCR,
                "--port",
                "USLAX",
                "--challenge",
                CHALLENGE,
                "--domain",
                DOMAIN,
                "--credential",
                "ffff",
            ),
            "no credential",
        ),
    ],
    ids=[
        "ucr",
        "port",
        "no-challenge",
        "no-domain",
        "bad-challenge",
        "bad-domain",
        "token-no-to",
        "both",
        "unknown-credential",
    ],
)
def test_present_refuses_bad_input(
    capsys: pytest.CaptureFixture[str], wallet_dir: Path, argv: tuple[str, ...], message: str
) -> None:
    _with_credentials(wallet_dir)
    assert message in refused(capsys, "present", "--dir", str(wallet_dir), *argv)


def test_present_with_the_wrong_passphrase(
    capsys: pytest.CaptureFixture[str],
    wallet_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _with_credentials(wallet_dir)
    monkeypatch.setenv("TRUSTLANE_WALLET_PASSPHRASE", "wrong")
    err = refused(
        capsys,
        "present",
        "--dir",
        str(wallet_dir),
        "--consignment",
        UCR,
        "--port",
        "USLAX",
        "--challenge",
        CHALLENGE,
        "--domain",
        DOMAIN,
        "--out",
        str(tmp_path / "vp.json"),
    )
    assert "wrong passphrase" in err
    assert not (tmp_path / "vp.json").exists()


def test_present_from_an_empty_wallet(capsys: pytest.CaptureFixture[str], wallet_dir: Path) -> None:
    err = refused(
        capsys,
        "present",
        "--dir",
        str(wallet_dir),
        "--consignment",
        UCR,
        "--port",
        "USLAX",
        "--challenge",
        CHALLENGE,
        "--domain",
        DOMAIN,
    )
    assert "no credential" in err


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("http://customs.example", 2, "plain http"),
        ("https://customs.example/path", 2, "origin only"),
        ("https://127.0.0.1:1", 1, "cannot reach"),
    ],
    ids=["plain-http", "path", "unreachable"],
)
def test_receive_refuses_bad_nodes(
    capsys: pytest.CaptureFixture[str], wallet_dir: Path, url: str, code: int, message: str
) -> None:
    err = refused(
        capsys,
        "receive",
        "--dir",
        str(wallet_dir),
        "--from",
        url,
        "--code",
        "c" * 43,
        "--tx-code",
        "123456",
        code=code,
    )
    assert message in err


def test_receive_refuses_an_offer_from_another_issuer(
    capsys: pytest.CaptureFixture[str], wallet_dir: Path
) -> None:
    offer = (
        "openid-credential-offer://?credential_offer=%7B%22credential_issuer%22%3A%22https%3A"
        "%2F%2Feu.example%22%2C%22grants%22%3A%7B%22urn%3Aietf%3Aparams%3Aoauth%3Agrant-type"
        "%3Apre-authorized_code%22%3A%7B%22pre-authorized_code%22%3A%22abc%22%7D%7D%7D"
    )
    err = refused(
        capsys,
        "receive",
        "--dir",
        str(wallet_dir),
        "--from",
        "https://us.example",
        "--code",
        offer,
    )
    assert "not https://us.example" in err
