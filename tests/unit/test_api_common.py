"""The request helpers' fast paths give what werkzeug's and Flask's own steps give (issue 8).

``json_body_bytes`` reads the usual ``node serve`` request (exact ``application/json``, a
plain Content-Length, the body buffered whole in a terminated ``BytesIO``) without werkzeug's
header parsing; ``json_response`` writes compact JSON without ``jsonify``'s steps. For every
request in a wide matrix the fast path must give the same bytes, or the same refusal, as the
reference (werkzeug's ``request.mimetype``, ``content_length`` and ``stream``); every answer
the same bytes, status and headers as ``jsonify``.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
from typing import Any

import pytest
from flask import Flask, jsonify

from credentials.result import Check, CheckStatus, VerificationResult
from node.api import common
from node.api.common import MAX_REQUEST_BYTES, RECEIVED_AT, json_body_bytes, json_response
from node.api.credentials import VerifyAnswers
from node.api.errors import ApiError
from registry.pipeline import TrustedVerification

LIMIT = 64


def _app(*, debug: bool = False) -> Flask:
    # Configured as node.app.create_app configures the node's app.
    app = Flask("test_api_common", static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=LIMIT + 1, JSON_SORT_KEYS=False, DEBUG=debug)
    app.config[MAX_REQUEST_BYTES] = LIMIT
    app.json.sort_keys = False  # type: ignore[attr-defined]
    return app


def _outcome(app: Flask, environ: dict[str, Any], fast: bool) -> tuple[str, Any]:
    """What json_body_bytes gives for ``environ``: ("bytes", data) or ("refused", details)."""
    with app.request_context(environ):
        try:
            if fast:
                return ("bytes", json_body_bytes())
            original = common._buffered_body
            common._buffered_body = lambda environ, limit: None  # the reference path only
            try:
                return ("bytes", json_body_bytes())
            finally:
                common._buffered_body = original
        except ApiError as e:
            return ("refused", (type(e).__name__, e.status, e.code, e.message))
        except Exception as e:  # whatever werkzeug raises, both paths must raise alike
            return ("refused", (type(e).__name__, getattr(e, "code", None)))


def _environ(
    content_type: str | None,
    declared: str | None,
    body: bytes,
    *,
    terminated: bool,
    chunked: bool,
    buffered: bool,
) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/credentials/verify",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body) if buffered else io.BufferedReader(io.BytesIO(body)),
    }
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    if declared is not None:
        environ["CONTENT_LENGTH"] = declared
    if terminated:
        environ["wsgi.input_terminated"] = True
    if chunked:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    return environ


CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON",
    "application/ld+json",
    "application/jsonx",
    "text/plain",
    "",
    None,
)
BODIES = (b"", b"{}", b'{"a":1}', b"x" * LIMIT, b"x" * (LIMIT + 1), b"x" * (LIMIT + 40))


def _declared(body: bytes) -> tuple[str | None, ...]:
    n = len(body)
    return (
        str(n),
        str(n + 3),  # more than is sent
        str(max(0, n - 1)),  # less than is sent
        str(LIMIT),
        str(LIMIT + 1),
        "0",
        "-1",
        "+5",
        " 7",
        "abc",
        "\u0663",  # a non-ASCII digit: int() takes it, HTTP does not
        None,
    )


def test_the_buffered_body_path_agrees_with_werkzeug_on_every_request() -> None:
    app = _app()
    fast_taken = 0
    checked = 0
    for content_type, body, terminated, chunked, buffered in itertools.product(
        CONTENT_TYPES, BODIES, (True, False), (False, True), (True, False)
    ):
        for declared in _declared(body):
            flags = {"terminated": terminated, "chunked": chunked, "buffered": buffered}
            fast = _outcome(app, _environ(content_type, declared, body, **flags), fast=True)
            reference = _outcome(app, _environ(content_type, declared, body, **flags), fast=False)
            assert fast == reference, (content_type, declared, body, flags)
            checked += 1
            try:
                taken = common._buffered_body(
                    _environ(content_type, declared, body, **flags), LIMIT
                )
            except ApiError:
                taken = b""  # refused by the fast path itself
            fast_taken += taken is not None
    # Both branches ran: the fast path on the usual requests, the reference on the rest.
    assert 0 < fast_taken < checked


def test_the_usual_request_takes_the_fast_path_and_reads_the_exact_bytes() -> None:
    body = b'{"verifiableCredential":{}}'
    environ = _environ(
        "application/json", str(len(body)), body, terminated=True, chunked=False, buffered=True
    )
    assert common._buffered_body(environ, LIMIT) == body
    too_large = _environ(
        "application/json",
        str(LIMIT + 1),
        b"x" * (LIMIT + 1),
        terminated=True,
        chunked=False,
        buffered=True,
    )
    with pytest.raises(ApiError) as refused:
        common._buffered_body(too_large, LIMIT)
    assert (refused.value.status, refused.value.code) == (413, "PAYLOAD_TOO_LARGE")
    # A body longer than its Content-Length says is cut at the limit all the same.
    lying = _environ(
        "application/json", "2", b"x" * (LIMIT + 5), terminated=True, chunked=False, buffered=True
    )
    with pytest.raises(ApiError) as refused:
        common._buffered_body(lying, LIMIT)
    assert refused.value.status == 413


@pytest.mark.parametrize(
    "body",
    [
        {"verified": True, "checks": [{"name": "proof", "status": "pass"}], "errors": []},
        {"detail": "caf\u00e9 \u2013 \U0001f600 </script>", "n": [1, 2.5, None, False]},
        {"z": 1, "a": {"nested": ["x", {"b": 2}]}},  # insertion order kept (no sort)
        [],
    ],
)
@pytest.mark.parametrize("status", [200, 422])
def test_json_response_writes_what_jsonify_writes(body: Any, status: int) -> None:
    for debug in (False, True):
        app = _app(debug=debug)
        with app.test_request_context():
            fast = json_response(body, status)
            reference = jsonify(body)
            reference.status_code = status
            assert fast.get_data() == reference.get_data()
            assert fast.status == reference.status
            assert list(fast.headers.items()) == list(reference.headers.items())
            assert fast.get_data().endswith(b"\n")


def test_received_at_is_the_servers_float_only() -> None:
    app = _app()
    base = _environ("application/json", "2", b"{}", terminated=True, chunked=False, buffered=True)
    with app.request_context({**base, RECEIVED_AT: 12.5}):
        assert common.received_at() == 12.5
    for value in ("12.5", 12, None, True):
        with app.request_context({**base, RECEIVED_AT: value}):
            assert common.received_at() is None
    with app.request_context(base):
        assert common.received_at() is None


def _outcomes() -> list[TrustedVerification]:
    passed = (
        Check.passed("data_model", "conforms to VC Data Model 2.0"),
        Check.passed("proof", "1/1 proofs verified"),
        Check.passed("issuer", "did:web:a controls did:web:a#key-1 (assertionMethod)"),
    )
    ok = VerificationResult(passed)
    revoked = ok.with_checks(Check.failed("status", "REVOKED", "revocation bit 7 set"))
    unknown = ok.with_checks(Check.unknown("status", "STATUS_UNKNOWN", "list is stale \u00e9"))
    warned = ok.with_checks(Check.passed("status", "not revoked"), warnings=("soon expires",))
    return [
        TrustedVerification(ok),
        TrustedVerification(ok, benefits=frozenset({"fast-lane", "fewer-checks"})),
        TrustedVerification(ok, benefits=frozenset({"fast-lane"}), agreement="urn:uuid:mra-1"),
        TrustedVerification(ok, historical=True),
        TrustedVerification(revoked),
        TrustedVerification(revoked, historical=True),
        TrustedVerification(unknown),
        TrustedVerification(warned),
        TrustedVerification(ok, refetch=frozenset({"https://x.example/status/1"})),
    ]


def _same_answer(fast: Any, reference: Any) -> None:
    assert fast.get_data() == reference.get_data()
    assert fast.status == reference.status
    assert list(fast.headers.items()) == list(reference.headers.items())


def test_what_a_verify_answer_is_written_from_is_all_the_key_holds() -> None:
    # VerifyAnswers keys an answer by (result, benefits, agreement, historical), compared by
    # value. A new field that to_dict could write must be added to the key: fail here first.
    def compared(cls: Any) -> set[str]:
        return {f.name for f in dataclasses.fields(cls) if f.compare}

    assert compared(TrustedVerification) == {
        "result",
        "benefits",
        "agreement",
        "historical",
        "refetch",  # not written in the answer
    }
    assert compared(VerificationResult) == {"checks", "warnings"}
    assert compared(Check) == {"name", "status", "detail", "code"}
    classes: tuple[Any, ...] = (TrustedVerification, VerificationResult, Check)
    assert all(cls.__dataclass_params__.frozen for cls in classes)  # values never change


def test_kept_verify_answers_are_what_jsonify_writes() -> None:
    for debug in (False, True):
        app = _app(debug=debug)
        answers = VerifyAnswers()
        with app.test_request_context():
            for _ in range(2):  # written, then kept (outside debug mode)
                for outcome in _outcomes():
                    status = 200 if outcome.verified else 422
                    reference = jsonify(outcome.to_dict())
                    reference.status_code = status
                    _same_answer(answers.response(outcome), reference)
            # Equal values in new objects share the kept text; nothing else does.
            copy = TrustedVerification(
                VerificationResult(
                    tuple(
                        Check(c.name, CheckStatus(c.status.value), c.detail, c.code)
                        for c in _outcomes()[4].result.checks
                    )
                )
            )
            _same_answer(answers.response(copy), answers.response(_outcomes()[4]))
            changed = dataclasses.replace(
                copy,
                result=VerificationResult(
                    (*copy.result.checks[:-1], Check.failed("status", "REVOKED", "bit 8 set"))
                ),
            )
            assert b"bit 8 set" in answers.response(changed).get_data()
        # The refetch list is not part of the answer: 8 texts for 9 outcomes (+1 changed).
        assert len(answers) == (0 if debug else 9)


def test_kept_verify_answers_are_bounded() -> None:
    app = _app()
    answers = VerifyAnswers(max_entries=3, max_chars=400)
    with app.test_request_context():
        for n in range(20):
            result = VerificationResult((Check.failed("proof", "BAD_SIGNATURE", f"try {n}"),))
            answer = answers.response(TrustedVerification(result))
            assert answer.status_code == 422 and f"try {n}".encode() in answer.get_data()
            assert len(answers) <= 3
        answers = VerifyAnswers(max_entries=3, max_chars=400)
        long = VerificationResult((Check.failed("proof", "BAD_SIGNATURE", "x" * 500),))
        for _ in range(2):  # written each time, never kept
            answer = answers.response(TrustedVerification(long))
            reference = jsonify(TrustedVerification(long).to_dict())
            assert answer.get_data() == reference.get_data()
        assert len(answers) == 0
