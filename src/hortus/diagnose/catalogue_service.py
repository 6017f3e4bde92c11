"""Reading the disease catalogue: browse it, and map model classes and crops onto it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from hortus.diagnose import schemas
from hortus.diagnose.catalogue import catalogue_keys
from hortus.diagnose.catalogue.hosts import host_name_key, host_name_sql, species_key
from hortus.diagnose.models import Disease, DiseaseCommonName, DiseaseHost
from hortus.diagnose.recognition import CropModel
from hortus.errors import NotFound
from hortus.plants.models import ExternalId, Plant
from hortus.plants.search import exact_name_ids

_EPPO = re.compile(r"^[A-Z0-9]{5,6}$")


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


def hosts_crop(disease: Disease, crop: str | None) -> bool:
    """Whether ``crop`` (a scientific name) is one of the disease's hosts, hybrid signs aside;
    a subspecies or variety counts as its species (``Brassica oleracea var. capitata``)."""
    if not crop:
        return False
    key = host_name_key(crop)
    wanted = {key, species_key(key) or key}
    return any(host_name_key(h.scientific_name) in wanted for h in disease.hosts)


def resolve_classes(*, session: Session, names: list[str],
                    crop: str | None = None) -> dict[str, DiseaseRef]:
    """Map class names (``classes.csv``'s ``name`` column) to catalogue entries.

    A name is first a catalogue ``key`` (``late-blight-potato-tomato``; the stable key of the
    packaged ``diseases.jsonl``, which does not depend on an EPPO code), else a ``peat_id``
    (digits), an EPPO code (older models: the packaged bean model names ``PHAIGR``), or a
    scientific or English name (case-insensitive). Where several entries match a fallback, one
    that lists ``crop`` as a host wins, then the lowest id. Names that match nothing are left
    out (``healthy`` is no entry).
    """
    wanted = [n.strip() for n in names if n.strip()]
    if not wanted:
        return {}
    keys = catalogue_keys()
    keyed = {n: keys[n.lower()] for n in wanted if n.lower() in keys}
    ids = [int(n) for n in wanted if n.isdigit()] + list(keyed.values())
    codes = [n.upper() for n in wanted if _EPPO.match(n.upper())]
    lowered = [n.lower() for n in wanted]
    rows = session.scalars(select(Disease).where(or_(
        Disease.id.in_(ids), Disease.eppo_code.in_(codes),
        func.lower(Disease.scientific_name).in_(lowered), func.lower(Disease.name).in_(lowered),
    )).order_by(Disease.id)).all()
    by_id = {d.id: d for d in rows}

    def fits(name: str, disease: Disease) -> bool:
        return ((name.isdigit() and disease.id == int(name))
                or disease.eppo_code == name.upper()
                or (disease.scientific_name or "").lower() == name.lower()
                or disease.name.lower() == name.lower())

    mapped: dict[str, DiseaseRef] = {}
    for name in wanted:
        if name in keyed and keyed[name] in by_id:
            mapped[name] = disease_ref(by_id[keyed[name]])
            continue
        matches = [d for d in rows if fits(name, d)]
        if matches:
            best = min(matches, key=lambda d: (not hosts_crop(d, crop), d.id))
            mapped[name] = disease_ref(best)
    return mapped


def _crop_words(crop: str) -> set[str]:
    """``crop`` lower-cased with spaces for underscores, and without a plural ``s``."""
    wanted = " ".join(crop.lower().replace("_", " ").split())
    return {w for w in (wanted, wanted.removesuffix("s")) if w}


def _plants_named(session: Session, words: set[str]) -> list[Plant]:
    """Knowledge-base plants one of ``words`` names: by any name the plants domain knows
    (scientific, primary, common in any language) or by EPPO code; a variety stands for its
    species."""
    ids: set[int] = set()
    for word in words:
        ids |= exact_name_ids(session, word)
    codes = [w.upper() for w in words if _EPPO.match(w.upper())]
    if codes:
        ids |= set(session.scalars(select(ExternalId.plant_id).where(
            ExternalId.system == "eppo", func.upper(ExternalId.value).in_(codes))))
    plants = [p for p in (session.get(Plant, i) for i in sorted(ids)) if p is not None]
    parents = [session.get(Plant, p.parent_id) for p in plants if p.parent_id is not None]
    return plants + [p for p in parents if p is not None]


def crop_project(*, session: Session, crop: str, crops: list[CropModel]) -> str | None:
    """The diagnosis project the ``crop`` header names, or None when no model diagnoses it.

    A crop is named by the project (``bean``), its crop's scientific name or genus
    (``Phaseolus vulgaris``, ``Phaseolus``), or any name the knowledge base has for that plant:
    its EPPO code (``PHSVX``), scientific, primary or common name in any language (``French
    bean``, ``haricot``); case-insensitive, a plural ``s`` tolerated, scientific names compared
    without hybrid signs (``Citrus sinensis`` names a model of ``Citrus × sinensis``).
    """
    words = _crop_words(crop)
    if not words:
        return None
    keys = words | {host_name_key(w) for w in words}
    for model in sorted(crops, key=lambda c: c.project):
        names = {model.project.lower(), model.project.replace("_", " ").lower()}
        if model.crop:
            names |= {host_name_key(model.crop), host_name_key(model.crop).split()[0]}
        if keys & names:
            return model.project
    by_crop = {host_name_key(c.crop): c.project
               for c in sorted(crops, key=lambda c: c.project) if c.crop}
    if not by_crop:
        return None
    for plant in _plants_named(session, words):
        key = host_name_key(plant.scientific_name)
        project = by_crop.get(key) or by_crop.get(species_key(key) or key)
        if project is not None:
            return project
    return None


def disease_read(disease: Disease) -> schemas.Disease:
    """A catalogue entry as ``/v1/diseases`` shows it."""
    return schemas.Disease(
        peat_id=disease.id,
        eppo=disease.eppo_code,
        name=disease.name,
        scientific_name=disease.scientific_name,
        pathogen_class=disease.pathogen_class,
        hosts=[schemas.DiseaseHost(scientific_name=h.scientific_name, plant_id=h.plant_id)
               for h in disease.hosts],
        common_names={n.language: n.name for n in disease.common_names},
        symptoms=disease.symptoms,
        organic_treatment=disease.organic_treatment,
        chemical_treatment=disease.chemical_treatment,
        prevention=disease.prevention,
    )


def crop_hosts(*, session: Session, crop: str) -> Select[int]:
    """The ids of the diseases that list ``crop`` as a host, as a subquery.

    ``crop`` is a scientific name (hybrid signs aside: ``Citrus sinensis`` finds hosts written
    ``Citrus × sinensis``) or any name the knowledge base has for a plant (common names in any
    language, EPPO code; a cultivar stands for its species). A subspecies or variety also finds
    its species' problems: ``broccoli`` (*Brassica oleracea* var. *italica*) lists clubroot,
    which names *Brassica oleracea*.
    """
    words = _crop_words(crop)
    plants = _plants_named(session, words)
    names = {host_name_key(w) for w in words} | {host_name_key(p.scientific_name) for p in plants}
    names |= {s for s in (species_key(n) for n in list(names)) if s is not None}
    return select(DiseaseHost.disease_id).where(or_(
        host_name_sql(DiseaseHost.scientific_name).in_(sorted(names)),
        DiseaseHost.plant_id.in_([p.id for p in plants])))


def list_diseases(*, session: Session, query: schemas.DiseaseQuery) -> schemas.DiseasePage:
    """A page of the catalogue, by ``peat_id``, optionally filtered.

    ``crop`` is a host's scientific name or any name the knowledge base has for a host plant
    (:func:`crop_hosts`); ``q`` matches the name, scientific name or a common name (substring,
    case-insensitive).
    """
    select_diseases = select(Disease)
    if query.crop and query.crop.strip():
        select_diseases = select_diseases.where(
            Disease.id.in_(crop_hosts(session=session, crop=query.crop)))
    if query.pathogen_class:
        select_diseases = select_diseases.where(
            Disease.pathogen_class == query.pathogen_class.strip().lower())
    if query.eppo:
        select_diseases = select_diseases.where(Disease.eppo_code == query.eppo.strip().upper())
    if query.q:
        pattern = f"%{query.q.strip().lower()}%"
        names = select(DiseaseCommonName.disease_id).where(
            func.lower(DiseaseCommonName.name).like(pattern))
        select_diseases = select_diseases.where(or_(
            func.lower(Disease.name).like(pattern),
            func.lower(Disease.scientific_name).like(pattern), Disease.id.in_(names)))
    total = session.scalar(select(func.count()).select_from(select_diseases.subquery())) or 0
    rows = session.scalars(select_diseases.order_by(Disease.id)
                           .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return schemas.DiseasePage(page=query.page, per_page=query.per_page, total=total,
                               diseases=[disease_read(d) for d in rows])


def get_disease(*, session: Session, peat_id: int) -> schemas.Disease:
    """One catalogue entry, or NotFound."""
    disease = session.get(Disease, peat_id)
    if disease is None:
        raise NotFound(f"There is no disease with peat_id {peat_id}.", error="unknown disease")
    return disease_read(disease)
