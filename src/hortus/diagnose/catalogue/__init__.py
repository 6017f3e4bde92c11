"""The packaged disease catalogue (``diseases.jsonl``) and its loader.

Each line is one crop problem: ``peat_id`` (the stable integer id PEAT clients see), ``key``
(a stable lower-case slug that model class files name it by; never changed, never reused),
``eppo`` (only codes checked against EPPO, else null), ``name``, ``scientific_name`` (the
pathogen or pest; null for deficiencies, abiotic disorders and groups), ``pathogen_class``,
``group`` (true when the entry stands for several organisms or causes, which its symptoms name;
absent otherwise), ``hosts`` (scientific names of crops), ``symptoms``, ``organic_treatment``,
``chemical_treatment``, ``prevention`` and ``common_names`` ``{language: name}``. See
``SOURCES.md`` (licence, CC BY-SA 4.0; the key rule) and ``EPPO_VERIFICATION.md``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hortus.diagnose.catalogue.hosts import host_name_key, link_hosts
from hortus.diagnose.models import Disease, DiseaseCommonName, DiseaseHost

__all__ = ["CATALOGUE_FILE", "KEY_PATTERN", "catalogue_keys", "catalogue_records",
           "group_keys", "link_hosts", "load_catalogue"]

CATALOGUE_FILE = Path(__file__).with_name("diseases.jsonl")
KEY_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@cache
def catalogue_records(path: Path = CATALOGUE_FILE) -> tuple[dict[str, Any], ...]:
    """The packaged catalogue's records, in file order."""
    with path.open(encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle if line.strip())


@cache
def catalogue_keys(path: Path = CATALOGUE_FILE) -> dict[str, int]:
    """The packaged catalogue's stable keys, each with its entry's ``peat_id``.

    The key -> peat_id mapping lives in the packaged file only: ``peat_id`` is the database's
    stable id, so no column is needed, and an operator's edits of an entry keep its key.
    """
    return {str(r["key"]): int(r["peat_id"]) for r in catalogue_records(path) if r.get("key")}


@cache
def group_keys(path: Path = CATALOGUE_FILE) -> frozenset[str]:
    """Keys of the entries that stand for a group of organisms or causes (``"group": true``)."""
    return frozenset(str(r["key"]) for r in catalogue_records(path)
                     if r.get("group") and r.get("key"))


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def load_catalogue(session: Session, records: tuple[dict[str, Any], ...] | None = None) -> int:
    """Add the catalogue entries the database does not have yet (by ``peat_id``), then link
    hosts to knowledge-base plants (:func:`link_hosts`).

    Existing rows are never touched, so an operator's edits survive restarts and a newer
    catalogue only adds its new entries. Hosts are linked by scientific name, hybrid signs and
    rank words aside (``hosts.py``); a host species also gets a row for each of its subspecies
    and varieties in the knowledge base; a host the knowledge base lacks keeps its name and no
    link. Returns how many diseases were added.
    """
    records = catalogue_records() if records is None else records
    known = set(session.scalars(select(Disease.id)))
    fresh = [r for r in records if int(r["peat_id"]) not in known]
    for record in fresh:
        session.add(_disease(record))
    if fresh:
        session.flush()
    link_hosts(session)
    return len(fresh)


def _disease(record: dict[str, Any]) -> Disease:
    """A catalogue record as a new row, its hosts not linked yet."""
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
        if not host or host_name_key(host) in seen:
            continue
        seen.add(host_name_key(host))
        disease.hosts.append(DiseaseHost(scientific_name=host, position=position))
    for language, name in sorted((record.get("common_names") or {}).items()):
        if _text(name):
            disease.common_names.append(
                DiseaseCommonName(language=str(language).lower(), name=str(name).strip())
            )
    return disease
