"""Progress on long CLI operations: on a terminal's stderr only, never with ``--json``.

A pseudo-terminal stands in for the operator's terminal; captured (non-terminal) stderr
stands in for a script or a log.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pty
import select
import sys
from collections.abc import Iterator

import pytest

from node.cli import _io, main, simulate_cmd

SMALL = ["simulate", "--declarations", "300", "--seeds", "2", "--seed", "5"]


@pytest.fixture
def terminal() -> Iterator[tuple[int, io.TextIOWrapper]]:
    """A pseudo-terminal: the master fd to read it and a writer on its slave side.

    Tests put the writer in ``sys.stderr`` themselves: pytest's capture replaces
    ``sys.stderr`` again when the test body starts.
    """
    master, slave = pty.openpty()
    writer = open(slave, "w", encoding="utf-8", closefd=True)
    try:
        yield master, writer
    finally:
        writer.close()
        os.close(master)


def drain(master: int) -> str:
    chunks = []
    while select.select([master], [], [], 0.2)[0]:
        data = os.read(master, 65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8")


@pytest.fixture(autouse=True)
def _long(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1,200 decisions count as a long run here.
    monkeypatch.setattr(simulate_cmd, "_PROGRESS_FROM", 1000)


def test_a_terminal_gets_a_progress_line_rewritten_in_place(
    terminal: tuple[int, io.TextIOWrapper],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    master, writer = terminal
    monkeypatch.setattr(sys, "stderr", writer)
    assert main(SMALL) == 0
    writer.flush()
    shown = drain(master)
    assert "\rsimulate: 100 % (1,200/1,200 decisions)" in shown
    # Rewritten in place: one carriage return per update, one newline at the end.
    assert shown.count("\rsimulate: ") > 2
    assert shown.rstrip("\r\n").count("\n") == 0
    # stdout holds the result only.
    out = capsys.readouterr().out
    assert out and "decisions)" not in out and "\r" not in out


def test_json_on_a_terminal_shows_no_progress(
    terminal: tuple[int, io.TextIOWrapper],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    master, writer = terminal
    monkeypatch.setattr(sys, "stderr", writer)
    assert main([*SMALL, "--json"]) == 0
    writer.flush()
    assert drain(master) == ""
    assert isinstance(json.loads(capsys.readouterr().out), dict)


def test_json_with_progress_asked_shows_it_on_stderr_only(
    terminal: tuple[int, io.TextIOWrapper],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    master, writer = terminal
    monkeypatch.setattr(sys, "stderr", writer)
    assert main([*SMALL, "--json", "--progress"]) == 0
    writer.flush()
    assert "simulate: 100 %" in drain(master)
    assert isinstance(json.loads(capsys.readouterr().out), dict)


def test_no_terminal_no_progress(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(SMALL) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "\r" not in out and "%" not in out.splitlines()[0]


@pytest.mark.parametrize(
    ("tty", "progress", "as_json", "wanted"),
    [
        (True, False, False, True),
        (True, False, True, False),
        (True, True, True, True),
        (False, False, False, False),
        (False, True, False, True),
        (False, False, True, False),
    ],
)
def test_progress_wanted(
    tty: bool, progress: bool, as_json: bool, wanted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    monkeypatch.setattr(sys, "stderr", Stream())
    args = argparse.Namespace(progress=progress, json=as_json)
    assert _io.progress_wanted(args) is wanted
    # Commands without --progress or --json follow the terminal.
    assert _io.progress_wanted(argparse.Namespace()) is tty
