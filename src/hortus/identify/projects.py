"""Which trained projects answer for a project id in a URL (``/v2/identify/{project}``,
``/v2/projects/{project}/species``).

In order:

1. ``all``: every identification project (their union);
2. a local identification project, by name;
3. an operator's alias (``HORTUS_PROJECT_ALIASES``, e.g. ``{"k-world-flora": "flowers"}``) to
   ``all`` or a local project;
4. a Pl@ntNet project id: ``all``. Public clients hard-code Pl@ntNet's floras, and a
   self-hosted server has none of them, so the union flora answers in their place;
5. anything else: 404 "Project not found" (never "Species not found", which says the photos
   matched no species).

A Pl@ntNet project id is one of Pl@ntNet's floras: the 2023+ "kt" floras, all named ``k-`` then
lowercase words joined by hyphens (``k-world-flora``, ``k-southwestern-europe``,
``k-middle-europe``, ...), or one of the legacy (2022) project ids in :data:`LEGACY_PROJECT_IDS`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from hortus.errors import NotFound
from hortus.vision.engine import ProjectModel, VisionEngine

ALL_PROJECTS = "all"
IDENTIFY_TASK = "identify"
PROJECT_NOT_FOUND = "Project not found"
KT_PROJECT = re.compile(r"k-[a-z0-9]+(?:-[a-z0-9]+)*")
# Pl@ntNet's legacy floras (type "legacy"), as public clients and examples name them.
LEGACY_PROJECT_IDS = frozenset({
    "weurope", "canada", "namerica", "the-plant-list", "useful", "invasion", "weeds", "prota",
    "prosea", "afn", "martinique", "reunion", "guyane", "hawai", "polynesiefr", "endemia",
    "lewa", "medor",
})

logger = logging.getLogger("hortus")


def is_plantnet_project(project: str) -> bool:
    """True for an id of one of Pl@ntNet's own floras (see the module docstring)."""
    return project in LEGACY_PROJECT_IDS or KT_PROJECT.fullmatch(project) is not None


def identify_projects(engine: VisionEngine) -> list[ProjectModel]:
    """The loaded identification projects, by name."""
    return engine.projects(IDENTIFY_TASK)


def _not_found() -> NotFound:
    return NotFound(PROJECT_NOT_FOUND, error="project not found")


def _local(engine: VisionEngine, name: str) -> list[ProjectModel] | None:
    if name == ALL_PROJECTS:
        return identify_projects(engine) or None
    try:
        model = engine.project(name)
    except KeyError:
        return None
    return [model] if model.task == IDENTIFY_TASK else None


def resolve_projects(engine: VisionEngine, project: str,
                     aliases: Mapping[str, str] | None = None) -> list[ProjectModel]:
    """The models answering for ``project``; NotFound("Project not found") when none do."""
    models = _local(engine, project)
    if models is not None:
        return models
    if aliases and project in aliases:
        models = _local(engine, aliases[project])
        if models is None:
            logger.warning("HORTUS_PROJECT_ALIASES maps %r to %r, which is not an "
                           "identification project here", project, aliases[project])
            raise _not_found()
        return models
    if is_plantnet_project(project):
        models = _local(engine, ALL_PROJECTS)
        if models is not None:
            return models
    raise _not_found()
