"""The common shape of a credential, prepared with direct look-ups (a fast path).

Almost every credential a node verifies has one shape: ``@context`` a list of context URLs
starting with the VC 2.0 one, a string issuer, one ``eddsa-jcs-2022`` proof object, plain
JSON values, member names and types the node has seen before. For such a document
:func:`prepare_common` makes the static phase of verification (the VC 2.0 data model, the
JSON-LD checks, the static proof steps and the exact bytes the signature signs) with
direct look-ups and one walk, instead of the general functions' several walks and layers
(:meth:`credentials.model.VerifiableCredential.from_dict`,
:func:`credentials.jsonld.check_credential_jsonld_plain`,
:func:`credentials.proof_prepare.prepare_proofs`).

It is a shortcut only, in the way of :mod:`credentials.schema_fastpath`: it answers only
when every check surely passes, with exactly the values the general functions return,
and answers None on any doubt (another shape, a check that fails, a name or a type not
seen before); the caller then runs the general functions, which decide and explain. So a
document that breaks any rule always gets the general path's error.
``tests/property/test_credentials_fast_shape_props.py`` compares the two on generated and
broken credentials.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

from credentials.data_model_rules import OPTIONAL_MEMBERS, check_optional_members
from credentials.datetimes import parse_datetime
from credentials.errors import MalformedInputError, VerificationError
from credentials.jsonld import known_plain_credential
from credentials.keys import b58decode
from credentials.model import VC_V2_CONTEXT, VerifiableCredential, _issuer, _subjects
from credentials.proof_prepare import (
    _DONE,
    CRYPTOSUITE,
    PROOF_TYPE,
    PreparedProof,
    PreparedProofs,
    _hash_data,
    _parse_proof_time,
)
from credentials.strict_json import JSONObject
from credentials.urls import _is_url_text, is_url

__all__ = ["prepare_common"]

_ABSENT: Any = object()
_NEW_TUPLE = tuple.__new__
# The members check_optional_members reads, but credentialStatus.
_STATUS_ONLY = OPTIONAL_MEMBERS - {"credentialStatus"}


def prepare_common(document: JSONObject) -> tuple[VerifiableCredential, PreparedProofs] | None:
    """The static phase for a credential of the common shape, or None.

    Args:
        document: The credential, parsed; it must not be changed afterwards.

    Returns:
        What :meth:`~credentials.model.VerifiableCredential.from_dict` and
        :func:`~credentials.proof_prepare.prepare_proofs` (with ``plain=True``) return for
        ``document``, when the document has the common shape and every check passes;
        otherwise None, which says nothing: run the general functions. Never raises.

    """
    if type(document) is not dict:
        return None
    contexts = document.get("@context")
    proof = document.get("proof")
    # The shape: @context an exact list of URL strings, VC 2.0 first; one proof object of
    # eddsa-jcs-2022 (rdfc proofs and proof chains take the general path).
    if type(contexts) is not list or type(proof) is not dict or not contexts:
        return None
    if contexts[0] != VC_V2_CONTEXT:
        return None
    for item in contexts:
        if type(item) is not str or not _is_url_text(item):
            return None
    if (
        proof.get("type") != PROOF_TYPE
        or proof.get("cryptosuite") != CRYPTOSUITE
        or "previousProof" in proof
    ):
        return None
    purpose = proof.get("proofPurpose")
    vm_id = proof.get("verificationMethod")
    value = proof.get("proofValue")
    if type(purpose) is not str or type(vm_id) is not str or type(value) is not str:
        return None
    if not purpose or not vm_id or value[:1] != "z":
        return None

    # The exact input document (vc-di-eddsa §3.3.2): the document without its proof; a
    # proof @context equal to the document's stands in its place, as in the general path.
    unsecured = dict(document)
    del unsecured["proof"]
    proof_members = dict(proof)
    proof_context = proof_members.pop("@context", _ABSENT)
    if proof_context is not _ABSENT:
        if type(proof_context) is not list or proof_context != contexts:
            return None
        for item in proof_context:
            if type(item) is not str:
                return None
        unsecured["@context"] = proof_context
    members = dict(unsecured)
    del members["@context"]
    # JSON-LD (VC DM 2.0 §4.3, §4.5) and plainness: every name and type seen before.
    # Every item was checked just above: exact strings (an annotation, not a call to cast:
    # this is the hot path).
    urls: list[str] = contexts  # type: ignore[assignment]
    if not known_plain_credential(document, urls, members, proof_members):
        return None

    # VC DM 2.0 §4: the values are plain JSON now, so exact type tests suffice.
    cred_id = document.get("id")
    if cred_id is not None and not (type(cred_id) is str and _is_url_text(cred_id)):
        return None
    kinds: Any = document.get("type")
    # The walk above saw a string or a non-empty list of strings, if any.
    types: tuple[str, ...] = (
        tuple(kinds) if type(kinds) is list else (kinds,) if type(kinds) is str else ()
    )
    if "VerifiableCredential" not in types:
        return None
    try:
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
        raw_issuer = document.get("issuer")
        if type(raw_issuer) is str and _is_url_text(raw_issuer):
            issuer = raw_issuer
        else:
            issuer = _issuer(document)
        subject = document.get("credentialSubject")
        if type(subject) is dict and subject and ("id" not in subject or is_url(subject["id"])):
            subjects: tuple[JSONObject, ...] = (subject,)
        else:
            subjects = _subjects(document)
        # VC DM 2.0 §5. The usual case, a string issuer and no optional member but
        # credentialStatus, in line: each status is an object with a type (the walk above
        # found every type a known string or a non-empty list of them); anything else goes
        # through the general path's function.
        if type(raw_issuer) is str and _STATUS_ONLY.isdisjoint(document):
            if "credentialStatus" in document:
                statuses = document["credentialStatus"]
                for status in statuses if type(statuses) is list else (statuses,):
                    if type(status) is not dict or "type" not in status:
                        return None
        else:
            check_optional_members(document)

        # The static proof steps of vc-di-eddsa §3.3.2 (the order does not matter here:
        # only success is answered).
        created = (
            _parse_proof_time(proof["created"], "proof created") if "created" in proof else None
        )
        expires = (
            _parse_proof_time(proof["expires"], "proof expires") if "expires" in proof else None
        )
        signature = b58decode(value[1:])
        options = dict(proof)
        del options["proofValue"]
        hashed = _hash_data(unsecured, options, True)
    except (MalformedInputError, VerificationError):
        return None
    if valid_from is not None and valid_until is not None and valid_until < valid_from:
        return None
    if len(signature) != 64:
        return None
    domain = proof.get("domain")
    credential = VerifiableCredential._checked(
        document,
        tuple(urls),
        cred_id,
        types,
        issuer,
        valid_from,
        valid_until,
        subjects,
        True,
    )
    # tuple.__new__ builds the same named tuple without its Python-level __new__ (the order
    # is the class's).
    prepared = _NEW_TUPLE(
        PreparedProof,
        (
            0,
            proof,
            _DONE,
            None,
            purpose,
            created,
            expires,
            proof.get("challenge"),
            tuple(domain) if type(domain) is list else (domain,),
            vm_id,
            signature,
            hashed,
        ),
    )
    return credential, _NEW_TUPLE(PreparedProofs, (None, (prepared,)))
