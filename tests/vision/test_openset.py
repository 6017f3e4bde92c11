"""Open-set scores and thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from hortus.vision.heads import l2_normalise
from hortus.vision.index import ReferenceIndex
from hortus.vision.openset import OpenSetRule, auroc, choose_threshold, knn_similarity


def test_choose_threshold_keeps_the_requested_fraction():
    scores = np.linspace(0.0, 1.0, 100)
    t = choose_threshold(scores, keep=0.95)
    assert (scores >= t).sum() == 95
    assert (scores >= choose_threshold(scores, keep=1.0)).all()
    assert choose_threshold(np.array([]), 0.95) == float("-inf")
    with pytest.raises(ValueError):
        choose_threshold(scores, keep=0.0)


def test_knn_similarity_is_mean_of_top_k():
    sims = np.array([[0.1, 0.9, 0.5, 0.7]])
    assert knn_similarity(sims, 1)[0] == pytest.approx(0.9)
    assert knn_similarity(sims, 2)[0] == pytest.approx(0.8)
    assert knn_similarity(sims, 10)[0] == pytest.approx(0.55)  # k capped at N


def test_auroc_extremes_and_ties():
    assert auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert auroc(np.array([0.0]), np.array([1.0])) == 0.0
    assert auroc(np.array([1.0, 1.0]), np.array([1.0])) == 0.5


def test_rule_rejects_far_away_points_and_round_trips():
    rng = np.random.default_rng(0)
    centre = l2_normalise(rng.standard_normal((1, 64)))
    known = l2_normalise(centre + 0.2 * rng.standard_normal((200, 64)))
    held = l2_normalise(centre + 0.2 * rng.standard_normal((50, 64)))
    strangers = l2_normalise(rng.standard_normal((50, 64)))
    index = ReferenceIndex.build(known, np.zeros(200, int), [""] * 200)
    rule = OpenSetRule("knn", k=3)
    probs = np.ones((50, 1), np.float32)
    held_scores = rule.scores(index.similarities(held), probs)
    rule = rule.with_threshold(choose_threshold(held_scores, 0.95))
    assert (~rule.rejected(held_scores)).mean() >= 0.95
    assert rule.rejected(rule.scores(index.similarities(strangers), probs)).all()
    assert OpenSetRule.from_json(rule.to_json()) == rule
    with pytest.raises(ValueError):
        OpenSetRule("magic")


def test_msp_and_combined_scores():
    probs = np.array([[0.9, 0.1], [0.5, 0.5]], np.float32)
    sims = np.array([[0.8, 0.2], [0.4, 0.3]], np.float32)
    assert np.allclose(OpenSetRule("msp").scores(sims, probs), [0.9, 0.5])
    combined = OpenSetRule("knn_msp", k=1, msp_weight=0.5).scores(sims, probs)
    assert np.allclose(combined, [0.8 + 0.45, 0.4 + 0.25])
