"""Every backend keeps the same promises, on real servers with real photos.

Content-addressed keys (the same photo stored once), write-once objects, integrity checked on
the way in, byte ranges, streaming in chunks, listing, deleting, and concurrent writers of the
same photo.
"""

from __future__ import annotations

import hashlib
import threading

import pytest

from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.media import open_backend, open_media_store
from hortus.media.local import LocalMediaStore
from hortus.media.store import (
    CHUNK_BYTES,
    ByteRange,
    MediaIntegrityError,
    MediaKeyError,
    RangeNotSatisfiable,
    photo_key,
    rendition_key,
)


def test_a_photo_is_stored_once_under_its_sha256(any_store, photos):
    for photo in photos:
        key = photo_key(photo)
        assert key == hashlib.sha256(photo).hexdigest()
        assert any_store.put(key, photo) is True
        assert any_store.put(key, photo) is False  # the same photo again: kept once
        info = any_store.stat(key)
        assert (info.key, info.size, info.content_type) == (key, len(photo), "image/jpeg")
        assert info.sha256 in (None, key)  # the local folder records none
        assert any_store.open(key).read() == photo
    keys = {photo_key(p) for p in photos}
    assert set(any_store.iter_keys()) == keys
    assert any_store.existing([*keys, "0" * 64]) == keys


def test_renditions_are_write_once(any_store, photos):
    key = rendition_key(photo_key(photos[0]), "m")
    assert any_store.put(key, photos[1], content_type="image/jpeg") is True
    assert any_store.put(key, photos[2], content_type="image/jpeg") is False
    assert any_store.open(key).read() == photos[1]  # the first write stands
    assert any_store.stat(key).content_type == "image/jpeg"
    assert key in set(any_store.iter_keys())


def test_bytes_that_do_not_hash_to_their_key_are_refused(any_store, photos):
    wrong = photo_key(photos[0])
    with pytest.raises(MediaIntegrityError):
        any_store.put(wrong, photos[1])
    assert any_store.stat(wrong) is None and list(any_store.iter_keys()) == []
    for bad in ("../etc/passwd", "A" * 64, "0" * 63, photo_key(photos[0]) + "_../x"):
        with pytest.raises(MediaKeyError):
            any_store.stat(bad)


def test_large_objects_stream_in_chunks_and_ranges(any_store, photos):
    big = b"".join(photos) * 3  # over a megabyte, several chunks
    assert len(big) > 3 * CHUNK_BYTES
    key = photo_key(big)
    # Given as a stream of odd-sized pieces, as a migration hands it over.
    any_store.put(key, (big[i:i + 100_003] for i in range(0, len(big), 100_003)),
                  content_type="image/jpeg")
    body = any_store.open(key)
    pieces = list(body)
    assert b"".join(pieces) == big
    assert all(len(p) <= CHUNK_BYTES for p in pieces) and len(pieces) >= 4
    size = len(big)
    for asked, first, end in [
        (ByteRange(first=0, last=0), 0, 1),
        (ByteRange(first=CHUNK_BYTES - 5, last=CHUNK_BYTES + 5), CHUNK_BYTES - 5,
         CHUNK_BYTES + 6),
        (ByteRange(first=size - 10), size - 10, size),
        (ByteRange(suffix=700_000), size - 700_000, size),
        (ByteRange(suffix=size + 5), 0, size),
        (ByteRange(first=3, last=size + 100), 3, size),
    ]:
        opened = any_store.open(key, asked)
        assert (opened.start, opened.end, opened.info.size) == (first, end, size), asked
        assert opened.read() == big[first:end], asked
    with pytest.raises(RangeNotSatisfiable):
        any_store.open(key, ByteRange(first=size))
    with pytest.raises(RangeNotSatisfiable):
        any_store.open(key, ByteRange(suffix=0))


def test_missing_and_deleted_objects(any_store, photos):
    key = photo_key(photos[0])
    assert any_store.stat(key) is None and any_store.open(key) is None
    assert any_store.delete(key) is False
    any_store.put(key, photos[0])
    assert any_store.delete(key) is True
    assert any_store.stat(key) is None and any_store.open(key) is None
    assert list(any_store.iter_keys()) == []


def test_concurrent_writers_of_one_photo_store_it_once(any_store, photos):
    """Eight threads (each with its own round trips) put the same big photo at once."""
    big = b"".join(photos) * 2
    key = photo_key(big)
    results: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def write() -> None:
        start.wait()
        try:
            results.append(any_store.put(key, big))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert results.count(True) >= 1 and len(results) == 8
    if any_store.backend != "s3":  # S3's HEAD-then-PUT may let two identical writes both land
        assert results.count(True) == 1
    assert any_store.open(key).read() == big and list(any_store.iter_keys()) == [key]


def test_database_rows_are_chunks_of_256_kib(postgres_settings: Settings, photos):
    """On PostgreSQL: one row per 256 KiB (a 200 KB photo is one row), stored uncompressed."""
    from sqlalchemy import text

    database = prepare_database(postgres_settings)
    try:
        store = open_backend(postgres_settings, "database", database)
        big = b"".join(photos) * 2
        store.put(photo_key(big), big)
        store.put(photo_key(photos[0]), photos[0])
        with database.engine.connect() as connection:
            sizes = connection.execute(text(
                "SELECT key, seq, length(data) FROM media_chunks ORDER BY key, seq")).all()
            storage = connection.execute(text(
                "SELECT attstorage FROM pg_attribute WHERE attrelid = 'media_chunks'::regclass "
                "AND attname = 'data'")).scalar()
        by_key: dict[str, list[int]] = {}
        for key, _, length in sizes:
            by_key.setdefault(key, []).append(length)
        assert by_key[photo_key(photos[0])] == [len(photos[0])]
        chunks = by_key[photo_key(big)]
        assert chunks[:-1] == [CHUNK_BYTES] * (len(chunks) - 1) and sum(chunks) == len(big)
        assert storage == "e"  # EXTERNAL: out of line, not compressed
    finally:
        database.dispose()


def test_layers_serve_packaged_and_pre_switch_photos_read_only(postgres_settings: Settings,
                                                                 photos, tmp_path):
    """The database store reads through to the packaged folder and this machine's old media
    folder; writes go to the database only."""
    packaged = LocalMediaStore(tmp_path / "packaged")
    thumbnail = rendition_key(photo_key(photos[0]), "s")
    packaged.put(thumbnail, photos[0])
    postgres_settings.ensure_dirs()
    old = LocalMediaStore(postgres_settings.media_dir)
    old.put(photo_key(photos[1]), photos[1])
    database = prepare_database(postgres_settings)
    try:
        store = open_media_store(postgres_settings, database, packaged_dir=tmp_path / "packaged")
        assert store.backend == "database"
        assert store.open(thumbnail).read() == photos[0]
        assert store.open(photo_key(photos[1])).read() == photos[1]
        assert store.existing([thumbnail, photo_key(photos[1]), photo_key(photos[2])]) == {
            thumbnail, photo_key(photos[1])}
        assert list(store.iter_keys()) == []  # the layers are not the store's own
        assert store.put(photo_key(photos[2]), photos[2]) is True
        assert list(store.iter_keys()) == [photo_key(photos[2])]
        assert not old.path(photo_key(photos[2])).exists()
        with pytest.raises(PermissionError):
            LocalMediaStore(tmp_path / "packaged", read_only=True).put(
                photo_key(photos[3]), photos[3])
    finally:
        database.dispose()


def test_auto_is_database_on_postgresql_and_local_on_sqlite(settings, postgres_settings):
    from hortus.media import resolve_backend

    assert resolve_backend(settings) == "local"
    assert resolve_backend(postgres_settings) == "database"
    assert resolve_backend(settings, "database") == "database"
    with pytest.raises(ValueError):
        resolve_backend(settings, "ftp")
