"""The example systemd unit (``deploy/systemd/trustlane-node.service``, issue 15).

Parsed like an INI file (no systemd needed): its ``ExecStart`` must be a ``trustlane node
serve`` command the real CLI parser accepts, for the data directory the unit lets the node
write, and systemd must wait longer than the node's drain takes before it kills anything.
"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest

from federation_config.settings import NodeSettings
from node.cli import build_parser
from node.cli.node_cmd import register
from node.server import stop_bound

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "trustlane-node.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True, empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"), source=str(UNIT))
    return parser


def _seconds(value: str) -> float:
    """A systemd time span in the forms this unit may use: ``30``, ``30s``, ``1min 30s``."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60}
    total = 0.0
    parts = value.split()
    assert parts, "empty time span"
    for part in parts:
        match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([a-z]*)", part)
        assert match is not None and match.group(2) in units, value
        total += float(match.group(1)) * units[match.group(2)]
    return total


def test_unit_has_the_sections_and_hardening() -> None:
    unit = _unit()
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    service = unit["Service"]
    assert service["User"] and service["User"] != "root"
    assert service["KillSignal"] == "SIGTERM"
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "yes"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_exec_start_is_a_real_node_serve_command_for_the_writable_data_dir() -> None:
    service = _unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "trustlane"
    assert Path(argv[0]).is_absolute()  # systemd wants an absolute path
    try:
        args = build_parser().parse_args(argv[1:])
    except SystemExit as e:  # argparse refused the options
        pytest.fail(f"ExecStart is not a valid trustlane command: {argv[1:]} ({e})")
    assert (args.command, args.node_command) == ("node", "serve")
    assert args.func.__module__ == register.__module__
    assert args.func.__name__ == "_serve"
    data_dir = args.data_dir
    assert data_dir is not None
    assert service["ReadWritePaths"].split() == [data_dir]
    assert service["WorkingDirectory"] == data_dir
    assert f"TRUSTLANE_DATA_DIR={data_dir}" in service["Environment"].split()


def test_systemd_waits_longer_than_the_drain() -> None:
    service = _unit()["Service"]
    args = build_parser().parse_args(shlex.split(service["ExecStart"])[1:])
    drain = args.drain_timeout
    if drain is None:  # the node.toml default applies
        drain = NodeSettings.__dataclass_fields__["drain_timeout_seconds"].default
    assert isinstance(drain, float)
    stop_timeout = _seconds(service["TimeoutStopSec"])
    assert stop_timeout > drain
    # After the drain the node needs a few seconds to cut what is left and exit.
    assert stop_timeout > stop_bound(drain)
