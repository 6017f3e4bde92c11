"""Identification test helpers: the trained flora, settings on it, generated photos."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from hortus.config import Settings

PROJECT = "testflora"
TRAIN_PHOTOS = 14
CLASSES = {
    "daffodil": "Narcissus pseudonarcissus",
    "sunflower": "Helianthus annuus",
    "snowdrop": "Galanthus nivalis",
    "pansy": "Viola x wittrockiana",
    "crocus": "Crocus",
    "dandelion": "Taraxacum officinale",
}


@dataclass(frozen=True)
class TrainedFlora:
    models_dir: Path
    media_dir: Path
    held_out: dict[str, list[Path]]  # class folder -> photos never trained on

    def photo(self, label: str, i: int = 0) -> Path:
        return self.held_out[label][i]


def flora_settings(settings: Settings, flora: TrainedFlora, **overrides: object) -> Settings:
    """The test's settings (fresh seeded database) on the trained models and their media."""
    media = settings.data_dir / "media"
    if not media.exists():
        media.symlink_to(flora.media_dir)
    values = {"data_dir": settings.data_dir, "database_url": settings.database_url,
              "environment": "test", "models_dir": flora.models_dir, "warm_up_engine": False,
              **overrides}
    return Settings(**values)


def noise_jpeg(seed: int = 0, size: int = 320) -> bytes:
    """A photo of nothing: smooth coloured noise (no plant, no project class)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def node_available() -> bool:
    return any((Path(p) / "node").is_file() for p in os.environ.get("PATH", "").split(":"))
