"""Federation settings (federation.toml): schema, rules, locations, env overrides and the CLI."""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import trustme

import federation_config
from credentials.keys import ED25519_PUB_MULTICODEC, PrivateKey, b58encode
from federation_config.federation import (
    FEDERATION_CONFIG_NAME,
    MAX_FILE_BYTES,
    ConfigError,
    FederationSettings,
    FreshnessSettings,
    PeerSettings,
    PushSettings,
    RiskPolicyRef,
    SyncSettings,
    UnreadableConfigError,
    check_file,
    federation_schema,
    load_federation,
    parse_federation,
    peer_env_var,
)
from node.cli import config_cmd
from node.cli._io import CLIError

EXAMPLES = Path(federation_config.__file__).parent / "examples"
EU_KEY, US_KEY, JP_KEY = (
    PrivateKey.from_seed(bytes([n]) * 32).public_key.multibase for n in (1, 2, 3)
)
EU_DID, US_DID, JP_DID = (f"did:web:{c}.customs.example" for c in ("eu", "us", "jp"))
LOOPBACK_NODE_DID = "did:web:127.0.0.1%3A8443"
# Matches the schema's Multikey pattern but decodes to the all-zero point, of small order.
SMALL_ORDER_KEY = "z" + b58encode(ED25519_PUB_MULTICODEC + bytes(32))


@pytest.fixture(autouse=True)
def _no_peer_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI reads os.environ; a developer's own overrides must not leak into the tests.
    for name in list(os.environ):
        if name.startswith("TRUSTLANE_PEER_"):
            monkeypatch.delenv(name)


def base_document() -> dict[str, Any]:
    """A valid EU document with two peers; negative cases change one thing."""
    return {
        "federation": {"name": "test federation", "self_did": EU_DID},
        "sync": {"interval_seconds": 60, "jitter_seconds": 10},
        "peers": [
            {
                "name": "us",
                "did": US_DID,
                "base_url": "https://us.customs.example",
                "key_fingerprints": [US_KEY],
            },
            {
                "name": "jp",
                "did": JP_DID,
                "base_url": "https://jp.customs.example",
                "key_fingerprints": [JP_KEY],
            },
        ],
    }


def write(directory: Path, document: dict[str, Any] | str | bytes) -> Path:
    path = directory / FEDERATION_CONFIG_NAME
    if isinstance(document, dict):
        document = tomli_w.dumps(document)
    if isinstance(document, str):
        document = document.encode()
    path.write_bytes(document)
    return path


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[tuple[str, str]]:
    return [(p.location, p.message) for p in check_file(path, environ or {})]


# --- The example federation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "own_did", "peers"),
    [
        ("eu", EU_DID, {"us": (US_DID, US_KEY), "jp": (JP_DID, JP_KEY)}),
        ("us", US_DID, {"eu": (EU_DID, EU_KEY)}),
        ("jp", JP_DID, {"eu": (EU_DID, EU_KEY)}),
    ],
)
def test_examples_load_with_planned_mras(
    node: str, own_did: str, peers: dict[str, tuple[str, str]]
) -> None:
    settings = load_federation(EXAMPLES / f"{node}.toml", {})
    assert settings.self_did == own_did
    settings.check_node_did(own_did)
    assert {p.name: (p.did, p.key_fingerprints) for p in settings.enabled_peers} == {
        name: (did, (key,)) for name, (did, key) in peers.items()
    }
    for peer in settings.peers:
        assert peer.base_url == "https://" + peer.did.removeprefix("did:web:")
    assert settings.risk is not None
    assert settings.risk.version == "2026.1"


def test_example_defaults_and_overrides() -> None:
    us = load_federation(EXAMPLES / "us.toml", {})
    assert (us.sync, us.freshness, us.push) == (SyncSettings(), FreshnessSettings(), PushSettings())
    jp = load_federation(EXAMPLES / "jp.toml", {})
    assert (jp.sync.interval_seconds, jp.sync.jitter_seconds) == (120, 20)
    assert jp.freshness.status_max_age_seconds == 600
    eu = load_federation(EXAMPLES / "eu.toml", {})
    assert eu.sync == SyncSettings()  # eu.toml spells out the defaults
    assert eu.push == PushSettings()


def test_examples_readme_lists_the_example_keys() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for key in (EU_KEY, US_KEY, JP_KEY):
        assert key in readme


def test_schema_defaults_match_dataclass_defaults() -> None:
    props = federation_schema()["properties"]
    for section, settings in (
        ("sync", SyncSettings()),
        ("freshness", FreshnessSettings()),
        ("push", PushSettings()),
    ):
        defaults = {k: v["default"] for k, v in props[section]["properties"].items()}
        assert defaults == vars(settings)
    peer = props["peers"]["items"]["properties"]
    assert peer["enabled"]["default"] is True


def test_schema_documents_every_property() -> None:
    def walk(schema: dict[str, Any], where: str) -> list[str]:
        missing = []
        for name, sub in schema.get("properties", {}).items():
            if "description" not in sub:
                missing.append(f"{where}.{name}")
            missing += walk(sub, f"{where}.{name}")
            if "items" in sub:
                missing += walk(sub["items"], f"{where}.{name}[]")
        if schema.get("type") == "object":
            assert schema.get("additionalProperties") is False, where
        return missing

    assert walk(federation_schema(), "") == []


def test_federation_schema_returns_a_copy() -> None:
    federation_schema()["properties"].clear()
    assert "peers" in federation_schema()["properties"]


# --- Negative cases: one mistake, exact locations --------------------------------------------

Mutation = Callable[[dict[str, Any], Path], None]


def _set(*path: str | int, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any], _: Path) -> None:
        target: Any = doc
        for part in path[:-1]:
            target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
        target[path[-1]] = value

    return mutate


def _delete(*path: str | int) -> Mutation:
    def mutate(doc: dict[str, Any], _: Path) -> None:
        target: Any = doc
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return mutate


def _not_pem(doc: dict[str, Any], directory: Path) -> None:
    (directory / "bundle.pem").write_text("not a certificate\n")
    doc["peers"][0]["ca_bundle"] = "bundle.pem"


NEGATIVE_CASES: list[tuple[str, Mutation, list[tuple[str, str]]]] = [
    (
        "unknown-key",
        _set("sync", "intervall_seconds", value=60),
        [("sync.intervall_seconds", "unknown key (allowed: interval_seconds, jitter_seconds")],
    ),
    (
        "unknown-section",
        _set("metrics", "port", value=9100),
        [("metrics", "unknown key (allowed: federation, sync,")],
    ),
    (
        "unknown-peer-key",
        _set("peers", 1, "url", value="https://jp.customs.example"),
        [("peers[1].url", "unknown key")],
    ),
    (
        "wrong-type-string-for-int",
        _set("sync", "interval_seconds", value="60"),
        [("sync.interval_seconds", 'must be an integer (got "60")')],
    ),
    (
        "wrong-type-float",
        _set("sync", "timeout_seconds", value=1.5),
        [("sync.timeout_seconds", "must be an integer (got 1.5)")],
    ),
    (
        "wrong-type-bool",
        _set("peers", 1, "enabled", value="yes"),
        [("peers[1].enabled", 'must be true or false (got "yes")')],
    ),
    (
        "wrong-type-section",
        _set("push", value=True),
        [("push", "must be a table (got true)")],
    ),
    (
        "peers-as-table",
        _set("peers", value={"name": "us"}),
        [("peers", "must be an array of tables ([[peers]]), not a table ([peers])")],
    ),
    (
        "interval-below-range",
        _set("sync", "interval_seconds", value=2),
        [("sync.interval_seconds", "must be at least 5 (got 2)")],
    ),
    (
        "response-limit-above-range",
        _set("sync", "max_response_bytes", value=2**40),
        [("sync.max_response_bytes", "must be at most 67108864 (got 1099511627776)")],
    ),
    (
        "jitter-above-interval",
        _set("sync", "jitter_seconds", value=61),
        [("sync.jitter_seconds", "must be at most interval_seconds (60) (got 61)")],
    ),
    (
        "backoff-below-interval",
        _set("sync", "max_backoff_seconds", value=30),
        [("sync.max_backoff_seconds", "must be at least interval_seconds (60) (got 30)")],
    ),
    (
        "status-staler-than-sync",
        _set("freshness", "status_max_age_seconds", value=65),
        [("freshness.status_max_age_seconds", "must be at least sync.interval_seconds")],
    ),
    (
        "nonce-ttl-below-twice-skew",
        _set("push", "max_skew_seconds", value=200),
        [("push.nonce_ttl_seconds", "must be at least 2 * max_skew_seconds (400)")],
    ),
    (
        "missing-federation",
        _delete("federation"),
        [("federation", "is required")],
    ),
    (
        "blank-federation-name",
        _set("federation", "name", value="   "),
        [("federation.name", 'must be a text that is not blank (1..100 characters) (got "   ")')],
    ),
    (
        "bad-did-method",
        _set("peers", 0, "did", value=f"did:key:{US_KEY}"),
        [("peers[0].did", "must be a did:web naming an origin")],
    ),
    (
        "bad-did-upper-case-host",
        _set("peers", 0, "did", value="did:web:US.customs.example"),
        [("peers[0].did", "must be a did:web naming an origin")],
    ),
    (
        "did-with-trailing-newline",
        _set("peers", 0, "did", value=US_DID + "\n"),
        [("peers[0].did", "must not contain control characters")],
    ),
    (
        "bad-peer-name",
        _set("peers", 0, "name", value="US"),
        [("peers[0].name", "must be lower-case letters, digits and '-'")],
    ),
    (
        "http-base-url-not-loopback",
        _set("peers", 1, "base_url", value="http://jp.customs.example"),
        [("peers[1].base_url", "plain http is allowed only to a loopback host")],
    ),
    (
        "base-url-with-path",
        _set("peers", 1, "base_url", value="https://jp.customs.example/api"),
        [("peers[1].base_url", "must be an http(s) origin")],
    ),
    (
        "base-url-bad-port",
        _set("peers", 1, "base_url", value="https://jp.customs.example:99999"),
        [("peers[1].base_url", "has an invalid port")],
    ),
    (
        "push-url-http-not-loopback",
        _set("peers", 0, "push_url", value="http://us.customs.example/events"),
        [("peers[0].push_url", "plain http is allowed only to a loopback host")],
    ),
    (
        "duplicate-peer-name",
        _set("peers", 1, "name", value="us"),
        [("peers[1].name", 'repeats peers[0].name ("us")')],
    ),
    (
        "duplicate-peer-did",
        _set("peers", 1, "did", value=US_DID),
        [("peers[1].did", f'repeats peers[0].did ("{US_DID}")')],
    ),
    (
        "peer-is-self",
        _set("peers", 1, "did", value=EU_DID),
        [("peers[1].did", "is this node's own DID")],
    ),
    (
        "no-key-fingerprints",
        _set("peers", 0, "key_fingerprints", value=[]),
        [("peers[0].key_fingerprints", "must have at least 1 entry (got 0)")],
    ),
    (
        "missing-key-fingerprints",
        _delete("peers", 0, "key_fingerprints"),
        [("peers[0].key_fingerprints", "is required")],
    ),
    (
        "malformed-fingerprint",
        _set("peers", 0, "key_fingerprints", value=[US_KEY, "z6MkNotAKey"]),
        [("peers[0].key_fingerprints[1]", "must be an Ed25519 Multikey value")],
    ),
    (
        "small-order-fingerprint",
        _set("peers", 0, "key_fingerprints", value=[SMALL_ORDER_KEY]),
        [("peers[0].key_fingerprints[0]", "is not a usable Ed25519 Multikey")],
    ),
    (
        "repeated-fingerprint",
        _set("peers", 0, "key_fingerprints", value=[US_KEY, US_KEY]),
        [("peers[0].key_fingerprints[1]", "repeats entry [0]")],
    ),
    (
        "missing-ca-bundle",
        _set("peers", 0, "ca_bundle", value="certs/us.pem"),
        [("peers[0].ca_bundle", "does not exist")],
    ),
    (
        "ca-bundle-not-pem",
        _not_pem,
        [("peers[0].ca_bundle", "holds no PEM certificate")],
    ),
    (
        "ca-bundle-is-directory",
        _set("peers", 0, "ca_bundle", value="."),
        [("peers[0].ca_bundle", "is a directory")],
    ),
    (
        "missing-risk-file",
        _set("risk", value={"policy_id": "eu", "version": "1", "file": "policy.toml"}),
        [("risk.file", "does not exist")],
    ),
    (
        "risk-without-version",
        _set("risk", value={"policy_id": "eu"}),
        [("risk.version", "is required")],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=case_id) for case_id, m, e in NEGATIVE_CASES],
)
def test_each_mistake_is_reported_at_its_location(
    tmp_path: Path, mutate: Mutation, expected: list[tuple[str, str]]
) -> None:
    document = base_document()
    mutate(document, tmp_path)
    problems = problems_of(write(tmp_path, document))
    assert [location for location, _ in problems] == [location for location, _ in expected]
    for (_, message), (_, fragment) in zip(problems, expected, strict=True):
        assert fragment in message
    with pytest.raises(ConfigError) as caught:
        load_federation(tmp_path / FEDERATION_CONFIG_NAME, {})
    assert caught.value.code == "INVALID_CONFIG"
    assert [(p.location, p.message) for p in caught.value.problems] == problems


def test_small_order_key_passes_the_schema_pattern() -> None:
    # Otherwise the case above would test the pattern, not the key check.
    assert re.fullmatch(r"z6Mk[1-9A-HJ-NP-Za-km-z]{44}", SMALL_ORDER_KEY)


def test_many_problems_are_reported_together(tmp_path: Path) -> None:
    document = base_document()
    document["federation"]["motto"] = "trust"
    document["sync"]["interval_seconds"] = 2
    document["peers"][0]["ca_bundle"] = "missing.pem"
    document["peers"][0]["key_fingerprints"] = []
    document["peers"][1]["name"] = "us"
    document["peers"][1]["base_url"] = "http://jp.customs.example"
    problems = problems_of(write(tmp_path, document))
    assert [location for location, _ in problems] == [
        "federation.motto",
        "peers[0].ca_bundle",
        "peers[0].key_fingerprints",
        "peers[1].base_url",
        "peers[1].name",
        "sync.interval_seconds",
    ]
    with pytest.raises(ConfigError) as caught:
        load_federation(tmp_path / FEDERATION_CONFIG_NAME, {})
    assert "6 problems" in caught.value.message
    lines = caught.value.diagnostics().splitlines()
    assert lines[0].startswith("INVALID_CONFIG: ")
    assert lines[1:] == [f"  {location}: {message}" for location, message in problems]


def test_a_wrong_value_is_reported_once(tmp_path: Path) -> None:
    document = base_document()
    document["sync"]["interval_seconds"] = 1.5  # wrong type and below the minimum
    assert problems_of(write(tmp_path, document)) == [
        ("sync.interval_seconds", "must be an integer (got 1.5)")
    ]


def test_quoted_keys_are_quoted_in_locations(tmp_path: Path) -> None:
    document = base_document()
    document["peers"][0]["base url"] = "https://x.example"
    assert [loc for loc, _ in problems_of(write(tmp_path, document))] == ['peers[0]."base url"']


# --- File-level problems ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        pytest.param(
            '[federation]\nname = "x"\nsync interval = 5\n',
            ":3:6",
            "not valid TOML: Expected '=' after a key in a key/value pair",
            id="bad-key-value",
        ),
        pytest.param(
            '[federation]\nname = "x"\n[federation]\n',
            ":3:12",
            "not valid TOML: Cannot declare ('federation',) twice",
            id="table-twice",
        ),
        pytest.param(
            '[federation]\nname = "unterminated\n',
            ":2:21",
            "not valid TOML: Illegal character '\\n'",
            id="unterminated-string",
        ),
        pytest.param(
            '[federation]\nname = "x"\npeers = [\n',
            ":4:1",
            "not valid TOML: Invalid value",
            id="end-of-document",
        ),
    ],
)
def test_toml_syntax_errors_carry_line_and_column(
    tmp_path: Path, text: str, location: str, message: str
) -> None:
    path = write(tmp_path, text)
    assert problems_of(path) == [(f"{path}{location}", message)]


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, b'[federation]\nname = "\xff"\n')
    assert problems_of(path) == [(f"{path}:2", "is not UTF-8")]


def test_byte_order_mark_is_explained(tmp_path: Path) -> None:
    path = write(tmp_path, '\ufeff[federation]\nname = "x"\n')
    assert problems_of(path) == [
        (f"{path}:1:1", "starts with a byte order mark; save it as UTF-8 without one")
    ]


def test_too_large_and_too_deep_files(tmp_path: Path) -> None:
    path = write(tmp_path, b"#" * (MAX_FILE_BYTES + 1))
    assert problems_of(path) == [(str(path), f"is larger than {MAX_FILE_BYTES} bytes")]
    deep = b'[federation]\nname = "x"\nk = ' + b"[" * 20_000 + b"]" * 20_000 + b"\n"
    path = write(tmp_path, deep)
    assert problems_of(path) == [(str(path), "is nested too deeply")]


def test_unreadable_file_is_its_own_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(UnreadableConfigError) as caught:
        load_federation(missing, {})
    assert [p.location for p in caught.value.problems] == [str(missing)]
    assert "cannot read" in caught.value.problems[0].message
    with pytest.raises(UnreadableConfigError):
        check_file(tmp_path, {})  # a directory


def test_parse_federation_names_its_source(tmp_path: Path) -> None:
    def problems(data: bytes) -> list[str]:
        with pytest.raises(ConfigError) as caught:
            parse_federation(data, source="inline", base_dir=tmp_path, environ={})
        return [str(p) for p in caught.value.problems]

    assert problems(b"[federation]\nname = 1\n") == ["federation.name: must be a string (got 1)"]
    assert problems(b"[federation\n") == [
        "inline:1:12: not valid TOML: Expected ']' at the end of a table declaration"
    ]


def test_empty_file_needs_federation(tmp_path: Path) -> None:
    assert problems_of(write(tmp_path, "")) == [("federation", "is required")]


# --- What a good file gives -------------------------------------------------------------------


def test_minimal_file_gets_defaults(tmp_path: Path) -> None:
    settings = load_federation(write(tmp_path, '[federation]\nname = "solo"\n'), {})
    assert settings == FederationSettings(name="solo")
    assert settings.peers == ()
    assert settings.risk is None
    assert settings.self_did is None
    settings.check_node_did("did:web:anything.example")  # nothing to compare with


def test_relative_paths_resolve_against_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "conf"
    (config_dir / "certs").mkdir(parents=True)
    trustme.CA().cert_pem.write_to_path(str(config_dir / "certs" / "us.pem"))
    (config_dir / "policy.toml").write_text("# policy\n")
    document = base_document()
    document["peers"][0]["ca_bundle"] = "certs/us.pem"
    document["risk"] = {"policy_id": "eu-aeo-default", "version": "2026.1", "file": "policy.toml"}
    path = write(config_dir, document)
    monkeypatch.chdir(tmp_path)  # not the file's directory
    settings = load_federation(Path("conf") / FEDERATION_CONFIG_NAME, {})
    assert settings.peers[0].ca_bundle == (config_dir / "certs" / "us.pem").resolve()
    assert settings.peers[1].ca_bundle is None
    assert settings.risk is not None
    assert settings.risk.file == (config_dir / "policy.toml").resolve()
    assert path.is_file()


def test_absolute_ca_bundle_path(tmp_path: Path) -> None:
    bundle = tmp_path / "elsewhere.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    document = base_document()
    document["peers"][1]["ca_bundle"] = str(bundle)
    (tmp_path / "conf").mkdir()
    settings = load_federation(write(tmp_path / "conf", document), {})
    assert settings.peers[1].ca_bundle == bundle.resolve()


def test_peer_lookups_and_loopback(tmp_path: Path) -> None:
    document = base_document()
    # Plain http to loopback peers is for a node on loopback itself (a test or a demo).
    document["federation"]["self_did"] = LOOPBACK_NODE_DID
    document["peers"][0]["enabled"] = False
    document["peers"][1]["base_url"] = "http://127.0.0.1:8445/"
    document["peers"][1]["push_url"] = "http://localhost:8445/events"
    settings = load_federation(write(tmp_path, document), {})
    assert [p.name for p in settings.enabled_peers] == ["jp"]
    assert settings.peers[1].base_url == "http://127.0.0.1:8445"  # trailing slash dropped
    assert settings.peers[1].push_url == "http://localhost:8445/events"
    us = settings.peer_for_did(US_DID)
    assert us is not None
    assert us.enabled is False
    assert settings.peer_for_did("did:web:uk.customs.example") is None


@pytest.mark.parametrize("key", ["base_url", "push_url"])
def test_loopback_http_peer_is_refused_for_a_node_that_is_not_on_loopback(
    tmp_path: Path, key: str
) -> None:
    document = base_document()  # self_did: the EU node at https://eu.customs.example
    document["peers"][1][key] = "http://127.0.0.1:8445" + ("" if key == "base_url" else "/events")
    [(location, message)] = problems_of(write(tmp_path, document))
    assert location == f"peers[1].{key}"
    assert message.startswith("must use https: plain http to a loopback host is allowed only")
    assert '(this node is "https://eu.customs.example")' in message


def test_loopback_http_peer_without_self_did_is_judged_by_the_peer_alone(tmp_path: Path) -> None:
    # The file does not say which node it is for; the node checks again when it adds the peer.
    document = base_document()
    del document["federation"]["self_did"]
    document["peers"][1]["base_url"] = "http://localhost:8445"
    assert load_federation(write(tmp_path, document), {}).peers[1].base_url == (
        "http://localhost:8445"
    )
    document["peers"][1]["base_url"] = "http://jp.customs.example"
    [(location, message)] = problems_of(write(tmp_path, document))
    assert location == "peers[1].base_url"
    assert "plain http is allowed only to a loopback host" in message


@pytest.mark.parametrize("query", ["?", "?token=x"], ids=["bare-query", "query"])
def test_push_url_with_a_query_is_refused(tmp_path: Path, query: str) -> None:
    # The schema lets a query through (not a fragment); the peer URL rule does not.
    document = base_document()
    document["peers"][1]["push_url"] = "https://jp.customs.example/events" + query
    [(location, message)] = problems_of(write(tmp_path, document))
    assert location == "peers[1].push_url"
    assert message.startswith("must not hold a query or a fragment")


def test_check_node_did_refuses_another_nodes_file() -> None:
    settings = load_federation(EXAMPLES / "eu.toml", {})
    settings.check_node_did(EU_DID)
    with pytest.raises(ConfigError) as caught:
        settings.check_node_did(US_DID)
    assert [(p.location, p.message) for p in caught.value.problems] == [
        ("federation.self_did", f"is {EU_DID} but this node is {US_DID}")
    ]


# --- Environment overrides --------------------------------------------------------------------


def test_peer_env_var_names() -> None:
    assert peer_env_var("us", "base_url") == "TRUSTLANE_PEER_US_BASE_URL"
    assert peer_env_var("us-east-1", "push_url") == "TRUSTLANE_PEER_US_EAST_1_PUSH_URL"


def test_env_overrides_peer_urls(tmp_path: Path) -> None:
    path = write(tmp_path, base_document())
    environ = {
        "TRUSTLANE_PEER_US_BASE_URL": "https://127.0.0.1:8444",
        "TRUSTLANE_PEER_JP_PUSH_URL": "https://jp.internal.example/events",
        "TRUSTLANE_BASE_URL": "https://eu.customs.example",  # node.toml's, not ours
    }
    settings = load_federation(path, environ)
    assert settings.peers[0].base_url == "https://127.0.0.1:8444"
    assert settings.peers[1].base_url == "https://jp.customs.example"
    assert settings.peers[1].push_url == "https://jp.internal.example/events"


def test_empty_env_value_counts_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path, base_document())
    environ = {"TRUSTLANE_PEER_US_BASE_URL": "", "TRUSTLANE_PEER_UK_BASE_URL": ""}
    settings = load_federation(path, environ)
    assert settings.peers[0].base_url == "https://us.customs.example"


def test_env_override_is_checked_and_named(tmp_path: Path) -> None:
    path = write(tmp_path, base_document())
    environ = {
        "TRUSTLANE_PEER_US_BASE_URL": "http://us.internal.example",
        "TRUSTLANE_PEER_UK_BASE_URL": "https://uk.customs.example",
    }
    assert problems_of(path, environ) == [
        (
            "peers[0].base_url",
            "must use https: plain http is allowed only to a loopback host "
            '(got "http://us.internal.example") (from $TRUSTLANE_PEER_US_BASE_URL)',
        ),
        ("$TRUSTLANE_PEER_UK_BASE_URL", "names no peer in this file"),
    ]


# --- Direct construction (tests, the demo) ----------------------------------------------------


def test_dataclasses_allow_fast_demo_values() -> None:
    sync = SyncSettings(interval_seconds=1, jitter_seconds=0, max_backoff_seconds=2)
    fresh = FreshnessSettings(status_max_age_seconds=2, did_document_max_age_seconds=2)
    settings = FederationSettings(name="demo", sync=sync, freshness=fresh)
    assert settings.sync.interval_seconds == 1


@pytest.mark.parametrize(
    ("build", "locations"),
    [
        pytest.param(
            lambda: SyncSettings(interval_seconds=10, jitter_seconds=11),
            ["jitter_seconds"],
            id="sync-jitter",
        ),
        pytest.param(lambda: SyncSettings(timeout_seconds=0), ["timeout_seconds"], id="sync-zero"),
        pytest.param(
            lambda: FreshnessSettings(status_max_age_seconds=True),
            ["status_max_age_seconds"],
            id="freshness-bool",
        ),
        pytest.param(
            lambda: PushSettings(max_skew_seconds=100, nonce_ttl_seconds=100),
            ["nonce_ttl_seconds"],
            id="push-nonce",
        ),
        pytest.param(lambda: RiskPolicyRef("", "1"), ["policy_id"], id="risk-empty-id"),
        pytest.param(
            lambda: PeerSettings(
                name="us",
                did=US_DID,
                base_url="https://user@us.customs.example",
                key_fingerprints=(US_KEY,),
                push_url="https://:443/events",
            ),
            ["base_url", "push_url"],
            id="peer-urls",
        ),
        pytest.param(
            lambda: PeerSettings(
                name="us",
                did="did:key:x",
                base_url="http://us.customs.example",
                key_fingerprints=(),
            ),
            ["did", "base_url", "key_fingerprints"],
            id="peer",
        ),
        pytest.param(
            lambda: FederationSettings(
                name="x",
                self_did=EU_DID,
                peers=(PeerSettings("us", US_DID, "http://127.0.0.1:8444", (US_KEY,)),),
            ),
            ["peers[0].base_url"],
            id="federation-loopback-http-peer-of-a-public-node",
        ),
        pytest.param(
            lambda: FederationSettings(
                name="x",
                self_did=EU_DID,
                peers=(
                    PeerSettings("us", US_DID, "https://us.customs.example", (US_KEY,)),
                    PeerSettings("us", EU_DID, "https://eu.customs.example", (EU_KEY,)),
                ),
                freshness=FreshnessSettings(status_max_age_seconds=10),
            ),
            ["peers[1].name", "peers[1].did", "freshness.status_max_age_seconds"],
            id="federation",
        ),
    ],
)
def test_dataclasses_refuse_what_the_loader_refuses(
    build: Callable[[], object], locations: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        build()
    assert [p.location for p in caught.value.problems] == locations


# --- trustlane config check -------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="trustlane")
    config_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["config", "check", *argv])
    try:
        code: int = args.func(args)
    except CLIError as e:
        print(f"trustlane: error: {e}", file=sys.stderr)
        code = e.exit_code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("node", "summary"), [("eu", "ok: 2 peers"), ("us", "ok: 1 peer")])
def test_cli_ok(capsys: pytest.CaptureFixture[str], node: str, summary: str) -> None:
    assert run_cli(capsys, str(EXAMPLES / f"{node}.toml")) == (0, summary + "\n", "")


def test_cli_counts_disabled_peers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    document = base_document()
    document["peers"][1]["enabled"] = False
    path = write(tmp_path, document)
    assert run_cli(capsys, str(path)) == (0, "ok: 2 peers (1 disabled)\n", "")
    code, out, _ = run_cli(capsys, str(path), "--json")
    assert code == 0
    assert json.loads(out) == {
        "valid": True,
        "federation": "test federation",
        "peers": ["us", "jp"],
        "enabledPeers": ["us"],
    }


def test_cli_reports_every_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    document = base_document()
    document["sync"]["interval_seconds"] = 2
    document["peers"][1]["did"] = US_DID
    path = write(tmp_path, document)
    code, out, err = run_cli(capsys, str(path))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f'peers[1].did: repeats peers[0].did ("{US_DID}")',
        "sync.interval_seconds: must be at least 5 (got 2)",
    ]
    code, out, err = run_cli(capsys, str(path), "--json")
    assert (code, err) == (1, "")
    assert json.loads(out) == {
        "valid": False,
        "problems": [
            {"location": "peers[1].did", "message": f'repeats peers[0].did ("{US_DID}")'},
            {"location": "sync.interval_seconds", "message": "must be at least 5 (got 2)"},
        ],
    }


def test_cli_syntax_error_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, '[federation]\nname = "x"\n= 3\n')
    code, out, err = run_cli(capsys, str(path))
    assert (code, out) == (1, "")
    assert err.startswith(f"{path}:3:1: not valid TOML: ")


def test_cli_applies_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, base_document())
    monkeypatch.setenv("TRUSTLANE_PEER_JP_BASE_URL", "ftp://jp.customs.example")
    code, _, err = run_cli(capsys, str(path))
    assert code == 1
    assert err.splitlines() == [
        "peers[1].base_url: must be an http(s) origin (scheme, host, optional port; no path), "
        'e.g. https://us.customs.example (got "ftp://jp.customs.example") '
        "(from $TRUSTLANE_PEER_JP_BASE_URL)"
    ]


def test_cli_rejects_a_node_toml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('[node]\nname = "EU"\nbase_url = "https://eu.customs.example"\n')
    code, _, err = run_cli(capsys, str(path))
    assert code == 1
    assert [line.split(":")[0] for line in err.splitlines()] == ["federation", "node"]


def test_cli_unreadable_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    code, out, err = run_cli(capsys, str(missing))
    assert (code, out) == (2, "")
    assert err == (
        f"trustlane: error: {missing}: cannot read: No such file or directory: "
        "check the path and its permissions\n"
    )


def test_cli_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (EXAMPLES / "us.toml").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert run_cli(capsys, "-") == (0, "ok: 1 peer\n", "")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"[federation]\n")))
    assert run_cli(capsys, "-") == (1, "", "federation.name: is required\n")


def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run_cli(capsys)  # no FILE
    assert caught.value.code == 2
    assert "the following arguments are required: file" in capsys.readouterr().err


def test_cli_help_says_federation_files_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run_cli(capsys, "--help")
    assert caught.value.code == 0
    assert "not node.toml" in capsys.readouterr().out


def test_base_document_is_valid(tmp_path: Path) -> None:
    # Every negative case starts from this document, so it must pass as it is.
    document = base_document()
    path = write(tmp_path, copy.deepcopy(document))
    assert check_file(path, {}) == []
    settings = load_federation(path, {})
    assert [p.name for p in settings.peers] == ["us", "jp"]
