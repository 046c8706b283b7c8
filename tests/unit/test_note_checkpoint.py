"""C2SP signed notes, checkpoints and cosignatures: the specs' own examples as known-answer
tests, round trips, strict parsing (one case per malformation) and signature abuse."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials.keys import PrivateKey
from scan_attestation.checkpoint import (
    MAX_TIMESTAMP,
    Checkpoint,
    CheckpointError,
    cosign,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
    verify_cosignature,
)
from scan_attestation.merkle import EMPTY_ROOT
from scan_attestation.note import (
    MAX_SIGNATURES,
    Note,
    NoteError,
    NoteSignature,
    format_note,
    format_vkey,
    key_id,
    parse_note,
    parse_vkey,
    sign_note,
    verify_note_signature,
)

LOG_KEY = PrivateKey.from_seed(bytes(range(32)))
OTHER_KEY = PrivateKey.from_seed(bytes(range(1, 33)))
WITNESS_KEY = PrivateKey.from_seed(bytes(range(2, 34)))
ORIGIN = "customs.example/scan-log"
WITNESS = "witness.customs.example/w1"
ROOT = hashlib.sha256(b"root").digest()
CP = Checkpoint(ORIGIN, 1234, ROOT)

# --- Known answers from the spec texts ----------------------------------------------------

# signed-note.md, "Verifier keys" / "Example".
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n"
    "\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXm"
    "RKuwHjG1Yu72IneyaQM=\n"
)
# signed-note.md, the opening example (no key is published for it).
SPEC_POEM = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed è subito sera.\n"
    "\n"
    "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMou"
    "FSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
)
# tlog-cosignature.md, the opening example: a checkpoint with a log signature and a cosignature.
SPEC_COSIGNED = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhc"
    "yv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2"
    "oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def test_spec_vkey_verifies_the_spec_note() -> None:
    vkey = parse_vkey(SPEC_VKEY)
    assert vkey.name == "example.com/foo"
    assert vkey.key_id == bytes.fromhex("530d903a")
    assert vkey.type == 0x01
    note = parse_note(SPEC_NOTE)
    assert note.text == "This is an example message.\n"
    assert verify_note_signature(note, vkey.name, vkey.public_key) is True
    assert format_vkey(vkey.name, vkey.public_key) == SPEC_VKEY
    # The same key under another name has another key ID, so the line is ignored.
    assert verify_note_signature(note, "example.com/bar", vkey.public_key) is False
    tampered = Note("This is an example message!\n", note.signatures)
    assert verify_note_signature(tampered, vkey.name, vkey.public_key) is False


@pytest.mark.parametrize("text", [SPEC_NOTE, SPEC_POEM, SPEC_COSIGNED], ids=["note", "poem", "cp"])
def test_spec_notes_round_trip(text: str) -> None:
    note = parse_note(text.encode("utf-8"))
    assert format_note(note) == text
    assert parse_note(text) == note


def test_spec_poem_text_keeps_its_inner_blank_line() -> None:
    note = parse_note(SPEC_POEM)
    assert note.text.endswith("sole:\n\ned è subito sera.\n")
    assert [s.name for s in note.signatures] == ["quasimodo.example/salvatore"]


def test_spec_cosigned_checkpoint() -> None:
    note = parse_note(SPEC_COSIGNED)
    cp = parse_checkpoint(note.text)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.body() == note.text
    log_sig, cosig = note.signatures
    assert len(log_sig.signature) == 64
    # timestamped_signature: u64 timestamp then a 64-byte Ed25519 signature. Its timestamp
    # is the one in the spec's example signed message ("time 1679315147").
    assert len(cosig.signature) == 8 + 64
    assert int.from_bytes(cosig.signature[:8], "big") == 1679315147


# --- Notes -----------------------------------------------------------------------------


def _signed(text: str = "hello\n", key: PrivateKey = LOG_KEY, name: str = ORIGIN) -> str:
    return format_note(Note(text, (sign_note(text, name, key),)))


def test_sign_and_verify_round_trip() -> None:
    note = parse_note(_signed())
    assert verify_note_signature(note, ORIGIN, LOG_KEY.public_key)
    assert note.signatures[0].key_id == key_id(ORIGIN, 0x01, LOG_KEY.public_key.raw)


def test_key_id_is_the_spec_formula() -> None:
    raw = LOG_KEY.public_key.raw
    expected = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4]
    assert key_id(ORIGIN, 0x01, raw) == expected
    assert key_id(ORIGIN, 0x04, raw) != expected


def test_unknown_signers_are_ignored_and_known_ones_must_verify() -> None:
    text = "hello\n"
    good = sign_note(text, ORIGIN, LOG_KEY)
    other = sign_note(text, "someone.else", OTHER_KEY)
    note = Note(text, (other, good))
    assert verify_note_signature(note, ORIGIN, LOG_KEY.public_key)
    # A second line from the known key that fails rejects the note (signed-note SHOULD).
    bad = NoteSignature(ORIGIN, good.key_id, bytes(64))
    assert not verify_note_signature(Note(text, (good, bad)), ORIGIN, LOG_KEY.public_key)


def test_wrong_key_and_wrong_key_id_fail() -> None:
    text = "hello\n"
    by_other = sign_note(text, ORIGIN, OTHER_KEY)  # Right name, other key: other key ID.
    assert not verify_note_signature(Note(text, (by_other,)), ORIGIN, LOG_KEY.public_key)
    # Right key ID but the signature comes from another key.
    forged = NoteSignature(ORIGIN, key_id(ORIGIN, 0x01, LOG_KEY.public_key.raw), by_other.signature)
    assert not verify_note_signature(Note(text, (forged,)), ORIGIN, LOG_KEY.public_key)
    # A valid signature under a wrong key ID is ignored, so nothing verifies.
    good = sign_note(text, ORIGIN, LOG_KEY)
    moved = NoteSignature(ORIGIN, bytes(4), good.signature)
    assert not verify_note_signature(Note(text, (moved,)), ORIGIN, LOG_KEY.public_key)
    # Nor under another name.
    renamed = NoteSignature("customs.example/other", good.key_id, good.signature)
    assert not verify_note_signature(Note(text, (renamed,)), ORIGIN, LOG_KEY.public_key)


GOOD_LINE = _signed().split("\n\n")[1]
GOOD_B64 = GOOD_LINE.split(" ")[2].rstrip("\n")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _noncanonical(b64: str) -> str:
    """Set an unused padding bit: the same bytes decode, from a second spelling."""
    body = b64.rstrip("=")
    assert b64 != body, "needs a padded value"
    last = _ALPHABET[_ALPHABET.index(body[-1]) + 1]
    return body[:-1] + last + b64[len(body) :]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("hello\n" + GOOD_LINE, id="missing-blank-line"),
        pytest.param("hello\n\n", id="no-signatures"),
        pytest.param("", id="empty"),
        pytest.param("hello\n\n" + GOOD_LINE.replace("—", "-"), id="hyphen-not-em-dash"),
        pytest.param("hello\n\n" + GOOD_LINE.replace("—", "\u2013"), id="en-dash"),
        pytest.param("hello\n\n" + GOOD_LINE.replace("— ", "—"), id="no-space-after-dash"),
        pytest.param("hello\n\n" + GOOD_LINE.replace("— ", "—  "), id="two-spaces"),
        pytest.param("hello\n\n" + GOOD_LINE[:-1], id="no-final-newline"),
        pytest.param("hello\n\n" + GOOD_LINE + "\n", id="trailing-blank-line"),
        pytest.param("hello\n\n" + GOOD_LINE + "extra", id="trailing-data"),
        pytest.param("hello\n\n" + GOOD_LINE + "extra\n", id="trailing-line"),
        pytest.param(b"hello\xff\n\n" + GOOD_LINE.encode(), id="not-utf8"),
        pytest.param(b"\xc3\n\n" + GOOD_LINE.encode(), id="truncated-utf8"),
        pytest.param("hel\rlo\n\n" + GOOD_LINE, id="carriage-return"),
        pytest.param("hel\tlo\n\n" + GOOD_LINE, id="tab"),
        pytest.param("hel\x00lo\n\n" + GOOD_LINE, id="nul"),
        pytest.param("hello\n\n" + GOOD_LINE.replace(GOOD_B64, GOOD_B64 + "$"), id="bad-b64-char"),
        pytest.param("hello\n\n" + GOOD_LINE.replace(GOOD_B64, GOOD_B64[:-1]), id="b64-padding"),
        pytest.param("hello\n\n" + GOOD_LINE.replace(GOOD_B64, "AAAAAA=="), id="sig-too-short"),
        pytest.param(
            "hello\n\n" + GOOD_LINE.replace(GOOD_B64, _noncanonical(GOOD_B64)), id="b64-noncanon"
        ),
        pytest.param("hello\n\n" + GOOD_LINE.replace(ORIGIN, ""), id="empty-name"),
        pytest.param("hello\n\n" + GOOD_LINE.replace(ORIGIN, "a+b"), id="plus-in-name"),
        pytest.param("hello\n\n" + GOOD_LINE.replace(ORIGIN, "a\u00a0b"), id="nbsp-in-name"),
        pytest.param("hello\n\n" + GOOD_LINE.replace(" ", "\u3000", 1), id="ideographic-space"),
        pytest.param("hello\n\n" + GOOD_LINE * (MAX_SIGNATURES + 1), id="101-signatures"),
        pytest.param("\ud800\n\n" + GOOD_LINE, id="lone-surrogate"),
    ],
)
def test_malformed_notes_are_rejected(data: str | bytes) -> None:
    with pytest.raises(NoteError) as info:
        parse_note(data)
    assert "\n" not in str(info.value)


def test_limits_are_inclusive() -> None:
    note = parse_note("hello\n\n" + GOOD_LINE * MAX_SIGNATURES)
    assert len(note.signatures) == MAX_SIGNATURES
    assert verify_note_signature(note, ORIGIN, LOG_KEY.public_key)
    # The text may be a lone newline and may contain blank lines.
    assert parse_note("\n\n" + GOOD_LINE).text == "\n"


def test_note_values_check_themselves() -> None:
    sig = sign_note("x\n", ORIGIN, LOG_KEY)
    with pytest.raises(NoteError, match="newline"):
        Note("no newline", (sig,))
    with pytest.raises(NoteError, match="4 bytes"):
        NoteSignature(ORIGIN, b"abc", b"sig")
    with pytest.raises(NoteError, match="non-empty"):
        NoteSignature(ORIGIN, b"abcd", b"")
    with pytest.raises(NoteError, match="at least one signature"):
        format_note(Note("x\n"))
    with pytest.raises(NoteError, match="'\\+'"):
        sign_note("x\n", "a+b", LOG_KEY)
    with pytest.raises(NoteError, match="newline"):
        sign_note("x", ORIGIN, LOG_KEY)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("example.com/foo+530d903a", id="two-parts"),
        pytest.param(SPEC_VKEY + "+x", id="plus-after-key"),
        pytest.param(
            "a+b+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", id="plus-in-name"
        ),
        pytest.param(SPEC_VKEY.replace("530d903a", "530D903A"), id="uppercase-id"),
        pytest.param(SPEC_VKEY.replace("530d903a", "530d903b"), id="wrong-id"),
        pytest.param(SPEC_VKEY.replace("+Aek", "+Aul"), id="wrong-type"),
        pytest.param(SPEC_VKEY[:-4], id="short-key"),
        pytest.param(SPEC_VKEY.replace("example.com/foo", "example com"), id="space-in-name"),
        pytest.param("+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", id="empty-name"),
        pytest.param("a+530d903a+Ae" + "A" * 42, id="wrong-length"),
    ],
)
def test_malformed_vkeys_are_rejected(text: str) -> None:
    with pytest.raises(NoteError):
        parse_vkey(text)


def test_cosigner_vkey_round_trip() -> None:
    text = format_vkey(WITNESS, WITNESS_KEY.public_key, 0x04)
    assert "+" in text.split("+", 2)[2], "this key's base64 holds a '+': keep it that way"
    vkey = parse_vkey(text)
    assert vkey.type == 0x04
    assert vkey.key_id == key_id(WITNESS, 0x04, WITNESS_KEY.public_key.raw)
    with pytest.raises(NoteError, match="unsupported"):
        format_vkey(WITNESS, WITNESS_KEY.public_key, 0x02)


# --- Checkpoints -----------------------------------------------------------------------


def test_checkpoint_body_round_trip() -> None:
    body = CP.body()
    assert body == f"{ORIGIN}\n1234\n{base64.b64encode(ROOT).decode()}\n"
    assert parse_checkpoint(body) == CP
    with_ext = Checkpoint(ORIGIN, 0, EMPTY_ROOT, ("ext one", "ext two"))
    assert parse_checkpoint(with_ext.body()) == with_ext
    assert with_ext.body().endswith("ext one\next two\n")


B64_ROOT = base64.b64encode(ROOT).decode()
URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xff" * 32).decode()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"{ORIGIN}\n0012\n{B64_ROOT}\n", id="leading-zeros"),
        pytest.param(f"{ORIGIN}\n00\n{B64_ROOT}\n", id="double-zero"),
        pytest.param(f"{ORIGIN}\n-1\n{B64_ROOT}\n", id="negative"),
        pytest.param(f"{ORIGIN}\n+1\n{B64_ROOT}\n", id="plus-sign"),
        pytest.param(f"{ORIGIN}\n1e3\n{B64_ROOT}\n", id="exponent"),
        pytest.param(f"{ORIGIN}\n 12\n{B64_ROOT}\n", id="space"),
        pytest.param(f"{ORIGIN}\n1_000\n{B64_ROOT}\n", id="underscore"),
        pytest.param(f"{ORIGIN}\n\u0661\u0662\n{B64_ROOT}\n", id="arabic-digits"),
        pytest.param(f"{ORIGIN}\n{2**64}\n{B64_ROOT}\n", id="size-2^64"),
        pytest.param(f"{ORIGIN}\n{'9' * 5000}\n{B64_ROOT}\n", id="huge-size"),
        pytest.param(f"{ORIGIN}\n12\n{B64_ROOT[:-1]}\n", id="root-no-padding"),
        pytest.param(f"{ORIGIN}\n12\n{base64.b64encode(ROOT[:31]).decode()}\n", id="root-31"),
        pytest.param(f"{ORIGIN}\n12\n{base64.b64encode(ROOT + b'x').decode()}\n", id="root-33"),
        pytest.param(f"{ORIGIN}\n12\n{URLSAFE_ROOT}\n", id="url"),
        pytest.param(f"{ORIGIN}\n12\n{_noncanonical(B64_ROOT)}\n", id="root-noncanonical"),
        pytest.param(f"\n12\n{B64_ROOT}\n", id="empty-origin"),
        pytest.param(f"{ORIGIN}\n12\n", id="no-root"),
        pytest.param(f"{ORIGIN}\n12\n{B64_ROOT}", id="no-final-newline"),
        pytest.param(f"{ORIGIN}\n12\n{B64_ROOT}\n\n", id="empty-extension"),
        pytest.param(f"{ORIGIN}\n12\n{B64_ROOT}\next\n\n", id="empty-last-line"),
        pytest.param(f"{ORIGIN}\r\n12\n{B64_ROOT}\n", id="crlf"),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_checkpoints_are_rejected(text: str) -> None:
    with pytest.raises(CheckpointError) as info:
        parse_checkpoint(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"size": -1},
        {"size": 2**64},
        {"size": True},
        {"root": ROOT[:31]},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
    ],
    ids=str,
)
def test_checkpoint_values_check_themselves(kwargs: dict[str, Any]) -> None:
    with pytest.raises(CheckpointError):
        replace(CP, **kwargs)


def test_open_checkpoint() -> None:
    text = sign_checkpoint(CP, ORIGIN, LOG_KEY)
    assert open_checkpoint(text, ORIGIN, ORIGIN, LOG_KEY.public_key) == CP
    assert open_checkpoint(text.encode(), ORIGIN, ORIGIN, LOG_KEY.public_key) == CP


def test_open_checkpoint_refuses_missing_or_bad_log_signatures() -> None:
    by_other = sign_checkpoint(CP, ORIGIN, OTHER_KEY)
    with pytest.raises(NoteError, match="no signature by the log key"):
        open_checkpoint(by_other, ORIGIN, ORIGIN, LOG_KEY.public_key)
    good = parse_note(sign_checkpoint(CP, ORIGIN, LOG_KEY))
    forged = replace(good.signatures[0], signature=bytes(64))
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(format_note(Note(good.text, (forged,))), ORIGIN, ORIGIN, LOG_KEY.public_key)
    # A log-signed note whose other checkpoint text was swapped in.
    swapped = format_note(Note(replace(CP, size=1235).body(), good.signatures))
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(swapped, ORIGIN, ORIGIN, LOG_KEY.public_key)
    # Only a witness cosignature: not the log's signature.
    cosigned_only = format_note(Note(CP.body(), (cosign(CP.body(), WITNESS, WITNESS_KEY, 1),)))
    with pytest.raises(NoteError, match="no signature"):
        open_checkpoint(cosigned_only, ORIGIN, ORIGIN, LOG_KEY.public_key)


def test_open_checkpoint_checks_origin_and_format() -> None:
    text = sign_checkpoint(replace(CP, origin="customs.example/other-log"), ORIGIN, LOG_KEY)
    with pytest.raises(CheckpointError, match="origin"):
        open_checkpoint(text, ORIGIN, ORIGIN, LOG_KEY.public_key)
    not_a_checkpoint = _signed("just some text\n")
    with pytest.raises(CheckpointError):
        open_checkpoint(not_a_checkpoint, ORIGIN, ORIGIN, LOG_KEY.public_key)


# --- Cosignatures ----------------------------------------------------------------------


def _cosigned(cp: Checkpoint = CP, timestamp: int = 1_700_000_000) -> Note:
    body = cp.body()
    return Note(
        body, (sign_note(body, ORIGIN, LOG_KEY), cosign(body, WITNESS, WITNESS_KEY, timestamp))
    )


def test_cosignature_round_trip() -> None:
    note = parse_note(format_note(_cosigned()))
    assert verify_cosignature(note, WITNESS, WITNESS_KEY.public_key) == 1_700_000_000
    assert verify_note_signature(note, ORIGIN, LOG_KEY.public_key)


def test_cosignature_signed_message_is_the_spec_format() -> None:
    sig = cosign(CP.body(), WITNESS, WITNESS_KEY, 1679315147)
    assert (
        sig.key_id
        == hashlib.sha256(WITNESS.encode() + b"\n\x04" + WITNESS_KEY.public_key.raw).digest()[:4]
    )
    assert sig.signature[:8] == (1679315147).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1679315147\n" + CP.body().encode()
    WITNESS_KEY.public_key.verify(sig.signature[8:], message)  # Raises if not this message.


def test_cosignature_replayed_onto_another_checkpoint_fails() -> None:
    cosig = _cosigned().signatures[1]
    other = replace(CP, size=CP.size + 1)
    replayed = Note(other.body(), (cosig,))
    assert verify_cosignature(replayed, WITNESS, WITNESS_KEY.public_key) is None
    other_log = Note(replace(CP, origin="customs.example/another").body(), (cosig,))
    assert verify_cosignature(other_log, WITNESS, WITNESS_KEY.public_key) is None


def test_cosignature_tampering_fails() -> None:
    note = _cosigned()
    cosig = note.signatures[1]
    later = (1_700_000_001).to_bytes(8, "big") + cosig.signature[8:]
    cases = {
        "timestamp": replace(cosig, signature=later),
        "signature": replace(cosig, signature=cosig.signature[:-1] + b"\x00"),
        "truncated": replace(cosig, signature=cosig.signature[:70]),
        "no-timestamp": replace(cosig, signature=cosig.signature[8:]),
        "huge-timestamp": replace(cosig, signature=b"\xff" * 8 + cosig.signature[8:]),
    }
    for name, bad in cases.items():
        tampered = Note(note.text, (note.signatures[0], bad))
        assert verify_cosignature(tampered, WITNESS, WITNESS_KEY.public_key) is None, name
    # One good and one bad line from the same cosigner: rejected.
    mixed = Note(note.text, (cosig, cases["signature"]))
    assert verify_cosignature(mixed, WITNESS, WITNESS_KEY.public_key) is None


def test_cosignatures_and_note_signatures_do_not_mix() -> None:
    note = _cosigned()
    # The log's plain signature is not a cosignature (other type byte, other key ID) ...
    assert verify_cosignature(note, ORIGIN, LOG_KEY.public_key) is None
    # ... and a cosignature is not a plain note signature.
    assert not verify_note_signature(note, WITNESS, WITNESS_KEY.public_key)
    # A wrong witness key or name finds nothing.
    assert verify_cosignature(note, WITNESS, OTHER_KEY.public_key) is None
    assert verify_cosignature(note, "witness.customs.example/w2", WITNESS_KEY.public_key) is None
    # A cosignature over a note that is not a checkpoint is not accepted.
    text = "not\na checkpoint\n"
    assert verify_cosignature(Note(text, note.signatures), WITNESS, WITNESS_KEY.public_key) is None


@pytest.mark.parametrize("timestamp", [-1, MAX_TIMESTAMP + 1, True], ids=str)
def test_cosign_rejects_bad_timestamps(timestamp: int) -> None:
    with pytest.raises(NoteError, match="timestamp"):
        cosign(CP.body(), WITNESS, WITNESS_KEY, timestamp)


def test_cosign_accepts_the_timestamp_bounds_and_needs_a_checkpoint() -> None:
    for timestamp in (0, MAX_TIMESTAMP):
        note = Note(CP.body(), (cosign(CP.body(), WITNESS, WITNESS_KEY, timestamp),))
        assert verify_cosignature(note, WITNESS, WITNESS_KEY.public_key) == timestamp
    with pytest.raises(CheckpointError):
        cosign("hello\n", WITNESS, WITNESS_KEY, 1)


# --- Parsers as fuzz targets -------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_parse_note_only_raises_note_error(data: bytes | str) -> None:
    try:
        note = parse_note(data)
    except NoteError:
        return
    assert parse_note(format_note(note)) == note


SIGNED_CP = sign_checkpoint(CP, ORIGIN, LOG_KEY)


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=len(SIGNED_CP) - 1),
    action=st.sampled_from(["replace", "insert", "delete"]),
    char=st.sampled_from(["\n", " ", "—", "A", "+", "=", "0", "9", "/", "x"]),
)
def test_any_one_character_change_is_rejected(position: int, action: str, char: str) -> None:
    before, at, after = SIGNED_CP[:position], SIGNED_CP[position], SIGNED_CP[position + 1 :]
    mutated = {
        "replace": before + char + after,
        "insert": before + char + at + after,
        "delete": before + after,
    }[action]
    if mutated == SIGNED_CP:
        return
    try:
        note = parse_note(mutated)
    except NoteError:
        return
    assert not verify_note_signature(note, ORIGIN, LOG_KEY.public_key)
    with pytest.raises(NoteError):
        open_checkpoint(mutated, ORIGIN, ORIGIN, LOG_KEY.public_key)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789\n+/=Aax -", max_size=80))
def test_parse_checkpoint_only_raises_checkpoint_error(text: str) -> None:
    try:
        cp = parse_checkpoint(text)
    except CheckpointError:
        return
    assert cp.body() == text


@settings(max_examples=50, deadline=None)
@given(
    text=st.text(min_size=1, max_size=100).filter(lambda t: t.isprintable()),
    size=st.integers(min_value=0, max_value=2**64 - 1),
)
def test_signed_checkpoints_round_trip(text: str, size: int) -> None:
    origin = text.replace("\n", "")
    cp = Checkpoint(origin or "o", size, ROOT)
    opened = open_checkpoint(
        sign_checkpoint(cp, ORIGIN, LOG_KEY), cp.origin, ORIGIN, LOG_KEY.public_key
    )
    assert opened == cp
