"""Unit tests for federation_config.loader: node.toml's [server] section (ADR 0002).

``[server]`` carries the HTTP server settings of :class:`NodeSettings`
(``request_read_timeout_seconds``, ``keepalive_seconds``, ``threads``,
``max_connections``, ``drain_timeout_seconds``); ``TRUSTLANE_SERVER_<KEY>`` overrides each
one. Bad values are refused with one line naming the key (or the variable) and the value.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials.errors import MalformedInputError
from federation_config.loader import (
    CONFIG_NAME,
    MAX_SERVER_SECONDS,
    dump,
    load,
    server_env_var,
)
from federation_config.settings import NodeSettings

NODE = {"name": "EU customs", "base_url": "https://eu.customs.example"}


def write(directory: Path, server: dict[str, Any] | None = None, **sections: Any) -> Path:
    document: dict[str, Any] = {"node": NODE, **sections}
    if server is not None:
        document["server"] = server
    (directory / CONFIG_NAME).write_text(tomli_w.dumps(document), encoding="utf-8")
    return directory


def load_error(directory: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(MalformedInputError) as caught:
        load(directory, environ or {})
    assert caught.value.code == "INVALID_CONFIG"
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults_without_a_server_section(tmp_path: Path) -> None:
    settings = load(write(tmp_path), {})
    assert settings.request_read_timeout_seconds == 10.0
    assert settings.keepalive_seconds == 5.0
    assert settings.server_threads == 8
    assert settings.server_max_connections == 1000


def test_server_section_is_read(tmp_path: Path) -> None:
    server = {
        "request_read_timeout_seconds": 3,
        "keepalive_seconds": 0.5,
        "threads": 4,
        "max_connections": 200,
    }
    settings = load(write(tmp_path, server), {})
    assert settings.request_read_timeout_seconds == 3.0
    assert isinstance(settings.request_read_timeout_seconds, float)
    assert settings.keepalive_seconds == 0.5
    assert settings.server_threads == 4
    assert settings.server_max_connections == 200


def test_partial_server_section_keeps_the_other_defaults(tmp_path: Path) -> None:
    settings = load(write(tmp_path, {"threads": 2}), {})
    assert settings.server_threads == 2
    assert settings.request_read_timeout_seconds == 10.0
    assert settings.server_max_connections == 1000


def test_drain_timeout_defaults_to_10_s_and_is_read_from_file_and_environment(
    tmp_path: Path,
) -> None:
    # Issue 15: how long `node serve` drains requests in progress on SIGTERM or SIGINT.
    assert load(write(tmp_path), {}).drain_timeout_seconds == 10.0
    assert load(write(tmp_path, {"drain_timeout_seconds": 3}), {}).drain_timeout_seconds == 3.0
    var = server_env_var("drain_timeout_seconds")
    assert var == "TRUSTLANE_SERVER_DRAIN_TIMEOUT_SECONDS"
    assert load(write(tmp_path), {var: "25.5"}).drain_timeout_seconds == 25.5
    assert "server.drain_timeout_seconds must be more than 0" in load_error(
        write(tmp_path, {"drain_timeout_seconds": 0})
    )
    assert "must be a number of seconds" in load_error(write(tmp_path), {var: "-1"})


def test_env_var_names() -> None:
    assert server_env_var("threads") == "TRUSTLANE_SERVER_THREADS"
    assert (
        server_env_var("request_read_timeout_seconds")
        == "TRUSTLANE_SERVER_REQUEST_READ_TIMEOUT_SECONDS"
    )


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    directory = write(tmp_path, {"threads": 4, "keepalive_seconds": 2})
    environ = {
        "TRUSTLANE_SERVER_THREADS": "16",
        "TRUSTLANE_SERVER_MAX_CONNECTIONS": "50",
        "TRUSTLANE_SERVER_REQUEST_READ_TIMEOUT_SECONDS": "2.5",
        "TRUSTLANE_SERVER_KEEPALIVE_SECONDS": "",  # empty counts as unset
    }
    settings = load(directory, environ)
    assert settings.server_threads == 16
    assert settings.server_max_connections == 50
    assert settings.request_read_timeout_seconds == 2.5
    assert settings.keepalive_seconds == 2.0


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ({"threads": 0}, "server.threads must be at least 1 (got 0)"),
        ({"threads": -3}, "server.threads must be at least 1 (got -3)"),
        ({"threads": 2.5}, "server.threads must be int"),
        ({"threads": True}, "server.threads must be int"),
        ({"threads": "8"}, "server.threads must be int"),
        ({"max_connections": 0}, "server.max_connections must be at least 1 (got 0)"),
        (
            {"request_read_timeout_seconds": 0},
            "server.request_read_timeout_seconds must be more than 0 and at most 3600 seconds "
            "(got 0)",
        ),
        (
            {"keepalive_seconds": -0.5},
            "server.keepalive_seconds must be more than 0 and at most 3600 seconds (got -0.5)",
        ),
        (
            {"keepalive_seconds": math.nan},
            "server.keepalive_seconds must be more than 0 and at most 3600 seconds (got nan)",
        ),
        (
            {"request_read_timeout_seconds": math.inf},
            "server.request_read_timeout_seconds must be more than 0 and at most 3600 seconds "
            "(got inf)",
        ),
        (
            {"request_read_timeout_seconds": MAX_SERVER_SECONDS + 1},
            "server.request_read_timeout_seconds must be more than 0 and at most 3600 seconds "
            "(got 3601)",
        ),
        ({"keepalive_seconds": "5"}, "server.keepalive_seconds must be a number"),
        ({"keepalive_seconds": False}, "server.keepalive_seconds must be a number"),
        ({"workers": 4}, "unknown key server.workers"),
    ],
)
def test_bad_file_values_are_named(tmp_path: Path, server: dict[str, Any], expected: str) -> None:
    directory = write(tmp_path, server)
    assert load_error(directory) == f"{directory.resolve() / CONFIG_NAME}: {expected}"


def test_server_must_be_a_table(tmp_path: Path) -> None:
    (tmp_path / CONFIG_NAME).write_text(
        'server = "fast"\n' + tomli_w.dumps({"node": NODE}), encoding="utf-8"
    )
    assert load_error(tmp_path).endswith(": [server] must be a table")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("threads", "many", "must be a whole number (got 'many')"),
        ("threads", "8.0", "must be a whole number (got '8.0')"),
        ("threads", "-1", "must be a whole number (got '-1')"),
        ("threads", "0", "must be at least 1 (got 0)"),
        ("max_connections", "1_000", "must be a whole number (got '1_000')"),
        ("request_read_timeout_seconds", "nan", "must be a number of seconds (got 'nan')"),
        ("request_read_timeout_seconds", "inf", "must be a number of seconds (got 'inf')"),
        ("request_read_timeout_seconds", "1e3", "must be a number of seconds (got '1e3')"),
        ("request_read_timeout_seconds", "10s", "must be a number of seconds (got '10s')"),
        (
            "keepalive_seconds",
            "0",
            "must be more than 0 and at most 3600 seconds (got 0.0)",
        ),
        (
            "keepalive_seconds",
            "7200",
            "must be more than 0 and at most 3600 seconds (got 7200.0)",
        ),
    ],
)
def test_bad_environment_values_name_the_variable(
    tmp_path: Path, key: str, value: str, expected: str
) -> None:
    var = server_env_var(key)
    # The variable is checked even when the file's value is fine.
    directory = write(tmp_path, {key: 1})
    assert load_error(directory, {var: value}) == f"${var} {expected}"


def test_environment_values_may_have_surrounding_spaces(tmp_path: Path) -> None:
    settings = load(write(tmp_path), {"TRUSTLANE_SERVER_THREADS": " 3\n"})
    assert settings.server_threads == 3


def test_dump_writes_the_server_section(tmp_path: Path) -> None:
    settings = NodeSettings(
        name="EU customs",
        base_url="https://eu.customs.example",
        data_dir=tmp_path.resolve(),
        database_url="sqlite:///node.db",
        keepalive_seconds=2.5,
        server_threads=3,
    )
    text = dump(settings)
    assert "[server]" in text
    assert "threads = 3\n" in text
    assert "keepalive_seconds = 2.5\n" in text


def _round_trip(settings: NodeSettings) -> NodeSettings:
    (settings.data_dir / CONFIG_NAME).write_text(dump(settings), encoding="utf-8")
    return load(settings.data_dir, {})


def test_dump_round_trips_every_setting(tmp_path: Path) -> None:
    data_dir = tmp_path.resolve()
    settings = NodeSettings(
        name="EU customs (DE)",
        base_url="https://eu.customs.example:8443",
        data_dir=data_dir,
        database_url="postgresql+psycopg://trustlane@db/trustlane",
        tls_cert=data_dir / "tls" / "cert.pem",
        tls_key=data_dir / "tls" / "key.pem",
        passphrase_file=data_dir / "secrets" / "passphrase",
        status_list_size=262_144,
        status_list_valid_seconds=3600,
        status_list_cache_seconds=30,
        credential_valid_days=365,
        max_request_bytes=65_536,
        clock_skew_seconds=60,
        request_read_timeout_seconds=3.25,
        keepalive_seconds=1.0,
        server_threads=10,
        server_max_connections=64,
        drain_timeout_seconds=4.5,
        key_max_age_days=90,
        key_publish_wait_seconds=600,
    )
    assert _round_trip(settings) == settings


def test_keys_section_sets_the_rotation_policy(tmp_path: Path) -> None:
    # Issue 14: [keys] max_age_days makes the scheduler rotate; without it, only by hand.
    assert load(write(tmp_path), {}).key_max_age_days is None
    settings = load(write(tmp_path, keys={"max_age_days": 90, "publish_wait_seconds": 120}), {})
    assert (settings.key_max_age_days, settings.key_publish_wait_seconds) == (90, 120)
    assert "keys.max_age_days must be in" in load_error(write(tmp_path, keys={"max_age_days": 0}))
    assert "unknown key keys.max_age" in load_error(write(tmp_path, keys={"max_age": 90}))


@settings(max_examples=50, deadline=None)
@given(
    read_timeout=st.floats(min_value=0.001, max_value=MAX_SERVER_SECONDS),
    keepalive=st.floats(min_value=0.001, max_value=MAX_SERVER_SECONDS),
    threads=st.integers(1, 1024),
    max_connections=st.integers(1, 10**6),
)
def test_server_settings_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    read_timeout: float,
    keepalive: float,
    threads: int,
    max_connections: int,
) -> None:
    settings = NodeSettings(
        name="EU customs",
        base_url="https://eu.customs.example",
        data_dir=tmp_path_factory.mktemp("node").resolve(),
        database_url="sqlite:///node.db",
        request_read_timeout_seconds=read_timeout,
        keepalive_seconds=keepalive,
        server_threads=threads,
        server_max_connections=max_connections,
    )
    assert _round_trip(settings) == settings


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
@pytest.mark.parametrize("field", ["request_read_timeout_seconds", "keepalive_seconds"])
def test_node_settings_refuse_times_that_are_not_positive_and_finite(
    tmp_path: Path, field: str, value: float
) -> None:
    settings = NodeSettings(
        name="EU", base_url="https://eu.customs.example", data_dir=tmp_path, database_url="x"
    )
    with pytest.raises(MalformedInputError, match=field):
        dataclasses.replace(settings, **{field: value})
