"""The packaged disease catalogue (``diseases.jsonl``) and its loader.

Each line is one crop problem: ``peat_id`` (the stable integer id PEAT clients see), ``eppo``
(only codes checked against EPPO, else null), ``name``, ``scientific_name`` (the pathogen or
pest; null for deficiencies and abiotic disorders), ``pathogen_class``, ``hosts`` (scientific
names of crops), ``symptoms``, ``organic_treatment``, ``chemical_treatment``, ``prevention`` and
``common_names`` ``{language: name}``. See ``SOURCES.md`` (licence, CC BY-SA 4.0) and
``EPPO_VERIFICATION.md``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hortus.diagnose.models import Disease, DiseaseCommonName, DiseaseHost
from hortus.plants.models import Plant

CATALOGUE_FILE = Path(__file__).with_name("diseases.jsonl")


@cache
def catalogue_records(path: Path = CATALOGUE_FILE) -> tuple[dict[str, Any], ...]:
    """The packaged catalogue's records, in file order."""
    with path.open(encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle if line.strip())


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def load_catalogue(session: Session, records: tuple[dict[str, Any], ...] | None = None) -> int:
    """Add the catalogue entries the database does not have yet (by ``peat_id``).

    Existing rows are never touched, so an operator's edits survive restarts and a newer
    catalogue only adds its new entries. Hosts are linked to knowledge-base plants by scientific
    name (case-insensitive); a host the knowledge base lacks keeps its name and no link.
    Returns how many diseases were added.
    """
    records = catalogue_records() if records is None else records
    known = set(session.scalars(select(Disease.id)))
    fresh = [r for r in records if int(r["peat_id"]) not in known]
    if not fresh:
        link_hosts(session)
        return 0
    host_names = {h.lower() for r in fresh for h in r.get("hosts") or []}
    plants: dict[str, int] = {}
    if host_names:
        rows = session.execute(
            select(func.lower(Plant.scientific_name), func.min(Plant.id))
            .where(func.lower(Plant.scientific_name).in_(host_names), Plant.type == "Plant")
            .group_by(func.lower(Plant.scientific_name))
        )
        plants = {name: plant_id for name, plant_id in rows}
    for record in fresh:
        disease = Disease(
            id=int(record["peat_id"]),
            eppo_code=_text(record.get("eppo")),
            name=str(record["name"]).strip(),
            scientific_name=_text(record.get("scientific_name")),
            pathogen_class=str(record.get("pathogen_class") or "unknown").strip().lower(),
            symptoms=_text(record.get("symptoms")),
            organic_treatment=_text(record.get("organic_treatment")),
            chemical_treatment=_text(record.get("chemical_treatment")),
            prevention=_text(record.get("prevention")),
        )
        seen: set[str] = set()
        for position, host in enumerate(record.get("hosts") or []):
            host = str(host).strip()
            if not host or host.lower() in seen:
                continue
            seen.add(host.lower())
            disease.hosts.append(DiseaseHost(scientific_name=host, position=position,
                                             plant_id=plants.get(host.lower())))
        for language, name in sorted((record.get("common_names") or {}).items()):
            if _text(name):
                disease.common_names.append(
                    DiseaseCommonName(language=str(language).lower(), name=str(name).strip())
                )
        session.add(disease)
    session.flush()
    return len(fresh)


def link_hosts(session: Session) -> int:
    """Link hosts to knowledge-base plants added since (plants imported after the catalogue).

    Returns how many host rows were linked now.
    """
    lower_host = func.lower(DiseaseHost.scientific_name)
    plant = (select(func.min(Plant.id))
             .where(func.lower(Plant.scientific_name) == lower_host, Plant.type == "Plant")
             .scalar_subquery())
    linkable = (DiseaseHost.plant_id.is_(None),
                lower_host.in_(select(func.lower(Plant.scientific_name))))
    if not session.scalar(select(func.count()).select_from(DiseaseHost).where(*linkable)):
        return 0
    result = session.execute(update(DiseaseHost).where(*linkable).values(plant_id=plant)
                             .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
