"""PEAT's optional metadata headers: kept as sent, parsed where they can be.

The headers are data, not gatekeepers: whatever a client sends is stored as sent, and beside
it the parsed value where parsing succeeded. A value that does not parse (a latitude of 123, a
timestamp in a format nobody expected, an ``eppo`` that is a plant name, the two spellings of a
header disagreeing) leaves that parsed value empty and never fails the analysis.

PEAT writes each header Title-Case-With-Dash (``Gps-Accuracy``) or lower_case_with_underscore
(``gps_accuracy``); header names are case-insensitive, so one-word names have one spelling.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

MAX_TEXT = 200
MAX_TIMESTAMP = 64  # characters of the timestamp kept in its own column (all of it in ``sent``)
_EPPO = re.compile(r"^[A-Za-z0-9]{5,6}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_EPOCH_MS_FROM = 1e11
# Day-first and EXIF forms; no zone means UTC.
_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y:%m:%d %H:%M:%S")
# Moments within a day of datetime's range are kept unparsed: a database driver that reads them
# back in its session's time zone could step outside the range.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)

# Each field and PEAT's spellings of its header.
SPELLINGS: dict[str, tuple[str, ...]] = {
    "latitude": ("latitude",), "longitude": ("longitude",),
    "gps_accuracy": ("Gps-Accuracy", "gps_accuracy"), "eppo": ("eppo",),
    "user_id": ("User-Id", "user_id"), "user_name": ("User-Name", "user_name"),
    "crop": ("crop",), "variety": ("variety",), "timestamp": ("timestamp",),
}


@dataclass(frozen=True)
class AnalysisMetadata:
    """The metadata sent with a picture: parsed values (None where absent or unparsable) and
    every header as sent (``sent``, by PEAT's spelling of its name)."""

    latitude: float | None = None
    longitude: float | None = None
    gps_accuracy: float | None = None
    eppo: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    crop: str | None = None
    variety: str | None = None
    timestamp: str | None = None  # as sent, when it fits its column
    taken_at: datetime | None = None  # the timestamp, parsed (UTC)
    sent: dict[str, str] = field(default_factory=dict)

    def parsed(self) -> dict[str, Any]:
        """The parsed values by field name (``sent`` left out)."""
        values = asdict(self)
        del values["sent"]
        return values


def _number(low: float, high: float) -> Callable[[str], float | None]:
    def parse(value: str) -> float | None:
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) and low <= number <= high else None
    return parse


def _text(limit: int) -> Callable[[str], str | None]:
    def parse(value: str) -> str | None:
        return value if len(value) <= limit and not _CONTROL.search(value) else None
    return parse


def _eppo(value: str) -> str | None:
    return value.upper() if _EPPO.match(value) else None


def _in_range(moment: datetime) -> datetime | None:
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return moment if _EARLIEST <= moment <= _LATEST else None


def parse_timestamp(value: str) -> datetime | None:
    """A moment in UTC, or None when ``value`` is none of the accepted forms.

    Accepted: a Unix epoch in seconds or milliseconds; ISO 8601 (no zone means UTC); RFC 1123
    / RFC 2822 (``Wed, 01 May 2024 09:30:00 GMT``); ``dd/mm/yyyy hh:mm[:ss]``, ``dd/mm/yyyy``
    and EXIF's ``yyyy:mm:dd hh:mm:ss`` (UTC).
    """
    value = value.strip()
    try:
        epoch = float(value)
    except ValueError:
        epoch = math.nan
    if math.isfinite(epoch):
        seconds = epoch / 1000 if abs(epoch) >= _EPOCH_MS_FROM else epoch
        try:
            return _in_range(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            return None
    try:
        return _in_range(datetime.fromisoformat(value.replace("Z", "+00:00")
                                                .replace("z", "+00:00")))
    except ValueError:
        pass
    try:
        return _in_range(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    for form in _FORMATS:
        try:
            return _in_range(datetime.strptime(value, form))
        except ValueError:
            continue
    return None


_PARSERS: dict[str, Callable[[str], Any]] = {
    "latitude": _number(-90.0, 90.0), "longitude": _number(-180.0, 180.0),
    "gps_accuracy": _number(0.0, 1e7), "eppo": _eppo, "user_id": _text(MAX_TEXT),
    "user_name": _text(MAX_TEXT), "crop": _text(MAX_TEXT), "variety": _text(MAX_TEXT),
    "timestamp": _text(MAX_TIMESTAMP),
}


def _agreed(values: list[Any]) -> Any:
    """The one parsed value all given spellings agree on, else None."""
    if not values or any(v is None for v in values) or any(v != values[0] for v in values):
        return None
    return values[0]


def parse_metadata(sent: Mapping[str, str]) -> AnalysisMetadata:
    """Parse the metadata headers ``sent`` (by PEAT's spelling of their names); never raises.

    Blank values count as absent for parsing; every header is kept as sent in ``sent``.
    """
    values: dict[str, Any] = {}
    for name, spellings in SPELLINGS.items():
        given = [sent[s].strip() for s in spellings if (sent.get(s) or "").strip()]
        values[name] = _agreed([_PARSERS[name](v) for v in given])
        if name == "timestamp":
            values["taken_at"] = _agreed([parse_timestamp(v) for v in given])
    return AnalysisMetadata(**values, sent=dict(sent))
