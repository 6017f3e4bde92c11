"""A valid PNG carrying big text chunks (compressed or not) decodes: its text is never
decompressed (Pillow refuses a zTXt/iTXt chunk inflating past ``MAX_TEXT_CHUNK``, 1 MiB)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from hortus.vision.decode import ImageDecodeError, decode_image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_with(*extra: bytes) -> bytes:
    """A 64x48 red PNG with ``extra`` chunks placed after IHDR, before the image data."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 20)).save(buffer, format="PNG")
    data = buffer.getvalue()
    ihdr_end = 8 + 8 + 13 + 4
    return data[:ihdr_end] + b"".join(extra) + data[ihdr_end:]


BIG_TEXT = b"leaf " * (2 * 1024 * 1024)  # 10 MiB that deflate to ~10 KiB


@pytest.mark.parametrize("chunk", [
    _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(BIG_TEXT, 9)),
    _chunk(b"iTXt", b"Comment\x00\x01\x00en\x00Comment\x00" + zlib.compress(BIG_TEXT, 9)),
    _chunk(b"tEXt", b"Comment\x00" + b"x" * (2 * 1024 * 1024)),
], ids=["zTXt", "iTXt", "tEXt"])
def test_a_png_with_a_big_text_chunk_decodes(chunk: bytes) -> None:
    data = _png_with(chunk, chunk)
    assert len(data) < 5 * 1024 * 1024
    decoded = decode_image(data, min_side=16)
    assert decoded.format == "PNG" and (decoded.width, decoded.height) == (64, 48)
    assert np.abs(decoded.rgb.astype(int) - (200, 30, 20)).max() <= 1


def test_a_png_cut_short_is_still_refused() -> None:
    data = _png_with(_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(BIG_TEXT, 9)))
    with pytest.raises(ImageDecodeError) as refused:
        decode_image(data[: len(data) // 2])
    assert refused.value.code == "truncated"
