"""The identification page's photos: reading the form, phone photos in HEIC, the copies shown.

* :func:`read_identify_form` reads the page's ``multipart/form-data`` body as it arrives, under
  ``max_upload_bytes`` (:mod:`hortus.uploads`: nothing is spooled to disk, and malformed
  framing is a 400, not a 500).
* HEIC/HEIF photos (what iPhones take) are decoded with the maintained ``pillow-heif`` package
  and handed to the identification service as JPEGs (:func:`prepared_photo`), so the API's
  decoder (:mod:`hortus.vision.decode`) reads the formats it always did. pillow-heif is used
  directly, not registered as a Pillow plugin: a plugin would change what ``Image.open``
  accepts everywhere in the process. A HEIC photo's size is read from its header and checked
  against ``max_full_decode_pixels`` before any of it is decoded (HEIC is decoded whole).
* The photos are shown back from copies made here (:func:`renditions`): upright JPEGs of at
  most 1280 and 320 px, without the original's metadata (no GPS position is kept). Each result
  stores its copies under keys of its own (:func:`photo_media_keys`), so deleting a result
  deletes its photos and nothing another result (or another domain) uses.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pillow_heif
from babel.numbers import format_decimal
from PIL import Image, ImageOps

from hortus.errors import InvalidInput, UnsupportedMedia
from hortus.identify.params import MAX_IMAGES
from hortus.identify.upload import UploadedPhoto
from hortus.uploads import check_declared_size, form_boundary, stream_parts
from hortus.web.i18n import N_, current_language
from hortus.web.i18n import gettext as _

MAX_TEXT_BYTES = 1024  # a CSRF token or an organ name; anything longer is not one
CONVERTED_MAX_SIDE = 2048  # HEIC photos go to the model as JPEGs this big at most
SIZES = {"m": 1280, "s": 320}  # the copies shown back: longest side in pixels
_MEDIA_SUFFIX = {"m": "webm", "s": "webs"}
SUPPORTED = N_("JPEG, PNG, WebP or HEIC (iPhone) photos")  # translated where it is shown


@dataclass
class IdentifyForm:
    """What the identification form sent: its CSRF token, photos (in order) and organs."""

    csrf_token: str = ""
    photos: list[UploadedPhoto] = field(default_factory=list)
    organs: list[str] = field(default_factory=list)
    skipped_empty: int = 0  # file inputs left empty


async def read_identify_form(*, content_type: str | None, content_length: str | None,
                             stream: AsyncIterator[bytes], max_bytes: int) -> IdentifyForm:
    """The form's fields, read while the body arrives.

    Raises PayloadTooLarge (413) past ``max_bytes``, UnsupportedMedia (415) for a body that is
    not a multipart form, InvalidInput (400) for a malformed one or for text fields that are
    too long. Empty files (a file input left empty) are skipped; photos
    past :data:`~hortus.identify.params.MAX_IMAGES` are kept so the caller can say how many
    were sent.
    """
    check_declared_size(content_length, max_bytes)
    media_type, boundary = form_boundary(content_type)
    if media_type != "multipart/form-data":
        raise UnsupportedMedia(_("The form must be sent as multipart/form-data: reload the "
                                 "page and choose the photos again."),
                               error="unsupported media type")
    if not boundary:
        raise InvalidInput(_("The form is malformed (no multipart boundary): reload the page "
                             "and try again."), error="bad form")
    form = IdentifyForm()
    async for part in stream_parts(stream, boundary=boundary, max_bytes=max_bytes):
        if part.name == "images":
            if not part.data:  # a file input left empty (or an empty file): nothing to identify
                form.skipped_empty += 1
                continue
            form.photos.append(UploadedPhoto(filename=(part.filename or "")[:200],
                                             data=part.data))
        elif part.name in ("organs", "csrf_token"):
            if part.filename is not None or len(part.data) > MAX_TEXT_BYTES:
                raise InvalidInput(_('The form field "%(field)s" is not what this page sends: '
                                     "reload the page and try again.") % {"field": part.name},
                                   error="bad form")
            value = part.data.decode("utf-8", "replace")
            if part.name == "organs":
                form.organs.append(value)
            else:
                form.csrf_token = value
    return form


def check_photo_count(count: int) -> None:
    """1 to :data:`MAX_IMAGES` photos, in words for people."""
    if count == 0:
        raise InvalidInput(_("Choose at least one photo (or take one with your camera)."),
                           error="no image")
    if count > MAX_IMAGES:
        raise InvalidInput(_("Choose at most %(max)s photos of one plant: you chose %(count)s.")
                           % {"max": MAX_IMAGES, "count": count}, error="too many images")


def is_heif(data: bytes) -> bool:
    """Whether the bytes are a HEIF container (HEIC photos): an ISO-BMFF ``ftyp`` box with a
    brand libheif reads."""
    if len(data) < 12 or data[4:8] != b"ftyp":
        return False
    try:
        return bool(pillow_heif.is_supported(io.BytesIO(data)))
    except Exception:  # noqa: BLE001 - any failure to recognise it means "not HEIF"
        return False


def photo_label(position: int, filename: str) -> str:
    """How the page names a photo in a message: ``Photo 2 (leaf.jpg)``."""
    if filename:
        return _("Photo %(number)s (%(name)s)") % {"number": position + 1,
                                                  "name": filename[:80]}
    return _("Photo %(number)s") % {"number": position + 1}


def heif_to_jpeg(data: bytes, *, max_pixels: int, position: int = 0,
                 filename: str = "") -> bytes:
    """A HEIC/HEIF photo as an upright JPEG of at most :data:`CONVERTED_MAX_SIDE` px
    (blocking: call from a worker thread).

    Raises InvalidInput for a photo over ``max_pixels`` (checked from its header, before any
    of it is decoded) and UnsupportedMedia for one libheif cannot read.
    """
    label = photo_label(position, filename)
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        width, height = heif.size
        if width < 1 or height < 1:
            raise ValueError("no pixels")
        if width * height > max_pixels:
            raise InvalidInput(_("%(photo)s is %(width)sx%(height)s = %(pixels)s pixels, over "
                                 "this server's limit of %(limit)s for HEIC photos: send a "
                                 "smaller one.") % {
                "photo": label, "width": width, "height": height,
                "pixels": format_decimal(width * height, locale=current_language()),
                "limit": format_decimal(max_pixels, locale=current_language())},
                error="too many pixels")
        image = heif.to_pillow()  # libheif applies the photo's rotation and mirroring
        image = ImageOps.exif_transpose(image).convert("RGB")
    except InvalidInput:
        raise
    except Exception:  # noqa: BLE001 - libheif's errors say little to a person
        raise UnsupportedMedia(_("%(photo)s looks like a HEIC photo, but it cannot be read (it "
                                 "may be damaged). Send %(formats)s.") % {
            "photo": label, "formats": _(SUPPORTED)}, error="unsupported media type") from None
    image.thumbnail((CONVERTED_MAX_SIDE, CONVERTED_MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def prepared_photo(photo: UploadedPhoto, *, position: int, max_pixels: int) -> UploadedPhoto:
    """The photo as the identification service takes it: HEIC converted to JPEG (blocking),
    anything else as sent (the service reads JPEG, PNG and WebP, and refuses the rest)."""
    if not is_heif(photo.data):
        return photo
    name = photo.filename.rsplit(".", 1)[0] + ".jpg" if photo.filename else ""
    return UploadedPhoto(filename=name, data=heif_to_jpeg(
        photo.data, max_pixels=max_pixels, position=position, filename=photo.filename))


def renditions(data: bytes) -> dict[str, bytes]:
    """The copies of a photo shown back, by size (``m``, ``s``): upright JPEGs without the
    original's metadata (blocking). The photo has been decoded once by the identification
    service (its pixels within the server's budget); a big JPEG is read at reduced scale."""
    with Image.open(io.BytesIO(data)) as opened:
        if opened.format == "JPEG":
            opened.draft("RGB", (SIZES["m"], SIZES["m"]))
        image = ImageOps.exif_transpose(opened).convert("RGB")
    copies = {}
    for size, side in SIZES.items():
        copy = image.copy()
        copy.thumbnail((side, side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        copy.save(out, "JPEG", quality=85 if size == "m" else 80, optimize=True)
        copies[size] = out.getvalue()
    return copies


def photo_media_keys(identification_id: str, data: bytes) -> dict[str, str]:
    """The media keys of one result's copies of a photo, by size: a hash of the result's id
    and the photo's bytes, then ``_webm``/``_webs`` (rendition keys: never a content key that
    another domain's photo could have)."""
    base = hashlib.sha256(identification_id.encode() + b":" + hashlib.sha256(data).digest())
    digest = base.hexdigest()
    return {size: f"{digest}_{suffix}" for size, suffix in _MEDIA_SUFFIX.items()}
