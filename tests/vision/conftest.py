"""Shared vision fixtures: the real backbone (built once), a tiny known-output backbone, photos."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from hortus.vision.backbone import BackboneManifest, prepare_backbone
from hortus.vision.backbone.manifest import sha256_file, write_manifest

REPO = Path(__file__).resolve().parents[2]

TINY_SIZE = 8
TINY_MEAN = (127.0, 127.0, 127.0)
TINY_STD = (128.0, 128.0, 128.0)
# logits = embedding @ TINY_LOGIT_WEIGHTS.T + TINY_LOGIT_BIAS
TINY_LOGIT_WEIGHTS = np.array(
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]], np.float32
)
TINY_LOGIT_BIAS = np.array([0.0, 0.0, 0.0, 0.5], np.float32)
TINY_LABELS = ["red", "green", "blue", "bright"]


def shared_data_dir() -> Path:
    """The shared photo sets (``HORTUS_SHARED_DATA`` or ``<repo>/../shared/data``)."""
    return Path(os.environ.get("HORTUS_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the shared data sets; skips the test when they are absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def backbone_dir(shared_models_dir: Path) -> Path:
    """The real EfficientNet-Lite0 backbone, converted once per session (into the session's
    models directory, which the other folders' tests share)."""
    return prepare_backbone(shared_models_dir)


def build_tiny_model() -> onnx.ModelProto:
    """``[n,3,8,8]`` -> embedding = per-channel mean (3-d), logits = a known 4x3 linear map."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["pixels"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["embedding"], axis=1),
        helper.make_node("Gemm", ["embedding", "w", "b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info(
                "pixels", TensorProto.FLOAT, ["n", 3, TINY_SIZE, TINY_SIZE]
            )
        ],
        [
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 3]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 4]),
        ],
        [
            numpy_helper.from_array(TINY_LOGIT_WEIGHTS, "w"),
            numpy_helper.from_array(TINY_LOGIT_BIAS, "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_tiny_backbone(model_dir: Path) -> Path:
    """Write the tiny model, its labels and manifest into ``model_dir``."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.onnx").write_bytes(build_tiny_model().SerializeToString())
    (model_dir / "labels.json").write_text(json.dumps(TINY_LABELS))
    manifest = BackboneManifest(
        name="tiny-mean",
        file="model.onnx",
        sha256=sha256_file(model_dir / "model.onnx"),
        input_size=TINY_SIZE,
        resize_short=TINY_SIZE,
        mean=TINY_MEAN,
        std=TINY_STD,
        input_name="pixels",
        embedding_output="embedding",
        logits_output="logits",
        embedding_size=3,
        labels_file="labels.json",
    )
    write_manifest(model_dir, manifest)
    return model_dir


@pytest.fixture
def tiny_backbone_dir(tmp_path: Path) -> Path:
    """A tiny backbone (fresh per test, so tests may damage it): embedding = mean normalised
    pixel per channel ``(x - 127) / 128``; logits = ``[r, g, b, r + g + b + 0.5]``."""
    return write_tiny_backbone(tmp_path / "tiny-backbone")


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    """Encode a Pillow image to bytes."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def big_jpeg() -> bytes:
    """A realistic 4000x3000 (12 MP) JPEG, quality 90: skimage's astronaut photo upscaled."""
    from skimage import data as skdata

    photo = Image.fromarray(skdata.astronaut()[64:448])  # 512x384, 4:3
    photo = photo.resize((4000, 3000), Image.Resampling.BICUBIC)
    return encode(photo, "JPEG", quality=90)
