"""The customs declaration the risk core assesses, and its parser.

:meth:`Declaration.from_json` (bytes) and :meth:`Declaration.from_dict` (a parsed JSON
object) are the edge: the document is checked against the JSON Schema
``risk/schemas/declaration.schema.json`` first (every key, type and pattern), then each value
against the rules a schema cannot express (the ISO 6346 check digit, HS chapters that do not
exist, each party identifier's shape in its scheme, control characters, Python's ``$``
matching before a trailing newline). Every problem is reported at once, each at its JSON
Pointer, in one :class:`~risk.errors.MalformedDeclarationError`. The dataclasses check the
same value rules when built directly, so code that skips the parser (the simulation, tests)
cannot build a declaration the parser would refuse.

Unknown members are refused, not kept: a declaration is input to a decision, and a member
the core does not read must not look as if it had been considered.

Pure: the only read is of the bundled schema, once per process.

Example:
    >>> decl = Declaration.from_json(data)
    >>> decl.containers
    ('CSQU3054383',)
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, NamedTuple, TypeVar

# Untyped unless types-jsonschema is installed; with the stubs the ignore is simply unused.
import jsonschema  # type: ignore[import-untyped, unused-ignore]

from credentials.errors import MalformedInputError
from credentials.schema_fastpath import Check, compile_check
from credentials.strict_json import JSONObject, loads_object
from risk.errors import MalformedDeclarationError
from risk.identifiers import (
    container_issue,
    hs_code_issue,
    party_identifier_issue,
    ucr_issue,
    unlocode_issue,
)

__all__ = [
    "Declaration",
    "GoodsItem",
    "Party",
    "PartyIdentifier",
    "declaration_schema",
]

_SCHEMA_FILE = ("schemas", "declaration.schema.json")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_DECLARATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z", re.ASCII)
_COUNTRY = re.compile(r"[A-Z]{2}\Z", re.ASCII)
_CURRENCY = re.compile(r"[A-Z]{3}\Z", re.ASCII)
_TRANSPORT_DOCUMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]{0,34}\Z", re.ASCII)
_Problems = list[tuple[str, str]]
_OWN_STRINGS = (
    "declarationId",
    "ucr",
    "consignorCountry",
    "consigneeCountry",
    "portOfLoading",
    "portOfDischarge",
    "transportDocument",
)
_T = TypeVar("_T")


@functools.cache
def _schema() -> JSONObject:
    # Strict parsing also catches a duplicated keyword in our own schema.
    return loads_object(resources.files("risk").joinpath(*_SCHEMA_FILE).read_bytes())


@functools.cache
def _validator() -> Any:
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@functools.cache
def _fast_check() -> Check | None:
    return compile_check(_schema())


def declaration_schema() -> JSONObject:
    """Return the JSON Schema (draft 2020-12) of a declaration (a fresh copy).

    Raises:
        MalformedJSONError: The bundled file is damaged (an installation problem).
    """
    return loads_object(resources.files("risk").joinpath(*_SCHEMA_FILE).read_bytes())


def _text_issue(value: str, *, max_length: int) -> str | None:
    if not value.strip():
        return "must not be blank"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    if _CONTROL.search(value):
        return "must not contain control characters"
    return None


def _raise_if_any(problems: _Problems) -> None:
    if problems:
        raise MalformedDeclarationError(sorted(problems))


def _nested(problems: _Problems, prefix: str, build: Callable[[], _T]) -> _T | None:
    """Build a part, moving its problems under ``prefix``; None when it was refused."""
    try:
        return build()
    except MalformedDeclarationError as e:
        problems.extend((prefix + loc, msg) for loc, msg in e.problems)
        return None


class _PartyIdentifierFields(NamedTuple):
    scheme: str
    value: str


class PartyIdentifier(_PartyIdentifierFields):
    """A party identifier in its scheme (``EORI``, ``MID``, ``CTPAT``, ``TIN``...).

    An immutable value checked on construction. It is a named tuple rather than a frozen
    dataclass because the risk core hashes identifiers many times per decision (watch list,
    crosswalk, credential matching), and a tuple hashes and compares in C.

    Raises:
        MalformedInputError: The scheme is unknown or the value does not fit it
            (``INVALID_PARTY_IDENTIFIER``).
    """

    __slots__ = ()

    def __new__(cls, scheme: str, value: str) -> PartyIdentifier:  # noqa: D102
        issue = party_identifier_issue(scheme, value)
        if issue is not None:
            raise MalformedInputError(
                f"{scheme} {value!r}: {issue}", code="INVALID_PARTY_IDENTIFIER"
            )
        return super().__new__(cls, scheme, value)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.value}"

    @classmethod
    def from_dict(cls, value: JSONObject) -> PartyIdentifier:
        """Build from ``{"scheme": ..., "value": ...}`` (already of the right types)."""
        return cls(str(value["scheme"]), str(value["value"]))

    def to_dict(self) -> JSONObject:
        """Return ``{"scheme": ..., "value": ...}``."""
        return {"scheme": self.scheme, "value": self.value}


@dataclass(frozen=True, slots=True)
class Party:
    """A declarant, exporter or importer.

    Attributes:
        name: Its name.
        identifiers: Its identifiers, one or more, no repeats.
        country: ISO 3166-1 alpha-2 country.

    Raises:
        MalformedDeclarationError: A value breaks its rule (locations relative to the party).
    """

    name: str
    identifiers: tuple[PartyIdentifier, ...]
    country: str

    def __post_init__(self) -> None:
        problems: _Problems = []
        if (issue := _text_issue(self.name, max_length=200)) is not None:
            problems.append(("/name", issue))
        if not 1 <= len(self.identifiers) <= 10:
            problems.append(("/identifiers", "must hold 1 to 10 identifiers"))
        if len(set(self.identifiers)) != len(self.identifiers):
            problems.append(("/identifiers", "must not repeat an identifier"))
        if not _COUNTRY.match(self.country):
            problems.append(("/country", "is not an ISO 3166-1 alpha-2 country code"))
        _raise_if_any(problems)

    @classmethod
    def from_dict(cls, value: JSONObject) -> Party:
        """Build from a schema-valid party object.

        Raises:
            MalformedDeclarationError: A value breaks its rule.
        """
        problems: _Problems = []
        identifiers = []
        for i, item in enumerate(_objects(value["identifiers"])):
            try:
                identifiers.append(PartyIdentifier.from_dict(item))
            except MalformedInputError as e:
                problems.append((f"/identifiers/{i}/value", e.message))
        _raise_if_any(problems)
        return cls(str(value["name"]), tuple(identifiers), str(value["country"]))

    def to_dict(self) -> JSONObject:
        """Return the party as its JSON object."""
        return {
            "name": self.name,
            "identifiers": [i.to_dict() for i in self.identifiers],
            "country": self.country,
        }


@dataclass(frozen=True, slots=True)
class GoodsItem:
    """One goods item of the declaration.

    Attributes:
        hs_code: Harmonized System code, 6, 8 or 10 digits.
        description: Goods description.
        declared_value: Declared value in ``currency``.
        currency: ISO 4217 code.
        gross_mass_kg: Gross mass in kilograms.

    Raises:
        MalformedDeclarationError: A value breaks its rule (locations relative to the item).
    """

    hs_code: str
    description: str
    declared_value: float
    currency: str
    gross_mass_kg: float

    def __post_init__(self) -> None:
        problems: _Problems = []
        if (issue := hs_code_issue(self.hs_code)) is not None:
            problems.append(("/hsCode", issue))
        if (issue := _text_issue(self.description, max_length=512)) is not None:
            problems.append(("/description", issue))
        if not (math.isfinite(self.declared_value) and 0 <= self.declared_value <= 1e15):
            problems.append(("/declaredValue/amount", "must be between 0 and 1e15"))
        if not _CURRENCY.match(self.currency):
            problems.append(("/declaredValue/currency", "is not an ISO 4217 currency code"))
        if not (math.isfinite(self.gross_mass_kg) and 0 < self.gross_mass_kg <= 1e9):
            problems.append(("/grossMassKg", "must be more than 0 and at most 1e9"))
        _raise_if_any(problems)

    @property
    def chapter(self) -> str:
        """The HS chapter: the first two digits."""
        return self.hs_code[:2]

    @classmethod
    def from_dict(cls, value: JSONObject) -> GoodsItem:
        """Build from a schema-valid goods item object."""
        declared = _object(value["declaredValue"])
        return cls(
            hs_code=str(value["hsCode"]),
            description=str(value["description"]),
            declared_value=_number(declared["amount"]),
            currency=str(declared["currency"]),
            gross_mass_kg=_number(value["grossMassKg"]),
        )

    def to_dict(self) -> JSONObject:
        """Return the goods item as its JSON object."""
        return {
            "hsCode": self.hs_code,
            "description": self.description,
            "declaredValue": {"amount": self.declared_value, "currency": self.currency},
            "grossMassKg": self.gross_mass_kg,
        }


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedDeclarationError([("", "must be a number")])
    return float(value)


def _object(value: object) -> JSONObject:
    # The schema has said so already; this keeps the types honest without assert.
    if not isinstance(value, dict):
        raise MalformedDeclarationError([("", "must be an object")])
    return value


def _objects(value: object) -> Iterable[JSONObject]:
    if not isinstance(value, list):
        raise MalformedDeclarationError([("", "must be an array")])
    return [_object(v) for v in value]


def _own_problems(
    declaration_id: str,
    ucr: str,
    countries: dict[str, str],
    ports: dict[str, str],
    containers: Sequence[str],
    goods_count: int,
    transport_document: str,
) -> _Problems:
    """The declaration's own rules (its parties and goods items check theirs)."""
    problems: _Problems = []
    if not _DECLARATION_ID.match(declaration_id):
        problems.append(("/declarationId", "must be 1-64 letters, digits, '.', '_', ':' or '-'"))
    if (issue := ucr_issue(ucr)) is not None:
        problems.append(("/ucr", issue))
    for name, value in countries.items():
        if not _COUNTRY.match(value):
            problems.append((f"/{name}", "is not an ISO 3166-1 alpha-2 country code"))
    for name, value in ports.items():
        if (issue := unlocode_issue(value)) is not None:
            problems.append((f"/{name}", issue))
    seen: dict[str, int] = {}
    for i, number in enumerate(containers):
        if (issue := container_issue(number)) is not None:
            problems.append((f"/containers/{i}", issue))
        elif number in seen:
            problems.append((f"/containers/{i}", f"repeats /containers/{seen[number]}"))
        seen.setdefault(number, i)
    if len(containers) > 999:
        problems.append(("/containers", "must hold at most 999 containers"))
    if not 1 <= goods_count <= 999:
        problems.append(("/goodsItems", "must hold 1 to 999 goods items"))
    if not _TRANSPORT_DOCUMENT.match(transport_document):
        problems.append(("/transportDocument", "must be 1-35 letters, digits, '.', '/' or '-'"))
    return problems


@dataclass(frozen=True, slots=True)
class Declaration:
    """An import declaration, as far as the risk core reads it.

    Attributes:
        declaration_id: This administration's reference; keys the random selection draw.
        ucr: WCO Unique Consignment Reference.
        declarant: Who lodged the declaration.
        exporter: The consignor abroad.
        importer: The consignee.
        consignor_country: Country of dispatch (the "origin" the policy weighs).
        consignee_country: Country of destination.
        port_of_loading: UN/LOCODE where the goods were loaded (the "route").
        port_of_discharge: UN/LOCODE where they are unloaded.
        containers: ISO 6346 numbers, check digits verified; may be empty (no containers).
        goods_items: One or more goods items.
        transport_document: Bill of lading or air waybill number.

    Raises:
        MalformedDeclarationError: A value breaks its rule; every problem at its JSON Pointer.
    """

    declaration_id: str
    ucr: str
    declarant: Party
    exporter: Party
    importer: Party
    consignor_country: str
    consignee_country: str
    port_of_loading: str
    port_of_discharge: str
    containers: tuple[str, ...]
    goods_items: tuple[GoodsItem, ...]
    transport_document: str

    def __post_init__(self) -> None:
        _raise_if_any(
            _own_problems(
                self.declaration_id,
                self.ucr,
                {
                    "consignorCountry": self.consignor_country,
                    "consigneeCountry": self.consignee_country,
                },
                {"portOfLoading": self.port_of_loading, "portOfDischarge": self.port_of_discharge},
                self.containers,
                len(self.goods_items),
                self.transport_document,
            )
        )

    @property
    def parties(self) -> dict[str, Party]:
        """The parties by role: ``declarant``, ``exporter``, ``importer``."""
        return {"declarant": self.declarant, "exporter": self.exporter, "importer": self.importer}

    @classmethod
    def from_dict(cls, document: JSONObject) -> Declaration:
        """Check a parsed JSON declaration and build it.

        Args:
            document: The declaration object (e.g. from :func:`credentials.strict_json.loads`).

        Returns:
            The declaration.

        Raises:
            MalformedDeclarationError: Every problem found, each at its JSON Pointer: first
                the schema's; when there are none, each value's own rule.
        """
        fast = _fast_check()
        if fast is None or not fast(document):
            errors = sorted(
                _validator().iter_errors(document), key=lambda e: [str(p) for p in e.path]
            )
            if errors:
                raise MalformedDeclarationError(
                    ("".join(f"/{p}" for p in e.path), e.message) for e in errors
                )
        problems: _Problems = []
        parties = {
            role: _nested(
                problems, f"/{role}", functools.partial(Party.from_dict, _object(document[role]))
            )
            for role in ("declarant", "exporter", "importer")
        }
        items = [
            _nested(problems, f"/goodsItems/{i}", functools.partial(GoodsItem.from_dict, item))
            for i, item in enumerate(_objects(document["goodsItems"]))
        ]
        containers = document["containers"]
        if not isinstance(containers, list):  # The schema has said so already.
            raise MalformedDeclarationError([("/containers", "must be an array")])
        if problems:
            # Report the declaration's own problems too, not only its parts'.
            values = {k: str(document[k]) for k in _OWN_STRINGS}
            _raise_if_any(
                problems
                + _own_problems(
                    values["declarationId"],
                    values["ucr"],
                    {k: values[k] for k in ("consignorCountry", "consigneeCountry")},
                    {k: values[k] for k in ("portOfLoading", "portOfDischarge")},
                    [str(c) for c in containers],
                    len(items),
                    values["transportDocument"],
                )
            )
        return cls(
            declaration_id=str(document["declarationId"]),
            ucr=str(document["ucr"]),
            declarant=_present(parties["declarant"]),
            exporter=_present(parties["exporter"]),
            importer=_present(parties["importer"]),
            consignor_country=str(document["consignorCountry"]),
            consignee_country=str(document["consigneeCountry"]),
            port_of_loading=str(document["portOfLoading"]),
            port_of_discharge=str(document["portOfDischarge"]),
            containers=tuple(str(c) for c in containers),
            goods_items=tuple(_present(item) for item in items),
            transport_document=str(document["transportDocument"]),
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Declaration:
        """Parse strict JSON (see :mod:`credentials.strict_json`) and build the declaration.

        Raises:
            MalformedDeclarationError: The bytes are not strict JSON, or the declaration is
                refused (see :meth:`from_dict`).
        """
        try:
            document = loads_object(data)
        except MalformedInputError as e:
            raise MalformedDeclarationError([("", e.message)]) from e
        return cls.from_dict(document)

    def to_dict(self) -> JSONObject:
        """Return the declaration as its JSON object; :meth:`from_dict` is the inverse."""
        return {
            "declarationId": self.declaration_id,
            "ucr": self.ucr,
            "declarant": self.declarant.to_dict(),
            "exporter": self.exporter.to_dict(),
            "importer": self.importer.to_dict(),
            "consignorCountry": self.consignor_country,
            "consigneeCountry": self.consignee_country,
            "portOfLoading": self.port_of_loading,
            "portOfDischarge": self.port_of_discharge,
            "containers": list(self.containers),
            "goodsItems": [g.to_dict() for g in self.goods_items],
            "transportDocument": self.transport_document,
        }


def _present(value: _T | None) -> _T:
    # Only reached when no problem was recorded, so every part was built.
    if value is None:
        raise MalformedDeclarationError([("", "is incomplete")])
    return value
