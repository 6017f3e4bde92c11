"""The tuning run's fixed evaluation split and its balanced sampler (no PyTorch needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hortus.config import Settings
from hortus.vision.tuning import TuningError
from hortus.vision.tuning.config import SetSpec, TuneConfig, canonical_command
from hortus.vision.tuning.photosets import (
    apply_split,
    make_split,
    prepare_sets,
    read_split,
    relative_path,
    scan_set,
)
from hortus.vision.tuning.sampling import EpochPlanner, TrainingPhoto, class_quotas

OXFORD = ("daffodil", "snowdrop", "sunflower")


@pytest.fixture(scope="module")
def grouped_set(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three Oxford-17 classes, 15 photos each (symlinks), in groups of three consecutive
    photos (groups.csv), like the leaves and scenes of the fetched sets."""
    root = tmp_path_factory.mktemp("grouped")
    rows = ["file,group"]
    for label in OXFORD:
        (root / label).mkdir()
        for i, photo in enumerate(sorted((shared_data / "oxford17" / label).iterdir())[:15]):
            (root / label / photo.name).symlink_to(photo)
            rows.append(f"{label}/{photo.name},{label}-g{i // 3}")
    (root / "groups.csv").write_text("\n".join(rows) + "\n")
    return root


def _sets(grouped_set: Path, shared_data: Path) -> tuple[SetSpec, ...]:
    return (SetSpec.parse(f"flowers={grouped_set}"),
            SetSpec.parse(str(shared_data / "samples" / "chilli")))


def test_split_is_group_disjoint_stratified_and_fixed(grouped_set: Path, shared_data: Path,
                                                      tmp_path: Path) -> None:
    specs = _sets(grouped_set, shared_data)
    assert [s.name for s in specs] == ["flowers", "chilli"]
    sets, split = prepare_sets(specs, tmp_path / "split.json", fraction=0.2, seed=0,
                               create=True)
    for ts in sets:
        held_groups = {ts.groups[i] for i in ts.held.tolist()}
        train_groups = {ts.groups[i] for i in ts.train.tolist()}
        assert held_groups and not held_groups & train_groups
        assert np.intersect1d(ts.held, ts.train).size == 0
        assert ts.held.size + ts.train.size == len(ts.folder.photos)
        assert set(ts.labels[ts.train].tolist()) == set(range(len(ts.class_labels)))
        assert set(ts.labels[ts.held].tolist()) == set(range(len(ts.class_labels)))
    flowers = sets[0]
    assert flowers.held.size == 9  # one group of 3 per class: 20% of 15 photos
    assert len(split["sets"]["flowers"]["held_out_groups"]) == 3
    assert split["sets"]["chilli"]["grouped_by"] == "groups.csv"
    # Written once: a second preparation reads the same photos back, whatever the seed asked.
    again, _ = prepare_sets(specs, tmp_path / "split.json", fraction=0.5, seed=7, create=True)
    np.testing.assert_array_equal(again[0].held, flowers.held)
    # A different seed makes a different split (the file is what keeps it fixed).
    other = make_split({"flowers": flowers.folder}, 0.2, seed=1)
    assert other["sets"]["flowers"]["held_out_groups"] != \
        split["sets"]["flowers"]["held_out_groups"]
    # Grouped photos are held out by group name, photos without a group by path.
    assert split["sets"]["flowers"]["held_out"] == {}
    assert sum(map(len, split["sets"]["chilli"]["held_out"].values())) == 0
    assert len(split["sets"]["chilli"]["held_out_groups"]) == sets[1].held.size


def test_a_photo_joining_a_held_out_group_stays_out(grouped_set: Path, shared_data: Path,
                                                    tmp_path: Path) -> None:
    spec = SetSpec.parse(f"flowers={grouped_set}")
    split = make_split({"flowers": scan_set(spec)}, 0.2, seed=0)
    held_group = split["sets"]["flowers"]["held_out_groups"][0]
    label = held_group.split("-")[0]
    # A copy of the set with one more photo, put in that held-out group.
    copy = tmp_path / "flowers"
    for entry in grouped_set.iterdir():
        if entry.is_dir():
            (copy / entry.name).mkdir(parents=True)
            for photo in entry.iterdir():
                (copy / entry.name / photo.name).symlink_to(photo.resolve())
    extra = sorted((shared_data / "oxford17" / label).iterdir())[20]
    (copy / label / extra.name).symlink_to(extra)
    (copy / "groups.csv").write_text((grouped_set / "groups.csv").read_text()
                                     + f"{label}/{extra.name},{held_group}\n")
    copied = SetSpec(name="flowers", root=str(copy))
    ts = apply_split(copied, scan_set(copied), split)
    held = {relative_path(ts.folder, i) for i in ts.held.tolist()}
    assert f"{label}/{extra.name}" in held
    assert all(relative_path(ts.folder, i) != f"{label}/{extra.name}"
               for i in ts.train.tolist())
    # A split whose groups or photos are not in the folder is refused.
    for i in ts.held.tolist():
        if ts.folder.photos[i].group == held_group:
            ts.folder.photos[i].path.unlink()
    with pytest.raises(TuningError, match="missing"):
        apply_split(copied, scan_set(copied), split)
    ungrouped = make_split({"flowers": scan_set(SetSpec("flowers", str(shared_data / "ibean")))},
                           0.2, seed=0)
    some = next(iter(ungrouped["sets"]["flowers"]["held_out"].values()))
    assert len(some) > 10  # without groups.csv every held-out photo is listed by name
    with pytest.raises(TuningError, match="missing"):
        apply_split(copied, scan_set(copied), ungrouped)


def test_never_train_photos_are_neither_trained_on_nor_evaluated(grouped_set: Path,
                                                                 shared_data: Path) -> None:
    """The packaged models' end-to-end hold-out, written into the split as ``never_train``
    (tools/backbone_split_reserve.py), is barred from the backbone's training and is not on
    the evaluation side either; a barred group also in the evaluation split stays held."""
    spec = SetSpec.parse(f"flowers={grouped_set}")
    folder = scan_set(spec)
    split = make_split({"flowers": folder}, 0.2, seed=0)
    plain = apply_split(spec, folder, split)
    held_group = split["sets"]["flowers"]["held_out_groups"][0]
    train_groups = sorted({plain.groups[i] for i in plain.train.tolist()})
    barred, also_held = train_groups[:2], held_group
    split["sets"]["flowers"]["never_train_groups"] = [*barred, also_held]
    ts = apply_split(spec, folder, split)
    groups_of = lambda rows: {ts.groups[i] for i in rows.tolist()}  # noqa: E731
    assert not groups_of(ts.train) & {*barred, also_held}
    assert not groups_of(ts.held) & set(barred)
    assert also_held in groups_of(ts.held)
    np.testing.assert_array_equal(ts.held, plain.held)
    assert ts.train.size == plain.train.size - 6  # two groups of three photos


def test_epochs_never_sample_held_out_photos(grouped_set: Path, shared_data: Path,
                                             tmp_path: Path) -> None:
    sets, _ = prepare_sets(_sets(grouped_set, shared_data), tmp_path / "split.json",
                           fraction=0.2, seed=0, create=True)
    photos = [TrainingPhoto(s, int(ts.labels[i]), str(ts.folder.photos[i].path))
              for s, ts in enumerate(sets) for i in ts.train.tolist()]
    held = {str(ts.folder.photos[i].path) for ts in sets for i in ts.held.tolist()}
    flowers, chilli = sets
    assert flowers.train.size > 25 > chilli.train.size
    planner = EpochPlanner(photos, max_per_set=25, seed=3)
    seen: set[str] = set()
    for epoch in range(6):
        order = planner.epoch(epoch)
        # flowers capped at 25, chilli whole
        assert len(order) == planner.epoch_size == 25 + chilli.train.size
        assert len(set(order.tolist())) == len(order)  # no photo twice in an epoch
        seen |= {photos[i].path for i in order.tolist()}
        for batch in planner.batches(epoch, 8):
            assert 2 <= len(batch) <= 8
    assert not seen & held
    assert seen == {p.path for p in photos}  # six epochs walk through every training photo
    again = EpochPlanner(photos, max_per_set=25, seed=3)
    np.testing.assert_array_equal(again.epoch(4), planner.epoch(4))  # a pure function
    assert not np.array_equal(EpochPlanner(photos, 25, seed=4).epoch(4), planner.epoch(4))


def test_class_quotas_balance_and_cover_large_classes() -> None:
    assert class_quotas([100, 5, 30], 60) == [28, 5, 27]
    assert class_quotas([3, 4], 100) == [3, 4]  # a small set is taken whole
    assert class_quotas([10, 10, 10], 7) == [3, 2, 2]
    photos = [TrainingPhoto(0, 0, f"a{i}") for i in range(100)] + \
             [TrainingPhoto(0, 1, f"b{i}") for i in range(5)]
    planner = EpochPlanner(photos, max_per_set=30, seed=0)
    picks = [planner.epoch(e) for e in range(4)]
    for order in picks:
        labels = [photos[i].label for i in order.tolist()]
        assert labels.count(1) == 5 and labels.count(0) == 25
    first_four = {i for order in picks for i in order.tolist() if photos[i].label == 0}
    assert first_four == set(range(100))  # 4 x 25 = the whole class before any repeat


def test_config_validation_and_command(tmp_path: Path) -> None:
    with pytest.raises(TuningError, match="multiple of 32"):
        TuneConfig(image_size=100)
    with pytest.raises(TuningError, match="differ"):
        TuneConfig(sets=(SetSpec("a", "/x"), SetSpec("a", "/y")))
    with pytest.raises(TuningError, match="set name"):
        SetSpec.parse("Bad Name=/x")
    config = TuneConfig(sets=(SetSpec.parse(f"chilli={tmp_path}"),), epochs=3, vflip=True)
    assert TuneConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    command = canonical_command(config, tmp_path / "run")
    assert command.startswith(f"hortus backbone tune --set chilli={tmp_path} --epochs 3 ")
    assert "--vflip " in command and "--image-size 192" in command
    with pytest.raises(TuningError, match="unknown settings"):
        TuneConfig.from_json({**config.to_json(), "mystery": 1})
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(TuningError, match="not an evaluation split"):
        read_split(tmp_path / "bad.json")


def test_backbone_setting_names_a_directory(tmp_path: Path) -> None:
    base = Settings(data_dir=tmp_path)
    assert base.backbone_dir is None
    named = Settings(data_dir=tmp_path, backbone="efficientnet-lite0-plants")
    assert named.backbone_dir == tmp_path / "models" / "backbones" / "efficientnet-lite0-plants"
    path = Settings(data_dir=tmp_path, backbone=str(tmp_path / "elsewhere" / "b"))
    assert path.backbone_dir == tmp_path / "elsewhere" / "b"
    assert Settings(data_dir=tmp_path, backbone="  ").backbone_dir is None


def test_cli_without_torch_says_how_to_install_it(tmp_path: Path) -> None:
    """The command line imports no PyTorch; tuning without it fails with the extra to install."""
    code = (
        "import sys\n"
        "from hortus.cli import app\n"
        "assert 'torch' not in sys.modules, 'the CLI imported torch'\n"
        "sys.modules['torch'] = None  # as if it were not installed\n"
        f"app(['backbone', 'tune', {str(tmp_path)!r}, '--out', {str(tmp_path / 'run')!r}])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert "pip install 'hortus[torch]'" in done.stdout.replace("\n", " ")


def test_split_command_lays_out_train_and_eval_folders(grouped_set: Path, shared_data: Path,
                                                       tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hortus.cli import app
    from hortus.vision.dataset import scan_photo_folder
    from hortus.vision.tuning.photosets import SPLIT_FILE
    from hortus.vision.tuning.run import _start

    run = tmp_path / "run"
    config = TuneConfig(sets=_sets(grouped_set, shared_data))
    _start(config, run, None)  # what `tune` writes first (run.json), without training
    sets, _ = prepare_sets(config.sets, run / SPLIT_FILE, fraction=0.2, seed=0, create=True)
    result = CliRunner().invoke(app, ["backbone", "split", str(run), "--into",
                                      str(tmp_path / "folders")])
    assert result.exit_code == 0, result.output
    for ts in sets:
        train = scan_photo_folder(tmp_path / "folders" / ts.spec.name / "train")
        held = scan_photo_folder(tmp_path / "folders" / ts.spec.name / "eval")
        assert {p.path.resolve() for p in held.photos} == \
            {ts.folder.photos[i].path.resolve() for i in ts.held.tolist()}
        assert len(train.photos) == ts.train.size
        # groups.csv travels with each side, so `hortus train` keeps splitting by group
        assert {p.group for p in held.photos} == {ts.folder.photos[i].group
                                                 for i in ts.held.tolist()}
        assert not {p.group for p in train.photos} & {p.group for p in held.photos}
    again = CliRunner().invoke(app, ["backbone", "split", str(run), "--into",
                                     str(tmp_path / "folders")])
    assert again.exit_code == 1 and "exists already" in again.output
