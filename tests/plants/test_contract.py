"""The plant-database API's documented contract: /openapi.json, error wording, and the quota
under concurrency (on SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.conftest import LiveServer, make_key, permapeople_headers

from hortus.accounts import quotas
from hortus.accounts import service as accounts
from hortus.accounts.keys import NewKey
from hortus.accounts.models import UsageCounter
from hortus.bootstrap import prepare_database
from hortus.config import Settings

TAG = "Plant database (Permapeople)"
ERROR_REF = "#/components/schemas/PermapeopleError"


@pytest.fixture
def headers(api_key: NewKey) -> dict[str, str]:
    return permapeople_headers(api_key)


@pytest.fixture
def operations(client: TestClient) -> dict[tuple[str, str], dict[str, Any]]:
    document = client.get("/openapi.json").json()
    return {(method.upper(), path): operation
            for path, item in document["paths"].items() if path.startswith("/api/")
            for method, operation in item.items()}


def _parameters(operation: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["in"], p["name"]): p for p in operation.get("parameters", [])}


def _error_ref(response: dict[str, Any]) -> str:
    (content,) = response["content"].values()
    return content["schema"]["$ref"]


def test_every_operation_documents_parameters_bodies_and_statuses(
    operations: dict[tuple[str, str], dict[str, Any]]
) -> None:
    expected = {
        ("GET", "/api/plants"): ({"last_id", "page", "per_page", "updated_since"}, {400}),
        ("GET", "/api/search"): ({"q", "type", "page", "per_page"}, {400}),
        ("POST", "/api/search"): ({"q", "type", "page", "per_page"}, {400, 413, 415}),
        ("GET", "/api/plants/{plant_id}"): ({"plant_id"}, {400, 404}),
        ("GET", "/api/plants/{plant_id}/varieties"): ({"plant_id", "page", "per_page"}, {404}),
        ("GET", "/api/plants/{plant_id}/companions"): ({"plant_id", "page", "per_page"}, {404}),
        ("GET", "/api/plants/{plant_id}/revisions"): ({"plant_id", "page", "per_page"}, {404}),
        ("POST", "/api/plants"): (set(), {400, 413, 415, 422}),
        ("PUT", "/api/plants/{plant_id}"): ({"plant_id"}, {400, 404, 413, 415, 422}),
    }
    assert set(operations) == set(expected)
    for (method, path), (names, statuses) in expected.items():
        operation = operations[(method, path)]
        assert operation["tags"] == [TAG]
        parameters = _parameters(operation)
        assert {("header", "x-permapeople-key-id"),
                ("header", "x-permapeople-key-secret")} <= set(parameters)
        assert names <= {name for _, name in parameters}, (method, path)
        assert all(p.get("description") for p in parameters.values()), (method, path)
        responses = operation["responses"]
        for status in statuses | {400, 401, 403, 429}:
            assert _error_ref(responses[str(status)]) == ERROR_REF, (method, path, status)
        assert _error_ref(responses["default"]) == ERROR_REF
        assert "HTTPValidationError" not in str(operation)
        success = "201" if (method, path) == ("POST", "/api/plants") else "200"
        assert "RateLimit" in responses[success]["headers"]
        assert "Retry-After" in responses["429"]["headers"]
        for response in responses.values():
            if "content" in response:
                assert list(response["content"]) == ["application/json; charset=utf-8"]
    bodies = {key: op["requestBody"]["content"]["application/json"]["schema"]
              for key, op in operations.items() if "requestBody" in op}
    assert set(bodies) == {("POST", "/api/search"), ("POST", "/api/plants"),
                           ("PUT", "/api/plants/{plant_id}")}
    assert operations[("POST", "/api/search")]["requestBody"].get("required") is not True
    assert "Hortus extension" in operations[("GET", "/api/plants/{plant_id}/revisions")][
        "description"]


def test_documented_plant_schema_is_the_seeds(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    plant = schemas["PlantRead"]
    assert list(plant["properties"]) == [
        "id", "type", "scientific_name", "name", "version", "description", "link", "slug",
        "parent_id", "updated_at", "created_at", "images", "data"]
    assert set(plant["required"]) == set(plant["properties"])
    assert plant["properties"]["description"]["type"] == "string"
    assert {"type": "null"} in plant["properties"]["parent_id"]["anyOf"]
    assert schemas["KeysetPagination"]["properties"]["last_id"]["type"] == "integer"
    assert schemas["PlantCreate"]["additionalProperties"] is False
    assert set(schemas["PlantCreate"]["required"]) == {"scientific_name", "name", "note"}
    assert set(schemas["PlantUpdate"]["required"]) == {"version", "note"}


@pytest.mark.parametrize(("query", "error", "named"), [
    ("per_page=x", "invalid per_page", "per_page"),
    ("page=0", "invalid page", "page"),
    ("last_id=1e5", "invalid last_id", "last_id"),
    ("updated_since=yesterday", "invalid updated_since", "updated_since"),
])
def test_validation_errors_name_the_parameter(
    client: TestClient, headers: dict[str, str], query: str, error: str, named: str
) -> None:
    response = client.get(f"/api/plants?{query}", headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == error and named in body["msg"]


def test_search_errors_name_the_parameter(client: TestClient, headers: dict[str, str]) -> None:
    missing = client.get("/api/search?type=Plant", headers=headers)
    assert missing.status_code == 400 and missing.json()["error"] == "missing q"
    assert "q is required" in missing.json()["msg"]
    posted = client.post("/api/search", json={"type": "Plant"}, headers=headers)
    assert posted.status_code == 400 and posted.json()["error"] == "missing q"
    wrong = client.post("/api/search", json={"q": "mint", "Layer": {"$ne": 1}}, headers=headers)
    assert wrong.status_code == 400 and "Layer" in wrong.json()["msg"]


def test_a_plant_read_can_be_sent_back_as_an_update(
    client: TestClient, headers: dict[str, str]
) -> None:
    created = client.post("/api/plants", headers=headers, json={
        "scientific_name": "Echo testus", "name": "Echo", "note": "n"}).json()
    sent_back = {**created, "note": "renamed", "name": "Echo plant"}
    sent_back.pop("version")
    response = client.put(f"/api/plants/{created['id']}", headers=headers,
                          json={**sent_back, "version": created["version"]})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Echo plant" and response.json()["version"] == 2
    unknown = client.put(f"/api/plants/{created['id']}", headers=headers,
                         json={"version": 2, "note": "n", "name": "x", "colour": "red"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown field"
    assert "colour" in unknown.json()["msg"]


def test_oversized_and_non_json_bodies_are_refused_before_the_key_is_charged(
    client: TestClient, headers: dict[str, str], settings: Settings
) -> None:
    settings.plants_per_day = 3
    huge = client.post("/api/search", headers={**headers, "content-type": "application/json"},
                       content=b'{"q": "' + b"a" * (1024 * 1024) + b'"}')
    assert huge.status_code == 413 and huge.json()["error"] == "body too large"
    form = client.post("/api/search", headers=headers, data={"q": "mint"})
    assert form.status_code == 415 and form.json()["error"] == "unsupported media type"
    answer = client.get("/api/plants?per_page=1", headers=headers)
    assert answer.headers["ratelimit"].startswith('"day";r=2;')


def test_bad_and_good_requests_racing_never_overspend(any_settings: Settings) -> None:
    """A quota of 8, 24 good and 24 bad requests at once: at most 8 answers, and the counter
    ends at exactly the number of answers (every refusal refunded, nothing lost)."""
    key = make_key(any_settings)
    database = prepare_database(any_settings)
    with database.write() as session:
        account = accounts.get_account(session=session, email="gardener@example.org")
        assert account is not None
        account_id = account.id
        quotas.set_limits(session=session, account_id=account_id, limits={quotas.API_PLANTS: 8})
    headers = permapeople_headers(key)
    # One client with a connection per request, so all 48 are in flight at once (a client per
    # request would spend ~30 ms building each one's TLS context, spreading them out).
    with (LiveServer(any_settings) as server,
          httpx.Client(base_url=server.url, headers=headers, timeout=60,
                       limits=httpx.Limits(max_connections=48)) as http):

        def call(n: int) -> tuple[bool, int]:
            path = "/api/plants?per_page=1" if n % 2 else "/api/plants/987654"
            return n % 2 == 1, http.get(path).status_code

        with ThreadPoolExecutor(max_workers=48) as pool:
            answers = list(pool.map(call, range(48)))
    served = sum(1 for good, status in answers if good and status == 200)
    assert 1 <= served <= 8
    assert {status for good, status in answers if good} <= {200, 429}
    assert {status for good, status in answers if not good} <= {404, 429}
    with database.read() as session:
        used = session.scalar(select(UsageCounter.count).where(
            UsageCounter.account_id == account_id, UsageCounter.api == quotas.API_PLANTS))
    database.dispose()
    assert used == served
