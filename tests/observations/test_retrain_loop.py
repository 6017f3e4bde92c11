"""The loop on real photos: a project trained on a few Oxford-17 photos per class, further
photos of the same classes saved as observations through the API and validated by simulated
reviewers, ``hortus projects update`` (its service) retraining and gating on a fixed set of
other photos; then an adversary group validating wrong species, and the gate refusing.

Each phase uses different photos of each class: 0-5 train the first version, 6-17 are the
honest observations, 18-35 the poisoned ones (as many as the true photos), 40-49 the fixed
evaluation photos.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from observations_support import keys, read, saved, vote
from typer.testing import CliRunner

from hortus.app import create_app
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.media import open_media_store
from hortus.observations.retraining import UPDATE_FILE, rollback, update_project
from hortus.vision.artifacts import active_version_dir, load_project
from hortus.vision.backbone import Backbone, prepare_backbone
from hortus.vision.dataset import PhotoCredit, scan_photo_folder
from hortus.vision.recipe import Recipe
from hortus.vision.workflow import train_folder

pytestmark = pytest.mark.slow

PROJECT = "retrainflora"
SPECIES = {
    "buttercup": "Ranunculus acris",
    "coltsfoot": "Tussilago farfara",
    "daffodil": "Narcissus pseudonarcissus",
    "dandelion": "Taraxacum officinale",
}  # four yellow flowers: a first model from six photos each still confuses them
LABELS = sorted(SPECIES)
FIRST, HONEST, POISONED, EVALUATION = range(0, 6), range(6, 18), range(18, 36), range(40, 50)
# One view each way keeps embedding cheap; the update reuses the active version's recipe.
RECIPE = Recipe(train_views=("center",), test_views=("center",), inner_folds=2)


def _photos(shared_data: Path, label: str, indices: range) -> list[Path]:
    photos = sorted((shared_data / "oxford17" / label).glob("*.jpg"))
    return [photos[i] for i in indices]


def _folder(root: Path, shared_data: Path, indices: range) -> Path:
    for label in LABELS:
        (root / label).mkdir(parents=True)
        for photo in _photos(shared_data, label, indices):
            (root / label / photo.name).symlink_to(photo)
    (root / "classes.csv").write_text(
        "folder,name\n" + "".join(f"{k},{v}\n" for k, v in SPECIES.items()))
    return root


@pytest.fixture
def loop_settings(settings: Settings, tmp_path: Path, shared_models_dir: Path,
                  shared_data: Path) -> Settings:
    """Settings on a models dir of their own (sharing the session's backbone), photos in the
    database media backend, and a first version trained on photos 0-5 of each class."""
    models_dir = tmp_path / "models"
    (models_dir / "backbones").mkdir(parents=True)
    backbone_dir = prepare_backbone(shared_models_dir)
    (models_dir / "backbones" / backbone_dir.name).symlink_to(backbone_dir)
    loop = Settings(data_dir=settings.data_dir, database_url=settings.database_url,
                    environment="test", models_dir=models_dir, warm_up_engine=False,
                    media_backend="database", inference_threads=2)
    base = _folder(tmp_path / "base", shared_data, FIRST)
    train_folder(scan_photo_folder(base, defaults=PhotoCredit(author="Nilsback & Zisserman")),
                 backbone=Backbone.load(backbone_dir, threads=2), name=PROJECT,
                 task="identify", models_dir=models_dir, cache_dir=loop.cache_dir,
                 recipe=RECIPE)
    return loop


def _observe(client: TestClient, photos: dict[str, list[Path]], author, voters,
             claim: dict[str, str], determination: bool) -> list[str]:
    """Save each photo as an observation by ``author`` and have ``voters`` vote ``claim`` of
    its class; each ends up valid with that label. The observations' ids."""
    ids = []
    for label, paths in photos.items():
        for path in paths:
            fields = {"determination": claim[label]} if determination else {}
            oid = saved(client, author, path, organs=["flower"], **fields)["id"]
            for voter in voters:
                assert vote(client, voter, oid, claim[label]).status_code == 200
            ids.append(oid)
    for oid, label in zip(ids, [lb for lb, ps in photos.items() for _ in ps], strict=True):
        observation = read(client, author, oid)
        assert observation["currentName"] == claim[label], observation
        assert observation["isValid"] is True, observation
    return ids


def _update(settings: Settings, base: Path, evaluation: Path):
    database = prepare_database(settings)
    store = open_media_store(settings, database)
    try:
        backbone = Backbone.load(prepare_backbone(settings.models_dir), threads=2)
        return update_project(name=PROJECT, models_dir=settings.models_dir, database=database,
                              media=store, backbone=backbone,
                              evaluation=scan_photo_folder(evaluation),
                              base=scan_photo_folder(base), cache_dir=settings.cache_dir)
    finally:
        store.close()
        database.dispose()


def test_observations_improve_the_model_and_the_gate_refuses_poison(
        loop_settings: Settings, tmp_path: Path, shared_data: Path) -> None:
    project_dir = loop_settings.models_dir / "projects" / PROJECT
    first = active_version_dir(project_dir)
    assert first is not None
    base = tmp_path / "base"
    evaluation = _folder(tmp_path / "evaluation", shared_data, EVALUATION)
    author, *crowd = keys(loop_settings, 7, prefix="loop")
    honest, adversaries = crowd[:2], crowd[2:]
    truth = dict(SPECIES)
    wrong = {label: SPECIES[LABELS[(i + 1) % len(LABELS)]] for i, label in enumerate(LABELS)}

    with TestClient(create_app(loop_settings)) as client:
        _observe(client, {lb: _photos(shared_data, lb, HONEST) for lb in LABELS},
                 author, honest, truth, determination=True)

        # A dry run counts what an update would use, and trains nothing.
        runner = CliRunner()
        from hortus.cli import app as cli_app

        env = {"HORTUS_DATA_DIR": str(loop_settings.data_dir),
               "HORTUS_DATABASE_URL": loop_settings.database_url,
               "HORTUS_MODELS_DIR": str(loop_settings.models_dir),
               "HORTUS_MEDIA_BACKEND": "database", "HORTUS_ENVIRONMENT": "test"}
        dry = runner.invoke(cli_app, ["projects", "update", PROJECT, "--from-observations",
                                      "--dry-run", "--json"], env=env)
        assert dry.exit_code == 0, dry.output
        counted = json.loads(dry.output)
        assert counted["photos_by_class"] == {lb: len(HONEST) for lb in LABELS}
        assert counted["candidate_version"] is None

        improved = _update(loop_settings, base, evaluation)
        assert improved.gate is not None
        before, after = improved.gate.active, improved.gate.candidate
        print(f"\nhonest update: top-1 {before['top1']:.3f} -> {after['top1']:.3f}, "
              f"NLL {before['nll']:.3f} -> {after['nll']:.3f} on {before['n']} photos")
        assert before["n"] == after["n"] == len(EVALUATION) * len(LABELS)
        assert before["project"]["version"] == first.name
        assert improved.gate.activated, improved.gate.reasons
        assert after["top1"] >= before["top1"]  # more true photos: no worse on the same set
        second = active_version_dir(project_dir)
        assert second is not None and second.name == improved.candidate_version
        model = load_project(second)
        assert len(model.index) == len(FIRST) * 4 + len(HONEST) * 4
        record = json.loads((second / UPDATE_FILE).read_text())
        assert record["gate"]["activated"] is True
        assert {p["author"] for p in record["photos"]} != {""}

        # Poison: photos nobody named, validated with the next class's species by a group.
        _observe(client, {lb: _photos(shared_data, lb, POISONED) for lb in LABELS},
                 author, adversaries, wrong, determination=False)

    poisoned = _update(loop_settings, base, evaluation)
    assert poisoned.gate is not None
    print(f"poisoned update: top-1 {poisoned.gate.active['top1']:.3f} -> "
          f"{poisoned.gate.candidate['top1']:.3f}, NLL {poisoned.gate.active['nll']:.3f} -> "
          f"{poisoned.gate.candidate['nll']:.3f}; refused: {poisoned.gate.reasons}")
    assert poisoned.photos_by_class == {lb: len(HONEST) + len(POISONED) for lb in LABELS}
    assert not poisoned.gate.activated
    assert poisoned.gate.reasons
    assert poisoned.gate.candidate["nll"] > poisoned.gate.active["nll"] + 0.01 or \
        poisoned.gate.candidate["top1"] < poisoned.gate.active["top1"] - 1 / 40  # the gate, redone
    assert active_version_dir(project_dir) == second  # ACTIVE unchanged
    refused = project_dir / str(poisoned.candidate_version)
    assert json.loads((refused / UPDATE_FILE).read_text())["gate"]["activated"] is False

    # Rollback skips the refused candidate and restores the first version.
    assert rollback(name=PROJECT, models_dir=loop_settings.models_dir) == (second.name,
                                                                         first.name)
    assert active_version_dir(project_dir) == first
