"""The request examples of docs/node.md and docs/api-examples.md run, so they cannot drift.

Every ``Request (`METHOD /path`, scope ..., at EU|US):`` block of the two pages is sent,
in the pages' order (node.md first, api-examples.md continues from it), to that node (EU
and US of :mod:`mrapair`, on the in-memory network) with a token holding only the
documented scope, or none for a public route; a token of a scope the route does not accept
gets 403 first. The answer must have the documented status and content type and, once
ids, times, signatures, nonces and codes are masked, the documented body (see
:mod:`docexamples`). Every route of node/openapi.json has an example, except the
node-to-node routes of :data:`EXCLUDED`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from docexamples import (
    PAGES,
    Example,
    check,
    check_scopes,
    masked,
    parse,
    parse_text,
    rewrite,
    start,
)
from mrapair import Node, eu_and_us

from conftest import BACKENDS
from nodehelpers import temporary_database
from openapi_check import document
from peersim import PeerNetworkSimulator

#: Set to rewrite the pages' answers from a run instead of checking them.
REWRITE = "TRUSTLANE_REWRITE_DOC_EXAMPLES"
#: Routes without an example, and why: each is called by a partner node, never by an
#: operator, officer, trader or auditor, with a request only a node can sign; the
#: federation and witness tests run them.
EXCLUDED = {
    "POST /federation/events": "a peer's signed event (RFC 9421 signature by its node key)",
    "POST /federation/agreements": "a peer delivering an agreement document (RFC 9421)",
    "GET /federation/agreements/{agreementId}": "read by the other party's sync job",
    "POST /add-checkpoint": "a partner log asking this node to witness its checkpoint "
    "(C2SP tlog-witness, signed by that log)",
}


@pytest.fixture(params=BACKENDS)
def net(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[PeerNetworkSimulator, Node, Node]]:
    """EU and US on SQLite, then on PostgreSQL: the answers are the same on both."""
    with (
        temporary_database(request.param, tmp_path, "eu.db") as eu_db,
        temporary_database(request.param, tmp_path, "us.db") as us_db,
    ):
        yield from eu_and_us(tmp_path, monkeypatch, (eu_db, us_db))


def _examples() -> list[Example]:
    return [example for page in PAGES for example in parse(page)]


def test_documented_requests_answer_as_documented(
    net: tuple[PeerNetworkSimulator, Node, Node], request: pytest.FixtureRequest
) -> None:
    run = start(*net)
    if os.environ.get(REWRITE):
        # After a change that alters answers on purpose: write this run's answers into the
        # pages (documented ids kept), then review the diff and run the test again.
        if "sqlite" not in request.node.callspec.id:
            pytest.skip("the pages are rewritten from the SQLite run")
        for page in PAGES:
            rewrite(run, page)
        pytest.skip(f"{REWRITE}: rewrote {', '.join(p.name for p in PAGES)}; review the diff")
    examples = _examples()
    assert [e.target for e in examples[:4]] == [
        "/mras",
        "/mras/countersign",
        "/credentials/verify",
        "/credentials/status",
    ]
    for example in examples:
        check(run, example)
    run.nodes["EU"].services.push.flush()


def test_every_route_has_an_example_or_a_reason() -> None:
    exampled = {example.route for example in _examples()}
    routes = {
        f"{method.upper()} {path}"
        for path, item in document()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert routes - exampled - EXCLUDED.keys() == set(), "routes without an example"
    assert exampled & EXCLUDED.keys() == set(), "excluded, yet exampled"
    assert EXCLUDED.keys() <= routes, "excluded routes that do not exist"


_ROW = re.compile(r"^\| `((?:GET|POST) /[^`]*)` \| ([^|]+) \| ([^|]+) \|$", re.M)


def test_the_route_table_lists_every_route_its_scopes_and_example() -> None:
    text = PAGES[1].read_text(encoding="utf-8")
    table = {m[1]: (m[2].strip(), m[3].strip()) for m in _ROW.finditer(text)}
    exampled = {example.route for example in _examples()}
    expected = {}
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post"):
                continue
            scopes = operation.get("x-trustlane-scopes")
            expected[f"{method.upper()} {path}"] = (
                ", ".join(f"`{s}`" for s in scopes) if scopes else "public"
            )
    assert {route: scopes for route, (scopes, _) in table.items()} == expected
    for route, (_, link) in table.items():
        assert link.startswith("none") == (route in EXCLUDED), route
        assert (route in exampled) == (not link.startswith("none")), route
    # Each exclusion is explained on the page.
    reasons = text.split("## Routes without an example", 1)[1]
    for route in EXCLUDED:
        assert f"- `{route}`: " in reasons, route


@pytest.mark.parametrize(
    ("value", "same_as", "differs_from"),
    [
        pytest.param(
            {"id": "urn:uuid:c7a4958c-155e-4c14-b78c-8bfd26fe5395", "n": 2},
            {"id": "urn:uuid:605c4204-6eeb-4b4c-a114-20546adb7c8c", "n": 2},
            {"id": "urn:uuid:605c4204-6eeb-4b4c-a114-20546adb7c8c", "n": 3},
            id="ids-masked-numbers-kept",
        ),
        pytest.param(
            {"detail": "revocation bit 74646 not set"},
            {"detail": "revocation bit 1 not set"},
            {"detail": "revocation bit 1 set"},
            id="indexes-masked-words-kept",
        ),
        pytest.param(
            {"ageSeconds": 0, "state": "active"},
            {"ageSeconds": 1, "state": "active"},
            {"ageSeconds": 1, "state": "pending"},
            id="ages-masked-states-kept",
        ),
        pytest.param(
            ["https://eu.customs.example/status-lists/revocation-1"],
            ["https://eu.customs.example/status-lists/revocation-1"],
            ["https://eu.customs.example/status-lists/suspension-1"],
            id="urls-kept",
        ),
    ],
)
def test_masks_hide_what_differs_between_runs_and_nothing_else(
    value: object, same_as: object, differs_from: object
) -> None:
    assert masked(value) == masked(same_as)
    assert masked(value) != masked(differs_from)


_GOOD = """Request (`GET /registry/peers`, scope `officer`, at EU):

Answer `200` (`application/json`):

```json
{"peers": []}
```
"""


def test_an_example_is_parsed_with_its_parts() -> None:
    (example,) = parse_text(_GOOD, "page.md")
    assert (example.method, example.target, example.node) == ("GET", "/registry/peers", "EU")
    assert example.scopes == ("officer",)
    assert (example.status, example.content_type, example.answer) == (
        200,
        "application/json",
        '{"peers": []}',
    )
    assert example.route == "GET /registry/peers"


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(_GOOD.replace("Answer `200`", "Answer 200"), id="status-not-quoted"),
        pytest.param(_GOOD.replace(", at EU", ""), id="no-node"),
        pytest.param(_GOOD.replace("at EU", "at JP"), id="unknown-node"),
        pytest.param(_GOOD.replace("GET /", "FETCH /"), id="unknown-method"),
        pytest.param(_GOOD.replace("```json\n{", "```yaml\n{"), id="unknown-language"),
        pytest.param(_GOOD.replace("scope `officer`", "officer"), id="no-scope-nor-public"),
    ],
)
def test_a_malformed_example_fails_instead_of_being_skipped(broken: str) -> None:
    with pytest.raises(ValueError, match="not a well-formed example"):
        parse_text(broken, "page.md")


@pytest.mark.parametrize(
    ("method", "target", "route"),
    [
        ("POST", "/credentials/verify", "POST /credentials/verify"),
        ("GET", "/credentials/urn:uuid:1", "GET /credentials/{credentialId}"),
        ("GET", "/tile/entries/000.p/3", "GET /tile/{rest}"),
        ("GET", "/log/proof/inclusion?treeSize=1&index=0", "GET /log/proof/inclusion"),
        ("POST", "/devices/rpm-1/retire", "POST /devices/{name}/retire"),
    ],
)
def test_an_example_names_the_operation_it_calls(method: str, target: str, route: str) -> None:
    (example,) = parse_text(_GOOD.replace("GET /registry/peers", f"{method} {target}"), "p.md")
    assert example.route == route


@pytest.mark.parametrize(
    ("method", "target"),
    [("GET", "/no/such/route"), ("POST", "/health"), ("GET", "/devices/a/b")],
)
def test_an_example_of_no_operation_fails(method: str, target: str) -> None:
    (example,) = parse_text(_GOOD.replace("GET /registry/peers", f"{method} {target}"), "p.md")
    with pytest.raises(LookupError):
        _ = example.route


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        pytest.param(("scope `officer`", "scope `issuer`"), "not in", id="scope-not-accepted"),
        pytest.param(("scope `officer`", "public"), "documented public", id="not-public"),
    ],
)
def test_a_wrong_documented_scope_fails(replace: tuple[str, str], message: str) -> None:
    (example,) = parse_text(_GOOD.replace(*replace), "page.md")
    with pytest.raises(AssertionError, match=message):
        check_scopes(example, example.route)


def test_the_refused_scope_is_one_the_route_does_not_accept() -> None:
    (example,) = parse_text(_GOOD, "page.md")
    refused = check_scopes(example, example.route)
    assert refused is not None
    assert refused not in {"admin", "registry-admin", "auditor", "officer"}
