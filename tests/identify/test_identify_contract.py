"""The ``/v2`` part of ``/openapi.json`` is true: Pl@ntNet's names and types, every error status
documented with Pl@ntNet's error body, and real answers that conform to it (schemathesis against
a live server, with a valid key, positive and negative requests)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from identify_openapi import SPEC
from identify_support import flora_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode
from tests.conftest import LiveServer, make_key

ERROR_SCHEMAS = {"#/components/schemas/PlantnetError", "#/components/schemas/QuotaExceededError"}
EXTENSIONS = {"plant"}  # fields Hortus adds to Pl@ntNet's answers
# Darwin Core terms GBIF's occurrence JSON carries, added to Pl@ntNet's DwC occurrences (the
# GBIF-like answer issue 11 asks for; docs/observations.md, "Darwin Core").
DWC_EXTENSIONS = {"modified", "occurrenceID", "family", "scientificNameAuthorship", "taxonRank",
                  "kingdom", "recordedBy", "verbatimIdentification", "genus", "identifiedBy",
                  "locality", "geodeticDatum", "coordinateUncertaintyInMeters",
                  "license", "creator", "rightsHolder"}  # and each photo's credits
EXAMPLES = 12


def _plantnet() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is absent")
    return json.loads(SPEC.read_text())


def _ours(client: TestClient) -> dict[str, Any]:
    spec = client.get("/openapi.json").json()
    return {path: ops for path, ops in spec["paths"].items() if path.startswith("/v2")} | {
        "#components": spec["components"]["schemas"]}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1].replace("%20", " ")
        schema = components[name]
    return schema


_NUMBERS = {"number", "integer"}


def _compatible(ours: dict[str, Any], theirs: dict[str, Any], our_defs: dict[str, Any],
                their_defs: dict[str, Any], where: str) -> None:
    """Our answer schema has Pl@ntNet's shape: same JSON types, no field Pl@ntNet lacks (but
    Hortus's extensions), recursively."""
    ours, theirs = _resolve(ours, our_defs), _resolve(theirs, their_defs)
    our_type = ours.get("type", "object" if "properties" in ours else None)
    their_type = theirs.get("type", "object" if "properties" in theirs else None)
    if their_type in _NUMBERS:
        assert our_type in _NUMBERS, f"{where}: {our_type} for a number"
    elif their_type is not None:
        assert our_type == their_type, f"{where}: {our_type}, Pl@ntNet has {their_type}"
    if their_type == "array":
        _compatible(ours["items"], theirs["items"], our_defs, their_defs, f"{where}[]")
    if their_type == "object" and theirs.get("properties"):
        allowed = EXTENSIONS | (DWC_EXTENSIONS if "/v2/dwc/" in where else set())
        extra = set(ours.get("properties", {})) - set(theirs["properties"]) - allowed
        assert not extra, f"{where}: fields Pl@ntNet does not have: {extra}"
        for name, sub in ours.get("properties", {}).items():
            if name in theirs["properties"]:
                _compatible(sub, theirs["properties"][name], our_defs, their_defs,
                            f"{where}.{name}")


def test_the_document_speaks_plantnet(id_client):
    plantnet, ours = _plantnet(), _ours(id_client)
    components = ours.pop("#components")
    for path, operations in ours.items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            assert "422" not in responses, where  # validation errors are Pl@ntNet 400s
            # The media route also answers byte ranges (206) and revalidations (304).
            errors = {s for s in responses if s not in ("200", "206", "304")}
            assert errors and all(s.isdigit() and int(s) >= 400 for s in errors), where
            for status in errors:
                ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
                assert ref in ERROR_SCHEMAS, (where, status)
            theirs = plantnet["paths"].get(path, {}).get(method)
            if theirs is None:  # ours alone: it must say so
                assert "Hortus extension" in operation["description"], where
                continue
            names = {p["name"] for p in operation.get("parameters", [])}
            form = operation.get("requestBody", {}).get("content", {}).get(
                "multipart/form-data", {}).get("schema", {}).get("properties", {})
            json_body = operation.get("requestBody", {}).get("content", {}).get(
                "application/json", {}).get("schema")
            for parameter in theirs.get("parameters", []):
                if parameter["in"] == "body":  # Swagger 2's body: our JSON request body
                    assert json_body is not None, (where, "body")
                    continue
                documented = form if parameter["in"] == "formData" else names
                assert parameter["name"] in documented, (where, parameter["name"])
            their_ok = theirs["responses"]["200"].get("schema")
            if their_ok is not None:
                _compatible(responses["200"]["content"]["application/json"]["schema"],
                            their_ok, components, plantnet["definitions"], where)
    assert set(ours) - set(plantnet["paths"]) == {"/v2/media/references/{sha256}/{size}",
                                                 "/v2/observations"}
    post = ours["/v2/identify/{project}"]["post"]
    body = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["properties"]["images"]["items"]["format"] == "binary"


def _declared_status(response, case) -> None:  # type: ignore[no-untyped-def]
    """Every status answered is documented by its own number (not by a range or default)."""
    documented = case.operation.definition.raw["responses"]
    assert str(response.status_code) in documented, (
        f"{case.operation.label}: {response.status_code} is not documented")


def _answers_as_documented(strategy, base_url: str, checks: list) -> None:  # type: ignore[no-untyped-def]
    @given(case=strategy)
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))
    def answers(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call(base_url=base_url, timeout=60)
        case.validate_response(response, checks=checks)
        _declared_status(response, case)

    answers()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(mode, settings, flora):
    # Image URLs are refused before any DNS lookup: no test request may leave this machine.
    contract = flora_settings(settings, flora, identify_url_hosts=["images.invalid"])
    key = make_key(contract)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance, response_headers_conformance]
    with LiveServer(contract) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json").include(
            path_regex="^/v2/")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 22  # Pl@ntNet's, observation delete, two DwC routes
        exercised: list[str] = []
        for operation in operations:
            names = {p.name for p in operation.iter_parameters()}
            query = {"api-key": key.api_key} if "api-key" in names else None
            strategies = [operation.as_strategy(mode, query=query)]
            if "project" in names:  # also on a project that exists, to get past the 404
                strategies.append(operation.as_strategy(mode, query=query,
                                                        path_parameters={"project": "all"}))
            for strategy in strategies:
                try:
                    _answers_as_documented(strategy, server.url, checks)
                except Unsatisfiable:  # nothing to get wrong: no constrained parameter
                    assert mode == GenerationMode.NEGATIVE, operation.label
                    continue
                exercised.append(operation.label)
    if mode == GenerationMode.NEGATIVE:
        for label in ("POST /v2/identify/{project}", "GET /v2/identify/{project}",
                      "GET /v2/projects", "GET /v2/species", "GET /v2/quota/history"):
            assert label in exercised
