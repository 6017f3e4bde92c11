"""Reading the disease catalogue: browse it, and map model classes and crops onto it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hortus.diagnose.models import Disease, DiseaseCommonName, DiseaseHost
from hortus.diagnose.recognition import CropModel
from hortus.errors import InvalidInput, NotFound
from hortus.plants.models import CommonName, Plant

_EPPO = re.compile(r"^[A-Z0-9]{5,6}$")
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class DiseaseRef:
    """What an ``image_analysis`` entry shows of a disease."""

    peat_id: int | None
    eppo: str | None
    name: str
    scientific_name: str | None


def disease_ref(disease: Disease) -> DiseaseRef:
    """The answer-facing part of a catalogue row."""
    return DiseaseRef(peat_id=disease.id, eppo=disease.eppo_code, name=disease.name,
                      scientific_name=disease.scientific_name)


def resolve_classes(*, session: Session, names: list[str],
                    crop: str | None = None) -> dict[str, DiseaseRef]:
    """Map class names (``classes.csv``'s ``name`` column) to catalogue entries.

    A name is a ``peat_id`` (digits), an EPPO code, or a scientific or English name
    (case-insensitive). Where several entries match, one that lists ``crop`` as a host wins,
    then the lowest id. Names that match nothing are left out.
    """
    wanted = [n.strip() for n in names if n.strip()]
    if not wanted:
        return {}
    ids = [int(n) for n in wanted if n.isdigit()]
    codes = [n.upper() for n in wanted if _EPPO.match(n.upper())]
    lowered = [n.lower() for n in wanted]
    rows = session.scalars(select(Disease).where(or_(
        Disease.id.in_(ids), Disease.eppo_code.in_(codes),
        func.lower(Disease.scientific_name).in_(lowered), func.lower(Disease.name).in_(lowered),
    )).order_by(Disease.id)).all()

    def fits(name: str, disease: Disease) -> bool:
        return ((name.isdigit() and disease.id == int(name))
                or disease.eppo_code == name.upper()
                or (disease.scientific_name or "").lower() == name.lower()
                or disease.name.lower() == name.lower())

    def hosted(disease: Disease) -> bool:
        return bool(crop) and any(h.scientific_name.lower() == (crop or "").lower()
                                  for h in disease.hosts)

    mapped: dict[str, DiseaseRef] = {}
    for name in wanted:
        matches = [d for d in rows if fits(name, d)]
        if matches:
            best = min(matches, key=lambda d: (not hosted(d), d.id))
            mapped[name] = disease_ref(best)
    return mapped


def crop_aliases(*, session: Session, crops: list[CropModel]) -> dict[str, set[str]]:
    """The lower-case names a client may give in the ``crop`` header for each crop model.

    The project's name (``bean``), the crop's scientific name and genus (``phaseolus
    vulgaris``, ``phaseolus``) and every common name the knowledge base has for it, in any
    language (``common bean``, ``french bean``, ``haricot`` ...).
    """
    aliases = {c.project: {c.project.lower(), c.project.replace("_", " ").lower()} for c in crops}
    scientific = {c.crop.lower(): c.project for c in crops if c.crop}
    for c in crops:
        if c.crop:
            aliases[c.project].update({c.crop.lower(), c.crop.split()[0].lower()})
    if scientific:
        rows = session.execute(
            select(func.lower(Plant.scientific_name), Plant.name, CommonName.name)
            .outerjoin(CommonName, CommonName.plant_id == Plant.id)
            .where(func.lower(Plant.scientific_name).in_(list(scientific)))
        )
        for plant, name, common in rows:
            aliases[scientific[plant]].update(n.lower() for n in (name, common) if n)
    return aliases


def match_crop(crop: str, aliases: dict[str, set[str]]) -> str | None:
    """The project whose aliases include ``crop`` (case-insensitive, plural ``s`` tolerated)."""
    wanted = " ".join(crop.lower().replace("_", " ").split())
    candidates = {wanted, wanted[:-1] if wanted.endswith("s") else wanted}
    for project, names in sorted(aliases.items()):
        if candidates & names:
            return project
    return None


def disease_object(disease: Disease) -> dict[str, Any]:
    """A catalogue entry as ``/v1/diseases`` shows it."""
    return {
        "peat_id": disease.id,
        "eppo": disease.eppo_code,
        "name": disease.name,
        "scientific_name": disease.scientific_name,
        "pathogen_class": disease.pathogen_class,
        "hosts": [{"scientific_name": h.scientific_name, "plant_id": h.plant_id}
                  for h in disease.hosts],
        "common_names": {n.language: n.name for n in disease.common_names},
        "symptoms": disease.symptoms,
        "organic_treatment": disease.organic_treatment,
        "chemical_treatment": disease.chemical_treatment,
        "prevention": disease.prevention,
    }


def list_diseases(*, session: Session, page: int = 1, per_page: int = 20,
                  crop: str | None = None, pathogen_class: str | None = None,
                  eppo: str | None = None, q: str | None = None) -> dict[str, Any]:
    """A page of the catalogue, by ``peat_id``, optionally filtered.

    ``crop`` is a host's scientific name or a knowledge-base common name of it; ``q`` matches
    the name, scientific name or a common name (substring, case-insensitive).
    """
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"page must be >= 1 and per_page from 1 to {MAX_PER_PAGE}.",
                           error="invalid paging")
    query = select(Disease)
    if crop:
        hosts = select(DiseaseHost.disease_id).outerjoin(
            CommonName, CommonName.plant_id == DiseaseHost.plant_id
        ).where(or_(func.lower(DiseaseHost.scientific_name) == crop.strip().lower(),
                    func.lower(CommonName.name) == crop.strip().lower()))
        query = query.where(Disease.id.in_(hosts))
    if pathogen_class:
        query = query.where(Disease.pathogen_class == pathogen_class.strip().lower())
    if eppo:
        query = query.where(Disease.eppo_code == eppo.strip().upper())
    if q:
        pattern = f"%{q.strip().lower()}%"
        names = select(DiseaseCommonName.disease_id).where(
            func.lower(DiseaseCommonName.name).like(pattern))
        query = query.where(or_(func.lower(Disease.name).like(pattern),
                                func.lower(Disease.scientific_name).like(pattern),
                                Disease.id.in_(names)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Disease.id).offset((page - 1) * per_page)
                           .limit(per_page)).all()
    return {"page": page, "per_page": per_page, "total": total,
            "diseases": [disease_object(d) for d in rows]}


def get_disease(*, session: Session, peat_id: int) -> Disease:
    """One catalogue entry, or NotFound."""
    disease = session.get(Disease, peat_id)
    if disease is None:
        raise NotFound(f"There is no disease with peat_id {peat_id}.", error="unknown disease")
    return disease
