"""How many pixels a server takes in a photo, judged from its header before any decoding.

A sequential JPEG is decoded at 1/8 scale straight from its DCT coefficients (Image.draft):
memory follows the small output, and time the file's size. A PNG, a WebP or a progressive JPEG
is decoded whole before it can be reduced, and every pixel costs bytes and CPU (measured with
Pillow 13: PNG ~4 bytes and ~16 ns a pixel, progressive JPEG ~3 bytes, WebP ~15 bytes and
~50 ns). A 160 KB single-colour PNG of 7071x7071 pixels decodes to 190 MB in 0.8 s; the same
picture as a baseline JPEG costs 7 MB and 0.04 s. So a photo gets one of two budgets, by how it
decodes, and is refused from its header when it is over it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hortus.vision.decode import (
    MAX_PIXELS,
    ImageDecodeError,
    JpegLayout,
    header_size,
    jpeg_layout,
    sniff_format,
)

# Sequential (baseline, extended, arithmetic) frames: libjpeg decodes them scan line by scan
# line, and Image.draft has it do so at 1/8 scale. Progressive, lossless and hierarchical frames
# are decoded into a whole-image coefficient buffer first (~3 bytes a pixel), whatever the scale.
_JPEG_SEQUENTIAL = frozenset({0xC0, 0xC1, 0xC9})


def jpeg_decodes_scaled(layout: JpegLayout) -> bool:
    """Whether libjpeg decodes a JPEG at reduced scale without holding the whole image: a
    sequential frame whose first scan carries every component (a frame sent one component per
    scan must be buffered whole, like a progressive one)."""
    return (layout.frame_marker in _JPEG_SEQUENTIAL
            and layout.scan_components == layout.components)


@dataclass(frozen=True)
class PixelBudget:
    """The most pixels a photo may have, by how it is decoded; checked from the header.

    ``scaled``: photos the decoder reads at reduced scale (sequential JPEG). ``full``: photos
    decoded whole before they can be reduced (PNG, WebP, progressive or multi-scan JPEG).
    Neither can pass ``decode_image``'s own cap, :data:`~hortus.vision.decode.MAX_PIXELS`.
    """

    scaled: int = MAX_PIXELS
    full: int = 16_000_000

    def check(self, data: bytes) -> None:
        """Raise ``ImageDecodeError('too_many_pixels')`` when the header gives the photo more
        pixels than its kind may have. Bytes it cannot size pass: decoding them says why."""
        fmt = sniff_format(data)
        try:
            if fmt == "JPEG":
                layout = jpeg_layout(data)
                size, scaled = layout.size, jpeg_decodes_scaled(layout)
            elif fmt is not None:
                size, scaled = header_size(data, fmt), False
            else:
                return
        except ImageDecodeError:
            return
        if size is None or size[0] < 1 or size[1] < 1:
            return
        width, height = size
        limit = self.scaled if scaled else self.full
        if width * height <= limit:
            return
        if scaled:
            kind = "JPEG images"
        else:
            kind = {"JPEG": "progressive or multi-scan JPEG", "WEBP": "WebP"}.get(fmt, fmt)
            kind += " images, which are decoded in full"
        raise ImageDecodeError(
            "too_many_pixels",
            f"the image is {width}x{height} = {width * height:,} pixels, over this server's "
            f"limit of {limit:,} pixels for {kind}; send a smaller one")
