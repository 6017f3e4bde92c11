"""Open set of the packaged flowers and bean projects: what each refuses.

    .venv/bin/python bench/bench_openset.py [--json docs/figures/openset.json]

The shipped projects as a fresh install loads them, every photo embedded as the server does
(the engine's views). Three kinds of photos no project was trained to name:

* the scikit-image sample pictures bundled with the package (people, cats, coffee, rockets,
  textures, text, the moon...; those that need a download are left out);
* for ``bean``: every Oxford-17 and flowers5 flower photo;
* for ``flowers``: every iBean leaf photo.

Per project and kind: how many, the share rejected, and the highest open-set score beside the
project's threshold. JSON on stdout (and ``--json``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HORTUS_SHARED_DATA", REPO.parent / "shared" / "data"))
SKIMAGE_PICTURES = ("astronaut", "brick", "camera", "cat", "checkerboard", "chelsea", "clock",
                    "coffee", "coins", "colorwheel", "grass", "gravel", "horse",
                    "hubble_deep_field", "immunohistochemistry", "logo", "microaneurysms",
                    "moon", "page", "retina", "rocket", "text")


def log(message: str) -> None:
    sys.stderr.write(message + "\n")


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = (255 * (array - array.min()) / max(float(np.ptp(array)), 1e-9)).astype(np.uint8)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(array[..., :3]).save(buffer, "PNG")
    return buffer.getvalue()


def skimage_pictures() -> dict[str, bytes]:
    """The bundled sample pictures (any that would need a download is skipped)."""
    from skimage import data

    found = {}
    for name in SKIMAGE_PICTURES:
        try:
            found[name] = _png(getattr(data, name)())
        except Exception as exc:  # noqa: BLE001 - not bundled in this scikit-image
            log(f"skipped {name}: {type(exc).__name__}")
    return found


def embed(engine, blobs: list[bytes]) -> np.ndarray:
    rows = []
    for start in range(0, len(blobs), 16):
        images = [engine.decode(b) for b in blobs[start:start + 16]]
        rows.append(engine.embed(images).embeddings)
    return np.concatenate(rows)


def figures(model, embeddings: np.ndarray) -> dict:
    prediction = model.predict(embeddings)
    return {"photos": len(embeddings),
            "rejected": round(float(prediction.rejected.mean()), 4),
            "highest_score": round(float(prediction.known_scores.max()), 4),
            "threshold": round(float(prediction.threshold), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from hortus.vision.engine import VisionEngine

    with tempfile.TemporaryDirectory() as models:
        engine = VisionEngine.load(Path(models), threads=2)
        pictures = skimage_pictures()
        picture_embeddings = embed(engine, list(pictures.values()))
        flowers = sorted((SHARED / "oxford17").glob("*/*.jpg")) + sorted(
            (SHARED / "flowers5").glob("*/*.jpg"))
        leaves = sorted((SHARED / "ibean").glob("*/*.jpg"))
        log(f"embedding {len(flowers)} flower and {len(leaves)} leaf photos...")
        flower_embeddings = embed(engine, [p.read_bytes() for p in flowers])
        leaf_embeddings = embed(engine, [p.read_bytes() for p in leaves])
        output = {
            "skimage_pictures": sorted(pictures),
            "flowers": {"skimage": figures(engine.project("flowers"), picture_embeddings),
                        "ibean_leaves": figures(engine.project("flowers"), leaf_embeddings),
                        "version": engine.project("flowers").version},
            "bean": {"skimage": figures(engine.project("bean"), picture_embeddings),
                     "oxford17_and_flowers5": figures(engine.project("bean"),
                                                      flower_embeddings),
                     "version": engine.project("bean").version},
        }
    text = json.dumps(output, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
