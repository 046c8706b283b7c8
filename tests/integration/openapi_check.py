"""Check HTTP responses of the node against its OpenAPI document (``node/openapi.json``).

:func:`assert_matches_openapi` looks up the operation and the response status in the
document (an undocumented status fails), checks the documented required headers and the
content type, and validates a JSON body against the response schema with jsonschema
(draft 2020-12). References (``$ref``) resolve inside the document through a
``referencing`` registry that holds the whole document as one resource, so
``#/components/schemas/...`` works from any schema in it.

:func:`assert_matches_component_response` does the same for the route-independent responses
under ``components/responses`` (404 for an unknown path, 405 for a wrong method).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

from node.api.health import openapi_document

__all__ = [
    "DOCUMENT_URI",
    "assert_matches_component_response",
    "assert_matches_openapi",
    "document",
    "escape_pointer",
    "resolve",
    "schema_validator",
]

DOCUMENT_URI = "urn:trustlane:openapi"
_JSON_MEDIA = re.compile(r"application/(?:[a-z0-9.-]+\+)?json\Z")
_PROBLEM_BASE = "https://ns.trustlane.org/problems/"


def document() -> dict[str, Any]:
    """The OpenAPI document as the node serves it."""
    return openapi_document()


def escape_pointer(segment: str) -> str:
    """Escape one JSON Pointer segment (RFC 6901)."""
    return segment.replace("~", "~0").replace("/", "~1")


def _lookup(pointer: str) -> Any:
    node: Any = document()
    for raw in pointer.lstrip("/").split("/") if pointer else []:
        segment = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(segment)] if isinstance(node, list) else node[segment]
    return node


def resolve(node: dict[str, Any], pointer: str) -> tuple[dict[str, Any], str]:
    """Follow local ``$ref`` of non-schema objects (responses, parameters, headers).

    Returns:
        The referenced object and its JSON Pointer in the document.
    """
    seen = set()
    while "$ref" in node:
        target = node["$ref"]
        assert isinstance(target, str) and target.startswith("#/"), f"non-local $ref {target}"
        assert target not in seen, f"$ref cycle at {target}"
        seen.add(target)
        pointer = target[1:]
        node = _lookup(pointer)
    return node, pointer


@functools.cache
def _registry() -> Registry:
    resource = Resource(contents=document(), specification=DRAFT202012)
    return Registry().with_resource(DOCUMENT_URI, resource)


@functools.cache
def schema_validator(pointer: str) -> Draft202012Validator:
    """A validator for the schema at ``pointer`` (a JSON Pointer into the document)."""
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=_registry())


def _validate(instance: Any, pointer: str, what: str) -> None:
    errors = sorted(
        schema_validator(pointer).iter_errors(instance), key=lambda e: list(e.absolute_path)
    )
    if errors:
        lines = [
            f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:10]
        ]
        body = json.dumps(instance)[:1000]
        raise AssertionError(
            f"{what}: the body does not match {pointer}:\n" + "\n".join(lines) + f"\nbody: {body}"
        )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"duplicate member names in the body: {names}"
    return dict(pairs)


def _reject_constant(name: str) -> None:
    raise AssertionError(f"the body holds {name}, which is not JSON")


def _parse_json(response: TestResponse, what: str) -> Any:
    data = response.get_data()
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AssertionError(f"{what}: the body is not JSON ({e}): {data[:300]!r}") from e


def _check_response(response: TestResponse, spec: dict[str, Any], pointer: str, what: str) -> None:
    for name, header in spec.get("headers", {}).items():
        header, header_pointer = resolve(header, f"{pointer}/headers/{escape_pointer(name)}")
        if header.get("required"):
            assert name in response.headers, f"{what}: the documented header {name} is missing"
        if name in response.headers and "schema" in header:
            _validate(response.headers[name], f"{header_pointer}/schema", f"{what} header {name}")
    content: dict[str, Any] = spec.get("content", {})
    if not content:
        assert response.get_data() == b"", f"{what}: documented without a body, got one"
        return
    mimetype = response.mimetype
    assert mimetype in content, (
        f"{what}: content type {response.content_type!r} is not documented "
        f"(documented: {sorted(content)}); body: {response.get_data()[:300]!r}"
    )
    if not _JSON_MEDIA.match(mimetype):
        return
    instance = _parse_json(response, what)
    if "schema" in content[mimetype]:
        schema_pointer = f"{pointer}/content/{escape_pointer(mimetype)}/schema"
        _validate(instance, schema_pointer, what)
    if mimetype == "application/problem+json" and isinstance(instance, dict):
        # errors.problem(): status mirrors the HTTP status; type and title derive from code.
        code = instance.get("code", "")
        assert instance.get("status") == response.status_code, f"{what}: status member differs"
        assert instance.get("type") == _PROBLEM_BASE + code.lower().replace("_", "-"), what
        assert instance.get("title") == code.replace("_", " ").capitalize(), what


def _describe(response: TestResponse) -> str:
    return f"{response.status_code} {response.content_type}: {response.get_data()[:500]!r}"


def assert_matches_openapi(response: TestResponse, method: str, path_template: str) -> None:
    """Fail unless ``response`` is a documented response of ``method path_template``.

    Args:
        response: A Flask test client response.
        method: The HTTP method (any case).
        path_template: The documented path, e.g. ``/status-lists/{listId}``.
    """
    method = method.lower()
    paths = document()["paths"]
    assert path_template in paths, f"{path_template} is not documented"
    operations = paths[path_template]
    assert method in operations, f"{method.upper()} {path_template} is not documented"
    status = str(response.status_code)
    responses = operations[method]["responses"]
    what = f"{method.upper()} {path_template} -> {status}"
    assert status in responses, (
        f"{what} is not a documented response (documented: {sorted(responses)}); "
        f"got {_describe(response)}"
    )
    pointer = f"/paths/{escape_pointer(path_template)}/{method}/responses/{status}"
    spec, pointer = resolve(responses[status], pointer)
    _check_response(response, spec, pointer, what)


def assert_matches_component_response(response: TestResponse, name: str) -> None:
    """Fail unless ``response`` matches ``components/responses/<name>`` (e.g. ``NotFound``)."""
    responses = document()["components"]["responses"]
    assert name in responses, f"no component response {name}"
    pointer = f"/components/responses/{escape_pointer(name)}"
    spec, pointer = resolve(responses[name], pointer)
    status = spec["content"]["application/problem+json"]["schema"]["properties"]["status"]
    assert response.status_code == status["const"], f"{name}: got {_describe(response)}"
    _check_response(response, spec, pointer, name)
