"""What the server can identify: projects (``/v2/projects``) and species (``/v2/species``).

Projects are the trained identification projects the vision engine has loaded (their active
versions); ``all`` is their union. Species are the projects' class names, named from the
knowledge base in the requested language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hortus.db import Database
from hortus.errors import InvalidInput
from hortus.identify.serialize import species_list_entry
from hortus.identify.service import ALL_PROJECTS, identify_projects, resolve_projects
from hortus.plants.taxonomy import species_records
from hortus.vision.engine import ProjectModel, VisionEngine

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 10000


@dataclass(frozen=True)
class SpeciesPage:
    """Pagination of a species list: ``None`` size means everything (Pl@ntNet's ``""``)."""

    page: int = 1
    page_size: int | None = DEFAULT_PAGE_SIZE
    prefix: str | None = None


def _int(name: str, raw: str, maximum: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise InvalidInput(f'"{name}" must be an integer, not {raw[:40]!r}.',
                           error="bad parameter") from None
    if not 1 <= value <= maximum:
        raise InvalidInput(f'"{name}" must be between 1 and {maximum}.', error="bad parameter")
    return value


def parse_species_page(*, page: str | None, page_size: str | None,
                       prefix: str | None) -> SpeciesPage:
    """``page``/``pageSize`` (``""`` for either disables pagination) and ``prefix``."""
    if page == "" or page_size == "":
        return SpeciesPage(page=1, page_size=None, prefix=prefix or None)
    return SpeciesPage(
        page=_int("page", page, 10**6) if page is not None else 1,
        page_size=_int("pageSize", page_size, MAX_PAGE_SIZE) if page_size is not None
        else DEFAULT_PAGE_SIZE,
        prefix=prefix or None,
    )


def _species_names(models: Sequence[ProjectModel]) -> list[str]:
    return sorted({info.name for model in models for info in model.classes})


def _title(name: str) -> str:
    return name.replace("-", " ").replace("_", " ").strip().capitalize()


def project_object(model: ProjectModel) -> dict[str, Any]:
    """Pl@ntNet's ``Project`` for one trained project."""
    species = _species_names([model])
    top1 = model.metrics.get("top1") if isinstance(model.metrics, dict) else None
    quality = f", held-out top-1 {float(top1):.3f}" if isinstance(top1, int | float) else ""
    return {
        "id": model.name,
        "title": _title(model.name),
        "description": (f"Trained identification project {model.name} (model version "
                        f"{model.version}{quality}): {len(species)} taxa."),
        "speciesCount": len(species),
    }


def project_list(engine: VisionEngine) -> list[dict[str, Any]]:
    """``all`` (when any project exists) followed by every identification project."""
    models = identify_projects(engine)
    if not models:
        return []
    union = {
        "id": ALL_PROJECTS,
        "title": "All projects",
        "description": "The union of every identification project on this server ("
                       + ", ".join(m.name for m in models) + ").",
        "speciesCount": len(_species_names(models)),
    }
    return [union, *(project_object(m) for m in models)]


def species_list(*, database: Database, engine: VisionEngine, project: str, language: str,
                 paging: SpeciesPage) -> list[dict[str, Any]]:
    """The species of one project (or ``all``) sorted by name, filtered by prefix, paginated."""
    names = _species_names(resolve_projects(engine, project))
    if paging.prefix:
        wanted = paging.prefix.strip().lower()
        names = [n for n in names if n.lower().startswith(wanted)]
    if paging.page_size is not None:
        start = (paging.page - 1) * paging.page_size
        names = names[start:start + paging.page_size]
    with database.read() as session:
        records = species_records(session=session, names=names, language=language)
    return [species_list_entry(records[name]) for name in names]
