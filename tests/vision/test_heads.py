"""Heads on synthetic embeddings: learning, calibration, NumPy round trip."""

from __future__ import annotations

import numpy as np
import pytest

from hortus.vision.heads import (
    Head,
    fit_logistic,
    fit_mlp,
    fit_temperature,
    nll,
    softmax,
    transform_features,
)


def blobs(
    n_per_class: int = 40, classes: int = 4, dim: int = 32, spread: float = 0.4, seed: int = 0
):
    """Non-negative Gaussian blobs (like ReLU6 embeddings), one centre per class."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 3, size=(classes, dim))
    x = np.concatenate([c + spread * rng.standard_normal((n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(classes), n_per_class)
    return np.clip(x, 0, None).astype(np.float32), y


def test_transform_features_unit_length_and_power():
    x = np.array([[4.0, 0.0, 9.0], [1.0, 1.0, 1.0]], np.float32)
    f = transform_features(x)
    assert np.allclose(np.linalg.norm(f, axis=1), 1.0)
    g = transform_features(x, power=0.5)
    assert np.allclose(g[0], np.array([2.0, 0.0, 3.0]) / np.sqrt(13.0), atol=1e-6)
    assert transform_features(x[0]).shape == (1, 3)


def test_softmax_rows_sum_to_one_and_temperature_flattens():
    logits = np.array([[2.0, 0.0, -1.0]])
    sharp, flat = softmax(logits, 1.0), softmax(logits, 4.0)
    assert np.allclose(sharp.sum(axis=1), 1.0) and np.allclose(flat.sum(axis=1), 1.0)
    assert flat.max() < sharp.max()


@pytest.mark.parametrize("fit", [fit_logistic, fit_mlp])
def test_head_learns_separable_problem(fit):
    x, y = blobs(seed=1)
    rng = np.random.default_rng(7)
    xt = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, None).astype(np.float32)
    head = fit(transform_features(x), y, 4)
    probs = head.probabilities(xt)
    assert probs.shape == (len(y), 4)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs.argmax(axis=1) == y).mean() > 0.95


def test_absent_class_is_never_predicted_and_binary_split_is_symmetric():
    x, y = blobs(classes=3, seed=2)
    keep = y != 1
    head = fit_logistic(transform_features(x[keep]), y[keep], 3)
    probs = head.probabilities(x)
    assert probs[:, 1].max() < 1e-6
    assert (probs.argmax(axis=1)[keep] == y[keep]).mean() > 0.95


def test_temperature_scaling_lowers_nll_of_overconfident_logits():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, size=400)
    logits = rng.standard_normal((400, 5))
    correct = rng.random(400) < 0.7
    logits[np.arange(400), labels] += np.where(correct, 3.0, 0.0)
    logits *= 4.0  # over-confident
    t = fit_temperature(logits, labels)
    assert t > 1.5
    assert nll(logits, labels, t) < nll(logits, labels, 1.0)
    # Optimal: nearby temperatures are no better.
    assert nll(logits, labels, t) <= min(nll(logits, labels, t * 1.1), nll(logits, labels, t / 1.1))


def test_head_arrays_round_trip():
    x, y = blobs(seed=4)
    head = fit_mlp(transform_features(x, 0.5), y, 4, hidden=16, power=0.5).with_temperature(1.7)
    again = Head.from_arrays("mlp", head.to_arrays())
    assert again.temperature == pytest.approx(1.7) and again.power == pytest.approx(0.5)
    assert np.allclose(again.probabilities(x), head.probabilities(x))
    with pytest.raises(ValueError):
        Head.from_arrays("forest", head.to_arrays())
