"""The training recipe: its hyper-parameters (stored in every model manifest), the views a
head reads, and fitting a head on some photos' embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from hortus.vision.heads import Head, fit_logistic, fit_mlp, transform_features
from hortus.vision.test_time_crops import TEST_VIEWS, TRAIN_VIEWS


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of a training run (stored in the model manifest)."""

    head: str = "logistic"
    c: float = 10.0
    c_grid: tuple[float, ...] = (10.0, 30.0, 100.0)
    balanced: bool = True
    max_iter: int = 150
    power: float = 0.5
    mlp_hidden: int = 512
    mlp_alpha: float = 1e-3
    train_views: tuple[str, ...] = TRAIN_VIEWS
    test_views: tuple[str, ...] = TEST_VIEWS
    # Share of the photos held out of every choice and fit, for the reported figures.
    holdout: float = 0.2
    # Folds inside a head's training photos whose out-of-fold predictions choose C, the
    # temperature and the open-set thresholds (grouped when the photos have groups).
    inner_folds: int = 3
    keep: float = 0.95
    openset_method: str = "knn"
    openset_k: int = 10
    openset_msp_weight: float = 0.0
    refit_all: bool = True
    max_references_per_class: int | None = None

    @property
    def views(self) -> tuple[str, ...]:
        """Every view the recipe needs embedded (training first, then test-only ones)."""
        return tuple(dict.fromkeys(self.train_views + self.test_views))

    def to_json(self) -> dict:
        """Plain JSON form."""
        data = asdict(self)
        for key in ("train_views", "test_views", "c_grid"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict) -> Recipe:
        """Inverse of :meth:`to_json` (unknown keys ignored). Recipes written before
        ``inner_folds`` chose the thresholds of projects with reject classes on
        ``threshold_folds`` out-of-fold folds: that many inner folds now."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("train_views", "test_views", "c_grid"):
            if key in values:
                values[key] = tuple(values[key])
        if "inner_folds" not in data and int(data.get("threshold_folds") or 0) >= 2:
            values["inner_folds"] = int(data["threshold_folds"])
        return cls(**values)


DEFAULT_RECIPE = Recipe()


def inference_embeddings(
    embeddings: np.ndarray, view_names: Sequence[str], recipe: Recipe
) -> np.ndarray:
    """Raw embeddings ``[N, D]`` averaged over the recipe's test views (as at inference)."""
    ids = [list(view_names).index(v) for v in recipe.test_views]
    return embeddings[:, ids, :].mean(axis=1)


def fit_head(
    embeddings: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray,
    view_names: Sequence[str],
    num_classes: int,
    recipe: Recipe,
    seed: int,
    init: Head | None = None,
) -> Head:
    """Fit the recipe's head on photos ``rows``, one training row per training view."""
    ids = [list(view_names).index(v) for v in recipe.train_views]
    x = embeddings[rows][:, ids, :].reshape(-1, embeddings.shape[2])
    y = np.repeat(labels[rows], len(ids))
    features = transform_features(x, recipe.power)
    if recipe.head == "mlp":
        return fit_mlp(
            features,
            y,
            num_classes,
            hidden=recipe.mlp_hidden,
            alpha=recipe.mlp_alpha,
            power=recipe.power,
            seed=seed,
        )
    if recipe.head == "logistic":
        return fit_logistic(
            features,
            y,
            num_classes,
            c=recipe.c,
            power=recipe.power,
            max_iter=recipe.max_iter,
            init=init,
        )
    raise ValueError(f"unknown head {recipe.head!r}")


def cap_references(labels: np.ndarray, rows: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """At most ``cap`` of ``rows`` per class (seeded), for a reference index."""
    if cap is None:
        return rows
    rng = np.random.default_rng(seed + 1)
    kept = [rng.permutation(rows[labels[rows] == c])[:cap] for c in np.unique(labels[rows])]
    return np.sort(np.concatenate(kept))
