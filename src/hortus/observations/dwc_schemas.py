"""The Darwin Core routes' wire format: Pl@ntNet's ``DarwinCore occurrence(s)`` (OpenAPI 2.2.2)
with the Darwin Core terms GBIF's occurrence API also gives.

Pl@ntNet's required fields come first in each model; Hortus adds Darwin Core's own terms
(``occurrenceID``, ``recordedBy``, ``identifiedBy``, ``taxonRank``, ``family``, ``genus``,
``coordinateUncertaintyInMeters`` ...) and each photo's ``license``, ``creator`` and
``rightsHolder``, which clients of either API read by name and others ignore.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic.json_schema import SkipJsonSchema

from hortus.identify.schemas import Flag, Language, QueryModel, WireModel
from hortus.observations.schemas import MAX_TIMESTAMP_MS

Omitted = SkipJsonSchema[None]
PAGE_SIZE = 100
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000


def _iso_day(value: str | None) -> str | None:
    if value is not None:
        date.fromisoformat(value)  # a ValueError is the field's 400
    return value


IsoDay = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
                   AfterValidator(_iso_day)]


class OccurrenceSearchQuery(QueryModel):
    """``GET /v2/dwc/occurrence/search``."""

    page: int | Omitted = Field(default=None, ge=1, le=MAX_OFFSET // PAGE_SIZE,
                                description=f"Page number starting at 1; page size is "
                                            f"{PAGE_SIZE} (then offset and limit are "
                                            "ignored).")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET,
                        description="Number of results to skip. Ignored if page is set.")
    limit: int = Field(default=PAGE_SIZE, ge=1, le=MAX_LIMIT,
                       description=f"Maximum number of results to return (1 to {MAX_LIMIT}). "
                                   "Ignored if page is set.")
    start_time: int | Omitted = Field(
        default=None, alias="startTime", ge=0, le=MAX_TIMESTAMP_MS,
        description="Start timestamp in milliseconds (answered as `startTime` on the first "
                    "page): only occurrences created by then, so that pages do not shift while "
                    "new ones are added.")
    lang: Language = Field(default="en", description="Language of common names (default en).")
    min_event_date: IsoDay | Omitted = Field(
        default=None, alias="minEventDate",
        description="Earliest observation date (eventDate), YYYY-MM-DD.")
    max_event_date: IsoDay | Omitted = Field(
        default=None, alias="maxEventDate",
        description="Latest observation date (eventDate), YYYY-MM-DD, inclusive.")
    license: str | Omitted = Field(
        default=None, max_length=1000,
        description="Licences, separated by commas: cc0, cc-by, cc-by-sa, cc-by-nc, "
                    "cc-by-nc-sa, cc-by-nd, cc-by-nc-nd (or their URIs, SPDX ids, GBIF names).")
    has_identification: Flag = Field(
        default=False, alias="hasIdentification",
        description="If true, only occurrences whose name is a species of the plant database.")
    scientific_name: str | Omitted = Field(
        default=None, alias="scientificName", max_length=300,
        description="A species (any case; authorship allowed) or a genus (its species).")
    taxon_id: int | Omitted = Field(
        default=None, alias="taxonId", ge=0, le=0,
        description="Only 0 (unidentified occurrences), as on Pl@ntNet: every published "
                    "occurrence is identified, so it selects none.")
    identification_verification_status: Literal["casual", "research"] | Omitted = Field(
        default=None, alias="identificationVerificationStatus",
        description="research: valid observations (all that are published); casual: none.")
    has_coordinate: Flag = Field(
        default=False, alias="hasCoordinate",
        description="If true, only occurrences with coordinates.")
    min_decimal_longitude: float | Omitted = Field(
        default=None, alias="minDecimalLongitude", ge=-180, le=180, allow_inf_nan=False,
        description="Minimum (west) longitude, in decimal degrees.")
    max_decimal_longitude: float | Omitted = Field(
        default=None, alias="maxDecimalLongitude", ge=-180, le=180, allow_inf_nan=False,
        description="Maximum (east) longitude, in decimal degrees.")
    min_decimal_latitude: float | Omitted = Field(
        default=None, alias="minDecimalLatitude", ge=-90, le=90, allow_inf_nan=False,
        description="Minimum (south) latitude, in decimal degrees.")
    max_decimal_latitude: float | Omitted = Field(
        default=None, alias="maxDecimalLatitude", ge=-90, le=90, allow_inf_nan=False,
        description="Maximum (north) latitude, in decimal degrees.")


class OccurrenceQuery(QueryModel):
    """``GET /v2/dwc/occurrence/{id}``."""

    lang: Language = Field(default="en", description="Language of common names (default en).")


class OccurrenceTaxon(WireModel):
    """``taxon``: the occurrence's current name."""

    id: int | Omitted = Field(default=None, description="GBIF taxon key, when known.")
    name: str
    rank: str
    kingdom: str
    family: str | Omitted = None
    genus: str | Omitted = None
    common_names: dict[str, list[str]] = Field(alias="common_names")


class OccurrenceUser(WireModel):
    """``user``: the author's account id (absent for an observation whose author is gone)."""

    id: str | Omitted = None


class OccurrenceMedia(WireModel):
    """One photo (``Model33``), with its licence and credits. A photo an imported archive
    listed but that was not stored has only its ``identifier`` (its address there)."""

    type: str
    format: str | Omitted = None
    identifier: str
    medium_url: str | Omitted = Field(default=None, alias="medium_url")
    large_url: str | Omitted = Field(default=None, alias="large_url")
    organ: str | Omitted = None
    license: str
    creator: str
    rights_holder: str


class OccurrenceVote(WireModel):
    """``Model35``: one species voted, its voters and their summed weight."""

    determination: str
    count: int
    score: float
    selected: bool


class DarwinCoreOccurrence(WireModel):
    """``DarwinCore occurrence``."""

    id: str
    event_date: str
    observed_on: str
    scientific_name: str
    owner_institution_code_property: str
    identification_verification_status: str
    basis_of_record: str
    type: str
    license: str
    rights_holder: str
    occurrence_status: str
    occurrence_id: str = Field(serialization_alias="occurrenceID")
    modified: str
    recorded_by: str
    identified_by: str
    verbatim_identification: str | Omitted = None
    scientific_name_authorship: str | Omitted = None
    taxon_rank: str
    kingdom: str
    family: str | Omitted = None
    genus: str | Omitted = None
    decimal_latitude: float | Omitted = None
    decimal_longitude: float | Omitted = None
    geodetic_datum: str | Omitted = None
    coordinate_uncertainty_in_meters: float | Omitted = None
    geolocation_accuracy: float | Omitted = None
    locality: str | Omitted = None
    taxon: OccurrenceTaxon
    user: OccurrenceUser
    media: list[OccurrenceMedia]
    votes: list[OccurrenceVote]


class DarwinCoreOccurrences(WireModel):
    """``DarwinCore occurrences``: a page, newest created first."""

    offset: int
    limit: int
    end_of_records: bool
    count: int
    start_time: int
    results: list[DarwinCoreOccurrence]
