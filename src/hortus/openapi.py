"""The OpenAPI document as clients see it.

FastAPI documents a ``422 Validation Error`` (its own ``HTTPValidationError`` body) on every
route that has parameters. Hortus never answers that: a request that fails validation gets a 400
in the error format of its API family (:mod:`hortus.api_families`), which each route documents
itself. This removes the misleading entries (a 422 that a route declares on purpose, such as the
plant database's version mismatch, is kept) and the schemas only they used.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"
_FASTAPI_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _is_fastapi_validation(answer: dict[str, Any]) -> bool:
    schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref") == _FASTAPI_VALIDATION


def clean_document(document: dict[str, Any]) -> dict[str, Any]:
    """Drop FastAPI's generic 422s (and their schemas when nothing else uses them)."""
    for item in document.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            if "422" in responses and _is_fastapi_validation(responses["422"]):
                del responses["422"]
    schemas = document.get("components", {}).get("schemas", {})
    text = repr(document.get("paths", {}))
    for name in _FASTAPI_SCHEMAS:
        if name in schemas and f"#/components/schemas/{name}'" not in text:
            del schemas[name]
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the cleaned document at ``app.openapi_url`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = clean_document(get_openapi(
                title=app.title, version=app.version, openapi_version=app.openapi_version,
                summary=app.summary, description=app.description, routes=app.routes,
                tags=app.openapi_tags, servers=app.servers))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
