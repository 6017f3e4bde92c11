"""A small real training run through the real backbone, then the engine facade on top."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hortus.vision.dataset import PhotoCredit, scan_photo_folder
from hortus.vision.media import reference_media_path

SHARED_DATA = Path(
    os.environ.get("HORTUS_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)
CLASSES = ("bluebell", "buttercup", "daisy", "tiger_lily")

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "oxford17").is_dir(), reason="shared photo data absent"
)


def _subset(root: Path, start: int, stop: int) -> Path:
    for label in CLASSES:
        (root / label).mkdir(parents=True)
        for photo in sorted((SHARED_DATA / "oxford17" / label).iterdir())[start:stop]:
            (root / label / photo.name).symlink_to(photo)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory, backbone_dir):
    """Train on 4 classes x 15 photos; keep 5 more photos per class unseen."""
    from hortus.vision.backbone import Backbone
    from hortus.vision.workflow import train_folder

    base = tmp_path_factory.mktemp("real")
    models_dir = base / "models"
    backbone = Backbone.load(backbone_dir, threads=2)
    folder = scan_photo_folder(
        _subset(base / "train", 0, 15), defaults=PhotoCredit(author="VGG", organ="flower")
    )
    result = train_folder(
        folder,
        backbone=backbone,
        name="mini",
        task="identify",
        models_dir=models_dir,
        cache_dir=base / "cache",
        media_dir=base / "media",
        seed=0,
    )
    return base, backbone, result


def test_training_run_is_accurate_and_cached(trained):
    base, backbone, result = trained
    assert result.photos == 60 and not result.skipped
    metrics = result.artifacts.metrics
    assert metrics["top1"] >= 0.75  # 12 held-out photos, chance 0.25
    # metrics.json says what its figures were measured on, and what made the shipped head.
    assert metrics["n"] == 12 and metrics["evaluated_on"].startswith("12 held-out photos of 60")
    assert metrics["holdout_model"]["photos"] == 48 and metrics["model"]["photos"] == 60
    assert result.artifacts.head.temperature == pytest.approx(metrics["model"]["temperature"])
    assert result.artifacts.rule.threshold == metrics["model"]["threshold"]
    assert len(list((base / "cache").rglob("*.npz"))) == 60
    sha = result.artifacts.index.sha256[0]
    for size in "oms":
        assert reference_media_path(base / "media", str(sha), size).is_file()


def test_engine_predicts_unseen_photos_and_finds_references(trained, backbone_dir):
    from hortus.vision.engine import VisionEngine

    base, backbone, _ = trained
    engine = VisionEngine.load(
        base / "models", threads=2, extra_project_dirs=(), backbone_dir=backbone_dir
    )
    assert [p.name for p in engine.projects("identify")] == ["mini"]
    assert engine.projects("diagnose") == []
    with pytest.raises(KeyError):
        engine.project("nope")
    project = engine.project("mini")
    unseen = scan_photo_folder(_subset(base / "unseen", 15, 20))
    images = [engine.decode(p.read_bytes()) for p in unseen.photos]
    output = engine.embed(images)
    assert output.embeddings.shape == (20, 1280) and output.logits.shape == (20, 1000)
    prediction = project.predict(output.embeddings)
    assert prediction.probabilities.shape == (20, 4)
    assert np.allclose(prediction.probabilities.sum(axis=1), 1.0, atol=1e-5)
    truth = np.array([CLASSES.index(p.label) for p in unseen.photos])
    assert (prediction.probabilities.argmax(axis=1) == truth).mean() >= 0.8
    assert prediction.rejected.mean() <= 0.5
    refs = project.similar_references(output.embeddings[0], class_index=2, k=3)
    assert len(refs) == 3 and all(r.label == "daisy" and r.author == "VGG" for r in refs)
    assert refs[0].similarity >= refs[-1].similarity
    top = engine.imagenet_top(output.logits[0], k=5)
    assert len(top) == 5 and all(isinstance(name, str) for name, _ in top)
    assert sum(p for _, p in top) <= 1.0 + 1e-6
