"""Diagnosis fixtures: a real bean model trained once per test run, settings that serve it.

The model is trained through the real backbone on the first ``TRAIN_PER_CLASS`` photos of each
ibean class; tests post photos from further down each folder, which the model never saw.
Fixture names start with ``diag_`` so they never shadow the project-wide ones.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from diagnose_support import BEAN_CLASSES, CLASSES_CSV, TRAIN_PER_CLASS
from tests.conftest import LiveServer, built_once, make_key

from hortus.accounts.keys import NewKey
from hortus.config import Settings


@pytest.fixture(scope="session")
def diag_models_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path,
                    shared_models_dir: Path) -> Path:
    """A models directory holding the backbone and a ``bean`` diagnosis project (trained once
    per test run, whatever the number of pytest-xdist workers)."""
    from hortus.vision.backbone import Backbone, prepare_backbone
    from hortus.vision.dataset import PhotoCredit, scan_photo_folder
    from hortus.vision.workflow import train_folder

    def train(base: Path) -> None:
        models_dir = base / "models"
        shared_backbone = prepare_backbone(shared_models_dir)  # converted once per session
        shutil.copytree(shared_backbone.parent, models_dir / "backbones")
        folder = base / "ibean"
        for label in BEAN_CLASSES:
            (folder / label).mkdir(parents=True)
            for photo in sorted((shared_data / "ibean" / label).iterdir())[:TRAIN_PER_CLASS]:
                (folder / label / photo.name).symlink_to(photo)
        (base / "classes.csv").write_text(CLASSES_CSV, encoding="utf-8")
        scanned = scan_photo_folder(folder, classes_csv=base / "classes.csv",
                                    defaults=PhotoCredit(author="Makerere AIR Lab",
                                                         licence="MIT"))
        backbone = Backbone.load(prepare_backbone(models_dir), threads=2)
        train_folder(scanned, backbone=backbone, name="bean", task="diagnose",
                     models_dir=models_dir, cache_dir=base / "cache", media_dir=None, seed=0)

    return built_once(tmp_path_factory, "diagnose", train) / "models"


@pytest.fixture
def diag_settings(settings: Settings, diag_models_dir: Path) -> Settings:
    """The project-wide fresh data directory and database, serving the session's bean model."""
    return Settings(data_dir=settings.data_dir, database_url=settings.database_url,
                    environment="test", models_dir=diag_models_dir, warm_up_engine=False)


@pytest.fixture
def diag_key(diag_settings: Settings) -> NewKey:
    return make_key(diag_settings)


@pytest.fixture
def diag_server(diag_settings: Settings) -> Iterator[LiveServer]:
    """A live uvicorn server with the bean model."""
    with LiveServer(diag_settings) as server:
        yield server
