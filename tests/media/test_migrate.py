"""``hortus media migrate``: a populated local store into PostgreSQL and back, every sha256
verified, resumable, refusing corrupt photos — the real command in its own process."""

from __future__ import annotations

import re
import uuid

from media_support import hortus, hortus_env

from hortus.accounts import service as accounts
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.diagnose.models import Analysis
from hortus.media import open_backend
from hortus.media.local import LocalMediaStore
from hortus.media.store import is_content_key, photo_key
from hortus.vision.media import write_reference_media


def _count(output: str, label: str) -> int:
    match = re.search(rf"{label}\s*│?\s*(\d+)", output)
    assert match, output
    return int(match.group(1))


def _held(store) -> dict[str, bytes]:
    return {key: store.open(key).read() for key in store.iter_keys()}


def test_local_to_postgresql_and_back(postgres_settings: Settings, photos, tmp_path):
    url = postgres_settings.sqlalchemy_url
    first = postgres_settings.data_dir
    database = prepare_database(postgres_settings)
    try:
        # A local store as a server left it: photos, reference renditions, and an analysis
        # picture from before migration 0005 (a file named by pic_id, no sha256 recorded).
        local = LocalMediaStore(postgres_settings.media_dir)
        for photo in photos[:3]:
            local.put(photo_key(photo), photo)
        for photo in photos[3:]:
            assert write_reference_media(local, photo_key(photo), photo) == 3
        legacy = postgres_settings.media_dir / "analyses" / "old.jpg"
        legacy.parent.mkdir(parents=True)
        legacy.write_bytes(photos[0] + b"\x00")  # a picture no other object shares
        pic_id = str(uuid.uuid4())
        with database.write() as session:
            account = accounts.get_or_create_account(session=session, email="a@example.org")
            session.flush()
            session.add(Analysis(id=pic_id, account_id=account.id, picture_path="analyses/old.jpg",
                                 picture_format="JPEG", picture_bytes=len(photos[0]) + 1,
                                 width=500, height=500, answer={}, metadata_raw={}))
        original = _held(local)
        assert len(original) == 3 + 3 * len(photos[3:])

        env = hortus_env(first, HORTUS_DATABASE_URL=url, HORTUS_MEDIA_BACKEND="local")
        shown = hortus(["media", "info"], env)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert f"backend: local ({len(original)} objects)" in shown.stdout
        done = hortus(["media", "migrate", "--to", "database"], env)
        assert done.returncode == 0, done.stdout + done.stderr
        total = len(original) + 1  # and the adopted picture
        assert _count(done.stdout, "sha256 verified") == total
        assert _count(done.stdout, "failed") == 0
        in_database = open_backend(postgres_settings, "database", database)
        held = _held(in_database)
        adopted = photo_key(photos[0] + b"\x00")
        assert held == {**original, adopted: photos[0] + b"\x00"}
        with database.read() as session:
            assert session.get(Analysis, pic_id).picture_sha256 == adopted
        for key in held:  # the database recorded each object's sha256 as it was written
            info = in_database.stat(key)
            assert info.sha256 == photo_key(held[key])
            assert not is_content_key(key) or info.sha256 == key

        # Interrupted half-way (two objects missing): a second run copies only those.
        lost = sorted(held)[:2]
        for key in lost:
            in_database.delete(key)
        again = hortus(["media", "migrate", "--to", "database"], env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert _count(again.stdout, "copied") == 2
        assert _count(again.stdout, "already there") == total - 2
        assert _count(again.stdout, "sha256 verified") == total
        assert _held(in_database) == held

        # And back, onto another machine's empty folder, from PostgreSQL.
        second = tmp_path / "second"
        back = hortus(["media", "migrate", "--from", "database", "--to", "local"],
                      hortus_env(second, HORTUS_DATABASE_URL=url))
        assert back.returncode == 0, back.stdout + back.stderr
        assert _count(back.stdout, "sha256 verified") == total
        returned = LocalMediaStore(second / "media")
        assert _held(returned) == held

        # A photo whose bytes no longer match its key is reported, never copied.
        victim = photo_key(photos[1])
        returned.path(victim).write_bytes(photos[2])
        in_database.delete(victim)
        refused = hortus(["media", "migrate", "--from", "local", "--to", "database"],
                         hortus_env(second, HORTUS_DATABASE_URL=url))
        assert refused.returncode == 1
        assert _count(refused.stdout, "failed") == 1 and victim in refused.stdout
        assert in_database.stat(victim) is None
        assert set(_held(in_database)) == set(held) - {victim}
    finally:
        database.dispose()


def test_migrate_refuses_the_same_backend_and_unknown_ones(settings: Settings, tmp_path):
    env = hortus_env(settings.data_dir)
    same = hortus(["media", "migrate", "--to", "local"], env)
    assert same.returncode != 0 and "already the source" in same.stdout + same.stderr
    unknown = hortus(["media", "migrate", "--to", "ftp"], env)
    assert unknown.returncode != 0 and "ftp" in unknown.stdout + unknown.stderr
    s3 = hortus(["media", "migrate", "--to", "s3"], env)
    assert s3.returncode == 1 and "HORTUS_MEDIA_S3_BUCKET" in s3.stdout
