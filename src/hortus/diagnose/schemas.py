"""PEAT's wire format (``/v1``), as Pydantic models: what clients send and what Hortus answers.

The router parses requests with these models and serialises answers with them, so
``/openapi.json`` documents every header, query and path parameter, body and status. Field
order is the wire's key order (PEAT's example lists keys alphabetically).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticUseDefault

from hortus.api_families import ErrorDocs

HORTUS_EXTENSION = "Hortus extension"
QUOTA_MESSAGE = "You have reached your maximum amount of requests this month"
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000_000

# A date-time as Python's isoformat writes it (``+00:00``, as the wire has always carried).
IsoDateTime = Annotated[
    datetime,
    PlainSerializer(lambda moment: moment.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Similarity = Annotated[int, Field(ge=0, le=100, description="A whole percentage, 0 to 100.")]
Rank = Annotated[int, Field(ge=1, description="1 for the best.")]


# ----------------------------------------------------------------------------------- requests

def _header(alias: str, description: str) -> Any:
    return Field(None, alias=alias, description=description)


_STORED = " Stored as sent; never refused (a value that does not parse is kept unparsed)."


class MetadataHeaders(BaseModel):
    """PEAT's optional metadata headers, as sent.

    PEAT writes each header Title-Case-With-Dash or lower_case_with_underscore; HTTP header
    names are case-insensitive, so both spellings are listed only where they differ.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    latitude: str | None = _header("latitude", "Latitude, decimal degrees (-90 to 90)." + _STORED)
    longitude: str | None = _header("longitude",
                                    "Longitude, decimal degrees (-180 to 180)." + _STORED)
    gps_accuracy_dashed: str | None = _header("Gps-Accuracy",
                                              "GPS accuracy in metres (>= 0)." + _STORED)
    gps_accuracy: str | None = _header("gps_accuracy", "Gps-Accuracy, spelled with an underscore.")
    eppo: str | None = _header("eppo", "EPPO code of the suspected problem (5 or 6 letters or "
                               "digits, stored upper-case)." + _STORED)
    user_id_dashed: str | None = _header("User-Id", "The client's own user id." + _STORED)
    user_id: str | None = _header("user_id", "User-Id, spelled with an underscore.")
    user_name_dashed: str | None = _header("User-Name", "The client's user name." + _STORED)
    user_name: str | None = _header("user_name", "User-Name, spelled with an underscore.")
    crop: str | None = _header(
        "crop", "The crop photographed: a diagnosis model's name (bean), the crop's EPPO code "
        "(PHSVX), or a scientific or common name the knowledge base has for it, in any "
        "language (Phaseolus vulgaris, French bean, haricot). Selects the model that diagnoses; "
        "a crop without a model is no error (nothing is diagnosed)." + _STORED)
    variety: str | None = _header("variety", "The crop variety." + _STORED)
    timestamp: str | None = _header(
        "timestamp", "When the photo was taken: ISO 8601 (no zone = UTC), RFC 1123, "
        "dd/mm/yyyy hh:mm:ss, yyyy:mm:dd hh:mm:ss (EXIF) or a Unix epoch in seconds or "
        "milliseconds." + _STORED)
    user: str | None = _header("user", "A user, as PEAT's batch example sends it. " +
                               HORTUS_EXTENSION + ": stored as sent, not parsed.")

    def as_sent(self) -> dict[str, str]:
        """The headers that were sent, by PEAT's spelling of their names."""
        sent: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is not None:
                sent[field.alias or name] = value
        return sent


class ImageAnalysisForm(BaseModel):
    """The multipart/form-data body of an analysis (documented here; the route streams it)."""

    picture: bytes = Field(description="The photo: JPEG, PNG or WebP, at most "
                                       "HORTUS_MAX_UPLOAD_BYTES (default 50 MB).")


UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "description": "One photo in the multipart field 'picture'.",
    "content": {"multipart/form-data": {"schema": ImageAnalysisForm.model_json_schema()}},
}


def _blank_is_default(value: object) -> object:
    """An empty query value means the default (``?page=``), as it always has."""
    if isinstance(value, str) and not value.strip():
        raise PydanticUseDefault()
    return value


class DiseaseQuery(BaseModel):
    """Filters and paging of ``GET /v1/diseases``."""

    model_config = ConfigDict(extra="ignore")

    page: int = Field(1, ge=1, le=MAX_PAGE, description="Page number, from 1.")
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE, description="Entries per page.")
    crop: str | None = Field(None, description="A host: its scientific name or a common name "
                                               "the knowledge base has for it.")
    pathogen_class: str | None = Field(None, description="fungus, oomycete, bacterium, virus, "
                                       "viroid, phytoplasma, insect, mite, nematode, pest, "
                                       "deficiency or abiotic.")
    eppo: str | None = Field(None, description="The problem's EPPO code (case-insensitive).")
    q: str | None = Field(None, description="Text searched in names, scientific names and "
                                            "common names in every language.")

    _blank = field_validator("page", "per_page", "crop", "pathogen_class", "eppo", "q",
                             mode="before")(_blank_is_default)


# ----------------------------------------------------------------------------------- answers

class RankedName(BaseModel):
    """One entry of ``objects_net``."""

    name: str
    rank: Rank
    similarity: Similarity


class RecognisedCrop(BaseModel):
    """One entry of ``plant_net``: a crop recognised in the photo."""

    name: str = Field(description="The crop, upper-case (BEAN).")
    plant_id: int | None = Field(
        None, description=HORTUS_EXTENSION + ": the crop's plant in the knowledge base "
        "(`GET /api/plants/{plant_id}`: names, family, genus, growing data); null when the "
        "knowledge base has none, and in analyses stored before Hortus linked crops.")
    rank: Rank
    similarity: Similarity


class DiseaseMatch(BaseModel):
    """One crop problem of ``image_analysis``, with its catalogue entry."""

    eppo: str | None = Field(description="EPPO code; null where the catalogue has no "
                                         "confirmed code or the class matches no entry.")
    name: str
    peat_id: int | None = Field(description="Catalogue id; null when the model's class "
                                            "matches no catalogue entry.")
    rank: Rank = Field(description="The class's place in the model's full ranking, where the "
                                   "healthy class counts but is not listed.")
    scientific_name: str | None
    similarity: Similarity


class ImageAnalysis(BaseModel):
    """PEAT's image-analysis answer (plus ``healthy``, a Hortus extension)."""

    big_enough: bool = Field(description="The photo's shorter side is at least 224 pixels.")
    code: Literal[200] = 200
    healthy: int | None = Field(ge=0, le=100, description=HORTUS_EXTENSION + ": the healthy "
                                "class's similarity; null when no model diagnosed or the model "
                                "has no healthy class.")
    image_analysis: list[DiseaseMatch] = Field(description="The crop problems of the model "
                                               "that diagnosed, best first; empty when none "
                                               "did.")
    objects_net: list[RankedName] = Field(description="What the photo shows, by the "
                                          "backbone's ImageNet head (top 5).")
    pic_id: uuid.UUID = Field(description="The stored analysis's id.")
    plant_net: list[RecognisedCrop] = Field(description="The crops recognised in the photo, "
                                            "best first; empty when none is.")
    recognized: Literal["True", "False"] = Field(description="The model that diagnosed "
                                                 "accepted the photo as its crop (a string, as "
                                                 "in PEAT); False when no model diagnosed.")
    recognized_bool: bool


class AnalysisMetadata(BaseModel):
    """The metadata headers of a stored analysis: parsed values, and every header as sent."""

    latitude: float | None
    longitude: float | None
    gps_accuracy: float | None
    eppo: str | None
    user_id: str | None
    user_name: str | None
    crop: str | None
    variety: str | None
    timestamp: str | None = Field(description="The timestamp header (when it is at most 64 "
                                              "characters).")
    taken_at: IsoDateTime | None = Field(description="The timestamp, parsed (UTC); null when "
                                                     "it could not be.")
    headers: dict[str, str] = Field(description="Every metadata header as sent, by PEAT's "
                                                "spelling of its name.")


class StoredAnalysis(ImageAnalysis):
    """An analysis as it was answered, with when it was made and the headers sent with it."""

    model_config = ConfigDict(json_schema_extra={"description": HORTUS_EXTENSION + ": a stored "
                                                 "analysis."})

    created_at: IsoDateTime
    metadata: AnalysisMetadata


class DiseaseHost(BaseModel):
    scientific_name: str
    plant_id: int | None = Field(description="The knowledge-base plant, when it has one.")


class Disease(BaseModel):
    """One entry of the disease catalogue."""

    model_config = ConfigDict(json_schema_extra={"description": HORTUS_EXTENSION + ": a crop "
                                                 "problem of the disease catalogue."})

    peat_id: int
    eppo: str | None
    name: str
    scientific_name: str | None
    pathogen_class: str
    hosts: list[DiseaseHost]
    common_names: dict[str, str] = Field(description="Common name by language code.")
    symptoms: str | None
    organic_treatment: str | None
    chemical_treatment: str | None
    prevention: str | None


class DiseasePage(BaseModel):
    """A page of the disease catalogue, by ``peat_id``."""

    page: int
    per_page: int
    total: int
    diseases: list[Disease]


# ------------------------------------------------------------------------------------ errors

class PeatError(BaseModel):
    """Every error under ``/v1`` but the quota's 429."""

    message: str
    code: int = Field(description="The HTTP status, repeated.")


class QuotaError(BaseModel):
    """PEAT's documented 429 body, exactly."""

    message: str = Field(examples=[QUOTA_MESSAGE])


_ERRORS = {
    400: "Bad Request: no multipart body or no 'picture' file, an empty file, not a JPEG, PNG "
         "or WebP image, a truncated or absurdly large image, or a malformed parameter.",
    401: "Unauthorized: no valid Api-Key provided.",
    403: "Forbidden: the key's authorized domains or IPs refuse this request.",
    404: "Not Found.",
    413: "Payload Too Large: the picture is over HORTUS_MAX_UPLOAD_BYTES.",
    416: "Range Not Satisfiable: the byte range starts past the end (Content-Range says the "
         "size).",
    429: "Too Many Requests: the month's image-analysis quota is used up.",
    500: "Internal Server Error (rare).",
}
_RATE_LIMIT_HEADERS = {
    "RateLimit": {"description": 'What remains of the monthly quota: "month";r=<remaining>;'
                                 "t=<seconds to reset>.", "schema": {"type": "string"}},
    "RateLimit-Policy": {"description": 'The monthly quota: "month";q=<limit>;w=<seconds>.',
                         "schema": {"type": "string"}},
}
RATE_LIMITED: dict[str, Any] = {"headers": _RATE_LIMIT_HEADERS}


ERROR_DOCS = ErrorDocs(error_model=PeatError, quota_model=QuotaError, descriptions=_ERRORS,
                       rate_limit_headers=_RATE_LIMIT_HEADERS)


def error_responses(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the error statuses a route answers; any other error (405 ...) has
    the same body, which also keeps FastAPI from documenting a 422 Hortus never sends."""
    return ERROR_DOCS.responses(*statuses, default=True, **described)
