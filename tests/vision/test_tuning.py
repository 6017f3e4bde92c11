"""``hortus backbone tune`` for real, tiny: a few Oxford-17 and chilli photos at low resolution.

The run goes through the command line, trains with PyTorch, exports through the Lite0 ONNX
builder, and the result must: load as a backbone, match an independent PyTorch forward pass of
the tuned weights (``backbone/torch_reference.py``) on held-out photos, resume to the very same
weights, and serve (a ``hortus train`` head, a VisionEngine chosen by the setting).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import built_once
from tests.required import need
from typer.testing import CliRunner

from hortus.cli import app
from hortus.config import Settings
from hortus.vision.backbone import Backbone
from hortus.vision.backbone.manifest import read_manifest, sha256_file
from hortus.vision.decode import decode_image
from hortus.vision.engine import VisionEngine

pytestmark = pytest.mark.slow

CLASSES = ("daffodil", "sunflower")
TINY = ["--epochs", "1", "--image-size", "96", "--batch-size", "8", "--max-per-set", "12",
        "--threads", "1", "--loader-threads", "1"]


@pytest.fixture(scope="module")
def torch() -> Any:
    try:
        import torch
    except ImportError:
        need("torch", False, "could not import torch")
    return torch


@pytest.fixture(scope="module")
def flowers(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two Oxford-17 classes, 10 photos each (symlinks; no groups.csv: each photo its own)."""
    def build(root: Path) -> None:
        for label in CLASSES:
            (root / "flowers" / label).mkdir(parents=True)
            for photo in sorted((shared_data / "oxford17" / label).iterdir())[:10]:
                (root / "flowers" / label / photo.name).symlink_to(photo)

    return built_once(tmp_path_factory, "tuning-sets", build) / "flowers"


def _tune(*args: str) -> Any:
    result = CliRunner().invoke(app, ["backbone", "tune", *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def tiny_run(torch: Any, flowers: Path, shared_data: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of a two-set run (flowers, and chilli with its groups.csv), exported; made
    once for all pytest-xdist workers."""
    def build(root: Path) -> None:
        _tune(str(flowers), "--set", f"chilli={shared_data / 'samples' / 'chilli'}",
              "--out", str(root / "run"), *TINY)

    return built_once(tmp_path_factory, "tuning-run", build) / "run"


def test_tiny_run_exports_a_backbone_that_matches_pytorch(tiny_run: Path, torch: Any) -> None:
    from hortus.vision.backbone.torch_reference import build_torch_lite0
    from hortus.vision.tuning.checkpoint import load_checkpoint
    from hortus.vision.tuning.export import serving_inputs
    from hortus.vision.tuning.model import imagenet_state

    model_dir = tiny_run / "efficientnet-lite0-plants"
    manifest = read_manifest(model_dir)
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "imagenet_labels.json", "manifest.json", "model.onnx"]  # the packaged Lite0's layout
    assert (manifest.input_size, manifest.resize_short, manifest.embedding_size) == (224, 256,
                                                                                     1280)
    assert manifest.sha256 == sha256_file(model_dir / "model.onnx")
    assert manifest.logits_output == "logits"  # distilled: the ImageNet head is kept
    assert "Fine-tuned by Hortus" in (manifest.source or "")
    assert "hortus backbone tune --set flowers=" in (manifest.source or "")
    report = json.loads((tiny_run / "export.json").read_text())
    assert report["max_abs_diff_embedding"] <= 1e-3 and report["max_abs_diff_logits"] <= 1e-3
    assert report["epochs_done"] == 1 and report["history"][0]["images"] == 12 + 12

    # Independently of the export's own check: the served graph against torch_reference.py's
    # functional forward pass (BatchNorm not folded) of the checkpoint's weights.
    state = load_checkpoint(tiny_run / "checkpoint.pt")["model"]
    tuned = {k: v.numpy() for k, v in state.items()}
    photos = [Path(p) for p in report["check_photos"]]
    assert len(photos) == 8 and {p.parent.parent.name for p in photos} >= {"chilli"}
    backbone = Backbone.load(model_dir, threads=1)
    served = backbone.embed([decode_image(p.read_bytes()) for p in photos])
    torch.set_num_threads(1)
    embedding, logits = build_torch_lite0(tuned)(torch.from_numpy(serving_inputs(photos)))
    np.testing.assert_allclose(served.embeddings, embedding.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(served.logits, logits.numpy(), atol=1e-3, rtol=1e-4)
    # ... and the weights did move away from the ImageNet ones.
    original = imagenet_state()
    moved = [k for k in original if k.endswith(".weight") and "_blocks.10." in k]
    assert moved and all(not np.array_equal(original[k], tuned[k]) for k in moved)
    frozen = "_blocks.1._depthwise_conv.weight"  # stem + 3 first blocks frozen by default
    np.testing.assert_array_equal(original[frozen], tuned[frozen])

    # The export command writes the same graph again, byte for byte.
    again = tiny_run / "again"
    result = CliRunner().invoke(app, ["backbone", "export", str(tiny_run), "--to", str(again),
                                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert read_manifest(again).sha256 == manifest.sha256


def test_packaged_weights_rebuild_the_exported_graph(tiny_run: Path, torch: Any,
                                                      tmp_path: Path) -> None:
    """``export --packaged`` rounds the weights to float16, exports the graph of the rounded
    weights (checked against PyTorch) and writes them beside a card; Hortus builds the very
    same graph from those files, and it embeds the card's check photo as recorded."""
    from hortus.vision.backbone.prepare import prepare_packaged_backbone, read_packaged_state
    from hortus.vision.tuning.checkpoint import load_checkpoint

    name = "efficientnet-lite0-plants"
    result = CliRunner().invoke(app, ["backbone", "export", str(tiny_run), "--to",
                                      str(tmp_path / "exported"), "--threads", "1",
                                      "--packaged", str(tmp_path / "packaged")])
    assert result.exit_code == 0, result.output
    weights = np.load(tmp_path / "packaged" / f"{name}.npz")
    assert {weights[k].dtype for k in weights.files if weights[k].dtype.kind == "f"} == {
        np.dtype(np.float16)}
    state, card = read_packaged_state(name, tmp_path / "packaged")
    assert card["logits"] is True and "Fine-tuned by Hortus" in card["source"]
    built = prepare_packaged_backbone(tmp_path / "models", name, folder=tmp_path / "packaged")
    assert read_manifest(built).sha256 == read_manifest(tmp_path / "exported").sha256
    photo = next(Path(p) for p in json.loads((tiny_run / "export.json").read_text())[
        "check_photos"] if p.endswith("/" + card["check"]["photo"]))
    served = Backbone.load(built, threads=1).embed([decode_image(photo.read_bytes())])
    np.testing.assert_allclose(served.embeddings[0][:16], card["check"]["embedding_head"],
                               atol=1e-4)
    full = {k: v.numpy() for k, v in load_checkpoint(tiny_run / "checkpoint.pt")["model"].items()}
    moved = [k for k in full if full[k].dtype.kind == "f" and full[k].size > 100]
    for key in moved:  # float16 rounding only
        np.testing.assert_allclose(state[key], full[key], rtol=1e-3, atol=1e-7)


def test_evaluation_photos_never_train(tiny_run: Path) -> None:
    from hortus.vision.tuning.config import TuneConfig
    from hortus.vision.tuning.photosets import SPLIT_FILE, prepare_sets
    from hortus.vision.tuning.trainer import Trainer

    split = json.loads((tiny_run / SPLIT_FILE).read_text())
    assert set(split["sets"]) == {"flowers", "chilli"}
    assert split["sets"]["flowers"]["grouped_by"] == "photo"
    config = TuneConfig.from_json(json.loads((tiny_run / "run.json").read_text())["config"])
    sets, _ = prepare_sets(config.sets, tiny_run / SPLIT_FILE, fraction=0.2, seed=0,
                           create=False)
    held = {str(ts.folder.photos[i].path) for ts in sets for i in ts.held.tolist()}
    assert len(held) == sum(s["held_out_photos"] for s in split["sets"].values()) > 0
    trainer = Trainer(config, sets, tiny_run / "unused")
    assert not held & {p.path for p in trainer.photos}
    fed = {trainer.photos[i].path for e in range(5) for i in trainer.planner.epoch(e).tolist()}
    assert fed and not fed & held


def test_resume_ends_on_the_same_weights(torch: Any, flowers: Path, shared_data: Path,
                                         tmp_path: Path) -> None:
    from hortus.vision.tuning.checkpoint import load_checkpoint

    run = ["--set", f"chilli={shared_data / 'samples' / 'chilli'}", str(flowers),
           "--epochs", "2", "--image-size", "64", "--batch-size", "4", "--max-per-set", "6",
           "--threads", "1", "--no-export"]
    _tune(*run, "--out", str(tmp_path / "whole"), "--loader-threads", "0")
    # 3 batches an epoch: stop in the middle of the second epoch, then resume (settings from
    # the run itself; another loader thread count changes nothing).
    stopped = _tune(*run, "--out", str(tmp_path / "parts"), "--max-steps", "4")
    assert "continue with" in stopped.output
    mid = load_checkpoint(tmp_path / "parts" / "checkpoint.pt")
    assert (mid["epoch"], mid["step"], mid["global_step"]) == (1, 1, 4)
    _tune("--resume", "--out", str(tmp_path / "parts"), "--threads", "1", "--loader-threads",
          "2", "--no-export")
    whole = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")
    parts = load_checkpoint(tmp_path / "parts" / "checkpoint.pt")
    assert whole["global_step"] == parts["global_step"] == 6
    for part in ("model", "heads"):
        assert whole[part].keys() == parts[part].keys()
        different = [k for k in whole[part] if not torch.equal(whole[part][k], parts[part][k])]
        assert not different, different[:5]
    assert [e["loss"] for e in whole["history"]] == [e["loss"] for e in parts["history"]]
    events = [json.loads(line)["event"]
              for line in (tmp_path / "parts" / "log.jsonl").read_text().splitlines()]
    assert events.count("start") == 1 and events.count("resume") == 1
    # Resuming with other settings is refused.
    refused = CliRunner().invoke(app, ["backbone", "tune", "--resume", "--out",
                                       str(tmp_path / "parts"), "--epochs", "3"])
    assert refused.exit_code == 1 and "other settings" in refused.output


def test_setting_chooses_the_backbone_for_train_and_serving(
    tiny_run: Path, flowers: Path, backbone_dir: Path, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from hortus.inference import Inference

    tuned_dir = tmp_path / "data" / "models" / "backbones" / "efficientnet-lite0-plants"
    shutil.copytree(tiny_run / "efficientnet-lite0-plants", tuned_dir)
    env = {"HORTUS_DATA_DIR": str(tmp_path / "data"),
           "HORTUS_BACKBONE": "efficientnet-lite0-plants"}
    result = CliRunner().invoke(app, [
        "train", str(flowers), "--project", "tuned-flowers", "--no-media", "--threads", "1",
        "--train-views", "center,hflip", "--test-views", "center,hflip"], env=env)
    assert result.exit_code == 0, result.output
    version_dir = next((tmp_path / "data" / "models" / "projects" / "tuned-flowers").glob("*/"))
    trained_on = json.loads((version_dir / "manifest.json").read_text())["backbone"]
    tuned_sha = read_manifest(tuned_dir).sha256
    assert trained_on == {"name": "efficientnet-lite0-plants", "sha256": tuned_sha}

    settings = Settings(data_dir=tmp_path / "data", backbone="efficientnet-lite0-plants")
    inference = Inference(settings)
    engine = inference.engine
    assert engine.backbone.manifest.sha256 == tuned_sha
    assert not (tmp_path / "data" / "models" / "backbones" / "efficientnet-lite0").exists()
    model = engine.project("tuned-flowers")
    photo = sorted((flowers / "sunflower").iterdir())[-1]
    prediction = model.predict(engine.embed([decode_image(photo.read_bytes())],
                                            views=("center", "hflip")).embeddings)
    assert [c.label for c in model.classes][int(prediction.probabilities.argmax())] == \
        "sunflower"
    # Serving the tuned backbone, like the packaged one, imports neither torch nor onnx.
    code = (
        "import sys\n"
        "from hortus.config import Settings\n"
        "from hortus.inference import Inference\n"
        f"s = Settings(data_dir={str(tmp_path / 'data')!r}, backbone={str(tuned_dir)!r})\n"
        "engine = Inference(s).engine\n"
        "print(engine.backbone.manifest.name, [m for m in ('torch', 'onnx') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split("\n")[-2] == "efficientnet-lite0-plants []"
    # The packaged Lite0 serving the same project says it was trained on another backbone.
    with caplog.at_level(logging.WARNING, logger="hortus.vision.engine"):
        VisionEngine.load(tmp_path / "data" / "models", threads=1, extra_project_dirs=(),
                          backbone_dir=backbone_dir)
    assert "tuned-flowers was trained on another backbone" in caplog.text
