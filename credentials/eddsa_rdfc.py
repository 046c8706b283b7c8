"""The ``eddsa-rdfc-2022`` cryptosuite: hashing for verification (never for signing).

W3C *Data Integrity EdDSA Cryptosuites v1.0* §3.4 (eddsa-rdfc-2022): the document and the
proof configuration are each turned into an RDF dataset (JSON-LD 1.1 "Deserialize JSON-LD to
RDF"), canonicalized with RDFC-1.0 (the algorithm formerly named URDNA2015) into N-Quads,
hashed with SHA-256, and the two hashes are concatenated, proof configuration first
(§3.4.4 Hashing). The Ed25519 check itself, the proof options, the ``@context`` prefix rule
and proof chains are the same as for eddsa-jcs-2022 and stay in
:mod:`credentials.data_integrity`, which calls :func:`hash_data` when a proof names this
suite. The node signs only with eddsa-jcs-2022; this module exists so that credentials and
presentations that other wallets sign with eddsa-rdfc-2022 verify here.

JSON-LD processing is done by ``pyld`` with these limits:

- Contexts come only from the documents the project ships, served by
  :func:`credentials.jsonld.document_loader` (the same loader as the data model's JSON-LD
  checks); any other context is refused (``JSONLD_CONTEXT_UNKNOWN``). Nothing is ever
  fetched from the network.
- Safe mode: a member that JSON-LD expansion would drop (a term no context defines) is
  refused (``JSONLD_TERM_UNDEFINED``), because a dropped member is not signed and could be
  changed after signing without breaking the proof.
- Canonicalization is bounded: a document of more than :data:`MAX_VALUES` JSON values
  (checked before any JSON-LD work), a dataset of more than :data:`MAX_QUADS` quads, or a
  blank-node structure that needs more than :data:`MAX_DEEP_HASHES` "Hash N-Degree Quads"
  steps (a poison graph), is refused (``RDFC_LIMIT_EXCEEDED``).

Pure: no I/O beyond reading the bundled context files once (through the loader), no clock.

Example:
    >>> doc = {"@context": ["https://www.w3.org/ns/credentials/v2"],
    ...        "type": ["VerifiableCredential"], "issuer": "did:example:1"}
    >>> len(canonicalize_rdfc(doc).splitlines())
    2

"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from credentials.errors import InvalidProofError
from credentials.jsonld import PYLD_LOCK, pyld_options
from credentials.strict_json import JSONObject

__all__ = [
    "CRYPTOSUITE",
    "MAX_DEEP_HASHES",
    "MAX_QUADS",
    "MAX_VALUES",
    "canonicalize_rdfc",
    "hash_data",
]

CRYPTOSUITE = "eddsa-rdfc-2022"
#: Most JSON values (members, items, scalars) a document may hold before any JSON-LD work:
#: pyld's expansion grows faster than linearly (about 1 s for 1,000 values here), so the
#: bound is checked first. A credential has dozens; a presentation of several, hundreds.
MAX_VALUES = 1_000
#: Most quads a canonicalized document may have.
MAX_QUADS = 1_000
#: Most "Hash N-Degree Quads" calls per canonicalization (RDFC-1.0 §4.8, the costly step;
#: ordinary credentials need none, a proof set a handful).
MAX_DEEP_HASHES = 256


def _pyld() -> Any:
    # Imported on first use: plain eddsa-jcs-2022 verification never pays for it.
    from pyld import jsonld

    return jsonld


class _RefusedError(Exception):
    """Raised inside pyld by our hooks; carries the code to report."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _refuse_dropped(expanded_property: str | None) -> None:
    raise _RefusedError(
        f"member {expanded_property!r} is not defined by the document's contexts "
        "(it would not be signed)",
        "JSONLD_TERM_UNDEFINED",
    )


@functools.cache
def _bounded_canonicalizer() -> type[Any]:
    from pyld.canon import URDNA2015

    class _Bounded(URDNA2015):  # type: ignore[misc]
        """RDFC-1.0 with a cap on the exponential "Hash N-Degree Quads" step."""

        def __init__(self) -> None:
            super().__init__()
            self.deep_hashes = 0

        def hash_n_degree_quads(self, id_: str, issuer: object) -> object:
            self.deep_hashes += 1
            if self.deep_hashes > MAX_DEEP_HASHES:
                raise _RefusedError(
                    f"canonicalization needs more than {MAX_DEEP_HASHES} deep hashing steps",
                    "RDFC_LIMIT_EXCEEDED",
                )
            return super().hash_n_degree_quads(id_, issuer)

    return _Bounded


def canonicalize_rdfc(document: JSONObject, *, max_quads: int = MAX_QUADS) -> bytes:
    """Return the RDFC-1.0 canonical N-Quads of a JSON-LD document, UTF-8 encoded.

    Args:
        document: A JSON-LD document (a credential, a presentation or a proof config).
        max_quads: The most quads accepted (lowered only in tests).

    Returns:
        The canonical N-Quads, one quad per line, each ending in a newline.

    Raises:
        InvalidProofError: The document cannot be canonicalized here: a context that is not
            shipped (``JSONLD_CONTEXT_UNKNOWN``), an undefined term
            (``JSONLD_TERM_UNDEFINED``), invalid JSON-LD (``JSONLD_INVALID``) or a
            dataset beyond the limits (``RDFC_LIMIT_EXCEEDED``).

    """
    values = _count_values(document, MAX_VALUES + 1)
    if values > MAX_VALUES:
        raise InvalidProofError(
            f"the document holds more than {MAX_VALUES} JSON values", code="RDFC_LIMIT_EXCEEDED"
        )
    jsonld = _pyld()
    with PYLD_LOCK:
        processor = jsonld.JsonLdProcessor(on_property_dropped=_refuse_dropped)
        options = pyld_options(base="")
        try:
            dataset = processor.to_rdf(document, options)
            quads = sum(len(triples) for triples in dataset.values())
            if quads > max_quads:
                raise _RefusedError(
                    f"the document has {quads} quads, more than {max_quads}",
                    "RDFC_LIMIT_EXCEEDED",
                )
            canonical = _bounded_canonicalizer()().main(dataset, {"format": "application/n-quads"})
        except _RefusedError as e:
            raise InvalidProofError(e.message, code=e.code) from e
        except jsonld.JsonLdError as e:
            raise _jsonld_error(e) from e
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as e:
            # pyld assumes well-formed JSON-LD in places; anything else is invalid input.
            raise InvalidProofError(
                f"document is not valid JSON-LD: {type(e).__name__}", code="JSONLD_INVALID"
            ) from e
    if not isinstance(canonical, str):  # pragma: no cover - the format option asks for text
        raise InvalidProofError("canonicalization gave no N-Quads", code="JSONLD_INVALID")
    return canonical.encode("utf-8")


def _count_values(document: JSONObject, stop: int) -> int:
    """Count the document's JSON values, stopping early at ``stop`` (no recursion)."""
    count = 0
    pending: list[object] = [document]
    while pending and count < stop:
        value = pending.pop()
        count += 1
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return count


def _jsonld_error(error: Exception) -> InvalidProofError:
    # pyld chains its errors; the innermost one says what was wrong.
    cause: BaseException = error
    while cause.__cause__ is not None:
        if isinstance(cause.__cause__, _RefusedError):
            refused = cause.__cause__
            return InvalidProofError(refused.message, code=refused.code)
        cause = cause.__cause__
    text = str(cause.args[0] if cause.args else cause)[:300]
    if getattr(cause, "code", None) == "loading remote context failed":
        return InvalidProofError(text, code="JSONLD_CONTEXT_UNKNOWN")
    return InvalidProofError(f"document is not valid JSON-LD: {text}", code="JSONLD_INVALID")


def hash_data(
    unsecured: JSONObject,
    proof_config: JSONObject,
    *,
    canonicalize: Callable[[JSONObject], bytes] = canonicalize_rdfc,
) -> bytes:
    """The 64 bytes an eddsa-rdfc-2022 proof signs (vc-di-eddsa §3.4.4 Hashing).

    Args:
        unsecured: The document without its proof (with the proofs a chained proof names).
        proof_config: The proof without ``proofValue``, carrying the document's
            ``@context`` (§3.4.5 Proof Configuration).
        canonicalize: The canonicalizer (tests only).

    Returns:
        SHA-256(canonical proof configuration) || SHA-256(canonical document).

    Raises:
        InvalidProofError: Either part cannot be canonicalized (see
            :func:`canonicalize_rdfc`).

    """
    return (
        hashlib.sha256(canonicalize(proof_config)).digest()
        + hashlib.sha256(canonicalize(unsecured)).digest()
    )
