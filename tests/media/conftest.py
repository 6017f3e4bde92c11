"""Media fixtures: every backend on real servers, and real photos.

``any_store`` runs a test on the local folder, on the database backend over SQLite and over
PostgreSQL (a throwaway schema; skipped when no server is reachable), and on S3 through boto3
against moto's S3-compatible server in its own process (skipped when boto3 or moto is absent).
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from media_support import SAMPLE_PHOTOS, MotoS3

from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.media import open_backend
from hortus.media.store import MediaStore

S3_READY = all(importlib.util.find_spec(m) for m in ("boto3", "moto"))


@pytest.fixture(scope="session")
def photos(shared_data: Path) -> list[bytes]:
    """Real photos of different sizes (skips when ../shared/data is absent)."""
    found = [shared_data / p for p in SAMPLE_PHOTOS if (shared_data / p).is_file()]
    if len(found) < 3:
        pytest.skip("the sample photos are absent")
    return [p.read_bytes() for p in found]


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    if not S3_READY:
        pytest.skip("boto3 and moto[server] are not installed")
    with MotoS3(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def s3_settings(settings: Settings, moto_s3: MotoS3) -> Settings:
    """SQLite settings whose media go to a fresh bucket of the local S3-compatible server."""
    bucket = "hortus-" + uuid.uuid4().hex[:12]
    moto_s3.client().create_bucket(Bucket=bucket)
    values = {k.removeprefix("HORTUS_").lower(): v
              for k, v in moto_s3.settings_env(bucket, prefix="media/").items()}
    return Settings(data_dir=settings.data_dir, environment="test",
                    models_dir=settings.models_dir, warm_up_engine=False, **values)


STORES = ["local", "database-sqlite", "database-postgresql", "s3"]


@pytest.fixture(params=STORES)
def store_settings(request: pytest.FixtureRequest) -> tuple[str, Settings]:
    """(backend, settings) for each backend on a real server."""
    if request.param == "s3":
        return "s3", request.getfixturevalue("s3_settings")
    if request.param == "database-postgresql":
        return "database", request.getfixturevalue("postgres_settings")
    backend = request.param.removesuffix("-sqlite")
    return backend, request.getfixturevalue("settings")


@pytest.fixture
def any_store(store_settings: tuple[str, Settings]) -> Iterator[MediaStore]:
    """An empty store of each backend."""
    backend, settings = store_settings
    database = prepare_database(settings)
    store = open_backend(settings, backend, database)
    try:
        yield store
    finally:
        store.close()
        database.dispose()
