"""Concurrent writers through a live server, on SQLite and on PostgreSQL: nothing is lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from tests.conftest import LiveServer, make_key, permapeople_headers

from hortus.config import Settings

WRITERS = 50


def test_concurrent_puts_with_one_version_exactly_one_wins(any_settings: Settings) -> None:
    key = make_key(any_settings)
    headers = permapeople_headers(key)
    with LiveServer(any_settings) as server:
        created = httpx.post(f"{server.url}/api/plants", headers=headers, json={
            "scientific_name": "Concurrens testus", "name": "Race plant", "note": "setup"})
        assert created.status_code == 201, created.text
        plant_id = created.json()["id"]

        def put(n: int) -> httpx.Response:
            return httpx.put(f"{server.url}/api/plants/{plant_id}", headers=headers, timeout=60,
                             json={"version": 1, "note": f"writer {n}",
                                   "data": [{"key": f"Writer {n}", "value": str(n)}]})

        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            responses = list(pool.map(put, range(WRITERS)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [422] * (WRITERS - 1), statuses
        assert all(r.json()["error"] == "version mismatch" for r in responses
                   if r.status_code == 422)
        winner = next(r.json() for r in responses if r.status_code == 200)
        assert winner["version"] == 2

        # Everyone retries from what they re-read: every change lands, in history too.
        def retry(n: int) -> int:
            for _ in range(200):
                current = httpx.get(f"{server.url}/api/plants/{plant_id}", headers=headers).json()
                if any(d["key"] == f"Writer {n}" for d in current["data"]):
                    return 0
                response = httpx.put(
                    f"{server.url}/api/plants/{plant_id}", headers=headers, timeout=60,
                    json={"version": current["version"], "note": f"writer {n}",
                          "data": [{"key": f"Writer {n}", "value": str(n)}]})
                if response.status_code == 200:
                    return 1
                assert response.status_code == 422, response.text
            raise AssertionError(f"writer {n} never got through")

        with ThreadPoolExecutor(max_workers=8) as pool:
            accepted = sum(pool.map(retry, range(WRITERS)))
        assert accepted == WRITERS - 1
        final = httpx.get(f"{server.url}/api/plants/{plant_id}", headers=headers).json()
        assert final["version"] == WRITERS + 1
        assert {d["key"] for d in final["data"]} == {f"Writer {n}" for n in range(WRITERS)}
        history = httpx.get(f"{server.url}/api/plants/{plant_id}/revisions?per_page=100",
                            headers=headers).json()
        assert history["pagination"]["total"] == WRITERS + 1
        assert [r["version"] for r in history["revisions"]] == list(range(WRITERS + 1, 0, -1))
        notes = {r["note"] for r in history["revisions"]}
        assert notes == {"setup"} | {f"writer {n}" for n in range(WRITERS)}


def test_search_and_listing_on_each_backend(any_settings: Settings) -> None:
    """The same full-text search answers on both backends (FTS5 and tsvector)."""
    key = make_key(any_settings)
    headers = permapeople_headers(key)
    with LiveServer(any_settings) as server:
        for name, sci in [("Sweet basil", "Ocimum basilicum"), ("Holy basil", "Ocimum tenuiflorum"),
                          ("Lemon balm", "Melissa officinalis")]:
            response = httpx.post(f"{server.url}/api/plants", headers=headers, json={
                "scientific_name": sci, "name": name, "note": "n",
                "data": [{"key": "Layer", "value": "Herbs"}]})
            assert response.status_code == 201
        found = httpx.get(f"{server.url}/api/search", params={"q": "basil", "Layer": "Herbs"},
                          headers=headers).json()
        names = [p["name"] for p in found["plants"]]
        assert "Sweet basil" in names and "Holy basil" in names and "Lemon balm" not in names
        exact = httpx.get(f"{server.url}/api/search", params={"q": "Holy basil"},
                          headers=headers).json()
        assert exact["plants"][0]["name"] == "Holy basil"
        prefix = httpx.get(f"{server.url}/api/search", params={"q": "ocim"},
                           headers=headers).json()
        assert {"Sweet basil", "Holy basil"} <= {p["name"] for p in prefix["plants"]}
