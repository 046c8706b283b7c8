"""What one transparency-log entry holds, and the log's name.

An entry names a signed document without disclosing it: its type, id, issuer and the SHA-256
of its RFC 8785 canonical form, as canonical JSON. Tiles are public, and a scan attestation
names containers and seals that a node does not publish; whoever holds the document (a trader,
a port, an auditor given a bundle) recomputes the digest and checks the inclusion proof. A
partner reading the log sees everything the node signed, by type and id, and can ask for any
document it is entitled to.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from credentials.canonical import canonicalize
from credentials.errors import MalformedInputError
from credentials.model import issuer_id, type_list
from credentials.strict_json import JSONObject, loads_object
from registry.peer_origin import did_web_origin

__all__ = [
    "ENTRY_VERSION",
    "LogEntry",
    "document_digest",
    "log_entry",
    "log_origin",
    "parse_log_entry",
    "witness_name",
]

ENTRY_VERSION = 1
_MAX_ENTRY = 4096


@dataclass(frozen=True)
class LogEntry:
    """A parsed log entry."""

    types: tuple[str, ...]
    id: str
    issuer: str
    digest: str

    def names(self, document: JSONObject) -> bool:
        """True when ``document`` is the very document this entry names."""
        return self.digest == document_digest(document)


def document_digest(document: JSONObject) -> str:
    """``sha256:<hex>`` of the document's RFC 8785 canonical form (proofs included)."""
    return "sha256:" + hashlib.sha256(canonicalize(document)).hexdigest()


def log_entry(document: JSONObject, *, document_id: str | None = None) -> bytes:
    """The entry (Merkle leaf input) naming a signed credential.

    ``document_id`` names a document without an ``id`` of its own.

    Raises:
        MalformedInputError: The document has no string id and none was given.
    """
    doc_id = document.get("id", document_id)
    if not isinstance(doc_id, str):
        raise MalformedInputError("a logged document needs a string id")
    entry: JSONObject = {
        "v": ENTRY_VERSION,
        "type": list(type_list(document.get("type"), "logged document")),
        "id": doc_id,
        "issuer": issuer_id(document) or "",
        "digest": document_digest(document),
    }
    data = canonicalize(entry)
    if len(data) > _MAX_ENTRY:
        raise MalformedInputError("the document's id or types are too long to log")
    return data


def parse_log_entry(data: bytes) -> LogEntry:
    """Read an entry written by :func:`log_entry`.

    Raises:
        MalformedInputError: Not such an entry.
    """
    if len(data) > _MAX_ENTRY:
        raise MalformedInputError("log entry too long")
    try:
        obj = loads_object(data)
    except MalformedInputError as e:
        raise MalformedInputError(f"log entry is not JSON: {e}") from e
    types = obj.get("type")
    fields = (obj.get("id"), obj.get("issuer"), obj.get("digest"))
    if (
        obj.get("v") != ENTRY_VERSION
        or not isinstance(types, list)
        or not all(isinstance(t, str) for t in types)
        or not all(isinstance(f, str) for f in fields)
    ):
        raise MalformedInputError("not a trustlane log entry (version 1)")
    doc_id, issuer, digest = (str(f) for f in fields)
    return LogEntry(tuple(str(t) for t in types), doc_id, issuer, digest)


def log_origin(node_did: str) -> str:
    """The log's C2SP origin (and checkpoint key name): ``<host[:port]>/log``.

    Raises:
        MalformedInputError: ``node_did`` is not a did:web naming an origin.
    """
    return did_web_origin(node_did).removeprefix("https://") + "/log"


def witness_name(node_did: str) -> str:
    """The key name under which a node cosigns partners' checkpoints: ``<host[:port]>/witness``.

    Raises:
        MalformedInputError: ``node_did`` is not a did:web naming an origin.
    """
    return did_web_origin(node_did).removeprefix("https://") + "/witness"
