"""Related images (``include-related-images=true``): the species' reference photos nearest the
query among those whose o/m/s JPEGs are stored, with their credits, over HTTP.

The trained ``testflora`` has media for every reference photo; each test here serves it with
the media of a chosen few only (a packaged project ships 3 thumbnails of its 60-120 references
per class), so the nearest photos without media must be passed over, not answered as nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from identify_support import PROJECT, TrainedFlora, flora_settings, noise_jpeg
from tests.conftest import make_key

from hortus.app import create_app
from hortus.config import Settings
from hortus.media.factory import PACKAGED_MEDIA_DIR
from hortus.vision.artifacts import find_active_projects
from hortus.vision.engine import PACKAGED_PROJECTS_DIR
from hortus.vision.index import ReferenceIndex
from hortus.vision.media import MEDIA_SIZES, reference_media_path


def _class_references(projects_dir: Path, project: str, label: str) -> list[str]:
    """The sha256 of every reference photo of one class of a project's active version."""
    version_dir = find_active_projects([projects_dir])[project]
    labels = json.loads((version_dir / "labels.json").read_text(encoding="utf-8"))
    index_of = {c["label"]: int(c["index"]) for c in labels}
    index = ReferenceIndex.load(version_dir / "index.npz")
    return [str(index.sha256[row]) for row in np.flatnonzero(index.labels == index_of[label])]


def _serve_media_of(settings: Settings, flora: TrainedFlora, shas: Iterable[str]) -> Settings:
    """Settings on the trained flora whose media folder holds the renditions of ``shas`` only."""
    media = settings.data_dir / "media"
    shutil.rmtree(media, ignore_errors=True)
    for sha in shas:
        for size in MEDIA_SIZES:
            target = reference_media_path(media, sha, size)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(reference_media_path(flora.media_dir, sha, size), target)
    media.mkdir(exist_ok=True)
    return flora_settings(settings, flora)


def _related(settings: Settings, flora: TrainedFlora) -> list[dict]:
    """The related images of the best result for a daffodil photo the flora never saw."""
    with TestClient(create_app(settings)) as client:
        key = make_key(settings)
        photo = flora.photo("daffodil")
        response = client.post(
            f"/v2/identify/{PROJECT}",
            params={"api-key": key.api_key, "include-related-images": "true",
                    "nb-results": "1"},
            files=[("images", (photo.name, photo.read_bytes(), "image/jpeg"))],
            data={"organs": ["flower"]})
        assert response.status_code == 200, response.text
        best = response.json()["results"][0]
        assert best["species"]["scientificNameWithoutAuthor"] == "Narcissus pseudonarcissus"
        for image in best["images"]:  # every size of every image is served, without a key
            for size in MEDIA_SIZES:
                served = client.get(image["url"][size].replace("http://testserver", ""))
                assert served.status_code == 200, image["url"][size]
                assert served.headers["content-type"] == "image/jpeg"
        return best["images"]


def _sha(image: dict) -> str:
    return image["url"]["o"].rsplit("/", 2)[-2]


def test_related_images_are_the_nearest_references_that_have_media(settings, flora):
    daffodils = _class_references(flora.models_dir / "projects", PROJECT, "daffodil")
    assert len(daffodils) >= 6
    # Every reference has media: the three nearest, with the credits the training recorded.
    every = _related(_serve_media_of(settings, flora, daffodils), flora)
    nearest = [_sha(i) for i in every]
    assert len(nearest) == 3 and set(nearest) <= set(daffodils)
    assert {(i["author"], i["license"], i["citation"], i["organ"]) for i in every} == {
        ("Nilsback & Zisserman", "research only", "Oxford 17 Category Flower Dataset",
         "flower")}
    # The three nearest lack media: the next three are answered instead of nothing.
    others = [s for s in daffodils if s not in nearest]
    passed_over = [_sha(i) for i in _related(_serve_media_of(settings, flora, others), flora)]
    assert len(passed_over) == 3 and not set(passed_over) & set(nearest)
    # Among the photos that have media, nearest first: the second and third nearest, then a
    # photo further away.
    far = others[-1]
    held = [nearest[2], far, nearest[1]]
    assert [_sha(i) for i in _related(_serve_media_of(settings, flora, held), flora)] == [
        nearest[1], nearest[2], far]
    # No photo of the class has media: no images (the key is there, the list empty).
    assert _related(_serve_media_of(settings, flora, []), flora) == []


@pytest.mark.skipif(not (PACKAGED_MEDIA_DIR / "references").is_dir(),
                    reason="the packaged reference thumbnails are not built")
def test_a_fresh_install_shows_related_images_of_every_weed_and_no_flower(settings, client):
    key = make_key(settings)
    answers = {}
    for project in ("weeds", "flowers"):
        response = client.post(
            f"/v2/identify/{project}",
            params={"api-key": key.api_key, "include-related-images": "true",
                    "no-reject": "true", "nb-results": "100"},
            files={"images": ("noise.jpg", noise_jpeg(5), "image/jpeg")})
        assert response.status_code == 200, response.text
        answers[project] = response.json()["results"]
    weeds = answers["weeds"]
    assert len(weeds) == 8
    shipped = set(_class_references(PACKAGED_PROJECTS_DIR, "weeds", "lantana"))
    for result in weeds:  # a few thumbnails per species, yet every species shows some
        assert 1 <= len(result["images"]) <= 3, result["species"]["scientificName"]
        for image in result["images"]:
            assert image["author"] and image["license"] == "CC BY 4.0"
            assert image["citation"].startswith("Olsen et al. 2019, DeepWeeds")
            served = client.get(image["url"]["s"].replace("http://testserver", ""))
            assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        if result["species"]["scientificNameWithoutAuthor"] == "Lantana camara":
            assert {_sha(i) for i in result["images"]} <= shipped  # the species' own photos
    # Oxford-17 states no licence: no flower photo is shipped, so none is shown.
    assert answers["flowers"] and all(r["images"] == [] for r in answers["flowers"])
