"""What the server can identify: projects (``/v2/projects``) and species (``/v2/species``).

Projects are the trained identification projects the vision engine has loaded (their active
versions); ``all`` is their union. Species are the projects' class names, named from the
knowledge base in the requested language. A project id in a URL is resolved by
:mod:`hortus.identify.projects` (Pl@ntNet's own ids and operator aliases included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from hortus.db import Database
from hortus.errors import NotFound
from hortus.identify.projects import ALL_PROJECTS, identify_projects, resolve_projects
from hortus.identify.schemas import Project, SpeciesEntry, SpeciesQuery
from hortus.identify.serialize import species_list_entry
from hortus.identify.service import load_engine
from hortus.inference import Inference
from hortus.plants.taxonomy import species_records
from hortus.vision.engine import ProjectModel, VisionEngine
from hortus.vision.media import reference_media_key


@dataclass(frozen=True)
class SpeciesPage:
    """Pagination of a species list: ``None`` size means everything (Pl@ntNet's ``""``)."""

    page: int = 1
    page_size: int | None = 100
    prefix: str | None = None

    @classmethod
    def from_query(cls, query: SpeciesQuery) -> SpeciesPage:
        """``page``/``pageSize`` (``""`` for either disables pagination) and ``prefix``; the
        query model has already checked they are positive integers or empty."""
        prefix = query.prefix or None
        if query.page == "" or query.page_size == "":
            return cls(page=1, page_size=None, prefix=prefix)
        return cls(page=int(query.page), page_size=int(query.page_size), prefix=prefix)


def _species_names(models: Sequence[ProjectModel]) -> list[str]:
    return sorted({info.name for model in models for info in model.classes})


def _title(name: str) -> str:
    return name.replace("-", " ").replace("_", " ").strip().capitalize()


def project_object(model: ProjectModel) -> Project:
    """Pl@ntNet's ``Project`` for one trained project."""
    species = _species_names([model])
    top1 = model.metrics.get("top1") if isinstance(model.metrics, dict) else None
    quality = f", held-out top-1 {float(top1):.3f}" if isinstance(top1, int | float) else ""
    return Project(
        id=model.name, title=_title(model.name),
        description=(f"Trained identification project {model.name} (model version "
                     f"{model.version}{quality}): {len(species)} taxa."),
        species_count=len(species),
    )


def _project_list(engine: VisionEngine) -> list[Project]:
    models = identify_projects(engine)
    if not models:
        return []
    union = Project(
        id=ALL_PROJECTS, title="All projects",
        description="The union of every identification project on this server ("
                    + ", ".join(m.name for m in models) + ").",
        species_count=len(_species_names(models)),
    )
    return [union, *(project_object(m) for m in models)]


async def list_projects(*, inference: Inference) -> list[Project]:
    """``all`` (when any project exists) followed by every identification project."""
    return _project_list(await load_engine(inference))


def _species_list(database: Database, models: Sequence[ProjectModel], language: str,
                  paging: SpeciesPage) -> list[SpeciesEntry]:
    names = _species_names(models)
    if paging.prefix:
        wanted = paging.prefix.strip().lower()
        names = [n for n in names if n.lower().startswith(wanted)]
    if paging.page_size is not None:
        start = (paging.page - 1) * paging.page_size
        names = names[start:start + paging.page_size]
    with database.read() as session:
        records = species_records(session=session, names=names, language=language)
    return [species_list_entry(records[name]) for name in names]


async def list_species(*, inference: Inference, database: Database, project: str,
                       query: SpeciesQuery,
                       aliases: Mapping[str, str] | None = None) -> list[SpeciesEntry]:
    """The species of one project (or ``all``) sorted by name, filtered by prefix, paginated;
    NotFound("Project not found") for a project that resolves to none."""
    engine = await load_engine(inference)
    models = resolve_projects(engine, project, aliases)
    paging = SpeciesPage.from_query(query)
    return await run_in_threadpool(_species_list, database, models, query.lang, paging)


def reference_image_key(*, sha256: str, size: str) -> str:
    """The media key of a reference photo in one size (``o``, ``m``, ``s``); NotFound for
    anything that names none."""
    try:
        return reference_media_key(sha256, size)
    except ValueError:
        raise NotFound("Image not found", error="image not found") from None
