"""What an assessment request holds, and reading it (``POST /risk/assess``, ``risk assess``).

``{"declaration", "presentation"?, "attestations"?}``: the declaration (checked by
:meth:`risk.Declaration.from_dict`), a presentation verification request in the shape
``POST /presentations/verify`` takes, and scan attestation bundles in the shape of
``POST /attestations/verify``. Reading checks shapes only; verifying is the service's.
"""

from __future__ import annotations

from dataclasses import dataclass

from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject, JSONValue
from registry.challenges import check_challenge_format
from risk import Declaration

__all__ = [
    "MAX_ATTESTATIONS",
    "MAX_MIN_WITNESSES",
    "AssessmentRequest",
    "AttestationRequest",
    "PresentationRequest",
    "parse_assessment_request",
]

#: Most attestation bundles one assessment takes.
MAX_ATTESTATIONS = 16
#: Most witnesses an attestation check may ask for (as ``POST /attestations/verify``).
MAX_MIN_WITNESSES = 16


@dataclass(frozen=True)
class PresentationRequest:
    """A presentation to verify for the declaration (``POST /presentations/verify`` shape)."""

    presentation: JSONObject
    challenge: str
    domain: str | None = None
    consignment: str | None = None
    port: str | None = None
    #: Witness cosignatures each scan attestation the presentation carries needs.
    min_witnesses: int = 0


@dataclass(frozen=True)
class AttestationRequest:
    """A scan attestation bundle to check (``POST /attestations/verify`` shape)."""

    bundle: JSONObject
    min_witnesses: int = 0


@dataclass(frozen=True)
class AssessmentRequest:
    """What one assessment is asked about."""

    declaration: Declaration
    presentation: PresentationRequest | None = None
    attestations: tuple[AttestationRequest, ...] = ()


def _bad(message: str, code: str = "INVALID_MEMBER") -> MalformedInputError:
    return MalformedInputError(message, code=code)


def _object(value: JSONValue, where: str) -> JSONObject:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object")
    return value


def _optional_str(options: JSONObject, name: str) -> str | None:
    if name not in options:
        return None
    value = options[name]
    if not isinstance(value, str):
        raise _bad(f"presentation.options.{name} must be a string", "INVALID_OPTIONS")
    return value


def _presentation(value: JSONValue) -> PresentationRequest:
    body = _object(value, "'presentation'")
    unknown = sorted(set(body) - {"verifiablePresentation", "options"})
    if unknown:
        raise _bad(f"presentation has unknown members {unknown}")
    options = _object(body.get("options"), "presentation.options")
    challenge = options.get("challenge")
    if not isinstance(challenge, str):
        raise _bad("presentation.options.challenge must be a string", "INVALID_OPTIONS")
    return PresentationRequest(
        presentation=_object(
            body.get("verifiablePresentation"), "presentation.verifiablePresentation"
        ),
        challenge=check_challenge_format(challenge),
        domain=_optional_str(options, "domain"),
        consignment=_optional_str(options, "consignment"),
        port=_optional_str(options, "port"),
        min_witnesses=_min_witnesses(options, "presentation.options"),
    )


def _attestation(value: JSONValue, index: int) -> AttestationRequest:
    body = _object(value, f"attestations[{index}]")
    unknown = sorted(set(body) - {"bundle", "options"})
    if unknown:
        raise _bad(f"attestations[{index}] has unknown members {unknown}")
    options = _object(body.get("options", {}), f"attestations[{index}].options")
    minimum = _min_witnesses(options, f"attestations[{index}].options")
    return AttestationRequest(_object(body.get("bundle"), f"attestations[{index}].bundle"), minimum)


def _min_witnesses(options: JSONObject, where: str) -> int:
    minimum = options.get("minWitnesses", 0)
    if (
        not isinstance(minimum, int)
        or isinstance(minimum, bool)
        or not 0 <= minimum <= MAX_MIN_WITNESSES
    ):
        raise _bad(
            f"{where}.minWitnesses must be a whole number from 0 to {MAX_MIN_WITNESSES}",
            "INVALID_OPTIONS",
        )
    return minimum


def parse_assessment_request(body: JSONObject) -> AssessmentRequest:
    """Read ``{"declaration", "presentation"?, "attestations"?}``.

    Raises:
        MalformedInputError: A member is missing, unknown or of the wrong shape.
        MalformedDeclarationError: The declaration is refused (every problem at its JSON
            Pointer within the declaration).
    """
    unknown = sorted(set(body) - {"declaration", "presentation", "attestations"})
    if unknown:
        raise _bad(f"unknown members {unknown}")
    if "declaration" not in body:
        raise MalformedInputError("missing member 'declaration'", code="MISSING_MEMBER")
    raw = body.get("attestations", [])
    if not isinstance(raw, list) or len(raw) > MAX_ATTESTATIONS:
        raise _bad(f"'attestations' must be a list of at most {MAX_ATTESTATIONS} bundles")
    attestations = tuple(_attestation(item, i) for i, item in enumerate(raw))
    presentation = _presentation(body["presentation"]) if "presentation" in body else None
    declaration = Declaration.from_dict(_object(body["declaration"], "'declaration'"))
    return AssessmentRequest(declaration, presentation, attestations)
