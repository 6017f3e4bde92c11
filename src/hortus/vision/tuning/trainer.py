"""The training loop: one shared Lite0, one linear head per photo set, resumable.

Objective (multi-task): each photo's label is scored by its own set's head (the sets' labels
are disjoint, and a pooled softmax would set "healthy" coffee against "healthy" chilli), with
label-smoothed cross-entropy; the loss is the mean over the batch of every photo's loss, so the
sets weigh as the sampler mixes them (:mod:`~hortus.vision.tuning.sampling`). With ``distill``
above 0, a frozen copy of the ImageNet Lite0 is the teacher of the backbone's own ImageNet head
(``T^2 * KL`` of temperature-``T`` softmaxes, as in "learning without forgetting"): the exported
graph then keeps meaningful ImageNet logits (the diagnosis answers' ``objects``), and the
embedding is held near the one every head was designed on. AdamW, linear warm-up then cosine to
zero, stepped per batch; BatchNorm trains (momentum 0.01, TensorFlow's 0.99 decay).

Checkpoints hold the model, heads, optimiser, schedule, PyTorch's RNG state (dropout), the
position (epoch, batch) and the running figures; the photos and augmentation of every batch are
pure functions of ``(seed, epoch, position)``. A resumed run therefore repeats the same
arithmetic as an uninterrupted one (with the same thread count, PyTorch's CPU kernels are
deterministic), and ends on the same weights.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hortus.vision.decode import ImageDecodeError
from hortus.vision.tuning import TORCH_MISSING, TuningError
from hortus.vision.tuning.augment import Augmentation, training_input
from hortus.vision.tuning.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from hortus.vision.tuning.config import RunOptions, TuneConfig
from hortus.vision.tuning.model import Lite0, SetHeads, imagenet_state, load_state
from hortus.vision.tuning.photosets import TuningSet
from hortus.vision.tuning.sampling import EpochPlanner, TrainingPhoto

try:  # the torch extra (never installed for serving)
    import torch
    import torch.nn.functional as F
except ImportError as _missing:
    raise TuningError(TORCH_MISSING) from _missing

log = logging.getLogger(__name__)

LOG_FILE = "log.jsonl"


@dataclass(frozen=True)
class TuneProgress:
    """Where a run stands, after each step."""

    epoch: int  # 0-based
    epochs: int
    step: int  # batches done in this epoch
    steps: int  # batches per epoch
    loss: float  # mean loss of the epoch so far
    images_per_s: float  # over this invocation


@dataclass(frozen=True)
class Batch:
    pixels: np.ndarray  # float32 [n, 3, S, S]
    labels: np.ndarray  # int64 [n]
    sets: np.ndarray  # int64 [n]


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then half a cosine down to zero at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class Trainer:
    """A tuning run over prepared sets, writing checkpoints and the JSONL log in ``out_dir``."""

    def __init__(self, config: TuneConfig, sets: list[TuningSet], out_dir: Path) -> None:
        self.config = config
        self.sets = sets
        self.out_dir = Path(out_dir)
        self.photos = [
            TrainingPhoto(set_index=s, label=int(ts.labels[i]), path=str(ts.folder.photos[i].path))
            for s, ts in enumerate(sets) for i in ts.train.tolist()
        ]
        self.planner = EpochPlanner(self.photos, config.max_per_set, config.seed)
        self.steps_per_epoch = len(self.planner.batches(0, config.batch_size))
        if self.steps_per_epoch == 0:
            raise TuningError("not enough training photos for one batch")
        self.total_steps = self.steps_per_epoch * config.epochs
        self.augmentation = Augmentation(size=config.image_size, scale_min=config.scale_min,
                                         rotation=config.rotation, jitter=config.jitter,
                                         vflip=config.vflip)
        torch.manual_seed(config.seed)
        imagenet = imagenet_state()
        self.model = Lite0(bn_momentum=config.bn_momentum, frozen=config.freeze_blocks)
        load_state(self.model, imagenet)
        self.heads = SetHeads([len(ts.class_labels) for ts in sets], config.dropout)
        self.teacher: Lite0 | None = None
        if config.distill > 0:
            # The teacher normalises with its batch's statistics, as the student does in
            # training (momentum 0: its own running statistics never move), so that the
            # distillation measures what tuning changed, not train- against eval-mode BN.
            self.teacher = Lite0(bn_momentum=0.0, frozen=config.freeze_blocks)
            load_state(self.teacher, imagenet)
            self.teacher.requires_grad_(False).train()
        self.optimizer = torch.optim.AdamW(self._param_groups(), betas=(0.9, 0.999))
        warmup = int(round(config.warmup * self.total_steps))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: _lr_factor(step, self.total_steps, warmup))
        self.epoch = 0
        self.step = 0
        self.global_step = 0
        self.elapsed = 0.0  # seconds of training over every invocation
        self.running = self._fresh_running()
        self.history: list[dict[str, Any]] = []

    def _param_groups(self) -> list[dict[str, Any]]:
        c = self.config
        groups: list[dict[str, Any]] = []
        for module, lr in ((self.model, c.lr_backbone), (self.heads, c.lr_heads)):
            params = [p for p in module.parameters() if p.requires_grad]
            groups.append({"params": [p for p in params if p.ndim > 1], "lr": lr,
                           "weight_decay": c.weight_decay})
            groups.append({"params": [p for p in params if p.ndim <= 1], "lr": lr,
                           "weight_decay": 0.0})
        return groups

    def _fresh_running(self) -> dict[str, Any]:
        n = len(self.sets)
        return {"seconds": 0.0, "images": 0, "loss_sum": 0.0, "kd_sum": 0.0,
                "correct": [0] * n, "seen": [0] * n}

    # --- state --------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs (see :mod:`~hortus.vision.tuning.checkpoint`)."""
        return {
            "config": self.config.to_json(),
            "classes": [ts.class_labels for ts in self.sets],
            "epoch": self.epoch, "step": self.step, "global_step": self.global_step,
            "steps_per_epoch": self.steps_per_epoch, "epoch_size": self.planner.epoch_size,
            "elapsed": self.elapsed, "running": self.running, "history": self.history,
            "model": self.model.state_dict(), "heads": self.heads.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint of this same run."""
        saved = TuneConfig.from_json(state["config"])
        if saved.differences(self.config):
            raise TuningError(f"the checkpoint was made with other settings: "
                              f"{saved.differences(self.config)}")
        if state["classes"] != [ts.class_labels for ts in self.sets] or \
                state["epoch_size"] != self.planner.epoch_size or \
                state["steps_per_epoch"] != self.steps_per_epoch:
            raise TuningError("the sets' classes or photos changed since the checkpoint")
        self.model.load_state_dict(state["model"], strict=True)
        self.heads.load_state_dict(state["heads"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.global_step, self.elapsed = int(state["global_step"]), float(state["elapsed"])
        self.running, self.history = dict(state["running"]), list(state["history"])

    def save(self) -> Path:
        path = self.out_dir / CHECKPOINT_FILE
        save_checkpoint(path, self.state())
        return path

    def resume(self) -> None:
        self.restore(load_checkpoint(self.out_dir / CHECKPOINT_FILE))

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs

    # --- data ---------------------------------------------------------------------------------

    def _load_batch(self, epoch: int, first: int, rows: np.ndarray) -> Batch:
        pixels, labels, sets = [], [], []
        for offset, row in enumerate(rows.tolist()):
            photo = self.photos[row]
            seed = self.planner.augmentation_seed(epoch, first + offset)
            try:
                pixels.append(training_input(photo.path, self.augmentation, seed))
            except (ImageDecodeError, OSError) as exc:
                log.warning("skipping %s: %s", photo.path, exc)
                continue
            labels.append(photo.label)
            sets.append(photo.set_index)
        size = self.config.image_size
        return Batch(np.stack(pixels) if pixels else np.zeros((0, 3, size, size), np.float32),
                     np.asarray(labels, np.int64), np.asarray(sets, np.int64))

    def _batches(self, epoch: int, start: int, workers: int) -> Iterator[Batch]:
        """The epoch's batches from ``start``, loaded ahead by ``workers`` threads (0: inline)."""
        plan = self.planner.batches(epoch, self.config.batch_size)
        firsts = [i * self.config.batch_size for i in range(len(plan))]
        if workers <= 0:
            for i in range(start, len(plan)):
                yield self._load_batch(epoch, firsts[i], plan[i])
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tune-loader") as pool:
            pending: list[Future[Batch]] = []
            upcoming = iter(range(start, len(plan)))
            for i in upcoming:
                pending.append(pool.submit(self._load_batch, epoch, firsts[i], plan[i]))
                if len(pending) > workers:
                    break
            while pending:
                batch = pending.pop(0).result()
                nxt = next(upcoming, None)
                if nxt is not None:
                    pending.append(pool.submit(self._load_batch, epoch, firsts[nxt], plan[nxt]))
                yield batch

    # --- one step -----------------------------------------------------------------------------

    def _train_step(self, batch: Batch) -> None:
        c = self.config
        self.model.train()
        self.heads.train()
        x = torch.from_numpy(batch.pixels)
        labels = torch.from_numpy(batch.labels)
        hidden = self.model.prefix(x)
        embedding = self.model.suffix(hidden)
        loss = torch.zeros(())
        run = self.running
        for s in sorted(set(batch.sets.tolist())):
            mask = torch.from_numpy(batch.sets == s)
            logits = self.heads(embedding[mask], s)
            loss = loss + F.cross_entropy(logits, labels[mask], reduction="sum",
                                          label_smoothing=c.label_smoothing)
            run["correct"][s] += int((logits.argmax(1) == labels[mask]).sum())
            run["seen"][s] += int(mask.sum())
        loss = loss / len(batch.labels)
        kd = torch.zeros(())
        if self.teacher is not None:
            with torch.no_grad():
                start = hidden if c.freeze_blocks else self.teacher.prefix(x)
                target = self.teacher._fc(self.teacher.suffix(start))
            t = c.distill_temperature
            kd = F.kl_div(F.log_softmax(self.model._fc(embedding) / t, dim=1),
                          F.log_softmax(target / t, dim=1), log_target=True,
                          reduction="batchmean") * (t * t)
        total = loss + c.distill * kd
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.scheduler.step()
        run["images"] += len(batch.labels)
        run["loss_sum"] += float(total.detach()) * len(batch.labels)
        run["kd_sum"] += float(kd.detach()) * len(batch.labels)

    # --- the loop -----------------------------------------------------------------------------

    def _log(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": round(time.time(), 3), **fields}
        with open(self.out_dir / LOG_FILE, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")

    def _epoch_summary(self) -> dict[str, Any]:
        run = self.running
        images = max(1, run["images"])
        return {
            "epoch": self.epoch + 1, "seconds": round(run["seconds"], 2), "images": run["images"],
            "images_per_s": round(run["images"] / max(run["seconds"], 1e-9), 2),
            "loss": round(run["loss_sum"] / images, 5), "distill": round(run["kd_sum"] / images, 5),
            "train_top1": {ts.spec.name: round(run["correct"][s] / max(1, run["seen"][s]), 4)
                           for s, ts in enumerate(self.sets)},
        }

    def run(self, options: RunOptions, progress: Callable[[TuneProgress], None] | None = None
            ) -> str:
        """Train until the last epoch or a stop (``max_steps``, ``max_minutes``, SIGINT or
        SIGTERM), checkpointing every ``checkpoint_minutes`` and at every epoch's end.
        Returns why it stopped: ``finished``, ``max_steps``, ``max_minutes`` or ``signal``."""
        torch.set_num_threads(max(1, options.threads))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stop = threading.Event()
        restore = self._catch_signals(stop)
        began = last_save = time.monotonic()
        steps_here = images_here = 0
        reason = "finished"
        self._log("resume" if self.global_step else "start", epoch=self.epoch, step=self.step,
                  global_step=self.global_step, threads=options.threads,
                  torch=torch.__version__, epoch_size=self.planner.epoch_size,
                  steps_per_epoch=self.steps_per_epoch, config=self.config.to_json())
        try:
            while not self.finished:
                mark = time.monotonic()
                for batch in self._batches(self.epoch, self.step, options.loader_threads):
                    if len(batch.labels) >= 2:
                        self._train_step(batch)
                    now = time.monotonic()
                    self.running["seconds"] += now - mark
                    self.elapsed += now - mark
                    mark = now
                    self.step += 1
                    self.global_step += 1
                    steps_here += 1
                    images_here += len(batch.labels)
                    rate = images_here / max(now - began, 1e-9)
                    if progress is not None:
                        progress(TuneProgress(self.epoch, self.config.epochs, self.step,
                                              self.steps_per_epoch,
                                              self.running["loss_sum"]
                                              / max(1, self.running["images"]), rate))
                    if self.global_step % max(1, options.log_every) == 0:
                        self._log("steps", epoch=self.epoch + 1, step=self.step,
                                  global_step=self.global_step, images_per_s=round(rate, 2),
                                  loss=round(self.running["loss_sum"]
                                             / max(1, self.running["images"]), 5),
                                  lr_backbone=self.scheduler.get_last_lr()[0])
                    reason = self._stop_reason(options, stop, steps_here, now - began)
                    if reason != "finished":
                        break
                    if now - last_save >= options.checkpoint_minutes * 60:
                        self._log("checkpoint", path=str(self.save()),
                                  global_step=self.global_step)
                        last_save = time.monotonic()
                if reason != "finished":
                    break
                summary = self._epoch_summary()
                self.history.append(summary)
                self.epoch, self.step = self.epoch + 1, 0
                self.running = self._fresh_running()
                self.save()
                last_save = time.monotonic()
                self._log("epoch", **summary)
            if reason != "finished":
                self.save()
            self._log("stop", reason=reason, epoch=self.epoch, step=self.step,
                      global_step=self.global_step, elapsed=round(self.elapsed, 2))
        finally:
            restore()
        return reason

    def _stop_reason(self, options: RunOptions, stop: threading.Event, steps: int,
                     seconds: float) -> str:
        if stop.is_set():
            return "signal"
        if options.max_steps is not None and steps >= options.max_steps:
            return "max_steps"
        if options.max_minutes is not None and seconds >= options.max_minutes * 60:
            return "max_minutes"
        return "finished"

    @staticmethod
    def _catch_signals(stop: threading.Event) -> Callable[[], None]:
        """SIGINT/SIGTERM set ``stop`` (the step under way finishes, then a checkpoint); a
        second one acts as usual. Only in the main thread, where signals can be caught."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous: dict[int, Any] = {
            sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)
        }

        def handler(signum: int, frame: Any) -> None:
            if stop.is_set():
                signal.signal(signum, previous[signum])
                signal.raise_signal(signum)
            log.warning("signal %s: stopping after this step, with a checkpoint", signum)
            stop.set()

        for sig in previous:
            signal.signal(sig, handler)

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore
