"""The Permapeople wire format: every query, body and answer of the plant-database API.

FastAPI parses requests into these models and serialises answers with them, so
``/openapi.json`` documents exactly what the routes accept and return. Field order is the
seed's order (clients compare plant objects key by key). Strings the seed shows are never
``null``: an unknown description or image is ``""``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hortus.errors import InvalidInput

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000
MAX_ID = 2**31 - 1  # plant ids are 32-bit integers on PostgreSQL
MAX_NAME = 300
MAX_TEXT = 20_000
MAX_KEY = 200
MAX_ATTRIBUTES = 200
MAX_QUERY = 500
MAX_FILTERS = 20
MAX_FILTER_VALUES = 50
MAX_FILTER_VALUE = 200

# Patterns are spelt so that Python's and ECMA-262's regular expressions (validators of the
# published schema) agree on every string: explicit ranges, no \s or \w.
# No NUL anywhere (PostgreSQL text cannot hold one) and one character that is not an ASCII
# control or space.
VISIBLE_TEXT = r"^[^\x00]*[^\x00-\x20\x7f][^\x00]*$"
NO_NUL = r"^[^\x00]*$"
# A search: no NUL, and one character that is neither an ASCII control, space nor punctuation.
SEARCH_TEXT_PATTERN = r"^[^\x00]*[^\x00-\x20!-/:-@\[-`{-\x7f][^\x00]*$"
ASCII_SPACE = " \t\n\r\f\v"
# Names that are never attribute filters: cache busters (``_``, ``_t`` ...: any name starting
# with ``_``), other paging names, and our own fields spelt ``page[]``.
NOT_FILTERS = frozenset({"last_id", "limit", "offset", "page_size", "pagesize", "start",
                         "updated_since", "q", "type", "page", "per_page"})

PlantType = Literal["Plant", "Variety"]


# -- small types ------------------------------------------------------------------------------


def format_timestamp(value: datetime) -> str:
    """``2022-07-30T08:17:26.658Z``: UTC, milliseconds, ``Z``, as the seed shows."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _iso_datetime(value: Any) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; naive and date-only mean UTC), in UTC. A time
    whose UTC form falls outside the calendar is clamped to its first or last instant."""
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("expected an ISO 8601 datetime, e.g. 2024-05-01T00:00:00Z")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("expected an ISO 8601 datetime, e.g. 2024-05-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if parsed.year == datetime.min.year else datetime.max
        return edge.replace(tzinfo=UTC)


def _none_is_missing(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("missing", "Field required")
    return value


def _strip(value: str) -> str:
    return value.strip(ASCII_SPACE)


def _json_integer(value: Any) -> Any:
    """An integer as JSON spells it (``32`` or ``32.0``), never a string or a boolean."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _species_is_plant(value: Any) -> Any:
    return "Plant" if value == "Species" else value  # the seed's "Plant/Species"


def _attribute_value(value: Any) -> Any:
    """Attribute values are strings on the wire; JSON booleans and numbers are accepted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "examples": ["2022-07-30T08:17:26.658Z"]}),
]
Page = Annotated[int, Field(ge=1, le=MAX_PAGE, description="Page number, from 1.")]
PerPage = Annotated[
    int,
    Field(ge=1, description=f"Page size; default {MAX_PER_PAGE}, larger values are clamped to "
                            f"{MAX_PER_PAGE}."),
    AfterValidator(lambda value: min(value, MAX_PER_PAGE)),
]
PlantId = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[str, BeforeValidator(_none_is_missing),
                 Field(min_length=1, max_length=MAX_NAME, pattern=VISIBLE_TEXT),
                 AfterValidator(_strip)]
Note = Annotated[str, BeforeValidator(_none_is_missing),
                 Field(min_length=1, max_length=MAX_TEXT, pattern=VISIBLE_TEXT,
                       description="What you did and which sources you used."),
                 AfterValidator(_strip)]
Description = Annotated[str, Field(max_length=MAX_TEXT, pattern=NO_NUL), AfterValidator(_strip)]
TYPE_DESCRIPTION = '"Plant" (or "Species", the same) or "Variety".'
TypeIn = Annotated[Literal["Plant", "Variety", "Species"], AfterValidator(_species_is_plant)]
FilterScalar = (Annotated[str, Field(max_length=MAX_FILTER_VALUE)]
                | StrictInt | StrictFloat | StrictBool)
JsonInt = Annotated[int, BeforeValidator(_json_integer)]
FilterValue = FilterScalar | Annotated[list[FilterScalar], Field(max_length=MAX_FILTER_VALUES)]


class _Request(BaseModel):
    """Base of every request model (patterns run on Python's ``re``, as schema-driven clients
    such as Hypothesis generate them)."""

    model_config = ConfigDict(regex_engine="python-re")


# -- the plant object -------------------------------------------------------------------------


class Attribute(BaseModel):
    """One ``{key, value}`` pair of a plant's ``data``."""

    key: str = Field(examples=["Family"])
    value: str = Field(examples=["Moraceae"])


class PlantImages(BaseModel):
    thumb: str = Field(description='Thumbnail URL, "" when the plant has none. Plants that a '
                                   "packaged model names have a licensed reference photo "
                                   "served by this server (192 px JPEG, no key needed; "
                                   "author and licence: docs/plants.md).")
    title: str = Field(description='Title image URL, "" when the plant has none.')


class PlantRead(BaseModel):
    """The seed's plant object: every endpoint that returns a plant returns this shape."""

    id: int
    type: PlantType
    scientific_name: str
    name: str
    version: int = Field(description="Send it back with an update (optimistic locking).")
    description: str = Field(description='"" when the plant has none.')
    link: str = Field(examples=["/plants/morus-alba-white-mulberry"])
    slug: str
    parent_id: int | None = Field(description="The parent plant of a Variety, else null.")
    updated_at: Timestamp
    created_at: Timestamp
    images: PlantImages
    data: list[Attribute] = Field(
        description="Attributes under Permapeople's names (Family, Genus, Layer, Height in "
                    "metres, USDA Hardiness zone as 3-9 ...), in the plant's order.")


class KeysetPagination(BaseModel):
    per_page: int
    total: int = Field(description="Plants in the whole listing (all pages).")
    last_id: int = Field(description="Pass it back as last_id for the next page; on an empty "
                                     "page, the cursor you sent.")
    has_more: bool


class OffsetPagination(BaseModel):
    page: int
    per_page: int
    total: int
    total_pages: int


class KeysetPlantPage(BaseModel):
    """``GET /plants`` in keyset mode (the default)."""

    plants: list[PlantRead]
    pagination: KeysetPagination


class OffsetPlantPage(BaseModel):
    """A page of plants in offset mode: search, varieties, companions, ``/plants?page=``."""

    plants: list[PlantRead]
    pagination: OffsetPagination


class RevisionState(BaseModel):
    """A plant's editable fields as a revision recorded them."""

    type: str
    scientific_name: str
    name: str
    description: str | None
    parent_id: int | None
    version: int
    data: list[Attribute]


class RevisionRead(BaseModel):
    """One accepted create or update (Hortus extension)."""

    id: int
    plant_id: int
    version: int = Field(description="The plant's version this revision produced.")
    note: str
    author: str | None = Field(
        description="The editor's public handle, or `anonymous #<account id>` when they chose "
                    "none (never an e-mail address); null for imported data or a deleted account.",
        examples=["rosa.canina", "anonymous #12"])
    created_at: Timestamp
    before: RevisionState | None = Field(description="null for the revision that created it.")
    after: RevisionState
    changed: list[str] = Field(examples=[["name", "data.Family"]])


class RevisionPage(BaseModel):
    revisions: list[RevisionRead]
    pagination: OffsetPagination


class PermapeopleError(BaseModel):
    """Permapeople's error body, for every error status."""

    error: str = Field(description="Short description.", examples=["not found"])
    msg: str = Field(description="Longer description of what to do.",
                     examples=["There is no plant with id 42."])


# -- query strings ----------------------------------------------------------------------------


class PageQuery(_Request):
    """Offset paging (``page`` and ``per_page``); other query parameters are ignored."""

    page: Page = 1
    per_page: PerPage = MAX_PER_PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def describe(self, total: int) -> OffsetPagination:
        """The seed's offset ``pagination`` object."""
        return OffsetPagination(page=self.page, per_page=self.per_page, total=total,
                                total_pages=math.ceil(total / self.per_page))


class PlantListQuery(_Request):
    """``GET /plants``: keyset paging on ``last_id`` unless ``page`` is given."""

    last_id: int = Field(0, ge=0, le=MAX_ID,
                         description="Cursor: only plants with a greater id (keyset mode).")
    page: Page | None = Field(None, description="Switches to offset mode and returns that page.")
    per_page: PerPage = MAX_PER_PAGE
    updated_since: Annotated[datetime, BeforeValidator(_iso_datetime)] | None = Field(
        None, description="Only plants updated at or after this ISO 8601 time (UTC when no "
                          "offset is given; a date alone means its midnight).")


class SearchFilters(_Request):
    """What search reads besides the words: type, paging, and attribute filters.

    Any other name is an attribute filter (``Layer``, ``Light requirement`` ...) with one value
    or an array of values (matched as OR); ``Name[]`` is the same as ``Name``. Names starting
    with ``_`` (cache busters) and other APIs' paging names are ignored.
    """

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, FilterValue] = Field(init=False)  # type: ignore[assignment]

    type: TypeIn | None = Field(None, description=f"Only this type: {TYPE_DESCRIPTION}")
    page: Page = 1
    per_page: PerPage = MAX_PER_PAGE

    def attribute_filters(self) -> dict[str, list[str]]:
        """Filters by lower-cased attribute name; empty values filter nothing."""
        filters: dict[str, list[str]] = {}
        for name, raw in (self.model_extra or {}).items():
            key = name.strip().removesuffix("[]").strip()
            if not key or key.startswith("_") or key.lower() in NOT_FILTERS:
                continue
            values = [_attribute_value(v) for v in (raw if isinstance(raw, list) else [raw])]
            values = [v.strip().lower() for v in values if v.strip()]
            if values:
                filters.setdefault(key.lower(), []).extend(values)
        return filters


SEARCH_TEXT = "Words to find (names, description, attributes); a word may be a prefix."
SearchText = Annotated[str, Field(min_length=1, max_length=MAX_QUERY,
                                  pattern=SEARCH_TEXT_PATTERN)]


class SearchQuery(SearchFilters):
    """``GET /search``: ``q`` is required."""

    q: SearchText = Field(description=SEARCH_TEXT)


class SearchOptionalQuery(SearchFilters):
    """``POST /search`` query string: ``q`` may come here or in the body."""

    q: SearchText | None = Field(None, description=f"{SEARCH_TEXT} Here or in the body.")


class SearchBody(SearchFilters):
    """``POST /search`` body, e.g. ``{"q": "mint", "Layer": "Herbs",
    "Light requirement": ["Full sun", "Partial sun/shade"]}``."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"q": "mint", "Layer": "Herbs",
                                         "Light requirement": ["Full sun",
                                                               "Partial sun/shade"]}]},
    )

    q: SearchText | None = Field(None, description=f"{SEARCH_TEXT} Here or in the query.")


class SearchCriteria(BaseModel):
    """One search, merged from the query string and the body."""

    q: str
    type: PlantType | None = None
    paging: PageQuery = PageQuery()
    filters: dict[str, list[str]] = {}


def search_criteria(*sources: SearchFilters | None) -> SearchCriteria:
    """Merge the query string and the body (later sources win, field by field)."""
    merged: dict[str, Any] = {}
    filters: dict[str, list[str]] = {}
    for source in sources:
        if source is None:
            continue
        merged.update({name: getattr(source, name) for name in source.model_fields_set
                       if name in ("q", "type", "page", "per_page")
                       and getattr(source, name) is not None})
        filters.update(source.attribute_filters())
    if not merged.get("q"):
        raise InvalidInput("q is required: the text to search for.", error="missing q")
    if len(filters) > MAX_FILTERS:
        raise InvalidInput(f"At most {MAX_FILTERS} attribute filters at once.",
                           error="invalid filter")
    paging = PageQuery(page=merged.get("page", 1), per_page=merged.get("per_page", MAX_PER_PAGE))
    return SearchCriteria(q=merged["q"].strip(), type=merged.get("type"), paging=paging,
                          filters=filters)


# -- bodies -----------------------------------------------------------------------------------


class AttributeIn(_Request):
    key: Annotated[str, Field(min_length=1, max_length=MAX_KEY, pattern=VISIBLE_TEXT),
                   AfterValidator(_strip)]
    value: Annotated[
        str, BeforeValidator(_attribute_value), Field(max_length=MAX_TEXT, pattern=NO_NUL),
        AfterValidator(_strip),
        WithJsonSchema({"anyOf": [{"type": "string", "maxLength": MAX_TEXT, "pattern": NO_NUL},
                                  {"type": "number"}, {"type": "boolean"}],
                        "description": "A string; numbers and booleans are stored as text."}),
    ]


def _last_value_wins(pairs: list[AttributeIn]) -> list[AttributeIn]:
    """A repeated key keeps its first position and its last value."""
    by_key: dict[str, AttributeIn] = {}
    for pair in pairs:
        by_key[pair.key] = pair
    return list(by_key.values())


Attributes = Annotated[list[AttributeIn], Field(max_length=MAX_ATTRIBUTES),
                       AfterValidator(_last_value_wins)]


class _EchoedFields(_Request):
    """Read-only fields of a plant object a client may send back; ignored."""

    model_config = ConfigDict(extra="forbid")

    id: Any = Field(None, description="Ignored (read-only).")
    link: Any = Field(None, description="Ignored (read-only).")
    slug: Any = Field(None, description="Ignored (read-only).")
    updated_at: Any = Field(None, description="Ignored (read-only).")
    created_at: Any = Field(None, description="Ignored (read-only).")
    images: Any = Field(None, description="Ignored (read-only).")


class PlantCreate(_EchoedFields):
    """``POST /plants``: at minimum ``scientific_name``, ``name`` and ``note``."""

    scientific_name: Name
    name: Name
    note: Note
    description: Description | None = None
    type: TypeIn = Field("Plant", description=TYPE_DESCRIPTION)
    parent_id: Annotated[JsonInt, Field(ge=1, le=MAX_ID)] | None = Field(
        None, description="Required for a Variety: an existing Plant's id.")
    data: Attributes = []


CHANGEABLE = ("scientific_name", "name", "description", "type", "parent_id", "data")


class PlantUpdate(_EchoedFields):
    """``PUT /plants/{id}``: the version you read, a note, and at least one changed field.

    ``description`` and ``parent_id`` may be sent as null to clear them; ``data`` is merged
    into the plant's attributes (keys not sent are kept).
    """

    version: Annotated[JsonInt, Field(ge=1, description="The version you last read.")]
    note: Note
    scientific_name: Name | None = None
    name: Name | None = None
    description: Description | None = None
    type: TypeIn | None = Field(None, description=TYPE_DESCRIPTION)
    parent_id: Annotated[JsonInt, Field(ge=1, le=MAX_ID)] | None = Field(
        None, description="The parent Plant of a Variety; null clears it.")
    data: Attributes = []

    @model_validator(mode="after")
    def _changes_something(self) -> PlantUpdate:
        if not self.model_fields_set & set(CHANGEABLE):
            raise PydanticCustomError(
                "no_changes", "Send at least one changed field: " + ", ".join(CHANGEABLE) + ".")
        return self

    def sent(self, field: str) -> bool:
        """Whether the body carried ``field`` (null included): absent means "keep"."""
        return field in self.model_fields_set
