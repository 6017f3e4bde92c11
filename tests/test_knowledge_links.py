"""Every class of every packaged model that names a plant links to a full knowledge-base record.

A fresh install (the packaged models, the starter knowledge base) through the three APIs:
each species the identification projects can answer (flowers, weeds) carries the Hortus
``plant`` link in ``/v2/identify``, and each crop the crop recogniser can list in
``plant_net`` carries its ``plant_id`` in ``/v1/image_analysis`` and in the stored analysis;
each of those ids is a plant of ``/api/plants`` with that scientific name, a family, a genus
and names. Reject classes (``negative``, ``other``) and diseases name no plant and are left
out. Crop photos come from ``../shared/data`` (samples of each set; skipped when absent).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import make_key, permapeople_headers
from tests.identify.identify_support import noise_jpeg

from hortus.accounts.keys import NewKey
from hortus.plants.taxonomy import normalise_name
from hortus.vision.artifacts import find_active_projects
from hortus.vision.engine import PACKAGED_PROJECTS_DIR, REJECT_ROLE

# A healthy leaf of each crop the recogniser knows, from the shared photo sets.
CROP_PHOTOS = {
    "apple": "samples/plantvillage/apple__healthy", "bean": "ibean/healthy",
    "blackgram": "samples/blackgram/healthy",
    "blueberry": "samples/plantvillage/blueberry__healthy",
    "cherry": "samples/plantvillage/cherry__healthy", "chilli": "samples/chilli/healthy",
    "citrus": "samples/citrus_leaves/healthy", "coffee": "samples/coffee/healthy",
    "corn": "samples/plantvillage/corn__healthy", "grape": "samples/plantvillage/grape__healthy",
    "pepper": "samples/plantvillage/pepper__healthy",
    "potato": "samples/plantvillage/potato__healthy",
    "raspberry": "samples/plantvillage/raspberry__healthy",
    "strawberry": "samples/plantvillage/strawberry__healthy",
    "tomato": "samples/plantvillage/tomato__healthy",
}


def _plant_classes(project: str) -> dict[str, str]:
    """Folder -> scientific name of the classes of a packaged project (its active version)
    that name a plant: all but the reject classes."""
    version_dir = find_active_projects([PACKAGED_PROJECTS_DIR])[project]
    labels = json.loads((version_dir / "labels.json").read_text(encoding="utf-8"))
    return {c["label"]: c["name"] for c in labels
            if (c.get("extra") or {}).get("role") != REJECT_ROLE}


def _assert_full_record(client: TestClient, key: NewKey, plant_id: int, name: str) -> None:
    """``/api/plants/{plant_id}`` is the plant ``name`` with family, genus and names."""
    response = client.get(f"/api/plants/{plant_id}", headers=permapeople_headers(key))
    assert response.status_code == 200, (name, response.text)
    plant = response.json()
    assert normalise_name(plant["scientific_name"]) == normalise_name(name)
    data = {pair["key"]: pair["value"] for pair in plant["data"]}
    assert data.get("Family") and data.get("Genus"), (name, data)
    assert plant["name"] and plant["name"] != plant["scientific_name"], name


@pytest.mark.parametrize("project", ["flowers", "weeds"])
def test_every_species_an_identification_project_answers_links_to_its_plant(
        settings, client, project):
    key = make_key(settings)
    species = set(_plant_classes(project).values())
    # A photo of nothing, not refused, ranks every species of the project.
    response = client.post(f"/v2/identify/{project}",
                           params={"api-key": key.api_key, "no-reject": "true",
                                   "nb-results": "100"},
                           files={"images": ("noise.jpg", noise_jpeg(3), "image/jpeg")})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    answered = {r["species"]["scientificNameWithoutAuthor"]: r for r in results}
    assert {normalise_name(n) for n in answered} == {normalise_name(n) for n in species}
    for name, result in answered.items():
        assert result["species"]["family"]["scientificNameWithoutAuthor"], name
        assert result["species"]["genus"]["scientificNameWithoutAuthor"], name
        assert result["species"]["commonNames"], name
        link = result["plant"]  # Hortus extension: the knowledge-base record
        assert link["url"] == f"http://testserver/api/plants/{link['id']}"
        _assert_full_record(client, key, link["id"], name)


def test_every_crop_the_recogniser_lists_links_to_its_plant(settings, client, shared_data):
    key = make_key(settings)
    crops = _plant_classes("crops")
    assert set(crops) == set(CROP_PHOTOS)  # a new crop needs a photo here
    for crop, name in crops.items():
        folder = shared_data / CROP_PHOTOS[crop]
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".png"})
        entry = pic_id = None
        for photo in photos[:5]:  # the first photo whose answer lists the crop
            answer = _analyse(client, key, photo)
            entry = next((e for e in answer["plant_net"] if e["name"] == crop.upper()), None)
            if entry is not None:
                pic_id = answer["pic_id"]
                break
        assert entry is not None and pic_id is not None, f"no photo of {crop} recognised"
        assert isinstance(entry["plant_id"], int), entry
        _assert_full_record(client, key, entry["plant_id"], name)
        stored = client.get(f"/v1/image_analysis/{pic_id}", headers={"Api-Key": key.api_key})
        assert entry in stored.json()["plant_net"]  # the stored analysis links the same plant


def test_a_photo_of_no_crop_lists_no_plant(settings, client):
    key = make_key(settings)
    answer = client.post("/v1/image_analysis", headers={"Api-Key": key.api_key},
                         files={"picture": ("noise.jpg", noise_jpeg(4), "image/jpeg")}).json()
    assert answer["plant_net"] == [] and answer["image_analysis"] == []


def _analyse(client: TestClient, key: NewKey, photo: Path) -> dict:
    response = client.post("/v1/image_analysis", headers={"Api-Key": key.api_key},
                           files={"picture": (photo.name, photo.read_bytes(), "image/jpeg")})
    assert response.status_code == 200, response.text
    return response.json()
