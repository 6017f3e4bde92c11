"""The store a process uses, chosen by ``HORTUS_MEDIA_BACKEND``, with its read-only layers.

Reads look in the configured store first, then in read-only folders: the photos packaged
inside Hortus (reference thumbnails of packaged projects, served by every process), and — when
the store is not the local folder — this machine's ``data_dir/media`` as it was before the
switch, so nothing disappears between an upgrade and ``hortus media migrate``. Writes go to the
configured store only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from hortus.config import Settings
from hortus.db import Database
from hortus.media.local import LocalMediaStore
from hortus.media.store import ByteRange, MediaBody, MediaInfo, MediaStore

BACKENDS = ("local", "database", "s3")
PACKAGED_MEDIA_DIR = Path(__file__).resolve().parents[1] / "vision" / "packaged" / "media"


def resolve_backend(settings: Settings, backend: str | None = None) -> str:
    """The backend a name (default: the setting) stands for: ``auto`` is ``database`` on
    PostgreSQL and ``local`` on SQLite."""
    chosen = backend or settings.media_backend
    if chosen == "auto":
        return "database" if settings.sqlalchemy_url.startswith("postgresql") else "local"
    if chosen not in BACKENDS:
        raise ValueError(f"unknown media backend {chosen!r}: one of {', '.join(BACKENDS)}")
    return chosen


def open_backend(settings: Settings, backend: str, database: Database | None = None) -> MediaStore:
    """One backend alone, without read-only layers (for migration and tests)."""
    if backend == "local":
        return LocalMediaStore(settings.media_dir)
    if backend == "database":
        if database is None:
            raise ValueError("the database media backend needs the database")
        from hortus.media.database import DatabaseMediaStore

        return DatabaseMediaStore(database)
    if backend == "s3":
        if not settings.media_s3_bucket:
            raise ValueError("HORTUS_MEDIA_S3_BUCKET is required by the s3 media backend")
        from hortus.media.s3 import S3MediaStore

        secret = settings.media_s3_secret_access_key
        return S3MediaStore(bucket=settings.media_s3_bucket, prefix=settings.media_s3_prefix,
                            endpoint_url=settings.media_s3_endpoint_url,
                            region=settings.media_s3_region,
                            access_key_id=settings.media_s3_access_key_id,
                            secret_access_key=secret.get_secret_value() if secret else None)
    raise ValueError(f"unknown media backend {backend!r}: one of {', '.join(BACKENDS)}")


class LayeredMediaStore:
    """A store whose reads fall through to read-only layers; writes go to ``primary``."""

    def __init__(self, primary: MediaStore, layers: Sequence[MediaStore] = ()) -> None:
        self.primary = primary
        self.layers = list(layers)
        self.backend = primary.backend

    def stat(self, key: str) -> MediaInfo | None:
        for store in (self.primary, *self.layers):
            info = store.stat(key)
            if info is not None:
                return info
        return None

    def existing(self, keys: Iterable[str]) -> set[str]:
        # The read-only layers first: they answer from a listing made once (the packaged
        # thumbnails), so the configured store is asked only about what they lack.
        wanted = set(keys)
        found: set[str] = set()
        for store in (*self.layers, self.primary):
            if found == wanted:
                break
            found |= store.existing(wanted - found)
        return found

    def put(self, key: str, data: bytes | Iterable[bytes], *,
            content_type: str | None = None) -> bool:
        return self.primary.put(key, data, content_type=content_type)

    def open(self, key: str, byte_range: ByteRange | None = None) -> MediaBody | None:
        for store in (self.primary, *self.layers):
            body = store.open(key, byte_range)
            if body is not None:
                return body
        return None

    def delete(self, key: str) -> bool:
        return self.primary.delete(key)

    def iter_keys(self) -> Iterator[str]:
        return self.primary.iter_keys()

    def close(self) -> None:
        self.primary.close()


def open_media_store(settings: Settings, database: Database | None = None, *,
                     packaged_dir: Path = PACKAGED_MEDIA_DIR) -> LayeredMediaStore:
    """The store of this process: the configured backend, then the read-only layers."""
    backend = resolve_backend(settings)
    primary = open_backend(settings, backend, database)
    layers: list[MediaStore] = []
    if backend != "local" and settings.media_dir.is_dir():
        layers.append(LocalMediaStore(settings.media_dir, read_only=True))
    if packaged_dir.is_dir():
        layers.append(LocalMediaStore(packaged_dir, read_only=True))
    return LayeredMediaStore(primary, layers)
