"""A plant's whole profile for people: names in every language (named in words), readable
attribute values, its photo and credit, links, varieties, ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hortus.errors import NotFound
from hortus.plants.display import language_name, readable_attributes
from hortus.plants.images import image_credits
from hortus.plants.models import Plant, PlantRelation, Taxon


def _linked(session: Session, plant_id: int, kind: str) -> list[Plant]:
    others = select(PlantRelation.other_id).where(PlantRelation.plant_id == plant_id,
                                                  PlantRelation.kind == kind)
    return list(session.scalars(select(Plant).where(Plant.id.in_(others)).order_by(Plant.name)))


def plant_profile(*, session: Session, slug: str) -> dict[str, Any]:
    """Everything the knowledge base knows about the plant with this slug."""
    plant = session.scalar(select(Plant).where(Plant.slug == slug))
    if plant is None:
        raise NotFound(f"There is no plant {slug[:80]!r}.")
    names: dict[str, list[str]] = {}
    for common in plant.common_names:
        names.setdefault(common.language, []).append(common.name)
    taxa: dict[tuple[str, str | None], str | None] = {
        (t.rank, t.name): t.authorship
        for t in session.scalars(select(Taxon).where(Taxon.name.in_(
            [n for n in (plant.genus, plant.family) if n])))
    }
    credits = [c for c in image_credits(session, plant.id) if c["url"] == plant.image_thumb]
    return {
        "plant": plant,
        "names": dict(sorted(names.items())),
        # [(code, "German", ["Tomate"]), ...], English first, then by language name.
        "names_by_language": sorted(
            ((code, language_name(code), values) for code, values in names.items()),
            key=lambda entry: (entry[0] != "en", entry[1])),
        "attributes": readable_attributes((a.key, a.value) for a in plant.attributes),
        "photo": {"url": plant.image_thumb, "author": credits[0]["author"] if credits else None,
                  "licence": credits[0]["licence"] if credits else None}
        if plant.image_thumb else None,
        "external_ids": {e.system: e.value for e in plant.external_ids},
        "genus_authorship": taxa.get(("genus", plant.genus)),
        "family_authorship": taxa.get(("family", plant.family)),
        "companions": _linked(session, plant.id, "companion"),
        "antagonists": _linked(session, plant.id, "antagonist"),
        "varieties": list(session.scalars(
            select(Plant).where(Plant.parent_id == plant.id).order_by(Plant.name))),
        "parent": session.get(Plant, plant.parent_id) if plant.parent_id else None,
    }
