"""What a tuning run is: its photo sets and hyper-parameters (saved with every checkpoint), and
the options of one invocation that may change between a run and its resumption."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from hortus.vision.tuning import TuningError

SET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class SetSpec:
    """One photo set: a short name (``deepweeds``) and its folder ``DIR/<class>/<photo>``."""

    name: str
    root: str

    @classmethod
    def parse(cls, text: str) -> SetSpec:
        """``NAME=DIR`` or a bare ``DIR`` (named after its folder, lower-cased)."""
        name, sep, root = text.partition("=")
        if not sep:
            root, name = text, Path(text.rstrip("/")).name.lower()
        if not SET_NAME.match(name):
            raise TuningError(f"set name {name!r}: use lower-case letters, digits, _ and -")
        if not root:
            raise TuningError(f"set {name!r} has no folder")
        return cls(name=name, root=str(Path(root).expanduser().resolve()))


@dataclass(frozen=True)
class TuneConfig:
    """Hyper-parameters of a run. Everything that shapes the trajectory is here, so that a run
    resumed from its checkpoint continues exactly as it would have."""

    sets: tuple[SetSpec, ...] = ()
    epochs: int = 8
    image_size: int = 192  # training crops; the exported graph takes the serving 224 x 224
    batch_size: int = 32
    lr_backbone: float = 2e-4
    lr_heads: float = 2e-3
    weight_decay: float = 0.01  # AdamW, on convolution and linear weights only
    warmup: float = 0.05  # share of the steps with a linear warm-up, then cosine to zero
    label_smoothing: float = 0.1
    dropout: float = 0.2  # before the per-set heads (EfficientNet-Lite0's own rate)
    freeze_blocks: int = 3  # stem + this many first MBConv blocks kept frozen (and their BN)
    bn_momentum: float = 0.01  # PyTorch convention; TensorFlow's decay 0.99
    distill: float = 1.0  # weight of the ImageNet-logits distillation (0: none, no teacher)
    distill_temperature: float = 2.0
    max_per_set: int = 2000  # photos a set contributes to one epoch, at most
    scale_min: float = 0.25  # random resized crop: smallest share of the photo's area
    rotation: float = 15.0  # degrees, uniform in [-rotation, rotation]
    jitter: float = 0.3  # brightness, contrast and saturation factors in [1 - j, 1 + j]
    vflip: bool = False  # vertical flips (top-down leaf photos have no "up"; scenes do)
    eval_fraction: float = 0.2
    split_seed: int = 0  # the evaluation split's own seed: fixed whatever the training seed
    seed: int = 0
    name: str = "efficientnet-lite0-plants"

    def __post_init__(self) -> None:
        checks = (
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.image_size >= 64 and self.image_size % 32 == 0,
             "image size must be a multiple of 32, at least 64"),
            (self.batch_size >= 2, "batch size must be at least 2"),
            (self.lr_backbone >= 0 and self.lr_heads > 0, "learning rates must be positive"),
            (0 <= self.warmup < 1, "warm-up is a share of the steps, in [0, 1)"),
            (0 <= self.label_smoothing < 1, "label smoothing must be in [0, 1)"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (0 <= self.freeze_blocks <= 16, "freeze blocks must be in 0..16"),
            (self.distill >= 0 and self.distill_temperature > 0, "bad distillation values"),
            (self.max_per_set >= 1, "max per set must be at least 1"),
            (0 < self.scale_min <= 1, "scale min must be in (0, 1]"),
            (0 <= self.rotation <= 45, "rotation must be in [0, 45] degrees"),
            (0 <= self.jitter < 1, "jitter must be in [0, 1)"),
            (0 < self.eval_fraction < 1, "eval fraction must be in (0, 1)"),
            (SET_NAME.match(self.name) is not None, "backbone name: lower-case, digits, _ -"),
        )
        for ok, message in checks:
            if not ok:
                raise TuningError(message)
        names = [s.name for s in self.sets]
        if len(set(names)) != len(names):
            raise TuningError(f"set names must differ: {names}")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (sets as ``{"name", "root"}`` objects)."""
        data = asdict(self)
        data["sets"] = [asdict(s) for s in self.sets]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TuneConfig:
        """Inverse of :meth:`to_json`; unknown keys are refused (a checkpoint from another
        version of this code would not continue the same trajectory)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TuningError(f"unknown settings in the saved run: {sorted(unknown)}")
        values = dict(data)
        values["sets"] = tuple(SetSpec(**s) for s in data.get("sets", ()))
        return cls(**values)

    def with_overrides(self, overrides: dict[str, Any]) -> TuneConfig:
        """This config with the given fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def differences(self, other: TuneConfig) -> list[str]:
        """Names of the fields whose values differ."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


@dataclass(frozen=True)
class RunOptions:
    """Options of one invocation; they may change on resumption without changing the result
    (apart from ``threads``: bit-for-bit equality needs the same count)."""

    threads: int = 2  # torch.set_num_threads
    loader_threads: int = 1  # threads decoding and augmenting the next batches meanwhile
    checkpoint_minutes: float = 10.0
    log_every: int = 20  # steps between two "steps" lines of the JSONL log
    max_steps: int | None = None  # stop (checkpointed) after this many steps in this invocation
    max_minutes: float | None = None  # stop (checkpointed) after this many minutes


def canonical_command(config: TuneConfig, out_dir: Path) -> str:
    """The ``hortus backbone tune`` command line that makes this run: every setting written
    out (defaults too), so that it still reproduces the run when the defaults change."""
    import shlex

    words = ["hortus", "backbone", "tune"]
    for spec in config.sets:
        words += ["--set", f"{spec.name}={spec.root}"]
    for f in fields(config):
        if f.name == "sets":
            continue
        value = getattr(config, f.name)
        option = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            words.append(option if value else "--no-" + option[2:])
        else:
            words += [option, str(value)]
    words += ["--out", str(out_dir)]
    return shlex.join(words)
