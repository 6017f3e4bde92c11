"""Reference photos as served JPEGs, in three sizes, each named ``<sha>_{o,m,s}``.

Sizes bound the longest side: ``o`` 1280 px, ``m`` 512 px, ``s`` 192 px (never enlarged).
They go to a media store (anything with ``existing`` and ``put``, e.g. the server's
:mod:`hortus.media` store, so every process serves them) or, given a folder, to
``<media_dir>/references/<sha[:2]>/<sha>_{o,m,s}.jpg`` (the local store's layout). Existing
renditions are kept, so rebuilding is cheap and idempotent.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

MEDIA_SIZES: dict[str, int] = {"o": 1280, "m": 512, "s": 192}


class MediaSink(Protocol):
    """Where renditions are kept, by key (the media store's interface, the part used here)."""

    def existing(self, keys: Iterable[str]) -> set[str]: ...

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> bool: ...


def _check(sha256: str, size: str) -> None:
    if size not in MEDIA_SIZES:
        raise ValueError(f"size must be one of {sorted(MEDIA_SIZES)}")
    if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
        raise ValueError("sha256 must be 64 lowercase hex digits")


def reference_media_key(sha256: str, size: str) -> str:
    """The media key of the ``size`` (``o``/``m``/``s``) JPEG of reference photo ``sha256``."""
    _check(sha256, size)
    return f"{sha256}_{size}"


def reference_media_path(media_dir: Path, sha256: str, size: str) -> Path:
    """Where the ``size`` (``o``/``m``/``s``) JPEG of reference photo ``sha256`` lives in a
    media folder."""
    _check(sha256, size)
    return Path(media_dir) / "references" / sha256[:2] / f"{sha256}_{size}.jpg"


def render_reference_media(data: bytes, sizes: Iterable[str],
                           *, quality: int = 85) -> dict[str, bytes]:
    """The JPEG of each size of one photo (EXIF-upright). Raises
    ``PIL.UnidentifiedImageError``/``OSError`` when the bytes are not a photo."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    rendered = {}
    for size in sizes:
        copy = image.copy()
        copy.thumbnail((MEDIA_SIZES[size], MEDIA_SIZES[size]), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        copy.save(buffer, format="JPEG", quality=quality, optimize=True)
        rendered[size] = buffer.getvalue()
    return rendered


def write_reference_media(target: Path | MediaSink, sha256: str, data: bytes, *,
                          quality: int = 85) -> int:
    """Write the missing sizes of one photo to a media store or folder; returns how many
    renditions were written.

    Raises ``PIL.UnidentifiedImageError``/``OSError`` when the bytes are not a photo.
    """
    if not isinstance(target, str | os.PathLike):
        keys = {size: reference_media_key(sha256, size) for size in MEDIA_SIZES}
        held = target.existing(keys.values())
        missing = [size for size, key in keys.items() if key not in held]
        rendered = render_reference_media(data, missing, quality=quality) if missing else {}
        return sum(target.put(keys[size], jpeg, content_type="image/jpeg")
                   for size, jpeg in rendered.items())
    paths = {s: reference_media_path(Path(target), sha256, s) for s in MEDIA_SIZES}
    missing_paths = {s: p for s, p in paths.items() if not p.is_file()}
    if not missing_paths:
        return 0
    rendered = render_reference_media(data, missing_paths, quality=quality)
    for size, path in missing_paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(rendered[size])
        os.replace(tmp, path)
    return len(missing_paths)
