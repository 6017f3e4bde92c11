"""Augmentation for field photos of plants, in NumPy and Pillow (no torchvision).

One training input is: the photo decoded as serving decodes it (:func:`decode_image`, short
side about 256), a random resized crop (``scale_min`` to all of the area, aspect 3/4 to 4/3,
as in Inception training), a small rotation, horizontal (and optionally vertical) flips, and
brightness, contrast and saturation jitter. Hue is never changed: yellowing and browning are
what the disease classes are told apart by. The crop, resize and rotation are two Pillow
resamplings: the crop box straight to a square a little larger than the output (antialiased,
like serving's resize), then the rotation, whose centre square is the output without any
corner left empty.

The result is normalised with the backbone's ``(x - 127) / 128``, the packaged Lite0's
preprocessing (``prepare.py``'s manifest), which the exported manifest keeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from hortus.vision.decode import decode_image

MEAN = 127.0
STD = 128.0


@dataclass(frozen=True)
class Augmentation:
    """The random transformations of training photos."""

    size: int
    scale_min: float = 0.25
    rotation: float = 15.0
    jitter: float = 0.3
    vflip: bool = False


def crop_box(width: int, height: int, scale_min: float, rng: np.random.Generator
             ) -> tuple[int, int, int, int]:
    """A random ``(left, top, right, bottom)`` box of ``scale_min..1`` of the area and aspect
    3/4..4/3 (ten tries, then the largest centred box of aspect within that range)."""
    area = width * height
    log_ratio = (math.log(3 / 4), math.log(4 / 3))
    for _ in range(10):
        target = area * rng.uniform(scale_min, 1.0)
        ratio = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return left, top, left + w, top + h
    ratio = width / height
    if ratio < 3 / 4:
        w, h = width, int(round(width / (3 / 4)))
    elif ratio > 4 / 3:
        w, h = int(round(height * (4 / 3))), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def augment_rgb(rgb: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """``HxWx3`` uint8 photo -> float32 ``[S, S, 3]`` augmented pixels in 0..255."""
    height, width = rgb.shape[:2]
    box = crop_box(width, height, aug.scale_min, rng)
    angle = float(rng.uniform(-aug.rotation, aug.rotation)) if aug.rotation else 0.0
    theta = math.radians(abs(angle))
    big = int(math.ceil(aug.size * (math.cos(theta) + math.sin(theta))))
    image = Image.fromarray(rgb).resize((big, big), Image.Resampling.BILINEAR, box=box)
    if angle:
        image = image.rotate(angle, resample=Image.Resampling.BILINEAR)
    margin = (big - aug.size) // 2
    pixels = np.asarray(image, dtype=np.float32)[margin:margin + aug.size,
                                                 margin:margin + aug.size]
    if rng.random() < 0.5:
        pixels = pixels[:, ::-1]
    if aug.vflip and rng.random() < 0.5:
        pixels = pixels[::-1]
    if aug.jitter:
        low, high = 1.0 - aug.jitter, 1.0 + aug.jitter
        brightness, contrast, saturation = rng.uniform(low, high, size=3)
        pixels = pixels * brightness
        gray = pixels @ np.array([0.299, 0.587, 0.114], np.float32)
        pixels = (pixels - gray.mean()) * contrast + gray.mean()
        gray = (pixels @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
        pixels = gray + (pixels - gray) * saturation
    return np.clip(pixels, 0.0, 255.0).astype(np.float32)


def normalise(pixels: np.ndarray) -> np.ndarray:
    """``[S, S, 3]`` pixels in 0..255 -> the float32 ``[3, S, S]`` network input."""
    return np.ascontiguousarray(((pixels - MEAN) / STD).transpose(2, 0, 1), dtype=np.float32)


def training_input(path: Path | str, aug: Augmentation, seed: list[int]) -> np.ndarray:
    """One photo file as an augmented, normalised ``[3, S, S]`` input (``ImageDecodeError``
    for a file that is not a usable photo)."""
    image = decode_image(Path(path).read_bytes())
    return normalise(augment_rgb(image.rgb, aug, np.random.default_rng(seed)))
