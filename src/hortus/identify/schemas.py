"""The Pl@ntNet API v2 wire format as Pydantic models: query parameters, the multipart body,
every answer and the error body.

Names, types and nesting follow the Pl@ntNet OpenAPI 2.2.2 description (its definition names are
given in each docstring). Python fields are snake_case; the wire names are their camelCase
aliases (``preferedReferential``, Pl@ntNet's spelling, included), or the hyphenated query names
(``include-related-images``). A field that is absent from an answer, rather than null, is typed
``X | Omitted`` and the routes serialise with ``response_model_exclude_none``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from hortus.identify.fusion import ORGANS, PRIMARY_ORGANS, SECONDARY_ORGANS
from hortus.identify.params import DEFAULT_NB_RESULTS, MAX_IMAGES

Omitted = SkipJsonSchema[None]  # absent from the JSON (never null), and from the schema

# The languages Pl@ntNet's API accepts (OpenAPI 2.2.2, parameter ``lang``).
Language = Literal[
    "en", "fr", "es", "pt", "de", "it", "ar", "cs", "nl", "sk", "zh", "ru", "tr", "pl", "uk",
    "he", "el", "fi", "id", "ms", "ca", "ja", "hu", "hr", "da", "ro", "bg", "nb", "sl", "sv",
    "et", "eu", "ur", "ml", "cy", "ku", "gl", "eo", "sat", "zh-tw", "pt-br", "hi", "de-at", "sr",
    "zh-hant", "bn", "fa", "be", "oc", "lt", "en-au", "br",
]
LANGUAGES: tuple[str, ...] = get_args(Language)
ModelType = Literal["kt", "legacy"]
HORTUS_EXTENSION = "Hortus extension"


# ---------------------------------------------------------------------------- query parameters

def _default_when_blank(default: object):  # type: ignore[no-untyped-def]
    """An empty value means the default (R and shell clients send ``lang=``); text is trimmed
    and lower-cased (R sends ``TRUE``)."""
    def clean(value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            return default if value == "" else value
        return value
    return BeforeValidator(clean)


def _lower_each(value: object) -> object:
    if isinstance(value, list):
        return [v.strip().lower() if isinstance(v, str) else v for v in value]
    return value


def _matching(pattern: str, message: str) -> Any:
    """Check a text value against ``pattern`` (documented as the schema's pattern), with a
    message in words rather than the regular expression."""
    compiled = re.compile(pattern)

    def check(value: str | None) -> str | None:
        if value is not None and not compiled.fullmatch(value):
            raise PydanticCustomError("pattern", message)
        return value
    return AfterValidator(check)


def _absent_by_default(schema: dict[str, Any]) -> None:
    """No ``"default": null`` in the schema of an optional parameter (absent means absent), and
    the bounds of an optional number in JSON Schema's words."""
    schema.pop("default", None)
    for bound, keyword in (("ge", "minimum"), ("le", "maximum")):
        if bound in schema:
            schema[keyword] = schema.pop(bound)


def _optional_pattern(pattern: str) -> Any:
    """The schema of an optional text parameter that must match ``pattern``."""
    def edit(schema: dict[str, Any]) -> None:
        schema["pattern"] = pattern
        _absent_by_default(schema)
    return edit


Flag = Annotated[bool, _default_when_blank(False)]
OrganList = Annotated[list[str], BeforeValidator(_lower_each)]
_ORGANS_DOC = (f"Organ of each image, in order: {', '.join(ORGANS)}. At least one of "
               f"{', '.join(PRIMARY_ORGANS)}; {' and '.join(SECONDARY_ORGANS)} only beside one. "
               "None: every image is `auto`.")


class QueryModel(BaseModel):
    """Query parameters: unknown ones are ignored (``api-key`` is read by authentication)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, extra="ignore")


class IdentifyOptions(QueryModel):
    """The query parameters of ``/v2/identify/{project}`` common to both methods."""

    include_related_images: Flag = Field(
        default=False, alias="include-related-images",
        description="If true, for each probable species, the most similar images are returned.")
    no_reject: Flag = Field(
        default=False, alias="no-reject",
        description='Disables "no result" ("Species not found") when the photos match no '
                    "species.")
    nb_results: Annotated[int, _default_when_blank(DEFAULT_NB_RESULTS)] = Field(
        default=DEFAULT_NB_RESULTS, ge=1, alias="nb-results",
        description="Max. number of species in the results (no upper limit: as many as exist).")
    lang: Annotated[Language, _default_when_blank("en")] = Field(
        default="en", description="Language of common names (default: en).")
    type: Annotated[ModelType, _default_when_blank("kt")] = Field(
        default="kt", description="Model type (echoed in `query.type`; Hortus has one engine).")
    detailed: Flag = Field(
        default=False, description="If true, genus and family scores are added (`otherResults`).")


class UploadQuery(IdentifyOptions):
    """``POST /v2/identify/{project}``: the options, and organs when a client puts them in the
    query string instead of the form (Hortus leniency: the form's organs win)."""

    organs: OrganList = Field(
        default_factory=list, max_length=MAX_IMAGES,
        description="Hortus extension (leniency): organs sent in the query string (as some "
                    "clients do) are "
                    "used when the form has none. " + _ORGANS_DOC)


class UrlQuery(IdentifyOptions):
    """``GET /v2/identify/{project}``: the options, the image URLs and their organs."""

    images: list[str] = Field(
        min_length=1, max_length=MAX_IMAGES,
        description=f"Image URLs, http or https (all of the same plant) [max: {MAX_IMAGES}]. "
                    "Only public addresses are fetched.")
    organs: OrganList = Field(default_factory=list, max_length=MAX_IMAGES,
                              description=_ORGANS_DOC)


class ProjectsQuery(QueryModel):
    """``GET /v2/projects``."""

    lang: Annotated[Language, _default_when_blank("en")] = Field(
        default="en", description="i18n (default: en).")
    lat: float | SkipJsonSchema[None] = Field(
        default=None, ge=-90, le=90, json_schema_extra=_absent_by_default,
        description="Latitude (WGS 84): accepted; Hortus has no geographic floras to sort.")
    lon: float | SkipJsonSchema[None] = Field(
        default=None, ge=-180, le=180, json_schema_extra=_absent_by_default,
        description="Longitude (WGS 84): accepted; Hortus has no geographic floras to sort.")
    type: Annotated[ModelType, _default_when_blank("kt")] = Field(
        default="kt", description="Projects type.")


PAGE_PATTERN = r"^(|0*[1-9][0-9]{0,8})$"
PageNumber = Annotated[str, _matching(PAGE_PATTERN, 'must be a positive integer, or "" (empty) '
                                      "to disable pagination")]
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
YEAR_PATTERN = r"^[0-9]{4}$"


class SpeciesQuery(QueryModel):
    """``GET /v2/species`` and ``GET /v2/projects/{project}/species``."""

    lang: Annotated[Language, _default_when_blank("en")] = Field(
        default="en", description="i18n (default: en).")
    type: Annotated[ModelType, _default_when_blank("kt")] = Field(
        default="kt", description="Projects type.")
    page_size: PageNumber = Field(
        default="100", alias="pageSize", json_schema_extra={"pattern": PAGE_PATTERN},
        description='Number of results per page. Set to "" (empty string) to disable '
                    "pagination.")
    page: PageNumber = Field(
        default="1", json_schema_extra={"pattern": PAGE_PATTERN},
        description='Page number starting at 1. Set to "" (empty string) to disable pagination.')
    prefix: str | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_absent_by_default,
        description="Return only species starting with the given prefix.")


class DailyQuotaQuery(QueryModel):
    """``GET /v2/quota/daily``."""

    day: Annotated[str | SkipJsonSchema[None],
                   _matching(DAY_PATTERN, "must be a date in the format YYYY-MM-DD")] = Field(
        default=None, json_schema_extra=_optional_pattern(DAY_PATTERN),
        description="Day in the format YYYY-MM-DD (default: today, UTC).")


class QuotaHistoryQuery(QueryModel):
    """``GET /v2/quota/history``."""

    year: Annotated[str | SkipJsonSchema[None],
                    _matching(YEAR_PATTERN, "must be a year in the format YYYY")] = Field(
        default=None, json_schema_extra=_optional_pattern(YEAR_PATTERN),
        description="Year in the format YYYY (default: this year, UTC).")


# The photo fields of a multipart body (identification, observations), with a description each.
def photo_fields(images: str, organs: str) -> dict[str, Any]:
    return {
        "images": {"type": "array", "minItems": 1, "maxItems": MAX_IMAGES,
                   "items": {"type": "string", "format": "binary"},
                   "description": f"{images} [max: {MAX_IMAGES}]."},
        "organs": {"type": "array", "maxItems": MAX_IMAGES,
                   "items": {"type": "string", "enum": list(ORGANS)}, "description": organs},
    }


# The multipart body of POST /v2/identify/{project}: read as a stream by identify/upload.py, so
# it is described here rather than declared as FastAPI form parameters.
UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": ["images"],
        "properties": photo_fields(
            "Images: JPEG or PNG (WebP also accepted), all of the same plant", _ORGANS_DOC),
    }}},
}


# -------------------------------------------------------------------------------------- answers

class WireModel(BaseModel):
    """An answer object: camelCase on the wire."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True)


class TaxonObject(WireModel):
    """``Genus`` / ``Family`` of a result's species."""

    scientific_name_without_author: str
    scientific_name_authorship: str
    scientific_name: str


class ResultSpecies(WireModel):
    """``Model15``: the species of one result."""

    scientific_name_without_author: str
    scientific_name_authorship: str
    scientific_name: str
    genus: TaxonObject
    family: TaxonObject
    common_names: list[str]


class ImageDate(WireModel):
    """``date``: milliseconds since the epoch, and the date as recorded."""

    timestamp: int
    string: str


class ImageUrls(WireModel):
    """``url``: original (``o``), medium (``m``) and small (``s``) sizes."""

    o: str
    m: str
    s: str


class ReferenceImage(WireModel):
    """``Image``: a reference photo similar to the query."""

    organ: str
    author: str
    license: str
    date: ImageDate
    citation: str
    url: ImageUrls


class GbifId(WireModel):
    """``gbif``."""

    id: int


class PowoId(WireModel):
    """``powo``."""

    id: str


class IucnStatus(WireModel):
    """``Model16``: the IUCN Red List id and category."""

    id: str
    category: str


class PlantLink(WireModel):
    """Hortus extension: the knowledge-base plant behind a result and its care attributes."""

    model_config = ConfigDict(json_schema_extra={"description": HORTUS_EXTENSION + ": the "
                              "knowledge-base plant (Permapeople format) and its care."})
    id: int
    url: str
    care: dict[str, str]


class Result(WireModel):
    """``Result``: one probable species."""

    score: float
    species: ResultSpecies
    images: list[ReferenceImage] | Omitted = None
    gbif: GbifId | Omitted = None
    powo: PowoId | Omitted = None
    iucn: IucnStatus | Omitted = None
    plant: PlantLink | Omitted = None


class IdentificationQuery(WireModel):
    """``query``: the request as understood (``images`` are the photos' ids)."""

    project: str
    images: list[str]
    organs: list[str]
    include_related_images: bool
    no_reject: bool
    type: str


class PredictedOrgan(WireModel):
    """``Model17``: the organ each photo shows."""

    image: str
    filename: str
    organ: str
    score: float


class GenusTaxon(WireModel):
    """``genus`` of ``otherResults``."""

    scientific_name: str
    family: TaxonObject
    common_names: list[str]


class GenusResult(WireModel):
    """``Model18``."""

    score: float
    genus: GenusTaxon


class FamilyTaxon(WireModel):
    """``Model20``."""

    scientific_name: str
    common_names: list[str]


class FamilyResult(WireModel):
    """``Model21``."""

    score: float
    family: FamilyTaxon


class OtherResults(WireModel):
    """``otherResults``: scores summed by genus and by family (``detailed=true``)."""

    genus: list[GenusResult]
    family: list[FamilyResult]


class IdentificationResult(WireModel):
    """``Identification result``. ``switchToProject`` is never sent (no geographic floras)."""

    query: IdentificationQuery
    language: str
    prefered_referential: str
    best_match: str
    results: list[Result]
    version: str
    remaining_identification_requests: int
    predicted_organs: list[PredictedOrgan]
    other_results: OtherResults | Omitted = None


class Project(WireModel):
    """``Project``."""

    id: str
    title: str
    description: str
    species_count: int


class SpeciesEntry(WireModel):
    """``Species``: one species a project can identify."""

    id: str
    scientific_name_without_author: str
    scientific_name_authorship: str
    gbif_id: int | Omitted = None
    powo_id: str | Omitted = None
    iucn_category: str | Omitted = None
    common_names: list[str]
    genus: str
    family: str


class ApiStatus(WireModel):
    """``Model1``."""

    status: Literal["ok"]


class IdentifyCount(WireModel):
    """``identify``: identifications counted, the day's quota and what remains."""

    count: int
    total: int
    remaining: int


class QuotaCounts(WireModel):
    """``Model29``."""

    identify: IdentifyCount


class Quota(WireModel):
    """``Model2``: today's identification quota."""

    quota: QuotaCounts


class DailyQuota(WireModel):
    """``Model30``: one day's identifications (``total``: the account's current daily quota)."""

    day: str
    quota: QuotaCounts


class AccountName(WireModel):
    """``name``."""

    first: str
    last: str


class AccountInfo(WireModel):
    """``account``."""

    id: str
    username: str
    name: AccountName
    created: str


class Contract(WireModel):
    """``contract``: a self-hosted server has no contract; it says so."""

    plan: str
    status: str
    first_signature_date: str
    latest_signature_date: str
    next_signature_date: str
    indicative_yearly_quota: int
    currency: str


class IdentifyTally(WireModel):
    """``count`` / ``aboveQuota``."""

    identify: int


class SubscriptionPeriod(WireModel):
    """``Model3``: one month of the account's history."""

    period: str
    start_date: str
    end_date: str
    status: str
    count: IdentifyTally
    above_quota: IdentifyTally
    discount: bool


class Billing(WireModel):
    """``billing``: nothing is billed."""

    next_due_date: str
    estimated_amount: float


class KeySecurity(WireModel):
    """``security``: the key's exposure rules."""

    expose_key: bool
    ips: list[str]
    domains: list[str]


class Subscription(WireModel):
    """``Model4``."""

    account: AccountInfo
    contract: Contract
    history: list[SubscriptionPeriod]
    billing: Billing
    security: KeySecurity


# --------------------------------------------------------------------------------------- errors

class PlantnetError(WireModel):
    """Pl@ntNet's error body."""

    status_code: int = Field(description="The HTTP status.")
    error: str = Field(description='The HTTP reason phrase ("Bad Request", "Not Found", ...).')
    message: str = Field(description="What went wrong, naming the parameter or image.")


class QuotaExceededError(PlantnetError):
    """A 429 on identification also says no identification requests remain."""

    remaining_identification_requests: int | Omitted = None


# Pl@ntNet's reason phrases where they differ from Python's http.HTTPStatus.
REASON_PHRASES = {413: "Payload Too Large", 414: "URI Too Long"}
