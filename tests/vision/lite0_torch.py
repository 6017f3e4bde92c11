"""EfficientNet-Lite0 in plain PyTorch, written from the published architecture, for the
ONNX-vs-PyTorch check in test_backbone.py.

Independent of Hortus on purpose: nothing here is imported from ``hortus`` (neither the ONNX
builder's constants nor its weights reader). The weights file is read with ``torch.load`` and
loaded strictly into ``torch.nn`` layers named as the file names them, so a weight the builder
skipped or misplaced would show; BatchNorm stays a separate layer (the builder folds it); the
layer configuration and preprocessing constants are written out below from the EfficientNet-Lite
sources (TensorFlow TPU ``models/official/efficientnet/lite``), not from Hortus's manifest.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

# EfficientNet-Lite preprocessing: ``(pixel - 127) / 128`` per channel, RGB; Lite0 is evaluated
# at 224 x 224, centre-cropped from the image resized so that 224 is 224/256 of its short side.
MEAN_RGB = (127.0, 127.0, 127.0)
STDDEV_RGB = (128.0, 128.0, 128.0)
IMAGE_SIZE = 224
RESIZE_SHORT = 256

# The EfficientNet-B0 block strings (repeats, kernel, strides, expansion, in, out); Lite drops the
# squeeze-excitation, uses ReLU6 and keeps the 32-channel stem and 1280-channel head at every
# width; Lite0 is width and depth 1.0, so the strings are used as they are.
BLOCKS = (
    "r1_k3_s11_e1_i32_o16",
    "r2_k3_s22_e6_i16_o24",
    "r2_k5_s22_e6_i24_o40",
    "r3_k3_s22_e6_i40_o80",
    "r3_k5_s11_e6_i80_o112",
    "r4_k5_s22_e6_i112_o192",
    "r1_k3_s11_e6_i192_o320",
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
CLASSES = 1000
BATCH_NORM_EPSILON = 1e-3  # TensorFlow's batch_norm_epsilon for EfficientNet


def decode_block(text: str) -> dict[str, int]:
    """``"r2_k3_s22_e6_i16_o24"`` -> ``{"r": 2, "k": 3, "s": 2, "e": 6, "i": 16, "o": 24}``."""
    fields = {part[0]: part[1:] for part in text.split("_")}
    stride = fields.pop("s")
    assert stride[0] == stride[1], text  # square strides only
    return {"s": int(stride[0]), **{key: int(value) for key, value in fields.items()}}


class Conv2dSame(nn.Conv2d):
    """A bias-free convolution with TensorFlow's "SAME" padding: the output is
    ``ceil(input / stride)`` and an odd total padding puts the extra row/column at the end."""

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int = 1,
                 groups: int = 1) -> None:
        super().__init__(inputs, outputs, kernel, stride=stride, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size),
                                        reversed(self.stride), strict=True):  # width first
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BATCH_NORM_EPSILON)


class MBConv(nn.Module):
    """Inverted residual: [1x1 expand, BN, ReLU6] -> kxk depthwise, BN, ReLU6 -> 1x1 project, BN
    (+ the input when shapes allow; no drop-connect at inference)."""

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inputs * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = Conv2dSame(inputs, hidden, 1)
            self._bn0 = batch_norm(hidden)
        self._depthwise_conv = Conv2dSame(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = batch_norm(hidden)
        self._project_conv = Conv2dSame(hidden, outputs, 1)
        self._bn2 = batch_norm(outputs)
        self.skip = stride == 1 and inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """``forward(x) -> (embedding [n, 1280], logits [n, 1000])``; attribute names follow the
    weights file's keys (``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc`` ...)."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = Conv2dSame(3, STEM_CHANNELS, 3, 2)
        self._bn0 = batch_norm(STEM_CHANNELS)
        blocks = []
        for text in BLOCKS:
            block = decode_block(text)
            for repeat in range(block["r"]):
                inputs = block["i"] if repeat == 0 else block["o"]
                stride = block["s"] if repeat == 0 else 1
                blocks.append(MBConv(inputs, block["o"], block["k"], stride, block["e"]))
        self._blocks = nn.ModuleList(blocks)
        last = decode_block(BLOCKS[-1])["o"]
        self._conv_head = Conv2dSame(last, HEAD_CHANNELS, 1)
        self._bn1 = batch_norm(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        embedding = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return embedding, self._fc(embedding)


def load_lite0(weights: Path) -> EfficientNetLite0:
    """The model in eval mode with every tensor of ``weights`` loaded (strictly: no key missing,
    none left over, every shape as the architecture above says)."""
    model = EfficientNetLite0()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def preprocess(path: Path) -> np.ndarray:
    """A photo file as the ``[3, 224, 224]`` float32 network input: Pillow's full decode, the
    short side resized to 256 (bilinear), the centre 224 x 224, ``(x - mean) / std``."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    scale = RESIZE_SHORT / min(rgb.size)
    width, height = (max(RESIZE_SHORT, round(side * scale)) for side in rgb.size)
    rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
    left, top = (width - IMAGE_SIZE) // 2, (height - IMAGE_SIZE) // 2
    crop = np.asarray(rgb.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE)), np.float32)
    normalised = (crop - np.array(MEAN_RGB, np.float32)) / np.array(STDDEV_RGB, np.float32)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))
