"""What full-text search reads for a plant, and slugs."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from hortus.db import fulltext
from hortus.plants.models import Plant, PlantSearchDocument

TYPE_FACET = "__type__"  # the plant's type, filterable like an attribute


def slugify(text: str) -> str:
    """ASCII, lower-case, dash-separated.

    ``Morus alba White mulberry`` → ``morus-alba-white-mulberry``.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:300] or "plant"


def unique_slug(session: Session, base: str, *, plant_id: int | None = None) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever no other plant has."""
    candidate, n = base, 1
    while True:
        owner = session.scalar(select(Plant.id).where(Plant.slug == candidate))
        if owner is None or owner == plant_id:
            return candidate
        n += 1
        candidate = f"{base}-{n}"


def refresh_document(session: Session, plant: Plant) -> None:
    """Rewrite the plant's search document from its current fields."""
    names = " ".join([plant.scientific_name, plant.name, *(c.name for c in plant.common_names)])
    body = " ".join(
        filter(
            None,
            [
                plant.description,
                plant.genus,
                plant.family,
                *(f"{a.key} {a.value}" for a in plant.attributes),
            ],
        )
    )
    facets = " ".join(
        fulltext.facet_tokens(
            [(TYPE_FACET, plant.type), *((a.key, a.value) for a in plant.attributes)]
        )
    )
    document = session.get(PlantSearchDocument, plant.id)
    if document is None:
        session.add(PlantSearchDocument(plant_id=plant.id, names=names, body=body, facets=facets))
    elif (document.names, document.body, document.facets) != (names, body, facets):
        document.names, document.body, document.facets = names, body, facets
