"""CLI conventions (docs/cli.md): ``--json`` everywhere, one-line errors that say what to do next.

The cases are generated from the parser: every command that takes ``--data-dir`` is run without
one and with one that holds no node; the commands that read files are run with a missing file,
a folder and (where JSON is expected) broken JSON. Every error must be one
``trustlane: error:`` line, exit 2, no traceback, and name a next step (see
:func:`names_a_next_step`).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.cli import build_parser, main

MB = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"

# A next step is an option to pass, a variable to set, a command to run, or an imperative
# verb opening a clause ("...: check the path", "; fix the file").
_ACTIONS = (
    "check|set|pass|give|use|run|restore|fix|type|choose|free|remove|try|install|start|create"
)
_NEXT_STEP = re.compile(
    r"--[a-z][a-z-]*"
    r"|\$?TRUSTLANE_[A-Z_]+"
    r"|[`']trustlane [a-z]"
    rf"|(?:^|[:;(]\s*)(?:{_ACTIONS})\b"
)


def names_a_next_step(message: str) -> bool:
    """True when an error message tells the operator what to do (the rule of docs/cli.md)."""
    return _NEXT_STEP.search(message) is not None


def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command: its words and its parser."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from leaves(child, (*path, name))


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


COMMANDS = dict(leaves(build_parser()))

# Commands without --json, and why.
NO_JSON = {
    ("node", "serve"): "runs the server until stopped; prints no result",
    ("proof", "sign"): "prints the signed document, always JSON",
}

# --data-dir is optional (not a node) for these.
OWN_DATA_DIR = {("demo",), ("credential", "verify")}

# Values for required options and positionals, so that the data directory is what fails.
FILL = {
    "name": "us",
    "base_url": "https://eu.customs.example",
    "modality": "xray",
    "site": "NLRTM",
    "out": "{tmp}/out",
    "scope": "admin",
    "did": "did:web:us.customs.example",
    "key": MB,
    "compromised_since": "2026-01-01T00:00:00Z",
    "peer": "us",
    "recognitions": "{tmp}/object.json",
    "kid": "key-1",
    "token_id": "tok",
    "id": "urn:uuid:00000000-0000-4000-8000-000000000000",
    "subject": "{tmp}/object.json",
    "register": "{tmp}/register.csv",
    "trader": "trader-1",
    "file": "{tmp}/object.json",
    "declaration": "{tmp}/object.json",
    "device": "rtm-1",
}
EXTRA = {("risk", "watch-list", "add"): ["--container", "MSKU9070323"]}


def filled(words: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    argv = list(words)
    for action in parser._actions:
        if action.option_strings and action.required:
            argv += [action.option_strings[0], FILL[action.dest]]
        elif not action.option_strings and not isinstance(action, argparse._SubParsersAction):
            argv.append(FILL[action.dest])
    return argv + EXTRA.get(words, [])


DATA_DIR_COMMANDS = sorted(
    words
    for words, parser in COMMANDS.items()
    if "--data-dir" in options(parser) and words not in OWN_DATA_DIR
)

# Commands reading a file, with the argument that names it ({f}), and whether it is JSON.
FILE_COMMANDS: list[tuple[list[str], bool]] = [
    (["proof", "verify", "{f}"], True),
    (["credential", "verify", "{f}"], False),
    (["proof", "sign", "{f}", "--key", "{tmp}/object.json"], True),
    (["key", "generate", "--out", "{f}"], False),
    (["aeo", "issue", "{f}"], True),
    (["aeo", "import", "{f}", "--format", "csv"], False),
    (["config", "check", "{f}"], False),
    (["registry", "identifiers", "import", "{f}"], False),
    (["registry", "mra", "propose", "--peer", "us", "--recognitions", "{f}"], True),
    (["risk", "assess", "{f}"], True),
    (["scan", "parse", "{f}"], True),
    (["audit", "bundle", "{f}"], True),
    (["audit", "bundle", "{tmp}/object.json", "--trust", "{f}"], True),
    (["audit", "log", "https://eu.customs.example", "--trust", "{f}"], True),
    (["simulate", "--policy", "{f}"], True),
    (["device", "simulate", "--device", "{f}", "--count", "1"], False),
    (["demo", "--data-dir", "{tmp}/object.json", "--json"], False),
    (
        ["node", "init", "--data-dir", "{tmp}/object.json", "--name", "x", "--base-url", "{u}"],
        False,
    ),
]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("TRUSTLANE_DATA_DIR", "TRUSTLANE_DATABASE_URL", "TRUSTLANE_WALLET_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRUSTLANE_KEYSTORE_PASSPHRASE", "node passphrase for tests")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "object.json").write_text("{}\n")
    (tmp_path / "register.csv").write_text("id\n")
    (tmp_path / "broken.json").write_text('{"a": ')
    (tmp_path / "folder").mkdir()


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(
    code: int, out: str, err: str, tmp_path: Path, *, exit_code: int | None = 2
) -> str:
    """One error line (after any warnings), a non-zero exit, no traceback, a next step."""
    assert code != 0 if exit_code is None else code == exit_code, (code, out, err)
    assert out == "", "errors never go to stdout"
    assert "Traceback" not in err
    lines = err.splitlines()
    assert err.endswith("\n") and lines, err
    errors = [line for line in lines if line.startswith("trustlane: error: ")]
    assert len(errors) == 1, err
    assert all(line.startswith("trustlane: warning: ") for line in lines[:-1]), err
    message = errors[0].removeprefix("trustlane: error: ").replace(str(tmp_path), "<tmp>")
    assert names_a_next_step(message), f"no next step in: {message}"
    return message


# -- the rule itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "x.json: cannot read: No such file or directory",
        "MALFORMED_JSON: invalid JSON: Expecting value at line 1 column 1",
        "http://127.0.0.1:1/checkpoint: ConnectionError",
        "wrong passphrase for the wallet at w",
    ],
)
def test_the_rule_refuses_messages_without_a_next_step(message: str) -> None:
    # The old messages, before this rule: the test below would have failed on them.
    assert not names_a_next_step(message)


@pytest.mark.parametrize(
    "message",
    [
        "x.json: cannot read: No such file or directory: check the path",
        "no node data directory: pass --data-dir or set TRUSTLANE_DATA_DIR",
        "INVALID_CONFIG: node.toml not found: run 'trustlane node init' first",
        "bad.json: MALFORMED_JSON: invalid JSON; fix the file",
    ],
)
def test_the_rule_accepts_messages_with_a_next_step(message: str) -> None:
    assert names_a_next_step(message)


# -- --json -------------------------------------------------------------------------------


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
def test_every_command_that_prints_results_takes_json(words: tuple[str, ...]) -> None:
    has_json = "--json" in options(COMMANDS[words])
    assert has_json != (words in NO_JSON), f"trustlane {' '.join(words)}"


def test_docs_list_every_command() -> None:
    text = DOCS.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `trustlane ([a-z -]+?)`", text, flags=re.MULTILINE))
    assert listed == {" ".join(words) for words in COMMANDS}


def test_json_output_is_one_document_and_nothing_else(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, ["key", "generate", "--json"])
    assert (code, err) == (0, "")
    assert json.loads(out)["publicKeyMultibase"].startswith("z6Mk")
    code, out, err = run(capsys, ["key", "generate", "--out", "k.json", "--json"])
    assert (code, err) == (0, "")
    assert set(json.loads(out)) == {"id", "publicKeyMultibase"}
    code, out, err = run(
        capsys, ["simulate", "--declarations", "200", "--seeds", "1", "--json", "--seed", "3"]
    )
    assert (code, err) == (0, "")
    assert isinstance(json.loads(out), dict)


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "where"),
    [
        pytest.param(words, where, id=f"{where}-{' '.join(words)}")
        for where in ("unset", "absent")
        for words in DATA_DIR_COMMANDS
        # init creates an absent data directory: only an unset one is an error there.
        if not (where == "absent" and words == ("node", "init"))
    ],
)
def test_a_missing_data_dir_says_what_to_do(
    words: tuple[str, ...], where: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in filled(words, COMMANDS[words])]
    if where == "absent":
        argv += ["--data-dir", str(tmp_path / "absent")]
    assert_refused(*run(capsys, argv), tmp_path)


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        pytest.param(argv, kind, id=f"{' '.join(a for a in argv if '{' not in a)}-{kind}")
        for argv, is_json in FILE_COMMANDS
        for kind in ("missing", "folder", *(("broken",) if is_json else ()))
        if "{f}" in argv
    ],
)
def test_a_bad_input_file_says_what_to_do(
    argv: list[str], kind: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = {"missing": "nowhere/missing.json", "folder": "folder", "broken": "broken.json"}[kind]
    if argv[:2] == ["key", "generate"] and kind != "missing":
        target = "folder"  # refused as existing; broken JSON is no input for it
    args = [a.replace("{f}", str(tmp_path / target)).replace("{tmp}", str(tmp_path)) for a in argv]
    assert_refused(*run(capsys, args), tmp_path)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(argv, id=" ".join(a for a in argv if "{" not in a))
        for argv, _ in FILE_COMMANDS
        if "{f}" not in argv
    ],
)
def test_a_file_where_a_folder_belongs_says_what_to_do(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = [
        a.replace("{tmp}", str(tmp_path)).replace("{u}", "https://eu.customs.example") for a in argv
    ]
    assert_refused(*run(capsys, args), tmp_path)


def command_of(argv: list[str]) -> tuple[str, ...]:
    return max((tuple(argv[:k]) for k in range(1, 4) if tuple(argv[:k]) in COMMANDS), key=len)


def test_every_command_is_run_with_bad_input() -> None:
    covered = set(DATA_DIR_COMMANDS) | {command_of(argv) for argv, _ in FILE_COMMANDS}
    covered |= {("wallet", w) for w in ("init", "list", "show", "export", "delete")}
    covered |= {("wallet", "receive"), ("wallet", "present"), ("audit", "log")}
    missing = {w for w in COMMANDS if w not in covered}
    assert not missing, sorted(missing)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_node_says_what_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    message = assert_refused(*run(capsys, ["audit", "log", url]), tmp_path)
    assert "the node is not reachable" in message and "trustlane node serve" in message


@pytest.fixture(scope="module")
def wallet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wallet") / "w"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRUSTLANE_WALLET_PASSPHRASE", "the right one")
        assert main(["wallet", "init", "--dir", str(directory), "--json"]) == 0
    return directory


def test_wallet_errors_say_what_to_do(
    wallet: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    capsys.readouterr()
    url = f"http://127.0.0.1:{_closed_port()}"
    receive = ["wallet", "receive", "--dir", str(wallet), "--from", url, "--code", "c"]
    monkeypatch.setenv("TRUSTLANE_WALLET_PASSPHRASE", "a wrong one")
    message = assert_refused(*run(capsys, [*receive, "--tx-code", "1"]), tmp_path)
    assert message.startswith("wrong passphrase") and "TRUSTLANE_WALLET_PASSPHRASE" in message
    monkeypatch.setenv("TRUSTLANE_WALLET_PASSPHRASE", "the right one")
    message = assert_refused(*run(capsys, [*receive, "--tx-code", "1"]), tmp_path, exit_code=None)
    assert "cannot reach the node" in message
    for words in (["list"], ["show", "x"], ["export", "x"], ["delete", "x"]):
        argv = ["wallet", *words, "--dir", str(tmp_path / "nowallet")]
        assert_refused(*run(capsys, argv), tmp_path)
    present = ["--consignment", "6GB123456789000-12345", "--port", "NLRTM"]
    assert_refused(
        *run(capsys, ["wallet", "present", "--dir", str(tmp_path / "nowallet"), *present]),
        tmp_path,
    )
    monkeypatch.delenv("TRUSTLANE_WALLET_PASSPHRASE")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal to ask on
    assert_refused(*run(capsys, ["wallet", "init", "--dir", str(tmp_path / "w2")]), tmp_path)
