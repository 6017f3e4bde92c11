"""Identification fixtures: one small project trained once per test run on real photos.

The project ``testflora`` is trained on the first photos of six Oxford-17 classes (species the
knowledge base knows) into a session models directory that shares the session's backbone; its
reference media go to a session media folder that every test's data directory links to. Later
photos of the same classes are the held-out photos the tests identify.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from identify_support import CLASSES, PROJECT, TRAIN_PHOTOS, TrainedFlora, flora_settings
from tests.conftest import built_once

from hortus.app import create_app
from hortus.config import Settings
from hortus.vision.backbone import Backbone, prepare_backbone
from hortus.vision.dataset import PhotoCredit, scan_photo_folder
from hortus.vision.workflow import train_folder


@pytest.fixture(scope="session")
def flora(tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path,
          shared_data: Path) -> TrainedFlora:
    """The trained ``testflora`` (once per test run, whatever the number of pytest-xdist
    workers), and the photos of each class that it never saw."""
    held_out = {label: sorted((shared_data / "oxford17" / label).glob("*.jpg"))[TRAIN_PHOTOS:]
                for label in CLASSES}

    def train(root: Path) -> None:
        models_dir, media_dir, folder = root / "models", root / "media", root / "train"
        (models_dir / "backbones").mkdir(parents=True)
        backbone_dir = prepare_backbone(shared_models_dir)
        (models_dir / "backbones" / backbone_dir.name).symlink_to(backbone_dir)
        for label in CLASSES:
            photos = sorted((shared_data / "oxford17" / label).glob("*.jpg"))
            (folder / label).mkdir(parents=True)
            for photo in photos[:TRAIN_PHOTOS]:
                (folder / label / photo.name).symlink_to(photo)
        (folder / "classes.csv").write_text(
            "folder,name\n" + "".join(f"{k},{v}\n" for k, v in CLASSES.items()))
        scanned = scan_photo_folder(folder, defaults=PhotoCredit(
            author="Nilsback & Zisserman", licence="research only", organ="flower",
            citation="Oxford 17 Category Flower Dataset", date="2006-01-01"))
        train_folder(scanned, backbone=Backbone.load(backbone_dir, threads=2), name=PROJECT,
                     task="identify", models_dir=models_dir, cache_dir=root / "cache",
                     media_dir=media_dir)

    root = built_once(tmp_path_factory, "identify", train)
    return TrainedFlora(models_dir=root / "models", media_dir=root / "media", held_out=held_out)


@pytest.fixture
def id_settings(settings: Settings, flora: TrainedFlora) -> Settings:
    return flora_settings(settings, flora)


@pytest.fixture
def id_client(id_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(id_settings)) as client:
        yield client
