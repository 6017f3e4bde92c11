"""A backbone on ONNX Runtime: preprocessing from its manifest, one forward pass, two outputs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from hortus.vision.backbone.manifest import (
    BackboneError,
    BackboneManifest,
    read_manifest,
    sha256_file,
)
from hortus.vision.decode import DecodedImage

MAX_FORWARD_BATCH = 2
"""Images per ONNX Runtime call; :meth:`Backbone.forward` splits larger batches.

A forward pass holds the activations of its whole batch at once (EfficientNet-Lite0 at 224 px:
~7 MB an image, one 96x112x112 tensor alone 4.8 MB), and ONNX Runtime's memory arena keeps, for
as long as the session lives, room for the largest calls it has run side by side, rounded up
to powers of two. The four views of a photo in one call kept ~50 MB with one inference thread
and 80-140 MB with two; two images per call keep ~25 and ~40 MB, and run as fast (measured:
0.96-0.98x the time of one call of 4, with one or two intra-op threads; one image per call is
2-5% slower)."""

# Run option that makes ONNX Runtime hand the arena's unused regions back at the end of a call.
_SHRINK_ARENA = ort.RunOptions()
_SHRINK_ARENA.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")


@dataclass(frozen=True)
class BackboneOutput:
    """Raw outputs of one forward pass over a batch of ``n`` images."""

    embeddings: np.ndarray  # float32 [n, D], not L2-normalised
    logits: np.ndarray | None  # float32 [n, C] (ImageNet logits), when the backbone has them


def centre_crop_box(width: int, height: int, resize_short: int, crop: int) -> tuple[float, ...]:
    """Source box kept by "resize the short side to ``resize_short``, centre crop ``crop``".

    Resizing only that box straight to ``crop x crop`` equals resize-then-crop without
    materialising the intermediate image.
    """
    scale = resize_short / min(width, height)
    resized_w, resized_h = round(width * scale), round(height * scale)
    left = (resized_w - crop) // 2
    top = (resized_h - crop) // 2
    sx, sy = width / resized_w, height / resized_h
    return (left * sx, top * sy, (left + crop) * sx, (top + crop) * sy)


def crop_rgb_input(
    rgb: np.ndarray, *, resize_short: int, input_size: int, hflip: bool = False
) -> np.ndarray:
    """HxWx3 uint8 RGB -> uint8 ``[S, S, 3]``: resize the short side, centre crop, maybe mirror.

    Resampling is Pillow's antialiased bilinear (one call, done without the GIL).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected HxWx3 uint8 RGB, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    box = centre_crop_box(width, height, resize_short, input_size)
    crop = Image.fromarray(rgb).resize(
        (input_size, input_size), Image.Resampling.BILINEAR, box=box  # type: ignore[arg-type]
    )
    pixels = np.asarray(crop)
    return pixels[:, ::-1] if hflip else pixels


def normalise_batch(
    pixels: np.ndarray, *, mean: Sequence[float], std: Sequence[float]
) -> np.ndarray:
    """uint8 ``[n, S, S, 3]`` -> float32 ``[n, 3, S, S]``: ``(x - mean) / std`` per channel.

    A whole batch at once, channel by channel into the planar output: NumPy broadcasting over a
    trailing axis of 3 runs 3-element inner loops, 4x slower than these whole-plane ones, and a
    batch takes the GIL back 6 times instead of 6 times per view.
    """
    n, height, width, _ = pixels.shape
    out = np.empty((n, 3, height, width), np.float32)
    for channel in range(3):
        planes = out[:, channel]
        np.subtract(pixels[..., channel], np.float32(mean[channel]), out=planes,
                    dtype=np.float32)
        planes *= np.float32(1.0) / np.float32(std[channel])
    return out


def preprocess_rgb(
    rgb: np.ndarray,
    *,
    resize_short: int,
    input_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    hflip: bool = False,
) -> np.ndarray:
    """HxWx3 uint8 RGB -> float32 ``[3, S, S]``: resize short side, centre crop, ``(x-mean)/std``.

    Resampling is Pillow's antialiased bilinear. ``hflip`` mirrors the crop left-right.
    """
    pixels = crop_rgb_input(rgb, resize_short=resize_short, input_size=input_size, hflip=hflip)
    return normalise_batch(pixels[None], mean=mean, std=std)[0]


class Backbone:
    """An image backbone loaded from a directory holding ``manifest.json`` and its ONNX file."""

    def __init__(
        self, manifest: BackboneManifest, session: ort.InferenceSession, labels: list[str] | None
    ) -> None:
        self.manifest = manifest
        self.session = session
        self.labels = labels
        self._outputs = [manifest.embedding_output]
        if manifest.logits_output is not None:
            self._outputs.append(manifest.logits_output)

    @classmethod
    def load(cls, model_dir: Path, *, threads: int = 1) -> Backbone:
        """Load a backbone, verifying the model's sha256 against the manifest.

        ONNX Runtime runs with ``threads`` intra-op threads, one inter-op thread and sequential
        execution, so several processes can share the cores predictably.
        """
        model_dir = Path(model_dir)
        manifest = read_manifest(model_dir)
        model_path = model_dir / manifest.file
        if not model_path.is_file():
            raise BackboneError(f"model file {model_path} is missing")
        digest = sha256_file(model_path)
        if digest != manifest.sha256:
            raise BackboneError(
                f"checksum mismatch for {model_path}: {digest} != manifest {manifest.sha256}"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        _check_io(session, manifest)
        labels = _read_labels(model_dir, manifest)
        return cls(manifest, session, labels)

    def preprocess(self, image: DecodedImage, *, hflip: bool = False) -> np.ndarray:
        """Decoded image -> float32 ``[3, S, S]`` as this backbone's manifest prescribes."""
        return self.normalise(self.crop(image, hflip=hflip)[None])[0]

    def crop(self, image: DecodedImage, *, hflip: bool = False) -> np.ndarray:
        """Decoded image -> uint8 ``[S, S, 3]``, resized and cropped as the manifest says."""
        m = self.manifest
        return crop_rgb_input(
            image.rgb, resize_short=m.resize_short, input_size=m.input_size, hflip=hflip
        )

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 ``[n, S, S, 3]`` crops -> the float32 ``[n, 3, S, S]`` batch to forward."""
        return normalise_batch(pixels, mean=self.manifest.mean, std=self.manifest.std)

    def forward(self, batch: np.ndarray) -> BackboneOutput:
        """Run the backbone over float32 ``[n, 3, S, S]``, at most :data:`MAX_FORWARD_BATCH`
        images per ONNX Runtime call (the outputs are those of one call over the batch)."""
        size = self.manifest.input_size
        if batch.ndim != 4 or batch.shape[1:] != (3, size, size):
            raise ValueError(f"expected a batch [n, 3, {size}, {size}], got {batch.shape}")
        if len(batch) <= MAX_FORWARD_BATCH:
            return self._run(batch)
        parts = [self._run(batch[start : start + MAX_FORWARD_BATCH])
                 for start in range(0, len(batch), MAX_FORWARD_BATCH)]
        logits = [part.logits for part in parts if part.logits is not None]
        return BackboneOutput(embeddings=np.concatenate([part.embeddings for part in parts]),
                              logits=np.concatenate(logits) if logits else None)

    def _run(self, batch: np.ndarray, options: ort.RunOptions | None = None) -> BackboneOutput:
        feed = {self.manifest.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        results = self.session.run(self._outputs, feed, options)
        embeddings = np.asarray(results[0], dtype=np.float32)
        logits = np.asarray(results[1], dtype=np.float32) if len(results) > 1 else None
        return BackboneOutput(embeddings=embeddings, logits=logits)

    def release_memory(self) -> None:
        """Give back the memory ONNX Runtime keeps between calls for activations.

        The arena only shrinks at the end of a call, so this runs a call of zeros of the
        usual size (:data:`MAX_FORWARD_BATCH` images, ~20 ms of one core) with the shrink
        option; calls running meanwhile keep the regions they use. The next calls take the
        memory again, with a page fault per page (~3 ms for a photo): call it when the process
        has been idle a while, not between requests.
        """
        size = self.manifest.input_size
        self._run(np.zeros((MAX_FORWARD_BATCH, 3, size, size), np.float32), _SHRINK_ARENA)

    def embed(self, images: Sequence[DecodedImage]) -> BackboneOutput:
        """Preprocess and forward a batch of decoded images (an empty batch gives empty arrays)."""
        if not images:
            size = self.manifest.input_size
            return self.forward(np.zeros((0, 3, size, size), np.float32))
        return self.forward(self.normalise(np.stack([self.crop(image) for image in images])))


def _check_io(session: ort.InferenceSession, manifest: BackboneManifest) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if manifest.input_name not in inputs:
        raise BackboneError(f"model has no input {manifest.input_name!r} (has {sorted(inputs)})")
    for name in (manifest.embedding_output, manifest.logits_output):
        if name is not None and name not in outputs:
            raise BackboneError(f"model has no output {name!r} (has {sorted(outputs)})")
    width = outputs[manifest.embedding_output].shape[-1]
    if isinstance(width, int) and width != manifest.embedding_size:
        raise BackboneError(
            f"embedding output is {width}-d, manifest says {manifest.embedding_size}"
        )


def _read_labels(model_dir: Path, manifest: BackboneManifest) -> list[str] | None:
    if manifest.labels_file is None:
        return None
    path = model_dir / manifest.labels_file
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BackboneError(f"unreadable labels file {path}: {exc}") from exc
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise BackboneError(f"{path} must be a JSON list of strings")
    return labels
