"""Names of many taxa at once, for services that report species (identification, diagnosis).

:func:`species_records` answers "what does the knowledge base know about these scientific
names?" in two queries whatever the number of names: one for the plants (with their genus and
family authorship), one for their common names, external ids and a few care attributes.
:func:`cached_records` and :func:`read_records` keep the answers for a minute per name and
language, for the API services that ask about the same few species request after request.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, literal, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from hortus.db import Database
from hortus.plants.models import CommonName, ExternalId, Plant, PlantAttribute, Taxon

FALLBACK_LANGUAGE = "en"
# The attributes a gardener asks for first, shown beside an identification's name.
CARE_KEYS = (
    "Light requirement", "Water requirement", "Soil type", "USDA Hardiness zone", "Life cycle",
    "Height", "Edible", "Warning",
)
_HYBRID = re.compile(r"(?<=\s)[xX](?=\s)")


@dataclass(frozen=True)
class TaxonName:
    """A genus or family: its name and authorship (``None`` when unknown)."""

    name: str
    authorship: str | None = None


@dataclass(frozen=True)
class SpeciesRecord:
    """What the knowledge base knows about one scientific name (a species or a genus)."""

    name: str  # the name as asked
    scientific_name: str
    authorship: str | None = None
    genus: TaxonName | None = None
    family: TaxonName | None = None
    plant_id: int | None = None  # the plant of that name, when the knowledge base has it
    common_names: list[str] = field(default_factory=list)
    external_ids: dict[str, str] = field(default_factory=dict)
    care: dict[str, str] = field(default_factory=dict)


def normalise_name(name: str) -> str:
    """A scientific name as the knowledge base spells it: single spaces, hybrid sign ``×``."""
    return _HYBRID.sub("×", " ".join(name.split()))


def language_chain(language: str) -> list[str]:
    """Languages to try in order: ``pt-br`` → ``pt-br``, ``pt``, ``en``."""
    chain = [language.lower()]
    base = chain[0].split("-")[0]
    for candidate in (base, FALLBACK_LANGUAGE):
        if candidate not in chain:
            chain.append(candidate)
    return chain


def species_records(
    *, session: Session, names: Iterable[str], language: str = FALLBACK_LANGUAGE,
    care_keys: Sequence[str] = CARE_KEYS,
) -> dict[str, SpeciesRecord]:
    """Records for every name (keys: the names as given), in two queries.

    A name matching a plant gets its authorship, genus, family, common names in ``language``
    (falling back to its base language, then English), external ids and care attributes. A
    genus name without a plant of its own (a model class such as ``Crocus``) gets its genus
    authorship and family from any plant of that genus. Unknown names get a bare record.
    """
    asked = {name: normalise_name(name) for name in dict.fromkeys(names)}
    wanted = set(asked.values())
    if not wanted:
        return {}
    genus_taxon, family_taxon = aliased(Taxon), aliased(Taxon)
    rows = session.execute(
        select(Plant.id, Plant.scientific_name, Plant.authorship, Plant.genus, Plant.family,
               genus_taxon.authorship, family_taxon.authorship)
        .outerjoin(genus_taxon, and_(genus_taxon.rank == "genus", genus_taxon.name == Plant.genus))
        .outerjoin(family_taxon,
                   and_(family_taxon.rank == "family", family_taxon.name == Plant.family))
        .where(Plant.type == "Plant",
               or_(Plant.scientific_name.in_(wanted), Plant.genus.in_(wanted)))
        .order_by(Plant.id)
    ).all()
    by_name: dict[str, tuple] = {}
    by_genus: dict[str, tuple] = {}
    for row in rows:
        by_name.setdefault(row[1], row)
        if row[3]:
            by_genus.setdefault(row[3], row)
    plant_ids = sorted({by_name[n][0] for n in wanted if n in by_name})
    extras = _plant_extras(session, plant_ids, language_chain(language), care_keys)
    return {name: _record(name, norm, by_name.get(norm), by_genus.get(norm), extras)
            for name, norm in asked.items()}


def _plant_extras(session: Session, plant_ids: list[int], languages: list[str],
                  care_keys: Sequence[str]) -> dict[int, dict]:
    """Common names (by language), external ids and care attributes of the plants, one query."""
    extras: dict[int, dict] = {pid: {"names": {}, "ids": {}, "care": {}} for pid in plant_ids}
    if not plant_ids:
        return {}
    names = select(CommonName.plant_id, literal("names"), CommonName.language, CommonName.name,
                   CommonName.position).where(CommonName.plant_id.in_(plant_ids),
                                              CommonName.language.in_(languages))
    ids = select(ExternalId.plant_id, literal("ids"), ExternalId.system, ExternalId.value,
                 literal(0)).where(ExternalId.plant_id.in_(plant_ids))
    care = select(PlantAttribute.plant_id, literal("care"), PlantAttribute.key,
                  PlantAttribute.value, PlantAttribute.position).where(
        PlantAttribute.plant_id.in_(plant_ids), PlantAttribute.key.in_(list(care_keys)))
    rows = session.execute(union_all(names, ids, care)).all()
    for plant_id, kind, key, value, _ in sorted(rows, key=lambda r: (r[0], r[1], r[4], r[3])):
        if kind == "names":
            extras[plant_id]["names"].setdefault(key, []).append(value)
        else:
            extras[plant_id][kind][key] = value
    for entry in extras.values():
        entry["names"] = next((entry["names"][lang] for lang in languages
                               if entry["names"].get(lang)), [])
    return extras


def _record(name: str, norm: str, plant: tuple | None, genus_plant: tuple | None,
            extras: dict[int, dict]) -> SpeciesRecord:
    if plant is not None:
        plant_id, scientific_name, authorship, genus, family, genus_auth, family_auth = plant
        extra = extras.get(plant_id, {})
        return SpeciesRecord(
            name=name, scientific_name=scientific_name, authorship=authorship,
            genus=TaxonName(genus, genus_auth) if genus else None,
            family=TaxonName(family, family_auth) if family else None,
            plant_id=plant_id, common_names=list(extra.get("names", [])),
            external_ids=dict(extra.get("ids", {})), care=dict(extra.get("care", {})),
        )
    if genus_plant is not None:  # a genus-level class: the genus is the taxon reported
        _, _, _, genus, family, genus_auth, family_auth = genus_plant
        return SpeciesRecord(
            name=name, scientific_name=genus, authorship=genus_auth,
            genus=TaxonName(genus, genus_auth),
            family=TaxonName(family, family_auth) if family else None,
        )
    parts = norm.split(" ")
    return SpeciesRecord(name=name, scientific_name=norm,
                         genus=TaxonName(parts[0]) if len(parts) > 1 else None)


RECORDS_TTL = 60.0  # seconds; knowledge-base edits show in identifications within a minute
_RECORDS_MAX = 20_000
_records_lock = threading.Lock()
_records_cache: weakref.WeakKeyDictionary[
    Database, dict[tuple[str, str], tuple[float, SpeciesRecord | None]]
] = weakref.WeakKeyDictionary()


def cached_records(database: Database, names: Iterable[str],
                   language: str = FALLBACK_LANGUAGE) -> tuple[dict[str, SpeciesRecord], list[str]]:
    """The records of ``names`` cached in the last :data:`RECORDS_TTL` seconds (a name the
    knowledge base lacks is cached too, and left out), and the names not cached. No I/O: safe
    on the event loop."""
    cache = _records_cache.get(database, {})
    now = time.monotonic()
    records: dict[str, SpeciesRecord] = {}
    missing = []
    for name in dict.fromkeys(names):
        hit = cache.get((name, language))
        if hit is None or now - hit[0] >= RECORDS_TTL:
            missing.append(name)
        elif hit[1] is not None:
            records[name] = hit[1]
    return records, missing


def read_records(database: Database, names: Sequence[str],
                 language: str = FALLBACK_LANGUAGE) -> dict[str, SpeciesRecord]:
    """:func:`species_records` of ``names`` (blocking), remembered for :func:`cached_records`;
    a name the knowledge base lacks is remembered as unknown."""
    with database.read() as session:
        records = species_records(session=session, names=names, language=language)
    now = time.monotonic()
    with _records_lock:
        cache = _records_cache.setdefault(database, {})
        if len(cache) > _RECORDS_MAX:
            cache.clear()
        for name in names:
            cache[(name, language)] = (now, records.get(name))
    return records


def known_records(database: Database, names: Iterable[str],
                  language: str = FALLBACK_LANGUAGE) -> dict[str, SpeciesRecord]:
    """The records of ``names``, from the cache where it has them (blocking: call from a
    worker thread)."""
    records, missing = cached_records(database, names, language)
    if missing:
        records.update(read_records(database, missing, language))
    return records
