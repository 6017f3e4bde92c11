"""Checkpoints of a tuning run: one file, replaced atomically, read back with
``torch.load(weights_only=True)`` (tensors, numbers, strings, lists and dicts only)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hortus.vision.tuning import TORCH_MISSING, TuningError

try:  # the torch extra (never installed for serving)
    import torch
except ImportError as _missing:
    raise TuningError(TORCH_MISSING) from _missing

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_FORMAT = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` through a temporary file in the same folder, flushed to
    disk, then renamed over the old checkpoint: a crash leaves the old one or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            torch.save({"format": CHECKPOINT_FORMAT, **state}, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise TuningError(f"no checkpoint at {path}") from exc
    except Exception as exc:  # unpickling errors of a damaged or foreign file
        raise TuningError(f"unreadable checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise TuningError(f"{path} is not a tuning checkpoint (format {CHECKPOINT_FORMAT})")
    return state
