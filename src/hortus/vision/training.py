"""Fitting a project model from embeddings: head, calibration, open-set thresholds, index.

Everything here works on arrays ``embeddings[N, V, D]`` (N photos, V views named by
``view_names``, D embedding size) and class indices, so it is testable on synthetic data;
:mod:`hortus.vision.embedding` produces those arrays from photo folders.

The recipe makes a head from a set of photos, choosing everything inside those photos
(:func:`choose`):

* ``inner_folds`` stratified folds of the photos (grouped by ``groups.csv`` when there are
  groups: one leaf, one scene never on both sides); for each fold and each C of ``c_grid``
  (ascending, warm-started), a head fitted on the other folds predicts the fold's photos
  (embeddings averaged over ``test_views``, as at inference), and an index of the other folds'
  photos gives their known-scores;
* from these out-of-fold predictions: C (top-1, then calibrated NLL), the temperature
  (NLL), and the open-set thresholds (``keep`` of the photos accepted);
* the head is then fitted on all the photos with that C (each ``train_views`` view an extra
  row) and takes that temperature and those thresholds: cross-validated calibration.

:func:`fit_project` reports on photos that took no part in any of it: it holds out a stratified
(or grouped) ``holdout`` share of the photos, runs the recipe on the rest and measures the
result on the held-out photos; then (``refit_all``) runs the recipe again on all photos for
the head it ships. :func:`cross_validate` runs the recipe on the training side of each outer
fold and measures on the fold's photos only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from hortus.vision.evaluation import classification_metrics, summarise_folds
from hortus.vision.heads import Head, transform_features
from hortus.vision.index import ReferenceIndex
from hortus.vision.openset import OpenSetRule, acceptance_rates
from hortus.vision.recipe import (
    DEFAULT_RECIPE,
    Recipe,
    cap_references,
    fit_head,
    inference_embeddings,
)
from hortus.vision.selection import Choice, c_grid, choose
from hortus.vision.splits import grouped_holdout, stratified_folds, stratified_holdout

__all__ = [  # the recipe, choices and splits were defined here first; callers import them here
    "DEFAULT_RECIPE", "Choice", "FittedModel", "Recipe", "choose", "cross_validate",
    "fit_head", "fit_project", "grouped_holdout", "inference_embeddings", "stratified_folds",
    "stratified_holdout",
]

ProgressFn = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class FittedModel:
    """A fitted head (with temperature), open-set rule, index rows and held-out metrics.

    ``choice`` made ``head`` and ``rule``; ``holdout_choice`` made the head the held-out
    figures (``holdout_metrics``) measure, fitted on every photo but ``holdout_rows``."""

    head: Head
    rule: OpenSetRule
    index_rows: np.ndarray
    index_features: np.ndarray
    choice: Choice
    holdout_metrics: dict = field(default_factory=dict)
    holdout_choice: Choice | None = None
    holdout_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def report(self) -> dict:
        """``metrics.json``: the held-out figures (top level, with ``evaluated_on``), then
        what made the head they measure (``holdout_model``) and the shipped one (``model``)."""
        out = dict(self.holdout_metrics)
        if self.holdout_choice is not None:
            out["holdout_model"] = {
                "fitted_on": f"the {self.holdout_choice.photos} photos outside the hold-out",
                **self.holdout_choice.to_json(),
            }
        same = self.choice is self.holdout_choice
        out["model"] = {
            "fitted_on": ("the same photos (no refit): the held-out figures measure this head"
                          if same else f"all {self.choice.photos} photos"),
            **self.choice.to_json(),
        }
        return out


def _fit_chosen(embeddings, labels, rows, view_names, num_classes, recipe, seed, choice,
                init=None) -> Head:
    """The head of ``rows`` with the chosen C, calibrated with the chosen temperature."""
    head = fit_head(embeddings, labels, rows, view_names, num_classes,
                    replace(recipe, c=choice.c), seed, init=init)
    return head.with_temperature(choice.temperature)


def _holdout_split(labels, groups, recipe: Recipe, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if recipe.holdout <= 0:
        return np.arange(len(labels)), np.zeros(0, np.int64)
    if groups is not None:
        return grouped_holdout(labels, groups, recipe.holdout, seed)
    return stratified_holdout(labels, recipe.holdout, seed)


def _evaluated_on(held: int, total: int, recipe: Recipe, seed: int, grouped: bool,
                  choice: Choice, refit: bool) -> str:
    split = "grouped by groups.csv, " if grouped else ""
    shipped = (f"The shipped head (model) is the same recipe run again on all {total} photos."
               if refit else "The shipped head is the one measured (no refit).")
    return (f"{held} held-out photos of {total} (a {recipe.holdout:.0%} stratified hold-out, "
            f"{split}seed {seed}). They took no part in fitting the head they measure "
            f"(holdout_model) nor in choosing its C, temperature or open-set thresholds, "
            f"which come from {choice.chosen_on()}. {shipped}")


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
    """Hold out photos, run the recipe (:func:`choose`, then the head) on the rest and
    measure it on them; then run it on all photos for the shipped head (``refit_all``).

    ``groups`` (one key per photo) keeps each group on one side of the hold-out split and
    of the inner folds. ``reject`` lists reject classes (photos of none of the others, never
    answered): a photo is also refused when they are too probable
    (:func:`~hortus.vision.openset.choose_thresholds`), the two rules together accepting
    ``keep`` of the answerable photos.

    BLAS runs on one thread throughout, so that the files a run writes do not depend on the
    machine's core count (see :func:`~hortus.vision.heads.fit_logistic`)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_project(embeddings, np.asarray(labels, dtype=np.int64), view_names,
                            class_labels, recipe, seed, groups, reject, progress)


def _fit_project(embeddings, labels, view_names, class_labels, recipe, seed, groups, reject,
                 progress) -> FittedModel:
    num_classes = len(class_labels)
    train, held = _holdout_split(labels, groups, recipe, seed)
    refit = recipe.refit_all or not held.size
    fits_per_choice = recipe.inner_folds * len(c_grid(recipe)) + 1
    total = fits_per_choice * (int(bool(held.size)) + int(refit))
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        progress("fitting", min(done, total), total)

    progress("fitting", 0, total)
    test_x = inference_embeddings(embeddings, view_names, recipe)
    features = transform_features(test_x, recipe.power)
    head: Head | None = None
    holdout_choice: Choice | None = None
    metrics: dict = {}
    if held.size:
        holdout_choice = choose(embeddings, labels, train, view_names, num_classes, recipe,
                                seed=seed, groups=groups, reject=reject, on_fit=tick)
        head = _fit_chosen(embeddings, labels, train, view_names, num_classes, recipe, seed,
                           holdout_choice)
        tick()
        probs = head.probabilities(test_x[held])
        refs = cap_references(labels, train, recipe.max_references_per_class, seed)
        split_index = ReferenceIndex.build(features[refs], labels[refs], [""] * len(refs))
        scores = holdout_choice.rule.scores(split_index.similarities(features[held]), probs)
        metrics = {
            "evaluated_on": _evaluated_on(len(held), len(labels), recipe, seed,
                                          groups is not None, holdout_choice, refit),
            **classification_metrics(probs, labels[held], class_labels),
            **acceptance_rates(scores, probs, labels[held], reject, holdout_choice.rule),
        }
    if refit:
        everything = np.arange(len(labels))
        choice = choose(embeddings, labels, everything, view_names, num_classes, recipe,
                        seed=seed, groups=groups, reject=reject, on_fit=tick)
        head = _fit_chosen(embeddings, labels, everything, view_names, num_classes, recipe,
                           seed, choice, init=head)
        tick()
    else:
        assert holdout_choice is not None and head is not None  # held.size, or refit
        choice = holdout_choice
    progress("fitting", total, total)
    index_rows = cap_references(labels, np.arange(len(labels)), recipe.max_references_per_class,
                                seed)
    return FittedModel(head, choice.rule, index_rows, features[index_rows], choice,
                       holdout_metrics=metrics, holdout_choice=holdout_choice, holdout_rows=held)


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
    """Stratified k-fold CV of the recipe: in each outer fold, the recipe that makes a
    shipped head (:func:`choose` then the head, on all the other folds' photos, no hold-out)
    and figures on the fold's own photos only.

    All views of a photo stay in that photo's fold; with ``groups`` (one key per photo) all
    photos of a group do too, and the inner folds are grouped as well. Returns
    ``{"folds": [...], "summary": {metric: {mean, std}}, ...}`` with the mean metrics also at
    the top level.
    """
    labels = np.asarray(labels, dtype=np.int64)
    test_x = inference_embeddings(embeddings, view_names, recipe)
    inside = replace(recipe, holdout=0.0)
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
            inside,
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
        metrics.update(acceptance_rates(scores, probs, labels[test_rows], reject, fitted.rule))
        metrics["model"] = {"fitted_on": f"the other folds' {len(train_rows)} photos",
                            **fitted.choice.to_json()}
        metrics["temperature"] = fitted.head.temperature
        metrics["c"] = fitted.choice.c
        results.append(metrics)
        progress("cross-validation", f + 1, folds)
    summary = summarise_folds(
        results,
        ("top1", "top5", "macro_top1", "average_k", "nll", "ece", "openset_keep",
         "reject_refused"),
    )
    kind = "grouped stratified" if groups is not None else "stratified"
    out: dict = {"evaluated_on": (
        f"outer-fold test photos only: each of the {len(labels)} photos is predicted once, by "
        f"the head the recipe made from the other folds' photos ({folds} {kind} folds, seed "
        f"{seed}); C, temperature and open-set thresholds were chosen inside those photos "
        f"({recipe.inner_folds}-fold out-of-fold). Figures: mean and std over the folds.")}
    out.update({key: value["mean"] for key, value in summary.items()})
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
