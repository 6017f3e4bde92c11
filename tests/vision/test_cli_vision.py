"""The vision commands end to end on a few real photos: train -> projects list -> eval."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hortus.cli.vision import register

SHARED_DATA = Path(
    os.environ.get("HORTUS_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)
CLASSES = ("daffodil", "snowdrop", "sunflower")

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "oxford17").is_dir(), reason="shared photo data absent"
)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> Path:
    """A small image folder of symlinks (photos are never copied)."""
    root = tmp_path_factory.mktemp("photos")
    for label in CLASSES:
        (root / label).mkdir()
        for photo in sorted((SHARED_DATA / "oxford17" / label).iterdir())[:10]:
            (root / label / photo.name).symlink_to(photo)
    (root / "classes.csv").write_text(
        "folder,name\ndaffodil,Narcissus pseudonarcissus\nsnowdrop,Galanthus nivalis\n"
        "sunflower,Helianthus annuus\n"
    )
    return root


def test_train_list_eval(photo_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    env = {"HORTUS_DATA_DIR": str(tmp_path / "data")}

    result = runner.invoke(
        app,
        ["train", str(photo_folder), "--project", "mini", "--seed", "1", "--author", "Tester"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "held-out top-1" in result.output
    media = list((tmp_path / "data" / "media" / "references").rglob("*_s.jpg"))
    assert len(media) == 30

    result = runner.invoke(app, ["projects", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    projects = {p["name"]: p for p in json.loads(result.output)}
    assert projects["mini"]["task"] == "identify"
    assert projects["mini"]["classes"] == list(CLASSES)

    out = tmp_path / "eval.json"
    result = runner.invoke(
        app, ["eval", str(photo_folder), "--project", "mini", "--json", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["n"] == 30 and metrics["top1"] > 0.9  # seen photos
    assert set(metrics["per_class"]) == set(CLASSES)
    assert {"top5", "macro_top1", "average_k"} <= set(metrics)
    assert out.with_suffix(".confusion.png").is_file()

    out_cv = tmp_path / "cv.json"
    result = runner.invoke(
        app, ["eval", str(photo_folder), "--cv", "3", "--json", str(out_cv)], env=env
    )
    assert result.exit_code == 0, result.output
    cv = json.loads(out_cv.read_text())
    assert len(cv["folds"]) == 3 and cv["top1"] > 0.7  # chance is 0.33

    result = runner.invoke(app, ["eval", str(photo_folder), "--project", "nope"], env=env)
    assert result.exit_code == 1

    # Reference media can be rebuilt from the training folder (as for the packaged models).
    shutil.rmtree(tmp_path / "data" / "media" / "references")
    result = runner.invoke(
        app, ["models", "media", str(photo_folder), "--project", "mini"], env=env
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "data" / "media" / "references").rglob("*.jpg"))) == 90

    result = runner.invoke(app, ["models", "prepare"], env=env)
    assert result.exit_code == 0 and "backbone ready" in result.output


def test_train_keep_sets_the_share_of_known_photos_accepted(photo_folder, tmp_path):
    """``--keep`` is recorded in the recipe and moves the rejection threshold: accepting every
    out-of-fold photo needs a threshold no higher than accepting half of them, and the
    held-out photos (measured, not chosen on) see it."""
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    env = {"HORTUS_DATA_DIR": str(tmp_path / "data")}
    rules, kept = {}, {}
    for keep in ("0.5", "1.0"):
        result = runner.invoke(app, ["train", str(photo_folder), "--project", f"k{keep[0]}",
                                     "--seed", "1", "--no-media", "--keep", keep], env=env)
        assert result.exit_code == 0, result.output
        project = tmp_path / "data" / "models" / "projects" / f"k{keep[0]}"
        version = project / (project / "ACTIVE").read_text().strip()
        manifest = json.loads((version / "manifest.json").read_text())
        assert manifest["recipe"]["keep"] == float(keep)
        rules[keep] = manifest["openset"]
        metrics = json.loads((version / "metrics.json").read_text())
        assert metrics["model"]["threshold"] == manifest["openset"]["threshold"]
        kept[keep] = metrics["openset_keep"]
    assert rules["1.0"]["threshold"] < rules["0.5"]["threshold"]
    assert kept["1.0"] >= kept["0.5"]  # same head, same scores, a lower threshold
    result = runner.invoke(app, ["train", str(photo_folder), "--project", "bad", "--keep", "0.2"],
                           env=env)
    assert result.exit_code != 0
