"""Two ``hortus serve`` processes, separate data directories, one PostgreSQL: a photo stored
through one is served by the other.

The documented scale-out. With PostgreSQL the media backend is ``database`` by default, so the
two processes share every photo through the database alone. (Observation photos are not
covered: observations do not exist yet.)
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import requests
from media_support import Served, hortus, hortus_env
from tests.conftest import make_key

from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.media import open_backend
from hortus.media.store import photo_key


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_two_servers_on_one_postgresql_share_photos(postgres_settings: Settings,
                                                    shared_models_dir: Path,
                                                    shared_data: Path, tmp_path: Path):
    from hortus.vision.backbone import prepare_backbone

    prepare_backbone(shared_models_dir)  # converted once per test session
    prepare_database(postgres_settings, seed=True).dispose()  # migrated before both start
    key = make_key(postgres_settings)
    url = postgres_settings.sqlalchemy_url
    env = {"HORTUS_DATABASE_URL": url, "HORTUS_MODELS_DIR": str(shared_models_dir)}
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"

    # Reference photos of the packaged flowers project (daffodils), written by the first
    # machine's command line: they go to the shared store, not to its data directory.
    folder = tmp_path / "train" / "daffodil"
    folder.mkdir(parents=True)
    for photo in sorted((shared_data / "oxford17" / "daffodil").glob("*.jpg")):
        (folder / photo.name).symlink_to(photo)
    built = hortus(["models", "media", str(folder.parent), "--project", "flowers"],
                   hortus_env(first_dir, **env))
    assert built.returncode == 0, built.stdout + built.stderr
    assert "180 renditions written to the database media store" in " ".join(built.stdout.split())

    leaf = (shared_data / "ibean" / "bean_rust" / "bean_rust_0222.jpg").read_bytes()
    daffodil = sorted((shared_data / "oxford17" / "daffodil").glob("*.jpg"))[-1].read_bytes()
    with (Served(hortus_env(first_dir, **env), tmp_path) as first,
          Served(hortus_env(second_dir, **env), tmp_path) as second):
        # A diagnosis through the first process stores its picture ...
        analysed = requests.post(f"{first.url}/v1/image_analysis",
                                 headers={"Api-Key": key.api_key},
                                 files={"picture": ("leaf.jpg", leaf, "image/jpeg")}, timeout=180)
        assert analysed.status_code == 200, analysed.text
        pic_id = analysed.json()["pic_id"]
        # ... and the second serves it, and the stored answer.
        picture = requests.get(f"{second.url}/v1/image_analysis/{pic_id}/picture",
                               headers={"Api-Key": key.api_key}, timeout=30)
        assert picture.status_code == 200, picture.text
        assert picture.content == leaf
        assert picture.headers["etag"] == f'"{photo_key(leaf)}"'
        stored = requests.get(f"{second.url}/v1/image_analysis/{pic_id}",
                              headers={"Api-Key": key.api_key}, timeout=30)
        assert stored.status_code == 200 and stored.json()["pic_id"] == pic_id

        # A reference image listed by the first process is served by the second.
        identified = requests.post(
            f"{first.url}/v2/identify/flowers",
            params={"api-key": key.api_key, "include-related-images": "true",
                    "nb-results": "1"},
            files=[("images", ("daffodil.jpg", daffodil, "image/jpeg"))],
            data={"organs": "flower"}, timeout=180)
        assert identified.status_code == 200, identified.text
        best = identified.json()["results"][0]
        assert best["species"]["scientificNameWithoutAuthor"] == "Narcissus pseudonarcissus"
        assert best["images"], "no related image was listed"
        for image in best["images"]:
            for size, link in image["url"].items():
                path = urlsplit(link).path
                assert link.startswith(first.url), link
                there = requests.get(f"{second.url}{path}", timeout=30)
                here = requests.get(link, timeout=30)
                assert there.status_code == 200, (size, there.text)
                assert there.content == here.content and there.content[:3] == b"\xff\xd8\xff"
                assert there.headers["etag"] == here.headers["etag"]

    # Neither process kept a photo on its own disk: everything is in the database.
    assert _files_under(first_dir / "media") == [] and _files_under(second_dir / "media") == []
    database = prepare_database(postgres_settings)
    try:
        store = open_backend(postgres_settings, "database", database)
        assert store.open(photo_key(leaf)).read() == leaf
        assert sum(1 for _ in store.iter_keys()) == 1 + 3 * 60  # the picture, 60 x o/m/s
    finally:
        database.dispose()
