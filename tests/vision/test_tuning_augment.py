"""Field-photo augmentation of the tuning run (NumPy and Pillow, no PyTorch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hortus.vision.tuning.augment import Augmentation, augment_rgb, crop_box, training_input


def test_rotation_never_leaves_empty_corners() -> None:
    white = np.full((300, 400, 3), 255, np.uint8)
    aug = Augmentation(size=96, rotation=45.0, jitter=0.0)
    for seed in range(20):
        out = augment_rgb(white, aug, np.random.default_rng(seed))
        assert out.shape == (96, 96, 3) and out.dtype == np.float32
        assert out.min() > 250  # bilinear edges at most; no black corner anywhere


def test_crop_boxes_stay_inside_and_cover_the_scale_range() -> None:
    rng = np.random.default_rng(0)
    areas = []
    for _ in range(300):
        left, top, right, bottom = crop_box(400, 300, 0.25, rng)
        assert 0 <= left < right <= 400 and 0 <= top < bottom <= 300
        assert 3 / 4 - 0.02 <= (right - left) / (bottom - top) <= 4 / 3 + 0.02 or \
            (right - left, bottom - top) == (400, 300)
        areas.append((right - left) * (bottom - top) / (400 * 300))
    assert min(areas) < 0.35 and max(areas) > 0.9


def test_jitter_keeps_hue_and_seeds_repeat(shared_data: Path) -> None:
    photo = sorted((shared_data / "ibean" / "bean_rust").iterdir())[0]
    aug = Augmentation(size=64)
    a = training_input(photo, aug, [0, 1, 2])
    assert a.shape == (3, 64, 64) and a.dtype == np.float32
    np.testing.assert_array_equal(a, training_input(photo, aug, [0, 1, 2]))
    assert not np.array_equal(a, training_input(photo, aug, [0, 1, 3]))
    assert a.min() >= -1.0 and a.max() <= 1.0  # (x - 127) / 128 of 0..255
    # Brightness, contrast and saturation move a colour along its own hue: a pure green
    # stays green (red = blue), whatever the factors.
    green = np.zeros((64, 64, 3), np.uint8)
    green[..., 1] = 160
    for seed in range(10):
        out = augment_rgb(green, Augmentation(size=32, rotation=0.0, jitter=0.3),
                          np.random.default_rng(seed))
        np.testing.assert_allclose(out[..., 0], out[..., 2], atol=1e-3)
        assert (out[..., 1] >= out[..., 0] - 1e-3).all()
