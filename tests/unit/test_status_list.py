"""Tests for registry.status_list (W3C Bitstring Status List v1.0).

Vectors come from tests/vectors/bitstring-status-list/ (see SOURCE.md there): the spec's
examples, encodedList values from the spec, digitalbazaar's library tests and the W3C test
suite's unmerged PR #38, and the PR #38 credential fixtures paired with its status credentials.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import gzip
import json
import random
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials.errors import MalformedInputError
from credentials.result import Check, CheckStatus
from registry.status_list import (
    MAX_ENTRIES,
    MIN_ENTRIES,
    STATUS_PURPOSES,
    BitstringStatusList,
    StatusListCredentialInfo,
    StatusListEntry,
    build_status_list_credential,
    combine_status_checks,
    get_status_check,
    parse_status_list_credential,
    status_entries_of,
)

VECTORS = Path(__file__).parents[1] / "vectors" / "bitstring-status-list"
PR38 = VECTORS / "test-suite-pr38-fixtures"


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


ENCODED_LISTS: list[dict[str, Any]] = _load(VECTORS / "encodedList-vectors.json")["vectors"]
SPEC_EXAMPLES: dict[str, dict[str, Any]] = {
    ex["title"]: ex["document"] for ex in _load(VECTORS / "spec-examples.json")["examples"]
}

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
LIST_ID = "https://customs.example/status/revocation/1"
ISSUER = "did:web:customs.example"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@contextlib.contextmanager
def _raises(code: str) -> Iterator[pytest.ExceptionInfo[MalformedInputError]]:
    with pytest.raises(MalformedInputError) as excinfo:
        yield excinfo
    assert excinfo.value.code == code, excinfo.value.diagnostics()


# ---------------------------------------------------------------------------------------------
# encodedList-vectors.json
# ---------------------------------------------------------------------------------------------

# One readable id per vector, in file order, and the outcome of decode() with its defaults
# (None: decodes). The test below checks the table against the file's own "decoded" facts.
ENCODED_CASES = [
    ("spec-131072-all-zero", None),
    ("spec-legacy-unprefixed", "INVALID_ENCODED_LIST"),
    ("digitalbazaar-100k-all-zero", "STATUS_LIST_LENGTH_ERROR"),
    ("digitalbazaar-100k-index-50000", "STATUS_LIST_LENGTH_ERROR"),
    ("digitalbazaar-mock-50k-bit-order-trap", "STATUS_LIST_LENGTH_ERROR"),
    ("pr38-200k-unprefixed-three-set", "INVALID_ENCODED_LIST"),
    ("pr38-200-bits-unprefixed", "INVALID_ENCODED_LIST"),
    ("derived-131072-seven-set", None),
]


def test_encoded_vector_file_shape() -> None:
    assert len(ENCODED_LISTS) == len(ENCODED_CASES) == 8
    for vector, (_, default_code) in zip(ENCODED_LISTS, ENCODED_CASES, strict=True):
        decoded = vector["decoded"]
        assert decoded["bitstring_bits"] == decoded["bitstring_bytes"] * 8
        # The table's default outcome follows from the file's facts, prefix first.
        if not decoded["multibase_u_prefix"]:
            assert default_code == "INVALID_ENCODED_LIST"
        elif not decoded["meets_spec_minimum_131072_bits"]:
            assert default_code == "STATUS_LIST_LENGTH_ERROR"
        else:
            assert default_code is None


@pytest.mark.parametrize("vector", ENCODED_LISTS, ids=[case_id for case_id, _ in ENCODED_CASES])
def test_encoded_vector_decodes_to_recorded_bits(vector: dict[str, Any]) -> None:
    decoded = vector["decoded"]
    assert vector["encodedList"].startswith("u") is decoded["multibase_u_prefix"]
    status_list = BitstringStatusList.decode(
        vector["encodedList"],
        min_size=8,
        allow_legacy_unprefixed=not decoded["multibase_u_prefix"],
    )
    assert status_list.size == decoded["bitstring_bits"]
    assert len(status_list.to_bytes()) == decoded["bitstring_bytes"]
    assert status_list.set_indices() == decoded["set_indices_msb_first"]
    for index in decoded["set_indices_msb_first"]:
        assert status_list.get(index) is True


@pytest.mark.parametrize(
    ("vector", "code"),
    [
        pytest.param(v, code, id=case_id)
        for v, (case_id, code) in zip(ENCODED_LISTS, ENCODED_CASES, strict=True)
    ],
)
def test_encoded_vector_with_default_limits(vector: dict[str, Any], code: str | None) -> None:
    if code is None:
        status_list = BitstringStatusList.decode(vector["encodedList"])
        assert status_list.set_indices() == vector["decoded"]["set_indices_msb_first"]
    else:
        with _raises(code):
            BitstringStatusList.decode(vector["encodedList"])


def test_legacy_unprefixed_list_decodes_only_when_allowed() -> None:
    spec, legacy = ENCODED_LISTS[0]["encodedList"], ENCODED_LISTS[1]["encodedList"]
    assert spec == "u" + legacy
    with _raises("INVALID_ENCODED_LIST") as excinfo:
        BitstringStatusList.decode(legacy)
    assert "Multibase prefix 'u'" in excinfo.value.message
    lenient = BitstringStatusList.decode(legacy, allow_legacy_unprefixed=True)
    assert lenient == BitstringStatusList.decode(spec)
    # The allowance does not turn off the "u" form itself.
    assert BitstringStatusList.decode(spec, allow_legacy_unprefixed=True) == lenient


@pytest.mark.parametrize(
    ("vector_number", "bits", "allow_legacy"),
    [
        pytest.param(2, 100_000, False, id="digitalbazaar-100k"),
        pytest.param(3, 100_000, False, id="digitalbazaar-100k-index-50000"),
        pytest.param(6, 200, True, id="pr38-200-bits"),
    ],
)
def test_short_lists_need_a_lowered_minimum(
    vector_number: int, bits: int, allow_legacy: bool
) -> None:
    encoded = ENCODED_LISTS[vector_number]["encodedList"]
    with _raises("STATUS_LIST_LENGTH_ERROR") as excinfo:
        BitstringStatusList.decode(encoded, allow_legacy_unprefixed=allow_legacy)
    assert f"{bits} entries, fewer than the minimum {MIN_ENTRIES}" in excinfo.value.message
    status_list = BitstringStatusList.decode(
        encoded, min_size=bits, allow_legacy_unprefixed=allow_legacy
    )
    assert status_list.size == bits
    with _raises("STATUS_LIST_LENGTH_ERROR"):
        BitstringStatusList.decode(encoded, min_size=bits + 8, allow_legacy_unprefixed=allow_legacy)


def test_fifty_k_bit_order_trap_is_index_50007() -> None:
    # digitalbazaar's mock list is named "50Kth revoked", but under the spec's MSB-first order
    # the set bit is 50007: a decoder reading bits LSB-first would report 50000.
    status_list = BitstringStatusList.decode(ENCODED_LISTS[4]["encodedList"], min_size=100_000)
    assert status_list.set_indices() == [50007]
    assert status_list.get(50007) is True
    assert status_list.get(50000) is False
    assert status_list.to_bytes()[50000 // 8] == 0x01


# ---------------------------------------------------------------------------------------------
# spec-examples.json
# ---------------------------------------------------------------------------------------------

STATUS_3 = "https://example.com/credentials/status/3"
STATUS_4 = "https://example.com/credentials/status/4"
STATUS_5 = "https://example.com/credentials/status/5"
STATUS_8 = "https://example.com/credentials/status/8"

# (purpose, index, statusListCredential, statusSize) of each spec credential's entries.
SPEC_ENTRIES = {
    "Example StatusListCredential using simple entries": [
        ("revocation", 94567, STATUS_3, 1),
        ("suspension", 23452, STATUS_4, 1),
    ],
    "Example StatusListCredential using more complex entries": [
        ("message", 492847, STATUS_8, 2),
    ],
    "A Revocable Verifiable Credential": [("revocation", 94567, STATUS_3, 1)],
    "Associating multiple status lists with a single Verifiable Credential": [
        ("revocation", 94567, STATUS_3, 1),
        ("suspension", 12345, STATUS_4, 1),
    ],
    "Associating multiple status entries in a single status list": [
        ("revocation", 94567, STATUS_5, 1),
        ("suspension", 12345, STATUS_5, 1),
    ],
}
SPEC_LIST_CREDENTIALS = [
    "Example BitstringStatusListCredential",
    "A Status List Verifiable Credential",
]


def test_spec_example_titles_are_all_covered() -> None:
    assert set(SPEC_EXAMPLES) == set(SPEC_ENTRIES) | set(SPEC_LIST_CREDENTIALS)


@pytest.mark.parametrize("title", list(SPEC_ENTRIES))
def test_spec_status_entries_parse(title: str) -> None:
    document = SPEC_EXAMPLES[title]
    entries = status_entries_of(document)
    got = [
        (e.status_purpose, e.status_list_index, e.status_list_credential, e.status_size)
        for e in entries
    ]
    assert got == SPEC_ENTRIES[title]
    raw = document["credentialStatus"]
    items = raw if isinstance(raw, list) else [raw]
    for entry, item in zip(entries, items, strict=True):
        assert entry.id == item["id"]
        assert entry.to_dict() == item
        assert StatusListEntry.from_dict(entry.to_dict()) == entry


def test_spec_message_entry_keeps_its_extra_members() -> None:
    complex_entry = status_entries_of(
        SPEC_EXAMPLES["Example StatusListCredential using more complex entries"]
    )[0]
    assert complex_entry.extra["statusReference"] == "https://example.org/status-dictionary/"
    assert isinstance(complex_entry.extra["statusMessage"], list)
    assert len(complex_entry.extra["statusMessage"]) == 3


@pytest.mark.parametrize("title", SPEC_LIST_CREDENTIALS)
def test_spec_status_list_credential_parses(title: str) -> None:
    info = parse_status_list_credential(SPEC_EXAMPLES[title])
    assert info.list_id == STATUS_3
    assert info.issuer == "did:example:12345"
    assert info.purposes == ("revocation",)
    assert info.valid_from == datetime(2021, 4, 5, 14, 27, 40, tzinfo=UTC)
    assert info.valid_until is None
    assert info.status_list.size == MIN_ENTRIES
    assert info.status_list.set_indices() == []


def test_spec_index_94567_is_not_revoked() -> None:
    info = parse_status_list_credential(SPEC_EXAMPLES["A Status List Verifiable Credential"])
    (entry,) = status_entries_of(SPEC_EXAMPLES["A Revocable Verifiable Credential"])
    assert info.status_list.get(94567) is False
    check = get_status_check(entry, info, now=NOW)
    assert check.status is CheckStatus.PASS
    assert check.name == "status"
    assert check.detail == f"revocation bit 94567 not set (list {STATUS_3}, no validUntil)"


def test_spec_entries_against_the_spec_list() -> None:
    info = parse_status_list_credential(SPEC_EXAMPLES["Example BitstringStatusListCredential"])
    document = SPEC_EXAMPLES["Example StatusListCredential using simple entries"]
    checks = [get_status_check(e, info, now=NOW) for e in status_entries_of(document)]
    # The suspension entry names list 4, which is not the list at hand: fail closed.
    assert [c.status for c in checks] == [CheckStatus.PASS, CheckStatus.UNKNOWN]
    assert checks[1].code == "STATUS_PURPOSE_MISMATCH"
    combined = combine_status_checks(checks)
    assert (combined.status, combined.code) == (CheckStatus.UNKNOWN, "STATUS_PURPOSE_MISMATCH")


def test_credential_without_status() -> None:
    valid_vc = _load(VECTORS / "test-suite-validVc.json")
    assert status_entries_of(valid_vc) == []
    check = combine_status_checks([])
    assert check == Check.passed("status", "credential has no status entries")


# ---------------------------------------------------------------------------------------------
# test-suite-pr38-fixtures: credentials paired with the status credentials of the same PR
# ---------------------------------------------------------------------------------------------

PR38_BASE = "https://w3c-ccg.github.io/vc-api/fixtures/credentials/status/"


def _pr38_status_credential(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = _load(PR38 / "status-credentials" / f"{name}.jsonld")
    return doc


def _pr38_completed(name: str, list_id: str, **members: Any) -> dict[str, Any]:
    """A PR #38 status credential made conformant where SOURCE.md says it is not.

    The fixtures have no id, issuer or validFrom, and their encodedList predates v1.0's
    Multibase "u" prefix; the status lists they point at were never published. So the id
    becomes the URL the credential fixture names, an issuer and validity are added, and "u" is
    prepended (test_pr38_prefixing_is_the_legacy_form checks that this changes no bit).
    """
    doc = copy.deepcopy(_pr38_status_credential(name))
    doc.update(
        {
            "id": list_id,
            "issuer": ISSUER,
            "validFrom": "2026-01-01T00:00:00Z",
            "validUntil": "2027-01-01T00:00:00Z",
        }
    )
    doc["credentialSubject"]["encodedList"] = "u" + doc["credentialSubject"]["encodedList"]
    doc.update(members)
    return doc


def test_pr38_prefixing_is_the_legacy_form() -> None:
    raw = _pr38_status_credential("single-purpose-ok")["credentialSubject"]["encodedList"]
    lenient = BitstringStatusList.decode(raw, allow_legacy_unprefixed=True)
    assert lenient == BitstringStatusList.decode("u" + raw)
    assert lenient.set_indices() == [201, 57444, 94023]


@pytest.mark.parametrize(
    "name",
    [p.stem for p in sorted((PR38 / "status-credentials").glob("*.jsonld"))],
)
def test_pr38_status_credentials_are_not_conformant_as_published(name: str) -> None:
    with _raises("INVALID_STATUS_LIST") as excinfo:
        parse_status_list_credential(_pr38_status_credential(name))
    assert "id that is a URL" in excinfo.value.message


# fixture -> (status credential it pairs with, expected status, code); None: no list is
# published for it, the test builds the failing list as the file name describes.
PR38_PAIRS: dict[str, tuple[str, CheckStatus, str | None]] = {
    "should-be-revoked": ("single-purpose-ok", CheckStatus.FAIL, "REVOKED"),
    "should-be-suspended": ("multi-purpose-ok", CheckStatus.FAIL, "SUSPENDED"),
    "sl-purpose-single-ok": ("single-purpose-ok", CheckStatus.PASS, None),
    "sl-purpose-multi-ok": ("multi-purpose-ok", CheckStatus.PASS, None),
    "sl-date-expired-fail": ("single-purpose-ok", CheckStatus.UNKNOWN, "STATUS_LIST_EXPIRED"),
}
# fixture -> (status credential, mutation of the completed credential, parse error code).
PR38_PARSE_FAILURES: dict[str, tuple[str, dict[str, Any], str]] = {
    "sl-encoded-list-short-fail": ("short-encoded-list-fail", {}, "STATUS_LIST_LENGTH_ERROR"),
    "sl-encoded-list-invalid-fail": (
        "single-purpose-ok",
        {"encodedList": "uH4sI!not-base64"},
        "INVALID_ENCODED_LIST",
    ),
    "sl-vc-type-missing-fail": (
        "single-purpose-ok",
        {"type": ["VerifiableCredential"]},
        "INVALID_STATUS_LIST",
    ),
    "sl-vc-type-wrong-fail": (
        "single-purpose-ok",
        {"type": ["VerifiableCredential", "StatusList2021Credential"]},
        "INVALID_STATUS_LIST",
    ),
}


def test_every_pr38_fixture_is_paired() -> None:
    names = {p.stem for p in PR38.glob("*.jsonld")}
    assert names == set(PR38_PAIRS) | set(PR38_PARSE_FAILURES)


def _pr38_entry(fixture: str) -> StatusListEntry:
    (entry,) = status_entries_of(_load(PR38 / f"{fixture}.jsonld"))
    assert entry.status_list_credential.startswith(PR38_BASE)
    return entry


@pytest.mark.parametrize(("fixture", "pair"), PR38_PAIRS.items(), ids=list(PR38_PAIRS))
def test_pr38_fixture_status(fixture: str, pair: tuple[str, CheckStatus, str | None]) -> None:
    status_credential, expected, code = pair
    entry = _pr38_entry(fixture)
    members = {"validUntil": "2026-06-01T00:00:00Z"} if fixture == "sl-date-expired-fail" else {}
    doc = _pr38_completed(status_credential, entry.status_list_credential, **members)
    info = parse_status_list_credential(doc)
    check = get_status_check(entry, info, now=NOW)
    assert (check.status, check.code) == (expected, code), check.detail
    assert entry.status_list_credential in check.detail


@pytest.mark.parametrize(
    ("fixture", "failure"), PR38_PARSE_FAILURES.items(), ids=list(PR38_PARSE_FAILURES)
)
def test_pr38_fixture_list_is_rejected(fixture: str, failure: tuple[str, Any, str]) -> None:
    status_credential, mutation, code = failure
    entry = _pr38_entry(fixture)
    assert entry.status_list_index == 201
    doc = _pr38_completed(status_credential, entry.status_list_credential)
    if "encodedList" in mutation:
        doc["credentialSubject"]["encodedList"] = mutation["encodedList"]
    else:
        doc.update(mutation)
    with _raises(code):
        parse_status_list_credential(doc)


@pytest.mark.parametrize("name", ["single-purpose-fail", "multi-purpose-fail"])
def test_pr38_unknown_purposes_are_rejected(name: str) -> None:
    doc = _pr38_completed(name, PR38_BASE + name)
    with _raises("INVALID_STATUS_LIST") as excinfo:
        parse_status_list_credential(doc)
    assert "unknown or repeated purposes" in excinfo.value.message


# ---------------------------------------------------------------------------------------------
# BitstringStatusList: bit order, bounds, codec round trips
# ---------------------------------------------------------------------------------------------


def _small(size: int = 64) -> BitstringStatusList:
    return BitstringStatusList(size, min_size=8)


@pytest.mark.parametrize(
    ("index", "byte", "value"),
    [(0, 0, 0x80), (7, 0, 0x01), (8, 1, 0x80), (13, 1, 0x04), (63, 7, 0x01)],
)
def test_bit_order_is_msb_first(index: int, byte: int, value: int) -> None:
    status_list = _small()
    status_list.set(index, True)
    data = status_list.to_bytes()
    assert data[byte] == value
    assert sum(data) == value
    assert status_list.set_indices() == [index]
    status_list.set(index, False)
    assert status_list.to_bytes() == bytes(8)
    assert status_list.get(index) is False


def test_default_list_is_the_spec_minimum() -> None:
    status_list = BitstringStatusList()
    assert status_list.size == len(status_list) == MIN_ENTRIES
    assert status_list.to_bytes() == bytes(MIN_ENTRIES // 8)


@pytest.mark.parametrize(
    ("size", "kwargs"),
    [
        pytest.param(0, {"min_size": 0}, id="zero"),
        pytest.param(12, {"min_size": 8}, id="not-multiple-of-8"),
        pytest.param(-8, {"min_size": -8}, id="negative"),
        pytest.param(True, {"min_size": 0}, id="bool"),
        pytest.param(MIN_ENTRIES - 8, {}, id="below-spec-minimum"),
        pytest.param(MAX_ENTRIES + 8, {}, id="above-hard-cap"),
        pytest.param(1024, {"min_size": 8, "max_size": 512}, id="above-max-size"),
    ],
)
def test_bad_sizes_are_rejected(size: int, kwargs: dict[str, int]) -> None:
    with _raises("STATUS_LIST_LENGTH_ERROR"):
        BitstringStatusList(size, **kwargs)


def test_max_size_cannot_exceed_the_hard_cap() -> None:
    with pytest.raises(ValueError, match="hard cap"):
        BitstringStatusList(max_size=MAX_ENTRIES + 8)
    with pytest.raises(ValueError, match="hard cap"):
        BitstringStatusList.decode(BitstringStatusList().encode(), max_size=MAX_ENTRIES * 2)


@pytest.mark.parametrize(
    "index",
    [-1, 64, 2**70, True, "1", 1.0],
    ids=["minus-1", "size", "huge", "bool", "str", "float"],
)
def test_out_of_range_index(index: Any) -> None:
    status_list = _small()
    with _raises("STATUS_INDEX_OUT_OF_RANGE"):
        status_list.get(index)
    with _raises("STATUS_INDEX_OUT_OF_RANGE"):
        status_list.set(index, True)
    assert status_list.set_indices() == []


def test_bytes_round_trip_and_equality() -> None:
    status_list = _small()
    status_list.set(3, True)
    assert repr(status_list) == "BitstringStatusList(size=64, set=1)"
    data = status_list.to_bytes()
    again = BitstringStatusList.from_bytes(data, min_size=8)
    assert again == status_list
    assert again.to_bytes() == data
    assert again != _small()
    assert status_list != data
    with pytest.raises(TypeError):
        hash(status_list)
    with _raises("STATUS_LIST_LENGTH_ERROR"):
        BitstringStatusList.from_bytes(data)  # 64 bits is below the default minimum
    with _raises("STATUS_LIST_LENGTH_ERROR"):
        BitstringStatusList.from_bytes(b"", min_size=0)


def test_random_bits_round_trip() -> None:
    rng = random.Random(20261130)  # noqa: S311 - test data, not a secret
    indices = sorted(rng.sample(range(MIN_ENTRIES), 1000))
    status_list = BitstringStatusList()
    for index in indices:
        status_list.set(index, True)
    encoded = status_list.encode()
    assert encoded.startswith("uH4sI")  # "u" + base64url of the GZIP magic bytes
    assert "=" not in encoded
    decoded = BitstringStatusList.decode(encoded)
    assert decoded.set_indices() == indices
    assert decoded == status_list
    assert BitstringStatusList.from_bytes(status_list.to_bytes()) == status_list


def test_encode_is_deterministic() -> None:
    first, second = BitstringStatusList(), BitstringStatusList()
    for status_list in (first, second):
        status_list.set(94567, True)
        status_list.set(12, True)
    assert first.encode() == first.encode() == second.encode()
    # mtime is zero in the GZIP header, so no clock leaks into the list.
    compressed = _unb64url(first.encode()[1:])
    assert compressed[4:8] == bytes(4)


def _gzip_bomb(zeros: int) -> str:
    # Built in 1 MiB chunks so that the test itself never holds the expanded bytes.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(2**20)
    parts = [compressor.compress(chunk) for _ in range(zeros // len(chunk))]
    parts.append(compressor.flush())
    return "u" + _b64url(b"".join(parts))


def test_gzip_bomb_is_rejected_without_expanding_it() -> None:
    bomb = _gzip_bomb(100 * 2**20)  # 100 MiB of zeros
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        with _raises("STATUS_LIST_LENGTH_ERROR") as excinfo:
            BitstringStatusList.decode(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"more than the maximum {MAX_ENTRIES} entries" in excinfo.value.message
    # The output stops at MAX_ENTRIES / 8 + 1 bytes (2 MiB, plus the buffer's headroom), far
    # below the 100 MiB the bomb expands to.
    assert peak < 2 * (MAX_ENTRIES // 8)
    # With a smaller cap the bomb is refused before decompressing, for its encoded length.
    with _raises("INVALID_ENCODED_LIST") as excinfo:
        BitstringStatusList.decode(bomb, max_size=MIN_ENTRIES)
    assert "too long" in excinfo.value.message
    with _raises("STATUS_LIST_LENGTH_ERROR"):
        BitstringStatusList.decode(_gzip_bomb(2**20), max_size=MIN_ENTRIES)


VALID = BitstringStatusList().encode()
VALID_GZIP = _unb64url(VALID[1:])


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(123, id="not-a-string"),
        pytest.param("", id="empty"),
        pytest.param("u", id="prefix-only"),
        pytest.param("z" + VALID[1:], id="base58-prefix"),
        pytest.param("U" + VALID[1:], id="uppercase-prefix"),
        pytest.param(VALID + "=", id="padding"),
        pytest.param(VALID[:5] + " " + VALID[6:], id="space"),
        pytest.param(VALID.replace("-", "+").replace("_", "/") + "+/", id="standard-alphabet"),
        pytest.param("uH4sIA", id="length-mod-4-is-1"),
        pytest.param("u" + "A" * (2 * MAX_ENTRIES // 8 + 300), id="too-long"),
        pytest.param("u" + _b64url(b"PK\x03\x04" + bytes(40)), id="zip-not-gzip"),
        pytest.param("u" + _b64url(zlib.compress(bytes(16384))), id="zlib-not-gzip"),
        pytest.param("u" + _b64url(VALID_GZIP[:-6]), id="gzip-truncated"),
        pytest.param(
            "u" + _b64url(VALID_GZIP[:-8] + bytes([VALID_GZIP[-8] ^ 1]) + VALID_GZIP[-7:]),
            id="gzip-bad-crc",
        ),
        pytest.param(
            "u" + _b64url(VALID_GZIP[:-4] + (16385).to_bytes(4, "little")), id="gzip-bad-isize"
        ),
        pytest.param("u" + _b64url(VALID_GZIP + b"junk"), id="gzip-trailing-bytes"),
        pytest.param("u" + _b64url(VALID_GZIP + VALID_GZIP), id="gzip-two-members"),
        pytest.param("u" + _b64url(VALID_GZIP[:10] + b"\xff" * 20), id="gzip-bad-deflate"),
    ],
)
def test_malformed_encoded_list(encoded: Any) -> None:
    with _raises("INVALID_ENCODED_LIST"):
        BitstringStatusList.decode(encoded, allow_legacy_unprefixed=False)


def test_decoded_list_above_max_size() -> None:
    with _raises("STATUS_LIST_LENGTH_ERROR") as excinfo:
        BitstringStatusList.decode(VALID, min_size=8, max_size=MIN_ENTRIES - 8)
    assert "more than the maximum" in excinfo.value.message
    large = "u" + _b64url(gzip.compress(bytes(MAX_ENTRIES // 8), mtime=0))
    assert BitstringStatusList.decode(large).size == MAX_ENTRIES


@settings(max_examples=100, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=MIN_ENTRIES - 1), max_size=300))
def test_property_encode_decode_round_trip(indices: set[int]) -> None:
    status_list = BitstringStatusList()
    for index in indices:
        status_list.set(index, True)
    assert BitstringStatusList.decode(status_list.encode()).set_indices() == sorted(indices)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=80), st.binary(max_size=80).map(lambda b: "u" + _b64url(b))))
def test_property_decode_rejects_garbage_cleanly(encoded: str) -> None:
    # Arbitrary input is either a list or a MalformedInputError, never another exception.
    try:
        status_list = BitstringStatusList.decode(encoded, min_size=8, allow_legacy_unprefixed=True)
    except MalformedInputError as e:
        assert e.code in {"INVALID_ENCODED_LIST", "STATUS_LIST_LENGTH_ERROR"}
    else:
        assert status_list.size >= 8


# ---------------------------------------------------------------------------------------------
# StatusListEntry
# ---------------------------------------------------------------------------------------------

ENTRY: dict[str, Any] = {
    "id": LIST_ID + "#94567",
    "type": "BitstringStatusListEntry",
    "statusPurpose": "revocation",
    "statusListIndex": "94567",
    "statusListCredential": LIST_ID,
}


def test_entry_round_trip() -> None:
    entry = StatusListEntry.from_dict(ENTRY)
    assert entry == StatusListEntry("revocation", 94567, LIST_ID, 1, LIST_ID + "#94567")
    assert entry.to_dict() == ENTRY
    assert "statusSize" not in entry.to_dict()
    minimal = {k: v for k, v in ENTRY.items() if k != "id"} | {"statusListIndex": "0"}
    assert StatusListEntry.from_dict(minimal).to_dict() == minimal
    sized = ENTRY | {
        "statusSize": 2,
        "statusMessage": [{"status": f"0x{v}", "message": f"m{v}"} for v in range(4)],
        "statusReference": "https://example.org/x",
    }
    assert StatusListEntry.from_dict(sized).to_dict() == sized


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"type": None}, "type must be", id="type-missing"),
        pytest.param({"type": "StatusList2021Entry"}, "type must be", id="type-wrong"),
        pytest.param({"type": ["BitstringStatusListEntry"]}, "type must be", id="type-list"),
        pytest.param({"id": "not a url"}, "id must be a URL", id="id-not-url"),
        pytest.param({"id": 7}, "id must be a URL", id="id-number"),
        pytest.param({"id": LIST_ID}, "must not be the status list", id="id-is-list-url"),
        pytest.param({"statusPurpose": None}, "statusPurpose", id="purpose-missing"),
        pytest.param({"statusPurpose": ""}, "statusPurpose", id="purpose-empty"),
        pytest.param({"statusPurpose": ["revocation"]}, "statusPurpose", id="purpose-list"),
        pytest.param({"statusListIndex": None}, "statusListIndex", id="index-missing"),
        pytest.param({"statusListIndex": 94567}, "statusListIndex", id="index-number"),
        pytest.param({"statusListIndex": "-1"}, "statusListIndex", id="index-negative"),
        pytest.param({"statusListIndex": "+1"}, "statusListIndex", id="index-plus"),
        pytest.param({"statusListIndex": ""}, "statusListIndex", id="index-empty"),
        pytest.param({"statusListIndex": "1.0"}, "statusListIndex", id="index-decimal-point"),
        pytest.param({"statusListIndex": "1e3"}, "statusListIndex", id="index-exponent"),
        pytest.param({"statusListIndex": "0x10"}, "statusListIndex", id="index-hex"),
        pytest.param({"statusListIndex": " 1"}, "statusListIndex", id="index-space"),
        pytest.param({"statusListIndex": "1\n"}, "statusListIndex", id="index-newline"),
        pytest.param({"statusListIndex": "01"}, "statusListIndex", id="index-leading-zero"),
        pytest.param({"statusListIndex": "\uff11\uff12"}, "statusListIndex", id="index-fullwidth"),
        pytest.param({"statusListIndex": "1" * 21}, "statusListIndex", id="index-21-digits"),
        pytest.param({"statusListCredential": None}, "statusListCredential", id="list-missing"),
        pytest.param({"statusListCredential": "status/3"}, "statusListCredential", id="list-rel"),
        pytest.param({"statusSize": 0}, "statusSize", id="size-zero"),
        pytest.param({"statusSize": -1}, "statusSize", id="size-negative"),
        pytest.param({"statusSize": "2"}, "statusSize", id="size-string"),
        pytest.param({"statusSize": True}, "statusSize", id="size-bool"),
        pytest.param({"statusSize": 1.5}, "statusSize", id="size-float"),
    ],
)
def test_bad_entry(changes: dict[str, Any], message: str) -> None:
    obj = {k: v for k, v in (ENTRY | changes).items() if v is not None}
    with _raises("INVALID_STATUS_ENTRY") as excinfo:
        StatusListEntry.from_dict(obj)
    assert message in excinfo.value.message


@pytest.mark.parametrize(
    ("credential_status", "count"),
    [
        pytest.param(None, 0, id="absent"),
        pytest.param(ENTRY, 1, id="object"),
        pytest.param([ENTRY, ENTRY | {"statusPurpose": "suspension"}], 2, id="list"),
        pytest.param([], 0, id="empty-list"),
    ],
)
def test_status_entries_of(credential_status: Any, count: int) -> None:
    credential: dict[str, Any] = {"type": ["VerifiableCredential"]}
    if credential_status is not None:
        credential["credentialStatus"] = credential_status
    entries = status_entries_of(credential)
    assert len(entries) == count
    assert all(e.status_list_credential == LIST_ID for e in entries)


@pytest.mark.parametrize(
    "credential_status",
    [
        pytest.param("https://example.com/status", id="string"),
        pytest.param(None, id="null"),
        pytest.param([ENTRY, "x"], id="list-with-string"),
        pytest.param([ENTRY | {"type": "StatusList2021Entry"}], id="other-mechanism"),
    ],
)
def test_status_entries_of_rejects(credential_status: Any) -> None:
    with _raises("INVALID_STATUS_ENTRY"):
        status_entries_of({"credentialStatus": credential_status})


# ---------------------------------------------------------------------------------------------
# build_status_list_credential / parse_status_list_credential
# ---------------------------------------------------------------------------------------------

VALID_FROM = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
VALID_UNTIL = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def _built(purpose: str = "revocation", *indices: int) -> dict[str, Any]:
    status_list = BitstringStatusList()
    for index in indices:
        status_list.set(index, True)
    return build_status_list_credential(
        list_id=LIST_ID,
        issuer=ISSUER,
        purpose=purpose,
        status_list=status_list,
        valid_from=VALID_FROM,
        valid_until=VALID_UNTIL,
    )


def test_build_status_list_credential_shape() -> None:
    doc = _built("suspension", 42)
    subject = doc.pop("credentialSubject")
    assert doc == {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": LIST_ID,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": ISSUER,
        "validFrom": "2026-11-30T00:00:00Z",
        "validUntil": "2026-12-01T00:00:00Z",
    }
    assert isinstance(subject, dict)
    encoded = subject.pop("encodedList")
    assert subject == {
        "id": LIST_ID + "#list",
        "type": "BitstringStatusList",
        "statusPurpose": "suspension",
    }
    assert BitstringStatusList.decode(encoded).set_indices() == [42]


@pytest.mark.parametrize("purpose", STATUS_PURPOSES)
def test_built_credential_parses_back(purpose: str) -> None:
    info = parse_status_list_credential(_built(purpose, 7, 94567))
    assert info == StatusListCredentialInfo(
        list_id=LIST_ID,
        issuer=ISSUER,
        purposes=(purpose,),
        status_list=info.status_list,
        valid_from=VALID_FROM,
        valid_until=VALID_UNTIL,
    )
    assert info.status_list.set_indices() == [7, 94567]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"list_id": "status/1"}, "URLs", id="list-id-not-url"),
        pytest.param({"issuer": "customs"}, "URLs", id="issuer-not-url"),
        pytest.param({"purpose": "refresh"}, "purpose must be", id="purpose-refresh"),
        pytest.param({"purpose": "message"}, "purpose must be", id="purpose-message"),
        pytest.param({"valid_from": datetime(2026, 11, 30)}, "naive", id="naive-from"),
        pytest.param({"valid_until": VALID_FROM}, "after valid_from", id="empty-window"),
        pytest.param(
            {"valid_until": VALID_FROM + timedelta(microseconds=5)},
            "after valid_from",
            id="window-below-one-second",
        ),
    ],
)
def test_build_rejects_bad_arguments(changes: dict[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {
        "list_id": LIST_ID,
        "issuer": ISSUER,
        "purpose": "revocation",
        "status_list": BitstringStatusList(),
        "valid_from": VALID_FROM,
        "valid_until": VALID_UNTIL,
    } | changes
    with pytest.raises(ValueError, match=message):
        build_status_list_credential(**kwargs)


def test_parse_accepts_issuer_object_and_several_purposes() -> None:
    doc = _built()
    doc["issuer"] = {"id": ISSUER, "name": "Customs"}
    doc["credentialSubject"]["statusPurpose"] = ["revocation", "suspension", "refresh", "message"]
    del doc["validFrom"], doc["validUntil"]
    info = parse_status_list_credential(doc)
    assert info.issuer == ISSUER
    assert info.purposes == ("revocation", "suspension", "refresh", "message")
    assert (info.valid_from, info.valid_until) == (None, None)


def _drop(key: str) -> Any:
    return lambda doc: doc.pop(key)


def _subject(key: str, value: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        if value is None:
            del doc["credentialSubject"][key]
        else:
            doc["credentialSubject"][key] = value

    return mutate


def _set(key: str, value: Any) -> Any:
    return lambda doc: doc.__setitem__(key, value)


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        pytest.param(_drop("type"), "INVALID_STATUS_LIST", id="type-missing"),
        pytest.param(_set("type", 5), "INVALID_STATUS_LIST", id="type-number"),
        pytest.param(
            _set("type", ["BitstringStatusListCredential"]),
            "INVALID_STATUS_LIST",
            id="type-without-vc",
        ),
        pytest.param(
            _set("type", ["VerifiableCredential"]), "INVALID_STATUS_LIST", id="type-without-bsl"
        ),
        pytest.param(_drop("id"), "INVALID_STATUS_LIST", id="id-missing"),
        pytest.param(_set("id", "status/1"), "INVALID_STATUS_LIST", id="id-not-url"),
        pytest.param(_drop("issuer"), "INVALID_STATUS_LIST", id="issuer-missing"),
        pytest.param(_set("issuer", {"name": "x"}), "INVALID_STATUS_LIST", id="issuer-no-id"),
        pytest.param(_set("validFrom", "2026-11-30"), "INVALID_DATETIME", id="valid-from-date"),
        pytest.param(
            _set("validUntil", "2026-11-29T00:00:00Z"), "INVALID_STATUS_LIST", id="until-before"
        ),
        pytest.param(_drop("credentialSubject"), "INVALID_STATUS_LIST", id="subject-missing"),
        pytest.param(
            lambda doc: doc.__setitem__("credentialSubject", [doc["credentialSubject"]]),
            "INVALID_STATUS_LIST",
            id="subject-list",
        ),
        pytest.param(_subject("type", "StatusList2021"), "INVALID_STATUS_LIST", id="subject-type"),
        pytest.param(_subject("type", None), "INVALID_STATUS_LIST", id="subject-type-missing"),
        pytest.param(_subject("statusPurpose", None), "INVALID_STATUS_LIST", id="purpose-missing"),
        pytest.param(_subject("statusPurpose", []), "INVALID_STATUS_LIST", id="purpose-empty"),
        pytest.param(_subject("statusPurpose", 1), "INVALID_STATUS_LIST", id="purpose-number"),
        pytest.param(
            _subject("statusPurpose", "randomPurpose"), "INVALID_STATUS_LIST", id="purpose-unknown"
        ),
        pytest.param(
            _subject("statusPurpose", ["revocation", "revocation"]),
            "INVALID_STATUS_LIST",
            id="purpose-repeated",
        ),
        pytest.param(_subject("encodedList", None), "INVALID_STATUS_LIST", id="list-missing"),
        pytest.param(_subject("encodedList", 0), "INVALID_STATUS_LIST", id="list-number"),
        pytest.param(
            _subject("encodedList", ENCODED_LISTS[1]["encodedList"]),
            "INVALID_ENCODED_LIST",
            id="list-unprefixed",
        ),
        pytest.param(
            _subject("encodedList", ENCODED_LISTS[2]["encodedList"]),
            "STATUS_LIST_LENGTH_ERROR",
            id="list-100k",
        ),
    ],
)
def test_parse_rejects(mutate: Any, code: str) -> None:
    doc = _built()
    mutate(doc)
    with _raises(code):
        parse_status_list_credential(doc)


# ---------------------------------------------------------------------------------------------
# get_status_check / combine_status_checks
# ---------------------------------------------------------------------------------------------

SET_BIT, CLEAR_BIT = 94567, 23452


def _info(purposes: tuple[str, ...] = ("revocation",), **changes: Any) -> StatusListCredentialInfo:
    status_list = BitstringStatusList()
    status_list.set(SET_BIT, True)
    fields: dict[str, Any] = {
        "list_id": LIST_ID,
        "issuer": ISSUER,
        "purposes": purposes,
        "status_list": status_list,
        "valid_from": VALID_FROM,
        "valid_until": VALID_UNTIL,
    } | changes
    return StatusListCredentialInfo(**fields)


def _entry(purpose: str = "revocation", index: int = CLEAR_BIT, **changes: Any) -> StatusListEntry:
    return StatusListEntry(purpose, index, changes.pop("list_id", LIST_ID), **changes)


# id -> (entry, info, keyword arguments, status, code, a piece of the detail)
STATUS_MATRIX: dict[str, tuple[StatusListEntry, StatusListCredentialInfo, dict[str, Any], Any]] = {
    "revoked": (
        _entry(index=SET_BIT),
        _info(),
        {},
        (CheckStatus.FAIL, "REVOKED", f"revocation bit {SET_BIT} is set"),
    ),
    "suspended": (
        _entry("suspension", SET_BIT),
        _info(("suspension",)),
        {},
        (CheckStatus.FAIL, "SUSPENDED", f"suspension bit {SET_BIT} is set"),
    ),
    "suspended-multi-purpose-list": (
        _entry("suspension", SET_BIT),
        _info(("revocation", "suspension")),
        {},
        (CheckStatus.FAIL, "SUSPENDED", f"list {LIST_ID}"),
    ),
    "clear": (
        _entry(),
        _info(),
        {},
        (
            CheckStatus.PASS,
            None,
            f"revocation bit {CLEAR_BIT} not set (list {LIST_ID}, "
            "valid until 2026-12-01T00:00:00Z)",
        ),
    ),
    "clear-no-valid-until": (
        _entry(),
        _info(valid_until=None),
        {},
        (CheckStatus.PASS, None, "no validUntil"),
    ),
    "expired-list": (
        _entry(),
        _info(),
        {"now": VALID_UNTIL},
        (CheckStatus.UNKNOWN, "STATUS_LIST_EXPIRED", "expired at 2026-12-01T00:00:00Z"),
    ),
    "revoked-in-expired-list": (
        _entry(index=SET_BIT),
        _info(),
        {"now": VALID_UNTIL + timedelta(days=1)},
        (CheckStatus.UNKNOWN, "STATUS_LIST_EXPIRED", "expired"),
    ),
    "not-yet-valid-list": (
        _entry(),
        _info(),
        {"now": VALID_FROM - timedelta(seconds=1)},
        (CheckStatus.UNKNOWN, "STATUS_LIST_EXPIRED", "not valid before 2026-11-30T00:00:00Z"),
    ),
    "stale": (
        _entry(),
        _info(),
        {"checked_at": NOW - timedelta(hours=2), "max_age": timedelta(hours=1)},
        (CheckStatus.UNKNOWN, "STATUS_STALE", "retrieved 2026-11-30T08:00:00Z"),
    ),
    "fresh-enough": (
        _entry(),
        _info(),
        {"checked_at": NOW - timedelta(hours=1), "max_age": timedelta(hours=1)},
        (CheckStatus.PASS, None, "not set"),
    ),
    "max-age-without-checked-at": (
        _entry(),
        _info(),
        {"max_age": timedelta(hours=1)},
        (CheckStatus.UNKNOWN, "STATUS_STALE", "retrieved never"),
    ),
    "purpose-mismatch": (
        _entry("suspension", SET_BIT),
        _info(),
        {},
        (CheckStatus.UNKNOWN, "STATUS_PURPOSE_MISMATCH", "is for revocation, not suspension"),
    ),
    "wrong-list-id": (
        _entry(index=SET_BIT, list_id=LIST_ID + "0"),
        _info(),
        {},
        (CheckStatus.UNKNOWN, "STATUS_PURPOSE_MISMATCH", f"names list {LIST_ID}0"),
    ),
    "index-out-of-range": (
        _entry(index=MIN_ENTRIES),
        _info(),
        {},
        (CheckStatus.UNKNOWN, "STATUS_INDEX_OUT_OF_RANGE", f"{MIN_ENTRIES} entries"),
    ),
    # A list of 2-bit entries needs 2 x 131,072 bits (statusSize mismatch with the list).
    "status-size-2-list-too-short": (
        _entry("message", 4, status_size=2),
        _info(("message",)),
        {},
        (CheckStatus.UNKNOWN, "STATUS_LIST_LENGTH_ERROR", "entries of 2 bits"),
    ),
    "status-size-2-revocation-list-too-short": (
        _entry(index=4, status_size=2),
        _info(),
        {},
        (CheckStatus.UNKNOWN, "STATUS_LIST_LENGTH_ERROR", "entries of 2 bits"),
    ),
    "refresh-purpose": (
        _entry("refresh", SET_BIT),
        _info(("refresh",)),
        {},
        (CheckStatus.UNKNOWN, "UNSUPPORTED_STATUS_PURPOSE", "'refresh'"),
    ),
    "naive-now": (
        _entry(),
        _info(),
        {"now": datetime(2026, 11, 30, 10, 0)},
        (CheckStatus.UNKNOWN, "STATUS_CHECK_ERROR", "naive"),
    ),
    "naive-checked-at": (
        _entry(),
        _info(),
        {"checked_at": datetime(2026, 11, 30, 10, 0), "max_age": timedelta(hours=1)},
        (CheckStatus.UNKNOWN, "STATUS_CHECK_ERROR", "naive"),
    ),
}


@pytest.mark.parametrize("case_id", list(STATUS_MATRIX))
def test_status_check_matrix(case_id: str) -> None:
    entry, info, kwargs, (status, code, detail) = STATUS_MATRIX[case_id]
    check = get_status_check(entry, info, **({"now": NOW} | kwargs))
    assert check.name == "status"
    assert (check.status, check.code) == (status, code), check.detail
    assert detail in check.detail


def test_status_check_never_raises_on_bypassed_invariants() -> None:
    info = _info()
    object.__setattr__(info, "valid_until", "2026-12-01")  # wrong type, bypassing the dataclass
    check = get_status_check(_entry(), info, now=NOW)
    assert (check.status, check.code) == (CheckStatus.UNKNOWN, "STATUS_CHECK_ERROR")


def test_entry_rejects_negative_index_at_construction() -> None:
    with pytest.raises(ValueError, match="statusListIndex"):
        StatusListEntry("revocation", -1, LIST_ID)


PASS_A = Check.passed("status", "revocation bit 1 not set")
PASS_B = Check.passed("status", "suspension bit 1 not set")
UNKNOWN = Check.unknown("status", "STATUS_STALE", "stale")
FAIL_REVOKED = Check.failed("status", "REVOKED", "revoked")
FAIL_SUSPENDED = Check.failed("status", "SUSPENDED", "suspended")


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        pytest.param([PASS_A], PASS_A, id="one-pass"),
        pytest.param(
            [PASS_A, PASS_B],
            Check.passed("status", "revocation bit 1 not set; suspension bit 1 not set"),
            id="all-pass",
        ),
        pytest.param([PASS_A, UNKNOWN], UNKNOWN, id="pass-and-unknown"),
        pytest.param([UNKNOWN, FAIL_SUSPENDED, PASS_A], FAIL_SUSPENDED, id="fail-beats-unknown"),
        pytest.param([FAIL_REVOKED, FAIL_SUSPENDED], FAIL_REVOKED, id="first-fail"),
        pytest.param(
            [Check.unknown("other", "X", "y")],
            Check.unknown("status", "X", "y"),
            id="renamed-to-status",
        ),
    ],
)
def test_combine_status_checks(checks: list[Check], expected: Check) -> None:
    assert combine_status_checks(checks) == expected
