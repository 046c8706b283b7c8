"""Declarations at the edge: JSON Schema first, then each value's own rule; refusals located."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from credentials.errors import MalformedInputError
from risk import Declaration, GoodsItem, MalformedDeclarationError, Party, PartyIdentifier

GOOD: dict[str, Any] = {
    "declarationId": "26NL000000000001",
    "ucr": "6NL123456789000-1",
    "declarant": {
        "name": "Voorbeeld Douane BV",
        "identifiers": [{"scheme": "EORI", "value": "NL555555555"}],
        "country": "NL",
    },
    "exporter": {
        "name": "Beispiel Logistik GmbH",
        "identifiers": [
            {"scheme": "EORI", "value": "DE123456789012345"},
            {"scheme": "MID", "value": "DEBEILOG1234HAM"},
        ],
        "country": "DE",
    },
    "importer": {
        "name": "Voorbeeld Import BV",
        "identifiers": [{"scheme": "EORI", "value": "NL123456789"}],
        "country": "NL",
    },
    "consignorCountry": "DE",
    "consigneeCountry": "NL",
    "portOfLoading": "DEHAM",
    "portOfDischarge": "NLRTM",
    "containers": ["CSQU3054383", "YMLU3030933"],
    "goodsItems": [
        {
            "hsCode": "8504401100",
            "description": "switch-mode power supplies",
            "declaredValue": {"amount": 12000.5, "currency": "EUR"},
            "grossMassKg": 812.4,
        }
    ],
    "transportDocument": "MAEU123456789",
}


def changed(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    change(doc)
    return doc


def test_parses_and_round_trips() -> None:
    decl = Declaration.from_json(json.dumps(GOOD).encode())
    assert decl.containers == ("CSQU3054383", "YMLU3030933")
    assert decl.exporter.identifiers[1] == PartyIdentifier("MID", "DEBEILOG1234HAM")
    assert decl.goods_items[0].chapter == "85"
    assert decl.parties["importer"].country == "NL"
    assert decl.to_dict() == GOOD
    assert Declaration.from_dict(decl.to_dict()) == decl


def test_no_containers_is_allowed() -> None:
    assert Declaration.from_dict(changed(lambda d: d.update(containers=[]))).containers == ()


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.pop(key)


@pytest.mark.parametrize(
    ("change", "location", "words"),
    [
        pytest.param(_delete("ucr"), "", "'ucr' is a required property", id="missing-ucr"),
        pytest.param(_set("extra", 1), "", "Additional properties", id="unknown-member"),
        pytest.param(
            _set("containers/1", "YMLU3030934"),
            "/containers/1",
            "check digit is 4, expected 3",
            id="check-digit",
        ),
        pytest.param(
            _set("containers/1", "CSQU3054383"),
            "/containers",
            "non-unique",
            id="repeated-container",
        ),
        pytest.param(
            _set("containers/0", "csqu3054383"),
            "/containers/0",
            "does not match",
            id="container-lower-case",
        ),
        pytest.param(
            _set("goodsItems/0/hsCode", "770110"),
            "/goodsItems/0/hsCode",
            "HS chapter 77",
            id="reserved-chapter",
        ),
        pytest.param(
            _set("goodsItems/0/hsCode", "8504"),
            "/goodsItems/0/hsCode",
            "does not match",
            id="short-hs-code",
        ),
        pytest.param(_set("goodsItems", []), "/goodsItems", "should be non-empty", id="no-goods"),
        pytest.param(
            _set("goodsItems/0/grossMassKg", 0),
            "/goodsItems/0/grossMassKg",
            "less than or equal to the minimum",
            id="zero-mass",
        ),
        pytest.param(
            _set("goodsItems/0/declaredValue/amount", True),
            "/goodsItems/0/declaredValue/amount",
            "not of type 'number'",
            id="bool-amount",
        ),
        pytest.param(
            _set("portOfLoading", "DEHA1"), "/portOfLoading", "does not match", id="bad-locode"
        ),
        pytest.param(
            _set("portOfDischarge", "NLRTM\n"),
            "/portOfDischarge",
            "is not a UN/LOCODE",
            id="locode-newline",
        ),
        pytest.param(
            _set("declarationId", "26NL1\n"), "/declarationId", "must be 1-64", id="id-newline"
        ),
        pytest.param(_set("ucr", "GB123"), "/ucr", "does not match", id="bad-ucr"),
        pytest.param(
            _set("exporter/identifiers/0/value", "D1"),
            "/exporter/identifiers/0/value",
            "is not a EORI identifier",
            id="bad-eori",
        ),
        pytest.param(
            _set("exporter/identifiers/1/scheme", "DUNS"),
            "/exporter/identifiers/1/scheme",
            "is not one of",
            id="unknown-scheme",
        ),
        pytest.param(
            _set("importer/name", "Voorbeeld\u0000BV"),
            "/importer/name",
            "control characters",
            id="control-character",
        ),
        pytest.param(
            _set("importer/name", "   "), "/importer/name", "does not match", id="blank-name"
        ),
    ],
)
def test_malformed_declarations_are_refused_with_the_location(
    change: Callable[[dict[str, Any]], None], location: str, words: str
) -> None:
    with pytest.raises(MalformedDeclarationError) as caught:
        Declaration.from_dict(changed(change))
    assert caught.value.code == "MALFORMED_DECLARATION"
    assert any(loc == location and words in msg for loc, msg in caught.value.problems), (
        caught.value.problems
    )


def test_every_problem_is_reported_at_once() -> None:
    def two(doc: dict[str, Any]) -> None:
        doc["containers"][0] = "CSQU3054384"
        doc["goodsItems"][0]["hsCode"] = "000000"

    with pytest.raises(MalformedDeclarationError) as caught:
        Declaration.from_dict(changed(two))
    assert [loc for loc, _ in caught.value.problems] == ["/containers/0", "/goodsItems/0/hsCode"]
    assert "2 problems" in caught.value.message
    assert caught.value.diagnostics().splitlines()[1].startswith("  /containers/0: check digit")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"[1]", id="not-an-object"),
        pytest.param(b'{"ucr": 1, "ucr": 2}', id="duplicate-key"),
        pytest.param(b'{"declarationId": NaN}', id="nan"),
    ],
)
def test_what_is_not_strict_json_is_refused(data: bytes) -> None:
    with pytest.raises(MalformedDeclarationError) as caught:
        Declaration.from_json(data)
    assert caught.value.problems[0][0] == ""


def test_direct_construction_checks_the_same_rules() -> None:
    decl = Declaration.from_dict(GOOD)
    with pytest.raises(MalformedDeclarationError) as caught:
        Declaration(
            **{**_fields(decl), "containers": ("CSQU3054384", "CSQU3054383", "CSQU3054383")}
        )
    assert [loc for loc, _ in caught.value.problems] == ["/containers/0", "/containers/2"]
    with pytest.raises(MalformedDeclarationError, match="/hsCode"):
        GoodsItem("7701", "x", 1.0, "EUR", 1.0)
    with pytest.raises(MalformedDeclarationError, match="/identifiers"):
        Party("X", (), "NL")
    with pytest.raises(MalformedInputError, match="is not a MID identifier") as caught:
        PartyIdentifier("MID", "lower")
    assert caught.value.code == "INVALID_PARTY_IDENTIFIER"


def _fields(decl: Declaration) -> dict[str, Any]:
    return {name: getattr(decl, name) for name in decl.__dataclass_fields__}
