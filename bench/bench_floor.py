"""Benchmark: the floor recipe of ``../shared/data/README.md`` on the very photos Hortus's CV used.

    .venv/bin/python bench/bench_floor.py DIR [DIR ...] [--out docs/figures/cv/floor.json]

The README's floor ("The floor to beat") is a frozen EfficientNet-Lite0, centre crop, L2-normalised
1280-d embedding, plain multinomial logistic regression (scikit-learn, C=10), 5-fold CV grouped
by ``groups.csv`` (StratifiedGroupKFold, shuffle, seed 0). Its published figures were measured on
each set as built in full; ``hortus eval DIR --cv 5`` on a subsampled training folder (e.g.
``~/hortus-build/folders/sets/plantvillage``, 300 photos per class) sees fewer photos per class,
so the two are not comparable. This runs the floor recipe on DIR itself, with the same
embeddings (the cache of ``HORTUS_DATA_DIR``), so that Hortus's CV figure for DIR has its
floor from the same photos in the same run. ``DIR`` may name a reject class in ``classes.csv``
(DeepWeeds' ``negative``): the floor treats it as a plain class, as the README's did.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def floor_cv(folder: Path, *, folds: int = 5, seed: int = 0) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    from hortus.config import Settings
    from hortus.vision.backbone import Backbone, prepare_backbone
    from hortus.vision.cache import EmbeddingCache
    from hortus.vision.dataset import scan_photo_folder
    from hortus.vision.embedding import embed_photos

    settings = Settings()
    backbone = Backbone.load(prepare_backbone(settings.models_dir), threads=2)
    scanned = scan_photo_folder(folder)
    cache = EmbeddingCache(settings.cache_dir, backbone.manifest.sha256)
    embedded = embed_photos(scanned.photos, backbone, cache, ("center",))
    x = embedded.embeddings[:, 0, :].astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    position = {c.label: i for i, c in enumerate(scanned.classes)}
    y = np.asarray([position[p.label] for p in embedded.photos])
    groups = [p.group if p.group is not None else f"photo:{p.path}" for p in embedded.photos]
    if all(p.group is None for p in embedded.photos):
        splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y)
    else:
        splits = StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(x, y, groups)
    scores = []
    for train, test in splits:
        head = LogisticRegression(C=10.0, max_iter=2000)
        head.fit(x[train], y[train])
        scores.append(float((head.predict(x[test]) == y[test]).mean()))
        sys.stderr.write(f"{folder.name}: fold {len(scores)} top-1 {scores[-1]:.3f}\n")
    return {"folder": str(folder), "n": int(len(y)), "classes": len(position),
            "grouped": not all(p.group is None for p in embedded.photos),
            "top1": {"mean": float(np.mean(scores)), "std": float(np.std(scores))},
            "folds": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {folder.name: floor_cv(folder) for folder in args.folders}
    text = json.dumps(results, indent=2) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
