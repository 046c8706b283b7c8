"""The offline audit of bundles and logs (scan_attestation/audit.py) and `trustlane audit bundle`.

Bundles are built in-process the way a node builds them: a DeviceAuthorization signed by the
node's did:web key, an attestation signed by the device and countersigned by the node, both
logged in an RFC 9162 tree, and a checkpoint signed by the node and cosigned by a witness. A
good bundle passes every step; each tampering fails exactly the step it should.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from credentials.data_integrity import ProofOptions, add_proof
from credentials.datetimes import format_datetime
from credentials.keys import PrivateKey
from credentials.strict_json import JSONObject
from node.cli import audit_cmd, main
from scan_attestation.attestation import (
    build_device_authorization,
    build_scan_attestation,
    device_proof_id,
    node_proof_id,
    sign_as_device,
)
from scan_attestation.audit import (
    AuditReport,
    ConsistencyProof,
    LogRebuild,
    OtherCheckpoint,
    StepStatus,
    TrustedNodes,
    audit_bundle,
    check_from_checkpoint,
    check_rebuilt_tree,
    entry_bundle_paths,
)
from scan_attestation.bundle import AttestationBundle, LogInclusion
from scan_attestation.checkpoint import Checkpoint, cosign, sign_checkpoint
from scan_attestation.log_entry import log_entry, log_origin, witness_name
from scan_attestation.merkle import MerkleTree
from scan_attestation.note import Note, format_note, parse_note
from scan_attestation.tiles import encode_entry_bundle

EU = "did:web:eu.customs.example"
US = "did:web:us.customs.example"
JP = "did:web:jp.customs.example%3A8443"
SCAN_TIME = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
STEPS = (
    "bundle",
    "device-authorization",
    "device-proof",
    "node-proof",
    "inclusion",
    "checkpoint",
    "witnesses",
    "consistency",
)


def key(n: int) -> PrivateKey:
    return PrivateKey.from_seed(bytes([n]) * 32)


NODE, NODE_2, US_KEY, JP_KEY, DEVICE, STRANGER = (key(i) for i in range(1, 7))


def signed_by_node(document: JSONObject, signer: PrivateKey, kid: str, **options: Any) -> Any:
    return add_proof(
        document,
        signer,
        ProofOptions(verification_method=f"{EU}#{kid}", created=SCAN_TIME, **options),
    )


@dataclass
class World:
    """A node's log holding one device authorisation and one countersigned attestation."""

    calibration_due: datetime = datetime(2025, 6, 30, tzinfo=UTC)
    countersigner: tuple[PrivateKey, str] = (NODE, "key-1")
    tree: MerkleTree = field(default_factory=MerkleTree)
    entries: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        authorization = build_device_authorization(
            credential_id="urn:uuid:5b1f0f5e-0000-4000-8000-000000000001",
            issuer=EU,
            device=DEVICE.public_key.did,
            name="rtm-rpm-07",
            modalities=("rpm",),
            site="NLRTM",
            valid_from=datetime(2025, 1, 1, tzinfo=UTC),
            valid_until=datetime(2026, 1, 1, tzinfo=UTC),
            calibration_due=self.calibration_due,
        )
        self.authorization = signed_by_node(authorization, NODE, "key-1")
        unsigned = build_scan_attestation(
            attestation_id="urn:uuid:5b1f0f5e-0000-4000-8000-000000000002",
            device=DEVICE.public_key.did,
            authorization_id=str(authorization["id"]),
            site="NLRTM",
            scan={
                "format": "n42",
                "modality": "rpm",
                "scanTime": format_datetime(SCAN_TIME),
                "result": "clear",
                "rawSha256": hashlib.sha256(b"raw").hexdigest(),
                "parserNotes": [],
            },
            containers=("CSQU3054383",),
        )
        device_signed = sign_as_device(unsigned, DEVICE, created=SCAN_TIME)
        signer, kid = self.countersigner
        self.attestation = signed_by_node(
            device_signed,
            signer,
            kid,
            id=node_proof_id(str(unsigned["id"])),
            previous_proof=device_proof_id(str(unsigned["id"])),
        )
        self.append(b"filler 0", b"filler 1")
        self.auth_index = self.append(log_entry(self.authorization))
        self.append(b"filler 2")
        self.index = self.append(log_entry(self.attestation))
        self.append(b"filler 3")

    def append(self, *entries: bytes) -> int:
        for entry in entries:
            self.entries.append(entry)
            self.tree.append(entry)
        return self.tree.size - 1

    def checkpoint(
        self,
        size: int | None = None,
        *,
        signer: PrivateKey = NODE,
        witnesses: tuple[tuple[str, PrivateKey], ...] = ((US, US_KEY),),
        root: bytes | None = None,
    ) -> str:
        size = self.tree.size if size is None else size
        origin = log_origin(EU)
        cp = Checkpoint(origin, size, root or self.tree.root(size))
        note = parse_note(sign_checkpoint(cp, origin, signer))
        cosignatures = tuple(
            cosign(note.text, witness_name(did), k, 1_740_000_000) for did, k in witnesses
        )
        return format_note(Note(note.text, note.signatures + cosignatures))

    def bundle(self, **checkpoint: Any) -> dict[str, Any]:
        size = self.tree.size
        value = AttestationBundle(
            attestation=self.attestation,
            device_authorization=self.authorization,
            checkpoint=self.checkpoint(**checkpoint),
            attestation_inclusion=LogInclusion(
                self.index, size, tuple(self.tree.inclusion_proof(self.index, size))
            ),
            authorization_inclusion=LogInclusion(
                self.auth_index, size, tuple(self.tree.inclusion_proof(self.auth_index, size))
            ),
        ).to_json()
        return json.loads(json.dumps(value))  # type: ignore[no-any-return]


TRUST_JSON: dict[str, Any] = {
    EU: [NODE.public_key.multibase],
    US: [US_KEY.public_key.multibase],
    JP: [JP_KEY.public_key.multibase],
}
TRUST = TrustedNodes.from_json(TRUST_JSON)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def statuses(report: AuditReport) -> dict[str, str]:
    return {s.step: s.status.value for s in report.steps}


def test_a_good_bundle_passes_every_step(world: World) -> None:
    report = audit_bundle(world.bundle(), TRUST, min_witnesses=1)
    assert [s.step for s in report.steps] == list(STEPS)
    assert report.ok, report.to_json()
    assert statuses(report)["consistency"] == "skipped"  # no --checkpoint: not a failure
    details = {s.step: s.detail for s in report.steps}
    assert (
        "rtm-rpm-07 (rpm at NLRTM) authorised by did:web:eu.customs.example"
        in (details["device-authorization"])
    )
    assert details["witnesses"] == f"1 of 2 trusted witnesses cosigned ({US})"
    assert details["inclusion"].startswith("attestation at index 4 and device authorisation")
    assert report.to_json()["ok"] is True


def test_a_key_named_by_its_multikey_and_a_second_pinned_key(world: World) -> None:
    # The node rotated: it countersigned with key-2; the auditor pinned both keys. Its
    # proofs name keys by fragment, so each pinned key is tried.
    rotated = World(countersigner=(NODE_2, "key-2"))
    trust = TrustedNodes.from_json(
        {**TRUST_JSON, EU: [NODE.public_key.multibase, NODE_2.public_key.multibase]}
    )
    assert audit_bundle(rotated.bundle(), trust).ok
    # A proof that names the pinned Multikey itself as its fragment resolves directly.
    by_multikey = World(countersigner=(NODE_2, NODE_2.public_key.multibase))
    assert audit_bundle(by_multikey.bundle(), trust).ok


def _tamper_attestation(bundle: dict[str, Any]) -> None:
    bundle["attestation"]["credentialSubject"]["scan"]["result"] = "alarm"


def _tamper_authorization(bundle: dict[str, Any]) -> None:
    bundle["deviceAuthorization"]["credentialSubject"]["name"] = "another-device"


def _wrong_inclusion_hash(bundle: dict[str, Any]) -> None:
    hashes = bundle["log"]["attestation"]["hashes"]
    hashes[0] = base64.b64encode(bytes(32)).decode()


def _wrong_inclusion_index(bundle: dict[str, Any]) -> None:
    bundle["log"]["attestation"]["index"] = 2


def _drop_node_proof(bundle: dict[str, Any]) -> None:
    bundle["attestation"]["proof"] = bundle["attestation"]["proof"][:1]


def _node_proof_unchained(bundle: dict[str, Any]) -> None:
    del bundle["attestation"]["proof"][1]["previousProof"]


@pytest.mark.parametrize(
    ("tamper", "failed"),
    [
        pytest.param(_tamper_attestation, ("device-proof", "inclusion"), id="tampered-attestation"),
        pytest.param(
            _tamper_authorization,
            ("device-authorization", "inclusion"),
            id="tampered-authorization",
        ),
        pytest.param(_wrong_inclusion_hash, ("inclusion",), id="wrong-inclusion-hash"),
        pytest.param(_wrong_inclusion_index, ("inclusion",), id="wrong-inclusion-index"),
        pytest.param(_drop_node_proof, ("device-proof", "inclusion"), id="no-node-proof"),
        pytest.param(_node_proof_unchained, ("node-proof", "inclusion"), id="unchained-node-proof"),
    ],
)
def test_tampering_fails_the_right_step(
    world: World, tamper: Callable[[dict[str, Any]], None], failed: tuple[str, ...]
) -> None:
    bundle = world.bundle()
    tamper(bundle)
    report = audit_bundle(bundle, TRUST)
    assert report.failed == failed, report.to_json()
    assert not report.ok


def test_tampered_attestation_names_the_device_proof(world: World) -> None:
    bundle = world.bundle()
    _tamper_attestation(bundle)
    steps = {s.step: s for s in audit_bundle(bundle, TRUST).steps}
    assert "the device proof does not verify" in steps["device-proof"].detail
    assert steps["node-proof"].status is StepStatus.SKIPPED


def test_authorization_past_calibration_fails_device_authorization() -> None:
    report = audit_bundle(World(calibration_due=datetime(2025, 2, 1, tzinfo=UTC)).bundle(), TRUST)
    assert report.failed == ("device-authorization",)
    assert "past its calibration due date" in report.steps[1].detail


def test_node_key_not_in_the_trust_file() -> None:
    # The node countersigned with key-2, which the auditor never pinned; its authorisation
    # and checkpoint are signed with the pinned key-1.
    report = audit_bundle(World(countersigner=(NODE_2, "key-2")).bundle(), TRUST)
    assert report.failed == ("node-proof",)
    assert "no key the trust file lists for did:web:eu.customs.example" in report.steps[3].detail


def test_node_not_in_the_trust_file(world: World) -> None:
    trust = TrustedNodes.from_json({US: TRUST_JSON[US]})
    report = audit_bundle(world.bundle(), trust)
    assert report.failed == ("device-authorization", "node-proof", "checkpoint")
    assert all(
        "not a node in the trust file" in s.detail
        for s in report.steps
        if s.step != "bundle" and s.status is StepStatus.FAIL
    )
    assert audit_bundle(world.bundle(), TrustedNodes()).failed == report.failed


def test_checkpoint_signed_by_another_key(world: World) -> None:
    report = audit_bundle(world.bundle(signer=STRANGER), TRUST)
    assert report.failed == ("checkpoint",)
    assert "no signature by the log key 'eu.customs.example/log'" in report.steps[5].detail


def test_too_few_witnesses(world: World) -> None:
    report = audit_bundle(world.bundle(), TRUST, min_witnesses=2)
    assert report.failed == ("witnesses",)
    assert (
        report.steps[6].detail == f"1 of 2 trusted witnesses cosigned ({US}); at least 2 required"
    )
    # A cosignature by a key the trust file does not list for that witness does not count.
    forged = audit_bundle(world.bundle(witnesses=((US, STRANGER),)), TRUST, min_witnesses=1)
    assert forged.failed == ("witnesses",)


def test_other_checkpoints(world: World) -> None:
    bundle = world.bundle()
    same = OtherCheckpoint("same.txt", world.checkpoint(witnesses=()))
    split = OtherCheckpoint("split.txt", world.checkpoint(root=bytes(32)))
    smaller = OtherCheckpoint("old.txt", world.checkpoint(3))
    forged = OtherCheckpoint("forged.txt", world.checkpoint(signer=STRANGER))
    garbage = OtherCheckpoint("garbage.txt", b"\xff\x00not a note")
    report = audit_bundle(bundle, TRUST, checkpoints=[same, split, smaller, forged, garbage])
    consistency = [s for s in report.steps if s.step == "consistency"]
    assert [s.status.value for s in consistency] == ["ok", "fail", "skipped", "fail", "fail"]
    assert consistency[0].detail == "same.txt: the same tree (size 6)"
    assert "split view" in consistency[1].detail
    assert "no consistency proof from size 3 to 6 was given (--proof)" in consistency[2].detail
    assert report.failed == ("consistency", "consistency", "consistency")
    # With the consistency proof the smaller checkpoint is checked, and passes.
    good = ConsistencyProof.from_json(
        {
            "first": 3,
            "second": 6,
            "hashes": [base64.b64encode(h).decode() for h in world.tree.consistency_proof(3)],
        }
    )
    assert audit_bundle(bundle, TRUST, checkpoints=[smaller], proofs=[good]).ok
    bad = ConsistencyProof(3, 6, tuple(bytes(32) for _ in good.hashes))
    report = audit_bundle(bundle, TRUST, checkpoints=[smaller], proofs=[bad])
    assert report.failed == ("consistency",)
    assert "does not verify" in report.steps[-1].detail


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "must be a JSON object"),
        ({"did:key:z6Mk": ["z6Mk"]}, "is not a did:web naming an origin"),
        ({EU: []}, "list of 1 to 16"),
        ({EU: "z6Mk"}, "list of 1 to 16"),
        ({EU: ["not a key"]}, "a key of did:web:eu.customs.example in the trust file"),
    ],
)
def test_malformed_trust_files(value: Any, message: str) -> None:
    with pytest.raises(Exception, match=message):
        TrustedNodes.from_json(value)


@pytest.mark.parametrize(
    "value",
    [None, [], {"first": 2, "second": 1, "hashes": []}, {"first": 1, "second": 2, "hashes": ["x"]}],
)
def test_malformed_consistency_proofs(value: Any) -> None:
    with pytest.raises(Exception, match="consistency proof"):
        ConsistencyProof.from_json(value)


def _mutations(value: Any, rng: random.Random) -> Any:
    """One random structural mutation somewhere in a JSON value."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        name = rng.choice(sorted(value))
        choice = rng.random()
        if choice < 0.15:
            del value[name]
        elif choice < 0.3:
            value[name] = rng.choice([None, 0, -1, 2**60, "", "x", [], {}, True, 1.5])
        else:
            value[name] = _mutations(value[name], rng)
        return value
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        if rng.random() < 0.2:
            value.pop(i)
        else:
            value[i] = _mutations(value[i], rng)
        return value
    if isinstance(value, str) and value:
        i = rng.randrange(len(value))
        return value[:i] + rng.choice(["\n", "A", "=", "\u2014 ", "#", "0"]) + value[i + 1 :]
    return rng.choice([None, 7, "z", [], {}, False])


def test_fuzzed_bundles_never_raise_and_never_pass_a_changed_document(world: World) -> None:
    rng = random.Random(20250301)  # noqa: S311 - reproducible fuzz, not a secret
    good = world.bundle()
    other = [OtherCheckpoint("c", world.checkpoint())]
    reached = 0
    for _ in range(400):
        bundle = copy.deepcopy(good)
        for _ in range(rng.randint(1, 3)):
            part = rng.choice(["attestation", "deviceAuthorization", "log", None])
            if part is None or not isinstance(bundle, dict) or part not in bundle:
                bundle = _mutations(bundle, rng)
            else:
                bundle[part] = _mutations(bundle[part], rng)
        report = audit_bundle(bundle, TRUST, checkpoints=other)
        assert report.steps[0].step == "bundle"
        reached += len(report.steps) > 1
        if report.ok:  # what passes is what the node signed (witness lines may go)
            assert bundle["attestation"] == good["attestation"]
            assert bundle["deviceAuthorization"] == good["deviceAuthorization"]
            checkpoint = bundle["log"]["checkpoint"]
            assert parse_note(checkpoint).text == parse_note(good["log"]["checkpoint"]).text
    assert reached > 50


# -- the log ---------------------------------------------------------------------------------


def _log_of(entries: list[bytes]) -> tuple[LogRebuild, MerkleTree]:
    rebuild, tree = LogRebuild(), MerkleTree(entries)
    first = 0
    for _, width in entry_bundle_paths(len(entries)):
        rebuild.add_bundle(encode_entry_bundle(entries[first : first + width]), width)
        first += width
    return rebuild, tree


def test_entry_bundle_paths() -> None:
    assert list(entry_bundle_paths(0)) == []
    assert list(entry_bundle_paths(5)) == [("tile/entries/000.p/5", 5)]
    assert list(entry_bundle_paths(512)) == [("tile/entries/000", 256), ("tile/entries/001", 256)]
    assert list(entry_bundle_paths(257))[-1] == ("tile/entries/001.p/1", 1)


def test_log_rebuild_counts_types_and_checks_roots(world: World) -> None:
    entries = [log_entry(world.authorization), log_entry(world.attestation)] * 150
    rebuild, tree = _log_of(entries)
    assert rebuild.entry_types() == {"DeviceAuthorization": 150, "ScanAttestation": 150}
    assert rebuild.check_entries().status is StepStatus.OK
    origin = log_origin(EU)
    checkpoint = Checkpoint(origin, 300, tree.root())
    assert check_rebuilt_tree(rebuild, checkpoint).status is StepStatus.OK
    assert check_rebuilt_tree(rebuild, Checkpoint(origin, 300, bytes(32))).status is StepStatus.FAIL
    assert check_rebuilt_tree(rebuild, Checkpoint(origin, 301, tree.root())).status is (
        StepStatus.FAIL
    )
    old = OtherCheckpoint(
        "old", sign_checkpoint(Checkpoint(origin, 10, tree.root(10)), origin, NODE)
    )
    assert check_from_checkpoint(old, rebuild, checkpoint, EU, TRUST).status is StepStatus.OK
    rewritten = sign_checkpoint(Checkpoint(origin, 10, bytes(32)), origin, NODE)
    result = check_from_checkpoint(OtherCheckpoint("x", rewritten), rebuild, checkpoint, EU, TRUST)
    assert "rewrote its history" in result.detail
    larger = sign_checkpoint(Checkpoint(origin, 400, bytes(32)), origin, NODE)
    result = check_from_checkpoint(OtherCheckpoint("y", larger), rebuild, checkpoint, EU, TRUST)
    assert "rollback" in result.detail


def test_log_rebuild_reports_foreign_entries_and_bad_bundles() -> None:
    rebuild, _ = _log_of([b"not json", b'{"v":1}'])
    result = rebuild.check_entries()
    assert result.status is StepStatus.FAIL
    assert result.detail.startswith("2 of 2 entries are not trustlane log entries (first: index 0")
    with pytest.raises(ValueError, match="entries"):
        LogRebuild().add_bundle(encode_entry_bundle([b"a", b"b"]), 3)


# -- the CLI (offline) -----------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path: Path, world: World) -> Path:
    (tmp_path / "bundle.json").write_text(json.dumps(world.bundle()))
    (tmp_path / "trust.json").write_text(json.dumps(TRUST_JSON))
    (tmp_path / "old.txt").write_text(world.checkpoint(3))
    proof = [base64.b64encode(h).decode() for h in world.tree.consistency_proof(3)]
    (tmp_path / "proof.json").write_text(json.dumps({"first": 3, "second": 6, "hashes": proof}))
    return tmp_path


def test_cli_good_bundle(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    code, out, err = run(
        capsys,
        "audit",
        "bundle",
        str(files / "bundle.json"),
        "--trust",
        str(files / "trust.json"),
        "--checkpoint",
        str(files / "old.txt"),
        "--proof",
        str(files / "proof.json"),
        "--min-witnesses",
        "1",
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"ok   {s}" for s in STEPS]
    assert lines[-1] == f"ok   consistency: {files / 'old.txt'}: consistent from size 3 to 6 " + (
        "(consistency proof)"
    )


def test_cli_json_and_failures(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    args = ["audit", "bundle", str(files / "bundle.json"), "--trust", str(files / "trust.json")]
    code, out, _ = run(capsys, *args, "--json", "--min-witnesses", "2")
    assert code == 1
    value = json.loads(out)
    assert value["ok"] is False
    assert [s["step"] for s in value["steps"]] == list(STEPS)
    assert {s["step"]: s["status"] for s in value["steps"]}["witnesses"] == "fail"
    assert value["steps"][-1] == {
        "step": "consistency",
        "status": "skipped",
        "detail": "no other checkpoint given (--checkpoint)",
    }
    code, out, _ = run(capsys, *args, "--checkpoint", str(files / "old.txt"))
    assert code == 0  # skipped (no proof) is not a failure
    assert out.splitlines()[-1].startswith("skip consistency: ")
    code, out, err = run(capsys, "audit", "bundle", str(files / "bundle.json"))
    assert code == 1
    assert "no --trust file" in err
    assert "FAIL node-proof: did:web:eu.customs.example is not a node in the trust file" in out


@pytest.mark.parametrize(
    ("name", "content", "option", "expected"),
    [
        ("trust.json", "[1]", "--trust", "top-level JSON value must be an object"),
        ("trust.json", '{"did:web:a.example": ["z6Mk"]}', "--trust", "a key of did:web:a"),
        ("trust.json", "{", "--trust", "MALFORMED_JSON"),
        ("bundle.json", "not json", None, "MALFORMED_JSON"),
        ("proof.json", '{"first": 1}', "--proof", "a consistency proof needs sizes"),
        ("missing.txt", None, "--checkpoint", "cannot read: No such file or directory"),
    ],
)
def test_cli_unreadable_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    files: Path,
    name: str,
    content: str | None,
    option: str | None,
    expected: str,
) -> None:
    bad = files / "bad" / name
    bad.parent.mkdir()
    if content is not None:
        bad.write_text(content)
    args = {
        "--trust": str(files / "trust.json"),
        "--proof": str(files / "proof.json"),
        "--checkpoint": str(files / "old.txt"),
    }
    bundle = str(files / "bundle.json")
    if option is None:
        bundle = str(bad)
    else:
        args[option] = str(bad)
    argv = ["audit", "bundle", bundle]
    for flag, value in args.items():
        argv += [flag, value]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("trustlane: error: ")
    assert expected in err
    assert err.count("\n") == 1


def test_cli_fuzzed_files_never_trace(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    rng = random.Random(7)  # noqa: S311 - reproducible fuzz, not a secret
    data = (files / "bundle.json").read_bytes()
    target = files / "fuzzed.json"
    for _ in range(60):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        target.write_bytes(bytes(mutated))
        code, out, err = run(
            capsys, "audit", "bundle", str(target), "--trust", str(files / "trust.json"), "--json"
        )
        assert code in (1, 2) or json.loads(out)["ok"]
        assert "Traceback" not in err
        assert code != 2 or err.count("\n") == 1


def test_cli_control_characters_never_reach_the_terminal(
    capsys: pytest.CaptureFixture[str], files: Path, world: World
) -> None:
    bundle = world.bundle()
    bundle["attestation"]["id"] = "urn:x\u009b[2J\nFAKE"
    (files / "evil.json").write_text(json.dumps(bundle))
    code, out, _ = run(
        capsys, "audit", "bundle", str(files / "evil.json"), "--trust", str(files / "trust.json")
    )
    assert code == 1
    assert "\u009b" not in out
    assert all(line[:4] in ("ok  ", "FAIL", "skip") for line in out.splitlines())


LOCAL = "http://127.0.0.1:8443"
LOCAL_DID = "did:web:127.0.0.1%3A8443"


def test_cli_audit_log_against_an_in_memory_log(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    world: World,
) -> None:
    origin = log_origin(LOCAL_DID)
    note = sign_checkpoint(Checkpoint(origin, 6, world.tree.root()), origin, NODE)
    served = {
        f"{LOCAL}/checkpoint": note.encode(),
        f"{LOCAL}/tile/entries/000.p/6": encode_entry_bundle(world.entries),
    }

    def factory(**_: Any) -> Callable[[str], bytes]:
        return lambda url: served[url]

    monkeypatch.setattr(audit_cmd, "http_fetch", factory)
    (tmp_path / "trust.json").write_text(json.dumps({LOCAL_DID: [NODE.public_key.multibase]}))
    args = ["audit", "log", LOCAL + "/", "--trust", str(tmp_path / "trust.json")]
    code, out, err = run(capsys, *args)
    # The fillers are not trustlane entries: the tree is right, the entries step fails.
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[0] == (
        "ok   checkpoint: 127.0.0.1:8443/log size 6 signed by did:web:127.0.0.1%3A8443 "
        f"(key {NODE.public_key.multibase[:12]}...{NODE.public_key.multibase[-4:]})"
    )
    assert lines[1].startswith(
        "FAIL entries: 4 of 6 entries are not trustlane log entries (first: index 0: log entry "
        "is not JSON"
    )
    assert lines[2:] == [
        "ok   tree: the rebuilt root of size 6 is the checkpoint's root",
        "skip from-checkpoint: no --from-checkpoint given",
    ]
    rng = random.Random(11)  # noqa: S311 - reproducible fuzz, not a secret
    good_tile = served[f"{LOCAL}/tile/entries/000.p/6"]
    for _ in range(40):
        for url, good in (
            (f"{LOCAL}/checkpoint", note.encode()),
            (f"{LOCAL}/tile/entries/000.p/6", good_tile),
        ):
            mutated = bytearray(good)
            mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
            served[url] = bytes(mutated)
            code, out, err = run(capsys, *args, "--json")
            assert code == 1
            assert json.loads(out)["ok"] is False
            served[url] = good
