"""Training recipe on synthetic embeddings: splits, C selection, calibration, CV."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hortus.vision.training import (
    Recipe,
    choose,
    cross_validate,
    fit_project,
    inference_embeddings,
    stratified_folds,
    stratified_holdout,
)

VIEWS = ("center", "hflip")
TWO_VIEWS = Recipe(train_views=VIEWS, test_views=VIEWS)


def synthetic(n_per_class: int = 30, classes: int = 4, dim: int = 48, seed: int = 0):
    """Embeddings [N, 2 views, D]: class centre + photo noise + small view noise."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 2, size=(classes, dim))
    photos = np.concatenate([c + 0.5 * rng.standard_normal((n_per_class, dim)) for c in centres])
    views = photos[:, None, :] + 0.1 * rng.standard_normal((len(photos), 2, dim))
    labels = np.repeat(np.arange(classes), n_per_class)
    return np.clip(views, 0, None).astype(np.float32), labels


def test_splits_are_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(3), [10, 5, 2])
    train, held = stratified_holdout(labels, 0.2, seed=1)
    assert set(train).isdisjoint(held) and len(train) + len(held) == len(labels)
    assert [int((labels[held] == c).sum()) for c in range(3)] == [2, 1, 1]
    again = stratified_holdout(labels, 0.2, seed=1)
    assert np.array_equal(held, again[1])
    folds = stratified_folds(labels, 5, seed=0)
    assert np.array_equal(np.sort(np.concatenate(folds)), np.arange(len(labels)))
    assert all(int((labels[f] == 0).sum()) == 2 for f in folds)


def test_fit_project_is_accurate_calibrated_and_reproducible():
    emb, labels = synthetic()
    recipe = replace(TWO_VIEWS, holdout=0.25)
    fitted = fit_project(emb, labels, VIEWS, ["a", "b", "c", "d"], recipe, seed=3)
    assert fitted.holdout_metrics["top1"] > 0.9
    assert 0.05 < fitted.head.temperature < 20
    assert np.isfinite(fitted.rule.threshold)
    assert fitted.holdout_metrics["openset_keep"] >= 0.95
    assert len(fitted.index_rows) == len(labels)
    again = fit_project(emb, labels, VIEWS, ["a", "b", "c", "d"], recipe, seed=3)
    x = inference_embeddings(emb, VIEWS, recipe)
    assert np.array_equal(fitted.head.probabilities(x), again.head.probabilities(x))
    assert fitted.rule == again.rule


def test_reference_cap_keeps_at_most_n_per_class():
    emb, labels = synthetic()
    fitted = fit_project(
        emb, labels, VIEWS, list("abcd"), replace(TWO_VIEWS, max_references_per_class=7)
    )
    assert np.bincount(labels[fitted.index_rows]).tolist() == [7, 7, 7, 7]


def test_cross_validation_reports_folds_and_summary():
    emb, labels = synthetic(n_per_class=20)
    result = cross_validate(emb, labels, VIEWS, list("abcd"), TWO_VIEWS, folds=4, seed=0)
    assert len(result["folds"]) == 4 and result["n"] == 80
    assert result["top1"] > 0.9 and result["summary"]["top1"]["std"] >= 0
    assert sum(v["n"] for v in result["per_class"].values()) == 80


def test_c_grid_picks_a_value_from_the_grid_and_records_scores():
    emb, labels = synthetic(seed=5)
    fitted = fit_project(emb, labels, VIEWS, list("abcd"), replace(TWO_VIEWS, c_grid=(0.01, 10.0)))
    for choice in (fitted.holdout_choice, fitted.choice):  # the measured head, the shipped one
        assert choice.c in (0.01, 10.0) and set(choice.c_scores) == {"0.01", "10.0"}
        best = max(choice.c_scores.items(), key=lambda kv: (kv[1]["top1"], -kv[1]["nll"]))
        assert float(best[0]) == choice.c
        assert choice.temperature == choice.c_scores[str(choice.c)]["temperature"]
    assert fitted.head.temperature == fitted.choice.temperature
    assert fitted.report()["model"]["c"] == fitted.choice.c
    assert Recipe.from_json(replace(TWO_VIEWS, c_grid=(1.0, 3.0)).to_json()).c_grid == (1.0, 3.0)


def test_a_photo_whose_class_no_other_fold_has_takes_no_part_in_the_choice():
    """A class with one photo cannot be predicted out of fold (its head never saw the class):
    left in, its hopeless logit would drive the temperature to its upper bound."""
    emb, labels = synthetic(seed=2, dim=8)  # a few mistakes: an interior temperature
    keep = np.concatenate([np.flatnonzero(labels < 3), np.flatnonzero(labels == 3)[:1]])
    rows = np.arange(len(keep))
    with_single = choose(emb[keep], labels[keep], rows, VIEWS, 4, TWO_VIEWS, seed=0)
    without = choose(emb[keep][:-1], labels[keep][:-1], rows[:-1], VIEWS, 4, TWO_VIEWS, seed=0)
    assert with_single.folds == 3
    assert with_single.temperature == pytest.approx(without.temperature, rel=0.2)
    assert 0.1 < with_single.temperature < 5.0
