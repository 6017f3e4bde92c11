"""Reference index: training photos' normalised embeddings (float16) and their credits.

The same forward pass that feeds the head is compared (cosine similarity) with these
references, to show similar photos of a predicted class and to score how familiar a photo
looks (the open-set score). Stored as ``index.npz`` of plain arrays: strings are fixed-width
unicode arrays, so ``np.load(..., allow_pickle=False)`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from hortus.vision.heads import l2_normalise

META_FIELDS = ("author", "licence", "citation", "date", "organ")


@dataclass(frozen=True)
class Reference:
    """One reference photo found by a search."""

    row: int
    sha256: str
    label_index: int
    similarity: float
    author: str | None
    licence: str | None
    citation: str | None
    date: str | None
    organ: str | None


@dataclass(frozen=True)
class ReferenceIndex:
    """Unit-length reference vectors ``[N, D]`` (float16), their class indices and credits."""

    vectors: np.ndarray
    labels: np.ndarray
    sha256: np.ndarray
    meta: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        n = len(self.vectors)
        if len(self.labels) != n or len(self.sha256) != n:
            raise ValueError("reference index arrays disagree in length")
        if any(len(v) != n for v in self.meta.values()):
            raise ValueError("reference index metadata disagrees in length")

    def __len__(self) -> int:
        return int(len(self.vectors))

    @classmethod
    def build(
        cls,
        features: np.ndarray,
        labels: np.ndarray,
        sha256: list[str],
        meta: dict[str, list[str | None]] | None = None,
    ) -> ReferenceIndex:
        """Index ``features`` (re-normalised, stored as float16) with per-photo metadata."""
        n = len(features)
        meta = meta or {}
        arrays = {
            f: np.asarray([(v or "") for v in meta.get(f, [None] * n)], dtype=np.str_)
            for f in META_FIELDS
        }
        for f, values in arrays.items():
            if values.shape != (n,):
                arrays[f] = np.full(n, "", dtype=np.str_) if values.size == 0 else values
        return cls(
            vectors=l2_normalise(features).astype(np.float16),
            labels=np.asarray(labels, dtype=np.int32),
            sha256=np.asarray(sha256, dtype="<U64"),
            meta=arrays,
        )

    def similarities(self, features: np.ndarray) -> np.ndarray:
        """Cosine similarity ``[n, N]`` of (unit-length) query features with every reference."""
        q = np.atleast_2d(np.asarray(features, dtype=np.float32))
        return q @ self._vectors32.T

    @cached_property
    def _vectors32(self) -> np.ndarray:
        # Stored as float16 (half the size); searched in float32, converted once.
        return self.vectors.astype(np.float32)

    def nearest(
        self, feature: np.ndarray, class_index: int | None = None, k: int = 3,
        among: np.ndarray | None = None,
    ) -> list[Reference]:
        """The ``k`` most similar references, optionally restricted to one class and to the
        rows where the boolean mask ``among`` (one value per reference) is true."""
        sims = self.similarities(feature)[0]
        rows = (
            np.arange(len(self))
            if class_index is None
            else np.flatnonzero(self.labels == class_index)
        )
        if among is not None:
            rows = rows[np.asarray(among, dtype=bool)[rows]]
        if rows.size == 0 or k <= 0:
            return []
        order = rows[np.argsort(-sims[rows], kind="stable")[:k]]
        return [self._reference(int(r), float(sims[r])) for r in order]

    def _reference(self, row: int, similarity: float) -> Reference:
        values = {f: (str(self.meta[f][row]) or None) for f in META_FIELDS}
        return Reference(
            row=row,
            sha256=str(self.sha256[row]),
            label_index=int(self.labels[row]),
            similarity=similarity,
            **values,
        )

    def save(self, path: Path) -> None:
        """Write ``index.npz`` (compressed, no object arrays)."""
        with Path(path).open("wb") as handle:
            arrays: dict[str, Any] = {
                "vectors": self.vectors,
                "labels": self.labels,
                "sha256": self.sha256,
                **{f"meta_{f}": v for f, v in self.meta.items()},
            }
            np.savez_compressed(handle, **arrays)

    @classmethod
    def load(cls, path: Path) -> ReferenceIndex:
        """Read an index written by :meth:`save` (never unpickles)."""
        with np.load(Path(path), allow_pickle=False) as data:
            meta = {f: data[f"meta_{f}"] for f in META_FIELDS if f"meta_{f}" in data.files}
            n = len(data["labels"])
            for f in META_FIELDS:
                meta.setdefault(f, np.full(n, "", dtype=np.str_))
            return cls(
                vectors=data["vectors"].astype(np.float16),
                labels=data["labels"].astype(np.int32),
                sha256=data["sha256"],
                meta=meta,
            )
