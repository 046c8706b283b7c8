"""``trustlane scan parse``: human summary, --json, sniffing, exit codes and error lines."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path

import pytest

from node.cli import main
from scan_attestation.adapters import MAX_SCAN_BYTES
from scan_attestation.adapters.n42 import parse_n42
from support import VECTORS

N42_DIR = VECTORS / "n42"
RECORD = {
    "scannerId": "NII-NLRTM-07",
    "scanTime": "2024-05-02T09:14:03Z",
    "containerIds": ["CSQU3054383"],
    "imageDigest": "sha256:" + hashlib.sha256(b"image").hexdigest(),
    "algorithm": {"name": "ThreatFinder", "version": "4.1.0", "verdict": "suspect"},
    "regionsOfInterest": [
        {"x": 1, "y": 2, "width": 3, "height": 4, "label": "dense organic", "score": 0.5}
    ],
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_human_summary_of_alarmed_portal(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "scan", "parse", str(N42_DIR / "AnnexD_alarmed.n42"))
    assert (code, err) == (0, "")
    assert "format: n42 (rpm)" in out
    assert "instrument: RPMs R Us RPM 3000, id A1234b (Portal Monitor)" in out
    assert "scan time: 2003-11-23T06:45:00.2Z" in out
    assert "result: ALARM" in out
    assert "  Aa1: Gamma/PVT, gross counts 35 154 1400, spectrum counts -" in out
    assert "gross count totals: Gamma 252 329 9800; Neutron 7" in out
    assert "  Gamma (Red) by Aa1 Aa2 Ba1 Ba2: SPRT alarm" in out
    assert "  Unknown [SNM] identified, confidence Low" in out
    assert "  5 Overspeed (Warning) in M-4, M-5" in out
    assert out.endswith("parser notes: none\n")


def test_json_output_is_the_scan_json(capsys: pytest.CaptureFixture[str]) -> None:
    path = N42_DIR / "AnnexE.n42"
    code, out, _ = run(capsys, "scan", "parse", str(path), "--json")
    assert code == 0
    assert json.loads(out) == parse_n42(path.read_bytes()).to_json()
    assert json.loads(out)["containers"] == ["YMLU3030933"]


def test_xray_record_is_sniffed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "scan.json"
    path.write_text(json.dumps(RECORD, indent=2))
    code, out, _ = run(capsys, "scan", "parse", str(path))
    assert code == 0
    assert "format: xray (xray)" in out
    assert "containers: CSQU3054383" in out
    assert "algorithm: ThreatFinder 4.1.0: suspect" in out
    assert "result: ALARM" in out
    assert "  dense organic: score 0.5 at x=1 y=2, 3x4" in out
    code, out, _ = run(capsys, "scan", "parse", str(path), "--format", "xray", "--json")
    assert (code, json.loads(out)["result"]) == (0, "alarm")


def test_parser_notes_are_shown(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = (N42_DIR / "AnnexE.n42").read_bytes().replace(b"YMLU3030933", b"YMLU3030934")
    path = tmp_path / "bad-container.n42"
    path.write_bytes(data)
    code, out, _ = run(capsys, "scan", "parse", str(path))
    assert code == 0
    assert "containers: none" in out
    assert "parser notes: 1\n  - RadItemInformation 'Vehicle': container number" in out


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = (N42_DIR / "AnnexD.n42").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = run(capsys, "scan", "parse", "-")
    assert code == 0
    assert "result: CLEAR" in out


def test_untrusted_text_cannot_reach_the_terminal_raw(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # U+009B is a C1 control (CSI in some terminals); XML 1.0 allows it in text.
    data = (N42_DIR / "AnnexD.n42").read_bytes().replace(b"RPMs R Us", "RPMs\u009b R Us".encode())
    path = tmp_path / "c1.n42"
    path.write_bytes(data)
    code, out, _ = run(capsys, "scan", "parse", str(path))
    assert code == 0
    assert "instrument: RPMs? R Us RPM 3000" in out
    assert "\u009b" not in out


@pytest.mark.parametrize(
    ("content", "extra", "expected"),
    [
        pytest.param(b"<RadInstrumentData", (), "not well-formed XML", id="broken-xml"),
        pytest.param(
            b'<N42InstrumentData xmlns="http://physics.nist.gov/Divisions/Div846/Gp4/ANSIN4242'
            b'/2005/ANSIN4242"/>',
            (),
            "legacy ANSI N42.42-2006 document",
            id="legacy",
        ),
        pytest.param(
            b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
            (),
            "DOCTYPE",
            id="xxe",
        ),
        pytest.param(b"GIF89a", (), "cannot tell the scan format", id="unknown-format"),
        pytest.param(b"", (), "empty input", id="empty"),
        pytest.param(
            json.dumps(RECORD).encode(),
            ("--format", "n42"),
            "not well-formed XML",
            id="wrong-format",
        ),
        pytest.param(
            json.dumps({**RECORD, "containerIds": ["CSQU3054384"]}).encode(),
            (),
            "containerIds[0]: container number 'CSQU3054384': check digit is 4",
            id="xray-check-digit",
        ),
    ],
)
def test_unreadable_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: bytes,
    extra: tuple[str, ...],
    expected: str,
) -> None:
    path = tmp_path / "scan.bin"
    path.write_bytes(content)
    code, out, err = run(capsys, "scan", "parse", str(path), *extra)
    assert (code, out) == (2, "")
    assert err.startswith(f"trustlane: error: {path}: ")
    assert expected in err
    assert err.count("\n") == 1


def test_oversize_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "big.n42"
    with path.open("wb") as handle:
        handle.truncate(MAX_SCAN_BYTES + 10)  # a sparse file of zero bytes
    code, _, err = run(capsys, "scan", "parse", str(path), "--format", "n42")
    assert code == 2
    assert "over the 16777216-byte limit" in err


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "scan", "parse", str(tmp_path / "nope.n42"))
    assert code == 2
    assert (
        err
        == f"trustlane: error: {tmp_path / 'nope.n42'}: cannot read: No such file or directory: "
        "check the path\n"
    )


def test_bad_format_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["scan", "parse", "x", "--format", "dicos"])
    assert raised.value.code == 2
    assert "invalid choice: 'dicos'" in capsys.readouterr().err
