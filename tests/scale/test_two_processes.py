"""Two ``hortus serve`` processes, two data directories, one PostgreSQL database: the deployment
of docs/operations.md ("Several processes on one PostgreSQL").

The processes share only the database URL, the secret key and a models directory. What the
tests require of them together: quotas exact across them, a browser session opened on one
valid on the other (and closed everywhere by signing out on either), and versioned plant
edits that never lose an update, whichever process each writer talks to.

Both servers start once for the module, on a fresh schema of the local PostgreSQL server
(dropped afterwards); everything skips when no server is reachable.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from tests.conftest import POSTGRES_AVAILABLE, POSTGRES_URL, permapeople_headers
from tests.server.serve_support import Served

from hortus.accounts import quotas, service
from hortus.accounts.keys import NewKey
from hortus.accounts.models import UsageCounter
from hortus.bootstrap import prepare_database
from hortus.config import Settings

pytestmark = pytest.mark.postgres

PLANT_QUOTA = 25  # a day, for the quota account
QUOTA_CALLERS = 40
WRITERS = 16
PASSWORD = "Tomato-Basil-7"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Deployment:
    """Two servers on one database, and the keys made for the tests before they started."""

    first: Served
    second: Served
    settings: Settings  # the database's, for looking at it directly
    quota_key: NewKey
    quota_account_id: int
    editor_key: NewKey

    @property
    def urls(self) -> tuple[str, str]:
        return self.first.url, self.second.url


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory,
               shared_models_dir: Path) -> Iterator[Deployment]:
    if not POSTGRES_AVAILABLE:
        pytest.skip("no PostgreSQL server reachable at " + POSTGRES_URL)
    schema = "hortus_scale_" + uuid.uuid4().hex[:12]
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    root = tmp_path_factory.mktemp("scale")
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    settings = Settings(data_dir=root / "operator", database_url=url, environment="test",
                        models_dir=shared_models_dir, load_starter_data=False)
    # Migrated and seeded once, before the servers start together (the documented order: a
    # first start on an empty database is not safe to run twice at once).
    database = prepare_database(settings, seed=True)
    try:
        with database.write() as session:
            owner = service.get_or_create_account(session=session, email="quota@example.org")
            quota_key = service.create_key(session=session, account=owner)
            quotas.set_limits(session=session, account_id=owner.id,
                              limits={quotas.API_PLANTS: PLANT_QUOTA})
            editor = service.get_or_create_account(session=session, email="editor@example.org")
            editor_key = service.create_key(session=session, account=editor)
            quota_account_id = owner.id
    finally:
        database.dispose()
    shared = {"HORTUS_DATABASE_URL": url, "HORTUS_SECRET_KEY": secrets.token_urlsafe(48),
              "HORTUS_MODELS_DIR": str(shared_models_dir)}
    servers = [Served(root / name, env=shared) for name in ("first", "second")]
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # both start at once
            list(pool.map(lambda served: served.start(), servers))
        yield Deployment(first=servers[0], second=servers[1], settings=settings,
                         quota_key=quota_key, quota_account_id=quota_account_id,
                         editor_key=editor_key)
    finally:
        for served in servers:
            served.stop()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One client for the API calls (a client per call would build a TLS context each time),
    with room for every concurrent caller. No cookies are involved in those calls."""
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=QUOTA_CALLERS)) as client:
        yield client


def all_at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run every call in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_quota_is_exact_across_both_processes(deployment: Deployment,
                                              http: httpx.Client) -> None:
    headers = permapeople_headers(deployment.quota_key)

    def read(url: str) -> Callable[[], httpx.Response]:
        return lambda: http.get(f"{url}/api/plants", params={"per_page": 1}, headers=headers)

    calls = [read(deployment.urls[n % 2]) for n in range(QUOTA_CALLERS)]
    responses = all_at_once(calls)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: PLANT_QUOTA, 429: QUOTA_CALLERS - PLANT_QUOTA}, statuses
    for refused in (r for r in responses if r.status_code == 429):
        assert int(refused.headers["retry-after"]) >= 1
        assert set(refused.json()) == {"error", "msg"}
    database = prepare_database(deployment.settings)
    try:
        with database.read() as session:
            counted = session.scalar(select(UsageCounter.count).where(
                UsageCounter.account_id == deployment.quota_account_id,
                UsageCounter.api == quotas.API_PLANTS))
    finally:
        database.dispose()
    assert counted == PLANT_QUOTA
    # Spent is spent, on either process.
    for url in deployment.urls:
        assert read(url)().status_code == 429


def _csrf(page: httpx.Response) -> str:
    match = _CSRF.search(page.text)
    assert match, page.text[:500]
    return match.group(1)


def _cookie(response: httpx.Response) -> str:
    value = response.cookies.get("hortus_session")
    assert value, response.headers
    return value


def test_a_session_opened_on_one_process_works_and_ends_on_the_other(
        deployment: Deployment) -> None:
    first, second = deployment.urls
    email = f"gardener-{uuid.uuid4().hex[:8]}@example.org"
    with httpx.Client(base_url=first, timeout=30) as browser:  # signs up and in on the first
        form = browser.get("/signup")
        answer = browser.post("/signup", data={"email": email, "password": PASSWORD,
                                               "password_confirm": PASSWORD,
                                               "csrf_token": _csrf(form)})
        assert answer.status_code == 303, answer.text
        login = browser.get("/login")
        signed_in = browser.post("/login", data={"email": email, "password": PASSWORD,
                                                 "csrf_token": _csrf(login)})
        assert signed_in.status_code == 303, signed_in.text
        cookie = _cookie(signed_in)

    def settings_page(url: str, session_cookie: str) -> httpx.Response:
        return httpx.get(f"{url}/settings/api-key", cookies={"hortus_session": session_cookie},
                         timeout=30)

    # The second process knows the session (same secret, same table) ...
    page = settings_page(second, cookie)
    assert page.status_code == 200 and email in page.text
    # ... accepts the CSRF token of its own page for this session, and what it does is shared.
    made = httpx.post(f"{second}/settings/api-key/generate", cookies={"hortus_session": cookie},
                      data={"label": "made on the second", "csrf_token": _csrf(page)},
                      timeout=30)
    assert made.status_code == 303, made.text  # post/redirect/get
    # The next keys page shows the secret once, on either process: no process keeps it.
    shown = httpx.get(f"{first}/settings/api-key", timeout=30, cookies={
        "hortus_session": cookie, "hortus_new_key": made.cookies["hortus_new_key"]})
    key_id = re.search(r'id="new-key-id">([^<]+)<', shown.text)
    secret = re.search(r'id="new-key-secret" class="secret">([^<]+)<', shown.text)
    assert key_id and secret
    assert httpx.get(f"{first}/api/plants", timeout=30, headers={
        "x-permapeople-key-id": key_id.group(1),
        "x-permapeople-key-secret": secret.group(1)}).status_code == 200
    assert "made on the second" in settings_page(first, cookie).text

    # Signing out on the second ends the session on the first too, at once.
    signed_out = httpx.post(f"{second}/logout", cookies={"hortus_session": cookie},
                            data={"csrf_token": _csrf(page)}, timeout=30)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/login"
    for url in (first, second):
        refused = settings_page(url, cookie)
        assert refused.status_code == 303, refused.text
        assert refused.headers["location"].startswith("/login")


def test_versioned_plant_edits_through_both_processes_lose_nothing(
        deployment: Deployment, http: httpx.Client) -> None:
    headers = permapeople_headers(deployment.editor_key)
    first, second = deployment.urls
    created = http.post(f"{first}/api/plants", headers=headers, json={
        "scientific_name": "Concurrens duplex", "name": "Two-server plant", "note": "setup"})
    assert created.status_code == 201, created.text
    plant_id = created.json()["id"]

    def put(url: str, version: int, writer: int) -> httpx.Response:
        return http.put(f"{url}/api/plants/{plant_id}", headers=headers,
                        json={"version": version, "note": f"writer {writer}",
                              "data": [{"key": f"Writer {writer}", "value": str(writer)}]})

    # Every writer sends version 1 at once, half through each process: exactly one wins.
    responses = all_at_once([
        (lambda n=n: put(deployment.urls[n % 2], 1, n)) for n in range(WRITERS)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [422] * (WRITERS - 1), statuses
    assert all(r.json()["error"] == "version mismatch" for r in responses if r.status_code == 422)
    winner = next(n for n, r in enumerate(responses) if r.status_code == 200)

    # The others re-read (from either process) and retry until their change lands.
    def retry(writer: int) -> int:
        for attempt in range(200):
            url = deployment.urls[(writer + attempt) % 2]
            current = http.get(f"{url}/api/plants/{plant_id}", headers=headers).json()
            response = put(url, current["version"], writer)
            if response.status_code == 200:
                return 1
            assert response.json()["error"] == "version mismatch", response.text
        raise AssertionError(f"writer {writer} never got through")

    with ThreadPoolExecutor(max_workers=6) as pool:
        accepted = sum(pool.map(retry, [n for n in range(WRITERS) if n != winner]))
    assert accepted == WRITERS - 1
    for url in (first, second):  # both see the same, complete plant
        final = http.get(f"{url}/api/plants/{plant_id}", headers=headers).json()
        assert final["version"] == WRITERS + 1
        assert {d["key"] for d in final["data"]} == {f"Writer {n}" for n in range(WRITERS)}
    history = http.get(f"{second}/api/plants/{plant_id}/revisions",
                       params={"per_page": 100}, headers=headers).json()
    # One revision per version, each version won once, every writer's note exactly once.
    assert [r["version"] for r in history["revisions"]] == list(range(WRITERS + 1, 0, -1))
    assert sorted(r["note"] for r in history["revisions"]) == sorted(
        ["setup"] + [f"writer {n}" for n in range(WRITERS)])
