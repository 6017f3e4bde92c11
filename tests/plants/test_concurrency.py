"""Concurrent writers through a live server, on SQLite and on PostgreSQL: nothing is lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from tests.conftest import LiveServer, make_key, permapeople_headers

from hortus.config import Settings

WRITERS = 50


def _client(server: LiveServer, headers: dict[str, str]) -> httpx.Client:
    """One client for every writer (a client per request spends ~30 ms of this process's CPU,
    which the in-process server shares, building a TLS context), with a connection for each
    writer so that they all stay in flight at once."""
    return httpx.Client(base_url=server.url, headers=headers, timeout=60,
                        limits=httpx.Limits(max_connections=WRITERS))


def test_concurrent_puts_with_one_version_exactly_one_wins(any_settings: Settings) -> None:
    key = make_key(any_settings)
    headers = permapeople_headers(key)
    with LiveServer(any_settings) as server, _client(server, headers) as http:
        created = http.post("/api/plants", json={
            "scientific_name": "Concurrens testus", "name": "Race plant", "note": "setup"})
        assert created.status_code == 201, created.text
        plant_id = created.json()["id"]

        def put(n: int) -> httpx.Response:
            return http.put(f"/api/plants/{plant_id}",
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
                current = http.get(f"/api/plants/{plant_id}").json()
                if any(d["key"] == f"Writer {n}" for d in current["data"]):
                    return 0
                response = http.put(
                    f"/api/plants/{plant_id}",
                    json={"version": current["version"], "note": f"writer {n}",
                          "data": [{"key": f"Writer {n}", "value": str(n)}]})
                if response.status_code == 200:
                    return 1
                assert response.status_code == 422, response.text
            raise AssertionError(f"writer {n} never got through")

        with ThreadPoolExecutor(max_workers=8) as pool:
            accepted = sum(pool.map(retry, range(WRITERS)))
        assert accepted == WRITERS - 1
        final = http.get(f"/api/plants/{plant_id}").json()
        assert final["version"] == WRITERS + 1
        assert {d["key"] for d in final["data"]} == {f"Writer {n}" for n in range(WRITERS)}
        history = http.get(f"/api/plants/{plant_id}/revisions?per_page=100").json()
        assert history["pagination"]["total"] == WRITERS + 1
        assert [r["version"] for r in history["revisions"]] == list(range(WRITERS + 1, 0, -1))
        notes = {r["note"] for r in history["revisions"]}
        assert notes == {"setup"} | {f"writer {n}" for n in range(WRITERS)}


def test_search_and_listing_on_each_backend(any_settings: Settings) -> None:
    """The same full-text search answers on both backends (FTS5 and tsvector)."""
    key = make_key(any_settings)
    headers = permapeople_headers(key)
    with LiveServer(any_settings) as server, _client(server, headers) as http:
        for name, sci in [("Sweet basil", "Ocimum basilicum"), ("Holy basil", "Ocimum tenuiflorum"),
                          ("Lemon balm", "Melissa officinalis")]:
            response = http.post("/api/plants", json={
                "scientific_name": sci, "name": name, "note": "n",
                "data": [{"key": "Layer", "value": "Herbs"}]})
            assert response.status_code == 201
        found = http.get("/api/search", params={"q": "basil", "Layer": "Herbs"}).json()
        names = [p["name"] for p in found["plants"]]
        assert "Sweet basil" in names and "Holy basil" in names and "Lemon balm" not in names
        exact = http.get("/api/search", params={"q": "Holy basil"}).json()
        assert exact["plants"][0]["name"] == "Holy basil"
        prefix = http.get("/api/search", params={"q": "ocim"}).json()
        assert {"Sweet basil", "Holy basil"} <= {p["name"] for p in prefix["plants"]}
