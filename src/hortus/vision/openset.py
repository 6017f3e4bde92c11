"""Open-set scoring: "one of my classes" versus "something else" (another plant, not a plant).

The score is a *familiarity*: higher means the photo looks like the training photos.

* ``knn``: mean cosine similarity of the photo's normalised embedding to its ``k`` nearest
  reference photos (any class). Deep-kNN style out-of-distribution detection: it needs no
  negative examples and does not trust an over-confident softmax.
* ``msp``: maximum calibrated class probability.
* ``knn_msp``: ``knn + weight * msp``, both in ``[0, 1]``-ish ranges.

The threshold is chosen on photos of the known classes that the model did not train on
(out-of-fold predictions, scored against references that exclude them) so that a fraction
``keep`` of them is accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SCORE_METHODS = ("knn", "msp", "knn_msp")


def knn_similarity(similarities: np.ndarray, k: int) -> np.ndarray:
    """Mean of the ``k`` largest values of each row of a similarity matrix ``[n, N]``."""
    sims = np.atleast_2d(np.asarray(similarities, dtype=np.float32))
    k = max(1, min(int(k), sims.shape[1]))
    top = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
    return top.mean(axis=1)


@dataclass(frozen=True)
class OpenSetRule:
    """How to compute the known-score, and the threshold under which a photo is rejected."""

    method: str = "knn"
    k: int = 3
    msp_weight: float = 0.0
    threshold: float = float("-inf")
    # Projects with reject classes: refuse when those are more probable than this.
    reject_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in SCORE_METHODS:
            raise ValueError(f"unknown open-set method {self.method!r}")

    def scores(self, similarities: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        """Known-scores from reference similarities ``[n, N]`` and probabilities ``[n, C]``."""
        knn = None if self.method == "msp" else knn_similarity(similarities, self.k)
        return self.combine(knn, probabilities)

    def combine(self, knn: np.ndarray | None, probabilities: np.ndarray) -> np.ndarray:
        """Known-scores from the ``k``-nearest similarities (:func:`knn_similarity`, unused
        by ``msp``) and probabilities ``[n, C]``: the similarities need not be kept while
        the probabilities change (another C or temperature)."""
        msp = np.asarray(probabilities, dtype=np.float32).max(axis=1)
        if self.method == "msp":
            return msp
        if knn is None:
            raise ValueError(f"open-set method {self.method!r} needs the knn similarities")
        knn = np.asarray(knn, dtype=np.float32)
        if self.method == "knn":
            return knn
        return knn + np.float32(self.msp_weight) * msp

    def rejected(self, scores: np.ndarray) -> np.ndarray:
        """True where a score falls below the threshold."""
        return np.asarray(scores) < self.threshold

    def with_threshold(self, threshold: float) -> OpenSetRule:
        """A copy with another threshold."""
        return OpenSetRule(self.method, self.k, self.msp_weight, float(threshold),
                           self.reject_threshold)

    def with_reject_threshold(self, reject_threshold: float) -> OpenSetRule:
        """A copy with another reject-class threshold."""
        return OpenSetRule(self.method, self.k, self.msp_weight, self.threshold,
                           float(reject_threshold))

    def to_json(self) -> dict[str, float | int | str]:
        """Plain JSON form (stored in the model manifest)."""
        return {
            "method": self.method,
            "k": self.k,
            "msp_weight": self.msp_weight,
            "threshold": self.threshold,
            "reject_threshold": self.reject_threshold,
        }

    @classmethod
    def from_json(cls, data: dict) -> OpenSetRule:
        """Inverse of :meth:`to_json`."""
        return cls(
            str(data["method"]), int(data["k"]), float(data["msp_weight"]),
            float(data["threshold"]), float(data.get("reject_threshold", 0.5)),
        )


def choose_threshold(known_scores: np.ndarray, keep: float = 0.95) -> float:
    """Largest threshold that still accepts at least ``keep`` of ``known_scores``.

    A photo is accepted when ``score >= threshold``; with ``n`` scores, at least
    ``ceil(keep * n)`` of them are at or above the returned value.
    """
    scores = np.sort(np.asarray(known_scores, dtype=np.float64))
    if scores.size == 0:
        return float("-inf")
    if not 0.0 < keep <= 1.0:
        raise ValueError("keep must be in (0, 1]")
    accepted = int(np.ceil(keep * scores.size - 1e-9))
    return float(scores[scores.size - accepted])


def reject_probability(probabilities: np.ndarray, reject: Sequence[int]) -> np.ndarray:
    """Probability ``[n]`` of the reject classes (zeros without any)."""
    probs = np.asarray(probabilities)
    return probs[:, list(reject)].sum(axis=1) if len(reject) else np.zeros(len(probs))


KNN_KEEP_WITH_REJECT = 0.99  # with reject classes, the knn rule only drops outliers


def choose_thresholds(rule: OpenSetRule, scores: np.ndarray, probabilities: np.ndarray,
                      labels: np.ndarray, reject: Sequence[int], keep: float) -> OpenSetRule:
    """The rule's thresholds from photos the model did not train on: ``keep`` of them accepted.

    ``scores`` are their known-scores, ``probabilities`` their calibrated class probabilities.
    With reject classes, the knn threshold keeps :data:`KNN_KEEP_WITH_REJECT` of the
    answerable photos, and the reject-class threshold is the lowest that still accepts
    ``keep`` of them with both rules (it refuses as many reject-class photos as that allows),
    raised towards 0.5 while it refuses the same reject-class photos.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if not len(reject):
        return rule.with_threshold(choose_threshold(scores, keep))
    answerable = ~np.isin(labels, list(reject))
    if not answerable.any():
        return rule
    rule = rule.with_threshold(choose_threshold(scores[answerable], KNN_KEEP_WITH_REJECT))
    probability = reject_probability(probabilities, reject)
    passed = np.sort(probability[answerable & (scores >= rule.threshold)])
    wanted = int(np.ceil(keep * answerable.sum() - 1e-9))
    if wanted > passed.size or wanted == 0:
        return rule.with_reject_threshold(1.0)
    lowest = float(passed[wanted - 1])
    # Where the classes separate well, the lowest threshold sits at noise level (1e-7) and
    # spends the loss budget on nothing: raise it as far as it refuses the same
    # reject-class photos, up to 0.5.
    refused = probability[~answerable][probability[~answerable] > lowest]
    ceiling = float(np.nextafter(refused.min(), 0.0)) if refused.size else 0.5
    return rule.with_reject_threshold(max(lowest, min(0.5, ceiling)))


def acceptance_rates(scores: np.ndarray, probabilities: np.ndarray, labels: np.ndarray,
                     reject: Sequence[int], rule: OpenSetRule) -> dict[str, float]:
    """``openset_keep``: share of photos the rule accepts; with reject classes, the share of
    the answerable photos accepted and (``reject_refused``) of the reject-class photos
    refused."""
    accepted = ~rejects(scores, rule.threshold, reject_probability(probabilities, reject),
                        rule.reject_threshold)
    if not len(reject):
        return {"openset_keep": float(accepted.mean())}
    answerable = ~np.isin(np.asarray(labels), list(reject))
    out = {"openset_keep": float(accepted[answerable].mean()) if answerable.any() else 0.0}
    if (~answerable).any():
        out["reject_refused"] = float((~accepted[~answerable]).mean())
    return out


def rejects(known_score, threshold: float, reject_probability=0.0,
            reject_threshold: float = 0.5) -> np.ndarray:
    """The rejection rule, for one photo or fused photos (scalars or arrays): the known-score
    is under the threshold, or the probability of the project's reject classes (photos of
    none of its classes, such as DeepWeeds' ``negative`` scenes) is over ``reject_threshold``
    (chosen in training so that the two rules together keep ``keep`` of the held-out photos
    of the answerable classes)."""
    return ((np.asarray(known_score) < threshold)
            | (np.asarray(reject_probability) > reject_threshold))


def auroc(known_scores: np.ndarray, unknown_scores: np.ndarray) -> float:
    """Probability that a known photo scores higher than an unknown one (ties count half)."""
    known = np.asarray(known_scores, dtype=np.float64)
    unknown = np.asarray(unknown_scores, dtype=np.float64)
    if known.size == 0 or unknown.size == 0:
        return float("nan")
    both = np.concatenate([known, unknown])
    values, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    first_rank = np.cumsum(counts) - counts + 1  # 1-based rank of each distinct value's first copy
    ranks = (first_rank + (counts - 1) / 2.0)[inverse]  # ties share their average rank
    rank_sum = ranks[: known.size].sum()
    return float((rank_sum - known.size * (known.size + 1) / 2.0) / (known.size * unknown.size))
