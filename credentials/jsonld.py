"""JSON-LD checks of credentials: offline contexts, safe mode, type values.

VC Data Model 2.0 §4.3 and §4.5 (contexts and types) need JSON-LD processing: a ``type``
value must be a term the active contexts define or an absolute URL, and no context may
redefine a protected term. :func:`check_credential_jsonld` enforces that with ``pyld``, in
safe mode and offline:

- Contexts come only from the documents the project ships (:data:`SHIPPED_CONTEXTS`), looked
  up by URL; any other URL is refused (``JSONLD_CONTEXT_UNKNOWN``). Nothing is fetched.
- A member that expansion would drop (a term no context defines, for example once an inline
  context switches ``@vocab`` off) is refused (``JSONLD_TERM_UNDEFINED``).
- A redefinition of a protected term, inline or by an added context, is refused
  (``JSONLD_PROTECTED_TERM``), as is any other JSON-LD error (``JSONLD_INVALID``).
- Every ``type`` value must expand to an absolute URL (``INVALID_TYPE``).

Speed: full expansion in pure Python costs milliseconds, so the common case avoids it. A
document whose ``@context`` is a list of shipped URLs, with no other JSON-LD keyword in it
(a proof may repeat the document's own ``@context``), is fully described by that list: the
list is processed once (cached by its exact value) and the document is then checked by one
walk against the cached result. Only documents with inline contexts or other keywords are
expanded in full. The same walk notes whether every value is plain JSON (no float, no
subclass), which spares JCS its own walk (:func:`check_credential_jsonld_plain`). For the
common shape of a credential, :func:`known_plain_credential` answers "passes, and plain"
from what that walk has already learnt (member names, type values) without learning
anything itself; on any doubt it says nothing and the walk runs.

The published context at ``https://www.w3.org/ns/credentials/v2`` maps undefined terms to
``https://www.w3.org/ns/credentials/issuer-dependent#`` (``@vocab``; VC DM 2.0 §5.2). The
shipped copy (``contexts/credentials-v2.jsonld``, byte-exact from the npm package named in
docs/conformance.md) lacks that one line, so the loader adds it when it serves that URL.

Pure: reads only the bundled context files (once each), no clock, no network.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, NoReturn

from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject, JSONValue, loads_object

__all__ = [
    "ISSUER_DEPENDENT_VOCAB",
    "PYLD_LOCK",
    "SHIPPED_CONTEXTS",
    "check_credential_jsonld",
    "check_credential_jsonld_plain",
    "context_bytes",
    "document_loader",
    "expand_safe",
    "held_resource",
    "known_plain_credential",
    "pyld_options",
]

ISSUER_DEPENDENT_VOCAB = "https://www.w3.org/ns/credentials/issuer-dependent#"
_VC_V2 = "https://www.w3.org/ns/credentials/v2"

#: URL -> (package, file under the package's ``contexts/``) of every context processed.
SHIPPED_CONTEXTS: dict[str, tuple[str, str]] = {
    _VC_V2: ("credentials", "credentials-v2.jsonld"),
    "https://www.w3.org/ns/credentials/examples/v2": (
        "credentials",
        "credentials-examples-v2.jsonld",
    ),
    "https://w3id.org/security/data-integrity/v2": ("credentials", "data-integrity-v2.jsonld"),
    "https://ns.trustlane.org/aeo/v1": ("credentials", "aeo-v1.jsonld"),
    "https://ns.trustlane.org/presentation/v1": ("credentials", "presentation-v1.jsonld"),
    "https://ns.trustlane.org/mra/v1": ("registry", "mra-v1.jsonld"),
    "https://ns.trustlane.org/scan/v1": ("scan_attestation", "scan-v1.jsonld"),
}
#: Resources whose bytes the project publishes itself, so a ``relatedResource`` digest of
#: them can be checked offline (the W3C contexts are shipped as copies, not as the bytes
#: published at their URLs).
_HELD_RESOURCES = frozenset(
    {
        "https://ns.trustlane.org/aeo/v1",
        "https://ns.trustlane.org/mra/v1",
        "https://ns.trustlane.org/presentation/v1",
        "https://ns.trustlane.org/scan/v1",
    }
)
# A bare type term: what JSON-LD appends to @vocab. No colon (that would make it a compact
# or absolute IRI) and nothing an IRI cannot hold.
_TERM = re.compile(r"[^\s:\"<>{}|\\^`\x00-\x1f\x7f]+\Z")
# RFC 3987 absolute IRI, as strict as credentials.model.is_url.
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\"<>{}|\\^`\x00-\x1f\x7f]+\Z")
_MAX_CACHED_CONTEXT_LISTS = 256
_MAX_KNOWN_TYPES = 64
_MAX_KNOWN_TYPE_LENGTH = 256


def _bad(message: str, code: str) -> MalformedInputError:
    return MalformedInputError(message, code=code)


@functools.cache
def context_bytes(url: str) -> bytes:
    """The shipped bytes of the context at ``url``.

    Raises:
        KeyError: ``url`` is not a shipped context.

    """
    package, name = SHIPPED_CONTEXTS[url]
    return resources.files(package).joinpath("contexts", name).read_bytes()


def held_resource(url: str) -> bytes | None:
    """The bytes of a resource the node holds and publishes itself; None for any other URL.

    A ``relatedResource`` digest is checked against these bytes (nothing is fetched).
    """
    return context_bytes(url) if url in _HELD_RESOURCES else None


@functools.cache
def _context_document(url: str) -> JSONObject:
    document = loads_object(context_bytes(url))
    if url == _VC_V2:
        inner = document["@context"]
        if isinstance(inner, dict) and "@vocab" not in inner:
            document = {"@context": {"@vocab": ISSUER_DEPENDENT_VOCAB, **inner}}
    return document


def document_loader(url: str, options: object = None) -> dict[str, Any]:
    """Document loader for pyld: shipped contexts only, never the network.

    Raises:
        JsonLdError: ``url`` is not a shipped context (pyld's own error type).

    """
    from pyld import jsonld  # Loaded on first use.

    if url not in SHIPPED_CONTEXTS:
        raise jsonld.JsonLdError(
            f"context {url} is not one this node holds; contexts are never fetched",
            "jsonld.LoadDocumentError",
            {"url": url},
            code="loading remote context failed",
        )
    # A fresh copy: pyld must not be able to alter the cached document.
    return {"contextUrl": None, "documentUrl": url, "document": _copy(_context_document(url))}


def _copy(value: JSONValue) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class _DroppedError(Exception):
    """Raised from pyld's dropped-property hook (safe mode)."""


def _refuse_dropped(expanded_property: object) -> None:
    raise _DroppedError(str(expanded_property))


# pyld's context resolver cache is not thread-safe: one lock for every pyld call in the
# project (expansion here, RDFC-1.0 canonicalization in eddsa_rdfc.py).
PYLD_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


def pyld_options(*, base: str | None = None) -> dict[str, Any]:
    """The options of every pyld call: shipped contexts only, one resolver, JSON-LD 1.1."""
    return {
        "documentLoader": document_loader,
        "contextResolver": _resolver(),
        "base": base,
        "processingMode": "json-ld-1.1",
    }


def _resolver() -> Any:
    if "resolver" not in _STATE:
        from cachetools import LRUCache
        from pyld.context_resolver import ContextResolver

        # Our own cache: pyld's module-wide one may hold contexts another loader served.
        _STATE["resolver"] = ContextResolver(LRUCache(maxsize=64), document_loader)
    return _STATE["resolver"]


def _jsonld_error(error: Exception) -> MalformedInputError:
    # pyld wraps the real cause in layers of JsonLdError; the innermost code says what it is.
    codes: list[str] = []
    messages: list[str] = []
    cause: BaseException | None = error
    while cause is not None:
        code = getattr(cause, "code", None)
        if isinstance(code, str):
            codes.append(code)
        if isinstance(cause, _DroppedError):
            return _bad(
                f"the term {cause} is not defined by the credential's contexts "
                "(JSON-LD would drop it)",
                "JSONLD_TERM_UNDEFINED",
            )
        messages.append(str(cause.args[0]) if cause.args else type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    if "loading remote context failed" in codes or "loading document failed" in codes:
        unknown = next((m for m in messages if "is not one this node holds" in m), None)
        return _bad(unknown or "a @context cannot be loaded", "JSONLD_CONTEXT_UNKNOWN")
    if "protected term redefinition" in codes:
        return _bad(
            "a @context redefines a protected term (such as VerifiableCredential)",
            "JSONLD_PROTECTED_TERM",
        )
    detail = codes[-1] if codes else messages[-1]
    return _bad(f"the credential is not valid JSON-LD: {detail}", "JSONLD_INVALID")


def expand_safe(document: JSONObject) -> list[JSONObject]:
    """Expand ``document`` with pyld, offline and in safe mode.

    Returns:
        The expanded document (JSON-LD 1.1 expanded form).

    Raises:
        MalformedInputError: An unknown context (``JSONLD_CONTEXT_UNKNOWN``), an undefined
            term (``JSONLD_TERM_UNDEFINED``), a protected term redefined
            (``JSONLD_PROTECTED_TERM``) or other invalid JSON-LD (``JSONLD_INVALID``).

    """
    from pyld import jsonld

    options = pyld_options()
    with PYLD_LOCK:
        try:
            processor = jsonld.JsonLdProcessor(on_property_dropped=_refuse_dropped)
            expanded: list[JSONObject] = processor.expand(document, options)
        except (jsonld.JsonLdError, _DroppedError) as e:
            raise _jsonld_error(e) from e
        except (RecursionError, TypeError, ValueError, KeyError) as e:
            raise _bad(f"the credential is not valid JSON-LD: {e}", "JSONLD_INVALID") from e
    return expanded


@dataclass(frozen=True)
class _ContextList:
    """What a list of shipped context URLs defines (the fast path needs only this)."""

    vocab: str | None
    terms: frozenset[str]
    #: Terms the list defines as JSON literals (``"@type": "@json"``): at the top of a
    #: document their values are opaque data, so the fast path skips them.
    literals: frozenset[str] = frozenset()
    #: Memo of ``type`` values already judged under this list (the same few recur in every
    #: credential of a kind); bounded in entries and in length of each entry.
    known_types: dict[str, bool] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )


@functools.lru_cache(maxsize=_MAX_CACHED_CONTEXT_LISTS)
def _context_list(urls: tuple[str, ...]) -> _ContextList | MalformedInputError:
    # Cached by the exact list, errors included: a bad list costs one processing only.
    for url in urls:
        if url not in SHIPPED_CONTEXTS:
            return _bad(
                f"@context {url} is not one this node holds; contexts are never fetched",
                "JSONLD_CONTEXT_UNKNOWN",
            )
    from pyld import jsonld

    options = pyld_options()
    with PYLD_LOCK:
        try:
            processor = jsonld.JsonLdProcessor()
            active = processor.process_context(
                processor._get_initial_context(options),  # No public twin.
                list(urls),
                options,
            )
        except jsonld.JsonLdError as e:
            return _jsonld_error(e)
    vocab = active.get("@vocab")
    mappings = active.get("mappings", {})
    return _ContextList(
        vocab=vocab if isinstance(vocab, str) else None,
        terms=frozenset(mappings),
        literals=frozenset(
            term
            for term, definition in mappings.items()
            if isinstance(definition, dict) and definition.get("@type") == "@json"
        ),
    )


@functools.cache
def _special_terms() -> frozenset[str]:
    """Terms whose values the fast path cannot judge: JSON literals and context resets.

    A value under an ``@json`` term is a literal (its members are no terms and its ``type``
    no type), and under a term with ``"@context": null`` (``verifiableCredential``) nothing
    is defined; documents using any such term, at any scope of any shipped context, are
    expanded in full.
    """
    found: set[str] = set()
    stack: list[object] = [_context_document(url) for url in SHIPPED_CONTEXTS]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(child, dict) and (
                    child.get("@type") == "@json"
                    or ("@context" in child and child["@context"] is None)
                ):
                    found.add(key)
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
    return frozenset(found)


# Member names seen to be plain terms or absolute IRIs (the fast path's per-key check is a
# set lookup for names that recur). Bounded: past the cap, names are checked each time.
_PLAIN_KEYS: set[str] = set()
_MAX_PLAIN_KEYS = 10_000


def _plain_key(key: str) -> bool:
    if key in _PLAIN_KEYS:
        return True
    plain = (
        not key.startswith("@")
        and (_TERM.match(key) is not None or _ABSOLUTE.match(key) is not None)
        and key not in _special_terms()
    )
    if plain and len(_PLAIN_KEYS) < _MAX_PLAIN_KEYS:
        _PLAIN_KEYS.add(key)
    return plain


def _scan(
    node: dict[str, Any] | list[Any],
    contexts: list[JSONValue],
    info: _ContextList,
    impure: list[object],
) -> bool:
    """Walk ``node`` for the fast path; False as soon as it needs full expansion.

    A plain recursive walk: it is on the verification hot path, and a generator or an
    explicit stack cost several times more for credentials of a few dozen members.
    Recursion is bounded by the strict parser's depth limit. Members are visited in
    document order, so the first rule broken is the one reported, on every path.

    The same walk notes, in ``impure``, every value that is not exactly a str, int, bool or
    None (a float, a subclass...): with none, the JCS fast path needs no walk of its own
    (:func:`credentials.canonical.canonicalize_plain`).

    Raises:
        MalformedInputError: A ``type`` value is neither a defined term nor a URL.

    """
    if isinstance(node, list):
        children: Any = node
    elif not _PLAIN_KEYS.issuperset(node):
        # Some member name is not known to be plain (one set operation in C decides the
        # common case, where every name is): check them one by one.
        return _scan_members(node, contexts, info, impure)
    elif "type" in node:
        return _scan_typed(node, contexts, info, impure)
    else:
        children = node.values()
    for child in children:
        kind = type(child)
        if kind is str:
            continue
        if kind is dict:
            if not _scan(child, contexts, info, impure):
                return False
        elif kind is list:
            # The items of a list in line: one call fewer per list (most hold strings, or
            # objects), in the same order.
            for item in child:
                kind = type(item)
                if kind is str:
                    continue
                if kind is dict or kind is list:
                    if not _scan(item, contexts, info, impure):
                        return False
                elif kind is not int and kind is not bool and item is not None:
                    impure.append(item)
        elif kind is not int and kind is not bool and child is not None:
            impure.append(child)
    return True


def _scan_typed(
    node: dict[str, Any], contexts: list[JSONValue], info: _ContextList, impure: list[object]
) -> bool:
    """:func:`_scan` for an object with a ``type`` and only plain member names."""
    for key, child in node.items():
        kind = type(child)
        if kind is str:
            # A type seen before under these contexts needs no call.
            if key == "type" and info.known_types.get(child) is not True:
                _check_types(child, info)
            continue
        if key == "type":
            _check_types(child, info)
        elif kind is dict or kind is list:
            if not _scan(child, contexts, info, impure):
                return False
        elif kind is not int and kind is not bool and child is not None:
            impure.append(child)
    return True


def _scan_members(
    node: dict[str, Any], contexts: list[JSONValue], info: _ContextList, impure: list[object]
) -> bool:
    """:func:`_scan` for an object with a member name not (yet) known to be plain."""
    for key, child in node.items():
        if key not in _PLAIN_KEYS:
            # Only a proof repeating the document's own contexts stays on the fast path;
            # any other keyword or name JSON-LD may drop or treat specially is expanded.
            if key == "@context":
                if child != contexts:
                    return False
                if child is not contexts and (
                    type(child) is not list or any(type(c) is not str for c in child)
                ):
                    # Equal is not identical: a list or str subclass compares equal too.
                    impure.append(child)
                continue
            if not _plain_key(key):
                return False
        kind = type(child)
        if key == "type":
            _check_types(child, info)
        elif kind is dict or kind is list:
            if not _scan(child, contexts, info, impure):
                return False
        elif kind is not str and kind is not int and kind is not bool and child is not None:
            impure.append(child)
    return True


def _check_types(value: Any, info: _ContextList) -> None:
    """Raise unless every ``type`` value is a term the contexts define or an absolute URL."""
    known = info.known_types
    for item in value if type(value) is list else (value,):
        # Only strings reach the memo: a dict or list is unhashable (and never a type).
        if type(item) is not str:
            _raise_bad_type(item)
        ok = known.get(item)
        if ok is None:
            ok = _type_ok(item, info.vocab, info.terms)
            if len(known) < _MAX_KNOWN_TYPES and len(item) <= _MAX_KNOWN_TYPE_LENGTH:
                known[item] = ok
        if not ok:
            _raise_bad_type(item)


def _raise_bad_type(item: object) -> NoReturn:
    raise _bad(
        f"type {item!r} is neither a term defined by the credential's contexts nor an absolute URL",
        "INVALID_TYPE",
    )


def _fast_path(document: JSONObject, contexts: list[JSONValue], impure: list[object]) -> bool:
    """Check ``document`` against its cached context list; False if it needs expansion.

    Values that are not plain JSON scalars are noted in ``impure`` (see :func:`_scan`).

    Raises:
        MalformedInputError: A rule is broken.

    """
    for item in contexts:
        if not isinstance(item, str):
            return False
        if type(item) is not str:
            impure.append(item)
    if type(contexts) is not list:
        impure.append(contexts)
    urls = tuple(contexts)
    info = _context_list(urls)
    if isinstance(info, MalformedInputError):
        # A fresh error each time: re-raising the cached one would grow its traceback.
        raise _bad(info.message, info.code)
    if info.literals and not info.literals.isdisjoint(document):
        # A top-level JSON literal (a presentation's scanAttestationBundles) is data, not
        # JSON-LD: nothing inside it is a term or a type. Deeper ones are expanded in full.
        # Its values are not walked, so nothing is known of them.
        impure.append(document)
        document = {k: v for k, v in document.items() if k not in info.literals}
    return _scan(document, contexts, info, impure)


def _known_tree(node: dict[str, Any], known: dict[str, bool]) -> bool:
    """Tell whether :func:`_scan` surely passes ``node`` with nothing impure; False if unsure.

    True only when every member name, at every depth, is already known to be plain (in
    :data:`_PLAIN_KEYS`), every ``type`` value is a string, or a list of strings, already
    judged good under these contexts (``known``), and every value is exactly a dict, list,
    str, int, bool or None. Then :func:`_scan` takes the same branches, raises nothing and
    notes nothing; anything else (a new name, a new type, a float...) answers False and
    the caller runs the full check, which decides and explains. Nothing is added to the
    memos here: only the full check learns.
    """
    if not _PLAIN_KEYS.issuperset(node):
        return False
    if "type" in node:
        kinds = node["type"]
        if type(kinds) is str:
            if known.get(kinds) is not True:
                return False
        elif type(kinds) is list and kinds:
            for kind in kinds:
                if type(kind) is not str or known.get(kind) is not True:
                    return False
        else:
            return False
    for child in node.values():
        kind = type(child)
        if kind is str:
            continue
        if kind is dict:
            if not _known_tree(child, known):
                return False
        elif kind is list:
            if not _known_list(child, known):
                return False
        elif kind is not int and kind is not bool and child is not None:
            return False
    return True


def _known_list(node: list[Any], known: dict[str, bool]) -> bool:
    """:func:`_known_tree` for a list nested directly in a list."""
    for item in node:
        kind = type(item)
        if kind is str:
            continue
        if kind is dict:
            if not _known_tree(item, known):
                return False
        elif kind is list:
            if not _known_list(item, known):
                return False
        elif kind is not int and kind is not bool and item is not None:
            return False
    return True


def known_plain_credential(
    document: JSONObject,
    contexts: list[str],
    members: dict[str, Any],
    proof_members: dict[str, Any],
) -> bool:
    """A sufficient condition for :func:`check_credential_jsonld_plain` to return True.

    For the common shape of a credential (:mod:`credentials.common_shape`), the caller
    guarantees: ``contexts`` is ``document["@context"]`` itself, an exact list of exact
    strings; ``document["proof"]`` is one exact dict, whose ``@context``, if any, is an
    exact list of exact strings equal to ``contexts``; ``members`` is ``document`` without
    ``@context`` and ``proof``, and ``proof_members`` is the proof without ``@context``.
    Both must then be known to pass the fast path's walk (:func:`_known_tree`): the walk
    of :func:`_scan` over the document then takes the same branches (the ``@context``
    members are exactly what it lets through without noting anything), raises nothing and
    notes nothing impure.

    True means the full check would pass and find the document plain JSON; False says
    nothing (the caller runs the full check). Never raises; learns nothing.
    """
    if "proof" not in _PLAIN_KEYS:
        return False
    info = _context_list(tuple(contexts))
    if type(info) is not _ContextList:
        return False
    if info.literals and not info.literals.isdisjoint(document):
        return False
    known = info.known_types
    return _known_tree(members, known) and _known_tree(proof_members, known)


def _type_ok(item: str, vocab: str | None, terms: frozenset[str]) -> bool:
    if not item:
        return False
    if item in terms:
        return True
    if ":" in item:
        return _ABSOLUTE.match(item) is not None
    return vocab is not None and _TERM.match(item) is not None


def _check_expanded(expanded: object) -> None:
    stack: list[object] = [expanded]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        kinds = item.get("@type")
        if "@value" in item:
            # A value object: its @type is a datatype (or @json, whose @value is a literal
            # not to be searched for types).
            kinds = [] if kinds in (None, "@json") else kinds
        else:
            stack.extend(v for k, v in item.items() if k != "@type")
        for kind in kinds if isinstance(kinds, list) else [kinds] if kinds is not None else []:
            if not (isinstance(kind, str) and _ABSOLUTE.match(kind) and not kind.startswith("_:")):
                raise _bad(
                    f"type {kind!r} is neither a term defined by the credential's contexts "
                    "nor an absolute URL",
                    "INVALID_TYPE",
                )


def check_credential_jsonld(document: JSONObject) -> None:
    """Check a credential's JSON-LD: known contexts, no undefined or redefined terms.

    The data model layer calls this after checking the ``@context`` shape (VC DM 2.0
    §4.3), at issuance and at verification.

    Raises:
        MalformedInputError: ``JSONLD_CONTEXT_UNKNOWN``, ``JSONLD_TERM_UNDEFINED``,
            ``JSONLD_PROTECTED_TERM``, ``JSONLD_INVALID`` or ``INVALID_TYPE``.

    """
    check_credential_jsonld_plain(document)


def check_credential_jsonld_plain(document: JSONObject) -> bool:
    """:func:`check_credential_jsonld`, also telling whether ``document`` is plain JSON.

    Returns:
        True when the fast path decided the document and saw only exact ``dict``, ``list``,
        ``str``, ``int``, ``bool`` and ``None`` values in it (no float, no subclass): then
        every part of it may be canonicalized by
        :func:`credentials.canonical.canonicalize_plain` while it is left unchanged.
        False says nothing either way.

    Raises:
        MalformedInputError: As :func:`check_credential_jsonld`.

    """
    contexts = document.get("@context")
    if isinstance(contexts, list):
        impure: list[object] = []
        if _fast_path(document, contexts, impure):
            return not impure
    # Expansion maps an empty type to the @vocab IRI itself; refuse it as the fast path does.
    if _has_empty_type(document):
        raise _bad(
            "type '' is neither a term defined by the credential's contexts nor an absolute URL",
            "INVALID_TYPE",
        )
    _check_expanded(expand_safe(document))
    return False


def _has_empty_type(node: object) -> bool:
    if isinstance(node, list):
        return any(_has_empty_type(child) for child in node)
    if not isinstance(node, dict):
        return False
    for key, child in node.items():
        if key in _special_terms():
            continue  # a JSON literal: its "type" is data
        if key == "type" and (child == "" or (isinstance(child, list) and "" in child)):
            return True
        if isinstance(child, dict | list) and _has_empty_type(child):
            return True
    return False
