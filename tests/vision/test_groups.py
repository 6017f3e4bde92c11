"""Photo groups (one leaf, one scene) never straddle a split: groups.csv, grouped folds and
hold-outs, group-wise subsampling, and the CLI's grouped cross-validation on real samples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hortus.vision.dataset import DatasetError, scan_photo_folder, subsample_per_class
from hortus.vision.training import (
    Recipe,
    cross_validate,
    grouped_holdout,
    stratified_folds,
)

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "samples"


def _groups(n_groups: int, per_group: int, classes: int):
    labels = np.repeat(np.arange(n_groups) % classes, per_group)
    groups = np.repeat([f"g{i}" for i in range(n_groups)], per_group)
    return labels, groups


def test_grouped_folds_keep_every_group_in_one_fold():
    labels, groups = _groups(40, 3, 4)
    folds = stratified_folds(labels, 5, seed=0, groups=groups)
    assert np.array_equal(np.sort(np.concatenate(folds)), np.arange(len(labels)))
    for fold in folds:
        inside = set(groups[fold])
        others = set(groups[np.setdiff1d(np.arange(len(labels)), fold)])
        assert inside.isdisjoint(others)
        assert set(labels[fold]) == {0, 1, 2, 3}  # still stratified


def test_grouped_holdout_never_splits_a_group():
    labels, groups = _groups(50, 4, 2)
    train, held = grouped_holdout(labels, groups, 0.2, seed=3)
    assert len(train) + len(held) == len(labels)
    assert set(groups[train]).isdisjoint(groups[held])
    assert 0.1 < len(held) / len(labels) < 0.3


def test_grouped_cv_reports_itself_and_keeps_groups_apart():
    rng = np.random.default_rng(0)
    labels, groups = _groups(30, 4, 3)
    # Each group shares a strong private offset: a split that leaks groups scores by memory.
    centres = rng.normal(size=(3, 16))
    offsets = {g: rng.normal(scale=2.0, size=16) for g in set(groups)}
    x = np.stack([centres[c] + offsets[g] + 0.05 * rng.normal(size=16)
                  for c, g in zip(labels, groups, strict=True)])
    embeddings = np.clip(np.stack([x, x], axis=1), 0, None).astype(np.float32)
    recipe = Recipe(train_views=("center",), test_views=("center", "hflip"), c_grid=())
    grouped = cross_validate(embeddings, labels, ("center", "hflip"), ["a", "b", "c"], recipe,
                             folds=3, groups=groups)
    leaky = cross_validate(embeddings, labels, ("center", "hflip"), ["a", "b", "c"], recipe,
                           folds=3)
    assert grouped["grouped"] is True and leaky["grouped"] is False
    assert leaky["top1"] > grouped["top1"]  # memorising a group only pays when it leaks


def test_groups_csv_is_read_and_subsampling_takes_whole_groups(tmp_path):
    root = tmp_path / "set"
    layout = {"a": ["1.jpg", "2.jpg", "3.jpg", "4.jpg"], "b": ["5.jpg", "6.jpg"]}
    for label, files in layout.items():
        (root / label).mkdir(parents=True)
        for name in files:
            (root / label / name).write_bytes(b"x")
    (root / "groups.csv").write_text(
        "file,label,group\n1.jpg,a,leafA\n2.jpg,a,leafA\n3.jpg,a,leafB\n5.jpg,b,leafC\n"
    )
    folder = scan_photo_folder(root)
    assert {p.path.name: p.group for p in folder.photos} == {
        "1.jpg": "leafA", "2.jpg": "leafA", "3.jpg": "leafB", "4.jpg": None,
        "5.jpg": "leafC", "6.jpg": None,
    }
    keys = folder.group_keys()
    assert keys[0] == keys[1] and len(set(keys)) == 5
    for seed in range(6):
        small = subsample_per_class(folder, 1, seed=seed)
        names = {p.path.name for p in small.photos}
        assert ("1.jpg" in names) == ("2.jpg" in names)  # leafA whole or not at all
        assert sum(p.label == "b" for p in small.photos) == 1
    (root / "groups.csv").write_text("file,leaf\n1.jpg,x\n")
    with pytest.raises(DatasetError):
        scan_photo_folder(root)


@pytest.mark.skipif(not (SAMPLES / "coffee" / "groups.csv").is_file(),
                    reason="../shared/data/samples/coffee is absent")
def test_cli_cross_validation_is_grouped_on_real_samples(tmp_path, monkeypatch):
    from hortus.cli import app

    folder = tmp_path / "coffee"
    shutil.copytree(SAMPLES / "coffee", folder)  # tmp copy: eval writes nothing beside it
    monkeypatch.setenv("HORTUS_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "cv.json"
    result = CliRunner().invoke(app, ["eval", str(folder), "--cv", "3", "--train-views",
                                      "center,hflip", "--json", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["grouped"] is True
    assert metrics["recipe"]["train_views"] == ["center", "hflip"]
    assert metrics["n"] == len(list(folder.glob("*/*.jpg")))
    bad = CliRunner().invoke(app, ["eval", str(folder), "--cv", "3", "--train-views", "sideways"])
    assert bad.exit_code != 0 and "--train-views" in bad.output
