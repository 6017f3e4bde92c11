"""Choices made inside a head's training photos only: C, the calibration temperature and the
open-set thresholds, from out-of-fold predictions of those photos (cross-validated
calibration). Photos outside them can then measure the head honestly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from hortus.vision.heads import fit_temperature, nll, softmax, transform_features
from hortus.vision.index import ReferenceIndex
from hortus.vision.openset import OpenSetRule, choose_thresholds, knn_similarity
from hortus.vision.recipe import Recipe, cap_references, fit_head, inference_embeddings
from hortus.vision.splits import stratified_folds, usable_folds


@dataclass(frozen=True)
class Choice:
    """What the recipe chose for a head from out-of-fold predictions of its training photos.

    ``folds == 0``: too few photos for two folds; then nothing was chosen (the recipe's C,
    temperature 1, no open-set threshold)."""

    c: float
    temperature: float
    rule: OpenSetRule
    photos: int
    folds: int
    grouped: bool
    # Out-of-fold top-1, calibrated NLL and temperature of each C: they chose C, so they
    # flatter it; figures to report come from photos outside the choice.
    c_scores: dict[str, dict[str, float]] = field(default_factory=dict)

    def chosen_on(self) -> str:
        """In words: the photos this choice was made on."""
        if not self.folds:
            return f"nothing: {self.photos} photos are too few for 2 folds (defaults kept)"
        kind = "grouped stratified" if self.grouped else "stratified"
        return (f"out-of-fold predictions of the head's {self.photos} training photos "
                f"({self.folds} {kind} folds)")

    def to_json(self) -> dict:
        """Plain JSON form (in ``metrics.json``)."""
        return {
            "photos": self.photos, "c": self.c, "temperature": self.temperature,
            "threshold": self.rule.threshold, "reject_threshold": self.rule.reject_threshold,
            "chosen_on": self.chosen_on(), "c_scores": self.c_scores,
        }


def c_grid(recipe: Recipe) -> list[float]:
    """The Cs to choose from: ``c_grid`` for a logistic head, else ``c`` alone (C is the
    logistic head's inverse L2 strength; the MLP has none)."""
    if recipe.head == "logistic" and recipe.c_grid:
        return sorted(set(recipe.c_grid))
    return [recipe.c]


def choose(
    embeddings: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray,
    view_names: Sequence[str],
    num_classes: int,
    recipe: Recipe,
    *,
    seed: int = 0,
    groups: Sequence[str] | np.ndarray | None = None,
    reject: Sequence[int] = (),
    on_fit: Callable[[], None] = lambda: None,
) -> Choice:
    """C, temperature and open-set thresholds for a head fitted on photos ``rows``, from
    out-of-fold predictions of those photos only (the recipe: :mod:`hortus.vision.training`).

    ``recipe.inner_folds`` stratified folds (grouped by ``groups``, one key per photo of
    ``embeddings``), fewer when the photos or groups are too few. A photo whose class is
    absent from the rest of the photos cannot be predicted and takes no part. ``on_fit`` is
    called after each head fit (progress)."""
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    keys = None if groups is None else np.asarray(groups, dtype=object).astype(str)[rows]
    folds = usable_folds(labels[rows], recipe.inner_folds, keys)
    grid = c_grid(recipe)
    rule = OpenSetRule(recipe.openset_method, recipe.openset_k, recipe.openset_msp_weight)
    undecided = Choice(recipe.c, 1.0, rule, len(rows), 0, keys is not None)
    if not folds:
        return undecided
    features = transform_features(inference_embeddings(embeddings, view_names, recipe)[rows],
                                  recipe.power)
    all_features = np.zeros((len(labels), features.shape[1]), np.float32)
    all_features[rows] = features  # fit_head reads rows of the full arrays
    logits = {c: np.zeros((len(rows), num_classes), np.float32) for c in grid}
    knn = np.zeros(len(rows), np.float32)
    predicted = np.zeros(len(rows), bool)
    for fold in stratified_folds(labels[rows], folds, seed, keys):
        if not fold.size:
            continue
        test, train = rows[fold], np.delete(rows, fold)
        predicted[fold] = np.isin(labels[test], labels[train])
        head = None
        for c in grid:
            head = fit_head(embeddings, labels, train, view_names, num_classes,
                            replace(recipe, c=c), seed, init=head)
            logits[c][fold] = head.logits_from_features(features[fold])
            on_fit()
        if rule.method != "msp":
            refs = cap_references(labels, train, recipe.max_references_per_class, seed)
            index = ReferenceIndex.build(all_features[refs], labels[refs], [""] * len(refs))
            knn[fold] = knn_similarity(index.similarities(features[fold]), rule.k)
    if not predicted.any():
        return undecided
    truth = labels[rows][predicted]
    c_scores: dict[str, dict[str, float]] = {}
    best: tuple[tuple[float, float], float, float] | None = None
    for c in grid:
        z = logits[c][predicted]
        temperature = fit_temperature(z, truth)
        top1 = float((z.argmax(axis=1) == truth).mean())
        loss = nll(z, truth, temperature)
        c_scores[str(c)] = {"top1": top1, "nll": loss, "temperature": temperature}
        if best is None or (top1, -loss) > best[0]:
            best = ((top1, -loss), c, temperature)
    assert best is not None  # the grid is never empty
    _, c, temperature = best
    probs = softmax(logits[c][predicted], temperature)
    rule = choose_thresholds(rule, rule.combine(knn[predicted], probs), probs, truth, reject,
                             recipe.keep)
    return Choice(c, temperature, rule, len(rows), folds, keys is not None, c_scores)
