"""The checks behind :mod:`federation_config.federation` (private).

Rules shared by the loader and the settings dataclasses (URLs, keys, relations between
numbers, peer conflicts), the JSON Schema and its messages worded for TOML, and
:class:`Checker`, which collects every problem of one parsed document with its location.
Nothing here builds settings or raises for a bad document: callers turn the collected
``(location, message)`` pairs into :class:`~federation_config.federation.ConfigError`.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias

# Untyped unless types-jsonschema is installed; with the stubs the ignore is simply unused.
import jsonschema  # type: ignore[import-untyped, unused-ignore]

from credentials.errors import MalformedInputError
from credentials.keys import PublicKey
from credentials.strict_json import JSONObject, loads_object
from registry.peer_origin import did_web_origin, peer_url_issue

ENV_SETTINGS = ("base_url", "push_url")
MAX_REFERENCED_BYTES = 4 * 1024 * 1024
_ENV_VAR = re.compile(r"TRUSTLANE_PEER_(.+)_(BASE_URL|PUSH_URL)")
_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_TYPE_NAMES = {
    "object": "a table",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}
_MAX_SHOWN = 80
KeyPath: TypeAlias = tuple[str | int, ...]
Issue: TypeAlias = tuple[str, str]


def shown(value: object) -> str:
    """Show a value in a message (JSON-like, shortened)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = str(value)  # TOML dates and times
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def peer_env_var(peer_name: str, setting: str) -> str:
    """Return the variable overriding a peer's setting (see the public re-export)."""
    handle = re.sub(r"[^A-Z0-9]", "_", peer_name.upper())
    return f"TRUSTLANE_PEER_{handle}_{setting.upper()}"


# Rules shared with the dataclasses. Each returns or yields what is wrong, never raises.


def url_issue(url: str, *, origin: bool, self_did: object = None) -> str | None:
    """Say what is wrong with a peer URL (None: nothing).

    The rule is :func:`registry.peer_origin.peer_url_issue`, the one the node applies when
    it adds a peer. This node's base URL is the origin ``self_did`` names; without it (or
    with an unusable one) plain http is judged by the peer's host alone.
    """
    return peer_url_issue(url, node_base_url=node_origin(self_did), origin=origin)


def node_origin(self_did: object) -> str | None:
    """The origin this node's ``self_did`` names, or None (not given, or not a did:web)."""
    if not isinstance(self_did, str):
        return None
    try:
        return did_web_origin(self_did)
    except MalformedInputError:
        return None


def multikey_issue(value: str) -> str | None:
    """Say why ``value`` is not a usable Ed25519 Multikey (None: it is one)."""
    try:
        PublicKey.from_multibase(value)
    except MalformedInputError as e:  # InvalidKeyError is one.
        return f"is not a usable Ed25519 Multikey: {e.message}"
    return None


def sync_issues(interval: int, jitter: int, backoff: int) -> Iterator[Issue]:
    """Relations between ``[sync]`` values, as ``(key, message)``."""
    if jitter > interval:
        yield "jitter_seconds", f"must be at most interval_seconds ({interval}) (got {jitter})"
    if backoff < interval:
        yield (
            "max_backoff_seconds",
            f"must be at least interval_seconds ({interval}) (got {backoff})",
        )


def push_issues(skew: int, nonce_ttl: int) -> Iterator[Issue]:
    """Relations between ``[push]`` values, as ``(key, message)``."""
    if nonce_ttl < 2 * skew:
        yield (
            "nonce_ttl_seconds",
            f"must be at least 2 * max_skew_seconds ({2 * skew}) so a replay within the "
            f"accepted skew is still recognised (got {nonce_ttl})",
        )


def freshness_issues(sync_period: int, status_age: int, did_age: int) -> Iterator[Issue]:
    """``[freshness]`` limits shorter than one sync period, as ``(key, message)``."""
    for key, value in (
        ("status_max_age_seconds", status_age),
        ("did_document_max_age_seconds", did_age),
    ):
        if value < sync_period:
            yield (
                key,
                f"must be at least sync.interval_seconds + sync.jitter_seconds ({sync_period}), "
                f"or data goes stale between two syncs (got {value})",
            )


def peer_conflicts(
    names: Sequence[object], dids: Sequence[object], self_did: object
) -> Iterator[tuple[int, str, str]]:
    """Yield ``(peer index, key, message)`` for repeated names and DIDs, and for self."""
    for key, values in (("name", names), ("did", dids)):
        first: dict[str, int] = {}
        for i, value in enumerate(values):
            if not isinstance(value, str):
                continue
            if value in first:
                yield i, key, f"repeats peers[{first[value]}].{key} ({shown(value)})"
            else:
                first[value] = i
    for i, did in enumerate(dids):
        if isinstance(self_did, str) and did == self_did:
            yield i, "did", "is this node's own DID (federation.self_did); a node is not its peer"


def count_issues(obj: object, names: Sequence[str], *, minimum: int = 1) -> Iterator[Issue]:
    """Yield ``(name, message)`` for attributes of ``obj`` that are not ints >= minimum."""
    for name in names:
        value = getattr(obj, name)
        if type(value) is not int or value < minimum:
            yield name, f"must be an integer of at least {minimum} (got {value!r})"


def file_issue(path: Path, *, pem: bool) -> str | None:
    """Say why a referenced file is unusable (None: it is fine)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(MAX_REFERENCED_BYTES)
    except FileNotFoundError:
        return f"file {path} does not exist"
    except IsADirectoryError:
        return f"{path} is a directory, not a file"
    except OSError as e:
        return f"cannot read {path}: {e.strerror or e}"
    if pem and _PEM_CERTIFICATE not in head:
        return f"{path} holds no PEM certificate ({_PEM_CERTIFICATE.decode()})"
    return None


def syntax_issue(text: str, error: tomllib.TOMLDecodeError, source: str) -> Issue:
    """Locate a TOML syntax error as ``FILE:LINE:COLUMN`` (tomllib puts it in the message)."""
    message = str(error)
    match = _TOML_POSITION.search(message)
    if match is None:
        return source, f"not valid TOML: {message}"
    if match.group(1):
        line, column = int(match.group(1)), int(match.group(2))
    else:  # At end of document: point after the last character.
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    return f"{source}:{line}:{column}", f"not valid TOML: {message[: match.start()]}"


# The JSON Schema and its messages.


@functools.cache
def schema() -> JSONObject:
    """Return the bundled schema (shared: callers must not modify it)."""
    resource = resources.files("federation_config") / "schema" / "federation.schema.json"
    # Strict parsing also catches a duplicated keyword in our own schema.
    return loads_object(resource.read_bytes())


@functools.cache
def _validator() -> Any:
    checked = schema()
    jsonschema.Draft202012Validator.check_schema(checked)
    # No format checker: every format rule is written as a pattern.
    return jsonschema.Draft202012Validator(checked)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _describe(error: jsonschema.ValidationError) -> Iterator[tuple[KeyPath, str]]:
    """Turn one jsonschema error into (path, message) pairs worded for TOML."""
    path = tuple(error.absolute_path)
    keyword = error.validator
    expected: Any = error.validator_value
    instance: Any = error.instance
    subschema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if keyword == "required":
        for name in expected:
            if name not in instance:
                yield (*path, name), "is required"
    elif keyword == "additionalProperties":
        allowed = list(subschema.get("properties", {}))
        for name in instance:
            if name not in allowed:
                yield (*path, name), f"unknown key (allowed: {', '.join(allowed)})"
    elif keyword == "uniqueItems":
        for i, item in enumerate(instance):
            if item in instance[:i]:
                yield (*path, i), f"repeats entry [{instance.index(item)}] ({shown(item)})"
    elif keyword == "type" and expected == "array" and isinstance(instance, dict) and path:
        yield path, f"must be an array of tables ([[{path[-1]}]]), not a table ([{path[-1]}])"
    elif keyword == "type":
        wanted = expected if isinstance(expected, list) else [expected]
        names = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in wanted)
        yield path, f"must be {names} (got {shown(instance)})"
    elif keyword == "pattern":
        hint = subschema.get("description", "well formed")
        yield path, f"must be {hint} (got {shown(instance)})"
    elif keyword in ("minimum", "maximum"):
        bound = "at least" if keyword == "minimum" else "at most"
        yield path, f"must be {bound} {expected} (got {instance})"
    elif keyword in ("minItems", "maxItems"):
        bound = "at least" if keyword == "minItems" else "at most"
        yield path, f"must have {bound} {_plural(expected, 'entry')} (got {len(instance)})"
    elif keyword in ("minLength", "maxLength"):
        bound = "at least" if keyword == "minLength" else "at most"
        yield path, f"must be {bound} {_plural(expected, 'character')} (got {len(instance)})"
    else:  # pragma: no cover - every keyword the schema uses is worded above.
        yield path, error.message


def _control_characters(data: Any) -> Iterator[KeyPath]:
    """Yield the path of every string holding a control character (iteratively)."""
    stack: list[tuple[KeyPath, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str) and _CONTROL.search(value):
            yield path
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in enumerate(value))
        elif isinstance(value, dict):
            stack.extend(((*path, k), item) for k, item in value.items())


def format_location(path: KeyPath, source: str) -> str:
    """``("peers", 1, "base_url")`` -> ``peers[1].base_url`` (the root is ``source``)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            text += f".{key}" if text else key
    return text or source


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class Checker:
    """Collects every problem of one parsed document, each with its location.

    Steps, in order: :meth:`apply_env` (overrides are checked like file values), then
    :meth:`check_schema`, then :meth:`check_rules` (only on values the schema accepted, so
    one mistake gives one problem).
    """

    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir
        self.issues: list[tuple[KeyPath, str]] = []
        self.env_issues: list[Issue] = []
        self.overridden: dict[KeyPath, str] = {}

    def _add(self, path: KeyPath, message: str | None) -> None:
        if message is not None:
            self.issues.append((path, message))

    def clean(self, *paths: KeyPath) -> bool:
        """Tell whether nothing was reported at, above or below each path."""
        return not any(
            p[: len(path)] == path or path[: len(p)] == p for p, _ in self.issues for path in paths
        )

    def apply_env(self, data: dict[str, Any], environ: Mapping[str, str]) -> None:
        """Apply ``TRUSTLANE_PEER_<NAME>_*`` overrides to ``data``; flag unknown ones."""
        peers = data.get("peers")
        used: set[str] = set()
        for i, peer in enumerate(peers if isinstance(peers, list) else []):
            if not (isinstance(peer, dict) and isinstance(peer.get("name"), str)):
                continue
            for setting in ENV_SETTINGS:
                var = peer_env_var(peer["name"], setting)
                used.add(var)
                if environ.get(var):  # Empty counts as unset, as for node.toml.
                    peer[setting] = environ[var]
                    self.overridden["peers", i, setting] = var
        for var in sorted(environ):
            if _ENV_VAR.fullmatch(var) and environ[var] and var not in used:
                self.env_issues.append((f"${var}", "names no peer in this file"))

    def check_schema(self, data: dict[str, Any]) -> None:
        """Validate against the JSON Schema; also reject control characters in strings."""
        bad_text = set(_control_characters(data))
        for path in bad_text:
            self._add(path, "must not contain control characters")
        errors = list(_validator().iter_errors(data))
        # A value of the wrong type gets one message, not also its failed range or pattern.
        mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
        for error in errors:
            if error.validator != "type" and tuple(error.absolute_path) in mistyped:
                continue
            for path, message in _describe(error):
                if path not in bad_text:
                    self._add(path, message)

    def check_rules(self, data: dict[str, Any], defaults: Mapping[str, Mapping[str, Any]]) -> None:
        """Check what the schema cannot say, on values it accepted.

        Args:
            data: The document (after :meth:`check_schema`).
            defaults: Default values of ``sync``, ``freshness`` and ``push`` by key.
        """
        sync, fresh, push = (
            {**defaults[name], **_table(data.get(name))} for name in ("sync", "freshness", "push")
        )
        s_keys = ("interval_seconds", "jitter_seconds", "max_backoff_seconds")
        if self.clean(*(("sync", k) for k in s_keys)):
            for key, message in sync_issues(*(sync[k] for k in s_keys)):
                self._add(("sync", key), message)
        p_keys = ("max_skew_seconds", "nonce_ttl_seconds")
        if self.clean(*(("push", k) for k in p_keys)):
            for key, message in push_issues(*(push[k] for k in p_keys)):
                self._add(("push", key), message)
        f_keys = ("status_max_age_seconds", "did_document_max_age_seconds")
        if self.clean(*(("sync", k) for k in s_keys[:2]), *(("freshness", k) for k in f_keys)):
            period = sync["interval_seconds"] + sync["jitter_seconds"]
            for key, message in freshness_issues(period, *(fresh[k] for k in f_keys)):
                self._add(("freshness", key), message)
        risk_file = _table(data.get("risk")).get("file")
        if isinstance(risk_file, str) and self.clean(("risk", "file")):
            self._add(("risk", "file"), file_issue(self.base_dir / risk_file, pem=False))
        self._check_peers(data.get("peers"), _table(data.get("federation")).get("self_did"))

    def _check_peers(self, peers: object, self_did: object) -> None:
        tables = [_table(p) for p in peers] if isinstance(peers, list) else []
        node_did = self_did if self.clean(("federation", "self_did")) else None
        for i, peer in enumerate(tables):
            for key in ("base_url", "push_url"):
                if isinstance(peer.get(key), str) and self.clean(("peers", i, key)):
                    issue = url_issue(peer[key], origin=key == "base_url", self_did=node_did)
                    self._add(("peers", i, key), issue)
            keys = peer.get("key_fingerprints")
            for j, key in enumerate(keys if isinstance(keys, list) else []):
                at = ("peers", i, "key_fingerprints", j)
                if isinstance(key, str) and self.clean(at):
                    self._add(at, multikey_issue(key))
            ca_bundle = peer.get("ca_bundle")
            if isinstance(ca_bundle, str) and self.clean(("peers", i, "ca_bundle")):
                issue = file_issue(self.base_dir / ca_bundle, pem=True)
                self._add(("peers", i, "ca_bundle"), issue)
        names = [p.get("name") for p in tables]
        dids = [p.get("did") for p in tables]
        for i, key, message in peer_conflicts(names, dids, self_did):
            if self.clean(("peers", i, key)):
                self._add(("peers", i, key), message)

    def problems(self) -> list[Issue]:
        """Every problem as ``(location, message)``: document ones sorted, then variables."""

        def order(item: tuple[KeyPath, str]) -> tuple[tuple[int, int, str], ...]:
            return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in item[0])

        found = []
        for path, message in sorted(dict.fromkeys(self.issues), key=order):
            var = self.overridden.get(path)
            found.append(
                (format_location(path, self.source), f"{message} (from ${var})" if var else message)
            )
        return found + self.env_issues
