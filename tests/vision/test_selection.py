"""Figures measured on photos that chose nothing (issue 18): C, the temperature and the open-set
thresholds come from out-of-fold predictions of a head's own training photos, so the held-out
photos the figures are measured on take no part in them; the shipped head, refitted on all
photos, is calibrated by the same out-of-fold procedure over all photos.

On real photos through the real backbone: four yellow Oxford-17 flower classes, and iBean bean
leaves to swap in where a test changes some photos' content."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hortus.vision.dataset import scan_photo_folder
from hortus.vision.heads import fit_temperature, transform_features
from hortus.vision.index import ReferenceIndex
from hortus.vision.openset import choose_threshold, knn_similarity
from hortus.vision.training import (
    Recipe,
    choose,
    cross_validate,
    fit_head,
    fit_project,
    inference_embeddings,
    stratified_folds,
    stratified_holdout,
)

FLOWERS = ["buttercup", "coltsfoot", "daffodil", "dandelion"]  # yellow: a few mistakes to calibrate
PER_CLASS = 24
VIEWS = ("center", "hflip")
RECIPE = Recipe(train_views=VIEWS, test_views=VIEWS)  # C from (10, 30, 100), 3 inner folds


def _embed(root: Path, source: Path, labels: list[str], per_class: int, backbone) -> np.ndarray:
    from hortus.vision.embedding import embed_photos

    for label in labels:
        (root / label).mkdir(parents=True)
        for photo in sorted((source / label).iterdir())[:per_class]:
            (root / label / photo.name).symlink_to(photo)
    folder = scan_photo_folder(root)
    embedded = embed_photos(folder.photos, backbone, None, VIEWS)
    assert not embedded.skipped and embedded.view_names == VIEWS
    return embedded.embeddings


@pytest.fixture(scope="module")
def photos(tmp_path_factory, shared_data, backbone_dir):
    """Embeddings ``[96, 2, 1280]`` of 4 flower classes x 24 photos (class-sorted) and their
    labels; embeddings of 24 iBean leaves."""
    from hortus.vision.backbone import Backbone

    base = tmp_path_factory.mktemp("selection")
    backbone = Backbone.load(backbone_dir, threads=2)
    flowers = _embed(base / "flowers", shared_data / "oxford17", FLOWERS, PER_CLASS, backbone)
    leaves = _embed(base / "leaves", shared_data / "ibean",
                    ["angular_leaf_spot", "bean_rust", "healthy"], 8, backbone)
    return flowers, np.repeat(np.arange(len(FLOWERS)), PER_CLASS), leaves


def test_held_out_photos_take_no_part_in_any_choice(photos):
    """Swapping the held-out photos for bean leaves (labels kept) changes the figures measured
    on them, and not one choice made for the head they measure."""
    flowers, labels, leaves = photos
    recipe = replace(RECIPE, c_grid=(10.0, 100.0))
    honest = fit_project(flowers, labels, VIEWS, FLOWERS, recipe, seed=0)
    held = stratified_holdout(labels, recipe.holdout, 0)[1]
    assert np.array_equal(honest.holdout_rows, held) and len(held) == 20
    swapped = flowers.copy()
    swapped[held] = leaves[: len(held)]
    other = fit_project(swapped, labels, VIEWS, FLOWERS, recipe, seed=0)

    assert np.array_equal(other.holdout_rows, held)
    # C, temperature, both thresholds and the out-of-fold scores behind them: identical.
    assert other.holdout_choice == honest.holdout_choice
    assert honest.holdout_choice.folds == 3 and honest.holdout_choice.photos == 76
    assert 0.1 < honest.holdout_choice.temperature < 10  # a fitted temperature, not a bound
    # The figures measured on the held-out photos do change.
    assert honest.holdout_metrics["top1"] >= 0.85
    assert other.holdout_metrics["top1"] < 0.5  # leaves are no flower
    assert other.holdout_metrics["openset_keep"] < honest.holdout_metrics["openset_keep"]
    assert other.holdout_metrics["nll"] > honest.holdout_metrics["nll"]
    # The shipped head is the recipe rerun on all photos: its choices see the swap.
    assert other.choice != honest.choice
    report = honest.report()
    assert report["evaluated_on"].startswith("20 held-out photos of 96")
    assert report["holdout_model"]["photos"] == 76 and report["model"]["photos"] == 96


def test_shipped_head_is_calibrated_out_of_fold_over_all_photos(photos):
    """The refitted head's temperature and threshold are those of the recorded procedure redone
    by hand (3 stratified folds of all photos, a head and an index of the other folds for each),
    not those chosen for the head fitted before the refit."""
    flowers, labels, _ = photos
    recipe = replace(RECIPE, c_grid=())  # one C: no warm-started chain of Cs to redo
    fitted = fit_project(flowers, labels, VIEWS, FLOWERS, recipe, seed=0)

    x = inference_embeddings(flowers, VIEWS, recipe)
    features = transform_features(x, recipe.power)
    logits = np.zeros((len(labels), len(FLOWERS)))
    knn = np.zeros(len(labels))
    for fold in stratified_folds(labels, recipe.inner_folds, seed=0):
        rest = np.setdiff1d(np.arange(len(labels)), fold)
        head = fit_head(flowers, labels, rest, VIEWS, len(FLOWERS), recipe, seed=0)
        logits[fold] = head.logits(x[fold])
        index = ReferenceIndex.build(features[rest], labels[rest], [""] * len(rest))
        knn[fold] = knn_similarity(index.similarities(features[fold]), recipe.openset_k)
    assert fitted.head.temperature == pytest.approx(fit_temperature(logits, labels), rel=1e-6)
    assert fitted.rule.threshold == pytest.approx(choose_threshold(knn, recipe.keep), abs=1e-6)

    before_refit = fitted.holdout_choice
    assert before_refit is not None and before_refit.photos == 76
    assert fitted.head.temperature != pytest.approx(before_refit.temperature, rel=1e-3)
    assert fitted.rule.threshold != before_refit.rule.threshold
    accepted = (knn >= fitted.rule.threshold).mean()
    assert accepted >= recipe.keep  # keep of the out-of-fold photos accepted, as the card says


def test_cross_validation_figures_come_from_outer_test_photos_only(photos):
    """Each outer fold's choices are made inside its training photos: swapping one fold's
    photos for leaves changes that fold's figures, not its choices."""
    flowers, labels, leaves = photos
    recipe = replace(RECIPE, c_grid=(10.0, 100.0))
    honest = cross_validate(flowers, labels, VIEWS, FLOWERS, recipe, folds=3, seed=0)
    first = stratified_folds(labels, 3, seed=0)[0]
    swapped = flowers.copy()
    swapped[first[:24]] = leaves
    other = cross_validate(swapped, labels, VIEWS, FLOWERS, recipe, folds=3, seed=0)

    assert other["folds"][0]["model"] == honest["folds"][0]["model"]
    assert other["folds"][0]["top1"] < honest["folds"][0]["top1"]
    assert other["folds"][1]["model"] != honest["folds"][1]["model"]  # trained on the swap
    fold = honest["folds"][0]["model"]
    assert fold["photos"] == len(labels) - len(first) and "3 stratified folds" in fold["chosen_on"]
    assert honest["evaluated_on"].startswith("outer-fold test photos only")
    assert honest["top1"] > 0.85


def test_inner_folds_keep_groups_apart():
    """With groups, the out-of-fold predictions come from heads that never saw the photo's
    group: where a group's private look is all that identifies it, they score lower than
    folds that split groups (which would choose C and the temperature on memory)."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(30) % 3, 4)
    groups = np.repeat([f"g{i}" for i in range(30)], 4)
    centres = rng.normal(size=(3, 16))
    offsets = {g: rng.normal(scale=2.0, size=16) for g in set(groups)}
    x = np.stack([centres[c] + offsets[g] + 0.05 * rng.normal(size=16)
                  for c, g in zip(labels, groups, strict=True)])
    embeddings = np.clip(np.stack([x, x], axis=1), 0, None).astype(np.float32)
    rows = np.arange(len(labels))
    recipe = replace(RECIPE, c_grid=())
    grouped = choose(embeddings, labels, rows, VIEWS, 3, recipe, seed=0, groups=groups)
    leaky = choose(embeddings, labels, rows, VIEWS, 3, recipe, seed=0)
    assert (grouped.grouped, grouped.folds, leaky.grouped) == (True, 3, False)
    assert grouped.c_scores["10.0"]["top1"] < leaky.c_scores["10.0"]["top1"]
    # too few photos to fold: nothing chosen, the recipe's defaults say so
    tiny = choose(embeddings, labels, rows[:1], VIEWS, 3, recipe, seed=0)
    assert (tiny.folds, tiny.temperature, tiny.c) == (0, 1.0, recipe.c)
    assert tiny.chosen_on().startswith("nothing")
