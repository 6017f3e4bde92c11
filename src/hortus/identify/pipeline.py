"""Photos in as they arrive, embeddings out: each photo is decoded and embedded as soon as it is
added.

Each photo is decoded and embedded in one inference-pool task as soon as it is added (and hashed
beside it in the default pool), so with a streamed upload the first photos are embedded while
the rest are still arriving. Every photo is seen in the engine's views whatever the number of
photos: the heads' temperatures and open-set thresholds were fitted on those views, so one photo
and five are calibrated alike (docs/identify.md, "Several photos"). Every photo being its own
task, five photos keep both workers busy to the end instead of leaving one idle behind a worker
with three.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hortus.errors import InvalidInput, UnsupportedMedia
from hortus.inference import Inference
from hortus.vision.decode import DecodedImage, ImageDecodeError
from hortus.vision.engine import VisionEngine

INLINE_HASH_BYTES = 256 * 1024  # sha256 of 256 KiB: ~0.15 ms on the event loop
_UNSUPPORTED_CODES = ("unsupported_format", "not_an_image")


@dataclass(frozen=True)
class Photo:
    """One photo, the organ its sender says it shows, and its id (the first 32 hex digits of
    its sha256). ``filename`` is the upload's file name, or the URL it was fetched from."""

    filename: str
    data: bytes = field(repr=False)
    organ: str
    image_id: str


def photo_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def image_label(position: int, filename: str) -> str:
    """How messages name a photo: ``image 2 (leaf.jpg)``, ``image 1 (https://...)``."""
    return f"image {position + 1}" + (f" ({filename[:300]})" if filename else "")


def _decode_error(filename: str, position: int, exc: ImageDecodeError) -> Exception:
    label = image_label(position, filename)
    if exc.code in _UNSUPPORTED_CODES:
        return UnsupportedMedia(f"{label}: {exc.reason}. Send JPEG or PNG photos.",
                                error="unsupported media type")
    return InvalidInput(f"{label}: {exc.reason}.", error="bad image")


def _embed(engine: VisionEngine, image: DecodedImage) -> np.ndarray:
    """One photo's embedding ``[D]``: the mean over the engine's views."""
    return engine.embed([image]).embeddings[0]


def _forget(future: asyncio.Future[Any]) -> None:
    """Drop a pool task nobody will await: cancel it if it has not started, and retrieve its
    outcome so that a failure is not reported as never retrieved."""
    future.cancel()
    future.add_done_callback(lambda f: f.cancelled() or f.exception())


class PhotoPipeline:
    """Photos in (:meth:`add`), embedded photos out (:meth:`finish`).

    Use it as an async context manager: leaving it early drops the photos' pending work.
    """

    def __init__(self, *, inference: Inference, engine: VisionEngine) -> None:
        self._inference = inference
        self._engine = engine
        self._uploads: list[tuple[str, bytes]] = []
        self._embedding: list[asyncio.Future[np.ndarray]] = []
        self._hashing: list[asyncio.Future[str]] = []
        self._finished = False

    def __len__(self) -> int:
        return len(self._uploads)

    async def __aenter__(self) -> PhotoPipeline:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self._finished:
            futures: list[asyncio.Future[Any]] = [*self._embedding, *self._hashing]
            for future in futures:
                _forget(future)

    def add(self, filename: str, data: bytes) -> None:
        """Start decoding and embedding (and hashing) a photo."""
        loop = asyncio.get_running_loop()
        position = len(self._uploads)
        self._uploads.append((filename, data))
        self._embedding.append(asyncio.ensure_future(
            self._inference.run(self._decode_and_embed, filename, data, position)))
        if len(data) <= INLINE_HASH_BYTES:  # cheaper than a trip to a thread
            hashed: asyncio.Future[str] = loop.create_future()
            hashed.set_result(photo_id(data))
        else:
            hashed = loop.run_in_executor(None, photo_id, data)
        self._hashing.append(hashed)

    def _decode_and_embed(self, filename: str, data: bytes, position: int) -> np.ndarray:
        """Decode one photo and embed it (a pool task). A bad photo becomes the API's 400 or
        415."""
        try:
            image = self._engine.decode(data)
        except ImageDecodeError as exc:
            error = _decode_error(filename, position, exc)
            error.position = position  # type: ignore[attr-defined]
            raise error from None
        return _embed(self._engine, image)

    async def finish(self, organs: Sequence[str]) -> tuple[list[Photo], np.ndarray]:
        """The photos (with ``organs``, in order) and their embeddings ``[n, D]``.

        Raises the error of the first bad photo in upload order, whichever worker met it.
        """
        outcomes = await asyncio.gather(*self._embedding, return_exceptions=True)
        ids = await asyncio.gather(*self._hashing)
        self._finished = True
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            failures.sort(key=lambda e: getattr(e, "position", 0))
            raise failures[0]
        photos = [Photo(filename=filename, data=data, organ=organ, image_id=image_id)
                  for (filename, data), organ, image_id
                  in zip(self._uploads, organs, ids, strict=True)]
        return photos, np.stack([o for o in outcomes if isinstance(o, np.ndarray)])
