"""Classification metrics and a confusion-matrix picture (NumPy + Pillow only).

Metrics, from calibrated probabilities ``[n, C]`` and true class indices:

* ``top1`` / ``top5``: fraction whose true class is the first / among the first five
  (``min(5, C)``) classes by probability.
* ``macro_top1``: mean over classes present of each class's top-1 (per-class recall), so
  small classes count as much as large ones.
* ``average_k``: mean size of the smallest set of top classes whose cumulative probability
  reaches ``coverage`` (0.9): how many candidates a user must look at to be 90 % sure.
* ``set_coverage``: fraction of photos whose true class lies in that set.
* ``nll``: mean negative log-likelihood; ``ece``: expected calibration error of the top
  class over 10 equal-width confidence bins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def topk_hits(probabilities: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Boolean ``[n]``: is the true class among the ``k`` most probable?"""
    probs = np.asarray(probabilities)
    k = max(1, min(k, probs.shape[1]))
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return (top == np.asarray(labels)[:, None]).any(axis=1)


def confidence_sets(probabilities: np.ndarray, coverage: float = 0.9) -> np.ndarray:
    """Size ``[n]`` of the smallest top-class set whose cumulative probability >= ``coverage``."""
    sorted_probs = -np.sort(-np.asarray(probabilities, dtype=np.float64), axis=1)
    cumulative = np.cumsum(sorted_probs, axis=1)
    sizes = (cumulative < coverage - 1e-9).sum(axis=1) + 1
    return np.minimum(sizes, sorted_probs.shape[1])


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``[C, C]``: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 10
) -> float:
    """ECE of the top class: bin-weighted |accuracy - confidence| over equal-width bins."""
    probs = np.asarray(probabilities, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def classification_metrics(
    probabilities: np.ndarray,
    labels: np.ndarray,
    class_labels: list[str],
    *,
    coverage: float = 0.9,
) -> dict:
    """All metrics above as a JSON-ready dict, with ``per_class`` and ``confusion``."""
    probs = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n, c = probs.shape
    if n == 0:
        raise ValueError("no photos to evaluate")
    top1 = topk_hits(probs, labels, 1)
    predicted = probs.argmax(axis=1)
    sets = confidence_sets(probs, coverage)
    in_set = (
        np.argsort(np.argsort(-probs, axis=1, kind="stable"), axis=1, kind="stable")[
            np.arange(n), labels
        ]
        < sets
    )
    per_class = {}
    for index, label in enumerate(class_labels):
        mask = labels == index
        if mask.any():
            per_class[label] = {"top1": float(top1[mask].mean()), "n": int(mask.sum())}
    picked = np.clip(probs[np.arange(n), labels], 1e-12, 1.0)
    return {
        "n": int(n),
        "num_classes": int(c),
        "top1": float(top1.mean()),
        "top5": float(topk_hits(probs, labels, 5).mean()),
        "macro_top1": float(np.mean([v["top1"] for v in per_class.values()])),
        "average_k": float(sets.mean()),
        "average_k_coverage": coverage,
        "set_coverage": float(in_set.mean()),
        "nll": float(-np.log(picked).mean()),
        "ece": expected_calibration_error(probs, labels),
        "per_class": per_class,
        "confusion": {
            "labels": list(class_labels),
            "counts": confusion_matrix(labels, predicted, c).tolist(),
        },
    }


def summarise_folds(
    folds: list[dict],
    keys: tuple[str, ...] = ("top1", "top5", "macro_top1", "average_k", "nll", "ece"),
) -> dict:
    """``{metric: {"mean", "std"}}`` over cross-validation folds (population std)."""
    return {
        key: {
            "mean": float(np.mean([f[key] for f in folds])),
            "std": float(np.std([f[key] for f in folds])),
        }
        for key in keys
        if all(key in f for f in folds)
    }


def render_confusion_png(counts: np.ndarray, labels: list[str], path: Path, cell: int = 28) -> Path:
    """Draw a row-normalised confusion matrix (darker = more) with counts, as a PNG."""
    from PIL import Image, ImageDraw, ImageFont

    counts = np.asarray(counts, dtype=np.int64)
    c = counts.shape[0]
    font = ImageFont.load_default()
    margin = 8 + 7 * max((len(s) for s in labels), default=1)
    size = margin + c * cell + 8
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    rows = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    for i in range(c):
        draw.text((4, margin + i * cell + cell // 3), labels[i], fill="black", font=font)
        for j in range(c):
            shade = int(round(255 * (1.0 - rows[i, j])))
            x, y = margin + j * cell, margin + i * cell
            colour = (shade, shade, 255) if i == j else (255, shade, shade)
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=colour, outline=(220, 220, 220))
            if counts[i, j]:
                ink = "white" if rows[i, j] > 0.5 else "black"
                draw.text((x + 3, y + cell // 3), str(counts[i, j]), fill=ink, font=font)
    # Column labels, written vertically along the top margin.
    for j in range(c):
        strip = Image.new("RGB", (margin - 4, cell), "white")
        ImageDraw.Draw(strip).text((2, cell // 3), labels[j], fill="black", font=font)
        image.paste(strip.rotate(90, expand=True), (margin + j * cell, 2))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path
