"""Multi-bit status values: the bitstring at 2 bits, the node's suspension entries, the check.

A suspension that carries its reason is a 2-bit entry (``statusSize`` 2) whose
``statusMessage`` names every value. These tests build such lists and entries the way the
node does, round-trip them through the encoder, and read them back as a verifier would:
every reason fails the ``status`` check with its message, 0 passes, and a value the entry
does not name never passes (fail closed).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credentials.errors import MalformedInputError
from credentials.result import CheckStatus
from node.services.status import (
    DEFAULT_SUSPENSION_REASON,
    SUSPENSION_REASONS,
    SUSPENSION_STATUS_SIZE,
    reason_of,
    status_message,
    suspension_status_message,
)
from registry.status_list import (
    MIN_ENTRIES,
    BitstringStatusList,
    StatusListEntry,
    build_status_list_credential,
    get_status_check,
    parse_status_list_credential,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ISSUER = "did:web:eu.customs.example"
LIST_URL = "https://eu.customs.example/status-lists/suspensionreason-1"
WIDTH = SUSPENSION_STATUS_SIZE


def _two_bit_list(values: dict[int, int]) -> BitstringStatusList:
    bits = BitstringStatusList(MIN_ENTRIES * WIDTH)
    for index, value in values.items():
        bits.set_value(index, WIDTH, value)
    return bits


def _entry(index: int, messages: Any = None, **extra: Any) -> StatusListEntry:
    return StatusListEntry.from_dict(
        {
            "id": f"{LIST_URL}#{index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": extra.pop("purpose", "suspension"),
            "statusListIndex": str(index),
            "statusListCredential": LIST_URL,
            "statusSize": WIDTH,
            "statusMessage": suspension_status_message() if messages is None else messages,
            **extra,
        }
    )


def _info(bits: BitstringStatusList, purpose: str = "suspension") -> Any:
    unsigned = build_status_list_credential(
        list_id=LIST_URL,
        issuer=ISSUER,
        purpose=purpose,
        status_list=bits,
        valid_from=NOW - timedelta(minutes=1),
        valid_until=NOW + timedelta(days=1),
    )
    return parse_status_list_credential(unsigned)


# -- the bitstring at 2 bits ------------------------------------------------------------


def test_two_bit_values_round_trip_through_the_encoder() -> None:
    last = MIN_ENTRIES - 1
    values = {0: 1, 1: 2, 2: 3, 94567: 2, last: 3}
    decoded = BitstringStatusList.decode(_two_bit_list(values).encode())
    assert decoded.size == MIN_ENTRIES * WIDTH
    assert {i: decoded.get_value(i, WIDTH) for i in values} == values
    assert decoded.get_value(3, WIDTH) == 0
    # Spec §2.1: entry i is bits 2i and 2i+1, the first of them the most significant.
    assert decoded.set_indices() == [1, 2, 4, 5, 94567 * 2, 2 * last, 2 * last + 1]


def test_set_value_clears_bits_a_smaller_value_does_not_use() -> None:
    bits = _two_bit_list({7: 3})
    bits.set_value(7, WIDTH, 2)
    assert bits.get_value(7, WIDTH) == 2 and bits.set_indices() == [14]
    bits.set_value(7, WIDTH, 0)
    assert bits.set_indices() == []


def test_one_bit_values_are_the_bits() -> None:
    bits = BitstringStatusList()
    bits.set_value(5, 1, 1)
    assert bits.get(5) and bits.get_value(5, 1) == 1 and bits.set_indices() == [5]


@pytest.mark.parametrize(
    ("index", "width", "value", "error"),
    [
        pytest.param(0, WIDTH, 4, ValueError, id="value-too-wide"),
        pytest.param(0, WIDTH, -1, ValueError, id="negative-value"),
        pytest.param(0, WIDTH, True, ValueError, id="bool-value"),
        pytest.param(0, 0, 0, ValueError, id="width-zero"),
        pytest.param(0, 9, 0, ValueError, id="width-above-eight"),
        pytest.param(MIN_ENTRIES, WIDTH, 1, MalformedInputError, id="entry-past-the-end"),
        pytest.param(-1, WIDTH, 1, MalformedInputError, id="negative-index"),
    ],
)
def test_bad_values_widths_and_indexes_are_refused(
    index: int, width: int, value: int, error: type[Exception]
) -> None:
    bits = BitstringStatusList(MIN_ENTRIES * WIDTH)
    with pytest.raises(error):
        bits.set_value(index, width, value)
    assert bits.set_indices() == []


def test_reading_past_the_end_is_refused() -> None:
    with pytest.raises(MalformedInputError):
        _two_bit_list({}).get_value(MIN_ENTRIES, WIDTH)


# -- the node's entries -----------------------------------------------------------------


def test_the_suspension_message_names_every_value_once() -> None:
    entry = _entry(3)
    assert entry.status_size == 2 and entry.status_purpose == "suspension"
    assert entry.messages == {0: "not suspended"} | {r.value: r.message for r in SUSPENSION_REASONS}
    assert sorted(entry.messages) == list(range(2**WIDTH))
    assert StatusListEntry.from_dict(entry.to_dict()) == entry
    assert DEFAULT_SUSPENSION_REASON in {r.code for r in SUSPENSION_REASONS}
    assert len({r.code for r in SUSPENSION_REASONS}) == len(SUSPENSION_REASONS)


def test_reasons_and_messages_of_stored_values() -> None:
    for reason in SUSPENSION_REASONS:
        assert reason_of(2, reason.value) == reason
        assert status_message(2, reason.value) == reason.message
    assert reason_of(2, 0) is None and status_message(2, 0) == "not suspended"
    # A 1-bit entry has no reason and no message, set or not.
    assert reason_of(1, 1) is None and status_message(1, 1) is None


# -- the status check at 2 bits ---------------------------------------------------------


@pytest.mark.parametrize("reason", SUSPENSION_REASONS, ids=lambda r: r.code)
def test_every_reason_fails_the_check_with_its_message(reason: Any) -> None:
    info = _info(_two_bit_list({42: reason.value}))
    check = get_status_check(_entry(42), info, now=NOW, credential_issuer=ISSUER)
    assert (check.status, check.code) == (CheckStatus.FAIL, "SUSPENDED")
    assert f"status {reason.value:#x} ({reason.message})" in check.detail


def test_zero_passes_and_says_not_suspended() -> None:
    info = _info(_two_bit_list({41: 3, 43: 1}))
    check = get_status_check(_entry(42), info, now=NOW)
    assert check.status is CheckStatus.PASS
    assert "status 0x0 (not suspended)" in check.detail


def test_a_value_the_entry_does_not_name_fails_closed() -> None:
    # An issuer whose statusMessage lists only 0 and 1: value 3 still refuses the benefits.
    partial = [{"status": "0x0", "message": "valid"}, {"status": "0x1", "message": "held"}]
    info = _info(_two_bit_list({9: 3}))
    check = get_status_check(_entry(9, partial), info, now=NOW)
    assert (check.status, check.code) == (CheckStatus.FAIL, "SUSPENDED")
    assert "not in the entry's statusMessage" in check.detail
    # A message entry whose value has no message is unknown, not a pass.
    message_info = dataclasses.replace(info, purposes=("message",))
    check = get_status_check(_entry(9, partial, purpose="message"), message_info, now=NOW)
    assert (check.status, check.code) == (CheckStatus.UNKNOWN, "UNKNOWN_STATUS_VALUE")


def test_a_one_bit_list_read_as_two_bits_is_refused_for_its_length() -> None:
    # A list of 131,072 one-bit entries is too short for 131,072 entries of two bits.
    info = _info(BitstringStatusList(MIN_ENTRIES))
    check = get_status_check(_entry(1), info, now=NOW)
    assert (check.status, check.code) == (CheckStatus.UNKNOWN, "STATUS_LIST_LENGTH_ERROR")


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param(None, id="missing"),
        pytest.param([{"status": "0x4", "message": "too wide"}], id="value-does-not-fit"),
        pytest.param(
            [{"status": "0x1", "message": "a"}, {"status": "0x01", "message": "b"}],
            id="repeated-value",
        ),
        pytest.param([{"status": "1", "message": "no prefix"}], id="not-hex-prefixed"),
    ],
)
def test_malformed_status_messages_are_refused(messages: Any) -> None:
    raw: dict[str, Any] = {
        "type": "BitstringStatusListEntry",
        "statusPurpose": "suspension",
        "statusListIndex": "1",
        "statusListCredential": LIST_URL,
        "statusSize": WIDTH,
    }
    if messages is not None:
        raw["statusMessage"] = messages
    with pytest.raises(MalformedInputError) as caught:
        StatusListEntry.from_dict(raw)
    assert caught.value.code == "INVALID_STATUS_ENTRY"
