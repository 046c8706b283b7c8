"""VC Data Model 2.0 rules on optional members: typed objects, language values, resources.

:func:`check_optional_members` is called by
:meth:`credentials.model.VerifiableCredential.from_dict` (so at issuance and at
verification). Each rule cites its section of VC DM 2.0:

- §5.4 (credentialStatus), §5.5 (credentialSchema), §5.6 (refreshService), §5.7
  (termsOfUse), §5.8 (evidence): each object (or each object of a list) has a ``type``
  (``MISSING_TYPE``); a ``credentialSchema`` also has a URL ``id``.
- §4.6 and §11.1 (names and descriptions, language and base direction): ``name`` and
  ``description``, of the credential and of an issuer object, are strings or value objects
  whose only members are ``@value`` (a string), ``@language`` (a well-formed language tag)
  and ``@direction`` (``ltr`` or ``rtl``), or a list of those (``INVALID_LANGUAGE_VALUE``).
- §5.3 (integrity of related resources): ``relatedResource`` is a non-empty list of
  objects, each with a URL ``id`` not used twice and a ``digestSRI`` or
  ``digestMultibase`` in the right form (``INVALID_RELATED_RESOURCE``). When the resource
  is one the node itself holds (:func:`credentials.jsonld.held_resource`: the project's own
  contexts), each digest must match its bytes (``DIGEST_MISMATCH``). Nothing is fetched:
  other resources are checked by whoever fetches them.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable

from credentials.errors import MalformedInputError
from credentials.jsonld import held_resource
from credentials.keys import b58decode
from credentials.strict_json import JSONObject, JSONValue
from credentials.urls import is_url

__all__ = ["OPTIONAL_MEMBERS", "TYPED_MEMBERS", "check_optional_members"]

#: Members whose objects must each carry a ``type``.
TYPED_MEMBERS = ("credentialStatus", "credentialSchema", "refreshService", "termsOfUse", "evidence")
_LANGUAGE_MEMBERS = ("name", "description")
_VALUE_MEMBERS = frozenset({"@value", "@language", "@direction"})
# BCP 47 well-formed tag, simplified: a 2-8 letter primary subtag, then 1-8 alphanumerics.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*\Z")
_SRI = re.compile(r"(sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})\Z")
_SRI_HASHES: dict[str, Callable[[bytes], hashlib._Hash]] = {
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
# Multihash codes (multiformats table) -> hash function and digest length.
_MULTIHASHES: dict[int, tuple[Callable[[bytes], hashlib._Hash], int]] = {
    0x12: (hashlib.sha256, 32),
    0x13: (hashlib.sha512, 64),
    0x20: (hashlib.sha384, 48),
    0x16: (hashlib.sha3_256, 32),
    0x14: (hashlib.sha3_512, 64),
}
_MAX_RELATED = 64
#: Every member of a credential that :func:`check_optional_members` reads, besides
#: ``issuer`` (whose own name and description it reads when it is an object). A document
#: with none of them breaks none of its rules; keep this in step with the functions below.
OPTIONAL_MEMBERS = frozenset((*TYPED_MEMBERS, *_LANGUAGE_MEMBERS, "relatedResource"))


def _bad(message: str, code: str) -> MalformedInputError:
    return MalformedInputError(message, code=code)


def _objects(value: JSONValue) -> list[JSONValue]:
    return value if isinstance(value, list) else [value]


def _check_typed(document: JSONObject) -> None:
    for member in TYPED_MEMBERS:
        if member not in document:
            continue
        # An empty list states nothing (JSON-LD: no values), so it breaks no rule here.
        for item in _objects(document[member]):
            if not isinstance(item, dict):
                raise _bad(f"every {member} must be an object", "MISSING_TYPE")
            kinds = item.get("type")
            if not (
                (isinstance(kinds, str) and kinds)
                or (isinstance(kinds, list) and kinds and all(isinstance(k, str) for k in kinds))
            ):
                raise _bad(f"every {member} object must have a type (VC DM 2.0 §5)", "MISSING_TYPE")
            if member == "credentialSchema" and not is_url(item.get("id")):
                raise _bad("every credentialSchema object must have a URL id", "MISSING_TYPE")


def _check_language_value(value: JSONValue, where: str) -> None:
    for item in _objects(value):
        if isinstance(item, str):
            continue
        if not isinstance(item, dict):
            raise _bad(
                f"{where} must be a string, a language value object or a list of them",
                "INVALID_LANGUAGE_VALUE",
            )
        extra = sorted(set(item) - _VALUE_MEMBERS)
        if extra:
            raise _bad(
                f"{where} value object has members other than @value, @language and "
                f"@direction: {', '.join(extra)}",
                "INVALID_LANGUAGE_VALUE",
            )
        if not isinstance(item.get("@value"), str):
            raise _bad(f"{where} value object needs a string @value", "INVALID_LANGUAGE_VALUE")
        language = item.get("@language")
        if language is not None and not (
            isinstance(language, str) and _LANGUAGE_TAG.match(language)
        ):
            raise _bad(f"{where} @language is not a language tag", "INVALID_LANGUAGE_VALUE")
        direction = item.get("@direction")
        if direction is not None and direction not in ("ltr", "rtl"):
            raise _bad(f"{where} @direction must be ltr or rtl", "INVALID_LANGUAGE_VALUE")


def _check_languages(document: JSONObject) -> None:
    for member in _LANGUAGE_MEMBERS:
        if member in document:
            _check_language_value(document[member], member)
    issuer = document.get("issuer")
    if isinstance(issuer, dict):
        for member in _LANGUAGE_MEMBERS:
            if member in issuer:
                _check_language_value(issuer[member], f"issuer.{member}")


def _sri_digest(text: str) -> tuple[Callable[[bytes], hashlib._Hash], bytes] | None:
    match = _SRI.match(text)
    if match is None:
        return None
    hasher = _SRI_HASHES[match.group(1)]
    try:
        digest = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        return None
    return (hasher, digest) if len(digest) == hasher(b"").digest_size else None


def _multibase_digest(text: str) -> tuple[Callable[[bytes], hashlib._Hash], bytes] | None:
    try:
        if text.startswith("z"):
            raw = b58decode(text[1:])
        elif text.startswith("u") and "=" not in text:
            raw = base64.urlsafe_b64decode(text[1:] + "=" * (-len(text[1:]) % 4))
        else:
            return None
    except (MalformedInputError, binascii.Error, ValueError):
        return None
    # Multihash: <code varint><length varint><digest>; every code used here fits one byte.
    if len(raw) < 2 or raw[0] not in _MULTIHASHES:
        return None
    hasher, size = _MULTIHASHES[raw[0]]
    if raw[1] != size or len(raw) != 2 + size:
        return None
    return hasher, raw[2:]


def _check_related(document: JSONObject) -> None:
    if "relatedResource" not in document:
        return
    items = document["relatedResource"]
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise _bad(
            "relatedResource must be a non-empty list of objects", "INVALID_RELATED_RESOURCE"
        )
    if len(items) > _MAX_RELATED:
        raise _bad(
            f"relatedResource lists more than {_MAX_RELATED} resources", "INVALID_RELATED_RESOURCE"
        )
    seen: set[str] = set()
    for item in items:
        assert isinstance(item, dict)  # noqa: S101  (checked just above; narrows the type)
        resource = item.get("id")
        if not (isinstance(resource, str) and is_url(resource)):
            raise _bad("every relatedResource needs a URL id", "INVALID_RELATED_RESOURCE")
        if resource in seen:
            raise _bad(f"relatedResource {resource} is listed twice", "INVALID_RELATED_RESOURCE")
        seen.add(resource)
        digests: list[tuple[Callable[[bytes], hashlib._Hash], bytes]] = []
        for member, parse in (("digestSRI", _sri_digest), ("digestMultibase", _multibase_digest)):
            if member not in item:
                continue
            value = item[member]
            parsed = parse(value) if isinstance(value, str) else None
            if parsed is None:
                raise _bad(
                    f"relatedResource {resource}: {member} is not a supported digest",
                    "INVALID_RELATED_RESOURCE",
                )
            digests.append(parsed)
        if not digests:
            raise _bad(
                f"relatedResource {resource} has neither digestSRI nor digestMultibase",
                "INVALID_RELATED_RESOURCE",
            )
        held = held_resource(resource)
        if held is None:
            continue
        for hasher, expected in digests:
            if not hmac.compare_digest(hasher(held).digest(), expected):
                raise _bad(
                    f"relatedResource {resource}: the digest does not match the resource",
                    "DIGEST_MISMATCH",
                )


def check_optional_members(document: JSONObject) -> None:
    """Check the VC DM 2.0 rules on typed objects, language values and related resources.

    Raises:
        MalformedInputError: A rule is broken (``MISSING_TYPE``, ``INVALID_LANGUAGE_VALUE``,
            ``INVALID_RELATED_RESOURCE`` or ``DIGEST_MISMATCH``); the message says which.

    """
    _check_typed(document)
    _check_languages(document)
    _check_related(document)
