"""The W3C Verifiable Credentials Data Model 2.0, as far as trustlane checks it.

:class:`VerifiableCredential` parses a JSON object and checks the data model rules of VC 2.0
§4 (contexts, type, issuer, validity period, subject), the §5 rules on optional members
(:mod:`credentials.data_model_rules`) and the JSON-LD ones, offline and in safe mode
(:mod:`credentials.jsonld`); docs/conformance.md lists them. It keeps the whole document,
unknown members included, so ``to_dict`` returns exactly what was parsed. It verifies no
proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from credentials.data_model_rules import check_optional_members
from credentials.datetimes import parse_datetime
from credentials.errors import MalformedInputError
from credentials.jsonld import check_credential_jsonld_plain
from credentials.strict_json import JSONObject
from credentials.urls import is_url

__all__ = [
    "MAX_PRESENTED_CREDENTIALS",
    "PRESENTATION_CONTEXT",
    "SCAN_ATTESTATION_BUNDLES",
    "VC_V2_CONTEXT",
    "VerifiableCredential",
    "VerifiablePresentation",
    "is_url",
    "issuer_id",
    "type_list",
]

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
#: Most items (credentials and scan attestation bundles together) one presentation may
#: carry (each costs signature checks: a DoS bound).
MAX_PRESENTED_CREDENTIALS = 8
#: The project's presentation context: defines :data:`SCAN_ATTESTATION_BUNDLES`.
PRESENTATION_CONTEXT = "https://ns.trustlane.org/presentation/v1"
#: The presentation member holding scan attestation bundles, whole, as a JSON literal.
SCAN_ATTESTATION_BUNDLES = "scanAttestationBundles"


def _bad(message: str, code: str = "INVALID_CREDENTIAL") -> MalformedInputError:
    return MalformedInputError(message, code=code)


def type_list(value: object, what: str) -> tuple[str, ...]:
    """Return a ``type`` member as a tuple of strings.

    Raises:
        MalformedInputError: ``value`` is not a string or a non-empty list of strings.

    """
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value:
        for item in value:
            if not isinstance(item, str):
                break
        else:
            return tuple(value)
    raise _bad(f"{what} type must be a string or a non-empty list of strings")


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


def issuer_id(document: JSONObject) -> str | None:
    """The issuer of a credential, in string or object form; None when it has none.

    The one place that reads ``issuer``: it does not check that the id is a URL (the data
    model check does), and it never raises.
    """
    raw = document.get("issuer")
    issuer = raw.get("id") if isinstance(raw, dict) else raw
    return issuer if isinstance(issuer, str) else None


def _issuer(document: JSONObject) -> str:
    raw = document.get("issuer")
    if isinstance(raw, dict):
        if "id" not in raw:
            raise _bad("an issuer object must have an id (a URL)", code="INVALID_ISSUER")
        found = raw["id"]
    else:
        found = raw
    # As issuer_id(document), without reading the member twice.
    issuer = found if isinstance(found, str) else None
    if issuer is None or not is_url(issuer):
        raise _bad(
            f"issuer must be a URL or an object whose id is a URL, not {_shown(issuer or raw)}",
            code="INVALID_ISSUER",
        )
    return issuer


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
        plain_json: True when :meth:`from_dict` found only plain JSON values in the document
            (:func:`credentials.jsonld.check_credential_jsonld_plain`); False says nothing.
            Valid while the document is left unchanged.

    """

    document: JSONObject
    contexts: tuple[str | JSONObject, ...]
    id: str | None
    types: tuple[str, ...]
    issuer: str
    valid_from: datetime | None
    valid_until: datetime | None
    subjects: tuple[JSONObject, ...]
    plain_json: bool = field(default=False, repr=False, compare=False)

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
        issuer = _issuer(document)
        subjects = _subjects(document)
        # VC DM 2.0 §5: typed objects, language values, related resources.
        check_optional_members(document)
        # VC DM 2.0 §4.3 and §4.5 with JSON-LD processing (offline, safe mode); last, as it
        # is the costliest check.
        plain = check_credential_jsonld_plain(document)
        return cls(
            document=document,
            contexts=contexts,
            id=cred_id if isinstance(cred_id, str) else None,
            types=types,
            issuer=issuer,
            valid_from=valid_from,
            valid_until=valid_until,
            subjects=subjects,
            plain_json=plain,
        )

    @classmethod
    def _checked(
        cls,
        document: JSONObject,
        contexts: tuple[str | JSONObject, ...],
        cred_id: str | None,
        types: tuple[str, ...],
        issuer: str,
        valid_from: datetime | None,
        valid_until: datetime | None,
        subjects: tuple[JSONObject, ...],
        plain_json: bool,
    ) -> VerifiableCredential:
        """Build an instance from values already checked (no rule is checked here).

        The same instance the constructor builds: a frozen dataclass without __slots__ or
        __post_init__ keeps its fields in its __dict__, and filling that in one step
        spares the nine frozen attribute assignments of __init__ (most of the cost of
        building one on the verification hot path, :mod:`credentials.common_shape`).
        """
        credential = object.__new__(cls)
        object.__setattr__(
            credential,
            "__dict__",
            {
                "document": document,
                "contexts": contexts,
                "id": cred_id,
                "types": types,
                "issuer": issuer,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "subjects": subjects,
                "plain_json": plain_json,
            },
        )
        return credential

    def to_dict(self) -> JSONObject:
        """Return the document exactly as parsed."""
        return self.document


def _presented(document: JSONObject) -> tuple[JSONObject, ...]:
    raw = document.get("verifiableCredential")
    items = raw if isinstance(raw, list) else [] if raw is None else [raw]
    if not items:
        raise _bad("the presentation holds no credential", code="INVALID_PRESENTATION")
    for item in items:
        if not isinstance(item, dict):
            raise _bad(
                "every verifiableCredential must be a credential object with its own proof "
                "(enveloped credentials are not supported)",
                code="INVALID_PRESENTATION",
            )
        kinds = item.get("type")
        if kinds == "EnvelopedVerifiableCredential" or (
            isinstance(kinds, list) and "EnvelopedVerifiableCredential" in kinds
        ):
            raise _bad(
                "enveloped credentials are not supported; embed the credential with its proof",
                code="INVALID_PRESENTATION",
            )
    # Every item was checked just above.
    return cast("tuple[JSONObject, ...]", tuple(items))


def _bundles(
    document: JSONObject, contexts: tuple[str | JSONObject, ...]
) -> tuple[JSONObject, ...]:
    """The scan attestation bundles (their contents are checked by the audit, not here)."""
    if SCAN_ATTESTATION_BUNDLES not in document:
        return ()
    if PRESENTATION_CONTEXT not in contexts:
        raise _bad(
            f"{SCAN_ATTESTATION_BUNDLES} is defined by the context {PRESENTATION_CONTEXT}, "
            "which the presentation does not list in @context",
            code="JSONLD_TERM_UNDEFINED",
        )
    raw = document[SCAN_ATTESTATION_BUNDLES]
    if not isinstance(raw, list) or not raw:
        raise _bad(
            f"{SCAN_ATTESTATION_BUNDLES} must be a non-empty list of bundles",
            code="INVALID_PRESENTATION",
        )
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise _bad(
                f"every item of {SCAN_ATTESTATION_BUNDLES} must be a bundle object with a "
                "type (ScanAttestationBundle)",
                code="MISSING_TYPE",
            )
        attestation = item.get("attestation")
        attestation_id = attestation.get("id") if isinstance(attestation, dict) else None
        if isinstance(attestation_id, str):
            if attestation_id in seen:
                raise _bad(
                    f"the presentation holds the scan attestation {attestation_id} twice",
                    code="INVALID_PRESENTATION",
                )
            seen.add(attestation_id)
    # Every item was checked just above.
    return cast("tuple[JSONObject, ...]", tuple(raw))


def _presentation_jsonld(document: JSONObject) -> bool:
    """VC DM 2.0 §4.3, §4.5 and §5 checks of the presentation itself (not its credentials).

    ``verifiableCredential`` is a graph container with ``"@context": null`` in the v2
    context: each embedded credential is its own graph under its own contexts and is
    checked on its own (:meth:`VerifiableCredential.from_dict`, at verification), so the
    envelope is checked without it. The scan attestation bundles are a JSON literal.

    Returns:
        Whether the envelope is plain JSON (:func:`check_credential_jsonld_plain`).
    """
    envelope = {k: v for k, v in document.items() if k != "verifiableCredential"}
    try:
        check_optional_members(envelope)
        return check_credential_jsonld_plain(envelope)
    except MalformedInputError as e:
        raise _bad(f"the presentation: {e.message}", code=e.code) from e


@dataclass(frozen=True)
class VerifiablePresentation:
    """A parsed VC 2.0 presentation (VC DM 2.0 §4.13; proofs not verified).

    Only what a port presentation needs is accepted: embedded credentials (each a JSON
    object with its own proof), at least one, and scan attestation bundles in
    ``scanAttestationBundles`` (a JSON literal defined by :data:`PRESENTATION_CONTEXT`), at
    most :data:`MAX_PRESENTED_CREDENTIALS` items in all. The presentation's own members
    pass the JSON-LD checks credentials pass (offline, safe mode: no unknown context, no
    undefined term or type, no protected term redefined) and the §5 typed-object rules.
    The credentials and bundles themselves are not checked here; verify each on its own.

    Attributes:
        document: The whole presentation as parsed.
        contexts: The ``@context`` entries (the first is the VC 2.0 context).
        id: The presentation id, if any.
        types: The ``type`` values (always including ``VerifiablePresentation``).
        holder: The holder's id (a URL), or None when the presentation names none.
        credentials: The embedded credentials, in order.
        attestation_bundles: The scan attestation bundles, in order (often none).
        envelope_plain_json: True when every value outside ``verifiableCredential`` is
            plain JSON and that member is an exact list of exact objects
            (:func:`credentials.jsonld.check_credential_jsonld_plain`); with every embedded
            credential plain too, the whole presentation is. False says nothing.

    """

    document: JSONObject
    contexts: tuple[str | JSONObject, ...]
    id: str | None
    types: tuple[str, ...]
    holder: str | None
    credentials: tuple[JSONObject, ...]
    attestation_bundles: tuple[JSONObject, ...] = ()
    envelope_plain_json: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def from_dict(cls, document: JSONObject) -> VerifiablePresentation:
        """Check the VC 2.0 presentation rules and build the presentation.

        Raises:
            MalformedInputError: A rule is broken; the message says which
                (``INVALID_CONTEXT``, ``INVALID_PRESENTATION``, ``MISSING_TYPE``, or a
                JSON-LD code of :func:`credentials.jsonld.check_credential_jsonld`).

        """
        contexts = _contexts(document)
        vp_id = document.get("id")
        if vp_id is not None and not (isinstance(vp_id, str) and is_url(vp_id)):
            raise _bad("presentation id must be a URL", code="INVALID_PRESENTATION")
        try:
            types = type_list(document.get("type"), "presentation")
        except MalformedInputError as e:
            raise _bad(e.message, code="INVALID_PRESENTATION") from e
        if "VerifiablePresentation" not in types:
            raise _bad("type must include VerifiablePresentation", code="INVALID_PRESENTATION")
        holder: str | None = None
        if "holder" in document:
            raw = document["holder"]
            candidate = raw.get("id") if isinstance(raw, dict) else raw
            if not (isinstance(candidate, str) and is_url(candidate)):
                raise _bad(
                    "holder must be a URL or an object whose id is a URL",
                    code="INVALID_PRESENTATION",
                )
            holder = candidate
        credentials = _presented(document)
        bundles = _bundles(document, contexts)
        if len(credentials) + len(bundles) > MAX_PRESENTED_CREDENTIALS:
            raise _bad(
                f"the presentation holds {len(credentials) + len(bundles)} items "
                f"(credentials and scan attestations); at most {MAX_PRESENTED_CREDENTIALS} "
                "are accepted",
                code="INVALID_PRESENTATION",
            )
        # Last: the JSON-LD check is the costliest.
        plain = _presentation_jsonld(document)
        embedded = document.get("verifiableCredential")
        return cls(
            document=document,
            contexts=contexts,
            id=vp_id if isinstance(vp_id, str) else None,
            types=types,
            holder=holder,
            credentials=credentials,
            attestation_bundles=bundles,
            envelope_plain_json=plain
            and type(embedded) is list
            and all(type(c) is dict for c in embedded),
        )
