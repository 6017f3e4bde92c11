"""Photos to embeddings: decode, cut the recipe's views, run the backbone in batches, cache.

Only photos with a view missing from the cache are decoded and run through the backbone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hortus.vision.cache import EmbeddingCache
from hortus.vision.dataset import Photo, content_sha256
from hortus.vision.test_time_crops import VIEWS, view_input

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]


@dataclass
class EmbeddedPhotos:
    """Embeddings ``[N, V, D]`` of the photos that decoded, in input order."""

    embeddings: np.ndarray
    view_names: tuple[str, ...]
    photos: list[Photo]
    sha256: list[str]
    skipped: list[tuple[Path, str]]


def embed_photos(
    photos: Sequence[Photo],
    backbone,
    cache: EmbeddingCache | None,
    views: Sequence[str],
    *,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
) -> EmbeddedPhotos:
    """Embed every view of every photo (cached ones are read back, not recomputed).

    Photos that cannot be decoded are skipped and listed in ``skipped`` with the reason.
    """
    from hortus.vision.decode import ImageDecodeError, decode_image

    views = tuple(views)
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown views {unknown}")
    total = len(photos)
    found: dict[int, dict[str, np.ndarray]] = {}
    shas: dict[int, str] = {}
    skipped: list[tuple[Path, str]] = []
    pending: list[tuple[int, str, np.ndarray]] = []  # (photo position, view, preprocessed input)

    def flush() -> None:
        if not pending:
            return
        output = backbone.forward(np.stack([p[2] for p in pending]))
        new: dict[int, dict[str, np.ndarray]] = {}
        for (pos, view, _), vector in zip(pending, output.embeddings, strict=True):
            found[pos][view] = np.asarray(vector, np.float32)
            new.setdefault(pos, {})[view] = found[pos][view]
        if cache is not None:
            for pos, vectors in new.items():
                cache.put(shas[pos], vectors)
        pending.clear()

    for pos, photo in enumerate(photos):
        try:
            data = photo.read_bytes()
        except OSError as exc:
            skipped.append((photo.path, str(exc)))
            continue
        shas[pos] = content_sha256(data)
        cached = cache.get(shas[pos]) if cache is not None else {}
        found[pos] = {v: cached[v] for v in views if v in cached}
        missing = [v for v in views if v not in found[pos]]
        if missing:
            try:
                image = decode_image(data)
            except ImageDecodeError as exc:
                log.warning("skipping %s: %s", photo.path, exc)
                skipped.append((photo.path, str(exc)))
                del found[pos]
                continue
            pending.extend((pos, v, view_input(backbone, image, VIEWS[v])) for v in missing)
            if len(pending) >= batch_size:
                flush()
        if progress is not None:
            progress("embedding", pos + 1, total)
    flush()
    kept = sorted(found)
    if kept:
        embeddings = np.stack([np.stack([found[p][v] for v in views]) for p in kept])
    else:
        embeddings = np.zeros((0, len(views), 0), np.float32)
    return EmbeddedPhotos(
        embeddings=embeddings.astype(np.float32),
        view_names=views,
        photos=[photos[p] for p in kept],
        sha256=[shas[p] for p in kept],
        skipped=skipped,
    )
