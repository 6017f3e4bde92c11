"""Pl@ntNet v2 Darwin Core routes: the valid observations as GBIF-like occurrences.

``GET /v2/dwc/occurrence/search`` and ``GET /v2/dwc/occurrence/{id}``, as the Pl@ntNet OpenAPI
2.2.2 describes them ("DarwinCore occurrences", "DarwinCore occurrence"), in the identification
API's family: the ``api-key`` query parameter, Pl@ntNet's ``{statusCode, error, message}``
errors. Thin: the search is :mod:`hortus.observations.dwc_search`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from hortus.db import Database, utcnow
from hortus.deps import DatabaseDep
from hortus.errors import NotFound
from hortus.identify.router import IdentifyCallerDep, check_uri_length, errors
from hortus.observations import dwc_search
from hortus.observations.dwc import dataset_identifier
from hortus.observations.dwc_schemas import (
    PAGE_SIZE,
    DarwinCoreOccurrence,
    DarwinCoreOccurrences,
    OccurrenceQuery,
    OccurrenceSearchQuery,
)
from hortus.observations.dwc_serialize import occurrence
from hortus.observations.serialize import milliseconds
from hortus.observations.views import parse_id

PREFIX = "/v2"

router = APIRouter(prefix=PREFIX, tags=["Identification (Pl@ntNet v2)"],
                   dependencies=[Depends(check_uri_length)])

OccurrenceId = Annotated[str, Path(alias="id", description="Occurrence ID (the observation's "
                                                           "id)")]


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _filters(query: OccurrenceSearchQuery, start: datetime) -> dwc_search.OccurrenceFilters:
    return dwc_search.OccurrenceFilters(
        scientific_name=query.scientific_name,
        licenses=dwc_search.parse_licenses(query.license),
        min_event_date=(datetime.fromisoformat(query.min_event_date).date()
                        if query.min_event_date else None),
        max_event_date=(datetime.fromisoformat(query.max_event_date).date()
                        if query.max_event_date else None),
        has_identification=query.has_identification,
        unidentified_only=query.taxon_id == 0,
        status=query.identification_verification_status,
        has_coordinate=query.has_coordinate,
        min_latitude=query.min_decimal_latitude, max_latitude=query.max_decimal_latitude,
        min_longitude=query.min_decimal_longitude, max_longitude=query.max_decimal_longitude,
        created_by=start)


def _search(db: Database, query: OccurrenceSearchQuery, start: datetime, offset: int,
            limit: int) -> dwc_search.OccurrencePage:
    dataset = dataset_identifier(db)
    with db.read() as session:
        return dwc_search.search(session=session, filters=_filters(query, start), offset=offset,
                                 limit=limit, dataset=dataset, language=query.lang)


@router.get(
    "/dwc/occurrence/search", summary="Search DarwinCore occurrences (GBIF-like)",
    description="The valid observations as Darwin Core occurrences, newest created first, in "
                "pages (`page` of 100, or `offset` and `limit` up to 1000). Filters: "
                "`scientificName` (a species, any case, authorship allowed, or a genus), "
                "`license` (comma-separated), `minEventDate`/`maxEventDate` (the observation "
                "date), `hasCoordinate` and the `min`/`maxDecimalLatitude`/`Longitude` box, "
                "`hasIdentification` (names of the plant database), "
                "`identificationVerificationStatus` (`research`: all; `casual`: none, only "
                "valid observations are published), `taxonId` (only 0, as on Pl@ntNet: "
                "none). `startTime` (answered on every page) keeps later pages from shifting "
                "while new occurrences arrive.",
    response_model=DarwinCoreOccurrences, response_model_exclude_none=True,
    responses=errors(400, 401, 403, 414, 500),
)
def search_occurrences(query: Annotated[OccurrenceSearchQuery, Query()], request: Request,
                       caller: IdentifyCallerDep, db: DatabaseDep) -> DarwinCoreOccurrences:
    start = (datetime.fromtimestamp(query.start_time / 1000, tz=UTC)
             if query.start_time is not None else utcnow())
    offset, limit = query.offset, query.limit
    if query.page is not None:
        offset, limit = (query.page - 1) * PAGE_SIZE, PAGE_SIZE
    page = _search(db, query, start, offset, limit)
    base = _base_url(request)
    return DarwinCoreOccurrences(
        offset=offset, limit=limit, end_of_records=offset + len(page.records) >= page.count,
        count=page.count, start_time=milliseconds(start),
        results=[occurrence(r, base_url=base, language=query.lang) for r in page.records])


@router.get(
    "/dwc/occurrence/{id}", summary="Get DarwinCore occurrence details (GBIF-like)",
    description="One valid observation as a Darwin Core occurrence, by its id.",
    response_model=DarwinCoreOccurrence, response_model_exclude_none=True,
    responses=errors(400, 401, 403, 404, 414, 500,
                     e404='"Occurrence not found": no valid observation has this id.'),
)
def get_occurrence(occurrence_id: OccurrenceId, query: Annotated[OccurrenceQuery, Query()],
                   request: Request, caller: IdentifyCallerDep,
                   db: DatabaseDep) -> DarwinCoreOccurrence:
    try:
        key = parse_id(occurrence_id)
    except NotFound:  # an id that names no observation names no occurrence
        key = -1
    dataset = dataset_identifier(db)
    with db.read() as session:
        record = dwc_search.get_occurrence(session=session, observation_id=key, dataset=dataset,
                                           language=query.lang)
    return occurrence(record, base_url=_base_url(request), language=query.lang)
