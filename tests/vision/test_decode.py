"""decode_image on real encoded bytes: formats, modes, orientation, scaling and hostile input."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from hortus.vision.decode import DecodedImage, ImageDecodeError, decode_image


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def gradient(width: int, height: int) -> Image.Image:
    """An RGB image whose red rises left to right and green top to bottom."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    rgb = np.stack([x, y, np.full_like(x, 64)], axis=2).astype(np.uint8)
    return Image.fromarray(rgb)


def assert_decode_error(data: bytes, code: str, **kwargs: int) -> ImageDecodeError:
    with pytest.raises(ImageDecodeError) as info:
        decode_image(data, **kwargs)
    assert info.value.code == code, info.value.reason
    assert info.value.reason
    return info.value


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepted_formats_decode_to_rgb(fmt: str) -> None:
    image = gradient(320, 240)
    decoded = decode_image(encode(image, fmt))
    assert isinstance(decoded, DecodedImage)
    assert decoded.format == fmt
    assert (decoded.width, decoded.height) == (320, 240)
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape == (240, 320, 3)
    # colours survive (lossy formats within a tolerance)
    diff = np.abs(decoded.rgb.astype(int) - np.asarray(image, dtype=int))
    assert diff.mean() < 4


def test_big_jpeg_is_dct_scaled_not_fully_decoded(big_jpeg: bytes) -> None:
    decoded = decode_image(big_jpeg, min_side=256)
    assert (decoded.width, decoded.height) == (4000, 3000)
    # 1/8 DCT scaling: 500x375, i.e. 1/64 of the full decode in memory
    assert decoded.rgb.shape == (375, 500, 3)
    assert decoded.rgb.nbytes <= 4000 * 3000 * 3 // 4


def test_big_png_is_reduced_but_never_upscaled() -> None:
    decoded = decode_image(encode(gradient(1200, 900), "PNG"), min_side=256)
    assert 256 <= min(decoded.rgb.shape[:2]) < 512
    small = decode_image(encode(gradient(100, 80), "PNG"), min_side=256)
    assert small.rgb.shape == (80, 100, 3)


def test_exif_orientation_6_rotates_and_swaps_size() -> None:
    image = Image.new("RGB", (400, 200), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 100, 100))  # red block at the top-left of the stored image
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be rotated 90 degrees clockwise to display
    decoded = decode_image(encode(image, "JPEG", quality=95, exif=exif), min_side=64)
    assert (decoded.width, decoded.height) == (200, 400)
    height, width = decoded.rgb.shape[:2]
    assert width < height
    top_right = decoded.rgb[: height // 8, -width // 8 :].reshape(-1, 3).mean(axis=0)
    top_left = decoded.rgb[: height // 8, : width // 8].reshape(-1, 3).mean(axis=0)
    assert top_right[0] > 200 and top_right[2] < 60  # the red block moved to the top-right
    assert top_left[2] > 200 and top_left[0] < 60


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")
def test_damaged_exif_is_ignored_not_fatal() -> None:
    data = encode(gradient(64, 48), "JPEG")
    app1 = b"\xff\xe1\x00\x10Exif\x00\x00II*\x00\xff\xff\xff\x7f"  # IFD offset past the end
    decoded = decode_image(data[:2] + app1 + data[2:])
    assert decoded.rgb.shape == (48, 64, 3)


def test_grey_jpeg() -> None:
    decoded = decode_image(encode(Image.new("L", (640, 480), 200), "JPEG"), min_side=100)
    assert decoded.rgb.shape == (120, 160, 3)  # DCT-scaled by 1/4 even for greyscale
    assert np.all(np.abs(decoded.rgb.astype(int) - 200) <= 2)


def test_cmyk_jpeg() -> None:
    cmyk = Image.new("CMYK", (64, 48), (0, 255, 255, 0))  # pure red in CMYK
    decoded = decode_image(encode(cmyk, "JPEG", quality=95))
    assert decoded.rgb.shape == (48, 64, 3)
    red, green, blue = decoded.rgb.reshape(-1, 3).mean(axis=0)
    assert red > 230 and green < 30 and blue < 30


def test_grey_and_palette_png() -> None:
    grey = decode_image(encode(Image.new("L", (40, 30), 77), "PNG"))
    assert grey.rgb.shape == (30, 40, 3) and np.all(grey.rgb == 77)
    palette = Image.new("P", (40, 30), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert np.all(decode_image(encode(palette, "PNG")).rgb == [10, 200, 30])


def test_sixteen_bit_grey_png_keeps_its_range() -> None:
    values = np.array([[0, 1000], [32768, 65535]], dtype=np.uint16).repeat(8, 0).repeat(8, 1)
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    decoded = decode_image(encode(image, "PNG"))
    assert decoded.rgb[0, 0].tolist() == [0, 0, 0]
    assert decoded.rgb[-1, -1].tolist() == [255, 255, 255]
    assert decoded.rgb[-1, 0].tolist() == [128, 128, 128]


def test_sixteen_bit_rgb_png() -> None:
    # Pillow cannot write 16-bit RGB PNGs: build one by hand (IHDR bit depth 16, colour type 2).
    width, height = 4, 2
    rows = b"".join(b"\x00" + struct.pack(">HHH", 65535, 32768, 0) * width for _ in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    decoded = decode_image(png)
    assert decoded.rgb.shape == (2, 4, 3)
    assert decoded.rgb[0, 0].tolist() == [255, 128, 0]


def test_alpha_is_composited_onto_white() -> None:
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 10, 20))
    rgb = decode_image(encode(rgba, "PNG")).rgb
    assert rgb[5, 2].tolist() == [0, 0, 255]  # opaque blue stays blue
    assert rgb[5, 15].tolist() == [255, 255, 255]  # fully transparent becomes white
    half = decode_image(encode(Image.new("LA", (8, 8), (0, 128)), "PNG")).rgb
    assert np.all(np.abs(half.astype(int) - 127) <= 1)  # black at 50% over white is mid grey
    webp = decode_image(encode(rgba, "WEBP", lossless=True)).rgb
    assert webp[5, 15].tolist() == [255, 255, 255]


def test_empty_and_not_an_image() -> None:
    assert_decode_error(b"", "empty")
    assert_decode_error(b"hello, I am a text file named photo.jpg\n", "not_an_image")
    assert_decode_error(b"\x00" * 1000, "not_an_image")


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_unsupported_formats(fmt: str) -> None:
    error = assert_decode_error(encode(gradient(32, 32), fmt), "unsupported_format")
    assert fmt in error.reason


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("keep", [0.05, 0.5, 0.98])
def test_truncated_files(fmt: str, keep: float) -> None:
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))
    data = encode(noisy, fmt)
    cut = data[: max(16, int(len(data) * keep))]
    assert_decode_error(cut, "truncated")


def test_jpeg_cut_exactly_before_end_marker(big_jpeg: bytes) -> None:
    assert big_jpeg.endswith(b"\xff\xd9")
    assert_decode_error(big_jpeg[:-2], "truncated")
    # bytes after the end marker (as in motion photos) are fine
    assert decode_image(big_jpeg + b"\x00trailing video bytes").format == "JPEG"


def test_progressive_jpeg_and_its_truncation() -> None:
    data = encode(gradient(1600, 1200), "JPEG", quality=90, progressive=True)
    decoded = decode_image(data)
    assert decoded.rgb.shape == (300, 400, 3)  # DCT-scaled by 1/4
    assert_decode_error(data[: len(data) * 2 // 3], "truncated")


def test_stray_bytes_between_jpeg_segments_are_tolerated() -> None:
    data = encode(gradient(64, 48), "JPEG")
    after_app0 = 4 + struct.unpack(">H", data[4:6])[0]
    damaged = data[:after_app0] + b"\x00\x00" + data[after_app0:]
    assert decode_image(damaged).rgb.shape == (48, 64, 3)


def test_truncated_jpeg_with_complete_exif_thumbnail_is_still_truncated() -> None:
    thumb = encode(gradient(64, 48), "JPEG")  # a full JPEG, with its own FF D9, inside APP1
    main = encode(gradient(640, 480), "JPEG", quality=90)
    app1 = b"\xff\xe1" + struct.pack(">H", len(thumb) + 2 + 6) + b"Exif\x00\x00" + thumb
    data = main[:2] + app1 + main[2:]
    assert decode_image(data).width == 640
    assert_decode_error(data[: len(data) // 2], "truncated")


def test_pixel_cap_is_checked_from_the_header_before_decoding() -> None:
    data = encode(gradient(400, 300), "PNG")
    assert_decode_error(data, "too_many_pixels", max_pixels=100_000)
    # a forged header announcing 30000x30000 pixels with almost no data
    forged = bytearray(encode(gradient(64, 64), "JPEG"))
    sof = forged.index(b"\xff\xc0")
    forged[sof + 5 : sof + 9] = struct.pack(">HH", 30000, 30000)
    assert_decode_error(bytes(forged), "too_many_pixels")


def test_decompression_bomb_png() -> None:
    bomb = encode(Image.new("L", (10000, 10000), 0), "PNG")  # 100 MP in ~100 kB
    assert len(bomb) < 200_000
    assert_decode_error(bomb, "too_many_pixels")


@pytest.mark.parametrize("size", [(1, 100_000), (3000, 10)])
def test_absurd_dimensions(size: tuple[int, int]) -> None:
    image = Image.new("L", size, 0)
    assert_decode_error(encode(image, "PNG"), "bad_dimensions")


def test_random_garbage_after_magic_never_escapes() -> None:
    rng = np.random.default_rng(1)
    real = encode(gradient(64, 64), "JPEG")
    for i in range(30):
        junk = bytearray(real)
        for pos in rng.integers(2, len(junk), size=20):
            junk[pos] = int(rng.integers(0, 256))
        try:
            decoded = decode_image(bytes(junk))
        except ImageDecodeError as error:
            assert error.code in {"truncated", "not_an_image", "bad_dimensions", "too_many_pixels"}
        else:
            assert decoded.rgb.ndim == 3, i


def test_decode_error_is_a_value_error_and_pickles() -> None:
    import pickle

    error = ImageDecodeError("empty", "the file is empty")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.reason) == ("empty", "the file is empty")


def test_real_photos_decode(shared_data) -> None:
    photos = sorted((shared_data / "oxford17").glob("*/*.jpg"))[:5]
    if not photos:
        pytest.skip("no oxford17 photos")
    for path in photos:
        decoded = decode_image(path.read_bytes())
        assert decoded.format == "JPEG"
        assert min(decoded.rgb.shape[:2]) <= max(256, min(decoded.width, decoded.height))
