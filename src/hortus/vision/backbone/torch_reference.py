"""A plain PyTorch forward pass of EfficientNet-Lite0 from the same state dict.

Only for the cross-check test and the naive benchmark baseline: PyTorch is imported lazily and
is never needed to serve. The maths is written independently of the ONNX builder (BatchNorm
kept separate, padding applied with ``F.pad``) so that the two can check each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hortus.vision.backbone.lite0 import BN_EPS, LITE0_STAGES


def build_torch_lite0(state: Mapping[str, np.ndarray]) -> Any:
    """Return a callable ``forward(x: torch.Tensor) -> (embedding, logits)`` in eval mode."""
    import torch
    import torch.nn.functional as F

    weights = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}

    def same_pad(x: Any, kernel: int, stride: int) -> Any:
        height, width = x.shape[-2:]
        pads = []
        for size in (width, height):
            out = -(-size // stride)
            total = max((out - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads)

    def conv_bn(x: Any, conv: str, bn: str, stride: int, groups: int, act: bool) -> Any:
        w = weights[f"{conv}.weight"]
        x = F.conv2d(same_pad(x, w.shape[-1], stride), w, stride=stride, groups=groups)
        x = F.batch_norm(
            x,
            weights[f"{bn}.running_mean"],
            weights[f"{bn}.running_var"],
            weights[f"{bn}.weight"],
            weights[f"{bn}.bias"],
            training=False,
            eps=BN_EPS,
        )
        return F.relu6(x) if act else x

    @torch.inference_mode()
    def forward(x: Any) -> tuple[Any, Any]:
        x = conv_bn(x, "_conv_stem", "_bn0", 2, 1, True)
        index = 0
        for stage in LITE0_STAGES:
            for repeat in range(stage.repeats):
                stride = stage.stride if repeat == 0 else 1
                p = f"_blocks.{index}"
                h = x
                if stage.expand != 1:
                    h = conv_bn(h, f"{p}._expand_conv", f"{p}._bn0", 1, 1, True)
                h = conv_bn(h, f"{p}._depthwise_conv", f"{p}._bn1", stride, h.shape[1], True)
                h = conv_bn(h, f"{p}._project_conv", f"{p}._bn2", 1, 1, False)
                x = h + x if stride == 1 and x.shape == h.shape else h
                index += 1
        x = conv_bn(x, "_conv_head", "_bn1", 1, 1, True)
        embedding = x.mean(dim=(2, 3))
        logits = F.linear(embedding, weights["_fc.weight"], weights["_fc.bias"])
        return embedding, logits

    return forward
