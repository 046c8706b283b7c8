"""Bitstring Status List optional features: statusSize, statusMessage, statusReference, and
the same-issuer rule (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credentials.errors import MalformedInputError
from credentials.result import CheckStatus
from registry.status_list import (
    MIN_ENTRIES,
    BitstringStatusList,
    StatusListCredentialInfo,
    StatusListEntry,
    get_status_check,
)
from support import load_vector

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
LIST = "https://customs.example/status-lists/suspension-3"
ISSUER = "did:web:customs.example"
REASONS = ["none", "under investigation", "documents missing", "operator request"]


def _messages(size: int) -> list[dict[str, str]]:
    return [{"status": f"0x{v:x}", "message": f"reason {v}"} for v in range(2**size)]


def _entry(purpose: str = "suspension", index: int = 10, size: int = 2) -> StatusListEntry:
    raw: dict[str, Any] = {
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": LIST,
        "statusSize": size,
        "statusMessage": [
            {"status": f"0x{v:x}", "message": REASONS[v] if v < 4 else f"r{v}"}
            for v in range(2**size)
        ],
        "statusReference": "https://customs.example/suspension-reasons",
    }
    return StatusListEntry.from_dict(raw)


def _info(
    values: dict[int, int], size: int = 2, purposes: tuple[str, ...] = ("suspension",), **kw: Any
) -> StatusListCredentialInfo:
    bits = BitstringStatusList(MIN_ENTRIES * size)
    for index, value in values.items():
        for offset in range(size):
            bits.set(index * size + offset, bool(value >> (size - 1 - offset) & 1))
    fields: dict[str, Any] = {
        "list_id": LIST,
        "issuer": ISSUER,
        "purposes": purposes,
        "status_list": bits,
        "valid_from": NOW - timedelta(hours=1),
        "valid_until": NOW + timedelta(days=1),
    } | kw
    return StatusListCredentialInfo(**fields)


@pytest.mark.parametrize("value", [1, 2, 3])
def test_a_multi_bit_suspension_carries_its_reason(value: int) -> None:
    check = get_status_check(_entry(), _info({10: value, 11: 3}), now=NOW)
    assert (check.status, check.code) == (CheckStatus.FAIL, "SUSPENDED")
    assert f"status {value:#x} ({REASONS[value]})" in check.detail


def test_a_multi_bit_status_of_zero_passes_and_neighbours_do_not_leak() -> None:
    # Index 10 reads bits 20-21 only: the set neighbours (9 -> 18-19, 11 -> 22-23) do not count.
    check = get_status_check(_entry(), _info({9: 3, 11: 3}), now=NOW)
    assert check.status is CheckStatus.PASS
    assert "status 0x0 (none)" in check.detail


def test_a_message_entry_passes_with_its_message() -> None:
    entry = _entry("message", index=4)
    check = get_status_check(entry, _info({4: 2}, purposes=("message",)), now=NOW)
    assert check.status is CheckStatus.PASS
    assert "documents missing" in check.detail


def test_a_one_bit_message_entry_reads_its_bit() -> None:
    entry = StatusListEntry.from_dict(
        {
            "type": "BitstringStatusListEntry",
            "statusPurpose": "message",
            "statusListIndex": "5",
            "statusListCredential": LIST,
            "statusMessage": [
                {"status": "0x0", "message": "off"},
                {"status": "0x1", "message": "on"},
            ],
        }
    )
    check = get_status_check(entry, _info({5: 1}, size=1, purposes=("message",)), now=NOW)
    assert check.status is CheckStatus.PASS and "(on)" in check.detail


def test_status_size_mismatch_with_a_short_list_is_a_length_error() -> None:
    # The entry says 4 bits per status, the list was built for 2: too short for 4-bit entries.
    check = get_status_check(_entry(size=4), _info({}), now=NOW)
    assert (check.status, check.code) == (CheckStatus.UNKNOWN, "STATUS_LIST_LENGTH_ERROR")


def test_last_multi_bit_index_in_range_and_the_next_out_of_range() -> None:
    last = MIN_ENTRIES - 1
    assert get_status_check(_entry(index=last), _info({last: 1}), now=NOW).code == "SUSPENDED"
    beyond = get_status_check(_entry(index=MIN_ENTRIES), _info({}), now=NOW)
    assert (beyond.status, beyond.code) == (CheckStatus.UNKNOWN, "STATUS_INDEX_OUT_OF_RANGE")


def test_a_list_of_another_issuer_fails() -> None:
    info = _info({})
    check = get_status_check(_entry(), info, now=NOW, credential_issuer="did:key:z6MkOther")
    assert (check.status, check.code) == (CheckStatus.FAIL, "STATUS_ISSUER_MISMATCH")
    same = get_status_check(_entry(), info, now=NOW, credential_issuer=ISSUER)
    assert same.status is CheckStatus.PASS


def test_spec_message_example_parses_with_its_messages() -> None:
    examples = load_vector("bitstring-status-list", "spec-examples.json")
    items = examples["examples"] if isinstance(examples, dict) else examples
    found = [
        e["document"]["credentialStatus"]
        for e in items
        if isinstance(e["document"].get("credentialStatus"), dict)
        and e["document"]["credentialStatus"].get("statusSize") == 2
    ]
    assert found, "the spec's statusSize 2 example is in the vectors"
    entry = StatusListEntry.from_dict(found[0])
    assert entry.status_size == 2
    assert entry.messages == {0: "pending_review", 1: "accepted", 2: "rejected"}
    assert entry.to_dict() == found[0]


BAD_ENTRIES = {
    "size-2-without-messages": {"statusSize": 2, "statusMessage": None},
    "size-above-max": {"statusSize": 9, "statusMessage": _messages(1)},
    "message-value-too-big": {
        "statusSize": 1,
        "statusMessage": [{"status": "0x2", "message": "x"}],
    },
    "message-value-repeated": {
        "statusMessage": [{"status": "0x0", "message": "a"}, {"status": "0x00", "message": "b"}]
    },
    "message-not-hex": {"statusMessage": [{"status": "zero", "message": "a"}]},
    "message-without-text": {"statusMessage": [{"status": "0x0"}]},
    "messages-empty": {"statusMessage": []},
    "messages-not-list": {"statusMessage": {"status": "0x0", "message": "a"}},
    "reference-not-url": {"statusReference": "not a url"},
    "reference-empty-list": {"statusReference": []},
}


@pytest.mark.parametrize("case", list(BAD_ENTRIES))
def test_malformed_optional_members_are_refused(case: str) -> None:
    raw: dict[str, Any] = {
        "type": "BitstringStatusListEntry",
        "statusPurpose": "suspension",
        "statusListIndex": "1",
        "statusListCredential": LIST,
    } | BAD_ENTRIES[case]
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(MalformedInputError) as excinfo:
        StatusListEntry.from_dict(raw)
    assert excinfo.value.code == "INVALID_STATUS_ENTRY"
