"""The pixel budget: photos sized from their headers, by how they decode, before any decoding."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from hortus.vision.decode import ImageDecodeError, decode_image, jpeg_layout, webp_size
from hortus.vision.pixel_budget import PixelBudget, jpeg_decodes_scaled

BUDGET = PixelBudget(scaled=200_000, full=50_000)  # 300x200 = 60,000 pixels


def _encoded(fmt: str, size: tuple[int, int] = (300, 200), mode: str = "RGB",
             **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 120).save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(("fmt", "mode", "options"), [
    ("WEBP", "RGB", {}), ("WEBP", "RGB", {"lossless": True}), ("WEBP", "RGBA", {}),
    ("WEBP", "RGBA", {"lossless": True}),
])
def test_webp_size_from_each_kind_of_header(fmt: str, mode: str, options: dict) -> None:
    assert webp_size(_encoded(fmt, (301, 199), mode, **options)) == (301, 199)


def test_only_sequential_single_scan_jpegs_decode_scaled() -> None:
    assert jpeg_decodes_scaled(jpeg_layout(_encoded("JPEG")))
    assert jpeg_decodes_scaled(jpeg_layout(_encoded("JPEG", mode="L")))
    progressive = jpeg_layout(_encoded("JPEG", progressive=True))
    assert progressive.frame_marker == 0xC2 and not jpeg_decodes_scaled(progressive)


def test_a_frame_sent_one_component_per_scan_is_decoded_in_full() -> None:
    data = bytearray(_encoded("JPEG"))
    scan = data.index(b"\xff\xda")
    data[scan + 4] = 1  # the first scan now claims one of the frame's three components
    assert not jpeg_decodes_scaled(jpeg_layout(bytes(data)))


@pytest.mark.parametrize(("fmt", "options", "limit"), [
    ("PNG", {}, "50,000 pixels for PNG images, which are decoded in full"),
    ("WEBP", {}, "50,000 pixels for WebP images, which are decoded in full"),
    ("JPEG", {"progressive": True},
     "50,000 pixels for progressive or multi-scan JPEG images, which are decoded in full"),
])
def test_photos_decoded_in_full_have_the_smaller_budget(fmt: str, options: dict,
                                                        limit: str) -> None:
    with pytest.raises(ImageDecodeError) as refused:
        BUDGET.check(_encoded(fmt, **options))
    assert refused.value.code == "too_many_pixels"
    assert refused.value.reason == (f"the image is 300x200 = 60,000 pixels, over this server's "
                                    f"limit of {limit}; send a smaller one")
    PixelBudget(scaled=200_000, full=60_000).check(_encoded(fmt, **options))  # at the limit


def test_a_baseline_jpeg_has_the_larger_budget() -> None:
    BUDGET.check(_encoded("JPEG"))
    with pytest.raises(ImageDecodeError, match="limit of 50,000 pixels for JPEG images;"):
        PixelBudget(scaled=50_000, full=50_000).check(_encoded("JPEG"))


@pytest.mark.parametrize("data", [b"", b"not an image", b"\xff\xd8\xff\xe0\x00",
                                  b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBPVP8 "])
def test_what_it_cannot_size_is_left_to_the_decoder(data: bytes) -> None:
    PixelBudget(scaled=1, full=1).check(data)
    with pytest.raises(ImageDecodeError):
        decode_image(data)

