"""Risk policy files: the bundled policies, their JSON Schema, and reading a policy file.

A node names its policy in ``federation.toml`` (``[risk] policy_id``, ``version`` and an
optional ``file``). Without a file, the policy bundled here under ``<policy_id>.json`` is
used. Either way the document is checked in three steps, and every problem is reported at
once, each at its dotted location (``thresholds.physical``, ``benefits.reduced-examination``):

1. strict JSON (:mod:`credentials.strict_json`: no duplicate keys, no NaN) and no control
   characters in any string;
2. the JSON Schema ``policy-v1.schema.json`` beside this module;
3. the rules a schema cannot express: :meth:`risk.Policy.from_dict` (thresholds ascending,
   random floor above zero and not above the rate...) and every benefit code being one of
   the MRA vocabulary (:data:`registry.mra.BENEFIT_CODES`).

This module reads files; :mod:`risk` itself reads none.

Example:
    >>> policy = resolve_policy(settings.risk)   # settings from load_federation()
    >>> policy.policy_id, policy.version, policy.hash
    ('eu-aeo-default', '2026.1', 'sha256:...')
"""

from __future__ import annotations

import copy
import functools
import re
from importlib import resources
from pathlib import Path
from typing import Any

# Untyped unless types-jsonschema is installed; with the stubs the ignore is simply unused.
import jsonschema  # type: ignore[import-untyped, unused-ignore]

from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject, JSONValue, loads_object
from federation_config.federation import RiskPolicyRef
from registry.mra import BENEFIT_CODES
from risk.errors import RiskPolicyError
from risk.policy import Policy

__all__ = [
    "BUNDLED_POLICIES",
    "MAX_POLICY_BYTES",
    "UnreadablePolicyError",
    "bundled_policy",
    "load_policy",
    "parse_policy",
    "policy_schema",
    "resolve_policy",
]

BUNDLED_POLICIES = ("eu-aeo-default", "jp-aeo-default", "us-ctpat-default")
"""The policy ids shipped with trustlane (one per node of the example federation)."""

MAX_POLICY_BYTES = 1024 * 1024
"""Largest policy file read."""

_SCHEMA_FILE = "policy-v1.schema.json"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class UnreadablePolicyError(RiskPolicyError):
    """The policy file cannot be read at all (missing, a directory, no permission)."""


@functools.cache
def _schema() -> JSONObject:
    return loads_object(resources.files(__name__).joinpath(_SCHEMA_FILE).read_bytes())


@functools.cache
def _validator() -> Any:
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def policy_schema() -> JSONObject:
    """Return the JSON Schema of a policy document (a fresh copy)."""
    return copy.deepcopy(_schema())


def _location(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _control_problems(value: JSONValue, where: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(where, "must not contain control characters")] if _CONTROL.search(value) else []
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _control_problems(v, f"{where}[{i}]")]
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            here = f"{where}.{key}" if where else key
            if _CONTROL.search(key):
                out.append((here, "member name must not contain control characters"))
            out += _control_problems(item, here)
        return out
    return []


def parse_policy(data: bytes, *, source: str = "policy") -> Policy:
    """Check a policy document and build the policy.

    Args:
        data: The document (UTF-8 JSON).
        source: How to name the document when it is not JSON at all, e.g. its path.

    Returns:
        The policy.

    Raises:
        RiskPolicyError: Every problem found, each at its dotted location.
    """
    if len(data) > MAX_POLICY_BYTES:
        raise RiskPolicyError([(source, f"is larger than {MAX_POLICY_BYTES} bytes")])
    try:
        document = loads_object(data)
    except MalformedInputError as e:
        raise RiskPolicyError([(source, f"is not a JSON object: {e.message}")]) from e
    problems = _control_problems(document, "")
    problems += [(_location(e.path), e.message) for e in _validator().iter_errors(document)]
    benefits = document.get("benefits")
    problems += [
        (f"benefits.{code}", f"is not an MRA benefit code ({', '.join(sorted(BENEFIT_CODES))})")
        for code in (sorted(set(benefits) - BENEFIT_CODES) if isinstance(benefits, dict) else [])
    ]
    if problems:
        raise RiskPolicyError(sorted(problems))
    # The schema passed: what is left are the relations the schema cannot express.
    return Policy.from_dict(document)


def load_policy(path: Path) -> Policy:
    """Read and check a policy file.

    Raises:
        UnreadablePolicyError: The file cannot be read.
        RiskPolicyError: The policy is not acceptable.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)
    except OSError as e:
        raise UnreadablePolicyError([(str(path), f"cannot read: {e.strerror or e}")]) from e
    return parse_policy(data, source=str(path))


def bundled_policy(policy_id: str) -> Policy:
    """Return the policy bundled under ``policy_id``.

    Raises:
        RiskPolicyError: No such bundled policy, or it is damaged (an installation problem).
    """
    if policy_id not in BUNDLED_POLICIES:
        raise RiskPolicyError(
            [("policy_id", f"no bundled policy {policy_id!r} ({', '.join(BUNDLED_POLICIES)})")]
        )
    data = resources.files(__name__).joinpath(f"{policy_id}.json").read_bytes()
    return parse_policy(data, source=f"{policy_id}.json")


def resolve_policy(ref: RiskPolicyRef) -> Policy:
    """Return the policy a federation file's ``[risk]`` section names, checked.

    The policy's own ``policy_id`` and ``version`` must be the ones the section names, so
    that decisions never record a version other than the one the operator configured.

    Raises:
        UnreadablePolicyError: ``file`` cannot be read.
        RiskPolicyError: The policy is not acceptable, or its id or version differ; problem
            locations are prefixed with ``risk.file:`` (a file) or name ``risk.policy_id``.
    """
    if ref.file is None and ref.policy_id not in BUNDLED_POLICIES:
        raise RiskPolicyError(
            [
                (
                    "risk.policy_id",
                    f"no bundled policy {ref.policy_id!r} ({', '.join(BUNDLED_POLICIES)}); "
                    "name a policy file in risk.file",
                )
            ]
        )
    prefix = "risk.policy_id" if ref.file is None else "risk.file"
    try:
        policy = bundled_policy(ref.policy_id) if ref.file is None else load_policy(ref.file)
    except UnreadablePolicyError as e:
        raise UnreadablePolicyError([(prefix, msg) for _, msg in e.problems]) from e
    except RiskPolicyError as e:
        located = [(f"{prefix}: {loc}" if loc else prefix, msg) for loc, msg in e.problems]
        raise RiskPolicyError(located) from e
    mismatches = [
        (f"risk.{key}", f"is {wanted!r} but the policy says {found!r}")
        for key, wanted, found in (
            ("policy_id", ref.policy_id, policy.policy_id),
            ("version", ref.version, policy.version),
        )
        if wanted != found
    ]
    if mismatches:
        raise RiskPolicyError(mismatches)
    return policy
