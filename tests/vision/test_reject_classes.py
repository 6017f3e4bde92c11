"""Reject classes (classes.csv ``role=reject``, e.g. DeepWeeds' ``negative`` scenes): trained
like the others, never answered, and their probability refuses a photo at a threshold that
keeps ``keep`` of the answerable held-out photos."""

from __future__ import annotations

import numpy as np

from hortus.vision.openset import OpenSetRule, rejects
from hortus.vision.training import Recipe, cross_validate, fit_project

VIEWS = ("center", "hflip")
RECIPE = Recipe(train_views=VIEWS, test_views=VIEWS, c_grid=())


def scenes(seed: int = 0, per_class: int = 60):
    """Three answerable classes and a broad reject class overlapping them a little."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 2, size=(3, 24))
    rows = [c + 0.5 * rng.standard_normal((per_class, 24)) for c in centres]
    rows.append(centres.mean(axis=0) + 1.2 * rng.standard_normal((2 * per_class, 24)))
    x = np.clip(np.concatenate(rows), 0, None)
    labels = np.repeat([0, 1, 2, 3], [per_class] * 3 + [2 * per_class])
    views = x[:, None, :] + 0.05 * rng.standard_normal((len(x), 2, 24))
    return np.clip(views, 0, None).astype(np.float32), labels


def test_rule_round_trips_and_refuses_on_either_score():
    rule = OpenSetRule("knn", 10, 0.0, 0.7, 0.35)
    assert OpenSetRule.from_json(rule.to_json()) == rule
    assert OpenSetRule.from_json({"method": "knn", "k": 3, "msp_weight": 0.0,
                                  "threshold": 0.5}).reject_threshold == 0.5  # older manifests
    assert list(rejects(np.array([0.8, 0.6, 0.8]), 0.7, np.array([0.1, 0.1, 0.4]), 0.35)) == [
        False, True, True]


def test_training_keeps_answerable_photos_and_refuses_reject_class_photos():
    embeddings, labels = scenes()
    fitted = fit_project(embeddings, labels, VIEWS, ["a", "b", "c", "none"], RECIPE,
                         seed=0, reject=[3])
    metrics = fitted.holdout_metrics
    assert metrics["openset_keep"] >= 0.95 - 1e-9  # answerable held-out photos accepted
    assert metrics["reject_refused"] > 0.5  # most held-out reject-class photos refused
    assert 0.0 < fitted.rule.reject_threshold <= 1.0
    plain = fit_project(embeddings, labels, VIEWS, ["a", "b", "c", "none"], RECIPE, seed=0)
    assert "reject_refused" not in plain.holdout_metrics
    assert plain.rule.reject_threshold == 0.5  # untouched without reject classes


def test_cross_validation_reports_both_rates():
    embeddings, labels = scenes(seed=1)
    result = cross_validate(embeddings, labels, VIEWS, ["a", "b", "c", "none"], RECIPE,
                            folds=3, reject=[3])
    assert {"openset_keep", "reject_refused"} <= set(result["summary"])
    assert result["summary"]["openset_keep"]["mean"] > 0.85


def test_thresholds_come_from_out_of_fold_predictions_of_unseen_groups():
    embeddings, labels = scenes(seed=2)
    groups = np.asarray([f"g{i // 3}" for i in range(len(labels))])  # three photos a scene
    recipe = Recipe(train_views=VIEWS, test_views=VIEWS, c_grid=(), inner_folds=4)
    fitted = fit_project(embeddings, labels, VIEWS, ["a", "b", "c", "none"], recipe, seed=0,
                         groups=groups, reject=[3])
    assert (fitted.choice.folds, fitted.choice.grouped) == (4, True)
    assert "4 grouped stratified folds" in fitted.report()["model"]["chosen_on"]
    assert fitted.holdout_metrics["openset_keep"] > 0.85
    assert 0.0 < fitted.rule.reject_threshold <= 1.0
    # Recipes written before inner folds chose these thresholds on threshold_folds folds.
    assert Recipe.from_json({"threshold_folds": 5}).inner_folds == 5
    assert Recipe.from_json({"threshold_folds": 0}).inner_folds == 3
