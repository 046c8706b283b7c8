"""``trustlane node init --tls self-signed`` (in-process) and the TLS failure message."""

from __future__ import annotations

import functools
import ipaddress
import json
import ssl
import stat
from pathlib import Path

import nacl.pwhash
import pytest
from cryptography import x509

from federation_config.loader import load
from node.cli import main, node_cmd
from node.federation.fetcher import tls_failure
from node.wiring import init_node


@pytest.fixture(autouse=True)
def _fast_keystore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        node_cmd,
        "init_node",
        functools.partial(
            init_node,
            keystore_opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
            keystore_memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
        ),
    )
    monkeypatch.delenv("TRUSTLANE_DATABASE_URL", raising=False)
    monkeypatch.delenv("TRUSTLANE_DATA_DIR", raising=False)


def _init(capsys: pytest.CaptureFixture[str], data_dir: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["node", "init", "--data-dir", str(data_dir), "--name", "EU customs", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


@pytest.mark.parametrize(
    ("base_url", "host"),
    [
        ("https://127.0.0.1:18443", "127.0.0.1"),
        ("https://customs.pilot.example", "customs.pilot.example"),
    ],
)
def test_self_signed_writes_a_certificate_for_the_base_url_host(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, base_url: str, host: str
) -> None:
    data_dir = tmp_path / "eu"
    code, out, err = _init(
        capsys, data_dir, "--base-url", base_url, "--tls", "self-signed", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    bundle = Path(result["caBundle"])
    assert bundle == data_dir / "tls" / "ca-bundle.pem" and bundle.is_file()
    settings = load(data_dir, {})
    assert settings.tls_cert == data_dir / "tls" / "cert.pem"
    assert settings.tls_key == data_dir / "tls" / "key.pem"
    assert stat.S_IMODE(settings.tls_key.stat().st_mode) == 0o600
    # The CA key is not kept: only the chain, the server key and the bundle are written.
    assert sorted(p.name for p in (data_dir / "tls").iterdir()) == [
        "ca-bundle.pem",
        "cert.pem",
        "key.pem",
    ]
    leaf = _leaf(settings.tls_cert)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    try:
        expected: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        expected = x509.DNSName(host)
    assert list(names) == [expected]
    ca = x509.load_pem_x509_certificate(bundle.read_bytes())
    leaf.verify_directly_issued_by(ca)
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    assert constraints.permitted_subtrees is not None and len(constraints.permitted_subtrees) == 1
    # The bundle and the chain load into a TLS context as they are.
    context = ssl.create_default_context(cafile=str(bundle))
    context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))


def test_self_signed_prints_the_bundle_for_partners(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "eu"
    code, out, _ = _init(
        capsys, data_dir, "--base-url", "https://127.0.0.1:18443", "--tls", "self-signed"
    )
    assert code == 0
    assert f"CA bundle:   {data_dir / 'tls' / 'ca-bundle.pem'}" in out
    assert "--ca-bundle" in out


@pytest.mark.parametrize(
    "extra",
    [
        ("--tls-cert", "c.pem", "--tls-key", "k.pem"),
        ("--tls-cert", "c.pem"),
        ("--tls-key", "k.pem"),
    ],
)
def test_self_signed_with_a_given_certificate_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: tuple[str, ...]
) -> None:
    code, out, err = _init(
        capsys,
        tmp_path / "eu",
        "--base-url",
        "https://127.0.0.1:18443",
        "--tls",
        "self-signed",
        *extra,
    )
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "--tls self-signed makes its own certificate: leave out --tls-cert" in err
    assert not (tmp_path / "eu").exists()


def test_self_signed_needs_an_https_base_url(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _init(
        capsys, tmp_path / "eu", "--base-url", "http://127.0.0.1:18443", "--tls", "self-signed"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "https base URL" in err


def test_unknown_tls_mode_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _init(capsys, tmp_path / "eu", "--base-url", "https://127.0.0.1:1", "--tls", "acme")
    assert exit_info.value.code == 2


def test_self_signed_on_an_existing_node_is_refused_and_keeps_its_certificate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "eu"
    args = ("--base-url", "https://127.0.0.1:18443", "--tls", "self-signed")
    assert _init(capsys, data_dir, *args)[0] == 0
    before = (data_dir / "tls" / "cert.pem").read_bytes()
    code, _, err = _init(capsys, data_dir, *args)
    assert code == 2 and "already holds a node" in err
    assert (data_dir / "tls" / "cert.pem").read_bytes() == before


def test_tls_failure_names_the_option_that_fixes_it() -> None:
    error = Exception(
        "HTTPSConnectionPool(host='127.0.0.1', port=1): Max retries exceeded (Caused by "
        "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate "
        "verify failed: unable to get local issuer certificate (_ssl.c:1006)')))"
    )
    message = tls_failure("https://127.0.0.1:1/x", error, None)
    assert message.startswith(
        "https://127.0.0.1:1/x: TLS verification failed (unable to get local issuer "
        "certificate): pass the CA bundle"
    )
    assert "--ca-bundle on 'trustlane registry peer add'" in message
    assert "ca_bundle in federation.toml" in message
    with_bundle = tls_failure("https://127.0.0.1:1/x", error, "/etc/eu-ca.pem")
    assert "with CA bundle /etc/eu-ca.pem" in with_bundle and "--ca-bundle" in with_bundle


@pytest.mark.parametrize(
    "argv",
    [
        ["registry", "peer", "show"],
        ["registry", "peer", "remove"],
        ["registry", "peer", "remove", "us", "--force=yes"],
        ["registry", "peer", "show", "us", "--all"],
    ],
)
def test_peer_show_and_remove_parsing_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_peer_show_without_a_data_dir_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["registry", "peer", "show", "us"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--data-dir" in err


def test_the_peer_add_line_of_a_pilot_node_names_a_bundle_to_pass() -> None:
    from node.cli.node_show import peer_add_command

    summary = {
        "name": "EU customs",
        "did": "did:web:127.0.0.1%3A8443",
        "baseUrl": "https://127.0.0.1:8443",
        "keys": [{"publicKeyMultibase": "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"}],
        "tls": True,
        "caBundle": "/srv/eu/data/tls/ca-bundle.pem",
    }
    line = peer_add_command(summary)
    assert line.endswith("--ca-bundle eu-customs-ca-bundle.pem"), line
    assert "CA_THAT_ISSUED" not in line
    assert "CA_THAT_ISSUED" in peer_add_command({**summary, "caBundle": None})
