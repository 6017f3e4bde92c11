"""Fine-tuning ONE EfficientNet-Lite0 backbone on several plant photo sets (PyTorch, optional).

Serving never imports this package. Training needs the ``torch`` extra
(``pip install 'hortus[torch]'``: exactly torch 2.13.0); :func:`require_torch` says so clearly
when it is missing, and only the modules that need PyTorch import it (``model``, ``trainer``,
``checkpoint``, ``export``), never this one.

* ``config``: the run's hyper-parameters (:class:`TuneConfig`) and runtime options.
* ``photosets``: the photo sets, and each set's fixed group-disjoint evaluation split.
* ``sampling``: which photos each epoch sees (balanced per set and per class), seeded.
* ``augment``: field-photo augmentation (random resized crop, flips, small rotations, colour).
* ``model``: Lite0 as trainable ``torch.nn`` modules named like the weights file, per-set heads.
* ``trainer`` and ``checkpoint``: the resumable training loop.
* ``export``: the tuned state dict through ``backbone.lite0``'s ONNX builder, checked against
  the PyTorch forward pass on real photos, written as a backbone directory.
* ``run``: :func:`~hortus.vision.tuning.run.tune` and
  :func:`~hortus.vision.tuning.run.export_run`, what the ``hortus backbone`` commands call.
"""

from __future__ import annotations

from typing import Any

TORCH_VERSION = "2.13.0"


class TuningError(RuntimeError):
    """A tuning run cannot start, resume or export (bad sets, options or checkpoint)."""


TORCH_MISSING = (
    "backbone tuning needs PyTorch, which serving never does: install the torch extra "
    f"(pip install 'hortus[torch]', i.e. torch=={TORCH_VERSION})"
)


def require_torch() -> Any:
    """Import and return ``torch``, or raise :class:`TuningError` telling how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise TuningError(TORCH_MISSING) from exc
    return torch
