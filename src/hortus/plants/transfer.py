"""Import and export of plants as JSON lines, and the packaged starter knowledge base.

The export form is the seed's plant object plus what the knowledge base keeps beside it
(authorship, genus, family, common names per language, external ids, links by id, the credit
of its photos), so an export imported into an empty database exports byte-for-byte the same
again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hortus.db.base import utcnow
from hortus.errors import InvalidInput
from hortus.plants.images import image_credits, replace_image_credits
from hortus.plants.models import (
    CommonName,
    ExternalId,
    Plant,
    PlantAttribute,
    PlantRelation,
    PlantRevision,
    Taxon,
)
from hortus.plants.schemas import PlantRead
from hortus.plants.search import refresh_document
from hortus.plants.service import plant_reads, revision_state, slugify, unique_slug

STARTER_NOTE = "Loaded from the Hortus starter knowledge base (CC BY-SA 4.0)."


def export_record(session: Session, plant: Plant, read: PlantRead | None = None) -> dict[str, Any]:
    """The plant object (``read``, as the API serves it) plus what the knowledge base keeps
    beside it."""
    read = read or plant_reads(session=session, ids=[plant.id])[0]
    record = read.model_dump(mode="json")
    names: dict[str, list[str]] = {}
    for common in plant.common_names:
        names.setdefault(common.language, []).append(common.name)
    relations = session.execute(
        select(PlantRelation.kind, PlantRelation.other_id)
        .where(PlantRelation.plant_id == plant.id)
        .order_by(PlantRelation.kind, PlantRelation.other_id)
    ).all()
    record.update(
        authorship=plant.authorship,
        genus=plant.genus,
        family=plant.family,
        common_names=names,
        external_ids={
            e.system: e.value for e in sorted(plant.external_ids, key=lambda e: e.system)
        },
        relations={
            kind: [other for k, other in relations if k == kind]
            for kind in sorted({k for k, _ in relations})
        },
        image_credits=image_credits(session, plant.id),
    )
    return record


def export_plants(session: Session, out: TextIO) -> int:
    """Write every plant as one JSON line, in id order; returns the count."""
    count, last_id = 0, 0
    while True:
        batch = session.scalars(
            select(Plant).where(Plant.id > last_id).order_by(Plant.id).limit(500)
        ).all()
        if not batch:
            return count
        reads = plant_reads(session=session, ids=[plant.id for plant in batch])
        for plant, read in zip(batch, reads, strict=True):
            out.write(json.dumps(export_record(session, plant, read), ensure_ascii=False) + "\n")
            count += 1
        last_id = batch[-1].id


def _records(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"Line {number} is not valid JSON: {exc}") from None
        if not isinstance(record, dict):
            raise InvalidInput(f"Line {number} is not a JSON object.")
        yield number, record


def _timestamp(value: Any) -> datetime:
    """An export's ``2022-07-30T08:17:26.658Z`` (any ISO 8601 time; naive is UTC)."""
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def starter_attributes(record: dict[str, Any]) -> list[tuple[str, str]]:
    """A starter record's ``data``, plus its genus as the ``Genus`` attribute real Permapeople
    records carry (after ``Family``, or last), unless the record already has one."""
    pairs = [(item["key"], str(item["value"])) for item in record.get("data") or []]
    genus = record.get("genus")
    if genus and all(key != "Genus" for key, _ in pairs):
        after = next((i + 1 for i, (key, _) in enumerate(pairs) if key == "Family"), len(pairs))
        pairs.insert(after, ("Genus", genus))
    return pairs


def _set_taxon(session: Session, rank: str, name: str | None, authorship: str | None) -> None:
    if not name:
        return
    taxon = session.scalar(select(Taxon).where(Taxon.rank == rank, Taxon.name == name))
    if taxon is None:
        session.add(Taxon(rank=rank, name=name, authorship=authorship))
        session.flush()
    elif authorship and not taxon.authorship:
        taxon.authorship = authorship


def _set_names(plant: Plant, names: dict[str, list[str]]) -> None:
    plant.common_names.clear()
    for language, values in names.items():
        seen: set[str] = set()
        for position, value in enumerate(values):
            if value and value not in seen:
                seen.add(value)
                plant.common_names.append(
                    CommonName(language=language, name=value, position=position)
                )


def import_plants(session: Session, lines: Iterable[str]) -> int:
    """Insert or replace plants from export-form JSON lines (ids, versions, times preserved)."""
    relations: list[tuple[int, str, list[int]]] = []
    count = 0
    for number, record in _records(lines):
        try:
            plant_id = int(record["id"])
            plant = session.get(Plant, plant_id) or Plant(id=plant_id)
            plant.type = record.get("type") or "Plant"
            plant.scientific_name = record["scientific_name"]
            plant.name = record["name"]
            plant.version = int(record.get("version") or 1)
            plant.description = record.get("description") or None
            plant.slug = record.get("slug") or slugify(f"{plant.scientific_name} {plant.name}")
            plant.parent_id = record.get("parent_id")
            plant.created_at = _timestamp(record["created_at"])
            plant.updated_at = _timestamp(record["updated_at"])
            images = record.get("images") or {}
            plant.image_thumb = images.get("thumb") or None
            plant.image_title = images.get("title") or None
            plant.authorship = record.get("authorship")
            plant.genus, plant.family = record.get("genus"), record.get("family")
            plant.attributes.clear()
            session.add(plant)
            session.flush()
            for position, item in enumerate(record.get("data") or []):
                plant.attributes.append(
                    PlantAttribute(key=item["key"], value=str(item["value"]), position=position)
                )
            _set_names(plant, record.get("common_names") or {})
            plant.external_ids.clear()
            session.flush()
            for system, value in (record.get("external_ids") or {}).items():
                plant.external_ids.append(ExternalId(system=system, value=str(value)))
            for kind, others in (record.get("relations") or {}).items():
                relations.append((plant_id, kind, [int(o) for o in others]))
            replace_image_credits(session, plant_id, record.get("image_credits") or [])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"Line {number}: not a plant record ({exc!r}).") from None
        count += 1
    session.flush()
    for plant_id, kind, others in relations:
        session.execute(
            delete(PlantRelation).where(
                PlantRelation.plant_id == plant_id, PlantRelation.kind == kind
            )
        )
        for other in others:
            session.add(PlantRelation(plant_id=plant_id, other_id=other, kind=kind))
    for plant in session.scalars(select(Plant)):
        refresh_document(session, plant)
    session.flush()
    return count


def starter_records() -> list[dict[str, Any]]:
    """The packaged starter knowledge base (one record per plant)."""
    source = resources.files("hortus.plants").joinpath("starter/plants.jsonl")
    if not source.is_file():
        return []
    text = source.read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_starter(session: Session) -> int:
    """Load the starter knowledge base into an empty database; returns how many plants."""
    if session.scalar(select(func.count()).select_from(Plant)):
        return 0
    records = starter_records()
    by_name: dict[str, Plant] = {}
    now = utcnow()
    # Plants before varieties, so every parent exists.
    for record in sorted(records, key=lambda r: r.get("type") == "Variety"):
        _set_taxon(session, "genus", record.get("genus"), record.get("genus_authorship"))
        _set_taxon(session, "family", record.get("family"), record.get("family_authorship"))
        parent = by_name.get(record.get("parent") or "")
        plant = Plant(
            type=record.get("type") or "Plant",
            scientific_name=record["scientific_name"],
            authorship=record.get("authorship"),
            genus=record.get("genus"),
            family=record.get("family"),
            name=record["name"],
            description=record.get("description"),
            parent_id=parent.id if parent else None,
            slug=unique_slug(session, slugify(f"{record['scientific_name']} {record['name']}")),
            created_at=now,
            updated_at=now,
        )
        for position, (key, value) in enumerate(starter_attributes(record)):
            plant.attributes.append(PlantAttribute(key=key, value=value, position=position))
        names = dict(record.get("common_names") or {})
        names.setdefault("en", [])
        if record["name"] not in names["en"]:
            names["en"] = [record["name"], *names["en"]]
        _set_names(plant, names)
        for system, value in (record.get("external_ids") or {}).items():
            if value:
                plant.external_ids.append(ExternalId(system=system, value=str(value)))
        session.add(plant)
        session.flush()
        by_name[plant.scientific_name] = plant
    links: set[tuple[int, int, str]] = set()
    for record in records:
        plant = by_name[record["scientific_name"]]
        for kind, field in (("companion", "companions"), ("antagonist", "antagonists")):
            for other_name in record.get(field) or []:
                other = by_name.get(other_name)
                if other is not None and other.id != plant.id:
                    links.add((plant.id, other.id, kind))
                    links.add((other.id, plant.id, kind))
    for plant_id, other_id, kind in sorted(links):
        session.add(PlantRelation(plant_id=plant_id, other_id=other_id, kind=kind))
    for plant in by_name.values():
        refresh_document(session, plant)
        session.add(
            PlantRevision(
                plant_id=plant.id,
                version=1,
                account_id=None,
                note=STARTER_NOTE,
                before=None,
                after=revision_state(plant),
                created_at=now,
            )
        )
    session.flush()
    return len(by_name)


def read_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        yield from handle
