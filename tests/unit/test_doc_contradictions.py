"""Places where the documents contradicted the code (issue 15), kept from coming back.

- The OpenAPI text of ``POST /mras``, ``/mras/countersign`` and ``/mras/terminate`` told the
  administrator to send the document to the peer by hand; the node delivers it itself
  (``AgreementService._deliver``, a signed ``POST /federation/agreements``).
- docs/federation.md said health shows why a peer is untrusted; only ``untrustedReason`` in
  ``GET /registry/peers`` (and ``registry peer list|show``) does.
- ``key_fingerprints`` in federation.toml takes whole Multikey public keys, the same values
  as ``registry peer add --key``; the documents say so.

(The ``recognition`` check's detail and the granted benefits: tests/unit/test_pipeline.py.)
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from credentials.keys import PrivateKey
from federation_config.federation import ConfigError, PeerSettings
from node.cli import build_parser
from node.federation.agreements import AgreementService

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "node" / "openapi.json"
FEDERATION_MD = ROOT / "docs" / "federation.md"
EXAMPLES_README = ROOT / "federation_config" / "examples" / "README.md"

MRA_OPERATIONS = ["/mras", "/mras/countersign", "/mras/terminate"]


def _operation(path: str) -> dict[str, Any]:
    paths: dict[str, Any] = json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"]
    operation: dict[str, Any] = paths[path]["post"]
    return operation


@pytest.mark.parametrize("path", MRA_OPERATIONS)
def test_openapi_says_mra_documents_are_delivered_not_sent_by_hand(path: str) -> None:
    text = _operation(path)["description"]
    assert "by hand" not in text
    assert "Send the" not in text, text
    assert "deliver" in text, text
    assert "`POST /federation/agreements`" in text, text


@pytest.mark.parametrize("method", ["propose", "countersign", "terminate"])
def test_the_workflow_does_deliver_what_it_signs(method: str) -> None:
    # What the OpenAPI text now says is what the code does: each step hands its signed
    # document to the delivery function (node/wiring.py passes push.deliver_document).
    source = inspect.getsource(getattr(AgreementService, method))
    assert "self._deliver(" in source


def test_federation_md_does_not_say_health_shows_why_a_peer_is_untrusted() -> None:
    text = " ".join(FEDERATION_MD.read_text(encoding="utf-8").split())
    assert "health says why" not in text
    sentence = text[text.index("Otherwise the peer stays untrusted") :][:300]
    assert "`untrustedReason`" in sentence, sentence
    assert "`GET /registry/peers`" in sentence, sentence
    # /health's answer has no per-peer reason to show.
    health = json.dumps(json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"]["/health"])
    assert "untrustedReason" not in health


def _peer(key: str) -> PeerSettings:
    return PeerSettings(
        name="us",
        did="did:web:us.customs.example",
        base_url="https://us.customs.example",
        key_fingerprints=(key,),
    )


def test_key_fingerprints_take_whole_multikeys_as_the_cli_key_option_does() -> None:
    key = PrivateKey.from_seed(bytes([7]) * 32).public_key.multibase
    assert _peer(key).key_fingerprints == (key,)
    # A fingerprint in the usual sense (a hash of the key) is refused.
    with pytest.raises(ConfigError, match="Multikey"):
        _peer(hashlib.sha256(key.encode()).hexdigest())
    # The CLI takes the same value with --key, and says where it goes in federation.toml.
    args = build_parser().parse_args(
        [
            "registry",
            "peer",
            "add",
            "--name",
            "us",
            "--did",
            "did:web:us.customs.example",
            "--base-url",
            "https://us.customs.example",
            "--key",
            key,
        ]
    )
    assert args.key == [key]
    for doc in (FEDERATION_MD, EXAMPLES_README):
        text = " ".join(doc.read_text(encoding="utf-8").split())
        assert "whole Multikey" in text, doc
        assert "not hashes" in text, doc
