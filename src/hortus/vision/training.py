"""Fitting a project model from embeddings: split, head, calibration, open-set threshold, index.

Everything here works on arrays ``embeddings[N, V, D]`` (N photos, V views named by
``view_names``, D embedding size) and class indices, so it is testable on synthetic data;
:mod:`hortus.vision.embedding` produces those arrays from photo folders.

Recipe (the same for ``train`` and for every fold of ``eval --cv``):

1. Stratified hold-out split of the photos (``holdout``, per class, seeded); with photo
   groups (one leaf, one scene: ``groups.csv``), a whole group falls on one side.
2. Fit the head on the training photos' ``train_views`` (each view an extra row), for each
   C of ``c_grid``; keep the best on the held-out photos (top-1, then calibrated NLL).
3. On the held-out photos (embeddings averaged over ``test_views``, as at inference):
   fit the temperature, measure accuracy, and score familiarity against an index of the
   training photos only; the open-set threshold keeps ``keep`` of them.
4. Refit the head on all photos (``refit_all``), keeping the temperature and threshold;
   index all photos.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from hortus.vision.evaluation import classification_metrics, summarise_folds
from hortus.vision.heads import (
    Head,
    fit_logistic,
    fit_mlp,
    fit_temperature,
    nll,
    transform_features,
)
from hortus.vision.index import ReferenceIndex
from hortus.vision.openset import OpenSetRule, choose_threshold, rejects
from hortus.vision.test_time_crops import TEST_VIEWS, TRAIN_VIEWS

ProgressFn = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


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
    holdout: float = 0.2
    # With reject classes: choose the rejection thresholds on out-of-fold predictions of every
    # photo (this many grouped folds) instead of the hold-out split alone (0: hold-out).
    threshold_folds: int = 0
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
        """Inverse of :meth:`to_json` (unknown keys ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("train_views", "test_views", "c_grid"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


DEFAULT_RECIPE = Recipe()


@dataclass
class FittedModel:
    """A fitted head (with temperature), open-set rule, index rows and held-out metrics."""

    head: Head
    rule: OpenSetRule
    index_rows: np.ndarray
    index_features: np.ndarray
    holdout_metrics: dict = field(default_factory=dict)


def inference_embeddings(
    embeddings: np.ndarray, view_names: Sequence[str], recipe: Recipe
) -> np.ndarray:
    """Raw embeddings ``[N, D]`` averaged over the recipe's test views (as at inference)."""
    ids = [list(view_names).index(v) for v in recipe.test_views]
    return embeddings[:, ids, :].mean(axis=1)


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


def _cap_rows(labels: np.ndarray, rows: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    if cap is None:
        return rows
    rng = np.random.default_rng(seed + 1)
    kept = [rng.permutation(rows[labels[rows] == c])[:cap] for c in np.unique(labels[rows])]
    return np.sort(np.concatenate(kept))


def _select_c(embeddings, labels, train, held, features, view_names, num_classes, recipe, seed):
    """Fit the head on ``train`` for each C of ``recipe.c_grid`` (ascending, warm-started) and
    keep the best on the held-out photos: top-1 first, then calibrated NLL."""
    grid = sorted(set(recipe.c_grid)) if recipe.c_grid and held.size else [recipe.c]
    best, best_key, scores, head = None, None, {}, None
    for c in grid:
        candidate = replace(recipe, c=c)
        head = fit_head(
            embeddings, labels, train, view_names, num_classes, candidate, seed, init=head
        )
        if len(grid) == 1:
            return candidate, head, {}
        logits = head.logits_from_features(features[held])
        top1 = float((logits.argmax(axis=1) == labels[held]).mean())
        loss = nll(logits, labels[held], fit_temperature(logits, labels[held]))
        scores[str(c)] = {"top1": top1, "nll": loss}
        if best_key is None or (top1, -loss) > best_key:
            best, best_key = (candidate, head), (top1, -loss)
    return best[0], best[1], scores


def _reject_probability(probs: np.ndarray, reject: Sequence[int]) -> np.ndarray:
    return probs[:, list(reject)].sum(axis=1) if len(reject) else np.zeros(len(probs))


KNN_KEEP_WITH_REJECT = 0.99  # with reject classes, the knn rule only drops outliers


def _thresholds(rule: OpenSetRule, scores: np.ndarray, probs: np.ndarray, labels: np.ndarray,
                reject: Sequence[int], keep: float) -> OpenSetRule:
    """The rule's thresholds from held-out photos: ``keep`` of them accepted.

    With reject classes, the knn threshold keeps :data:`KNN_KEEP_WITH_REJECT` of the
    answerable photos, and the reject-class threshold is the lowest that still accepts
    ``keep`` of them with both rules (it refuses as many reject-class photos as that allows),
    raised towards 0.5 while it refuses the same held-out reject-class photos.
    """
    if not len(reject):
        return rule.with_threshold(choose_threshold(scores, keep))
    answerable = ~np.isin(labels, list(reject))
    if not answerable.any():
        return rule
    rule = rule.with_threshold(choose_threshold(scores[answerable], KNN_KEEP_WITH_REJECT))
    probability = _reject_probability(probs, reject)
    passed = np.sort(probability[answerable & (scores >= rule.threshold)])
    wanted = int(np.ceil(keep * answerable.sum() - 1e-9))
    if wanted > passed.size or wanted == 0:
        return rule.with_reject_threshold(1.0)
    lowest = float(passed[wanted - 1])
    # Where the classes separate well, the lowest threshold sits at noise level (1e-7) and
    # spends the loss budget on nothing: raise it as far as it refuses the same held-out
    # reject-class photos, up to 0.5.
    refused = probability[~answerable][probability[~answerable] > lowest]
    ceiling = float(np.nextafter(refused.min(), 0.0)) if refused.size else 0.5
    return rule.with_reject_threshold(max(lowest, min(0.5, ceiling)))


def _openset_metrics(scores: np.ndarray, probs: np.ndarray, labels: np.ndarray,
                     reject: Sequence[int], rule: OpenSetRule) -> dict:
    """``openset_keep``: share of photos accepted; with reject classes, the share of the
    answerable photos accepted and of the reject-class photos refused."""
    accepted = ~rejects(scores, rule.threshold, _reject_probability(probs, reject),
                        rule.reject_threshold)
    if not len(reject):
        return {"openset_keep": float(accepted.mean())}
    answerable = ~np.isin(labels, list(reject))
    out = {"openset_keep": float(accepted[answerable].mean()) if answerable.any() else 0.0}
    if (~answerable).any():
        out["reject_refused"] = float((~accepted[~answerable]).mean())
    return out


def _out_of_fold(embeddings: np.ndarray, labels: np.ndarray,
                 groups: Sequence[str] | np.ndarray | None, view_names: Sequence[str],
                 num_classes: int, recipe: Recipe, seed: int, temperature: float,
                 rule: OpenSetRule) -> tuple[np.ndarray, np.ndarray]:
    """Known-scores and calibrated probabilities of every photo from a head and an index
    that never saw its fold (grouped folds when there are groups): what unseen leaves and
    scenes look like to the model, for choosing rejection thresholds."""
    test_x = inference_embeddings(embeddings, view_names, recipe)
    features = transform_features(test_x, recipe.power)
    scores = np.empty(len(labels), dtype=np.float64)
    probs = np.empty((len(labels), num_classes), dtype=np.float64)
    for test in stratified_folds(labels, recipe.threshold_folds, seed, groups):
        train = np.setdiff1d(np.arange(len(labels)), test)
        head = fit_head(embeddings, labels, train, view_names, num_classes, recipe,
                        seed).with_temperature(temperature)
        probs[test] = head.probabilities(test_x[test])
        refs = _cap_rows(labels, train, recipe.max_references_per_class, seed)
        index = ReferenceIndex.build(features[refs], labels[refs], [""] * len(refs))
        scores[test] = rule.scores(index.similarities(features[test]), probs[test])
    return scores, probs


def fit_project(
    embeddings: np.ndarray,
    labels: np.ndarray,
    view_names: Sequence[str],
    class_labels: list[str],
    recipe: Recipe,
    *,
    seed: int = 0,
    groups: Sequence[str] | np.ndarray | None = None,
    reject: Sequence[int] = (),
    progress: ProgressFn = _no_progress,
) -> FittedModel:
    """Run the recipe (see the module docstring) on ``embeddings[N, V, D]``; ``groups`` (one
    key per photo) keeps each group on one side of the hold-out split.

    ``reject`` lists reject classes (photos of none of the others, never answered): a photo
    is also refused when they are too probable (:func:`_thresholds`), the two rules together
    accepting ``keep`` of the held-out photos of the answerable classes."""
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = len(class_labels)
    steps = 3 if recipe.refit_all else 2
    progress("fitting", 0, steps)
    if groups is not None:
        train, held = grouped_holdout(labels, groups, recipe.holdout, seed)
    else:
        train, held = stratified_holdout(labels, recipe.holdout, seed)
    test_x = inference_embeddings(embeddings, view_names, recipe)
    features = transform_features(test_x, recipe.power)
    recipe, head, c_scores = _select_c(
        embeddings, labels, train, held, features, view_names, num_classes, recipe, seed
    )
    progress("fitting", 1, steps)
    rule = OpenSetRule(recipe.openset_method, recipe.openset_k, recipe.openset_msp_weight)
    metrics: dict = {"c": recipe.c, "c_scores": c_scores} if c_scores else {"c": recipe.c}
    if held.size:
        logits = head.logits_from_features(features[held])
        temperature = fit_temperature(logits, labels[held])
        head = head.with_temperature(temperature)
        probs = head.probabilities(test_x[held])
        metrics.update(classification_metrics(probs, labels[held], class_labels))
        ref_rows = _cap_rows(labels, train, recipe.max_references_per_class, seed)
        split_index = ReferenceIndex.build(
            features[ref_rows], labels[ref_rows], [""] * len(ref_rows)
        )
        scores = rule.scores(split_index.similarities(features[held]), probs)
        if len(reject) and recipe.threshold_folds >= 2:
            oof_scores, oof_probs = _out_of_fold(embeddings, labels, groups, view_names,
                                                 num_classes, recipe, seed, temperature, rule)
            rule = _thresholds(rule, oof_scores, oof_probs, labels, reject, recipe.keep)
            metrics["thresholds_from"] = f"{recipe.threshold_folds}-fold out-of-fold"
        else:
            rule = _thresholds(rule, scores, probs, labels[held], reject, recipe.keep)
        metrics.update(_openset_metrics(scores, probs, labels[held], reject, rule))
    progress("fitting", 2, steps)
    if recipe.refit_all or not held.size:
        everything = np.arange(len(labels))
        head = fit_head(
            embeddings, labels, everything, view_names, num_classes, recipe, seed, init=head
        ).with_temperature(head.temperature)
        progress("fitting", 3, steps)
    index_rows = _cap_rows(labels, np.arange(len(labels)), recipe.max_references_per_class, seed)
    return FittedModel(head, rule, index_rows, features[index_rows], metrics)


def cross_validate(
    embeddings: np.ndarray,
    labels: np.ndarray,
    view_names: Sequence[str],
    class_labels: list[str],
    recipe: Recipe,
    *,
    folds: int = 5,
    seed: int = 0,
    groups: Sequence[str] | np.ndarray | None = None,
    reject: Sequence[int] = (),
    progress: ProgressFn = _no_progress,
) -> dict:
    """Stratified k-fold CV, fitting with :func:`fit_project` inside each fold.

    All views of a photo stay in that photo's fold; with ``groups`` (one key per photo) all
    photos of a group do too, and the hold-out split inside each fold is grouped as well.
    Returns ``{"folds": [...], "summary": {metric: {mean, std}}, ...}`` with the mean
    metrics also at the top level.
    """
    labels = np.asarray(labels, dtype=np.int64)
    test_x = inference_embeddings(embeddings, view_names, recipe)
    results = []
    progress("cross-validation", 0, folds)
    group_keys = None if groups is None else np.asarray(groups, dtype=object).astype(str)
    for f, test_rows in enumerate(stratified_folds(labels, folds, seed, group_keys)):
        train_rows = np.setdiff1d(np.arange(len(labels)), test_rows)
        fitted = fit_project(
            embeddings[train_rows],
            labels[train_rows],
            view_names,
            class_labels,
            recipe,
            seed=seed + f,
            groups=None if group_keys is None else group_keys[train_rows],
            reject=reject,
        )
        probs = fitted.head.probabilities(test_x[test_rows])
        metrics = classification_metrics(probs, labels[test_rows], class_labels)
        index = ReferenceIndex.build(
            fitted.index_features,
            labels[train_rows][fitted.index_rows],
            [""] * len(fitted.index_rows),
        )
        scores = fitted.rule.scores(
            index.similarities(fitted.head.features(test_x[test_rows])), probs
        )
        metrics.update(_openset_metrics(scores, probs, labels[test_rows], reject, fitted.rule))
        metrics["temperature"] = fitted.head.temperature
        metrics["c"] = fitted.holdout_metrics.get("c")
        results.append(metrics)
        progress("cross-validation", f + 1, folds)
    summary = summarise_folds(
        results,
        ("top1", "top5", "macro_top1", "average_k", "nll", "ece", "openset_keep",
         "reject_refused"),
    )
    out = {key: value["mean"] for key, value in summary.items()}
    out.update(
        {"n": int(len(labels)), "grouped": groups is not None, "folds": results,
         "summary": summary, "recipe": recipe.to_json()}
    )
    per_class: dict[str, dict] = {}
    for label in class_labels:
        entries = [r["per_class"][label] for r in results if label in r["per_class"]]
        if entries:
            n = sum(e["n"] for e in entries)
            per_class[label] = {"top1": sum(e["top1"] * e["n"] for e in entries) / n, "n": n}
    out["per_class"] = per_class
    return out
