"""``GET /api/plants/{id}`` as the busiest read: metered in leased blocks, answered from a cache
that a commit anywhere invalidates, served by real ``hortus serve`` processes on SQLite and on
PostgreSQL.

What the fast path must not change: a quota is served exactly (never past its limit, across
workers), every unit a server holds goes back when it stops, a key revoked elsewhere stops
within the key cache's TTL, an edit made through one process is never read stale through
another, and the answer is the plant object FastAPI would have rendered.
"""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.conftest import make_key, permapeople_headers
from tests.server.serve_support import Served

from hortus.accounts import keycache, quotas
from hortus.accounts import service as accounts
from hortus.accounts.keys import NewKey
from hortus.accounts.metering import MAX_BLOCK
from hortus.accounts.models import UsageCounter
from hortus.app import create_app
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.plants import service
from hortus.plants.models import Plant

SEED_401 = {"error": "not authenticated",
            "msg": "Please check your x-permapeople-key-id and x-permapeople-key-secret "
                   "http headers."}
GIVE_UP = 2.5  # seconds of refusals before a client stops (units held elsewhere come back in 1)


def _reader(settings: Settings, limit: int, email: str = "reader@example.org"
            ) -> tuple[NewKey, int]:
    """A key whose account may read ``limit`` plants a day, and the account's id."""
    key = make_key(settings, email)
    database = prepare_database(settings)
    try:
        with database.write() as session:
            account = accounts.require_account(session=session, email=email)
            quotas.set_limits(session=session, account_id=account.id,
                              limits={quotas.API_PLANTS: limit})
            return key, account.id
    finally:
        database.dispose()


def _counted(settings: Settings, account_id: int) -> int:
    database = prepare_database(settings)
    try:
        with database.read() as session:
            return session.scalar(select(UsageCounter.count).where(
                UsageCounter.account_id == account_id,
                UsageCounter.api == quotas.API_PLANTS)) or 0
    finally:
        database.dispose()


def _plant_id(settings: Settings) -> int:
    database = prepare_database(settings)
    try:
        with database.read() as session:
            plant_id = session.scalar(select(Plant.id).order_by(Plant.id))
    finally:
        database.dispose()
    assert plant_id is not None, "the seeded database holds no plant"
    return int(plant_id)


def _server(settings: Settings, name: str, workers: int = 1) -> Served:
    """``hortus serve`` on the test's database (its SQLite file, or its PostgreSQL copy)."""
    env = {"HORTUS_ACCESS_LOG": "false"}
    if settings.database_url:
        env["HORTUS_DATABASE_URL"] = settings.database_url
        data_dir = settings.data_dir.parent / name
    else:
        data_dir = settings.data_dir  # the SQLite file every server of the test shares
    served = Served(data_dir, env=env, workers=workers)
    served.log_path = settings.data_dir.parent / f"{name}.log"
    return served


class _Client(threading.Thread):
    """GETs one plant until its answers have been 429 for GIVE_UP seconds, opening a new
    connection every few requests (so its requests reach every worker)."""

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.headers = port, path, headers
        self.statuses: Counter[int] = Counter()
        self.refusals: list[tuple[dict[str, str], dict[str, object]]] = []
        self.failure: str | None = None

    def run(self) -> None:
        refused_since: float | None = None
        deadline = time.monotonic() + 240
        connection: http.client.HTTPConnection | None = None
        try:
            while time.monotonic() < deadline:
                if connection is None or sum(self.statuses.values()) % 10 == 0:
                    if connection is not None:
                        connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                connection.request("GET", self.path, headers=self.headers)
                answer = connection.getresponse()
                body = answer.read()
                self.statuses[answer.status] += 1
                if answer.status == 429:
                    if len(self.refusals) < 5:
                        self.refusals.append(({k.lower(): v for k, v in answer.headers.items()},
                                              json.loads(body)))
                    refused_since = refused_since or time.monotonic()
                    if time.monotonic() - refused_since > GIVE_UP:
                        return
                    time.sleep(0.02)
                else:
                    refused_since = None
            self.failure = "never stopped being served"
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.failure = repr(exc)
        finally:
            if connection is not None:
                connection.close()


@pytest.mark.both_databases
def test_two_workers_serve_a_quota_exactly_then_refuse_in_permapeople_format(
        settings: Settings) -> None:
    """300 reads a day, 8 clients hammering two workers until refused: exactly 300 answers
    (never one more: each unit served was counted in the database first; never fewer: units
    one worker held go back and the other serves them), then 429s in Permapeople's format,
    and the counter ends at exactly 300 once the server has stopped."""
    limit = 300
    key, account_id = _reader(settings, limit)
    path = f"/api/plants/{_plant_id(settings)}"
    with _server(settings, "two-workers", workers=2) as served:
        clients = [_Client(served.port, path, permapeople_headers(key)) for _ in range(8)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=300)
    assert all(c.failure is None for c in clients), [c.failure for c in clients]
    statuses = sum((c.statuses for c in clients), Counter())
    assert set(statuses) == {200, 429}, statuses
    assert statuses[200] == limit, statuses
    for headers, body in (r for c in clients for r in c.refusals):
        assert set(body) == {"error", "msg"} and body["error"] == "too many requests"
        assert int(headers["retry-after"]) >= 1
        assert headers["ratelimit"].startswith('"day";r=0;')
    assert _counted(settings, account_id) == limit


def _read_many(port: int, path: str, headers: dict[str, str], count: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for _ in range(count):
            connection.request("GET", path, headers=headers)
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200
    finally:
        connection.close()


@pytest.mark.both_databases
def test_a_stopped_server_gives_back_its_units_and_a_killed_one_loses_at_most_a_block(
        settings: Settings) -> None:
    key, account_id = _reader(settings, 100_000)
    path, headers = f"/api/plants/{_plant_id(settings)}", permapeople_headers(key)
    served = _server(settings, "stopped").start()
    try:
        _read_many(served.port, path, headers, 300)
        assert _counted(settings, account_id) >= 300  # the 300 answers, and units in hand
    finally:
        # SIGTERM: a graceful stop (uvicorn re-raises the signal once it has shut down).
        assert served.stop() in (0, -signal.SIGTERM)
    assert _counted(settings, account_id) == 300
    killed = _server(settings, "killed").start()
    try:
        _read_many(killed.port, path, headers, 300)
    finally:
        killed.stop(signal.SIGKILL)  # no shutdown: its units in hand are lost, not served
    assert 600 <= _counted(settings, account_id) <= 600 + MAX_BLOCK


def _fresh_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_a_key_revoked_by_another_process_stops_on_every_worker_within_the_ttl(
        settings: Settings) -> None:
    key, _ = _reader(settings, 100_000)
    path, headers = f"/api/plants/{_plant_id(settings)}", permapeople_headers(key)
    with _server(settings, "revoked", workers=2) as served:
        assert {_fresh_get(served.port, path, headers)[0] for _ in range(20)} == {200}
        database = prepare_database(settings)  # this test process is "another process"
        try:
            with database.write() as session:
                owner = accounts.require_account(session=session, email="reader@example.org")
                accounts.revoke_key(session=session, account=owner, key_id=key.key_id)
        finally:
            database.dispose()
        revoked_at = time.monotonic()
        time.sleep(keycache.TTL_SECONDS)
        answers = [_fresh_get(served.port, path, headers) for _ in range(20)]
        assert time.monotonic() - revoked_at >= keycache.TTL_SECONDS
    assert {status for status, _ in answers} == {401}
    assert all(json.loads(body) == SEED_401 for _, body in answers)


def test_an_edit_through_one_process_is_never_read_stale_through_another(
        settings: Settings) -> None:
    """Two servers on one SQLite file: the second answers a plant from its cache between
    commits; an edit through the first is what the second answers next, at once."""
    key, _ = _reader(settings, 100_000)
    headers = permapeople_headers(key)
    with _server(settings, "editor") as editor, _server(settings, "reader") as reader:
        created = json.loads(_request(editor.port, "POST", "/api/plants", headers, {
            "scientific_name": "Allium ursinum", "name": "Ramsons", "note": "setup"}))
        path = f"/api/plants/{created['id']}"
        for version in range(1, 6):
            for _ in range(5):
                status, body = _fresh_get(reader.port, path, headers)
                assert status == 200 and json.loads(body)["version"] == version
            changed = json.loads(_request(editor.port, "PUT", path, headers, {
                "version": version, "note": f"edit {version}", "name": f"Ramsons {version}"}))
            assert changed["version"] == version + 1
            status, body = _fresh_get(reader.port, path, headers)
            assert json.loads(body)["version"] == version + 1
            assert json.loads(body)["name"] == f"Ramsons {version}"


def _request(port: int, method: str, path: str, headers: dict[str, str],
             body: dict[str, object]) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=json.dumps(body).encode(),
                           headers={**headers, "content-type": "application/json"})
        answer = connection.getresponse()
        data = answer.read()
        assert answer.status in (200, 201), data
        return data
    finally:
        connection.close()


def test_between_commits_the_plant_is_answered_from_memory(settings: Settings,
                                                           api_key: NewKey) -> None:
    headers = permapeople_headers(api_key)
    app = create_app(settings)
    with TestClient(app) as client:
        plant_id = _plant_id(settings)
        cache = app.state.plant_cache
        answers = [client.get(f"/api/plants/{plant_id}", headers=headers) for _ in range(40)]
        assert {a.status_code for a in answers} == {200}
        assert len({a.content for a in answers}) == 1
        # Each lease (of 1, 2, 4, 8, 16 and 32 units), the key's first use and each flush
        # of the meter (every second) commit, and the plant is read again after each; the
        # other answers come from memory.
        assert cache.hits + cache.misses == 40
        assert cache.hits >= 20, (cache.hits, cache.misses)


@pytest.mark.both_databases
def test_the_answer_is_the_plant_object_fastapi_would_render(settings: Settings,
                                                             api_key: NewKey) -> None:
    headers = permapeople_headers(api_key)
    app = create_app(settings)
    with TestClient(app) as client:
        created = client.post("/api/plants", headers=headers, json={
            "scientific_name": "Allium ursinum", "name": "Bärlauch — ail des ours 🌿",
            "description": 'Said "wild garlic"; </script> \\ \t tab', "note": "n",
            "data": [{"key": "Edible parts", "value": "Leaves, bulbs"}]})
        assert created.status_code == 201, created.text
        answer = client.get(f"/api/plants/{created.json()['id']}", headers=headers)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json; charset=utf-8"
        with app.state.database.read() as session:
            model = service.read_plant(session=session, plant_id=created.json()["id"],
                                       base_url=str(answer.url).split("/api/")[0])
        rendered = json.dumps(model.model_dump(mode="json"), ensure_ascii=False,
                              allow_nan=False, separators=(",", ":")).encode()
        assert answer.content == rendered
        assert answer.json() == created.json()
        assert (app.state.plant_cache is None) == (settings.database_url is not None)
        # Unknown plants are 404s in Permapeople's format, and cost nothing.
        missing = client.get("/api/plants/987654", headers=headers)
        assert missing.status_code == 404 and set(missing.json()) == {"error", "msg"}
