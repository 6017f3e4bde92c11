"""Benchmark: one, two and five photos per identification — top-1, rejection and calibration.

    .venv/bin/python bench/bench_fusion.py [--data-dir DIR] [--json FILE]

A ``flowers17`` project is trained with the default recipe on the first 40 Oxford-17 photos of
each class (or reused from ``--data-dir``); every figure comes from photos it never saw:

* answerable requests: the other 40 photos of each class, cut into disjoint requests of
  n = 1, 2 and 5 photos of one class (organ ``flower``);
* unknown requests: iBean bean-leaf photos (no flower of the project), cut the same way, by
  class, so that every request shows one kind of plant.

Each request goes through the server's own code: every photo embedded as
:class:`hortus.identify.pipeline.PhotoPipeline` embeds it (the engine's views, whatever the
number of photos), then :func:`hortus.identify.service.rank_species` (organ weights, fusion,
open-set rule). Per n: top-1 of the fused ranking (rejection ignored),
``kept`` (answerable requests not rejected), ``unknown_rejected``, and the calibration of the
top score (ECE over 10 bins, mean top score against top-1). JSON on stdout (or ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from bench_identify import PROJECT, SPECIES, TRAIN, photos, train  # noqa: E402

SHARED = Path(os.environ.get("HORTUS_SHARED_DATA", REPO.parent / "shared" / "data"))
COUNTS = (1, 2, 5)
UNKNOWN_PER_CLASS = 60


def log(message: str) -> None:
    sys.stderr.write(message + "\n")


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top score (equal-width bins)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total)


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items) - size + 1, size)]


def embed_all(engine, paths: list[Path]) -> np.ndarray:
    """Each photo embedded as the server's pipeline does (the engine's views)."""
    decoded = [engine.decode(p.read_bytes()) for p in paths]
    return np.concatenate([engine.embed(decoded[i:i + 16]).embeddings
                           for i in range(0, len(decoded), 16)])


def measure(engine, model) -> dict:
    from hortus.identify.service import rank_species

    answerable = {name: photos(label)[TRAIN:] for label, name in SPECIES.items()}
    unknown_root = SHARED / "ibean"
    unknown = {d.name: sorted(d.glob("*.jpg"))[:UNKNOWN_PER_CLASS]
               for d in sorted(unknown_root.iterdir()) if d.is_dir()}
    answerable_embeddings = {name: embed_all(engine, paths) for name, paths in answerable.items()}
    unknown_embeddings = [embed_all(engine, paths) for paths in unknown.values()]
    results = {}
    for n in COUNTS:
        hits, confidence, kept = [], [], []
        for name, embeddings in answerable_embeddings.items():
            for rows in chunks(list(range(len(embeddings))), n):
                ranking = rank_species([model], embeddings[rows], ["flower"] * n)
                best = max(ranking.merged, key=ranking.merged.get)
                hits.append(best == name)
                confidence.append(ranking.merged[best])
                kept.append(not ranking.rejected)
        refused = []
        for embeddings in unknown_embeddings:
            for rows in chunks(list(range(len(embeddings))), n):
                refused.append(rank_species([model], embeddings[rows], ["flower"] * n).rejected)
        correct, conf = np.array(hits, float), np.array(confidence)
        results[str(n)] = {
            "requests": len(hits),
            "top1": round(float(correct.mean()), 4), "kept": round(float(np.mean(kept)), 4),
            "unknown_requests": len(refused),
            "unknown_rejected": round(float(np.mean(refused)), 4),
            "mean_top_score": round(float(conf.mean()), 4),
            "ece": round(ece(conf, correct), 4),
        }
        log(f"{n} photo(s): {results[str(n)]}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="reuse a data dir with flowers17 trained")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data_dir or Path(scratch)
        if args.data_dir is None:
            log("training flowers17 on 40 photos per class...")
            train(data_dir)
        from hortus.config import Settings
        from hortus.vision.engine import VisionEngine

        settings = Settings(data_dir=data_dir)
        engine = VisionEngine.load(settings.models_dir, threads=2, extra_project_dirs=())
        model = engine.project(PROJECT)
        output = {"project": PROJECT, "recipe_test_views": model.recipe.get("test_views"),
                  "engine_views": list(engine.views), "by_photos_per_request": measure(engine,
                                                                                       model)}
    text = json.dumps(output, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
