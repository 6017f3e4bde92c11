"""``images.thumb`` of the plant database: a licensed reference photo that the server serves.

The plants a packaged model class names (a weed species, a crop) get a thumbnail of one of
that class's reference photos whose every size is stored, as an absolute URL on the address
the client called, fetchable without a key; the same in list, search and get. The step that
sets them (run at every start) prefers a healthy leaf, never uses an unlicensed photo, clears
thumbnails no longer shipped, and leaves an imported URL alone. Checked with media written
for chosen reference photos (on SQLite and PostgreSQL), and with the packaged thumbnails of a
fresh install.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import update
from tests.conftest import make_key, permapeople_headers

from hortus.app import create_app
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.identify.illustrations import illustrate_plants
from hortus.media.factory import PACKAGED_MEDIA_DIR, open_backend, resolve_backend
from hortus.media.local import LocalMediaStore
from hortus.plants.models import Plant
from hortus.plants.transfer import export_record
from hortus.vision.artifacts import find_active_projects
from hortus.vision.engine import PACKAGED_PROJECTS_DIR
from hortus.vision.index import ReferenceIndex
from hortus.vision.media import reference_media_key, write_reference_media

BASE = "http://testserver"
ROUTE = "/v2/media/references"


def _references(project: str, label: str) -> list[str]:
    """sha256 of the reference photos of one class of a packaged project, none of which the
    package ships thumbnails of (so a thumbnail of them can only come from this test)."""
    version_dir = find_active_projects([PACKAGED_PROJECTS_DIR])[project]
    labels = json.loads((version_dir / "labels.json").read_text(encoding="utf-8"))
    index_of = {c["label"]: int(c["index"]) for c in labels}
    index = ReferenceIndex.load(version_dir / "index.npz")
    shipped = set(LocalMediaStore(PACKAGED_MEDIA_DIR, read_only=True).iter_keys())
    shas = [str(index.sha256[r]) for r in np.flatnonzero(index.labels == index_of[label])]
    return [s for s in shas if reference_media_key(s, "s") not in shipped]


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def _plant(client: TestClient, headers: dict[str, str], name: str) -> dict:
    """The plant of that scientific name, as search finds it (exact name first)."""
    found = client.get("/api/search", params={"q": name}, headers=headers).json()["plants"][0]
    assert found["scientific_name"] == name
    return found


def test_named_plants_get_a_served_licensed_thumbnail(any_settings: Settings):
    settings = any_settings
    lantana = _references("weeds", "lantana")[:2]
    healthy_tomato = _references("tomato", "healthy")[0]
    recognised_tomato = _references("crops", "tomato")[0]
    daffodil = _references("flowers", "daffodil")[0]  # Oxford-17: no licence stated
    with TestClient(create_app(settings)) as client:  # started: the packaged photos are set
        headers = permapeople_headers(make_key(settings))
        database = prepare_database(settings)
        # The server's own store, without the packaged layer: the photos are the test's.
        media = open_backend(settings, resolve_backend(settings), database)
        try:
            for sha in [*lantana, healthy_tomato, recognised_tomato, daffodil]:
                assert write_reference_media(media, sha, _jpeg((40, 160, 60))) == 3
            before = _plant(client, headers, "Lantana camara")
            with database.write() as session:
                # As a former version shipped it: a photo no class names any more.
                session.execute(update(Plant).where(Plant.scientific_name == "Zea mays")
                                .values(image_thumb=f"{ROUTE}/{'ab' * 32}/s"))
                # As an import set it: someone else's photo, not Hortus's to manage.
                session.execute(update(Plant).where(Plant.scientific_name == "Solanum tuberosum")
                                .values(image_thumb="https://example.org/potato.jpg"))
            with database.write() as session:
                assert illustrate_plants(session, media=media) >= 3
            with database.write() as session:
                assert illustrate_plants(session, media=media) == 0  # nothing left to do

            plant = _plant(client, headers, "Lantana camara")
            thumb = plant["images"]["thumb"]
            sha = thumb.removeprefix(f"{BASE}{ROUTE}/").removesuffix("/s")
            assert sha in lantana and thumb == f"{BASE}{ROUTE}/{sha}/s"
            assert plant["images"]["title"] == ""
            # Not an edit: the same version, no revision; but updated_at moves (sync clients).
            assert plant["version"] == before["version"]
            assert plant["updated_at"] > before["updated_at"]
            # Fetchable by anyone who has the plant object: no key.
            photo = client.get(thumb.removeprefix(BASE))
            assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
            assert Image.open(io.BytesIO(photo.content)).size[0] <= 192  # the 192 px size
            # The same thumbnail in get and list as in search.
            got = client.get(f"/api/plants/{plant['id']}", headers=headers).json()
            listed = client.get("/api/plants", headers=headers,
                                params={"last_id": plant["id"] - 1, "per_page": 1}).json()
            assert got["images"] == listed["plants"][0]["images"] == plant["images"]
            # On whatever address the client called (behind a proxy: its Host).
            proxied = client.get(f"/api/plants/{plant['id']}",
                                 headers={**headers, "Host": "plants.example.org"}).json()
            assert proxied["images"]["thumb"] == f"http://plants.example.org{ROUTE}/{sha}/s"

            # A healthy leaf of the crop's own diagnosis model before the crop recogniser's.
            assert _plant(client, headers, "Solanum lycopersicum")["images"]["thumb"] == (
                f"{BASE}{ROUTE}/{healthy_tomato}/s")
            # Never an unlicensed photo, whatever media is stored.
            assert _plant(client, headers, "Narcissus pseudonarcissus")["images"]["thumb"] == ""
            # A thumbnail no class names any more is cleared; an imported one is kept as is.
            assert _plant(client, headers, "Zea mays")["images"]["thumb"] == ""
            assert _plant(client, headers, "Solanum tuberosum")["images"] == {
                "thumb": "https://example.org/potato.jpg", "title": ""}
            # A variety is a cultivar: the species' photo is not its photo.
            varieties = client.get("/api/search", headers=headers,
                                   params={"q": "Solanum lycopersicum", "type": "Variety"})
            assert all(v["images"]["thumb"] == "" for v in varieties.json()["plants"])

            # The credit is kept beside the plant (the plant object has no place for it).
            with database.read() as session:
                record = export_record(session, session.get(Plant, plant["id"]))
            assert record["images"]["thumb"] == f"{ROUTE}/{sha}/s"  # stored as a server path
            assert record["image_credits"] == [{"url": f"{ROUTE}/{sha}/s",
                                                "author": "Olsen et al. (DeepWeeds)",
                                                "licence": "CC BY 4.0"}]
        finally:
            media.close()
            database.dispose()


@pytest.mark.skipif(not (PACKAGED_MEDIA_DIR / "references").is_dir(),
                    reason="the packaged reference thumbnails are not built")
def test_a_fresh_install_has_thumbnails_and_none_is_a_dead_link(settings, client):
    headers = permapeople_headers(make_key(settings))
    thumbs: dict[str, str] = {}
    last_id, more = 0, True
    while more:
        page = client.get("/api/plants", headers=headers,
                          params={"last_id": last_id, "per_page": 100}).json()
        thumbs.update({p["scientific_name"]: p["images"]["thumb"] for p in page["plants"]})
        last_id, more = page["pagination"]["last_id"], page["pagination"]["has_more"]
    shown = {name: url for name, url in thumbs.items() if url}
    for name, url in shown.items():
        assert url.startswith(f"{BASE}{ROUTE}/"), (name, url)
        served = client.get(url.removeprefix(BASE))
        assert served.status_code == 200, (name, url)
    for weed in ("Lantana camara", "Parthenium hysterophorus", "Vachellia nilotica",
                 "Stachytarpheta"):
        assert weed in shown
    for crop in ("Solanum lycopersicum", "Zea mays", "Phaseolus vulgaris", "Coffea arabica",
                 "Vaccinium corymbosum", "Citrus × sinensis"):
        assert crop in shown
    assert not {"Narcissus pseudonarcissus", "Helianthus annuus"} & set(shown)  # Oxford-17
