"""Embedding cache keyed by photo content and backbone, so retraining skips forward passes.

Layout: ``<cache_dir>/embeddings/<backbone sha256[:16]>/<photo sha256[:2]>/<photo sha256>.npz``
with one float32 vector per *view* (``center``, ``hflip``, crops ...; see
:mod:`hortus.vision.test_time_crops`). Files are plain arrays read with ``allow_pickle=False``; a
corrupt file is ignored and recomputed.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


class EmbeddingCache:
    """Per-photo, per-view embeddings of one backbone, on disk."""

    def __init__(self, cache_dir: Path, backbone_sha256: str) -> None:
        self.root = Path(cache_dir) / "embeddings" / backbone_sha256[:16]

    def _path(self, photo_sha256: str) -> Path:
        return self.root / photo_sha256[:2] / f"{photo_sha256}.npz"

    def get(self, photo_sha256: str) -> dict[str, np.ndarray]:
        """All cached views of a photo (empty when none)."""
        path = self._path(photo_sha256)
        if not path.is_file():
            return {}
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name].astype(np.float32) for name in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            return {}

    def put(self, photo_sha256: str, views: dict[str, np.ndarray]) -> None:
        """Add (or replace) views of a photo; written atomically."""
        merged: dict[str, Any] = {
            **self.get(photo_sha256),
            **{k: np.asarray(v, np.float32) for k, v in views.items()},
        }
        path = self._path(photo_sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **merged)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
