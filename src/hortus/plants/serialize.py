"""The Permapeople plant object, and Hortus's export form of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hortus.plants.models import Plant


def format_timestamp(value: datetime) -> str:
    """``2022-07-30T08:17:26.658Z``: UTC, milliseconds, ``Z``, as the seed shows."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def plant_object(plant: Plant) -> dict[str, Any]:
    """Exactly the seed's plant object, keys in the seed's order."""
    return {
        "id": plant.id,
        "type": plant.type,
        "scientific_name": plant.scientific_name,
        "name": plant.name,
        "version": plant.version,
        "description": plant.description,
        "link": f"/plants/{plant.slug}",
        "slug": plant.slug,
        "parent_id": plant.parent_id,
        "updated_at": format_timestamp(plant.updated_at),
        "created_at": format_timestamp(plant.created_at),
        "images": {"thumb": plant.image_thumb, "title": plant.image_title},
        "data": [{"key": a.key, "value": a.value} for a in plant.attributes],
    }


def revision_state(plant: Plant) -> dict[str, Any]:
    """What a revision records: the editable fields (not timestamps or derived links)."""
    return {
        "type": plant.type,
        "scientific_name": plant.scientific_name,
        "name": plant.name,
        "description": plant.description,
        "parent_id": plant.parent_id,
        "version": plant.version,
        "data": [{"key": a.key, "value": a.value} for a in plant.attributes],
    }
