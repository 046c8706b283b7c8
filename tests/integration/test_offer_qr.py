"""The credential offer as a QR code: the console's offer page and ``aeo offer --qr``.

Read back as a wallet app's camera would (tests/integration/qr_read.py, zxing-cpp): the code
must carry exactly the offer link shown beside it, and the pre-authorised code in it must
work at the token endpoint's service with the PIN shown. Both backends.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from console_client import logged_in, submit, token_with
from flask import Flask
from qr_read import read_svg, read_terminal

from conftest import NodeFactory
from node.cli import main
from node.wiring import NodeServices
from nodehelpers import aeo_subject

PAGE = "/console/offers"
BLOCKS = frozenset("█▀▄ ")


def _issue(services: NodeServices) -> str:
    return str(services.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="t")["id"])


def test_the_offer_page_shows_the_offer_link_as_a_qr_code(
    app: Flask, node: tuple[NodeServices, str]
) -> None:
    services = node[0]
    issuer = logged_in(app, token_with(services, "issuer"))
    answer = submit(issuer, PAGE, PAGE, {"trader": _issue(services)})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200, body
    url = html.unescape(re.search(r'<code id="offer-url">([^<]*)</code>', body).group(1))  # type: ignore[union-attr]
    pin = re.search(r'<code class="pin" id="tx-code">([0-9]{6})</code>', body).group(1)  # type: ignore[union-attr]
    figure = re.search(r'<figure class="qr" id="offer-qr">(.*?)</figure>', body, re.S)
    assert figure is not None
    svg = re.search(r"<svg.*?</svg>", figure.group(1), re.S)
    assert svg is not None
    # Only markup the console's Content-Security-Policy allows: no script, no inline style.
    assert "<script" not in svg.group(0) and "style=" not in svg.group(0)
    assert read_svg(svg.group(0)) == [url]
    code = re.search(r"pre-authorized_code%22%3A%22([A-Za-z0-9_-]+)%22", url)
    assert code is not None
    token, _ = services.offers.exchange(code.group(1), pin, now=datetime.now(UTC))
    assert token


def test_aeo_offer_prints_the_qr_code_with_qr(
    make_node: NodeFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    services, _ = make_node()
    monkeypatch.setenv("TRUSTLANE_DATA_DIR", str(services.settings.data_dir))
    credential_id = _issue(services)
    assert main(["aeo", "offer", credential_id, "--qr"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    url = lines[1]
    assert url.startswith("openid-credential-offer://?credential_offer=")
    block = [line for line in lines if line and set(line) <= BLOCKS]
    assert len(block) > 10
    assert read_terminal("\n".join(block)) == [url]
    assert lines[-2].startswith("transaction code")
    # Without --qr, no drawing.
    assert main(["aeo", "offer", credential_id]) == 0
    plain = capsys.readouterr()[0]
    assert not any(set(line) <= BLOCKS for line in plain.splitlines() if line)


def test_qr_and_json_do_not_go_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["aeo", "offer", "EORI:DE1", "--qr", "--json", "--data-dir", str(tmp_path)])
    assert stopped.value.code == 2
    err = capsys.readouterr()[1]
    assert "not allowed with argument" in err
    assert "Traceback" not in err
