"""The observation routes' wire format: vote bodies, queries, and Pl@ntNet's observation objects.

Names and nesting follow the Pl@ntNet OpenAPI 2.2.2 description (``Partner observation``,
``Partner observations``, ``Determination vote``, ``Organ vote``, ``Quality vote``, ``Vote
response``; the definition names are in each docstring). Most wire names are camelCase aliases;
Pl@ntNet spells a few in snake_case (``observation_id``, ``quality_votes``, ``organs_votes``),
kept as they are. Hortus adds no field: the aggregation's confidence and accuracy are in the
current name's ``votes[].score`` (an object of Pl@ntNet's own).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from pydantic.json_schema import SkipJsonSchema

from hortus.identify.schemas import (
    Flag,
    Language,
    ModelType,
    QueryModel,
    WireModel,
    photo_fields,
)
from hortus.observations.licenses import LICENSE_URLS
from hortus.observations.models import DEFAULT_LICENSE
from hortus.observations.names import MAX_NAME_LENGTH
from hortus.observations.votes import VOTE_ORGANS

Omitted = SkipJsonSchema[None]
MAX_SYNC_LIMIT = 10_000
MAX_SYNC_IDS = 100  # a request line stays well under the server's limits
MAX_TIMESTAMP_MS = 100_000_000_000_000  # year 5138: anything later is no date


# ------------------------------------------------------------------------------------- bodies

class VoteBody(BaseModel):
    """A vote's JSON body: unknown fields are ignored, as Pl@ntNet's server does."""

    model_config = ConfigDict(extra="ignore")


Score = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class DeterminationVote(VoteBody):
    """``Determination vote``."""

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="Species name")
    score: Score = Field(description="Score associated to the name (stored; the aggregation "
                                     "counts one vote per person whatever its score)")


class OrganVote(VoteBody):
    """``Organ vote``."""

    organ: Literal["leaf", "flower", "fruit", "bark", "habit", "other"] = Field(
        description="Organ name")
    score: Score = Field(description="Score associated to the organ")


class QualityVote(VoteBody):
    """``Quality vote``."""

    quality: StrictBool = Field(description="Quality (good: true, bad: false)")


class VoteResponse(WireModel):
    """``Vote response``: ``updated`` is false when the same vote was already recorded."""

    updated: bool


# The multipart body of POST /v2/observations, read as a stream (hortus.observations.form).
CREATE_BODY: dict[str, Any] = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": ["images"],
        "properties": {
            **photo_fields("Photos of one plant: JPEG or PNG (WebP also accepted)",
                           "Organ of each photo, in order (as for /v2/identify). None: every "
                           "photo is `auto`."),
            "determination": {"type": "string", "maxLength": MAX_NAME_LENGTH,
                              "description": "The author's determination: a species name "
                                             "(GET /v2/species, or the plant database), or "
                                             "`unknown` / empty. It is the author's vote."},
            "date": {"type": "string",
                     "description": "When the plant was seen: a timestamp in ms, or an ISO "
                                    "8601 date or date-time (default: now)."},
            "lat": {"type": "number", "minimum": -90, "maximum": 90,
                    "description": "Latitude (WGS 84), with lon."},
            "lon": {"type": "number", "minimum": -180, "maximum": 180,
                    "description": "Longitude (WGS 84), with lat."},
            "accuracy": {"type": "number", "minimum": 0,
                         "description": "Accuracy of the location, in metres."},
            "place": {"type": "string", "maxLength": 300, "description": "Name of the place."},
            "license": {"type": "string", "enum": list(LICENSE_URLS),
                        "description": f"Licence of the photos (default {DEFAULT_LICENSE}: "
                                       "CC BY-SA 4.0); SPDX identifiers (CC-BY-SA-4.0) are "
                                       "accepted too, and the field may be spelled licence."},
        },
    }}},
}


def vote_body(model: type[BaseModel]) -> dict[str, Any]:
    """The ``requestBody`` of a vote route (the body is read by :func:`hortus.deps.json_body`
    and validated by the route, so FastAPI does not describe it)."""
    return {"required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}}}


# ------------------------------------------------------------------------------------- queries

def _blank_is_default(default: object) -> BeforeValidator:
    def clean(value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            return default if value == "" else value
        return value
    return BeforeValidator(clean)


class CreateQuery(QueryModel):
    """``POST /v2/observations``: which project's AI makes the suggestions."""

    project: str = Field(default="all", max_length=200,
                         description="Project whose model makes the AI's suggestions (as for "
                                     "/v2/identify/{project}; default: all).")


Timestamp = Annotated[float, Field(ge=0, le=MAX_TIMESTAMP_MS, allow_inf_nan=False)]


class SyncQuery(QueryModel):
    """``GET /v2/observations/sync/latest``."""

    start_date: Timestamp = Field(default=0, alias="startDate",
                                  description="Start date timestamp in ms (default 0), "
                                              "inclusive.")
    end_date: Timestamp | SkipJsonSchema[None] = Field(
        default=None, alias="endDate", description="End date timestamp in ms, inclusive.")
    email: str | SkipJsonSchema[None] = Field(
        default=None, max_length=320,
        description="Limit results to observations owned by the user with this e-mail "
                    "address: your own (an operator's key may name anyone's).")
    ids: list[Annotated[str, Field(max_length=20)]] = Field(
        default_factory=list, max_length=MAX_SYNC_IDS,
        description=f"List of observation IDs (at most {MAX_SYNC_IDS}).")
    offset: int = Field(default=0, ge=0, le=1_000_000_000,
                        description="Number of results to skip (pagination).")
    limit: int = Field(default=100, ge=1, le=MAX_SYNC_LIMIT,
                       description="Maximum number of results to retrieve (pagination).")


class ObservationIdentifyQuery(QueryModel):
    """``GET /v2/projects/{project}/observations/{id}/identify``."""

    include_similar_images: Flag = Field(
        default=False, alias="includeSimilarImages",
        description="If true, for each probable species, the most similar images are returned.")
    lang: Annotated[Language, _blank_is_default("en")] = Field(
        default="en", description="two-letter ISO 639-1 language code")
    type: Annotated[ModelType, _blank_is_default("kt")] = Field(
        default="kt", description="Model type")


# ------------------------------------------------------------------------------------- answers

class ObservationSpecies(WireModel):
    """``Model23``: the taxon of the observation's current name."""

    name: str
    author: str
    common_names: list[str]
    family: str
    genus: str | Omitted = None
    powo_id: str | Omitted = None
    gbif_id: str | Omitted = None


class Geolocation(WireModel):
    """``Geolocation``."""

    lat: float
    lon: float
    place: str
    accuracy: float | Omitted = None


class SuggestedSpecies(WireModel):
    """``Model24``: one of the AI's suggestions when the observation was saved."""

    species: str
    score: float


class ObservationAuthor(WireModel):
    """``Author``: the public name (never the e-mail address)."""

    id: str | Omitted = None
    name: str


class PartnerReference(BaseModel):
    """``partner``: Hortus is the platform the observation comes from."""

    id: str
    observation_id: str


class ObservationImageOut(BaseModel):
    """``Model26``: one photo, its sizes, its settled organ and the votes on it."""

    id: str = Field(description="The photo's sha256: the {hash} of its vote routes.")
    o: str
    m: str
    s: str
    organ: str
    deleted: bool
    quality_votes: dict[str, int] = Field(description="Votes by quality: good, bad.")
    organs_votes: dict[str, int] = Field(description="Votes by organ.")


class SpeciesVotes(WireModel):
    """``Model28``: the votes for one species. ``score``: ``weight``, the summed weight of its
    voters, and ``share``, its share of all voters' weight; for the current name
    (``selected``), also the aggregation's ``confidence`` and ``accuracy`` (the AI's vote
    included when it votes), from which validity follows."""

    name: str
    count: int
    score: dict[str, float]
    selected: bool


class PartnerObservation(WireModel):
    """``Partner observation``."""

    id: str
    license: str
    license_url: str
    current_name: str
    submitted_name: str | Omitted = None
    species: ObservationSpecies
    geo: Geolocation | Omitted = None
    project: str
    is_valid: bool
    is_revised: bool
    deleted: bool
    identification_results: list[SuggestedSpecies]
    author: ObservationAuthor
    date_obs: int
    date_updated: int
    date_created: int
    partner: PartnerReference
    images: list[ObservationImageOut]
    censored: bool
    votes: list[SpeciesVotes]


class PartnerObservations(WireModel):
    """``Partner observations``: a page of observations, oldest update first."""

    data: list[PartnerObservation]
    has_more: bool
    prev: str | Omitted = None
    next: str | Omitted = None
    next_start_date: str | Omitted = None


__all__ = ["CREATE_BODY", "CreateQuery", "DeterminationVote", "ObservationIdentifyQuery",
           "OrganVote", "PartnerObservation", "PartnerObservations", "QualityVote",
           "SyncQuery", "VOTE_ORGANS", "VoteResponse", "vote_body"]
