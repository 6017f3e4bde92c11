"""Export a tuned Lite0 as a backbone directory: the same files and manifest as the packaged
one (``prepare.py``), built by the same ONNX builder, checked before anything is written.

The check runs a few real photos, preprocessed exactly as serving does (decode, short side to
256, centre 224, ``(x - 127) / 128``), through ONNX Runtime on the new graph and through the
tuned PyTorch module, and refuses the export when any embedding or logit differs by more than
``tolerance``. When the run had no ImageNet distillation, the graph's ImageNet head no longer
matches the tuned embedding: the manifest then declares no logits output and no labels.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from hortus.vision.backbone import lite0
from hortus.vision.backbone.manifest import (
    MANIFEST_FILE,
    BackboneManifest,
    sha256_file,
    write_atomic,
    write_manifest,
)
from hortus.vision.backbone.prepare import LABELS_FILE, MODEL_FILE
from hortus.vision.backbone.session import crop_rgb_input, normalise_batch
from hortus.vision.decode import ImageDecodeError, decode_image
from hortus.vision.tuning import TORCH_MISSING, TuningError
from hortus.vision.tuning.model import Lite0, imagenet_state, load_state, numpy_state

try:  # the torch extra (never installed for serving)
    import torch
except ImportError as _missing:
    raise TuningError(TORCH_MISSING) from _missing

RESIZE_SHORT = 256
MEAN = (127.0, 127.0, 127.0)
STD = (128.0, 128.0, 128.0)
TOLERANCE = 1e-3  # absolute; measured differences are ~1e-5 (float32 summation order)


@dataclass(frozen=True)
class ExportReport:
    """What was written and how well the ONNX graph matched PyTorch."""

    path: Path
    sha256: str
    bytes: int
    photos: list[str]
    max_abs_diff_embedding: float
    max_abs_diff_logits: float
    logits: bool
    imagenet_top1_agreement: float | None  # tuned vs packaged ImageNet head, on the photos

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "sha256": self.sha256, "bytes": self.bytes,
            "check_photos": self.photos,
            "max_abs_diff_embedding": self.max_abs_diff_embedding,
            "max_abs_diff_logits": self.max_abs_diff_logits,
            "tolerance": TOLERANCE, "logits": self.logits,
            "imagenet_top1_agreement": self.imagenet_top1_agreement,
        }


def serving_inputs(photos: list[Path]) -> np.ndarray:
    """Photos as serving feeds them to a 224 x 224 backbone: float32 ``[n, 3, 224, 224]``."""
    crops = [crop_rgb_input(decode_image(Path(p).read_bytes()).rgb, resize_short=RESIZE_SHORT,
                            input_size=lite0.INPUT_SIZE) for p in photos]
    return normalise_batch(np.stack(crops), mean=MEAN, std=STD)


def _decodable(photos: list[Path]) -> list[Path]:
    usable = []
    for photo in photos:
        try:
            decode_image(Path(photo).read_bytes())
        except (ImageDecodeError, OSError):
            continue
        usable.append(Path(photo))
    return usable


def _torch_outputs(model: Lite0, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    with torch.inference_mode():
        embedding, logits = model(torch.from_numpy(batch))
    return embedding.numpy(), logits.numpy()


def half_precision(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The state with every float array rounded to float16 (and held as float32 again)."""
    return {k: v.astype(np.float16).astype(np.float32) if v.dtype.kind == "f" else v
            for k, v in state.items()}


def write_packaged(folder: Path, name: str, state: dict[str, np.ndarray], *, source: str,
                   logits: bool, check_photo: Path, check_embedding: np.ndarray) -> Path:
    """Write ``folder/<name>.npz`` (float arrays as float16) and ``folder/<name>.json``: what
    ``hortus.vision.backbone.prepare.prepare_packaged_backbone`` builds a backbone from."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{name}.npz"
    with weights.open("wb") as handle:
        arrays: dict[str, Any] = {k: v.astype(np.float16) if v.dtype.kind == "f" else v
                                  for k, v in state.items()}
        np.savez_compressed(handle, **arrays)
    card = {"name": name, "logits": logits, "source": source,
            "check": {"photo": "/".join(check_photo.parts[-3:]),  # <set>/<class>/<file>
                      "embedding_head": [round(float(x), 5) for x in check_embedding[:16]]}}
    (folder / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return weights


def export_backbone(model: Lite0, out_dir: Path, *, name: str, source: str, logits: bool,
                    check_photos: list[Path], tolerance: float = TOLERANCE,
                    packaged: Path | None = None) -> ExportReport:
    """Build the ONNX graph of ``model``'s weights with ``lite0.build_lite0_onnx``, check it
    on ``check_photos`` against ``model``, then write ``out_dir/{model.onnx, manifest.json}``
    (and the ImageNet labels when ``logits``), the manifest last.

    With ``packaged``, the weights are first rounded to float16 (in ``model`` too, so the check
    compares like with like) and also written there by :func:`write_packaged`: the exported
    directory is then exactly what Hortus builds from the shipped file."""
    check_photos = _decodable(check_photos)
    if not check_photos:
        raise TuningError("the export check needs at least one decodable photo")
    state = numpy_state(model)
    if packaged is not None:
        state = half_precision(state)
        load_state(model, state)
    graph = lite0.build_lite0_onnx(state)
    data = graph.SerializeToString()
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    session = ort.InferenceSession(data, sess_options=options,
                                   providers=["CPUExecutionProvider"])
    batch = serving_inputs(check_photos)
    onnx_embedding, onnx_logits = session.run(
        [lite0.EMBEDDING_OUTPUT, lite0.LOGITS_OUTPUT], {lite0.INPUT_NAME: batch})
    torch_embedding, torch_logits = _torch_outputs(model, batch)
    diff_embedding = float(np.abs(onnx_embedding - torch_embedding).max())
    diff_logits = float(np.abs(onnx_logits - torch_logits).max())
    if not (diff_embedding <= tolerance and diff_logits <= tolerance):  # NaN fails too
        raise TuningError(
            f"ONNX and PyTorch disagree on {len(check_photos)} photos: embedding "
            f"{diff_embedding:.2e}, logits {diff_logits:.2e} > {tolerance:.0e}; nothing written")
    agreement = None
    if logits:
        imagenet = Lite0()
        load_state(imagenet, imagenet_state())
        _, reference = _torch_outputs(imagenet, batch)
        agreement = float(np.mean(reference.argmax(1) == torch_logits.argmax(1)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_FILE).unlink(missing_ok=True)  # a half-written dir never looks ready
    write_atomic(out_dir / MODEL_FILE, data)
    if logits:
        labels = resources.files("hortus.vision.backbone").joinpath(LABELS_FILE)
        with resources.as_file(labels) as labels_path:
            shutil.copyfile(labels_path, out_dir / LABELS_FILE)
    else:
        (out_dir / LABELS_FILE).unlink(missing_ok=True)
    if packaged is not None:
        write_packaged(packaged, name, state, source=source, logits=logits,
                       check_photo=check_photos[0], check_embedding=onnx_embedding[0])
    digest = sha256_file(out_dir / MODEL_FILE)
    write_manifest(out_dir, BackboneManifest(
        name=name, file=MODEL_FILE, sha256=digest, input_size=lite0.INPUT_SIZE,
        resize_short=RESIZE_SHORT, mean=MEAN, std=STD, input_name=lite0.INPUT_NAME,
        embedding_output=lite0.EMBEDDING_OUTPUT,
        logits_output=lite0.LOGITS_OUTPUT if logits else None,
        embedding_size=lite0.EMBEDDING_SIZE, labels_file=LABELS_FILE if logits else None,
        source=source,
    ))
    return ExportReport(path=out_dir, sha256=digest, bytes=len(data),
                        photos=[str(p) for p in check_photos],
                        max_abs_diff_embedding=diff_embedding, max_abs_diff_logits=diff_logits,
                        logits=logits, imagenet_top1_agreement=agreement)
