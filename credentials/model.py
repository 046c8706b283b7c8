"""The W3C Verifiable Credentials Data Model 2.0, as far as trustlane checks it.

:class:`VerifiableCredential` parses a JSON object and checks the data model rules of VC 2.0
§4 (contexts, type, issuer, validity period, subject). It keeps the whole document, unknown
members included, so ``to_dict`` returns exactly what was parsed. It verifies no proof.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from credentials.datetimes import parse_datetime
from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject

__all__ = ["VC_V2_CONTEXT", "VerifiableCredential", "is_url", "type_list"]

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
# RFC 3986 absolute URI: a scheme, a colon and no whitespace or control characters (DIDs
# and URNs qualify).
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]+\Z")


def is_url(value: object) -> bool:
    """Return True when ``value`` is a string holding an absolute URI."""
    return isinstance(value, str) and _is_url_text(value)


@functools.lru_cache(maxsize=4096)
def _is_url_text(value: str) -> bool:
    # Cached: contexts, issuers and holders recur across the credentials a node verifies.
    return _URL.match(value) is not None


def _bad(message: str, code: str = "INVALID_CREDENTIAL") -> MalformedInputError:
    return MalformedInputError(message, code=code)


def type_list(value: object, what: str) -> tuple[str, ...]:
    """Return a ``type`` member as a tuple of strings.

    Raises:
        MalformedInputError: ``value`` is not a string or a non-empty list of strings.

    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(t, str) for t in items):
        raise _bad(f"{what} type must be a string or a non-empty list of strings")
    return tuple(t for t in items if isinstance(t, str))


def _contexts(document: JSONObject) -> tuple[str | JSONObject, ...]:
    raw = document.get("@context")
    if not isinstance(raw, list) or not raw:
        raise _bad("@context must be a non-empty list", code="INVALID_CONTEXT")
    if raw[0] != VC_V2_CONTEXT:
        raise _bad(f"the first @context must be {VC_V2_CONTEXT}", code="INVALID_CONTEXT")
    for item in raw:
        if not (isinstance(item, dict) or is_url(item)):
            raise _bad("every @context entry must be a URL or an object", code="INVALID_CONTEXT")
    # Every item was checked just above.
    return cast("tuple[str | JSONObject, ...]", tuple(raw))


def _issuer(document: JSONObject) -> str:
    raw = document.get("issuer")
    issuer = raw.get("id") if isinstance(raw, dict) else raw
    if not is_url(issuer) or not isinstance(issuer, str):
        raise _bad("issuer must be a URL or an object whose id is a URL", code="INVALID_ISSUER")
    return issuer


def _subjects(document: JSONObject) -> tuple[JSONObject, ...]:
    raw = document.get("credentialSubject")
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise _bad("credentialSubject must be a non-empty object or list of non-empty objects")
    for subject in items:
        if not isinstance(subject, dict) or not subject:
            raise _bad("credentialSubject must be a non-empty object or list of non-empty objects")
        if "id" in subject and not is_url(subject["id"]):
            raise _bad("credentialSubject id must be a URL")
    # Every item was checked just above.
    return cast("tuple[JSONObject, ...]", tuple(items))


@dataclass(frozen=True)
class VerifiableCredential:
    """A parsed VC 2.0 credential (proofs not verified).

    Attributes:
        document: The whole credential as parsed (unknown members kept).
        contexts: The ``@context`` entries.
        id: The credential id, if any.
        types: The ``type`` values (always including ``VerifiableCredential``).
        issuer: The issuer's id (a URL).
        valid_from: Start of validity, if stated.
        valid_until: End of validity, if stated.
        subjects: The credential subjects.

    """

    document: JSONObject
    contexts: tuple[str | JSONObject, ...]
    id: str | None
    types: tuple[str, ...]
    issuer: str
    valid_from: datetime | None
    valid_until: datetime | None
    subjects: tuple[JSONObject, ...]

    @classmethod
    def from_dict(cls, document: JSONObject) -> VerifiableCredential:
        """Check the VC 2.0 data model rules and build the credential.

        Raises:
            MalformedInputError: A rule is broken; the message says which.

        """
        contexts = _contexts(document)
        cred_id = document.get("id")
        if cred_id is not None and not (is_url(cred_id) and isinstance(cred_id, str)):
            raise _bad("credential id must be a URL")
        types = type_list(document.get("type"), "credential")
        if "VerifiableCredential" not in types:
            raise _bad("type must include VerifiableCredential")
        valid_from = (
            parse_datetime(document["validFrom"], field="validFrom")
            if "validFrom" in document
            else None
        )
        valid_until = (
            parse_datetime(document["validUntil"], field="validUntil")
            if "validUntil" in document
            else None
        )
        if valid_from and valid_until and valid_until < valid_from:
            raise _bad("validUntil is before validFrom")
        return cls(
            document=document,
            contexts=contexts,
            id=cred_id if isinstance(cred_id, str) else None,
            types=types,
            issuer=_issuer(document),
            valid_from=valid_from,
            valid_until=valid_until,
            subjects=_subjects(document),
        )

    def to_dict(self) -> JSONObject:
        """Return the document exactly as parsed."""
        return self.document
