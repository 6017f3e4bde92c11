"""Reference photos as served JPEGs: ``<media_dir>/references/<sha[:2]>/<sha>_{o,m,s}.jpg``.

Sizes bound the longest side: ``o`` 1280 px, ``m`` 512 px, ``s`` 192 px (never enlarged).
Existing files are kept, so rebuilding is cheap and idempotent.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

MEDIA_SIZES: dict[str, int] = {"o": 1280, "m": 512, "s": 192}


def reference_media_path(media_dir: Path, sha256: str, size: str) -> Path:
    """Where the ``size`` (``o``/``m``/``s``) JPEG of reference photo ``sha256`` lives."""
    if size not in MEDIA_SIZES:
        raise ValueError(f"size must be one of {sorted(MEDIA_SIZES)}")
    if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
        raise ValueError("sha256 must be 64 lowercase hex digits")
    return Path(media_dir) / "references" / sha256[:2] / f"{sha256}_{size}.jpg"


def write_reference_media(media_dir: Path, sha256: str, data: bytes, *, quality: int = 85) -> int:
    """Write the missing sizes of one photo; returns how many files were written.

    Raises ``PIL.UnidentifiedImageError``/``OSError`` when the bytes are not a photo.
    """
    from PIL import Image, ImageOps

    targets = {s: reference_media_path(media_dir, sha256, s) for s in MEDIA_SIZES}
    missing = {s: p for s, p in targets.items() if not p.is_file()}
    if not missing:
        return 0
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    for size, path in missing.items():
        copy = image.copy()
        copy.thumbnail((MEDIA_SIZES[size], MEDIA_SIZES[size]), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        copy.save(buffer, format="JPEG", quality=quality, optimize=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
        os.replace(tmp, path)
    return len(missing)
