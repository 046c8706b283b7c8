"""Property tests for the JSON-LD fast path walk and the plain-JSON flag it computes.

The walk in :mod:`credentials.jsonld` decides most credentials without expansion and, in the
same pass, tells whether the document holds only plain JSON values (so that JCS needs no
walk of its own). Two properties are checked on generated credentials:

* the walk's verdict (fast path taken, expansion needed, or the error raised, with its code)
  is the one of the straightforward member-by-member walk it replaced (``_reference_scan``,
  kept here as the reference);
* "plain" is claimed only for documents that are plain (every value an exact dict, list,
  str, int, bool or None), and then the bytes a proof signs are the same with and without
  the claim.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from credentials import jsonld
from credentials.canonical import (
    _is_plain_container,
    canonicalize,
    canonicalize_plain,
    reference_canonicalize,
)
from credentials.data_integrity import prepare_proofs
from credentials.errors import MalformedInputError
from credentials.keys import PrivateKey
from credentials.signing import sign_credential
from credentials.strict_json import JSONValue

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ISSUER = PrivateKey.from_seed(bytes(range(32)))
VC2 = "https://www.w3.org/ns/credentials/v2"
AEO = "https://ns.trustlane.org/aeo/v1"
SAFE_INT = 2**53 - 1


class Text(str):
    """A str subclass: equal to its value, but not plain JSON."""


class Items(list):  # type: ignore[type-arg]
    """A list subclass: equal to its value, but not plain JSON."""


def _reference_scan(node: Any, contexts: list[Any], info: Any) -> bool:
    """The member-by-member walk the fast path used before (its verdicts are the contract)."""
    if isinstance(node, list):
        for child in node:
            kind = type(child)
            if (kind is dict or kind is list) and not _reference_scan(child, contexts, info):
                return False
        return True
    for key, child in node.items():
        if not jsonld._plain_key(key):
            if key == "@context" and child == contexts:
                continue
            return False
        if key == "type":
            for item in child if type(child) is list else (child,):
                if type(item) is not str or not jsonld._type_ok(item, info.vocab, info.terms):
                    raise MalformedInputError("bad type", code="INVALID_TYPE")
            continue
        kind = type(child)
        if (kind is dict or kind is list) and not _reference_scan(child, contexts, info):
            return False
    return True


def _verdict(scan: Any, document: dict[str, Any], contexts: list[Any], info: Any) -> object:
    try:
        return scan(document, contexts, info)
    except MalformedInputError as e:
        return e.code


# Member names: AEO and v2 terms, absolute IRIs, an undefined term, keywords, JSON literals.
keys = st.sampled_from(
    [
        "id",
        "name",
        "legalName",
        "country",
        "roles",
        "gate",
        "https://example.org/prop",
        "@id",
        "@type",
        "@vocab",
        "@context",
        "bad key",
        "a:b c",
        "",
        "verifiableCredential",
    ]
)
types = st.sampled_from(
    [
        "VerifiableCredential",
        "AEOCertificate",
        "PortAccess",
        "https://example.org/T",
        "Port Access",
        "",
        "a<b",
        "urn:x:y",
    ]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE_INT, max_value=SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.text(max_size=6).map(Text)
)
type_values: st.SearchStrategy[Any] = (
    types | st.lists(types, min_size=1, max_size=3) | st.sampled_from([1, None, {}])
)


@st.composite
def members(draw: st.DrawFn, children: st.SearchStrategy[Any]) -> dict[str, Any]:
    obj: dict[str, Any] = draw(st.dictionaries(keys, children, max_size=4))
    if draw(st.booleans()):
        obj["type"] = draw(type_values)
    return obj


values = st.recursive(
    scalars, lambda children: st.lists(children, max_size=3) | members(children), max_leaves=12
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    contexts = draw(st.sampled_from([[VC2], [VC2, AEO]]))
    document: dict[str, Any] = {
        "@context": contexts,
        "id": "urn:uuid:6a4b0e52-3c1d-4c62-9c1e-13a1d5a0c001",
        "type": ["VerifiableCredential", "AEOCertificate"],
        "credentialSubject": draw(members(values)),
    }
    document.update(draw(st.dictionaries(keys, values, max_size=3)))
    document["@context"] = contexts
    if draw(st.booleans()):
        # A proof repeating the contexts: equal, or equal through a str subclass.
        same = draw(st.sampled_from([list(contexts), [Text(c) for c in contexts], Items(contexts)]))
        document["proof"] = {"type": "DataIntegrityProof", "@context": same}
    return document


@PROPERTY_SETTINGS
@given(documents())
def test_walk_gives_the_reference_verdict(document: dict[str, Any]) -> None:
    contexts = document["@context"]
    info = jsonld._context_list(tuple(contexts))
    impure: list[object] = []
    fast = _verdict(lambda d, c, i: jsonld._fast_path(d, c, impure), document, contexts, info)
    assert fast == _verdict(_reference_scan, document, contexts, info)


@PROPERTY_SETTINGS
@given(documents())
def test_plain_is_claimed_only_for_plain_documents(document: dict[str, Any]) -> None:
    # The fast path alone (check_credential_jsonld_plain answers False after expansion).
    contexts = document["@context"]
    impure: list[object] = []
    try:
        plain = jsonld._fast_path(document, contexts, impure) and not impure
    except MalformedInputError:
        return
    if plain:
        assert _is_plain_container(document)
        assert canonicalize_plain(document) == reference_canonicalize(document)


subject_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["legalName", "country"]), children, max_size=2)
    ),
    max_leaves=8,
)


@PROPERTY_SETTINGS
@given(st.dictionaries(st.sampled_from(["legalName", "country", "roles"]), subject_values))
def test_plain_claim_gives_the_same_signed_bytes(subject: dict[str, Any]) -> None:
    try:
        document = sign_credential(
            {
                "@context": [VC2, AEO],
                "type": ["VerifiableCredential", "AEOCertificate"],
                "issuer": ISSUER.public_key.did,
                "credentialSubject": {"id": "did:web:forwarder.example", **subject},
            },
            ISSUER,
            verification_method=ISSUER.public_key.verification_method_id,
            created=NOW,
        )
    except MalformedInputError:
        return
    plain = jsonld.check_credential_jsonld_plain(document)
    expected = prepare_proofs(copy.deepcopy(document)).proofs[0].hashed
    assert prepare_proofs(document, plain=plain).proofs[0].hashed == expected
    # Plain exactly when no float and no str subclass is in the document.
    assert plain == _is_plain_container(document)


plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@PROPERTY_SETTINGS
@given(plain_values)
def test_canonicalize_plain_matches_reference(value: JSONValue) -> None:
    # Non-BMP text and integers beyond +-(2**53 - 1) included: those still go to rfc8785.
    try:
        expected: object = reference_canonicalize(value)
    except MalformedInputError as e:
        expected = type(e)
    try:
        got: object = canonicalize_plain(value)
    except MalformedInputError as e:
        got = type(e)
    assert got == expected
    if isinstance(expected, bytes):
        assert canonicalize(value) == expected


def test_verification_uses_the_plain_claim_only_when_it_holds() -> None:
    from credentials.model import VerifiableCredential

    base = {
        "@context": [VC2, AEO],
        "type": ["VerifiableCredential", "AEOCertificate"],
        "issuer": ISSUER.public_key.did,
        "credentialSubject": {"id": "did:web:forwarder.example", "legalName": "A"},
    }
    options = {"verification_method": ISSUER.public_key.verification_method_id, "created": NOW}
    plain = sign_credential(base, ISSUER, **options)  # type: ignore[arg-type]
    assert VerifiableCredential.from_dict(plain).plain_json is True
    with_float = copy.deepcopy(base)
    with_float["credentialSubject"]["score"] = 1.0  # type: ignore[index]
    signed = sign_credential(with_float, ISSUER, **options)  # type: ignore[arg-type]
    assert VerifiableCredential.from_dict(signed).plain_json is False
    # An inline context takes full expansion: nothing is claimed.
    inline = copy.deepcopy(plain)
    inline["@context"] = [VC2, AEO, {"gate": "https://v.example/gate"}]
    assert jsonld.check_credential_jsonld_plain(inline) is False
