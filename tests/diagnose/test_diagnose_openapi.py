"""``/openapi.json`` documents every PEAT operation, and what is documented is what is sent.

The answers of real requests (real photos, real database) are validated against the schemas
the document gives for their status, so a nullable field, a missing error field or an
undocumented status shows up here before a client meets it.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
import requests
from diagnose_support import account_id, analyse, daffodils, unseen_photos

from hortus.accounts import quotas
from hortus.bootstrap import prepare_database

METADATA_HEADERS = {"latitude", "longitude", "Gps-Accuracy", "gps_accuracy", "eppo", "User-Id",
                    "user_id", "User-Name", "user_name", "crop", "variety", "timestamp"}
KEY_HEADERS = {"Api-Key", "api_key"}


def _operation(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    assert path in spec["paths"], sorted(spec["paths"])
    assert method in spec["paths"][path], (path, sorted(spec["paths"][path]))
    return spec["paths"][path][method]


def _parameters(operation: dict[str, Any], where: str) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == where}


def _schema_of(spec: dict[str, Any], operation: dict[str, Any], status: int) -> Any:
    responses = operation["responses"]
    documented = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
    assert documented is not None, f"status {status} is not documented"
    schema = documented["content"]["application/json"]["schema"]
    return jsonschema_rs.validator_for({**schema, "components": spec["components"]})


def _conforms(spec: dict[str, Any], path: str, method: str, response: requests.Response) -> None:
    validator = _schema_of(spec, _operation(spec, path, method), response.status_code)
    errors = [str(e) for e in validator.iter_errors(response.json())]
    assert not errors, (path, method, response.status_code, errors[:3])


def test_image_analysis_is_documented_for_get_and_post(client):
    spec = client.get("/openapi.json").json()
    for method in ("get", "post"):
        operation = _operation(spec, "/v1/image_analysis", method)
        assert _parameters(operation, "header") >= METADATA_HEADERS | KEY_HEADERS
        body = operation["requestBody"]
        assert body["required"] is True
        form = body["content"]["multipart/form-data"]["schema"]
        assert form["required"] == ["picture"]
        assert form["properties"]["picture"]["format"] == "binary"
        statuses = set(operation["responses"])
        assert {"200", "400", "401", "403", "413", "429", "500"} <= statuses
        assert "422" not in statuses  # invalid input is PEAT's 400
        assert "RateLimit" in operation["responses"]["200"]["headers"]
        assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert (spec["paths"]["/v1/image_analysis"]["get"]["operationId"]
            != spec["paths"]["/v1/image_analysis"]["post"]["operationId"])


@pytest.mark.parametrize(("path", "statuses", "query", "path_params"), [
    ("/v1/image_analysis/{pic_id}", {"200", "400", "401", "403", "404", "500"}, set(),
     {"pic_id"}),
    ("/v1/diseases", {"200", "400", "401", "403", "500"},
     {"page", "per_page", "crop", "pathogen_class", "eppo", "q"}, set()),
    ("/v1/diseases/{peat_id}", {"200", "400", "401", "403", "404", "500"}, set(), {"peat_id"}),
])
def test_hortus_extensions_are_documented(client, path, statuses, query, path_params):
    spec = client.get("/openapi.json").json()
    operation = _operation(spec, path, "get")
    assert "Hortus extension" in operation["description"]
    assert statuses <= set(operation["responses"]) and "422" not in operation["responses"]
    assert _parameters(operation, "query") == query
    assert _parameters(operation, "path") == path_params
    assert _parameters(operation, "header") >= KEY_HEADERS


def test_catalogue_answers_and_errors_match_the_document(client, api_key):
    spec = client.get("/openapi.json").json()
    headers = {"Api-Key": api_key.api_key}
    for url, status in (("/v1/diseases?per_page=100", 200), ("/v1/diseases?page=2", 200),
                        ("/v1/diseases?crop=Common%20bean", 200), ("/v1/diseases/100026", 200),
                        ("/v1/diseases?per_page=0", 400), ("/v1/diseases?page=", 200),
                        ("/v1/diseases/abc", 400), ("/v1/diseases/5", 404)):
        response = client.get(url, headers=headers)
        assert response.status_code == status, (url, response.text)
        path = "/v1/diseases/{peat_id}" if url.startswith("/v1/diseases/") else "/v1/diseases"
        _conforms(spec, path, "get", response)
    _conforms(spec, "/v1/diseases", "get", client.get("/v1/diseases"))  # 401


def test_analysis_answers_and_errors_match_the_document(diag_server, diag_key, diag_settings,
                                                        shared_data):
    spec = requests.get(f"{diag_server.url}/openapi.json", timeout=10).json()
    photo = unseen_photos(shared_data, "bean_rust", 1)[0].read_bytes()
    headers = {"latitude": "north", "timestamp": "1/5/2024"}
    sent = [analyse(diag_server.url, diag_key, photo, headers=headers, method=method)
            for method in ("POST", "GET")]
    if (shared_data / "oxford17" / "daffodil").is_dir():  # no crop recognised: nulls
        sent.append(analyse(diag_server.url, diag_key, daffodils(shared_data, 1)[0].read_bytes()))
    for response in sent:
        assert response.status_code == 200, response.text
        _conforms(spec, "/v1/image_analysis", response.request.method.lower(), response)
        stored = requests.get(f"{diag_server.url}/v1/image_analysis/{response.json()['pic_id']}",
                              headers={"Api-Key": diag_key.api_key}, timeout=10)
        _conforms(spec, "/v1/image_analysis/{pic_id}", "get", stored)
    for status, response in (
        (400, analyse(diag_server.url, diag_key, b"junk")),
        (401, analyse(diag_server.url, None, photo)),
        (400, requests.get(f"{diag_server.url}/v1/image_analysis/nope",
                           headers={"Api-Key": diag_key.api_key}, timeout=10)),
        (404, requests.get(f"{diag_server.url}/v1/image_analysis/{'0' * 8}-0000-4000-8000-"
                           f"{'0' * 12}", headers={"Api-Key": diag_key.api_key}, timeout=10)),
    ):
        assert response.status_code == status
        path = ("/v1/image_analysis" if response.request.method == "POST"
                else "/v1/image_analysis/{pic_id}")
        _conforms(spec, path, response.request.method.lower(), response)
    database = prepare_database(diag_settings)
    try:
        with database.write() as session:
            quotas.set_limits(session=session, account_id=account_id(diag_settings, diag_key),
                              limits={quotas.API_ANALYSIS: 0})
    finally:
        database.dispose()
    refused = analyse(diag_server.url, diag_key, photo)
    assert refused.status_code == 429
    _conforms(spec, "/v1/image_analysis", "post", refused)
