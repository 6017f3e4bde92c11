"""PEAT's optional metadata headers, parsed and checked.

PEAT accepts each header in two spellings: Title-Case-With-Dash (``Gps-Accuracy``) or
lower_case_with_underscore (``gps_accuracy``). HTTP header names are case-insensitive, so both
reduce to ``gps-accuracy`` / ``gps_accuracy``. A malformed value is an ``InvalidInput`` naming
the header as the client spelled it; the same header given in both spellings with different
values is refused too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from hortus.errors import InvalidInput

MAX_TEXT = 200
_EPPO = re.compile(r"^[A-Za-z0-9]{5,6}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_EPOCH_MS_FROM = 1e11


@dataclass(frozen=True)
class AnalysisMetadata:
    """The metadata a client sent with a picture (None where absent)."""

    latitude: float | None = None
    longitude: float | None = None
    gps_accuracy: float | None = None
    eppo: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    crop: str | None = None
    variety: str | None = None
    timestamp: str | None = None  # as sent
    taken_at: datetime | None = None  # the timestamp, parsed (UTC)

    def to_json(self) -> dict[str, Any]:
        """The headers as sent (parsed numbers), for the stored analysis's ``metadata``."""
        data = asdict(self)
        data["taken_at"] = self.taken_at.isoformat() if self.taken_at else None
        return data


HEADERS = ("latitude", "longitude", "gps_accuracy", "eppo", "user_id", "user_name", "crop",
           "variety", "timestamp")


def _spellings(field: str) -> tuple[str, str]:
    """``gps_accuracy`` -> (``Gps-Accuracy``, ``gps_accuracy``); one-word names as PEAT's
    table writes them (``latitude``: header names are case-insensitive anyway)."""
    if "_" not in field:
        return field, field
    return "-".join(p.capitalize() for p in field.split("_")), field


def _raw(headers: Mapping[str, str], field: str) -> tuple[str, str] | None:
    """(spelling used, value) of one header, or None when absent or blank."""
    dashed, underscored = _spellings(field)
    found = []
    for name in dict.fromkeys((dashed, underscored)):
        value = headers.get(name)
        if value is not None and value.strip():
            found.append((name, value.strip()))
    if len(found) == 2 and found[0][1] != found[1][1]:
        raise InvalidInput(f"Header {dashed} / {underscored} was sent twice with different values "
                           f"({found[0][1]!r} and {found[1][1]!r}).", error="invalid header")
    return found[0] if found else None


def _number(name: str, value: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidInput(f"Header {name} must be a number from {low:g} to {high:g}, "
                           f"not {value[:40]!r}.", error="invalid header")
    return number


def _text(name: str, value: str) -> str:
    if len(value) > MAX_TEXT or _CONTROL.search(value):
        raise InvalidInput(f"Header {name} must be printable text of at most {MAX_TEXT} "
                           "characters.", error="invalid header")
    return value


def parse_timestamp(name: str, value: str) -> datetime:
    """An ISO 8601 date-time (naive means UTC) or a Unix epoch in seconds or milliseconds."""
    try:
        epoch = float(value)
    except ValueError:
        epoch = math.nan
    try:
        if math.isfinite(epoch):
            seconds = epoch / 1000 if abs(epoch) >= _EPOCH_MS_FROM else epoch
            return datetime.fromtimestamp(seconds, UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(f"Header {name} must be an ISO 8601 date-time or a Unix epoch, "
                           f"not {value[:40]!r}.", error="invalid header") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_metadata(headers: Mapping[str, str]) -> AnalysisMetadata:
    """Read and check every metadata header (``headers`` is case-insensitive, like Starlette's)."""
    values: dict[str, Any] = {}
    for field in HEADERS:
        found = _raw(headers, field)
        if found is None:
            continue
        name, value = found
        if field == "latitude":
            values[field] = _number(name, value, -90.0, 90.0)
        elif field == "longitude":
            values[field] = _number(name, value, -180.0, 180.0)
        elif field == "gps_accuracy":
            values[field] = _number(name, value, 0.0, 1e7)
        elif field == "eppo":
            if not _EPPO.match(value):
                raise InvalidInput(f"Header {name} must be an EPPO code (5 or 6 letters or "
                                   f"digits), not {value[:40]!r}.", error="invalid header")
            values[field] = value.upper()
        elif field == "timestamp":
            values["taken_at"] = parse_timestamp(name, _text(name, value))
            values[field] = value
        else:
            values[field] = _text(name, value)
    return AnalysisMetadata(**values)
