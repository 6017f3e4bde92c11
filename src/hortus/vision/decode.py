"""Decode untrusted photo bytes into a small RGB array, fast and safely.

JPEG, PNG and WebP are accepted. Big JPEGs are never fully decoded: ``Image.draft`` asks
libjpeg to decode at 1/2, 1/4 or 1/8 scale in the DCT domain, which on a 12 MP photo is about
4x faster than a full decode and resize. Every hostile input (empty, not an image, other
formats, truncated files, decompression bombs, absurd dimensions) raises ``ImageDecodeError``
with a machine-readable ``code`` and a human ``reason``; nothing else escapes.

Only sequential JPEGs can be decoded that cheaply: a PNG, a WebP or a progressive JPEG is
decoded whole before it can be reduced, so each of its pixels costs bytes and time;
:mod:`hortus.vision.pixel_budget` refuses photos by that difference, from their headers alone.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
MAX_ASPECT_RATIO = 20.0
MAX_PIXELS = 50_000_000  # decode_image's own cap, whatever a pixel budget allows

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"  # the IEND chunk type and its constant CRC
_JPEG_EOI = b"\xff\xd9"
# Magic numbers of formats we recognise but refuse, for a precise error.
_REFUSED_MAGIC = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"8BPS", "PSD"),
)
# EXIF orientation -> the transposition that displays the image upright.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG = 0x0112


class ImageDecodeError(ValueError):
    """Photo bytes that cannot be decoded; ``code`` is machine-readable, ``reason`` human.

    Codes: ``empty``, ``not_an_image``, ``unsupported_format``, ``truncated``,
    ``too_many_pixels``, ``bad_dimensions``.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def __reduce__(self):  # keep code and reason across process boundaries
        return (type(self), (self.code, self.reason))


@dataclass(frozen=True)
class DecodedImage:
    """A decoded photo: a small upright RGB array plus the original upright size."""

    rgb: np.ndarray  # HxWx3 uint8 RGB, EXIF-oriented, shorter side about min_side (or less)
    width: int  # original width after EXIF orientation
    height: int  # original height after EXIF orientation
    format: str  # "JPEG" | "PNG" | "WEBP"


def sniff_format(data: bytes) -> str | None:
    """Accepted format named by the leading magic bytes, or ``None``."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(_PNG_MAGIC):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _refused_format(data: bytes) -> str | None:
    for magic, name in _REFUSED_MAGIC:
        if data.startswith(magic):
            return name
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"avif", b"msf1"):
        return "HEIF/AVIF"
    try:  # anything else Pillow can identify is a real image in a format we do not take
        with Image.open(io.BytesIO(data)) as probe:
            return probe.format
    except Exception:
        return None


_JPEG_SOF = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)


@dataclass(frozen=True)
class JpegLayout:
    """What a JPEG's headers say up to its first scan."""

    scan_offset: int  # just past the first start-of-scan header
    size: tuple[int, int] | None  # (width, height) of the frame, if it has one
    frame_marker: int | None  # the start-of-frame marker (0xC0 baseline, 0xC2 progressive ...)
    components: int  # the frame's colour components
    scan_components: int  # the components its first scan carries


def jpeg_layout(data: bytes) -> JpegLayout:
    """Walk JPEG marker segments by length up to the first scan.

    Walking by length skips APPn payloads, so an EXIF thumbnail's own markers are never
    mistaken for the main image's. Raises ``ImageDecodeError('truncated')`` if the headers end
    early.
    """
    pos, size, frame, marker_of_frame, components = 2, len(data), None, None, 0
    while True:
        while pos + 1 < size and data[pos] == 0xFF and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > size:
            raise ImageDecodeError("truncated", "JPEG headers end before the image data")
        if data[pos] != 0xFF:  # stray bytes before a marker: skip them, as libjpeg does
            pos = data.find(b"\xff", pos)
            if pos < 0:
                raise ImageDecodeError("truncated", "JPEG header structure is corrupt")
            continue
        marker = data[pos + 1]
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF and pos + 10 <= size:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            frame, marker_of_frame, components = (width, height), marker, data[pos + 9]
        scan_components = data[pos + 4] if marker == 0xDA and pos + 4 < size else 0
        pos += 2 + length
        if marker == 0xDA:
            if pos > size:
                raise ImageDecodeError("truncated", "JPEG ends inside its scan header")
            return JpegLayout(pos, frame, marker_of_frame, components, scan_components)


def jpeg_headers(data: bytes) -> tuple[int, tuple[int, int] | None]:
    """The offset just past a JPEG's first start-of-scan header, and its frame size
    ``(width, height)`` (``None`` if absent); see :func:`jpeg_layout`."""
    layout = jpeg_layout(data)
    return layout.scan_offset, layout.size


def webp_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a WebP from its first chunk (VP8X canvas, lossy VP8 key frame or
    lossless VP8L header), or ``None`` when that chunk is not one of them or is cut short."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return (int.from_bytes(data[24:27], "little") + 1,
                int.from_bytes(data[27:30], "little") + 1)
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """``(width, height)`` read straight from a JPEG, PNG or WebP header, before Pillow sees
    the file."""
    if fmt == "JPEG":
        return jpeg_headers(data)[1]
    if fmt == "PNG" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if fmt == "WEBP":
        return webp_size(data)
    return None


def check_complete(data: bytes, fmt: str) -> None:
    """Refuse files cut short, whatever Pillow's ``LOAD_TRUNCATED_IMAGES`` says.

    JPEG: an end-of-image marker must follow the first scan (entropy-coded data cannot
    contain FF D9, so the first one found is the real end; bytes after it, as in motion
    photos, are ignored). PNG: the IEND chunk must be present. WebP: the RIFF size must fit.
    """
    if fmt == "JPEG":
        scan = jpeg_headers(data)[0]
        if data.endswith(_JPEG_EOI) and len(data) - 2 >= scan:
            return  # the common case, without scanning megabytes for the marker
        if data.find(_JPEG_EOI, scan) < 0:
            raise ImageDecodeError("truncated", "JPEG is truncated: no end-of-image marker")
    elif fmt == "PNG":
        if data.rfind(_PNG_IEND) < 0:
            raise ImageDecodeError("truncated", "PNG is truncated: no IEND chunk")
    elif fmt == "WEBP":
        (riff_size,) = struct.unpack("<I", data[4:8])
        if len(data) < riff_size + 8:
            raise ImageDecodeError("truncated", "WebP is truncated: shorter than its RIFF size")


_PNG_TEXT_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})


def without_png_text(data: bytes) -> bytes:
    """The PNG without its text chunks (``tEXt``, ``zTXt``, ``iTXt``), or ``data`` itself when
    it has none (or its chunk structure is broken: the decoder then says what is wrong).

    Text is never needed to see a plant, and a compressed text chunk is where a PNG hides a
    decompression bomb: Pillow refuses one inflating past ``PngImagePlugin.MAX_TEXT_CHUNK``
    (1 MiB), and all of them past ``MAX_TEXT_MEMORY`` (64 MiB), which made a valid photo with a
    big comment unreadable. Dropping the chunks unread is safer than raising those limits (no
    inflating at all) and costs one walk over the chunk headers.
    """
    pos, size, kept, start, dropped = len(_PNG_MAGIC), len(data), [], 0, False
    while pos + 12 <= size:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > size:
            return data
        if kind in _PNG_TEXT_CHUNKS:
            kept.append(data[start:pos])
            start, dropped = end, True
        pos = end
        if kind == b"IEND":
            break
    if not dropped:
        return data
    kept.append(data[start:])
    return b"".join(kept)


def check_dimensions(width: int, height: int, max_pixels: int) -> None:
    """Refuse zero or absurd sizes and pixel counts over ``max_pixels`` (from the header)."""
    if width < 1 or height < 1:
        raise ImageDecodeError("bad_dimensions", f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageDecodeError(
            "too_many_pixels",
            f"image is {width}x{height} = {width * height:,} pixels, over the {max_pixels:,} limit",
        )
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise ImageDecodeError(
            "bad_dimensions",
            f"image is {width}x{height}, an aspect ratio over {MAX_ASPECT_RATIO:g}:1",
        )


def _orientation(image: Image.Image) -> int:
    """EXIF orientation (1..8); a damaged EXIF block means "as stored", not a bad photo."""
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _white_composite(rgba: np.ndarray) -> np.ndarray:
    """Composite an HxWx4 uint8 RGBA array onto white, returning HxWx3 uint8."""
    alpha = rgba[..., 3:4].astype(np.uint16)
    rgb = rgba[..., :3].astype(np.uint16)
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _working_image(image: Image.Image) -> Image.Image:
    """Bring any decoded mode to RGB, RGBA (to composite later) or L."""
    mode = image.mode
    if mode in ("RGB", "RGBA", "L"):
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit (or 32-bit) grey: keep the top 8 bits; Pillow's convert("L") would clip.
        values = np.asarray(image)
        if mode == "F" or (mode == "I" and values.max(initial=0) <= 255):
            return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L")
        return Image.fromarray(
            (np.clip(values, 0, 65535).astype(np.uint32) >> 8).astype(np.uint8), "L"
        )
    if mode in ("LA", "La", "PA", "RGBa") or (mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    return image.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV, 1, RGBX


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image)
    if image.mode == "RGBA":
        return _white_composite(pixels)
    if image.mode == "L":
        return np.repeat(pixels[..., None], 3, axis=2)
    return np.ascontiguousarray(pixels)


def decode_image(data: bytes, *, min_side: int = 256,
                 max_pixels: int = MAX_PIXELS) -> DecodedImage:
    """Decode JPEG/PNG/WebP bytes to an upright RGB array whose shorter side is about ``min_side``.

    JPEGs are DCT-scaled while decoding; other formats are decoded then reduced by an integer
    factor, so the shorter side ends in ``[min_side, 2 * min_side)`` (never upscaled). The pixel
    count is checked from the header before any pixel is decoded. Raises ``ImageDecodeError``.
    """
    if min_side < 1:
        raise ValueError("min_side must be positive")
    if not data:
        raise ImageDecodeError("empty", "the file is empty")
    data = bytes(data)
    fmt = sniff_format(data)
    if fmt is None:
        refused = _refused_format(data)
        if refused is not None:
            raise ImageDecodeError(
                "unsupported_format", f"{refused} images are not accepted; send JPEG, PNG or WebP"
            )
        raise ImageDecodeError("not_an_image", "the file is not a JPEG, PNG or WebP image")
    size = header_size(data, fmt)
    if size is not None and size[1] > 0:  # a JPEG height of 0 is defined later (DNL)
        check_dimensions(*size, max_pixels)
    check_complete(data, fmt)
    if fmt == "PNG":
        data = without_png_text(data)
    try:
        image = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError("too_many_pixels", f"image has too many pixels: {exc}") from exc
    except Exception as exc:  # hostile headers: any parse failure is "not an image"
        raise ImageDecodeError("not_an_image", f"cannot read the {fmt} header: {exc}") from exc
    # Hand the decoder all the data in one call. Pillow feeds it ``decodermaxblock`` (64 KiB)
    # at a time and takes the GIL back after each block; when another thread runs Python code
    # meanwhile (the event loop, a second worker), every block waits out a GIL switch interval.
    # A 12 MP JPEG beside a thread running Python: 93-115 ms a decode in 64 KiB blocks, 19-20 ms
    # in one block (14 ms with no other thread); bench/bench_decode_gil.py measures it.
    image.decodermaxblock = max(image.decodermaxblock, len(data))
    with image:
        return _decode_opened(image, fmt, min_side, max_pixels)


def _decode_opened(image: Image.Image, fmt: str, min_side: int, max_pixels: int) -> DecodedImage:
    width, height = image.size
    check_dimensions(width, height, max_pixels)
    try:
        if fmt == "JPEG":
            image.draft("RGB", (min_side, min_side))
        image.load()
        orientation = _orientation(image)
        work = _working_image(image)
        factor = min(work.size) // min_side
        if factor >= 2:
            work = work.reduce(factor)
        transpose = _ORIENTATION.get(orientation)
        if transpose is not None:
            work = work.transpose(transpose)
        rgb = _to_rgb_array(work)
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError("too_many_pixels", f"image has too many pixels: {exc}") from exc
    except Exception as exc:  # libjpeg/zlib/libwebp errors on damaged data
        raise ImageDecodeError(
            "truncated", f"the {fmt} data is truncated or corrupt: {exc}"
        ) from exc
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return DecodedImage(rgb=rgb, width=width, height=height, format=fmt)
