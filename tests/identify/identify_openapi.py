"""Check JSON answers against definitions of Pl@ntNet's published OpenAPI 2.2.2 description."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO.parent / "shared" / "reference" / "plantnet-openapi-2.2.2.json"
_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


@cache
def definitions() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is absent")
    return json.loads(SPEC.read_text())["definitions"]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = definitions()[unquote(schema["$ref"].rsplit("/", 1)[-1])]
    return schema


def check_shape(value: Any, schema: dict[str, Any] | str, where: str = "$") -> None:
    """Assert ``value`` fits ``schema`` (a definition name or a schema): types, required fields,
    enums, recursively. Extra properties are allowed (Hortus adds ``plant``)."""
    schema = resolve({"$ref": f"#/definitions/{schema}"} if isinstance(schema, str) else schema)
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind == "number":
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{where}: number"
    elif kind in _TYPES:
        assert isinstance(value, _TYPES[kind]), f"{where}: expected {kind}, got {value!r:.80}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in enum"
    if kind == "object" or "properties" in schema:
        for name in schema.get("required", []):
            assert name in value, f"{where}: required field {name} missing"
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                check_shape(value[name], sub, f"{where}.{name}")
    if kind == "array":
        for i, item in enumerate(value):
            check_shape(item, schema["items"], f"{where}[{i}]")


def properties(name: str) -> set[str]:
    return set(resolve({"$ref": f"#/definitions/{name}"}).get("properties", {}))
