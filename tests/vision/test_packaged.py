"""The default models shipped in the package: integrity, size, and behaviour on real photos."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hortus.vision.artifacts import find_active_projects, load_project
from hortus.vision.engine import PACKAGED_DIR, PACKAGED_PROJECTS_DIR

SHARED_DATA = Path(
    os.environ.get("HORTUS_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)
ALLOWED = {"manifest.json", "head.npz", "index.npz", "labels.json", "metrics.json", "ACTIVE"}


def test_packaged_projects_load_and_stay_small():
    found = find_active_projects([PACKAGED_PROJECTS_DIR])
    crops = {"apple", "bean", "blackgram", "cherry", "chilli", "citrus", "coffee", "corn",
             "grape", "pepper", "potato", "strawberry", "tomato"}
    assert set(found) == {"flowers", "weeds", "crops"} | crops
    flowers, bean = load_project(found["flowers"]), load_project(found["bean"])
    assert flowers.task == "identify" and bean.task == "diagnose"
    assert load_project(found["weeds"]).task == "identify"
    recogniser = load_project(found["crops"])
    assert recogniser.task == "crop"
    # The recogniser's classes are the crop models (and blueberry and raspberry, which have
    # healthy photos only) plus its reject class.
    assert {c.label for c in recogniser.classes} == crops | {"blueberry", "raspberry", "other"}
    assert all(load_project(found[name]).task == "diagnose" for name in crops)
    names = {c.label: c.name for c in flowers.classes}
    assert names["pansy"] == "Viola × wittrockiana" and names["tulip"] == "Tulipa gesneriana"
    assert len(flowers.classes) == 17
    assert {c.label: c.name for c in bean.classes} == {
        "angular_leaf_spot": "PHAIGR",
        "bean_rust": "UROMAP",
        "healthy": "healthy",
    }
    assert bean.classes[0].extra["crop"] == "Phaseolus vulgaris"
    files = [p for p in PACKAGED_PROJECTS_DIR.rglob("*") if p.is_file()]
    assert {p.name for p in files} <= ALLOWED  # never photos
    # Every packaged model together stays well under the ~40 MB budget (issue 19).
    assert sum(p.stat().st_size for p in files) < 20 * 1024 * 1024
    assert (PACKAGED_DIR / "MODEL_CARD.md").is_file()
    for version_dir in found.values():
        manifest = json.loads((version_dir / "manifest.json").read_text())
        assert manifest["backbone"]["name"] and len(manifest["backbone"]["sha256"]) == 64


def _png(array: np.ndarray) -> bytes:
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(array[..., :3].astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def engine(tmp_path_factory, backbone_dir):
    from hortus.vision.engine import VisionEngine

    return VisionEngine.load(
        tmp_path_factory.mktemp("models"), threads=2, backbone_dir=backbone_dir
    )


def test_non_plant_photos_are_rejected(engine):
    from skimage import data as skdata

    photos = [
        skdata.astronaut(),
        skdata.chelsea(),
        skdata.coffee(),
        skdata.rocket(),
        skdata.camera(),
    ]
    embeddings = engine.embed([engine.decode(_png(p)) for p in photos]).embeddings
    for name in ("flowers", "bean"):
        prediction = engine.project(name).predict(embeddings)
        assert prediction.rejected.all(), (name, prediction.known_scores, prediction.threshold)


@pytest.mark.skipif(not (SHARED_DATA / "oxford17").is_dir(), reason="shared photo data absent")
def test_real_photos_are_accepted_and_recognised(engine):
    cases = [
        ("flowers", "oxford17", "pansy"),
        ("flowers", "oxford17", "snowdrop"),
        ("bean", "ibean", "bean_rust"),
    ]
    for project_name, dataset, label in cases:
        project = engine.project(project_name)
        paths = sorted((SHARED_DATA / dataset / label).iterdir())[:4]
        embeddings = engine.embed([engine.decode(p.read_bytes()) for p in paths]).embeddings
        prediction = project.predict(embeddings)
        index = [c.label for c in project.classes].index(label)
        assert (prediction.probabilities.argmax(axis=1) == index).mean() >= 0.75
        assert not prediction.rejected.any()
        refs = project.similar_references(embeddings[0], index, k=2)
        assert len(refs) == 2 and refs[0].label == label and refs[0].licence
    # A bean leaf is not a flower, and a flower is not a bean leaf.
    leaf = (SHARED_DATA / "ibean" / "healthy").iterdir().__next__()
    flower = (SHARED_DATA / "oxford17" / "daisy").iterdir().__next__()
    embeddings = engine.embed(
        [engine.decode(leaf.read_bytes()), engine.decode(flower.read_bytes())]
    ).embeddings
    assert engine.project("flowers").predict(embeddings[:1]).rejected.all()
    assert engine.project("bean").predict(embeddings[1:]).rejected.all()
