"""Linking a catalogue host (a crop's scientific name) to knowledge-base plants.

Names are compared in a normal form (:func:`host_name_key`): lower case, single spaces and no
hybrid sign, so ``Citrus × sinensis``, ``Citrus x sinensis`` and ``Citrus sinensis`` are one
name. When no plant has a host's name, an infraspecific plant whose genus and last epithet give
it answers for it (``Triticum durum`` -> ``Triticum turgidum subsp. durum``) and the other way
round, provided only one plant does. A host species stands for its subspecies and varieties in
the knowledge base: a problem of *Brassica oleracea* gets a host row for each of
``Brassica oleracea var. capitata`` (cabbage), ``var. italica`` (broccoli) ... Only plants of
type ``Plant`` are linked; cultivars (type ``Variety``) stand for their species elsewhere.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from hortus.diagnose.models import DiseaseHost
from hortus.plants.models import Plant

# Rank words of infraspecific names ("Brassica oleracea var. capitata").
RANKS = frozenset({"subsp.", "ssp.", "var.", "convar.", "subvar.", "f.", "forma"})


def host_name_key(name: str) -> str:
    """``name`` lower-cased, in single spaces, without the hybrid sign (× anywhere, or an ``x``
    standing for it before or after the genus)."""
    words = name.replace("×", " × ").lower().split()
    return " ".join(w for i, w in enumerate(words) if w != "×" and not (w == "x" and i <= 1))


def host_name_sql(column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[str]:
    """:func:`host_name_key` for ordinary names, in SQL (SQLite and PostgreSQL)."""
    lowered = func.lower(column)
    return func.replace(func.replace(func.replace(lowered, "× ", ""), "×", ""), " x ", " ")


def species_key(key: str) -> str | None:
    """The species of an infraspecific name in normal form (``brassica oleracea`` for
    ``brassica oleracea var. capitata``), else None."""
    words = key.split()
    if len(words) >= 4 and words[2] in RANKS:
        return " ".join(words[:2])
    return None


def epithet_alias(key: str) -> str | None:
    """Genus and last epithet of an infraspecific name in normal form (``triticum durum`` for
    ``triticum turgidum subsp. durum``), else None."""
    words = key.split()
    if len(words) >= 4 and words[-2] in RANKS:
        return f"{words[0]} {words[-1]}"
    return None


@dataclass
class PlantNames:
    """Knowledge-base plants (type ``Plant``) of some genera, by normal-form name."""

    by_name: dict[str, int] = field(default_factory=dict)  # lowest id per name
    by_alias: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    forms: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def load(cls, session: Session, host_keys: set[str]) -> PlantNames:
        """The plants whose genus is the first word of one of ``host_keys``."""
        names = cls()
        genera = sorted({k.split()[0] for k in host_keys if k})
        if not genera:
            return names
        lowered = func.lower(Plant.scientific_name)
        rows = session.execute(
            select(Plant.id, Plant.scientific_name)
            .where(Plant.type == "Plant",
                   or_(lowered.in_(genera), *(lowered.like(f"{g} %") for g in genera)))
            .order_by(Plant.id)
        )
        for plant_id, scientific_name in rows:
            key = host_name_key(scientific_name)
            names.by_name.setdefault(key, plant_id)
            alias = epithet_alias(key)
            if alias is not None:
                names.by_alias[alias].add(plant_id)
            species = species_key(key)
            if species is not None:
                names.forms[species].append((plant_id, scientific_name))
        return names

    def plant_for(self, host: str) -> int | None:
        """The plant a host name stands for: by normal form, else a unique alias match."""
        key = host_name_key(host)
        if key in self.by_name:
            return self.by_name[key]
        alias = epithet_alias(key)
        if alias is not None and alias in self.by_name:
            return self.by_name[alias]
        candidates = self.by_alias.get(key, set())
        return next(iter(candidates)) if len(candidates) == 1 else None


def link_hosts(session: Session) -> int:
    """Link catalogue hosts to knowledge-base plants, and give a host species a host row for
    each of its subspecies and varieties in the knowledge base.

    Runs on every start, so plants imported after the catalogue are linked too. Returns how
    many host rows were linked or added now (0 when there was nothing to do).
    """
    hosts = list(session.scalars(select(DiseaseHost)))
    names = PlantNames.load(session, {host_name_key(h.scientific_name) for h in hosts})
    changed = 0
    for host in hosts:
        if host.plant_id is None:
            plant_id = names.plant_for(host.scientific_name)
            if plant_id is not None:
                host.plant_id = plant_id
                changed += 1
    if names.forms:
        changed += _add_forms(session, hosts, names)
    if changed:
        session.flush()
    return changed


def _add_forms(session: Session, hosts: list[DiseaseHost], names: PlantNames) -> int:
    """Host rows for the knowledge base's subspecies and varieties of host species."""
    by_disease: dict[int, list[DiseaseHost]] = defaultdict(list)
    for host in hosts:
        by_disease[host.disease_id].append(host)
    added = 0
    for disease_id, rows in by_disease.items():
        known = {host_name_key(h.scientific_name) for h in rows}
        linked = {h.plant_id for h in rows if h.plant_id is not None}
        position = max(h.position for h in rows) + 1
        for host in list(rows):
            for plant_id, scientific_name in names.forms.get(host_name_key(host.scientific_name),
                                                             []):
                key = host_name_key(scientific_name)
                if key in known or plant_id in linked:
                    continue
                session.add(DiseaseHost(disease_id=disease_id, scientific_name=scientific_name,
                                        plant_id=plant_id, position=position))
                known.add(key)
                linked.add(plant_id)
                position += 1
                added += 1
    return added
