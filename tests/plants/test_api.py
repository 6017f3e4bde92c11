"""The Permapeople plant API over real HTTP (ASGI) on a real SQLite database (and PostgreSQL for
the tests marked ``both_databases``)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import permapeople_headers

from hortus.accounts.keys import NewKey

UNAUTHENTICATED = {
    "error": "not authenticated",
    "msg": "Please check your x-permapeople-key-id and x-permapeople-key-secret http headers.",
}
PLANT_KEYS = [
    "id",
    "type",
    "scientific_name",
    "name",
    "version",
    "description",
    "link",
    "slug",
    "parent_id",
    "updated_at",
    "created_at",
    "images",
    "data",
]


@pytest.fixture
def headers(api_key: NewKey) -> dict[str, str]:
    return permapeople_headers(api_key)


def create(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"note": "test fixture", **fields}
    response = client.post("/api/plants", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "msg"} and body["error"] and body["msg"]
    return body


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/plants",
        "/api/plants/1",
        "/api/search?q=a",
        "/api/plants/1/varieties",
        "/api/plants/1/companions",
    ],
)
def test_every_endpoint_requires_both_headers(
    client: TestClient, api_key: NewKey, path: str
) -> None:
    assert client.get(path).json() == UNAUTHENTICATED
    wrong = {"x-permapeople-key-id": api_key.key_id, "x-permapeople-key-secret": "nope"}
    response = client.get(path, headers=wrong)
    assert response.status_code == 401 and response.json() == UNAUTHENTICATED
    only_id = {"x-permapeople-key-id": api_key.key_id}
    assert client.get(path, headers=only_id).status_code == 401


def test_writes_require_authentication(client: TestClient) -> None:
    response = client.post("/api/plants", json={"scientific_name": "A b", "name": "x", "note": "n"})
    assert response.status_code == 401 and response.json() == UNAUTHENTICATED


# -- the plant object, create, get --------------------------------------------------------------


@pytest.mark.both_databases
def test_create_returns_the_whole_plant_object(client: TestClient, headers: dict[str, str]) -> None:
    plant = create(
        client,
        headers,
        scientific_name="Morus exempla",
        name="Example mulberry",
        description="Young leaves are edible.",
        data=[{"key": "Edible", "value": "true"}, {"key": "Layer", "value": "Trees"}],
    )
    assert list(plant) == PLANT_KEYS
    assert plant["type"] == "Plant" and plant["version"] == 1 and plant["parent_id"] is None
    assert plant["slug"] == "morus-exempla-example-mulberry"
    assert plant["link"] == "/plants/morus-exempla-example-mulberry"
    assert plant["updated_at"].endswith("Z") and len(plant["updated_at"]) == 24
    assert plant["images"] == {"thumb": "", "title": ""}
    assert plant["data"] == [{"key": "Edible", "value": "true"}, {"key": "Layer", "value": "Trees"}]
    fetched = client.get(f"/api/plants/{plant['id']}", headers=headers)
    assert fetched.status_code == 200 and fetched.json() == plant


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"name": "x", "note": "n"}, "missing scientific_name"),
        ({"scientific_name": "A b", "note": "n"}, "missing name"),
        ({"scientific_name": "A b", "name": "x"}, "missing note"),
        ({"scientific_name": 5, "name": "x", "note": "n"}, "invalid scientific_name"),
        ({"scientific_name": "A b", "name": "x", "note": "n", "type": "Tree"}, "invalid type"),
        ({"scientific_name": "A b", "name": "x", "note": "n", "data": "Edible"}, "invalid data"),
        (
            {"scientific_name": "A b", "name": "x", "note": "n", "data": [{"key": "k"}]},
            "invalid data",
        ),
        ({"scientific_name": "A b", "name": "x", "note": "n", "colour": "red"}, "unknown field"),
        ([1, 2, 3], "invalid body"),
    ],
)
def test_create_rejects_bad_bodies(
    client: TestClient, headers: dict[str, str], body: Any, error: str
) -> None:
    before = client.get("/api/plants", headers=headers).json()["pagination"]["total"]
    assert (
        assert_error(client.post("/api/plants", json=body, headers=headers), 400)["error"] == error
    )
    assert client.get("/api/plants", headers=headers).json()["pagination"]["total"] == before


@pytest.mark.both_databases
def test_variety_needs_an_existing_parent(client: TestClient, headers: dict[str, str]) -> None:
    body = {
        "scientific_name": "Malus domestica 'Gala'",
        "name": "Gala",
        "note": "n",
        "type": "Variety",
    }
    assert assert_error(client.post("/api/plants", json=body, headers=headers), 422)["error"] == (
        "parent_id required"
    )
    missing = client.post("/api/plants", json={**body, "parent_id": 999999}, headers=headers)
    assert assert_error(missing, 422)["error"] == "invalid parent_id"
    apple = create(client, headers, scientific_name="Malus domestica", name="Apple")
    gala = create(client, headers, **{**body, "parent_id": apple["id"]})
    assert gala["type"] == "Variety" and gala["parent_id"] == apple["id"]
    varieties = client.get(f"/api/plants/{apple['id']}/varieties", headers=headers).json()
    assert [p["id"] for p in varieties["plants"]] == [gala["id"]]
    assert varieties["pagination"] == {"page": 1, "per_page": 100, "total": 1, "total_pages": 1}


def test_malformed_json_is_a_400(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(
        "/api/plants",
        content=b'{"scientific_name": ',
        headers={**headers, "content-type": "application/json"},
    )
    assert assert_error(response, 400)["error"] == "malformed json"
    response = client.post(
        "/api/plants",
        content=b"\xff\xfe\x00",
        headers={**headers, "content-type": "application/json"},
    )
    assert_error(response, 400)
    response = client.post(
        "/api/plants",
        content=b"name=x",
        headers={**headers, "content-type": "application/x-www-form-urlencoded"},
    )
    assert_error(response, 415)


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "plant_id", ["0", "-1", "abc", "1.5", "99999999", "1;DROP TABLE plants", "9" * 40]
)
def test_unknown_or_malformed_ids(
    client: TestClient, headers: dict[str, str], plant_id: str
) -> None:
    response = client.get(f"/api/plants/{plant_id}", headers=headers)
    assert response.status_code in (400, 404)
    assert_error(response, response.status_code)


# -- update: optimistic locking, merge, history ---------------------------------------------------


@pytest.mark.both_databases
def test_update_merges_data_and_bumps_version(client: TestClient, headers: dict[str, str]) -> None:
    plant = create(
        client,
        headers,
        scientific_name="Morus alba",
        name="White mulberry",
        data=[{"key": "Edible", "value": "true"}, {"key": "Family", "value": "Rosaceae"}],
    )
    response = client.put(
        f"/api/plants/{plant['id']}",
        headers=headers,
        json={
            "version": 1,
            "note": "Corrected the family from PFAF.",
            "data": [{"key": "Family", "value": "Moraceae"}, {"key": "Layer", "value": "Trees"}],
        },
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["version"] == 2
    assert updated["data"] == [
        {"key": "Edible", "value": "true"},
        {"key": "Family", "value": "Moraceae"},
        {"key": "Layer", "value": "Trees"},
    ]
    assert updated["updated_at"] >= plant["updated_at"]
    assert updated["created_at"] == plant["created_at"]
    stale = client.put(
        f"/api/plants/{plant['id']}",
        headers=headers,
        json={"version": 1, "note": "late", "name": "Mulberry"},
    )
    assert assert_error(stale, 422)["error"] == "version mismatch"
    assert client.get(f"/api/plants/{plant['id']}", headers=headers).json()["name"] == (
        "White mulberry"
    )

    history = client.get(f"/api/plants/{plant['id']}/revisions", headers=headers).json()
    assert [r["version"] for r in history["revisions"]] == [2, 1]
    latest = history["revisions"][0]
    assert latest["note"] == "Corrected the family from PFAF."
    assert latest["author"].startswith("anonymous #")  # never the e-mail (issue 15, item 9)
    assert {"key": "Family", "value": "Rosaceae"} in latest["before"]["data"]
    assert {"key": "Family", "value": "Moraceae"} in latest["after"]["data"]
    assert latest["changed"] == ["data.Family", "data.Layer"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"note": "n", "name": "x"}, 400, "missing version"),
        ({"version": "1", "note": "n", "name": "x"}, 400, "invalid version"),
        ({"version": 1, "name": "x"}, 400, "missing note"),
        ({"version": 1, "note": "n"}, 400, "no changes"),
        ({"version": 1, "note": "n", "name": "Thing"}, 422, "no changes"),
        ({"version": 1, "note": "n", "type": "Variety"}, 422, "parent_id required"),
        ({"version": 1, "note": "n", "parent_id": "x"}, 400, "invalid parent_id"),
    ],
)
def test_update_rejects_bad_bodies(
    client: TestClient, headers: dict[str, str], body: Any, status: int, error: str
) -> None:
    plant = create(client, headers, scientific_name="Res thing", name="Thing")
    response = client.put(f"/api/plants/{plant['id']}", json=body, headers=headers)
    assert assert_error(response, status)["error"] == error
    assert client.get(f"/api/plants/{plant['id']}", headers=headers).json() == plant


def test_update_of_unknown_plant_is_404(client: TestClient, headers: dict[str, str]) -> None:
    response = client.put(
        "/api/plants/987654", headers=headers, json={"version": 1, "note": "n", "name": "x"}
    )
    assert_error(response, 404)


# -- listing and paging ------------------------------------------------------------------------


@pytest.mark.both_databases
def test_keyset_paging_walks_everything_once(client: TestClient, headers: dict[str, str]) -> None:
    for n in range(5):
        create(client, headers, scientific_name=f"Testus number{n}", name=f"Test {n}")
    total = client.get("/api/plants", headers=headers).json()["pagination"]["total"]
    seen: list[int] = []
    last_id, pages = 0, 0
    while True:
        page = client.get(f"/api/plants?last_id={last_id}&per_page=7", headers=headers).json()
        assert set(page["pagination"]) == {"per_page", "total", "last_id", "has_more"}
        assert page["pagination"]["per_page"] == 7 and page["pagination"]["total"] == total
        seen += [p["id"] for p in page["plants"]]
        pages += 1
        if not page["pagination"]["has_more"]:
            break
        last_id = page["pagination"]["last_id"]
    assert seen == sorted(set(seen)) and len(seen) == total
    assert pages == -(-total // 7)


@pytest.mark.both_databases
def test_offset_paging_and_clamping(client: TestClient, headers: dict[str, str]) -> None:
    for n in range(3):
        create(client, headers, scientific_name=f"Pagus number{n}", name=f"Page {n}")
    total = client.get("/api/plants", headers=headers).json()["pagination"]["total"]
    page = client.get("/api/plants?page=2&per_page=2", headers=headers).json()
    assert page["pagination"] == {
        "page": 2,
        "per_page": 2,
        "total": total,
        "total_pages": -(-total // 2),
    }
    first = client.get("/api/plants?page=1&per_page=2", headers=headers).json()
    assert first["plants"][-1]["id"] < page["plants"][0]["id"]
    clamped = client.get("/api/plants?per_page=5000", headers=headers).json()
    assert clamped["pagination"]["per_page"] == 100
    assert len(clamped["plants"]) == min(100, total)


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=abc",
        "per_page=0",
        "per_page=-5",
        "per_page=x",
        "last_id=-1",
        "last_id=1e5",
        "updated_since=yesterday",
        "page=99999999999",
    ],
)
def test_bad_paging_values(client: TestClient, headers: dict[str, str], query: str) -> None:
    assert_error(client.get(f"/api/plants?{query}", headers=headers), 400)


@pytest.mark.both_databases
def test_updated_since_in_both_modes(client: TestClient, headers: dict[str, str]) -> None:
    old = create(client, headers, scientific_name="Oldus plantus", name="Old")
    cutoff = old["updated_at"]
    client.put(
        f"/api/plants/{old['id']}",
        headers=headers,
        json={"version": 1, "note": "touch", "description": "now newer"},
    )
    newer = create(client, headers, scientific_name="Newus plantus", name="New")
    for mode in ("", "&page=1"):
        page = client.get(f"/api/plants?updated_since={cutoff}{mode}", headers=headers).json()
        ids = [p["id"] for p in page["plants"]]
        assert old["id"] in ids and newer["id"] in ids
        assert all(p["updated_at"] >= cutoff for p in page["plants"])
    future = client.get("/api/plants?updated_since=2999-01-01T00:00:00Z", headers=headers).json()
    assert future["plants"] == [] and future["pagination"]["has_more"] is False


# -- companions ---------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_companions_exclude_antagonists(
    client: TestClient, headers: dict[str, str], settings: Any
) -> None:
    from hortus.bootstrap import prepare_database
    from hortus.plants.models import PlantRelation

    tomato = create(client, headers, scientific_name="Solanum testum", name="Test tomato")
    basil = create(client, headers, scientific_name="Ocimum testum", name="Test basil")
    fennel = create(client, headers, scientific_name="Foeniculum testum", name="Test fennel")
    database = prepare_database(settings)
    with database.write() as session:
        session.add(PlantRelation(plant_id=tomato["id"], other_id=basil["id"], kind="companion"))
        session.add(PlantRelation(plant_id=tomato["id"], other_id=fennel["id"], kind="antagonist"))
    database.dispose()
    page = client.get(f"/api/plants/{tomato['id']}/companions", headers=headers).json()
    assert [p["id"] for p in page["plants"]] == [basil["id"]]
    assert page["pagination"]["total"] == 1
    assert_error(client.get("/api/plants/999999/companions", headers=headers), 404)


# -- search -------------------------------------------------------------------------------------


@pytest.fixture
def garden(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    plants = {
        "mint": create(
            client,
            headers,
            scientific_name="Mentha hortusiana",
            name="Hortusmint",
            description="A vigorous mint for teas.",
            data=[
                {"key": "Layer", "value": "Herbs"},
                {"key": "Light requirement", "value": "Full sun, partial sun/shade"},
            ],
        ),
        "peppermint": create(
            client,
            headers,
            scientific_name="Mentha × exemplaris",
            name="Exemplarmint",
            description="Mint hybrid with a strong aroma.",
            data=[
                {"key": "Layer", "value": "Herbs"},
                {"key": "Light requirement", "value": "Partial sun/shade"},
            ],
        ),
        "catmint": create(
            client,
            headers,
            scientific_name="Nepeta hortusiana",
            name="Hortuscatnip",
            description="Cats love this mint relative.",
            data=[
                {"key": "Layer", "value": "Low flowering plants"},
                {"key": "Light requirement", "value": "Full sun"},
            ],
        ),
    }
    plants["variety"] = create(
        client,
        headers,
        scientific_name="Mentha hortusiana 'Kentucky'",
        name="Kentucky Colonel mint",
        type="Variety",
        parent_id=plants["mint"]["id"],
    )
    return plants


@pytest.mark.both_databases
def test_search_get_and_post_agree(
    client: TestClient, headers: dict[str, str], garden: dict[str, Any]
) -> None:
    got = client.get("/api/search?q=mint", headers=headers).json()
    posted = client.post("/api/search", json={"q": "mint"}, headers=headers).json()
    assert got == posted
    ids = {p["id"] for p in got["plants"]}
    assert {garden[k]["id"] for k in ("mint", "peppermint", "catmint", "variety")} <= ids
    assert set(got["pagination"]) == {"page", "per_page", "total", "total_pages"}


@pytest.mark.both_databases
def test_exact_name_match_ranks_first(
    client: TestClient, headers: dict[str, str], garden: dict[str, Any]
) -> None:
    for q, key in [
        ("Exemplarmint", "peppermint"),
        ("nepeta hortusiana", "catmint"),
        ("Hortusmint", "mint"),
    ]:
        plants = client.get(f"/api/search?q={q}", headers=headers).json()["plants"]
        assert plants[0]["id"] == garden[key]["id"], q


@pytest.mark.both_databases
def test_search_facets_type_and_paging(
    client: TestClient, headers: dict[str, str], garden: dict[str, Any]
) -> None:
    ours = {p["id"] for p in garden.values()}

    def found(response: Any) -> set[int]:
        assert response.status_code == 200, response.text
        return {p["id"] for p in response.json()["plants"]} & ours

    body = {"q": "mint", "Layer": "Herbs", "Light requirement": ["Full sun", "Partial sun/shade"]}
    assert found(client.post("/api/search", json=body, headers=headers)) == {
        garden["mint"]["id"],
        garden["peppermint"]["id"],
    }
    full_sun = client.get("/api/search?q=mint&Light%20requirement=Full%20sun", headers=headers)
    assert found(full_sun) == {garden["mint"]["id"], garden["catmint"]["id"]}
    by_case = client.get("/api/search?q=mint&layer=herbs&LAYER=x", headers=headers)
    assert by_case.status_code in (200, 400)
    varieties = client.get("/api/search?q=mint&type=Variety", headers=headers)
    assert found(varieties) == {garden["variety"]["id"]}
    assert all(p["type"] == "Variety" for p in varieties.json()["plants"])
    plants_only = client.get("/api/search?q=mint&type=Plant", headers=headers)
    assert garden["variety"]["id"] not in found(plants_only)
    total = client.post("/api/search", json={"q": "mint"}, headers=headers).json()["pagination"]
    page2 = client.post(
        "/api/search", json={"q": "mint", "per_page": 1, "page": 2}, headers=headers
    ).json()
    assert len(page2["plants"]) == 1
    assert page2["pagination"] == {
        "page": 2,
        "per_page": 1,
        "total": total["total"],
        "total_pages": total["total"],
    }
    beyond = client.post("/api/search", json={"q": "mint", "page": 999}, headers=headers).json()
    assert beyond["plants"] == [] and beyond["pagination"]["total"] == total["total"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": 42},
        {"q": "x" * 5000},
        {"q": "mint", "type": "Tree"},
        {"q": "mint", "page": -1},
        {"q": "mint", "per_page": "many"},
        {"q": "mint", "Layer": {"$ne": 1}},
        {"q": "%%%"},
    ],
)
def test_search_rejects_bad_input(
    client: TestClient, headers: dict[str, str], garden: dict[str, Any], body: dict[str, Any]
) -> None:
    assert_error(client.post("/api/search", json=body, headers=headers), 400)


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "q",
    [
        "mint' OR '1'='1",
        'mint" OR 1=1 --',
        "mint; DROP TABLE plants",
        "NEAR(mint catnip)",
        "mint*",
        "a:b",
        "(mint",
        "-mint",
        "^mint",
    ],
)
def test_search_is_safe_against_query_syntax(
    client: TestClient, headers: dict[str, str], garden: dict[str, Any], q: str
) -> None:
    response = client.get("/api/search", params={"q": q}, headers=headers)
    assert response.status_code == 200, response.text
    assert client.get("/api/plants", headers=headers).json()["pagination"]["total"] >= 4


def test_unknown_route_and_method_use_the_error_format(
    client: TestClient, headers: dict[str, str]
) -> None:
    assert_error(client.get("/api/nothing-here", headers=headers), 404)
    assert_error(client.delete("/api/plants/1", headers=headers), 405)
