"""The Permapeople plant object, and Hortus's export form of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hortus.plants.models import Plant, PlantAttribute


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


_PLANT_COLUMNS = (Plant.id, Plant.type, Plant.scientific_name, Plant.name, Plant.version,
                  Plant.description, Plant.slug, Plant.parent_id, Plant.updated_at,
                  Plant.created_at, Plant.image_thumb, Plant.image_title)


def plant_objects(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    """Plant objects for ``ids``, in that order, read with two plain queries (list endpoints
    serve up to 100 plants a page; the ORM's per-object work would dominate their latency)."""
    if not ids:
        return []
    rows = session.execute(select(*_PLANT_COLUMNS).where(Plant.id.in_(ids))).all()
    data: dict[int, list[dict[str, str]]] = {}
    for plant_id, key, value in session.execute(
        select(PlantAttribute.plant_id, PlantAttribute.key, PlantAttribute.value)
        .where(PlantAttribute.plant_id.in_(ids))
        .order_by(PlantAttribute.plant_id, PlantAttribute.position)
    ):
        data.setdefault(plant_id, []).append({"key": key, "value": value})
    by_id = {
        row.id: {
            "id": row.id,
            "type": row.type,
            "scientific_name": row.scientific_name,
            "name": row.name,
            "version": row.version,
            "description": row.description,
            "link": f"/plants/{row.slug}",
            "slug": row.slug,
            "parent_id": row.parent_id,
            "updated_at": format_timestamp(row.updated_at),
            "created_at": format_timestamp(row.created_at),
            "images": {"thumb": row.image_thumb, "title": row.image_title},
            "data": data.get(row.id, []),
        }
        for row in rows
    }
    return [by_id[i] for i in ids if i in by_id]
