"""Read the form of ``POST /v2/observations``: photos and organs as for ``/v2/identify``, and the
observation's own fields (determination, date, location, licence).

The body is split by :mod:`hortus.uploads` under the upload cap (413 past it) and kept in
memory: the photos are both identified and stored. Every field is checked here, before any
quota is taken or any photo decoded; each refusal is a 400 naming the field.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from hortus.db import utcnow
from hortus.errors import InvalidInput, UnsupportedMedia
from hortus.identify.params import check_organs
from hortus.identify.upload import UploadedPhoto
from hortus.observations.licenses import license_code
from hortus.observations.names import MAX_NAME_LENGTH, UNKNOWN
from hortus.uploads import check_declared_size, form_boundary, stream_parts

MAX_FIELD_BYTES = 64 * 1024
MAX_PLACE_LENGTH = 300
EARLIEST = datetime(1700, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)  # a phone's clock, a time zone east of UTC
TEXT_FIELDS = ("determination", "date", "lat", "lon", "accuracy", "place", "license",
               "licence")


@dataclass
class ObservationForm:
    """The form as sent: photos, organs, and the last value of each text field."""

    photos: list[UploadedPhoto] = field(default_factory=list)
    organs: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NewObservation:
    """A checked form: what a new observation is made of (before the AI has looked)."""

    photos: list[UploadedPhoto]
    organs: list[str]
    determination: str | None  # None: the author does not know
    observed_at: datetime
    latitude: float | None
    longitude: float | None
    accuracy: float | None
    place: str | None
    license: str


async def read_form(*, content_type: str | None, content_length: str | None,
                    stream: AsyncIterator[bytes], max_bytes: int) -> ObservationForm:
    """The parts of a multipart body; 413 over ``max_bytes``, 415 for a body that is not
    multipart, 400 for a malformed one or an oversized text field."""
    check_declared_size(content_length, max_bytes)
    media_type, boundary = form_boundary(content_type)
    form = ObservationForm()
    if (not media_type and content_length in (None, "", "0")) \
            or media_type == "application/x-www-form-urlencoded":
        return form  # a form without files: "images" is reported missing (as /v2/identify)
    if media_type != "multipart/form-data":
        raise UnsupportedMedia("Send the observation as multipart/form-data (images, organs, "
                               "determination, date, lat, lon, license).",
                               error="unsupported media type")
    if not boundary:
        raise InvalidInput("The multipart body has no boundary.", error="bad form")
    async for part in stream_parts(stream, boundary=boundary, max_bytes=max_bytes):
        if part.name == "images":
            form.photos.append(UploadedPhoto(filename=part.filename or "", data=part.data))
            continue
        if part.name not in ("organs", *TEXT_FIELDS):
            continue  # unknown fields are ignored
        if part.filename is not None or len(part.data) > MAX_FIELD_BYTES:
            raise InvalidInput(f'"{part.name}" must be a short text field.', error="bad form")
        value = part.data.decode("utf-8", "replace")
        if part.name == "organs":
            form.organs.append(value)
        else:
            form.fields[part.name] = value
    return form


def _number(form: ObservationForm, name: str, low: float, high: float) -> float | None:
    text = form.fields.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f'"{name}" must be a number; {text[:40]!r} is not.',
                           error=f"invalid {name}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidInput(f'"{name}" must be a number from {low:g} to {high:g}.',
                           error=f"invalid {name}")
    return value


def parse_date(text: str, now: datetime | None = None) -> datetime:
    """A timestamp in ms, or an ISO 8601 date or date-time (UTC when no zone is given), between
    1700 and tomorrow; InvalidInput otherwise."""
    now = now or utcnow()
    text = text.strip()
    moment: datetime | None = None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    try:
        if math.isfinite(value):
            moment = datetime.fromtimestamp(value / 1000, tz=UTC)
        elif len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        elif text:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        moment = None
    if moment is None:
        raise InvalidInput(f'"date" must be a timestamp in ms or an ISO 8601 date; '
                           f"{text[:40]!r} is not.", error="invalid date")
    if not EARLIEST <= moment <= now + FUTURE_SLACK:
        raise InvalidInput('"date" must lie between 1700 and today.', error="invalid date")
    return moment.astimezone(UTC)


def check_form(form: ObservationForm) -> NewObservation:
    """The observation a form describes; InvalidInput naming the first field that is wrong."""
    organs = check_organs(form.organs, len(form.photos))  # 1 to 5 photos, an organ each
    keys: dict[bytes, int] = {}
    for position, photo in enumerate(form.photos):
        earlier = keys.setdefault(photo.data, position)
        if earlier != position:
            raise InvalidInput(f"image {position + 1} is the same photo as image {earlier + 1}.",
                               error="duplicate image")
    determination = " ".join(form.fields.get("determination", "").split())
    if determination.lower() == UNKNOWN:
        determination = ""
    if len(determination) > MAX_NAME_LENGTH:
        raise InvalidInput(f'"determination" is longer than {MAX_NAME_LENGTH} characters.',
                           error="invalid species")
    latitude = _number(form, "lat", -90, 90)
    longitude = _number(form, "lon", -180, 180)
    if (latitude is None) != (longitude is None):
        raise InvalidInput('"lat" and "lon" go together: send both or neither.',
                           error="invalid location")
    accuracy = _number(form, "accuracy", 0, 1e7)
    place = " ".join(form.fields.get("place", "").split()) or None
    if place is not None and len(place) > MAX_PLACE_LENGTH:
        raise InvalidInput(f'"place" is longer than {MAX_PLACE_LENGTH} characters.',
                           error="invalid place")
    raw_date = form.fields.get("date", "").strip()
    return NewObservation(
        photos=form.photos, organs=organs, determination=determination or None,
        observed_at=parse_date(raw_date) if raw_date else utcnow(),
        latitude=latitude, longitude=longitude, accuracy=accuracy, place=place,
        license=license_code(form.fields.get("license", form.fields.get("licence"))),
    )
