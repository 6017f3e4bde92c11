"""``hortus backup`` / ``hortus restore``: restored into an empty data directory, every table
matches row for row, and every media and project file byte for byte; the backup runs online,
while the database is being written; PostgreSQL round-trips through pg_dump/pg_restore."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select, text
from tests.conftest import make_key

from hortus.accounts import service
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.ops.backup import BackupError, backup, restore


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORTUS_")}
    env["HORTUS_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["HORTUS_DATABASE_URL"] = settings.database_url
    return subprocess.run([sys.executable, "-m", "hortus.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def _all_rows(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return {name: sorted((tuple(row) for row in connection.execute(select(table))),
                                 key=repr)
                    for name, table in metadata.tables.items()}
    finally:
        engine.dispose()


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _own_models(settings: Settings) -> Settings:
    """The settings with models inside the data directory (not the session's shared one)."""
    return settings.model_copy(update={"models_dir": settings.data_dir / "models"})


def _fill_data_dir(settings: Settings) -> None:
    make_key(settings, "one@example.org")
    make_key(settings, "two@example.org")
    photos = settings.media_dir / "photos" / "ab"
    photos.mkdir(parents=True)
    (photos / "abcdef.jpg").write_bytes(os.urandom(200_000))
    project = settings.models_dir / "projects" / "flowers" / "v2"
    project.mkdir(parents=True)
    (project / "head.npz").write_bytes(os.urandom(5000))
    (settings.data_dir / "secret_key").write_text("k" * 64 + "\n")


def test_sqlite_round_trip_into_an_empty_data_directory(settings: Settings,
                                                        tmp_path: Path) -> None:
    settings = _own_models(settings)
    _fill_data_dir(settings)
    archive = tmp_path / "hortus-backup.tar.gz"
    made = _cli(settings, "backup", str(archive))
    assert made.returncode == 0, made.stderr
    assert oct(archive.stat().st_mode & 0o777) == "0o600"

    empty = Settings(data_dir=tmp_path / "restored", environment="test")
    restored = _cli(empty, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    original = _all_rows(settings.sqlalchemy_url)
    assert sum(len(rows) for rows in original.values()) > 100  # the starter plants, the keys
    assert _all_rows(empty.sqlalchemy_url) == original
    assert _files(empty.media_dir) == _files(settings.media_dir)
    assert _files(empty.models_dir / "projects") == _files(settings.models_dir / "projects")
    assert (empty.data_dir / "secret_key").read_text() == "k" * 64 + "\n"
    with create_engine(empty.sqlalchemy_url).connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"

    again = _cli(empty, "restore", str(archive))  # never over a database silently
    assert again.returncode == 1 and "already holds a database" in again.stderr


def test_a_damaged_backup_is_refused(settings: Settings, tmp_path: Path) -> None:
    settings = _own_models(settings)
    _fill_data_dir(settings)
    archive = tmp_path / "b.tar"
    backup(settings=settings, target=archive)
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as source, tarfile.open(damaged, "w") as out:
        for member in source:
            data = source.extractfile(member).read()
            if member.name.startswith("media/"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            out.addfile(member, io.BytesIO(data))
    with pytest.raises(BackupError, match="checksum"):
        restore(settings=Settings(data_dir=tmp_path / "r", environment="test"), source=damaged)


def test_backup_while_the_database_is_written(settings: Settings, tmp_path: Path) -> None:
    database = prepare_database(settings)
    stop = threading.Event()
    written = [0]

    def write() -> None:
        while not stop.is_set():
            with database.write() as session:
                service.get_or_create_account(session=session,
                                              email=f"w{written[0]}@example.org")
            written[0] += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while written[0] < 20:
            stop.wait(0.01)
        summary = backup(settings=settings, target=tmp_path / "online.tar")
    finally:
        stop.set()
        writer.join()
        database.dispose()
    assert 20 <= summary.tables["accounts"] <= written[0]  # a snapshot taken mid-stream
    empty = Settings(data_dir=tmp_path / "restored", environment="test")
    restored = restore(settings=empty, source=tmp_path / "online.tar")
    assert restored.tables == summary.tables


@pytest.mark.postgres
def test_postgres_round_trip_through_pg_dump(postgres_settings: Settings, tmp_path: Path) -> None:
    database = prepare_database(postgres_settings)
    database.dispose()
    make_key(postgres_settings, "pg@example.org")
    original = _all_rows(postgres_settings.sqlalchemy_url)
    archive = tmp_path / "pg.tar"
    summary = backup(settings=postgres_settings, target=archive)
    assert summary.dialect == "postgresql" and summary.tables["api_keys"] == 1
    schema = postgres_settings.sqlalchemy_url.split("search_path%3D")[1]
    admin = create_engine(postgres_settings.sqlalchemy_url.split("?")[0])
    with admin.begin() as connection:  # the database is lost
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    restore(settings=postgres_settings, source=archive)
    assert _all_rows(postgres_settings.sqlalchemy_url) == original
