"""The attestation bundle: what a port or an auditor needs to check one scan offline.

A bundle holds the countersigned ``ScanAttestation``, the ``DeviceAuthorization`` it rests
on, and for each of the two its index and RFC 9162 inclusion proof in the issuing node's log,
under one C2SP checkpoint (a signed note, with whatever witness cosignatures the node had
gathered). ``POST /scans`` answers with a bundle; ``trustlane audit bundle`` checks one.

JSON shape (hashes base64, as in C2SP)::

    {"type": "ScanAttestationBundle", "version": 1,
     "attestation": {...}, "deviceAuthorization": {...},
     "log": {"checkpoint": "<note text>",
             "attestation": {"index": 7, "treeSize": 9, "hashes": ["..."]},
             "deviceAuthorization": {"index": 2, "treeSize": 9, "hashes": ["..."]}}}

Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject, JSONValue

__all__ = ["BUNDLE_TYPE", "AttestationBundle", "LogInclusion", "read_bundle"]

BUNDLE_TYPE = "ScanAttestationBundle"
BUNDLE_VERSION = 1
_MAX_PROOF = 64


def _bad(message: str) -> MalformedInputError:
    return MalformedInputError(message, code="INVALID_BUNDLE")


@dataclass(frozen=True)
class LogInclusion:
    """An entry's index and inclusion proof in the tree of ``tree_size`` entries."""

    index: int
    tree_size: int
    hashes: tuple[bytes, ...]

    def to_json(self) -> JSONObject:
        """The JSON form (hashes base64)."""
        return {
            "index": self.index,
            "treeSize": self.tree_size,
            "hashes": [base64.b64encode(h).decode() for h in self.hashes],
        }

    @classmethod
    def from_json(cls, value: JSONValue, what: str) -> LogInclusion:
        """Read the JSON form.

        Raises:
            MalformedInputError: Malformed.
        """
        if not isinstance(value, dict):
            raise _bad(f"log.{what} must be an object")
        index, size, hashes = value.get("index"), value.get("treeSize"), value.get("hashes")
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or not isinstance(size, int)
            or isinstance(size, bool)
            or not 0 <= index < size
        ):
            raise _bad(f"log.{what} needs an index below its treeSize")
        if not isinstance(hashes, list) or len(hashes) > _MAX_PROOF:
            raise _bad(f"log.{what}.hashes must be a list of at most {_MAX_PROOF} hashes")
        decoded = []
        for h in hashes:
            try:
                raw = base64.b64decode(h, validate=True) if isinstance(h, str) else b""
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise _bad(f"log.{what}.hashes must hold base64 SHA-256 hashes")
            decoded.append(raw)
        return cls(index, size, tuple(decoded))


@dataclass(frozen=True)
class AttestationBundle:
    """A scan attestation with what proves it."""

    attestation: JSONObject
    device_authorization: JSONObject
    checkpoint: str
    attestation_inclusion: LogInclusion
    authorization_inclusion: LogInclusion | None

    def to_json(self) -> JSONObject:
        """The JSON form."""
        log: JSONObject = {
            "checkpoint": self.checkpoint,
            "attestation": self.attestation_inclusion.to_json(),
        }
        if self.authorization_inclusion is not None:
            log["deviceAuthorization"] = self.authorization_inclusion.to_json()
        return {
            "type": BUNDLE_TYPE,
            "version": BUNDLE_VERSION,
            "attestation": self.attestation,
            "deviceAuthorization": self.device_authorization,
            "log": log,
        }


def read_bundle(value: JSONObject) -> AttestationBundle:
    """Read a bundle's JSON form (its contents are checked by the audit).

    Raises:
        MalformedInputError: Code ``INVALID_BUNDLE``: not a version 1 bundle.
    """
    if value.get("type") != BUNDLE_TYPE or value.get("version") != BUNDLE_VERSION:
        raise _bad(f"not a {BUNDLE_TYPE} of version {BUNDLE_VERSION}")
    attestation = value.get("attestation")
    authorization = value.get("deviceAuthorization")
    log = value.get("log")
    if not isinstance(attestation, dict) or not isinstance(authorization, dict):
        raise _bad("a bundle needs attestation and deviceAuthorization objects")
    if not isinstance(log, dict) or not isinstance(log.get("checkpoint"), str):
        raise _bad("a bundle needs log.checkpoint, the signed checkpoint text")
    auth_inclusion = log.get("deviceAuthorization")
    return AttestationBundle(
        attestation=attestation,
        device_authorization=authorization,
        checkpoint=str(log["checkpoint"]),
        attestation_inclusion=LogInclusion.from_json(log.get("attestation"), "attestation"),
        authorization_inclusion=None
        if auth_inclusion is None
        else LogInclusion.from_json(auth_inclusion, "deviceAuthorization"),
    )
