"""Splits of photos into training and test sides: hold-outs and folds, stratified by class,
and grouped (one leaf, one scene: ``groups.csv``) so that no group straddles a split.

Every function returns row indices and is seeded, so a split is reproducible from the labels,
the groups and the seed alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_holdout(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, held_out)``: ``round(fraction * n)`` of each class held out.

    Each class with at least two photos keeps at least one on each side; a class with one
    photo stays in training.
    """
    rng = np.random.default_rng(seed)
    train: list[int] = []
    held: list[int] = []
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        n_held = int(round(fraction * len(rows))) if len(rows) >= 2 else 0
        n_held = min(max(n_held, 1 if len(rows) >= 2 and fraction > 0 else 0), len(rows) - 1)
        held.extend(rows[:n_held])
        train.extend(rows[n_held:])
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(held, dtype=np.int64))


def _grouped_assignment(labels: np.ndarray, groups: Sequence[str] | np.ndarray, folds: int,
                        seed: int) -> np.ndarray:
    """Fold of every photo from scikit-learn's ``StratifiedGroupKFold`` (shuffled, seeded):
    class proportions kept as far as whole groups allow, no group in two folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    codes = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)[1]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    assignment = np.empty(len(labels), dtype=np.int64)
    for f, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, codes)):
        assignment[test] = f
    return assignment


def grouped_holdout(labels: np.ndarray, groups: Sequence[str] | np.ndarray, fraction: float,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, held_out)`` with about ``fraction`` of the photos held out and no
    group on both sides (one fold of ``round(1 / fraction)`` grouped stratified folds)."""
    labels = np.asarray(labels)
    keys = np.asarray(groups, dtype=object).astype(str)
    folds = max(2, int(round(1.0 / fraction)))
    fewest = min(len(np.unique(keys[labels == c])) for c in np.unique(labels))
    if fewest >= folds:
        held_mask = _grouped_assignment(labels, keys, folds, seed) == 0
    else:  # too few groups for the folds: hold out whole groups per class, one at least kept
        rng = np.random.default_rng(seed)
        held_mask = np.zeros(len(labels), dtype=bool)
        for c in np.unique(labels):
            rows = np.flatnonzero(labels == c)
            order = rng.permutation(np.unique(keys[rows]))
            target = fraction * len(rows)
            for group in order[:-1]:
                if held_mask[rows].sum() >= target:
                    break
                held_mask[rows[keys[rows] == group]] = True
    return np.flatnonzero(~held_mask), np.flatnonzero(held_mask)


def stratified_folds(labels: np.ndarray, folds: int, seed: int,
                     groups: Sequence[str] | np.ndarray | None = None) -> list[np.ndarray]:
    """Test indices of ``folds`` stratified folds (each class dealt round-robin, seeded);
    with ``groups``, grouped stratified folds (:func:`_grouped_assignment`)."""
    if groups is not None:
        assignment = _grouped_assignment(np.asarray(labels), groups, folds, seed)
        return [np.flatnonzero(assignment == f) for f in range(folds)]
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        assignment[rows] = (np.arange(len(rows)) + offset) % folds
        offset += len(rows)  # rotate so small classes do not all start at fold 0
    return [np.flatnonzero(assignment == f) for f in range(folds)]


def usable_folds(labels: np.ndarray, folds: int,
                 groups: Sequence[str] | np.ndarray | None = None) -> int:
    """How many of ``folds`` folds the photos allow (0 when fewer than 2): no more than the
    photos (or groups) there are, nor than the photos of the largest class."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return 0
    units = len(labels) if groups is None else len(np.unique(np.asarray(groups, dtype=str)))
    largest = int(np.bincount(np.unique(labels, return_inverse=True)[1]).max())
    usable = min(int(folds), units, largest)
    return usable if usable >= 2 else 0
