"""Logs: request ids on every answer and log line; JSON lines from a real node process."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
import trustme
from flask import Flask

from node import logs
from nodeproc import NodeProcess


def _format(record: logging.LogRecord) -> dict[str, Any]:
    logs.RequestIdFilter().filter(record)
    parsed: dict[str, Any] = json.loads(logs.JsonFormatter().format(record))
    return parsed


def test_every_answer_carries_a_request_id(app: Flask, admin_headers: dict[str, str]) -> None:
    client = app.test_client()
    seen = set()
    for path, headers in (("/health/live", {}), ("/registry/peers", {}), ("/nope", {})):
        answer = client.get(path, headers=headers)
        value = answer.headers["X-Request-Id"]
        assert len(value) == 16 and all(c in "0123456789abcdef" for c in value)
        seen.add(value)
    assert len(seen) == 3  # a new one per request (401 and 404 included)


@pytest.mark.parametrize(
    ("offered", "kept"),
    [
        ("a1b2-c3d4.e5:f6_g7", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("id with spaces", False),
        ('"}{"level":"critical', False),
        ("caf\u00e9", False),
        ("", False),
    ],
)
def test_a_callers_request_id_is_kept_only_when_safe(app: Flask, offered: str, kept: bool) -> None:
    answer = app.test_client().get(
        "/health/live", headers={"X-Request-Id": offered.encode().decode("latin-1")}
    )
    assert (answer.headers["X-Request-Id"] == offered) is kept


def test_log_records_inside_a_request_name_its_id(app: Flask) -> None:
    with app.test_request_context("/health/live", headers={"X-Request-Id": "trace-42"}):
        logs.request_id()
        line = _format(logging.LogRecord("trustlane.test", logging.WARNING, "", 0, "x", (), None))
    assert line["requestId"] == "trace-42"
    assert line["level"] == "warning" and line["logger"] == "trustlane.test"
    outside = _format(logging.LogRecord("trustlane.test", logging.INFO, "", 0, "y", (), None))
    assert "requestId" not in outside


def test_json_lines_escape_what_they_carry() -> None:
    record = logging.LogRecord(
        "trustlane.test", logging.ERROR, "", 0, 'peer said "%s"\n', ("}\n{",), None
    )
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    text = logs.JsonFormatter().format(record)
    assert "\n" not in text  # one line, whatever the message holds
    parsed = json.loads(text)
    assert parsed["message"] == 'peer said "}\n{"\n'
    assert "ValueError: boom" in parsed["traceback"]


@pytest.mark.parametrize("value", ["xml", "JSONL", "1"])
def test_an_unknown_format_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="TRUSTLANE_LOG_FORMAT must be one of text, json"):
        logs.log_format({"TRUSTLANE_LOG_FORMAT": value})
    assert logs.log_format({}) == "text"
    assert logs.log_format({"TRUSTLANE_LOG_FORMAT": " JSON "}) == "json"


def test_a_node_process_writes_json_lines_with_request_ids(tmp_path: Any) -> None:
    with NodeProcess(tmp_path / "eu") as node:
        node.init(None, trustme.CA())
        node.start(workers=1, serve_args=("--log-format", "json"))
        with node.session(node.admin_token) as http:
            answer = http.get(
                node.url("/registry/peers"), headers={"X-Request-Id": "trace-7"}, timeout=10
            )
            assert answer.headers["X-Request-Id"] == "trace-7"
            missing = http.get(node.url("/nope"), timeout=10)
        node.stop()
        lines = [
            line
            for line in node.log_path.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("--- start")  # the test harness's own marker
        ]
    parsed = [json.loads(line) for line in lines]  # every line the node wrote is JSON
    access = [p for p in parsed if p["logger"] == "gunicorn.access"]
    traced = [p for p in access if p.get("requestId") == "trace-7"]
    assert len(traced) == 1
    assert traced[0]["path"] == "/registry/peers" and traced[0]["status"] == 200
    assert traced[0]["durationMs"] >= 0 and traced[0]["method"] == "GET"
    assert any(
        p.get("requestId") == missing.headers["X-Request-Id"] and p["status"] == 404 for p in access
    )
    assert any(p["logger"] == "gunicorn.error" for p in parsed)
