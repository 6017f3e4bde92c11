"""Fixtures shared by every test: settings on a fresh data directory, real databases, clients.

Databases are real: a SQLite file copied per test from a template that was migrated and seeded
once per session, and — for tests that take ``any_settings`` — the same tests again on a real
PostgreSQL server in a throwaway schema when one is reachable.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from hortus.accounts import service as accounts
from hortus.accounts.keys import NewKey
from hortus.app import create_app
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.db import Database

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HORTUS_SHARED_DATA", REPO.parent / "shared" / "data"))
POSTGRES_URL = os.environ.get(
    "HORTUS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_reachable() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return False


POSTGRES_AVAILABLE = _postgres_reachable()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real labelled photos); tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One models directory for the session: the backbone is converted into it once, on first
    use. Tests that train projects give themselves their own."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated and seeded once; each test gets a copy."""
    data_dir = tmp_path_factory.mktemp("template")
    prepare_database(Settings(data_dir=data_dir, environment="test"), seed=True).dispose()
    return data_dir / "hortus.db"


def _sqlite_settings(tmp_path: Path, template: Path, models_dir: Path) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(template, data_dir / "hortus.db")
    return Settings(data_dir=data_dir, environment="test", models_dir=models_dir,
                    warm_up_engine=False)


@pytest.fixture
def settings(tmp_path: Path, sqlite_template: Path, shared_models_dir: Path) -> Settings:
    """Settings on a fresh data directory holding a seeded SQLite database."""
    return _sqlite_settings(tmp_path, sqlite_template, shared_models_dir)


@pytest.fixture
def postgres_settings(tmp_path: Path, shared_models_dir: Path) -> Iterator[Settings]:
    """Settings on a throwaway schema of the local PostgreSQL server (skips when none)."""
    if not POSTGRES_AVAILABLE:
        pytest.skip("no PostgreSQL server reachable at " + POSTGRES_URL)
    schema = "hortus_test_" + uuid.uuid4().hex[:12]
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    data_dir = tmp_path / "data"
    yield Settings(data_dir=data_dir, database_url=url, environment="test",
                   models_dir=shared_models_dir, warm_up_engine=False)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_settings(request: pytest.FixtureRequest) -> Settings:
    """The test runs twice: on SQLite and on PostgreSQL (skipped when unreachable)."""
    if request.param == "sqlite":
        return request.getfixturevalue("settings")
    return request.getfixturevalue("postgres_settings")


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    database = prepare_database(settings)
    yield database
    database.dispose()


def make_key(settings: Settings, email: str = "gardener@example.org") -> NewKey:
    """A fresh key for ``email`` (the account is created when missing)."""
    database = prepare_database(settings)
    try:
        with database.write() as session:
            account = accounts.get_or_create_account(session=session, email=email)
            return accounts.create_key(session=session, account=account)
    finally:
        database.dispose()


@pytest.fixture
def api_key(settings: Settings) -> NewKey:
    return make_key(settings)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def permapeople_headers(key: NewKey) -> dict[str, str]:
    return {"x-permapeople-key-id": key.key_id, "x-permapeople-key-secret": key.key_secret}


class LiveServer:
    """A real uvicorn server on a loopback port, in a thread of the test process.

    Takes Settings (the app is built from them) or an app already built.
    """

    def __init__(self, target: Settings | FastAPI, host: str = "127.0.0.1") -> None:
        import uvicorn

        with socket.socket() as probe:
            probe.bind((host, 0))
            self.port = probe.getsockname()[1]
        self.host = host
        app = create_app(target) if isinstance(target, Settings) else target
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning",
                                lifespan="on", limit_concurrency=1000, backlog=2048)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(settings) as server:
        yield server
