"""Pure maths of a multi-photo identification: organ weights, probability fusion, rejection.

The rule (documented in docs/identify.md):

* Each photo ``i`` gives calibrated class probabilities ``p_i`` and an open-set score ``k_i``
  (every photo seen in the same views, those the head was calibrated on), and carries the
  weight of its organ (:data:`ORGAN_WEIGHTS`: flowers and fruits say most about a species,
  then leaves, then bark and whole-plant views), relative to the most telling organ among the
  request's photos: ``w_i = W(organ_i) / max_j W(organ_j)``.
* The photos are independent views of one plant, so their evidence multiplies: the fused
  distribution is the weighted log-linear pool ``p(c) ∝ Π_i max(p_i(c), ε)^{w_i}``. One photo,
  whatever its organ, keeps its calibrated distribution (its weight is 1); each further photo
  sharpens it when they agree and softens it when they disagree, a weaker organ less. ``ε``
  keeps one photo from vetoing a class on its own.
* The open-set score of the request is the weighted mean ``Σ w_i k_i / Σ w_i``; the request
  is rejected ("Species not found") when it is below the project's threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PRIMARY_ORGANS = ("leaf", "flower", "fruit", "bark", "auto")
SECONDARY_ORGANS = ("habit", "other")
ORGANS = PRIMARY_ORGANS + SECONDARY_ORGANS
ORGAN_WEIGHTS: dict[str, float] = {
    "flower": 1.0,
    "fruit": 0.9,
    "leaf": 0.6,
    "auto": 0.6,  # unknown organ: as informative as a typical leaf photo
    "bark": 0.4,
    "habit": 0.4,
    "other": 0.3,
}
EPSILON = 1e-4


def organ_weights(organs: Sequence[str]) -> np.ndarray:
    """The fusion weight of each photo: its organ's weight relative to the most telling organ
    among the photos, so the best photo counts 1 and a single photo is never flattened
    (``KeyError`` for an unknown organ)."""
    weights = np.array([ORGAN_WEIGHTS[o] for o in organs], dtype=np.float64)
    return weights / weights.max() if weights.size else weights


def fuse_probabilities(probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted log-linear pool of per-photo distributions ``[n, C]`` → one distribution ``[C]``.

    ``p(c) ∝ Π_i max(p_i(c), EPSILON) ** w_i``, computed in log space and renormalised.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).reshape(-1, 1)
    if probs.ndim != 2 or probs.shape[0] != w.shape[0] or probs.shape[0] == 0:
        raise ValueError("probabilities must be [n, C] with one weight per photo, n >= 1")
    log_pool = (w * np.log(np.clip(probs, EPSILON, 1.0))).sum(axis=0)
    log_pool -= log_pool.max()
    pooled = np.exp(log_pool)
    return pooled / pooled.sum()


def fuse_known_scores(known_scores: np.ndarray, weights: np.ndarray) -> float:
    """The request's open-set score: the organ-weighted mean of the photos' scores."""
    scores = np.asarray(known_scores, dtype=np.float64).reshape(-1)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    return float((scores * w).sum() / w.sum())


@dataclass(frozen=True)
class RankedTaxon:
    """A name and its score, best first."""

    name: str
    score: float


def rank(scores: dict[str, float], limit: int) -> list[RankedTaxon]:
    """The ``limit`` best names by score (ties broken by name, so answers are stable)."""
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [RankedTaxon(name, float(score)) for name, score in ordered[:limit]]


def sum_by_group(scores: dict[str, float], group_of: dict[str, str | None]) -> dict[str, float]:
    """Scores summed over the names of each group (genus or family); unknown groups dropped."""
    sums: dict[str, float] = {}
    for name, score in scores.items():
        group = group_of.get(name)
        if group:
            sums[group] = sums.get(group, 0.0) + float(score)
    return sums


def mix_projects(distributions: Sequence[dict[str, float]],
                 known_scores: Sequence[float]) -> dict[str, float]:
    """Merge several projects' distributions by name, each weighted by its open-set score.

    A project that recognises the photos (high score) dominates one that does not; the result
    is renormalised to sum to 1. With one project it is that project's distribution.
    """
    raw = np.clip(np.asarray(known_scores, dtype=np.float64), 1e-6, None)
    weights = raw / raw.sum()
    merged: dict[str, float] = {}
    for weight, distribution in zip(weights, distributions, strict=True):
        for name, p in distribution.items():
            merged[name] = merged.get(name, 0.0) + float(weight) * float(p)
    total = sum(merged.values()) or 1.0
    return {name: p / total for name, p in merged.items()}
