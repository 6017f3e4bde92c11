"""Fixtures shared by every test: settings on a fresh data directory, real databases, clients.

Databases are real: a SQLite file copied per test from a template that was migrated and seeded
once per session, and — for tests that take ``any_settings`` — the same tests again on a real
PostgreSQL server when one is reachable, in a throwaway database copied (``CREATE DATABASE ...
TEMPLATE``) from one that was migrated and seeded once per session, like the SQLite file. A
test marked ``both_databases`` runs twice the same way through the plain ``settings`` fixture
(and every fixture built on it: ``client``, ``api_key``, ``database`` ...). Without a server the
PostgreSQL cases skip, or fail when ``HORTUS_REQUIRE`` names ``postgresql`` (tests/required.py).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

# Loaded now, in one thread: anyio loads its file API on first use, and a live server's threads
# serving a page's static files at once would each import (and, under pytest, assertion-rewrite)
# it together, which on CPython 3.11 can fail ("AST constructor recursion depth mismatch").
from anyio import open_file  # noqa: F401
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError
from tests.required import need, required

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


DATABASE_BACKENDS = ("sqlite", "postgresql")


@pytest.fixture
def database_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite``; for a test marked ``both_databases``, ``sqlite`` then ``postgresql`` (the
    test runs twice: see ``pytest_generate_tests``)."""
    return getattr(request, "param", "sqlite")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``both_databases`` whose fixtures reach ``database_backend`` (through
    ``settings``, ``client``, ``api_key`` ...) runs on SQLite and on PostgreSQL."""
    if (metafunc.definition.get_closest_marker("both_databases") is not None
            and "database_backend" in metafunc.fixturenames):
        metafunc.parametrize("database_backend", DATABASE_BACKENDS, indirect=True)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path,
             shared_models_dir: Path, database_backend: str) -> Settings:
    """Settings on a fresh data directory holding a seeded SQLite database (for a test marked
    ``both_databases``, also a throwaway copy of the seeded PostgreSQL template)."""
    if database_backend == "postgresql":
        return request.getfixturevalue("postgres_settings")
    return _sqlite_settings(tmp_path, sqlite_template, shared_models_dir)


# The schema holding Hortus's tables in each test database (named in the URL's search_path, so a
# test can find it there).
POSTGRES_SCHEMA = "hortus"


def postgres_database_url(database: str, schema: str = POSTGRES_SCHEMA) -> str:
    """The URL of one database of the test server, its search_path set to ``schema``."""
    url = make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)
    return f"{url}?options=-csearch_path%3D{schema}"


def _postgres_admin() -> Engine:
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


def _create_postgres_database(name: str, template: str | None = None) -> None:
    admin = _postgres_admin()
    try:
        with admin.connect() as connection:
            copy = f' TEMPLATE "{template}"' if template else ""
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        admin.dispose()


def _drop_postgres_database(name: str) -> None:
    admin = _postgres_admin()
    try:
        with admin.connect() as connection:  # FORCE: a server a test left running lets go
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """A PostgreSQL database migrated and seeded once (the SQLite template's twin); each test
    gets a copy. None when the role may not create databases: then each test's schema is
    migrated and seeded on its own (the same contents, slower)."""
    need("postgresql", POSTGRES_AVAILABLE, "no PostgreSQL server reachable at " + POSTGRES_URL)
    name = "hortus_template_" + uuid.uuid4().hex[:12]
    try:
        _create_postgres_database(name)
    except DBAPIError:
        yield None
        return
    try:
        owner = create_engine(postgres_database_url(name).split("?")[0])
        with owner.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{POSTGRES_SCHEMA}"'))
        owner.dispose()
        settings = Settings(data_dir=tmp_path_factory.mktemp("postgres-template"),
                            database_url=postgres_database_url(name), environment="test")
        prepare_database(settings, seed=True).dispose()  # no connection left: copies need none
        yield name
    finally:
        _drop_postgres_database(name)


@pytest.fixture
def postgres_settings(tmp_path: Path, shared_models_dir: Path,
                      postgres_template: str | None) -> Iterator[Settings]:
    """Settings on a throwaway copy of the seeded PostgreSQL template (skips when no server)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)  # as the SQLite settings' (tests put media folders in it)
    if postgres_template is None:
        yield from _postgres_schema_settings(data_dir, shared_models_dir)
        return
    name = "hortus_test_" + uuid.uuid4().hex[:12]
    _create_postgres_database(name, template=postgres_template)
    try:
        yield Settings(data_dir=data_dir, database_url=postgres_database_url(name),
                       environment="test", models_dir=shared_models_dir, warm_up_engine=False)
    finally:
        _drop_postgres_database(name)


def _postgres_schema_settings(data_dir: Path, models_dir: Path) -> Iterator[Settings]:
    """Without CREATEDB: a throwaway schema of the configured database, migrated and seeded."""
    schema = "hortus_test_" + uuid.uuid4().hex[:12]
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    settings = Settings(data_dir=data_dir, database_url=url, environment="test",
                        models_dir=models_dir, warm_up_engine=False)
    try:
        prepare_database(settings, seed=True).dispose()
        yield settings
    finally:
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



def built_once(tmp_path_factory: pytest.TempPathFactory, name: str,
               build: Callable[[Path], None]) -> Path:
    """The folder ``name``, filled by ``build`` once per test run. Under pytest-xdist every
    worker has its own session fixtures; for an expensive one (a model trained for the session)
    the workers share this folder instead: the first to ask builds it, the others wait for it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    folder = root / name
    with (root / f"{name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


class _Room:
    """Across pytest-xdist workers: a test marked ``alone`` (it times how fast a server answers
    under attack) runs while no other test runs, so the other worker's CPU load (a model being
    trained, say) does not pass for the server's slowness. Two ``flock``-ed files: every test
    holds the room shared, a test alone holds it exclusively; one waiting to be alone holds the
    gate meanwhile, so that the others' next tests queue behind it instead of starving it."""

    def __init__(self, folder: Path) -> None:
        self.gate, self.room = ((folder / name).open("a") for name in ("gate.lock", "room.lock"))

    def enter(self, alone: bool) -> None:
        fcntl.flock(self.gate, fcntl.LOCK_EX)
        fcntl.flock(self.room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(self.gate, fcntl.LOCK_UN)

    def leave(self) -> None:
        fcntl.flock(self.room, fcntl.LOCK_UN)
        fcntl.flock(self.gate, fcntl.LOCK_UN)


_ROOM: _Room | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _ROOM
    required()  # a misspelt HORTUS_REQUIRE stops the run here, not at the first missing need
    if hasattr(config, "workerinput"):  # a pytest-xdist worker, in <the run's folder>/popen-gwN
        _ROOM = _Room(Path(config.option.basetemp).parent)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[
        None, object, object]:
    """Set-up (fixtures of every scope, a trained model's too), call and tear-down in the room."""
    if _ROOM is None:
        return (yield)
    _ROOM.enter(alone=item.get_closest_marker("alone") is not None)
    try:
        return (yield)
    finally:
        _ROOM.leave()
