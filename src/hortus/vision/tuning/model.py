"""EfficientNet-Lite0 as trainable ``torch.nn`` modules, and the per-set heads.

The module's state dict has exactly the keys of the packaged weights file (``_conv_stem``,
``_bn0``, ``_blocks.N._expand_conv`` ... ``_fc``), so it loads them strictly and the tuned one
goes through :func:`hortus.vision.backbone.lite0.build_lite0_onnx` unchanged: serving runs the
same graph, built the same way, as for the packaged Lite0. The layer plan and BatchNorm epsilon
are ``lite0``'s own constants; padding is TensorFlow's "SAME", computed from the input size
(the builder writes the same pads for 224 x 224 as this module computes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from hortus.vision.backbone.lite0 import BN_EPS, EMBEDDING_SIZE, LITE0_STAGES
from hortus.vision.backbone.prepare import packaged_weights_path
from hortus.vision.backbone.torch_legacy import read_legacy_state_dict
from hortus.vision.tuning import TORCH_MISSING, TuningError

try:  # the torch extra (never installed for serving)
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as _missing:
    raise TuningError(TORCH_MISSING) from _missing

STEM_CHANNELS = 32
IMAGENET_CLASSES = 1000


class Conv2dSame(nn.Conv2d):
    """Bias-free convolution with TensorFlow "SAME" padding (output ``ceil(size / stride)``,
    an odd total padding's extra row/column at the bottom/right)."""

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int = 1,
                 groups: int = 1) -> None:
        super().__init__(inputs, outputs, kernel, stride=stride, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, stride = self.kernel_size[0], self.stride[0]
        pads: list[int] = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last axis first
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _bn(channels: int, momentum: float) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=momentum)


class MBConv(nn.Module):
    """Inverted residual block: [1x1 expand, BN, ReLU6] -> depthwise, BN, ReLU6 -> 1x1, BN."""

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int, expand: int,
                 momentum: float) -> None:
        super().__init__()
        hidden = inputs * expand
        self.expands = expand != 1
        if self.expands:
            self._expand_conv = Conv2dSame(inputs, hidden, 1)
            self._bn0 = _bn(hidden, momentum)
        self._depthwise_conv = Conv2dSame(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = _bn(hidden, momentum)
        self._project_conv = Conv2dSame(hidden, outputs, 1)
        self._bn2 = _bn(outputs, momentum)
        self.skip = stride == 1 and inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expands else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class Lite0(nn.Module):
    """EfficientNet-Lite0: ``embed(x)`` is the 1280-d pooled embedding, ``_fc`` the ImageNet
    head. ``frozen`` leading blocks (with the stem) take no gradient and keep their BatchNorm
    statistics, also in training mode."""

    def __init__(self, *, bn_momentum: float = 0.01, frozen: int = 0) -> None:
        super().__init__()
        self._conv_stem = Conv2dSame(3, STEM_CHANNELS, 3, 2)
        self._bn0 = _bn(STEM_CHANNELS, bn_momentum)
        blocks = []
        for stage in LITE0_STAGES:
            for repeat in range(stage.repeats):
                inputs = stage.in_channels if repeat == 0 else stage.out_channels
                stride = stage.stride if repeat == 0 else 1
                blocks.append(MBConv(inputs, stage.out_channels, stage.kernel, stride,
                                     stage.expand, bn_momentum))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(LITE0_STAGES[-1].out_channels, EMBEDDING_SIZE, 1)
        self._bn1 = _bn(EMBEDDING_SIZE, bn_momentum)
        self._fc = nn.Linear(EMBEDDING_SIZE, IMAGENET_CLASSES)
        self.frozen = frozen
        for module in self._frozen_modules():
            module.requires_grad_(False)

    def _frozen_modules(self) -> list[nn.Module]:
        if not self.frozen:
            return []
        return [self._conv_stem, self._bn0, *self._blocks[: self.frozen]]

    def train(self, mode: bool = True) -> Lite0:
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        return self

    def prefix(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen part (stem and the first ``frozen`` blocks; the stem alone when none)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks[: self.frozen]:
            x = block(x)
        return x

    def suffix(self, x: torch.Tensor) -> torch.Tensor:
        """From :meth:`prefix`'s output to the pooled embedding ``[n, 1280]``."""
        for block in self._blocks[self.frozen:]:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.suffix(self.prefix(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embedding [n, 1280], ImageNet logits [n, 1000])``, as the ONNX graph outputs."""
        embedding = self.embed(x)
        return embedding, self._fc(embedding)


class SetHeads(nn.Module):
    """One linear classifier per photo set over the shared embedding (dropout before)."""

    def __init__(self, classes_per_set: list[int], dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList(nn.Linear(EMBEDDING_SIZE, n) for n in classes_per_set)

    def forward(self, embedding: torch.Tensor, set_index: int) -> torch.Tensor:
        return self.heads[set_index](self.dropout(embedding))


def imagenet_state() -> dict[str, np.ndarray]:
    """The packaged Lite0 ImageNet weights, read without PyTorch's unpickler (``prepare.py``'s
    reader, which refuses anything but tensors)."""
    return read_legacy_state_dict(packaged_weights_path())


def load_state(model: nn.Module, state: Mapping[str, np.ndarray]) -> None:
    """Load NumPy arrays into a module strictly (no key missing or left over)."""
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()},
                          strict=True)


def numpy_state(model: nn.Module) -> dict[str, np.ndarray]:
    """A module's state dict as NumPy arrays (copies), in the module's key order."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
