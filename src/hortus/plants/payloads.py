"""Request bodies of the knowledge base, validated into typed values with clear errors.

Bodies are checked by hand rather than by a Pydantic model so that every problem is reported in
Permapeople's own words and format, and so that "field absent" and "field null" stay distinct
(an update may clear a description, but must not clear it by omission).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hortus.errors import InvalidInput
from hortus.plants.models import PLANT_TYPES

MAX_TEXT = 20_000
MAX_NAME = 300
MAX_ATTRIBUTES = 200

CREATE_FIELDS = {"scientific_name", "name", "note", "description", "type", "parent_id", "data"}
UPDATE_FIELDS = {
    "version",
    "note",
    "scientific_name",
    "name",
    "description",
    "type",
    "parent_id",
    "data",
}
# Read-only fields a client may echo back from a plant object it read; ignored.
ECHO_FIELDS = {"id", "link", "slug", "updated_at", "created_at", "images"}


@dataclass(frozen=True)
class PlantCreate:
    scientific_name: str
    name: str
    note: str
    description: str | None = None
    type: str = "Plant"
    parent_id: int | None = None
    data: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class PlantChanges:
    version: int
    note: str
    scientific_name: str | None = None
    name: str | None = None
    description: str | None = None
    description_given: bool = False
    type: str | None = None
    parent_id: int | None = None
    parent_id_given: bool = False
    data: list[tuple[str, str]] = field(default_factory=list)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.", error="invalid body")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool, limit: int = MAX_NAME) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"{name} is required.", error=f"missing {name}")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string.", error=f"invalid {name}")
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{name} must not be empty.", error=f"missing {name}")
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters.", error=f"invalid {name}")
    if "\x00" in value:
        raise InvalidInput(f"{name} contains a NUL character.", error=f"invalid {name}")
    return value


def _type(body: dict[str, Any]) -> str | None:
    value = body.get("type")
    if value is None:
        return None
    if value == "Species":  # the seed's search doc calls plants "Plant/Species"
        value = "Plant"
    if value not in PLANT_TYPES:
        raise InvalidInput("type must be Plant or Variety.", error="invalid type")
    return str(value)


def _parent_id(body: dict[str, Any]) -> int | None:
    value = body.get("parent_id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > 2**62:
        raise InvalidInput("parent_id must be a positive integer.", error="invalid parent_id")
    return value


def parse_data(value: Any) -> list[tuple[str, str]]:
    """``[{key, value}, ...]`` → ordered pairs (a repeated key keeps its last value)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput("data must be an array of {key, value} objects.", error="invalid data")
    if len(value) > MAX_ATTRIBUTES:
        raise InvalidInput(f"data has more than {MAX_ATTRIBUTES} entries.", error="invalid data")
    pairs: dict[str, str] = {}
    for item in value:
        if not isinstance(item, dict) or "key" not in item or "value" not in item:
            raise InvalidInput(
                "Every data entry must be an object with key and value.", error="invalid data"
            )
        key, raw = item["key"], item["value"]
        if not isinstance(key, str) or not key.strip() or len(key) > 200 or "\x00" in key:
            raise InvalidInput(
                "data keys must be non-empty strings (at most 200 characters).",
                error="invalid data",
            )
        if isinstance(raw, bool):
            raw = "true" if raw else "false"
        elif isinstance(raw, int | float):
            raw = str(raw)
        if not isinstance(raw, str) or len(raw) > MAX_TEXT or "\x00" in raw:
            raise InvalidInput(
                f"The value of data key {key!r} must be a string.", error="invalid data"
            )
        pairs[key.strip()] = raw.strip()
    return list(pairs.items())


def _unknown(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed - ECHO_FIELDS)
    if unknown:
        raise InvalidInput(
            f"Unknown field(s): {', '.join(unknown)[:200]}. Allowed: {', '.join(sorted(allowed))}.",
            error="unknown field",
        )


def parse_create(body: Any) -> PlantCreate:
    body = _object(body)
    _unknown(body, CREATE_FIELDS)
    type_ = _type(body) or "Plant"
    return PlantCreate(
        scientific_name=_text(body, "scientific_name", required=True) or "",
        name=_text(body, "name", required=True) or "",
        note=_text(body, "note", required=True, limit=MAX_TEXT) or "",
        description=_text(body, "description", required=False, limit=MAX_TEXT),
        type=type_,
        parent_id=_parent_id(body),
        data=parse_data(body.get("data")),
    )


def parse_changes(body: Any) -> PlantChanges:
    body = _object(body)
    _unknown(body, UPDATE_FIELDS)
    if "version" not in body:
        raise InvalidInput(
            "version is required: send the version you last read.", error="missing version"
        )
    version = body["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput("version must be a positive integer.", error="invalid version")
    changed = set(body) & (UPDATE_FIELDS - {"version", "note"})
    if not changed:
        raise InvalidInput(
            "Send at least one changed field: scientific_name, name, description, type, "
            "parent_id or data.",
            error="no changes",
        )
    return PlantChanges(
        version=version,
        note=_text(body, "note", required=True, limit=MAX_TEXT) or "",
        scientific_name=None
        if "scientific_name" not in body
        else _text(body, "scientific_name", required=True),
        name=None if "name" not in body else _text(body, "name", required=True),
        description=_text(body, "description", required=False, limit=MAX_TEXT),
        description_given="description" in body,
        type=_type(body),
        parent_id=_parent_id(body),
        parent_id_given="parent_id" in body,
        data=parse_data(body.get("data")),
    )
