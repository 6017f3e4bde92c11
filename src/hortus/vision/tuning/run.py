"""A tuning run in its output folder: start or resume it, then export its backbone.

``OUT/`` holds ``run.json`` (the settings and the command that started the run),
``evaluation_split.json`` (the fixed evaluation photos of each set), ``checkpoint.pt``,
``log.jsonl`` and, once exported, ``<name>/`` (the backbone directory: ``model.onnx``,
``manifest.json`` and, with ImageNet logits, ``imagenet_labels.json``) and ``export.json``.

PyTorch is imported only inside the functions, after :func:`require_torch`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hortus.vision.backbone.manifest import write_atomic
from hortus.vision.backbone.prepare import LITE0_SOURCE
from hortus.vision.tuning import TuningError, require_torch
from hortus.vision.tuning.config import RunOptions, TuneConfig, canonical_command
from hortus.vision.tuning.photosets import SPLIT_FILE, TuningSet, prepare_sets, read_split

RUN_FILE = "run.json"
EXPORT_FILE = "export.json"
CHECK_PHOTOS = 8


@dataclass(frozen=True)
class TuneResult:
    """How a ``tune`` invocation ended."""

    reason: str  # finished, max_steps, max_minutes or signal
    epochs_done: int
    epochs: int
    elapsed: float  # training seconds over every invocation
    history: list[dict[str, Any]]
    export: dict[str, Any] | None


def read_run(out_dir: Path) -> tuple[TuneConfig, str]:
    """The settings and command of the run in ``out_dir``."""
    try:
        raw = json.loads((Path(out_dir) / RUN_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TuningError(f"no tuning run in {out_dir} (no {RUN_FILE})") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise TuningError(f"unreadable {RUN_FILE} in {out_dir}: {exc}") from exc
    return TuneConfig.from_json(raw["config"]), str(raw.get("command", ""))


def _start(config: TuneConfig, out_dir: Path, split: Path | None) -> None:
    """Write ``run.json`` and the evaluation split of a new run (a given ``split`` file is
    copied in, so that the folder is complete on its own)."""
    if (out_dir / "checkpoint.pt").exists():
        raise TuningError(f"{out_dir} already holds a run: add --resume to continue it, or "
                          "choose another output folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    if split is not None:
        read_split(split)  # refuse a file that is not a split before copying it
        if Path(split).resolve() != (out_dir / SPLIT_FILE).resolve():
            shutil.copyfile(split, out_dir / SPLIT_FILE)
    record = {"config": config.to_json(), "command": canonical_command(config, out_dir)}
    write_atomic(out_dir / RUN_FILE, (json.dumps(record, indent=2) + "\n").encode("utf-8"))


def tune(config: TuneConfig, out_dir: Path, options: RunOptions, *, resume: bool = False,
         split: Path | None = None, export: bool = True,
         progress: Callable[[Any], None] | None = None,
         on_sets: Callable[[list[TuningSet]], None] | None = None) -> TuneResult:
    """Start (or, with ``resume``, continue) a run in ``out_dir``; when it finishes, export
    the backbone. ``on_sets`` is told the prepared sets before training starts."""
    require_torch()
    from hortus.vision.tuning.trainer import Trainer

    out_dir = Path(out_dir)
    if resume:
        if split is not None:
            raise TuningError("--split applies to a new run: a resumed run keeps the "
                              "evaluation split it started with")
        saved, _ = read_run(out_dir)
        if saved.differences(config):
            raise TuningError(f"{out_dir} was started with other settings "
                              f"({', '.join(saved.differences(config))})")
    else:
        if not config.sets:
            raise TuningError("no photo sets given: name their folders (or use --set NAME=DIR)")
        absent = [spec.root for spec in config.sets if not Path(spec.root).is_dir()]
        if absent:
            raise TuningError(f"not a folder: {', '.join(absent)}")
        _start(config, out_dir, split)
    sets, _ = prepare_sets(config.sets, out_dir / SPLIT_FILE, fraction=config.eval_fraction,
                           seed=config.split_seed, create=not resume)
    if on_sets is not None:
        on_sets(sets)
    trainer = Trainer(config, sets, out_dir)
    if resume and (out_dir / "checkpoint.pt").exists():
        trainer.resume()
    reason = trainer.run(options, progress) if not trainer.finished else "finished"
    report = None
    if reason == "finished" and export:
        report = export_run(out_dir, sets=sets)
    return TuneResult(reason=reason, epochs_done=trainer.epoch, epochs=config.epochs,
                      elapsed=trainer.elapsed, history=trainer.history, export=report)


def check_photos(sets: list[TuningSet], count: int = CHECK_PHOTOS) -> list[Path]:
    """Up to ``count`` held-out photos, taken from the sets in turn (class by class)."""
    queues = []
    for ts in sets:
        by_class: dict[int, list[int]] = {}
        for i in ts.held.tolist():
            by_class.setdefault(int(ts.labels[i]), []).append(i)
        order = [rows[k] for k in range(max(map(len, by_class.values()), default=0))
                 for rows in by_class.values() if k < len(rows)]
        queues.append([ts.folder.photos[i].path for i in order])
    chosen: list[Path] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return chosen


def recipe_text(config: TuneConfig, sets: list[TuningSet], state: dict[str, Any],
                command: str) -> str:
    """The manifest's ``source``: where the weights come from and how they were tuned."""
    trained = ", ".join(f"{ts.spec.name} ({ts.train.size} photos, {len(ts.class_labels)} "
                        f"classes)" for ts in sets)
    c = config
    done = int(state["epoch"])
    reserved = sum(len(ts.folder.photos) - ts.train.size - ts.held.size for ts in sets)
    barred = (f" nor on the {reserved} photos the split reserves for other measurements "
              "(never_train: the packaged models' end-to-end hold-out)" if reserved else "")
    partial = "" if done >= c.epochs else f" (checkpoint after {done} of them)"
    return (
        f"{LITE0_SOURCE}. Fine-tuned by Hortus (hortus backbone tune) on {trained}: "
        f"{c.epochs} epochs{partial} of {state['epoch_size']} photos (at most {c.max_per_set} "
        f"a set, class-balanced) at {c.image_size} px, batch {c.batch_size}, one linear head "
        f"per set, label smoothing {c.label_smoothing}, dropout {c.dropout}, ImageNet "
        f"distillation {c.distill} (T={c.distill_temperature}), AdamW lr {c.lr_backbone} "
        f"(backbone) / {c.lr_heads} (heads), weight decay {c.weight_decay}, warm-up "
        f"{c.warmup:.0%} then cosine, frozen blocks {c.freeze_blocks}; augmentation: random "
        f"resized crop {c.scale_min}-1, rotation +-{c.rotation} deg, flips (vertical: "
        f"{c.vflip}), jitter {c.jitter}; seed {c.seed}. Never trained on the evaluation split "
        f"({c.eval_fraction:.0%} of each set's groups, seed {c.split_seed}){barred}. "
        f"Command: {command}"
    )


def export_run(out_dir: Path, *, dest: Path | None = None,
               sets: list[TuningSet] | None = None,
               packaged: Path | None = None) -> dict[str, Any]:
    """Export the run's latest checkpoint to ``dest`` (default ``out_dir/<name>``) and write
    ``out_dir/export.json``; returns that report. ``packaged``: round the weights to float16
    and write them there too, to ship inside Hortus (``export_backbone``)."""
    require_torch()
    from hortus.vision.tuning.checkpoint import CHECKPOINT_FILE, load_checkpoint
    from hortus.vision.tuning.export import export_backbone
    from hortus.vision.tuning.model import Lite0

    out_dir = Path(out_dir)
    config, command = read_run(out_dir)
    if sets is None:
        sets, _ = prepare_sets(config.sets, out_dir / SPLIT_FILE,
                               fraction=config.eval_fraction, seed=config.split_seed,
                               create=False)
    state = load_checkpoint(out_dir / CHECKPOINT_FILE)
    model = Lite0(bn_momentum=config.bn_momentum, frozen=config.freeze_blocks)
    model.load_state_dict(state["model"], strict=True)
    target = Path(dest) if dest is not None else out_dir / config.name
    report = export_backbone(model, target, name=config.name,
                             source=recipe_text(config, sets, state, command),
                             logits=config.distill > 0, check_photos=check_photos(sets),
                             packaged=packaged)
    document = {
        **report.to_json(),
        "name": config.name,
        "epochs_done": int(state["epoch"]), "epochs": config.epochs,
        "training_seconds": round(float(state["elapsed"]), 1),
        "history": state["history"],
        "config": config.to_json(), "command": command,
    }
    write_atomic(out_dir / EXPORT_FILE, (json.dumps(document, indent=2) + "\n").encode())
    return document
