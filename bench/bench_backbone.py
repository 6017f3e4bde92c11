"""Benchmark: a backbone directory against the packaged EfficientNet-Lite0, in the same run.

    .venv/bin/python bench/bench_backbone.py --backbone DIR [--threads 1] [--repeats 30]
        [--models-dir DIR] [--out docs/figures/backbone.json]

Per-photo inference time: real photos (Oxford-17, iBean and fetched-set samples from
``../shared/data``) are decoded once, outside the timing; one timed call is ONE forward pass of
one photo as serving runs it (its four test views in one batch, ``VisionEngine.embed``'s
default; also the centre view alone), with ONNX Runtime on ``--threads`` intra-op threads
(default: the server's ``HORTUS_INFERENCE_THREADS``). The two backbones take turns photo by
photo, so that a busy machine slows both alike; the figure is the median. Model size: the ONNX
file's bytes. Ratios are candidate / Lite0. Progress goes to stderr; the JSON summary to stdout
and to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HORTUS_SHARED_DATA", REPO.parent / "shared" / "data"))
PHOTO_GLOBS = ("oxford17/*/*.jpg", "ibean/*/*.jpg", "samples/*/*/*.jpg", "samples/*/*/*.png")


def log(message: str) -> None:
    sys.stderr.write(message + "\n")


def real_photos(count: int) -> list[Path]:
    """``count`` photos spread evenly over the shared sets' sorted list."""
    found = sorted(p for pattern in PHOTO_GLOBS for p in SHARED.glob(pattern))
    if not found:
        raise SystemExit(f"no photos under {SHARED}")
    picks = np.linspace(0, len(found) - 1, num=min(count, len(found))).round().astype(int)
    return [found[i] for i in picks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", type=Path, required=True, help="candidate backbone dir")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="where the packaged Lite0 is (or is prepared); default a temp dir")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=30, help="timed forwards per backbone")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "backbone.json")
    args = parser.parse_args()

    from hortus.config import Settings
    from hortus.vision.backbone import Backbone, prepare_backbone
    from hortus.vision.decode import decode_image
    from hortus.vision.test_time_crops import TEST_VIEWS, VIEWS, view_pixels

    threads = args.threads or Settings().inference_threads
    tmp = tempfile.TemporaryDirectory()
    lite0_dir = prepare_backbone(args.models_dir or Path(tmp.name))
    backbones = {"lite0": Backbone.load(lite0_dir, threads=threads),
                 "candidate": Backbone.load(args.backbone, threads=threads)}
    photos = real_photos(args.photos)
    images = [decode_image(p.read_bytes()) for p in photos]
    log(f"{len(images)} photos decoded; {threads} ONNX Runtime thread(s)")

    def batch(backbone: Backbone, image: object, views: tuple[str, ...]) -> np.ndarray:
        return backbone.normalise(np.stack([view_pixels(backbone, image, VIEWS[v])
                                            for v in views]))

    timings: dict[str, dict[str, list[float]]] = {name: {"views": [], "center": []}
                                                  for name in backbones}
    for backbone in backbones.values():  # warm-up
        for _ in range(3):
            backbone.forward(batch(backbone, images[0], TEST_VIEWS))
    for r in range(args.repeats):
        image = images[r % len(images)]
        order = list(backbones) if r % 2 == 0 else list(reversed(backbones))
        for name in order:
            backbone = backbones[name]
            for kind, views in (("views", TEST_VIEWS), ("center", ("center",))):
                inputs = batch(backbone, image, views)
                start = time.perf_counter()
                backbone.forward(inputs)
                timings[name][kind].append((time.perf_counter() - start) * 1000)

    summary: dict = {
        "what": ("per-photo forward time (decode and preprocessing excluded; the photo's "
                 f"{len(TEST_VIEWS)} serving views in one batch, and the centre view alone), "
                 "median over photos taken in turns by both backbones; ONNX file size. "
                 "Ratios: candidate / lite0."),
        "threads": threads, "cpu_count": os.cpu_count(), "repeats": args.repeats,
        "photos": [str(p.relative_to(SHARED)) for p in photos],
    }
    for name, backbone in backbones.items():
        model = Path(args.backbone if name == "candidate" else lite0_dir) / backbone.manifest.file
        summary[name] = {
            "name": backbone.manifest.name, "sha256": backbone.manifest.sha256,
            "input_size": backbone.manifest.input_size, "model_bytes": model.stat().st_size,
            "source": backbone.manifest.source,
            "forward_ms_views": round(statistics.median(timings[name]["views"]), 2),
            "forward_ms_center": round(statistics.median(timings[name]["center"]), 2),
        }
    a, b = summary["candidate"], summary["lite0"]
    summary["ratios"] = {
        "forward_views": round(a["forward_ms_views"] / b["forward_ms_views"], 3),
        "forward_center": round(a["forward_ms_center"] / b["forward_ms_center"], 3),
        "model_bytes": round(a["model_bytes"] / b["model_bytes"], 3),
    }
    summary["load_average_1min"] = round(os.getloadavg()[0], 2)
    log(f"lite0 {b['forward_ms_views']} ms / candidate {a['forward_ms_views']} ms a photo "
        f"({len(TEST_VIEWS)} views): ratio {summary['ratios']['forward_views']}; size ratio "
        f"{summary['ratios']['model_bytes']}; load average {summary['load_average_1min']}")
    text = json.dumps(summary, indent=2) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    tmp.cleanup()


if __name__ == "__main__":
    main()
