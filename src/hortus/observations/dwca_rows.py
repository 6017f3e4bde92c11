"""What one occurrence row of an archive (and its multimedia rows) becomes: a planned
observation, or the reason it is left out.

* **Identity**: ``occurrenceID``, else the core's id (GBIF downloads key on ``gbifID``).
* **Date**: ``eventDate`` in ISO 8601 — a date-time, a date, a month or a year, or an interval
  (its start) — else ``year``/``month``/``day``; between 1700 and tomorrow.
* **Place**: ``decimalLatitude``/``decimalLongitude`` (both or neither, in range),
  ``coordinateUncertaintyInMeters``, ``locality``.
* **Name**: ``scientificName`` without its ``scientificNameAuthorship``, the name itself,
  GBIF's ``species``, ``genus`` + ``specificEpithet``, the first two words — the first this
  server knows (:func:`hortus.observations.names.canonical_name`). Ranks above genus name
  nothing. A name the server does not know leaves the observation unnamed (the name is kept as
  written, and written back on export).
* **People and votes**: the recorder (``recordedBy``) is the author; ``identifiedBy`` (names
  separated by ``|`` or ``;``) are the people who gave the name, each voting it — when it is
  empty, the recorder gave it. The author's own determination is ``verbatimIdentification``
  when the server knows that name; otherwise the author votes the name only if among those who
  gave it.
* **Licence**: the occurrence's ``license`` when it is one an observation may carry, else its
  first usable photo's; without either the occurrence is left out. A photo's licence is its own
  ``license`` (or the occurrence's when empty); a photo under any other licence is not stored.
* **Photos**: ``identifier`` is a file of the archive (a plain relative path, which must be
  there) or an address (``https://...``), which is recorded and not fetched. ``description``
  names the organ (leaf, flower ...) when it is one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from hortus.db import utcnow
from hortus.observations.dwc_models import MAX_OCCURRENCE_ID, MAX_TEXT
from hortus.observations.dwc_terms import DC, GBIF, STILL_IMAGE, license_from_text
from hortus.observations.dwca_read import ArchiveError, DarwinCoreArchive, Row, safe_member_name
from hortus.observations.form import EARLIEST, FUTURE_SLACK, MAX_PLACE_LENGTH
from hortus.observations.names import canonical_name
from hortus.observations.votes import VOTE_ORGANS

MAX_IDENTIFIERS = 10
HIGH_RANKS = {"kingdom", "subkingdom", "phylum", "division", "subphylum", "class", "subclass",
              "order", "suborder", "family", "subfamily", "tribe", "subtribe"}
AUTO_ORGAN = "auto"


class Skip(Exception):
    """An occurrence (or a photo) left out: a short reason, and what was wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PlannedPhoto:
    """One photo an archive lists for an occurrence."""

    identifier: str  # as written
    member: str | None  # the archive's file, when it is one
    organ: str
    license_text: str | None  # as written
    license_code: str | None  # None: no licence Hortus can honour (the photo is not stored)
    creator: str | None
    rights_holder: str | None


@dataclass(frozen=True)
class PlannedOccurrence:
    """An occurrence as it will become an observation."""

    line: int
    occurrence_id: str
    observed_at: datetime
    latitude: float | None
    longitude: float | None
    accuracy: float | None
    place: str | None
    license_code: str
    recorded_by: str | None
    identifiers: list[str]
    name_text: str | None  # scientificName as written
    species: str | None  # the name as this server spells it (None: not known here)
    author_species: str | None  # the author's determination (None: no vote)
    photos: list[PlannedPhoto] = field(default_factory=list)


def _text(value: str, limit: int = MAX_TEXT) -> str | None:
    cleaned = " ".join(value.split())
    return cleaned[:limit] or None


def parse_event_date(row: Row, now: datetime | None = None) -> datetime:
    """When the plant was seen; Skip("no date") when the row does not say (or says nonsense)."""
    now = now or utcnow()
    text = row.get("eventDate").split("/")[0].strip()
    moment: datetime | None = None
    try:
        if text:
            if len(text) == 4 and text.isdigit():
                moment = datetime(int(text), 1, 1, tzinfo=UTC)
            elif len(text) == 7 and text[4] == "-":
                moment = datetime(int(text[:4]), int(text[5:]), 1, tzinfo=UTC)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
        elif row.get("year").isdigit():
            moment = datetime(int(row.get("year")), int(row.get("month") or 1),
                              int(row.get("day") or 1), tzinfo=UTC)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise Skip("no usable date", f"eventDate {text[:40]!r} is no ISO 8601 date")
    if not EARLIEST <= moment <= now + FUTURE_SLACK:
        raise Skip("no usable date", f"eventDate {text[:40]!r} is not between 1700 and today")
    return moment.astimezone(UTC)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_location(row: Row) -> tuple[float | None, float | None, float | None]:
    """Latitude, longitude and uncertainty in metres; Skip for coordinates out of range or
    one without the other."""
    lat_text, lon_text = row.get("decimalLatitude"), row.get("decimalLongitude")
    if not lat_text and not lon_text:
        return None, None, None
    latitude, longitude = _number(lat_text), _number(lon_text)
    if latitude is None or longitude is None or not -90 <= latitude <= 90 \
            or not -180 <= longitude <= 180:
        raise Skip("invalid coordinates",
                   f"decimalLatitude {lat_text[:20]!r}, decimalLongitude {lon_text[:20]!r}")
    accuracy = _number(row.get("coordinateUncertaintyInMeters"))
    return latitude, longitude, accuracy if accuracy is not None and accuracy >= 0 else None


def split_people(text: str) -> list[str]:
    """The names of a ``recordedBy``/``identifiedBy`` list (``|`` or ``;`` between names),
    each once, at most :data:`MAX_IDENTIFIERS`."""
    names: dict[str, str] = {}
    for part in text.replace(";", "|").split("|"):
        name = _text(part)
        if name is not None:
            names.setdefault(name.casefold(), name)
    return list(names.values())[:MAX_IDENTIFIERS]


class NameResolver:
    """Spells an archive's names as this server does (each name looked up once)."""

    def __init__(self, session: Session, classes: Mapping[str, str]) -> None:
        self.session, self.classes = session, classes
        self._known: dict[str, str | None] = {}

    def spell(self, text: str) -> str | None:
        name = " ".join(text.split())
        if not name:
            return None
        if name not in self._known:
            self._known[name] = canonical_name(self.session, name, self.classes)
        return self._known[name]

    def species(self, row: Row) -> str | None:
        """The occurrence's name as this server spells it; None when it knows none."""
        if row.get("taxonRank").lower() in HIGH_RANKS:
            return None
        scientific, authorship = row.get("scientificName"), row.get("scientificNameAuthorship")
        candidates = []
        if authorship and scientific.endswith(authorship):
            candidates.append(scientific[:-len(authorship)])
        epithet = " ".join(p for p in (row.get("genus"), row.get("specificEpithet")) if p)
        candidates += [scientific, row.get(GBIF + "species"), epithet if " " in epithet else "",
                       " ".join(scientific.split()[:2])]
        for candidate in candidates:
            spelled = self.spell(candidate)
            if spelled is not None:
                return spelled
        return None


def plan_photo(row: Row, archive: DarwinCoreArchive, occurrence_license: str | None
               ) -> PlannedPhoto | None:
    """One multimedia row as a photo; None for a row that is no still image or names nothing.
    ArchiveError when its identifier names a file the archive does not hold, or names it
    unsafely."""
    kind = row.get(DC + "type")
    media_format = row.get(DC + "format").lower()
    if (kind and kind.lower() not in (STILL_IMAGE.lower(), "image")) or \
            (media_format and not media_format.startswith("image/")):
        return None
    identifier = row.get(DC + "identifier")
    if not identifier:
        return None
    member = None
    if "://" not in identifier and not identifier.lower().startswith(("data:", "urn:")):
        if not safe_member_name(identifier):
            raise ArchiveError(f"multimedia line {row.line}: the identifier "
                               f"{identifier[:120]!r} is not a plain relative path.")
        if not archive.has_member(identifier):
            raise ArchiveError(f"multimedia line {row.line}: the archive has no file "
                               f"{identifier[:120]!r}.")
        member = identifier
    license_text = row.get(DC + "license") or None
    code = license_from_text(license_text) if license_text else occurrence_license
    organ = row.get(DC + "description").lower()
    return PlannedPhoto(identifier=identifier, member=member,
                        organ=organ if organ in VOTE_ORGANS else AUTO_ORGAN,
                        license_text=_text(license_text or ""), license_code=code,
                        creator=_text(row.get(DC + "creator")),
                        rights_holder=_text(row.get(DC + "rightsHolder")))


def plan_occurrence(row: Row, media_rows: Sequence[Row], archive: DarwinCoreArchive,
                    names: NameResolver) -> PlannedOccurrence:
    """An occurrence row as a planned observation; Skip saying why it is left out."""
    occurrence_id = row.get("occurrenceID") or row.id
    if len(occurrence_id) > MAX_OCCURRENCE_ID:
        raise Skip("occurrenceID too long",
                   f"occurrenceID is over {MAX_OCCURRENCE_ID} characters")
    observed_at = parse_event_date(row)
    latitude, longitude, accuracy = parse_location(row)
    occurrence_license = license_from_text(row.get(DC + "license"))
    photos = [p for p in (plan_photo(m, archive, occurrence_license) for m in media_rows) if p]
    licence = occurrence_license or next((p.license_code for p in photos if p.license_code),
                                         None)
    if licence is None:
        raise Skip("no licence Hortus can honour",
                   f"license {row.get(DC + 'license')[:60]!r} is no Creative Commons 4.0 or "
                   "CC0 licence, nor is any photo's")
    recorded_by = _text(row.get("recordedBy"))
    identifiers = split_people(row.get("identifiedBy")) or ([recorded_by] if recorded_by else [])
    species = names.species(row)
    author_species = None
    verbatim = row.get("verbatimIdentification")
    if recorded_by is not None:
        author_species = names.spell(verbatim) if verbatim else None
        if author_species is None and species is not None and \
                recorded_by.casefold() in (i.casefold() for i in identifiers):
            author_species = species
    return PlannedOccurrence(
        line=row.line, occurrence_id=occurrence_id, observed_at=observed_at,
        latitude=latitude, longitude=longitude, accuracy=accuracy,
        place=_text(row.get("locality"), MAX_PLACE_LENGTH), license_code=licence,
        recorded_by=recorded_by, identifiers=identifiers,
        name_text=_text(row.get("scientificName")), species=species,
        author_species=author_species, photos=photos)
