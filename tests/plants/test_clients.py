"""Requests as real Permapeople clients send them, and the answers they rely on.

Each test sends what a public client library does (sloppy bodies, cache busters, PHP-style
arrays, attribute lookups by name) over real HTTP on a real database.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import permapeople_headers

from hortus.accounts.keys import NewKey
from hortus.config import Settings

JSON_UTF8 = "application/json; charset=utf-8"


@pytest.fixture
def headers(api_key: NewKey) -> dict[str, str]:
    return permapeople_headers(api_key)


def remaining(response: Any) -> int:
    """``r`` of the IETF ``RateLimit: "day";r=12;t=3600`` header."""
    fields = dict(part.split("=", 1) for part in response.headers["ratelimit"].split(";")[1:])
    return int(fields["r"])


def create(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/plants", json={"note": "test fixture", **fields},
                           headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


# -- search as the Python and C# clients send it -----------------------------------------------


@pytest.mark.parametrize("extra", [
    {},  # requests.post(url + "?q=apple")
    {"content": b"", "headers": {"content-type": "application/json"}},
    {"content": b"", "headers": {"content-length": "0"}},  # HttpClient.PostAsync(url, null)
    {"content": b"", "headers": {"content-type": "text/plain; charset=utf-8"}},  # StringContent("")
    {"content": b"  \n", "headers": {"content-type": "application/json"}},
])
def test_post_search_with_query_string_and_empty_body(
    client: TestClient, headers: dict[str, str], extra: dict[str, Any]
) -> None:
    expected = client.get("/api/search", params={"q": "apple"}, headers=headers)
    assert expected.status_code == 200 and expected.json()["plants"]
    response = client.post("/api/search?q=apple",
                           headers={**headers, **extra.get("headers", {})},
                           content=extra.get("content"))
    assert response.status_code == 200, response.text
    assert response.json() == expected.json()


def test_post_search_body_overrides_the_query_string(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.post("/api/search?q=apple&per_page=1", json={"q": "tomato"},
                           headers=headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["plants"][0]["scientific_name"] == "Solanum lycopersicum"
    assert page["pagination"]["per_page"] == 1


def test_cache_busters_and_foreign_paging_names_are_ignored(
    client: TestClient, headers: dict[str, str]
) -> None:
    plain = client.get("/api/search", params={"q": "basil"}, headers=headers).json()
    for extra in ({"_": "1718000000000"}, {"_t": "5"}, {"limit": "10", "offset": "0"},
                  {"last_id": "0"}):
        response = client.get("/api/search", params={"q": "basil", **extra}, headers=headers)
        assert response.status_code == 200, (extra, response.text)
        assert response.json() == plain, extra
    listed = client.get("/api/plants", params={"per_page": 3, "_": "99"}, headers=headers)
    assert listed.status_code == 200
    assert listed.json() == client.get("/api/plants?per_page=3", headers=headers).json()


@pytest.mark.both_databases
def test_bracketed_array_parameters_mean_repeated_ones(
    client: TestClient, headers: dict[str, str]
) -> None:
    def ids(query: str) -> list[int]:
        response = client.get(f"/api/search?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["plants"]]

    repeated = ids("q=fruit&Layer=Trees&Layer=Shrubs&per_page=100")
    bracketed = ids("q=fruit&Layer[]=Trees&Layer[]=Shrubs&per_page=100")
    encoded = ids("q=fruit&Layer%5B%5D=Trees&Layer%5B%5D=Shrubs&per_page=100")
    assert repeated and bracketed == repeated and encoded == repeated
    trees_only = ids("q=fruit&Layer[]=Trees&per_page=100")
    assert trees_only and set(trees_only) < set(repeated)
    posted = client.post("/api/search",
                         json={"q": "fruit", "per_page": 100, "Layer[]": ["Trees", "Shrubs"]},
                         headers=headers)
    assert [p["id"] for p in posted.json()["plants"]] == repeated


@pytest.mark.both_databases
def test_a_filter_on_an_attribute_no_plant_has_matches_nothing(
    client: TestClient, headers: dict[str, str]
) -> None:
    for response in (
        client.get("/api/search?q=mint&Colour=red", headers=headers),
        client.post("/api/search", json={"q": "mint", "Flower colour": ["Red", "Blue"]},
                    headers=headers),
    ):
        assert response.status_code == 200, response.text
        assert response.json()["plants"] == []
        assert response.json()["pagination"]["total"] == 0


# -- the response shapes clients parse ---------------------------------------------------------


@pytest.mark.both_databases
def test_every_answer_is_json_utf8(
    client: TestClient, headers: dict[str, str], api_key: NewKey
) -> None:
    plant = create(client, headers, scientific_name="Charset testus", name="Charset")
    answers = [
        client.get("/api/plants?per_page=1", headers=headers),
        client.get(f"/api/plants/{plant['id']}", headers=headers),
        client.get(f"/api/plants/{plant['id']}/varieties", headers=headers),
        client.get(f"/api/plants/{plant['id']}/companions", headers=headers),
        client.get(f"/api/plants/{plant['id']}/revisions", headers=headers),
        client.get("/api/search?q=apple", headers=headers),
        client.post("/api/search", json={"q": "apple"}, headers=headers),
        client.post("/api/plants", json={"scientific_name": "Charset altera", "name": "C2",
                                         "note": "n"}, headers=headers),
        client.put(f"/api/plants/{plant['id']}", json={"version": 1, "note": "n",
                                                      "name": "Charset 2"}, headers=headers),
        # errors too
        client.get("/api/plants"),
        client.get("/api/plants/999999", headers=headers),
        client.get("/api/plants?page=0", headers=headers),
        client.get("/api/nothing", headers=headers),
        client.put(f"/api/plants/{plant['id']}", json={"version": 1, "note": "n",
                                                      "name": "Late"}, headers=headers),
    ]
    assert [a.status_code for a in answers] == [200] * 7 + [201, 200, 401, 404, 400, 404, 422]
    for answer in answers:
        assert answer.headers["content-type"] == JSON_UTF8, answer.request.url


@pytest.mark.both_databases
def test_string_fields_are_never_null(client: TestClient, headers: dict[str, str]) -> None:
    bare = create(client, headers, scientific_name="Nullus testus", name="Bare")
    assert bare["description"] == ""
    assert bare["images"] == {"thumb": "", "title": ""}
    for page in (client.get(f"/api/plants?last_id={bare['id'] - 1}&per_page=1", headers=headers),
                 client.get("/api/search?q=Nullus", headers=headers)):
        listed = page.json()["plants"][0]
        assert listed["id"] == bare["id"]
        assert listed["description"] == "" and listed["images"] == {"thumb": "", "title": ""}
    described = create(client, headers, scientific_name="Nullus alter", name="Described",
                       description="Has words.")
    assert described["description"] == "Has words."
    cleared = client.put(f"/api/plants/{described['id']}", headers=headers,
                         json={"version": 1, "note": "n", "description": None})
    assert cleared.status_code == 200 and cleared.json()["description"] == ""


@pytest.mark.both_databases
def test_an_empty_keyset_page_keeps_the_callers_cursor(
    client: TestClient, headers: dict[str, str]
) -> None:
    page = client.get("/api/plants?last_id=0&per_page=100", headers=headers).json()
    while page["pagination"]["has_more"]:
        cursor = page["pagination"]["last_id"]
        page = client.get(f"/api/plants?last_id={cursor}&per_page=100", headers=headers).json()
    end = page["pagination"]["last_id"]
    beyond = client.get(f"/api/plants?last_id={end}", headers=headers).json()
    assert beyond["plants"] == []
    assert beyond["pagination"]["last_id"] == end and beyond["pagination"]["has_more"] is False
    future = client.get("/api/plants?updated_since=2999-01-01T00:00:00Z", headers=headers).json()
    assert future["plants"] == [] and future["pagination"]["last_id"] == 0


@pytest.mark.both_databases
def test_attributes_under_permapeople_record_names(
    client: TestClient, headers: dict[str, str]
) -> None:
    found = client.get("/api/search?q=Solanum lycopersicum", headers=headers).json()
    tomato = found["plants"][0]
    assert tomato["scientific_name"] == "Solanum lycopersicum"
    data = {d["key"]: d["value"] for d in tomato["data"]}
    assert data["Genus"] == "Solanum" and data["Family"] == "Solanaceae"
    assert data["Height"].endswith(" m")
    apple = client.get("/api/search?q=Malus domestica", headers=headers).json()["plants"][0]
    apple_data = {d["key"]: d["value"] for d in apple["data"]}
    assert apple_data["Genus"] == "Malus"
    assert apple_data["USDA Hardiness zone"].replace("-", "").isdigit()
    # Every plant of the starter knowledge base carries its genus.
    page = client.get("/api/plants?per_page=100", headers=headers).json()
    assert all(any(d["key"] == "Genus" for d in p["data"]) for p in page["plants"])
    # And the genus is a filter like any other attribute.
    by_genus = client.get("/api/search?q=tomato&Genus=Solanum", headers=headers).json()
    assert by_genus["plants"] and all(
        {"key": "Genus", "value": "Solanum"} in p["data"] for p in by_genus["plants"])


# -- the plant-database quota counts answers, not refusals -------------------------------------


@pytest.mark.both_databases
def test_refused_requests_use_no_quota(
    client: TestClient, headers: dict[str, str], settings: Settings
) -> None:
    settings.plants_per_day = 5
    plant = create(client, headers, scientific_name="Quota testus", name="Quota plant")
    first = client.get("/api/plants?per_page=1", headers=headers)
    assert remaining(first) == 3  # the create and this list
    refusals = [
        client.get("/api/plants/987654", headers=headers),  # unknown plant
        client.get("/api/plants/not-a-number", headers=headers),
        client.get("/api/plants?page=0", headers=headers),
        client.get("/api/plants?updated_since=yesterday", headers=headers),
        client.get("/api/search", headers=headers),  # no q
        client.post("/api/search", json={"q": "mint", "page": -1}, headers=headers),
        client.post("/api/plants", json={"name": "no scientific name", "note": "n"},
                    headers=headers),
        client.post("/api/plants", content=b"{", headers={**headers,
                                                         "content-type": "application/json"}),
        client.post("/api/plants", json={"scientific_name": "A b", "name": "c", "note": "n",
                                         "type": "Variety", "parent_id": 987654},
                    headers=headers),
        client.put(f"/api/plants/{plant['id']}", json={"version": 7, "note": "n", "name": "x"},
                   headers=headers),  # version mismatch
        client.put(f"/api/plants/{plant['id']}", json={"note": "n", "name": "x"},
                   headers=headers),
        client.get("/api/plants/987654/companions", headers=headers),
    ]
    assert [r.status_code for r in refusals] == [404, 400, 400, 400, 400, 400, 400, 400, 422,
                                                 422, 400, 404]
    for refused in refusals:
        assert "ratelimit" not in refused.headers or remaining(refused) == 3, refused.request.url
    after = client.get("/api/plants?per_page=1", headers=headers)
    assert after.status_code == 200 and remaining(after) == 2
