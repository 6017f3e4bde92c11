"""``/openapi.json`` is a document a client can be generated from.

Every operation of the three families is tagged with its family, has a summary, documents a
success body with a real schema, and documents its errors with its family's own error schema.
Nothing documents FastAPI's generic 422 (Hortus answers 400 in the family's format instead).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

METHODS = ("get", "post", "put", "patch", "delete")
FAMILIES = {
    "/v2": ("Identification (Pl@ntNet v2)", {"statusCode", "error", "message"}),
    "/v1": ("Image analysis (PEAT)", {"message"}),
    "/api": ("Plant database (Permapeople)", {"error", "msg"}),
}
# Public photos: no key, so no 401.
PUBLIC = {("/v2/media/references/{sha256}/{size}", "get")}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from hortus.app import create_app
    from hortus.config import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("doc") / "data", environment="test",
                        warm_up_engine=False)
    with TestClient(create_app(settings)) as client:
        answer = client.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, item in document["paths"].items()
            for method, operation in item.items() if method in METHODS]


def _family(path: str) -> tuple[str, set[str]]:
    for prefix, family in FAMILIES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return family
    raise AssertionError(f"{path} belongs to no API family")


def _json_schema(answer: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of an answer's JSON body (``application/json``, with or without charset)."""
    for media_type, content in answer.get("content", {}).items():
        if media_type.split(";")[0].strip() == "application/json":
            return content.get("schema")
    return None


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_operation_is_tagged_and_summarised(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) >= 24
    for path, method, operation in operations:
        tag, _ = _family(path)
        assert operation.get("tags") == [tag], (method, path)
        assert operation.get("summary"), (method, path)
        assert operation.get("operationId"), (method, path)


def test_every_success_answer_has_a_schema(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        successes = {s: a for s, a in operation["responses"].items() if s.startswith("2")}
        assert successes, (method, path)
        for status, answer in successes.items():
            if any(t.startswith("image/") for a in successes.values()
                   for t in a.get("content", {})):
                continue  # a photo: documented by its media types
            schema = _json_schema(answer)
            assert schema, f"{method.upper()} {path} {status} documents no body schema"
            resolved = _resolve(document, schema)
            assert resolved.get("properties") or resolved.get("items") \
                or resolved.get("anyOf") or resolved.get("type") not in (None, "object"), \
                f"{method.upper()} {path} {status}: an untyped body"


def test_every_error_is_documented_in_the_family_format(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        _, fields = _family(path)
        errors = {s: a for s, a in operation["responses"].items() if s[0] in "45"}
        assert any(s.startswith("4") for s in errors), f"{method.upper()} {path}: no 4xx"
        if path != "/v2/_status" and (path, method) not in PUBLIC:
            assert "401" in errors, f"{method.upper()} {path}: the missing-key answer"
        for status, answer in errors.items():
            schema = _json_schema(answer)
            assert schema, f"{method.upper()} {path} {status}: no error schema"
            resolved = _resolve(document, schema)
            variants = [_resolve(document, v) for v in resolved.get("anyOf", [resolved])]
            for variant in variants:
                properties = set(variant.get("properties", {}))
                assert fields <= properties or properties == {"message"} and "/v1" in path, \
                    (method, path, status, properties)


def test_no_fastapi_validation_leftovers(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    for path, method, operation in _operations(document):
        if "422" in operation["responses"]:
            assert path.startswith("/api/plants"), (method, path)  # the version mismatch


def test_extensions_say_so(document: dict[str, Any]) -> None:
    described = {(path, method): (op.get("summary", "") + " " + op.get("description", ""))
                 for path, method, op in _operations(document)}
    for key in (("/api/plants/{plant_id}/revisions", "get"), ("/v1/diseases", "get")):
        assert key in described, key
        assert "Hortus extension" in described[key], key
