"""Species names in determinations and votes: one spelling per taxon.

Votes are counted per name, so "helianthus annuus", "Helianthus  annuus" and "Helianthus
annuus" must be one name, or the weighted majority would split between them. A name is
accepted when the knowledge base has a plant (or a genus) of that name, or an identification
project has a class of that name, whatever the case and spacing; it is then spelled as the
knowledge base spells it (else as the project does). Anything else is refused: a typo would
otherwise be a species of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hortus.errors import InvalidInput
from hortus.identify.projects import identify_projects
from hortus.plants.models import Plant
from hortus.plants.taxonomy import normalise_name
from hortus.vision.engine import VisionEngine

MAX_NAME_LENGTH = 300
UNKNOWN = "unknown"


def project_classes(engine: VisionEngine) -> dict[str, str]:
    """The identification projects' class names, by their lower-case normalised spelling."""
    return {normalise_name(info.name).lower(): normalise_name(info.name)
            for model in identify_projects(engine) for info in model.classes}


def _knowledge_base_spelling(session: Session, name: str) -> str | None:
    exact = session.scalar(select(Plant.scientific_name).where(
        Plant.type == "Plant", Plant.scientific_name == name).limit(1))
    if exact is not None:
        return exact
    lowered = name.lower()
    found = session.scalar(select(Plant.scientific_name).where(
        Plant.type == "Plant", func.lower(Plant.scientific_name) == lowered)
        .order_by(Plant.id).limit(1))
    if found is not None:
        return found
    return session.scalar(select(Plant.genus).where(
        Plant.type == "Plant", func.lower(Plant.genus) == lowered).order_by(Plant.id).limit(1))


def canonical_name(session: Session, name: str, classes: Mapping[str, str]) -> str | None:
    """The accepted spelling of ``name``, or None when neither the knowledge base nor a
    project knows it."""
    norm = normalise_name(name)
    if not norm or len(norm) > MAX_NAME_LENGTH:
        return None
    return _knowledge_base_spelling(session, norm) or classes.get(norm.lower())


def require_species(session: Session, name: str, classes: Mapping[str, str], *,
                    field: str = "name") -> str:
    """The accepted spelling of a voted species; InvalidInput (400) naming ``field`` when the
    name is empty, too long or unknown."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput(f'"{field}" must name a species.', error="invalid species")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidInput(f'"{field}" is longer than {MAX_NAME_LENGTH} characters.',
                           error="invalid species")
    spelled = canonical_name(session, cleaned, classes)
    if spelled is None:
        raise InvalidInput(f'"{field}": {cleaned[:80]!r} is no species this server knows (see '
                           "GET /v2/species, or the plant database).", error="unknown species")
    return spelled


def suggestion_names(session: Session, names: Iterable[str],
                     classes: Mapping[str, str]) -> dict[str, str]:
    """The accepted spelling of each AI suggestion (a project class, so always known; the
    normalised class name when even the lookup fails)."""
    return {name: canonical_name(session, name, classes) or normalise_name(name)
            for name in dict.fromkeys(names)}
