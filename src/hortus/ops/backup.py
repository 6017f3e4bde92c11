"""Backup and restore of a data directory: the database, the media, the trained projects.

A backup is one tar file (gzip-compressed when its name ends in ``.gz`` or ``.tgz``) holding
``manifest.json`` first (format, Hortus version, schema revision, rows per table, and every
file's size and SHA-256), then the files:

* ``database/hortus.db``: SQLite, copied with SQLite's online backup API, so the server can keep
  serving (and writing) while it runs and the copy is one consistent snapshot;
* ``database/hortus.pgdump``: PostgreSQL, ``pg_dump --format=custom`` of the database (or of the
  schema the URL's ``search_path`` names); restored with ``pg_restore``;
* ``media/...`` (photos of the local media backend), ``models/projects/...`` (trained project
  versions; the backbone is rebuilt from the package) and ``secret_key`` (session cookies stay
  valid).

Restore refuses a data directory that already holds a database (unless forced), checks every
file against the manifest before it is moved into place, checks SQLite's integrity, and compares
the rows per table with the manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from sqlalchemy import MetaData, create_engine, func, select
from sqlalchemy.engine import Engine, make_url

from hortus import __version__
from hortus.config import Settings
from hortus.db.fulltext import POSTGRES_EXTENSIONS

FORMAT = "hortus-backup/1"
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/hortus.db"
PG_MEMBER = "database/hortus.pgdump"
_CHUNK = 1024 * 1024


class BackupError(RuntimeError):
    """A backup that cannot be made, read or restored; the message says why."""


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    dialect: str
    tables: dict[str, int]
    files: int
    bytes: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows of every table of the database (the migration bookkeeping included)."""
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return {name: connection.scalar(select(func.count()).select_from(table)) or 0
                for name, table in sorted(metadata.tables.items())}


def _postgres_target(url: str, *, schema: bool = True) -> tuple[list[str], dict[str, str]]:
    """libpq connection arguments for pg_dump/pg_restore (the password goes in the
    environment, never on a command line), with ``--schema`` for the schema a ``search_path``
    option names (pg_dump only: the dump then holds just that schema, which pg_restore
    recreates)."""
    parsed = make_url(url)
    args = ["--host", parsed.host or "127.0.0.1", "--port", str(parsed.port or 5432),
            "--username", parsed.username or "postgres", "--dbname", parsed.database or ""]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    options = unquote(str(parsed.query.get("options", "")))
    for option in options.split() if schema else ():
        if option.startswith("-csearch_path="):
            args += ["--schema", option.split("=", 1)[1].split(",")[0]]
    return args, env


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[:500]}")


def _data_files(settings: Settings, include_models: bool) -> Iterator[tuple[str, Path]]:
    """(name in the archive, path) of the data directory's files worth keeping."""
    roots = [("media", settings.media_dir)]
    if include_models:
        roots.append(("models/projects", settings.models_dir / "projects"))
    for prefix, root in roots:
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    yield f"{prefix}/{path.relative_to(root).as_posix()}", path
    secret = settings.data_dir / "secret_key"
    if secret.is_file():
        yield "secret_key", secret


def backup(*, settings: Settings, target: Path, include_models: bool = True) -> BackupSummary:
    """Write a backup of the data directory to ``target`` (replaced atomically at the end)."""
    url = settings.sqlalchemy_url
    dialect = make_url(url).get_backend_name()
    target = target.expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".hortus-backup-") as work:
        snapshot = Path(work) / "database"
        if dialect == "sqlite":
            source_path = make_url(url).database or ""
            if not Path(source_path).is_file():
                raise BackupError(f"There is no database at {source_path}.")
            source, copy = sqlite3.connect(source_path, timeout=30), sqlite3.connect(snapshot)
            try:  # one consistent snapshot; the server keeps reading and writing meanwhile
                source.backup(copy, pages=1024)
            finally:
                copy.close()
                source.close()
            database_member = SQLITE_MEMBER
            engine = create_engine(f"sqlite:///{snapshot}")
        elif dialect == "postgresql":
            args, env = _postgres_target(url)
            # A dump of one schema leaves out the extensions its objects need (the trigram
            # index of plant names uses pg_trgm): name them, so a restore recreates them.
            extensions = [f"--extension={name}" for name in POSTGRES_EXTENSIONS]
            _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                  *extensions, "--file", str(snapshot), *args], env)
            database_member = PG_MEMBER
            engine = create_engine(url)
        else:
            raise BackupError(f"Cannot back up a {dialect} database.")
        try:
            tables = row_counts(engine)
            revision = _revision(engine) if "alembic_version" in tables else None
        finally:
            engine.dispose()
        entries = [(database_member, snapshot), *_data_files(settings, include_models)]
        files = [{"path": name, "size": path.stat().st_size, "sha256": _sha256(path)}
                 for name, path in entries]
        manifest = {"format": FORMAT, "hortus_version": __version__,
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "dialect": dialect, "revision": revision,
                    "tables": tables, "files": files}
        partial = Path(work) / "backup.tar"
        mode = "w:gz" if target.name.endswith((".gz", ".tgz")) else "w"
        with tarfile.open(partial, mode) as archive:  # type: ignore[call-overload]
            encoded = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode = len(encoded), 0o600
            archive.addfile(info, io.BytesIO(encoded))
            for name, path in entries:
                archive.add(path, arcname=name, recursive=False)
        os.chmod(partial, 0o600)  # it holds password hashes and the cookie key
        os.replace(partial, target)
    return BackupSummary(path=target, dialect=dialect, tables=tables, files=len(files),
                         bytes=target.stat().st_size)


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def read_manifest(source: Path) -> dict:
    """The manifest of a backup file (BackupError when it is not one)."""
    try:
        with tarfile.open(source) as archive:
            member = archive.next()
            if member is None or member.name != MANIFEST:
                raise BackupError(f"{source} is not a Hortus backup (no manifest first).")
            handle = archive.extractfile(member)
            assert handle is not None
            manifest = json.loads(handle.read())
    except (tarfile.TarError, OSError, json.JSONDecodeError) as exc:
        raise BackupError(f"{source} cannot be read as a backup: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source} has format {manifest.get('format')!r}, not {FORMAT}.")
    return manifest


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"The backup holds an unsafe path: {name!r}.")
    return path


def _destination(settings: Settings, name: PurePosixPath) -> Path:
    parts = name.parts
    if parts[0] == "media":
        return settings.media_dir.joinpath(*parts[1:])
    if parts[:2] == ("models", "projects"):
        return (settings.models_dir / "projects").joinpath(*parts[2:])
    if name.as_posix() == "secret_key":
        return settings.data_dir / "secret_key"
    raise BackupError(f"The backup holds an unexpected file: {name}.")


def _has_database(settings: Settings, dialect: str) -> bool:
    if dialect == "sqlite":
        return (settings.data_dir / "hortus.db").is_file()
    engine = create_engine(settings.sqlalchemy_url)
    try:
        return bool(row_counts(engine))
    finally:
        engine.dispose()


def restore(*, settings: Settings, source: Path, force: bool = False) -> BackupSummary:
    """Restore a backup into the data directory (and database) the settings name."""
    manifest = read_manifest(source)
    dialect = make_url(settings.sqlalchemy_url).get_backend_name()
    if manifest["dialect"] != dialect:
        raise BackupError(f"The backup is of a {manifest['dialect']} database; the settings "
                          f"name a {dialect} one.")
    if not force and _has_database(settings, dialect):
        raise BackupError("The target already holds a database; restore into an empty data "
                          "directory (or database), or pass --force to replace it.")
    expected = {entry["path"]: entry for entry in manifest["files"]}
    settings.ensure_dirs()
    with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".hortus-restore-") as work:
        staged: dict[str, Path] = {}
        with tarfile.open(source) as archive:
            for member in archive:
                if member.name == MANIFEST:
                    continue
                name = _safe_name(member.name)
                entry = expected.get(name.as_posix())
                if entry is None or not member.isfile():
                    raise BackupError(f"The backup holds {member.name!r}, which its manifest "
                                      "does not list.")
                handle = archive.extractfile(member)
                assert handle is not None
                staged_path = Path(work) / f"{len(staged)}"
                digest = hashlib.sha256()
                with staged_path.open("wb") as out:
                    while block := handle.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
                if digest.hexdigest() != entry["sha256"]:
                    raise BackupError(f"{member.name} does not match its checksum: the backup "
                                      "is damaged.")
                staged[name.as_posix()] = staged_path
        missing = set(expected) - set(staged)
        if missing:
            raise BackupError(f"The backup lacks {sorted(missing)[:5]}.")
        database_member = SQLITE_MEMBER if dialect == "sqlite" else PG_MEMBER
        if dialect == "sqlite":
            _check_sqlite(staged[database_member])
            target_db = settings.data_dir / "hortus.db"
            for leftover in (Path(f"{target_db}-wal"), Path(f"{target_db}-shm")):
                leftover.unlink(missing_ok=True)
            os.replace(staged[database_member], target_db)
        else:
            args, env = _postgres_target(settings.sqlalchemy_url, schema=False)
            _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
                  "--exit-on-error", *args, str(staged[database_member])], env)
        for member_name, path in staged.items():
            if member_name == database_member:
                continue
            destination = _destination(settings, PurePosixPath(member_name))
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, destination)
    engine = create_engine(settings.sqlalchemy_url)
    try:
        tables = row_counts(engine)
    finally:
        engine.dispose()
    if tables != manifest["tables"]:
        raise BackupError(f"The restored rows differ from the backup's: {tables} != "
                          f"{manifest['tables']}.")
    return BackupSummary(path=source, dialect=dialect, tables=tables,
                         files=len(manifest["files"]), bytes=source.stat().st_size)


def _check_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
    if verdict != "ok":
        raise BackupError(f"The backed-up database fails its integrity check: {verdict}.")
