"""Searching the valid observations as Darwin Core occurrences (``/v2/dwc/occurrence/search``).

Only valid observations are published, newest created first. The filters are Pl@ntNet's (the
route's query): a species or genus name, licences, the observation date, coordinates and a
bounding box, ``startTime`` (only occurrences created by then: pages that do not shift while
new ones arrive). Each filter is checked here and refused with InvalidInput naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, exists, false, func, literal, or_, select
from sqlalchemy.orm import Session

from hortus.errors import InvalidInput, NotFound
from hortus.observations.dwc import OccurrenceRecord, occurrence_records
from hortus.observations.dwc_terms import CASUAL, license_from_text
from hortus.observations.models import Observation, ObservationLabel
from hortus.plants.models import Plant
from hortus.plants.taxonomy import normalise_name

OCCURRENCE_NOT_FOUND = "Occurrence not found"
MAX_LICENSES = 20


@dataclass(frozen=True)
class OccurrenceFilters:
    """What a search keeps (every field optional)."""

    scientific_name: str | None = None
    licenses: tuple[str, ...] = ()
    min_event_date: date | None = None
    max_event_date: date | None = None
    has_identification: bool = False
    unidentified_only: bool = False  # taxonId=0: none of the valid ones
    status: str | None = None  # research | casual
    has_coordinate: bool = False
    min_latitude: float | None = None
    max_latitude: float | None = None
    min_longitude: float | None = None
    max_longitude: float | None = None
    created_by: datetime | None = None  # startTime


def parse_licenses(text: str | None) -> tuple[str, ...]:
    """Licence codes from ``license`` (comma-separated, any spelling
    :func:`~hortus.observations.dwc_terms.license_from_text` reads); InvalidInput for one it
    does not know."""
    if text is None or not text.strip():
        return ()
    names = [part.strip() for part in text.split(",") if part.strip()]
    if len(names) > MAX_LICENSES:
        raise InvalidInput(f'"license" names more than {MAX_LICENSES} licences.',
                           error="invalid license")
    codes = []
    for name in names:
        code = license_from_text(name)
        if code is None:
            raise InvalidInput(f'"license": {name[:60]!r} is no licence an observation carries '
                               "(cc0, cc-by, cc-by-sa, cc-by-nc, cc-by-nc-sa, cc-by-nd, "
                               "cc-by-nc-nd, or their URIs).", error="invalid license")
        codes.append(code)
    return tuple(dict.fromkeys(codes))


def check_filters(filters: OccurrenceFilters) -> OccurrenceFilters:
    """The filters when their bounds make sense; InvalidInput naming the pair that does not."""
    pairs = (("minEventDate", "maxEventDate", filters.min_event_date, filters.max_event_date),
             ("minDecimalLatitude", "maxDecimalLatitude", filters.min_latitude,
              filters.max_latitude),
             ("minDecimalLongitude", "maxDecimalLongitude", filters.min_longitude,
              filters.max_longitude))
    for low_name, high_name, low, high in pairs:
        if low is not None and high is not None and low > high:  # type: ignore[operator]
            raise InvalidInput(f'"{low_name}" is after "{high_name}".',
                               error=f"invalid {low_name}")
    return filters


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _valid_observations() -> Select[Any]:
    return (select(Observation)
            .join(ObservationLabel, ObservationLabel.observation_id == Observation.id)
            .where(ObservationLabel.valid.is_(True), Observation.deleted_at.is_(None)))


def _filtered(filters: OccurrenceFilters) -> Select[Any]:
    query = _valid_observations()
    label = func.lower(ObservationLabel.label)
    if filters.unidentified_only or filters.status == CASUAL:
        query = query.where(false())  # every published occurrence is valid and named
    if filters.scientific_name:
        name = normalise_name(filters.scientific_name).lower()
        query = query.where(or_(
            label == name,
            label.like(_escape_like(name) + " %", escape="\\"),  # a genus: its species
            literal(name).like(label + " %"),  # the name followed by its authorship
        ))
    if filters.licenses:
        query = query.where(Observation.license.in_(filters.licenses))
    if filters.min_event_date is not None:
        query = query.where(Observation.observed_at >= _day_start(filters.min_event_date))
    if filters.max_event_date is not None:
        query = query.where(Observation.observed_at
                            < _day_start(filters.max_event_date) + timedelta(days=1))
    if filters.has_identification:
        query = query.where(exists().where(Plant.type == "Plant",
                                           Plant.scientific_name == ObservationLabel.label))
    bounded = any(v is not None for v in (filters.min_latitude, filters.max_latitude,
                                          filters.min_longitude, filters.max_longitude))
    if filters.has_coordinate or bounded:
        query = query.where(and_(Observation.latitude.is_not(None),
                                 Observation.longitude.is_not(None)))
    for column, low, high in ((Observation.latitude, filters.min_latitude,
                               filters.max_latitude),
                              (Observation.longitude, filters.min_longitude,
                               filters.max_longitude)):
        if low is not None:
            query = query.where(column >= low)
        if high is not None:
            query = query.where(column <= high)
    if filters.created_by is not None:
        query = query.where(Observation.created_at <= filters.created_by)
    return query


@dataclass(frozen=True)
class OccurrencePage:
    """One page of a search: the total count and the page's records."""

    count: int
    records: list[OccurrenceRecord]


def search(*, session: Session, filters: OccurrenceFilters, offset: int, limit: int,
           dataset: str, language: str) -> OccurrencePage:
    """Valid observations matching ``filters``, newest created first, ``limit`` from
    ``offset``, with how many match in all."""
    query = _filtered(check_filters(filters))
    count = session.scalar(select(func.count()).select_from(
        query.with_only_columns(Observation.id).subquery())) or 0
    rows: Sequence[Observation] = []
    if offset < count:
        rows = list(session.scalars(query.order_by(Observation.created_at.desc(),
                                                   Observation.id.desc())
                                    .offset(offset).limit(limit)))
    return OccurrencePage(count=count, records=occurrence_records(
        session, rows, dataset=dataset, language=language))


def get_occurrence(*, session: Session, observation_id: int, dataset: str,
                   language: str) -> OccurrenceRecord:
    """One valid observation as an occurrence; NotFound when it is unknown, deleted or not
    valid."""
    row = session.scalar(_valid_observations().where(Observation.id == observation_id))
    if row is None:
        raise NotFound(f"{OCCURRENCE_NOT_FOUND}: no valid observation has this id.",
                       error="occurrence not found")
    return occurrence_records(session, [row], dataset=dataset, language=language)[0]
