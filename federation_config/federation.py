"""A node's federation settings: ``federation.toml`` plus environment overrides.

The file sits beside ``node.toml`` in the data directory and says who the node's peers are
(their did:web, where to reach them, the Multikey fingerprints pinned for them and an
optional CA bundle for their TLS), how often to sync, how fresh peer data must be, how pushed
events are accepted, and which risk policy applies. Operators edit it by hand, so the loader
reports *every* problem at once, each with its location (``peers[1].base_url``, or
``federation.toml:12:5`` for a TOML syntax error).

Checking happens in three steps: TOML syntax; the JSON Schema
``federation_config/schema/federation.schema.json`` (every key, type, pattern and range);
then what a schema cannot say (unique peer names and DIDs, plain http only to loopback
hosts, valid Ed25519 keys, readable CA bundles and policy files, relations between numbers).
The dataclasses check the same relations when built directly, so tests and the demo cannot
build settings the loader would refuse (they may use numbers outside the schema's ranges,
such as a one-second sync interval).

Environment variables override per-host URLs: ``TRUSTLANE_PEER_<NAME>_BASE_URL`` and
``TRUSTLANE_PEER_<NAME>_PUSH_URL``, where ``<NAME>`` is the peer's name upper-cased with
every character other than A-Z and 0-9 replaced by ``_`` (see :func:`peer_env_var`). An
empty variable counts as unset; a set variable that names no peer is a problem (it is
probably a typo). The file holds no secrets: pinned keys are public.

This module reads the file and the files it names, but no global state: callers pass the
environment. It does not read ``node.toml`` (see :mod:`federation_config.loader`) and does
not contact peers.

Example:
    >>> settings = load_federation(Path("/var/lib/trustlane/federation.toml"), os.environ)
    >>> settings.check_node_did(node_settings.did)
    >>> [p.name for p in settings.enabled_peers]
    ['us', 'jp']
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from credentials.errors import MalformedInputError
from federation_config import _federation_checks as checks

__all__ = [
    "FEDERATION_CONFIG_NAME",
    "MAX_FILE_BYTES",
    "ConfigError",
    "ConfigProblem",
    "FederationSettings",
    "FreshnessSettings",
    "PeerSettings",
    "PushSettings",
    "RiskPolicyRef",
    "SyncSettings",
    "UnreadableConfigError",
    "check_file",
    "federation_schema",
    "load_federation",
    "parse_federation",
    "peer_env_var",
]

FEDERATION_CONFIG_NAME = "federation.toml"
"""The file's name in the node's data directory."""

MAX_FILE_BYTES = 1024 * 1024
"""Largest accepted federation file."""

_MAX_SUMMARY = 5


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration.

    Attributes:
        location: Where: a dotted key path (``peers[1].base_url``), ``FILE:LINE:COLUMN`` for a
            TOML syntax error, ``FILE`` for the file as a whole, or ``$VARIABLE`` for an
            environment variable.
        message: What is wrong, e.g. ``must be at least 5 (got 1)``.
    """

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ConfigError(MalformedInputError):
    """The federation settings are not acceptable; :attr:`problems` lists every reason.

    Attributes:
        problems: Every problem found, sorted by location (environment variables last).
    """

    code = "INVALID_CONFIG"

    def __init__(self, problems: Iterable[ConfigProblem], *, source: str = "federation") -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        count = len(self.problems)
        shown = "; ".join(str(p) for p in self.problems[:_MAX_SUMMARY])
        more = f"; and {count - _MAX_SUMMARY} more" if count > _MAX_SUMMARY else ""
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun}: {shown}{more}")

    def diagnostics(self) -> str:
        """Explain the error for an operator, one problem per line."""
        head = f"{self.code}: {self.message.split(': ', 1)[0]}"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


class UnreadableConfigError(ConfigError):
    """The file cannot be read at all (missing, a directory, no permission)."""


def _raise_if_any(issues: Iterable[tuple[str, str]], what: str) -> None:
    problems = [ConfigProblem(location, message) for location, message in issues]
    if problems:
        raise ConfigError(problems, source=what)


@dataclass(frozen=True)
class SyncSettings:
    """How this node pulls peers' DID documents and status lists.

    Attributes:
        interval_seconds: Time between two pulls from one peer.
        jitter_seconds: Random extra delay (0..jitter) per pull; at most ``interval_seconds``.
        max_backoff_seconds: Longest wait between retries of a failing peer; at least
            ``interval_seconds``.
        timeout_seconds: Connect and read timeout of one request.
        max_response_bytes: Largest response body accepted from a peer.

    Raises:
        ConfigError: A value is not a positive integer (jitter may be 0) or a relation fails.
    """

    interval_seconds: int = 60
    jitter_seconds: int = 10
    max_backoff_seconds: int = 900
    timeout_seconds: int = 10
    max_response_bytes: int = 2 * 1024 * 1024

    def __post_init__(self) -> None:
        positive = ("interval_seconds", "max_backoff_seconds", "timeout_seconds")
        issues = [
            *checks.count_issues(self, (*positive, "max_response_bytes")),
            *checks.count_issues(self, ("jitter_seconds",), minimum=0),
        ]
        if not issues:
            issues += checks.sync_issues(
                self.interval_seconds, self.jitter_seconds, self.max_backoff_seconds
            )
        _raise_if_any(issues, "sync")


@dataclass(frozen=True)
class FreshnessSettings:
    """How old cached peer data may be and still count (older: the check is ``unknown``).

    Attributes:
        status_max_age_seconds: Largest age of a peer's status list.
        did_document_max_age_seconds: Largest age of a peer's cached DID document.

    Raises:
        ConfigError: A value is not a positive integer.
    """

    status_max_age_seconds: int = 300
    did_document_max_age_seconds: int = 3600

    def __post_init__(self) -> None:
        names = ("status_max_age_seconds", "did_document_max_age_seconds")
        _raise_if_any(checks.count_issues(self, names), "freshness")


@dataclass(frozen=True)
class PushSettings:
    """Signed events pushed between peers (the scheduled pull stays the fallback).

    Attributes:
        enabled: Accept and send pushed events.
        max_skew_seconds: Largest difference between an event's signature time and our clock.
        nonce_ttl_seconds: How long an event nonce is remembered; at least twice the skew.

    Raises:
        ConfigError: A value is out of range or the nonce lifetime is too short.
    """

    enabled: bool = True
    max_skew_seconds: int = 60
    nonce_ttl_seconds: int = 300

    def __post_init__(self) -> None:
        issues = [
            *checks.count_issues(self, ("max_skew_seconds",), minimum=0),
            *checks.count_issues(self, ("nonce_ttl_seconds",)),
        ]
        if not issues:
            issues += checks.push_issues(self.max_skew_seconds, self.nonce_ttl_seconds)
        _raise_if_any(issues, "push")


@dataclass(frozen=True)
class RiskPolicyRef:
    """Which risk policy the node applies; decisions record ``policy_id`` and ``version``.

    Attributes:
        policy_id: Identifier of the policy.
        version: Version of the policy.
        file: File holding the policy (absolute); None: the policy bundled under ``policy_id``.

    Raises:
        ConfigError: ``policy_id`` or ``version`` is empty.
    """

    policy_id: str
    version: str
    file: Path | None = None

    def __post_init__(self) -> None:
        names = ("policy_id", "version")
        _raise_if_any([(n, "must not be empty") for n in names if not getattr(self, n)], "risk")


@dataclass(frozen=True)
class PeerSettings:
    """One partner node.

    Attributes:
        name: Short unique handle (names the environment overrides).
        did: The peer's did:web.
        base_url: Origin where the peer is reached, without a trailing slash.
        key_fingerprints: The peer's pinned Ed25519 keys, each a whole Multikey public key
            (``z6Mk...``, as ``registry peer add --key`` takes it; despite the name, not a
            hash of one); see :func:`registry.peer_keys.accept_first_contact`.
        ca_bundle: PEM CA bundle trusted for the peer's TLS (absolute); None: system store.
        push_url: Where this node pushes its signed events to the peer; None: no push.
        enabled: False: neither synced with nor recognised.

    Raises:
        ConfigError: A field breaks a rule (each problem is listed).
    """

    name: str
    did: str
    base_url: str
    key_fingerprints: tuple[str, ...]
    ca_bundle: Path | None = None
    push_url: str | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        issues: list[tuple[str, str]] = []
        if not self.name:
            issues.append(("name", "must not be empty"))
        if not self.did.startswith("did:web:"):
            issues.append(("did", f"must be a did:web (got {checks.shown(self.did)})"))
        urls = (("base_url", self.base_url, True), ("push_url", self.push_url, False))
        for key, url, origin in urls:
            issue = None if url is None else checks.url_issue(url, origin=origin)
            if issue:
                issues.append((key, issue))
        if not self.key_fingerprints:
            issues.append(("key_fingerprints", "must list at least one key"))
        for i, key in enumerate(self.key_fingerprints):
            issue = checks.multikey_issue(key)
            if issue:
                issues.append((f"key_fingerprints[{i}]", issue))
        _raise_if_any(issues, f"peer {self.name!r}")


@dataclass(frozen=True)
class FederationSettings:
    """A node's federation settings.

    Attributes:
        name: Human name of the federation.
        peers: The partner nodes, in file order (names and DIDs unique).
        sync: Pull schedule and limits.
        freshness: Age limits of cached peer data (at least one sync period).
        push: Pushed events.
        risk: The risk policy; None when the file names none.
        self_did: This node's own did:web if the file states it (see :meth:`check_node_did`).

    Raises:
        ConfigError: The name is blank, peers repeat a name or DID (or are this node), a
            peer is reached over plain http while ``self_did`` is not a loopback node (see
            :func:`registry.peer_origin.check_peer_base_url`), or a freshness limit is
            shorter than one sync period.
    """

    name: str
    peers: tuple[PeerSettings, ...] = ()
    sync: SyncSettings = field(default_factory=SyncSettings)
    freshness: FreshnessSettings = field(default_factory=FreshnessSettings)
    push: PushSettings = field(default_factory=PushSettings)
    risk: RiskPolicyRef | None = None
    self_did: str | None = None

    def __post_init__(self) -> None:
        issues = [] if self.name.strip() else [("federation.name", "must not be blank")]
        names, dids = [p.name for p in self.peers], [p.did for p in self.peers]
        for i, key, message in checks.peer_conflicts(names, dids, self.self_did):
            issues.append((f"peers[{i}].{key}", message))
        for i, peer in enumerate(self.peers):  # Plain http only if this node is on loopback.
            for key, url in (("base_url", peer.base_url), ("push_url", peer.push_url)):
                issue = url and checks.url_issue(
                    url, origin=key == "base_url", self_did=self.self_did
                )
                if issue:
                    issues.append((f"peers[{i}].{key}", issue))
        period = self.sync.interval_seconds + self.sync.jitter_seconds
        fresh = self.freshness
        stale = checks.freshness_issues(
            period, fresh.status_max_age_seconds, fresh.did_document_max_age_seconds
        )
        issues += [(f"freshness.{key}", message) for key, message in stale]
        _raise_if_any(issues, "federation")

    @property
    def enabled_peers(self) -> tuple[PeerSettings, ...]:
        """The peers to sync with and recognise."""
        return tuple(p for p in self.peers if p.enabled)

    def peer_for_did(self, did: str) -> PeerSettings | None:
        """Return the peer (enabled or not) whose DID is ``did``, or None."""
        return next((p for p in self.peers if p.did == did), None)

    def check_node_did(self, node_did: str) -> None:
        """Refuse a file written for another node.

        Args:
            node_did: This node's did:web (``NodeSettings.did``).

        Raises:
            ConfigError: ``federation.self_did`` is set and differs from ``node_did``.
        """
        if self.self_did is not None and self.self_did != node_did:
            problem = ConfigProblem(
                "federation.self_did", f"is {self.self_did} but this node is {node_did}"
            )
            raise ConfigError([problem])


def peer_env_var(peer_name: str, setting: str) -> str:
    """Return the environment variable that overrides a peer's setting.

    ``peer_env_var("us-east", "base_url")`` is ``TRUSTLANE_PEER_US_EAST_BASE_URL``.

    Args:
        peer_name: The peer's ``name``.
        setting: ``base_url`` or ``push_url``.

    Returns:
        The variable's name.
    """
    return checks.peer_env_var(peer_name, setting)


def federation_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of ``federation.toml`` (a fresh copy).

    Raises:
        MalformedJSONError: The bundled file is damaged (an installation problem).
    """
    return copy.deepcopy(checks.schema())


def _build(document: dict[str, Any], base_dir: Path) -> FederationSettings:
    """Build settings from a document that passed every check."""

    def resolved(value: str | None) -> Path | None:
        return None if value is None else (base_dir / value).resolve()

    fed, risk = document["federation"], document.get("risk")
    return FederationSettings(
        name=fed["name"],
        self_did=fed.get("self_did"),
        sync=SyncSettings(**document.get("sync", {})),
        freshness=FreshnessSettings(**document.get("freshness", {})),
        push=PushSettings(**document.get("push", {})),
        risk=None
        if risk is None
        else RiskPolicyRef(risk["policy_id"], risk["version"], resolved(risk.get("file"))),
        peers=tuple(
            PeerSettings(
                name=p["name"],
                did=p["did"],
                base_url=p["base_url"].rstrip("/"),
                key_fingerprints=tuple(p["key_fingerprints"]),
                ca_bundle=resolved(p.get("ca_bundle")),
                push_url=p.get("push_url"),
                enabled=p.get("enabled", True),
            )
            for p in document.get("peers", [])
        ),
    )


def parse_federation(
    data: bytes, *, source: str, base_dir: Path, environ: Mapping[str, str]
) -> FederationSettings:
    """Parse and check federation settings from TOML bytes.

    Args:
        data: The document (UTF-8 TOML).
        source: How to name the document in locations, e.g. the file's path.
        base_dir: Directory that relative paths (``ca_bundle``, ``risk.file``) are relative to.
        environ: The environment (``os.environ`` in production, a dict in tests).

    Returns:
        The settings, with environment overrides applied and paths made absolute.

    Raises:
        ConfigError: Lists every problem found, each with its location.
    """

    def fail(*issues: tuple[str, str]) -> ConfigError:
        return ConfigError([ConfigProblem(*issue) for issue in issues], source=source)

    if len(data) > MAX_FILE_BYTES:
        raise fail((source, f"is larger than {MAX_FILE_BYTES} bytes"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise fail((f"{source}:{line}", "is not UTF-8")) from e
    if text.startswith("\ufeff"):
        raise fail((f"{source}:1:1", "starts with a byte order mark; save it as UTF-8 without one"))
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise fail(checks.syntax_issue(text, e, source)) from e
    except RecursionError as e:  # tomllib recurses into nested arrays and inline tables.
        raise fail((source, "is nested too deeply")) from e
    checker = checks.Checker(source, base_dir)
    checker.apply_env(document, environ)
    checker.check_schema(document)
    defaults = {
        "sync": asdict(SyncSettings()),
        "freshness": asdict(FreshnessSettings()),
        "push": asdict(PushSettings()),
    }
    checker.check_rules(document, defaults)
    problems = checker.problems()
    if problems:
        raise fail(*problems)
    return _build(document, base_dir)


def load_federation(path: Path, environ: Mapping[str, str]) -> FederationSettings:
    """Read and check a ``federation.toml`` file.

    Args:
        path: The file. Relative paths in it are relative to its directory.
        environ: The environment (``os.environ`` in production, a dict in tests).

    Returns:
        The settings, with environment overrides applied and paths made absolute.

    Raises:
        UnreadableConfigError: The file cannot be read (missing, a directory, no permission).
        ConfigError: Lists every problem found, each with its location.
    """
    source = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        problem = ConfigProblem(source, f"cannot read: {e.strerror or e}")
        raise UnreadableConfigError([problem], source=source) from e
    return parse_federation(data, source=source, base_dir=path.resolve().parent, environ=environ)


def check_file(path: Path, environ: Mapping[str, str]) -> list[ConfigProblem]:
    """Return every problem of a ``federation.toml`` file (empty when it is fine).

    Args:
        path: The file.
        environ: The environment whose overrides apply.

    Returns:
        The problems, sorted by location (environment variables last).

    Raises:
        UnreadableConfigError: The file cannot be read at all.
    """
    try:
        load_federation(path, environ)
    except UnreadableConfigError:
        raise
    except ConfigError as e:
        return list(e.problems)
    return []
