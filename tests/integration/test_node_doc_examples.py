"""The request examples of docs/node.md run against two nodes, so they cannot drift.

Every ``Request (`POST /path`, scope ..., at EU|US)`` block of the page is sent, in the
page's order, to that node (EU and US of :mod:`mrapair`, on the in-memory network), with
the documented ids replaced by the run's own and the documented credential by one issued
from ``examples/aeo-subject.json``. The answer must have the documented status, the same
shape (members, list lengths, value types) and the same values once ids, times, signatures
and status list indexes are masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mrapair import AEO_SUBJECT, Node, eu_and_us

from peersim import PeerNetworkSimulator

DOC = Path(__file__).resolve().parents[2] / "docs" / "node.md"
EXAMPLE = re.compile(
    r"Request \(`POST (?P<path>\S+)`, scope [^\n]*?, at (?P<node>EU|US)\):\n\n"
    r"```json\n(?P<request>.*?)\n```\n\n"
    r"Answer `(?P<status>\d{3})`:\n\n"
    r"```json\n(?P<answer>.*?)\n```",
    re.S,
)
_MASKS = [
    (re.compile(r"urn:uuid:[0-9a-f-]{36}"), "urn:uuid:ID"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "TIME"),
    (re.compile(r"\bz[1-9A-HJ-NP-Za-km-z]{40,}"), "SIGNATURE"),
    (re.compile(r"(bit |#)\d+"), r"\1N"),
    (re.compile(r"^\d+$"), "N"),
]


@pytest.fixture
def net(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[PeerNetworkSimulator, Node, Node]]:
    yield from eu_and_us(tmp_path, monkeypatch)


def _masked(value: Any) -> Any:
    """The value with what differs from run to run masked (and its shape kept)."""
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, str):
        for pattern, mask in _MASKS:
            value = pattern.sub(mask, value)
    return value


def _replace(value: Any, mapping: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, mapping) for v in value]
    if isinstance(value, str):
        for documented, real in mapping.items():
            value = value.replace(documented, real)
    return value


def _ids(documented: Any, real: Any, mapping: dict[str, str]) -> None:
    """Learn which documented id stands for which id of this run (same position)."""
    if isinstance(documented, dict) and isinstance(real, dict):
        for key in documented.keys() & real.keys():
            _ids(documented[key], real[key], mapping)
    elif isinstance(documented, list) and isinstance(real, list):
        for d, r in zip(documented, real, strict=False):
            _ids(d, r, mapping)
    elif isinstance(documented, str) and isinstance(real, str):
        for d, r in zip(
            re.findall(r"urn:uuid:[0-9a-f-]{36}", documented),
            re.findall(r"urn:uuid:[0-9a-f-]{36}", real),
            strict=False,
        ):
            mapping.setdefault(d, r)


def test_documented_requests_answer_as_documented(
    net: tuple[PeerNetworkSimulator, Node, Node],
) -> None:
    _, eu, us = net
    nodes = {"EU": eu, "US": us}
    examples = list(EXAMPLE.finditer(DOC.read_text(encoding="utf-8")))
    assert [m["path"] for m in examples] == [
        "/mras",
        "/mras/countersign",
        "/credentials/verify",
        "/credentials/status",
    ]
    # The credential of the examples is issued from the example subject at EU.
    subject = json.loads(AEO_SUBJECT.read_text(encoding="utf-8"))
    issued = eu.client.post(
        "/aeo-credentials",
        json={"credentialSubject": subject},
        headers={"Authorization": f"Bearer {eu.token}"},
    )
    assert issued.status_code == 201
    credential = issued.get_json()["verifiableCredential"]
    mapping: dict[str, str] = {}
    for example in examples:
        node = nodes[example["node"]]
        request = json.loads(example["request"])
        documented = json.loads(example["answer"])
        if "verifiableCredential" in request:
            assert request["verifiableCredential"]["credentialSubject"] == subject
            assert _masked(request["verifiableCredential"]) == _masked(credential)
            _ids(request["verifiableCredential"], credential, mapping)
            request["verifiableCredential"] = credential
        request = _replace(request, mapping)
        headers = {"Authorization": f"Bearer {node.token}"}
        response = node.client.post(example["path"], json=request, headers=headers)
        answer = response.get_json()
        if any(c.get("code") == "STATUS_UNAVAILABLE" for c in answer.get("checks", [])):
            # A list this node does not hold yet is fetched in the background: ask again.
            assert node.services.refetch.drain(10)
            response = node.client.post(example["path"], json=request, headers=headers)
            answer = response.get_json()
        assert response.status_code == int(example["status"]), answer
        assert _masked(answer) == _masked(documented), example["path"]
        _ids(documented, answer, mapping)
    eu.services.push.flush()
