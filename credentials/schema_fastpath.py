"""A fast yes/no JSON Schema check, used before the full ``jsonschema`` validation.

``jsonschema`` interprets a schema anew for every instance: about 0.5 ms for an AEO subject,
which caps bulk issuance well below 2,000 credentials a second. :func:`compile_check` turns a
schema, once, into one plain Python function (generated source, a few ``isinstance`` tests,
dictionary look-ups and regular expression searches) that answers the same yes/no question
some fifty times faster. It is a shortcut only: a caller that gets ``True`` knows the
instance is valid; on ``False`` it runs ``jsonschema``, which decides again and explains
every error.

So that ``True`` can be trusted, every keyword below does exactly what ``jsonschema`` 4's
Draft 2020-12 implementation does (``re.search`` for ``pattern``, code points for lengths,
``isinstance`` for types, ``bool`` never equal to a number, keywords ignored when the
instance is of another type), a case it cannot decide exactly (``uniqueItems`` over items
that are not strings or flat string objects) answers ``False``, and a schema that uses any
keyword not listed here is not compiled at all (:func:`compile_check` returns None and the
caller uses ``jsonschema`` alone). The generated source holds no text from the schema:
names, patterns and enums are passed to it as values. ``tests/property/
test_schema_fastpath_props.py`` checks the two validators against each other on many valid
and broken AEO subjects.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Check", "compile_check"]

Check = Callable[[object], bool]
"""A compiled schema: True when the instance is valid."""

# Keywords that never change the outcome (annotations; $defs is reached through $ref).
_ANNOTATIONS = frozenset({"$schema", "$comment", "$defs", "title", "description", "examples"})
_TYPES: Mapping[str, type] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}
# Keywords handled by the code of another keyword, or only together with it.
_HANDLED_ELSEWHERE = frozenset({"$id", "then", "else"})


class _Unsupported(Exception):
    """The schema uses something this module does not compile."""


class _Unsure(Exception):
    """An instance this module cannot decide exactly (the caller falls back)."""


def compile_check(schema: Mapping[str, Any]) -> Check | None:
    """Compile ``schema`` (Draft 2020-12) into a yes/no check, or None if not supported.

    Args:
        schema: The root schema; ``$ref`` may point into it (``#/...``), nowhere else.

    Returns:
        A function that returns True exactly when ``jsonschema`` finds no error, and False
        when it finds one or cannot be sure; None when the schema uses a keyword, a ``$ref``
        or a value this module does not handle.
    """
    try:
        root = _Generator(schema).build()
    except (_Unsupported, SyntaxError, RecursionError):  # e.g. nesting too deep for Python
        return None

    def check(instance: object) -> bool:
        try:
            return root(instance)
        except (_Unsure, RecursionError):
            return False

    return check


class _Generator:
    """Writes one Python function per schema that must be called on its own.

    Those are the root, each ``$ref`` target and each ``if`` condition (a failing condition
    is not a failing instance); every other subschema is written inline, as statements that
    ``return False`` at the first violation.
    """

    def __init__(self, root: Mapping[str, Any]) -> None:
        self._root = root
        self._values: dict[str, object] = {"_unique": _unique}
        self._functions: list[str] = []
        self._refs: dict[str, str] = {}
        self._compiling: set[str] = set()
        self._names = 0

    def build(self) -> Check:
        entry = self._function(self._root, "#")
        source = "\n\n".join(self._functions)
        namespace: dict[str, Any] = dict(self._values)
        exec(compile(source, "<schema_fastpath>", "exec"), namespace)  # noqa: S102 - our own code
        compiled: Check = namespace[entry]
        return compiled

    def _name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def _value(self, value: object) -> str:
        name = self._name("_c")
        self._values[name] = value
        return name

    def _function(self, schema: object, where: str) -> str:
        name = self._name("_f")
        lines = self._statements(schema, "x", "    ", where)
        self._functions.append(f"def {name}(x):\n" + "".join(lines) + "    return True\n")
        return name

    def _statements(self, schema: object, var: str, pad: str, where: str) -> list[str]:
        """Statements that ``return False`` when ``var`` breaks ``schema``."""
        if schema is True:
            return []
        if schema is False:
            return [f"{pad}return False\n"]
        if not isinstance(schema, Mapping):
            raise _Unsupported(f"{where}: not a schema")
        if "$id" in schema and schema is not self._root:
            raise _Unsupported(f"{where}: $id in a subschema")
        lines: list[str] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS or keyword in _HANDLED_ELSEWHERE:
                continue
            method = getattr(self, "_kw_" + keyword.replace("$", "dollar_"), None)
            if method is None:
                raise _Unsupported(f"{where}: keyword {keyword!r}")
            lines += method(value, schema, var, pad, f"{where}/{keyword}")
        return lines

    # -- keywords: each returns statements about ``var`` ---------------------------------

    def _kw_type(
        self, value: object, _s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names:
            raise _Unsupported(f"{where}: type")
        kinds: list[type] = []
        for name in names:
            kind = _TYPES.get(name) if isinstance(name, str) else None
            if kind is None:  # integer and number need bool/float care: not needed yet
                raise _Unsupported(f"{where}: type {name!r}")
            kinds.append(kind)
        return [f"{pad}if not isinstance({var}, {self._value(tuple(kinds))}): return False\n"]

    def _kw_const(
        self, value: object, s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        return self._kw_enum([value], s, var, pad, where)

    def _kw_enum(
        self, value: object, _s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        # Only strings: jsonschema compares a string with "==" and never equals a non-string.
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _Unsupported(f"{where}: only string enums and consts are compiled")
        allowed = self._value(frozenset(value))
        return [f"{pad}if not (isinstance({var}, str) and {var} in {allowed}): return False\n"]

    def _kw_pattern(
        self, value: object, _s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        if not isinstance(value, str):
            raise _Unsupported(f"{where}: pattern")
        search = self._value(re.compile(value).search)  # what re.search(pattern, x) runs
        return [f"{pad}if isinstance({var}, str) and {search}({var}) is None: return False\n"]

    def _length(
        self, value: object, var: str, pad: str, where: str, kind: str, op: str
    ) -> list[str]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _Unsupported(f"{where}: not a count")
        return [f"{pad}if isinstance({var}, {kind}) and len({var}) {op} {value:d}: return False\n"]

    def _kw_minLength(
        self, value: object, _s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        return self._length(value, var, pad, where, "str", "<")

    def _kw_maxLength(
        self, value: object, _s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        return self._length(value, var, pad, where, "str", ">")

    def _kw_minItems(
        self, value: object, _s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        return self._length(value, var, pad, where, "list", "<")

    def _kw_maxItems(
        self, value: object, _s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        return self._length(value, var, pad, where, "list", ">")

    def _kw_uniqueItems(
        self, value: object, _s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        if not isinstance(value, bool):
            raise _Unsupported(f"{where}: uniqueItems")
        if not value:
            return []
        return [f"{pad}if isinstance({var}, list) and not _unique({var}): return False\n"]

    def _kw_required(
        self, value: object, _s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _Unsupported(f"{where}: required")
        if not value:
            return []
        names = self._value(tuple(value))
        return [
            f"{pad}if isinstance({var}, dict):\n",
            f"{pad}    for _n in {names}:\n",
            f"{pad}        if _n not in {var}: return False\n",
        ]

    def _kw_properties(
        self, value: object, _s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        if not isinstance(value, Mapping):
            raise _Unsupported(f"{where}: properties")
        lines = [f"{pad}if isinstance({var}, dict):\n"]
        for name, sub in value.items():
            inner = self._statements(
                sub, member := self._name("v"), pad + "        ", f"{where}/{name}"
            )
            if inner:
                key = self._value(name)
                lines += [
                    f"{pad}    if {key} in {var}:\n",
                    f"{pad}        {member} = {var}[{key}]\n",
                    *inner,
                ]
        return lines if len(lines) > 1 else []

    def _kw_additionalProperties(
        self, value: object, s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        if "patternProperties" in s:
            raise _Unsupported(f"{where}: with patternProperties")
        properties = s.get("properties", {})
        if not isinstance(properties, Mapping):
            raise _Unsupported(f"{where}: properties")
        inner = self._statements(value, member := self._name("v"), pad + "            ", where)
        if not inner:
            return []
        known = self._value(frozenset(properties))
        return [
            f"{pad}if isinstance({var}, dict):\n",
            f"{pad}    for _k, {member} in {var}.items():\n",
            f"{pad}        if _k not in {known}:\n",
            *inner,
        ]

    def _kw_items(
        self, value: object, s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        if "prefixItems" in s:
            raise _Unsupported(f"{where}: with prefixItems")
        inner = self._statements(value, item := self._name("v"), pad + "        ", where)
        if not inner:
            return []
        return [f"{pad}if isinstance({var}, list):\n", f"{pad}    for {item} in {var}:\n", *inner]

    def _kw_allOf(
        self, value: object, _s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        if not isinstance(value, list) or not value:
            raise _Unsupported(f"{where}: allOf")
        lines: list[str] = []
        for i, sub in enumerate(value):
            lines += self._statements(sub, var, pad, f"{where}/{i}")
        return lines

    def _kw_if(
        self, value: object, s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        condition = self._function(value, where)
        then = self._statements(s.get("then", True), var, pad + "    ", where + "/../then")
        otherwise = self._statements(s.get("else", True), var, pad + "    ", where + "/../else")
        lines = [f"{pad}if {condition}({var}):\n", *(then or [f"{pad}    pass\n"])]
        if otherwise:
            lines += [f"{pad}else:\n", *otherwise]
        return lines

    def _kw_dollar_ref(
        self, value: object, _s: Mapping[str, Any], var: str, pad: str, where: str
    ) -> list[str]:
        return [f"{pad}if not {self._reference(value, where)}({var}): return False\n"]

    def _reference(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not (value == "#" or value.startswith("#/")):
            raise _Unsupported(f"{where}: only local JSON Pointer references are compiled")
        if value in self._refs:
            return self._refs[value]
        if value in self._compiling:
            raise _Unsupported(f"{where}: recursive reference")
        target: object = self._root
        for token in value[2:].split("/") if value != "#" else []:
            token = token.replace("~1", "/").replace("~0", "~")
            if "%" in token or not isinstance(target, Mapping) or token not in target:
                raise _Unsupported(f"{where}: cannot resolve {value}")
            target = target[token]
        self._compiling.add(value)
        try:
            name = self._function(target, value)
        finally:
            self._compiling.discard(value)
        self._refs[value] = name
        return name


def _unique(items: list[Any]) -> bool:
    """Exactly jsonschema's ``uniq`` for strings and flat string objects; else unsure."""
    if all(isinstance(i, str) for i in items):
        return len(set(items)) == len(items)
    if all(isinstance(i, dict) and all(isinstance(v, str) for v in i.values()) for i in items):
        # Equal objects have the same members with equal (here: string) values.
        return len({frozenset(i.items()) for i in items}) == len(items)
    raise _Unsure
