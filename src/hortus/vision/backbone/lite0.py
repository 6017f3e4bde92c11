"""Build an ONNX graph of EfficientNet-Lite0 from its state dict (NumPy arrays).

EfficientNet-Lite0 is the TensorFlow EfficientNet-Lite: TF "SAME" padding (asymmetric for the
stride-2 convolutions, the extra row/column on the bottom/right), BatchNorm with eps 1e-3,
ReLU6, no squeeze-excitation, a 32-channel stem and a 1280-channel head. Each BatchNorm is
folded into the convolution before it; the graph has two outputs from one forward pass: the
global-average-pooled 1280-d embedding and the 1000 ImageNet logits.

Only this module knows the Lite0 architecture; serving reads whatever ONNX + manifest it is
given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BN_EPS = 1e-3
INPUT_SIZE = 224
INPUT_NAME = "pixels"
EMBEDDING_OUTPUT = "embedding"
LOGITS_OUTPUT = "logits"
EMBEDDING_SIZE = 1280
OPSET = 17


@dataclass(frozen=True)
class StageArgs:
    """One stage of MBConv blocks (EfficientNet's block string ``r_k_s_e_i_o``)."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int


# EfficientNet-Lite0 (width 1.0, depth 1.0): the B0 stages without squeeze-excitation.
LITE0_STAGES: tuple[StageArgs, ...] = (
    StageArgs(1, 3, 1, 1, 32, 16),
    StageArgs(2, 3, 2, 6, 16, 24),
    StageArgs(2, 5, 2, 6, 24, 40),
    StageArgs(3, 3, 2, 6, 40, 80),
    StageArgs(3, 5, 1, 6, 80, 112),
    StageArgs(4, 5, 2, 6, 112, 192),
    StageArgs(1, 3, 1, 6, 192, 320),
)


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TF "SAME" padding along one axis: ``(pad_begin, pad_end, output_size)``.

    The output is ``ceil(size / stride)``; when the total padding is odd the extra pixel goes
    at the end (bottom/right), as TensorFlow does.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


def fold_batchnorm(
    weight: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float = BN_EPS,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold an inference BatchNorm into the bias-free convolution before it.

    ``BN(conv(x, W)) = conv(x, W * s) + (beta - mean * s)`` with ``s = gamma / sqrt(var + eps)``,
    the scale applied per output channel (axis 0 of ``W``). Computed in float64, returned float32.
    """
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    folded_w = weight.astype(np.float64) * scale.reshape(-1, *([1] * (weight.ndim - 1)))
    folded_b = beta.astype(np.float64) - mean.astype(np.float64) * scale
    return folded_w.astype(np.float32), folded_b.astype(np.float32)


class _GraphBuilder:
    """Accumulates nodes and initialisers while consuming state-dict keys strictly."""

    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        self.state = state
        self.used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.size = INPUT_SIZE

    def take(self, key: str) -> np.ndarray:
        if key not in self.state:
            raise KeyError(f"missing weight {key}")
        self.used.add(key)
        return np.asarray(self.state[key])

    def constant(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def conv_bn(
        self, x: str, conv: str, bn: str, *, stride: int = 1, group: int = 1, relu6: bool
    ) -> str:
        """Conv (BN folded in, TF SAME pads) optionally followed by Clip(0, 6)."""
        weight = self.take(f"{conv}.weight")
        stats = [self.take(f"{bn}.{p}") for p in ("weight", "bias", "running_mean", "running_var")]
        self.take(f"{bn}.num_batches_tracked")  # training counter: consumed, not used
        w, b = fold_batchnorm(weight, *stats)  # type: ignore[arg-type]
        kernel = w.shape[-1]
        begin, end, out = same_pads(self.size, kernel, stride)
        self.size = out
        y = f"{conv}.out"
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, self.constant(f"{conv}.w", w), self.constant(f"{conv}.b", b)],
                [y],
                name=conv,
                kernel_shape=[kernel, kernel],
                strides=[stride, stride],
                pads=[begin, begin, end, end],
                group=group,
            )
        )
        if not relu6:
            return y
        lo = self.constant(f"{conv}.lo", np.array(0.0, np.float32))
        hi = self.constant(f"{conv}.hi", np.array(6.0, np.float32))
        self.nodes.append(
            helper.make_node("Clip", [y, lo, hi], [f"{conv}.act"], name=f"{conv}.relu6")
        )
        return f"{conv}.act"

    def mbconv(self, x: str, index: int, stage: StageArgs, in_ch: int, stride: int) -> str:
        """Inverted-residual block: [expand 1x1] -> depthwise kxk -> project 1x1 (+ skip)."""
        p = f"_blocks.{index}"
        h = x
        hidden = in_ch * stage.expand
        if stage.expand != 1:
            h = self.conv_bn(h, f"{p}._expand_conv", f"{p}._bn0", relu6=True)
        h = self.conv_bn(
            h, f"{p}._depthwise_conv", f"{p}._bn1", stride=stride, group=hidden, relu6=True
        )
        h = self.conv_bn(h, f"{p}._project_conv", f"{p}._bn2", relu6=False)
        if stride == 1 and in_ch == stage.out_channels:
            self.nodes.append(helper.make_node("Add", [h, x], [f"{p}.sum"], name=f"{p}.skip"))
            h = f"{p}.sum"
        return h


def build_lite0_onnx(state: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """Build the EfficientNet-Lite0 ONNX model (input ``[n, 3, 224, 224]``, normalised pixels).

    Every state-dict key must be consumed and none may be missing (``KeyError``/``ValueError``
    otherwise). Outputs: ``embedding`` float32 ``[n, 1280]`` and ``logits`` float32 ``[n, 1000]``.
    """
    g = _GraphBuilder(state)
    x = g.conv_bn(INPUT_NAME, "_conv_stem", "_bn0", stride=2, relu6=True)
    index = 0
    for stage in LITE0_STAGES:
        for repeat in range(stage.repeats):
            in_ch = stage.in_channels if repeat == 0 else stage.out_channels
            stride = stage.stride if repeat == 0 else 1
            x = g.mbconv(x, index, stage, in_ch, stride)
            index += 1
    x = g.conv_bn(x, "_conv_head", "_bn1", relu6=True)
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
    g.nodes.append(
        helper.make_node("Flatten", ["pooled"], [EMBEDDING_OUTPUT], axis=1, name="flatten")
    )
    fc_w = g.take("_fc.weight").astype(np.float32)
    fc_b = g.take("_fc.bias").astype(np.float32)
    g.nodes.append(
        helper.make_node(
            "Gemm",
            [EMBEDDING_OUTPUT, g.constant("_fc.w", fc_w), g.constant("_fc.b", fc_b)],
            [LOGITS_OUTPUT],
            transB=1,
            name="fc",
        )
    )
    unused = sorted(set(state) - g.used)
    if unused:
        raise ValueError(f"{len(unused)} weights not consumed by the Lite0 graph: {unused[:5]}")
    n_classes = fc_w.shape[0]
    graph = helper.make_graph(
        g.nodes,
        "efficientnet_lite0",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, ["n", 3, INPUT_SIZE, INPUT_SIZE]
            )
        ],
        [
            helper.make_tensor_value_info(
                EMBEDDING_OUTPUT, TensorProto.FLOAT, ["n", EMBEDDING_SIZE]
            ),
            helper.make_tensor_value_info(LOGITS_OUTPUT, TensorProto.FLOAT, ["n", n_classes]),
        ],
        g.initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="hortus"
    )
    model.ir_version = 8  # readable by any ONNX Runtime >= 1.10
    onnx.checker.check_model(model)
    return model
