"""Knowledge-base reads and writes: keyword-only functions over a session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hortus.db.base import utcnow
from hortus.errors import NotFound, Unprocessable, VersionMismatch
from hortus.plants.documents import refresh_document, slugify, unique_slug
from hortus.plants.models import Plant, PlantAttribute, PlantRelation, PlantRevision
from hortus.plants.paging import OffsetPage
from hortus.plants.payloads import PlantChanges, PlantCreate
from hortus.plants.serialize import plant_objects, revision_state


def get_plant(*, session: Session, plant_id: int) -> Plant:
    plant = session.get(Plant, plant_id)
    if plant is None:
        raise NotFound(f"There is no plant with id {plant_id}.", error="not found")
    return plant


def list_keyset(
    *, session: Session, last_id: int, per_page: int, updated_since: datetime | None
) -> dict[str, Any]:
    """Plants with ``id > last_id`` in id order: the seed's keyset page."""
    base = select(Plant)
    if updated_since is not None:
        base = base.where(Plant.updated_at >= updated_since)
    total = _count(session, base)
    ids = list(
        session.scalars(
            base.with_only_columns(Plant.id)
            .where(Plant.id > last_id)
            .order_by(Plant.id)
            .limit(per_page + 1)
        )
    )
    page, has_more = ids[:per_page], len(ids) > per_page
    return {
        "plants": plant_objects(session, page),
        "pagination": {
            "per_page": per_page,
            "total": total,
            "last_id": page[-1] if page else None,
            "has_more": has_more,
        },
    }


def list_offset(
    *, session: Session, paging: OffsetPage, updated_since: datetime | None
) -> dict[str, Any]:
    base = select(Plant)
    if updated_since is not None:
        base = base.where(Plant.updated_at >= updated_since)
    return _offset_page(session, base.order_by(Plant.id), paging)


def list_varieties(*, session: Session, plant_id: int, paging: OffsetPage) -> dict[str, Any]:
    get_plant(session=session, plant_id=plant_id)
    query = select(Plant).where(Plant.parent_id == plant_id).order_by(Plant.id)
    return _offset_page(session, query, paging)


def list_companions(*, session: Session, plant_id: int, paging: OffsetPage) -> dict[str, Any]:
    """Plants linked as "companion to" (antagonists are stored but not listed here)."""
    get_plant(session=session, plant_id=plant_id)
    linked = select(PlantRelation.other_id).where(
        PlantRelation.plant_id == plant_id, PlantRelation.kind == "companion"
    )
    query = select(Plant).where(Plant.id.in_(linked)).order_by(Plant.id)
    return _offset_page(session, query, paging)


def list_antagonists(*, session: Session, plant_id: int) -> list[Plant]:
    linked = select(PlantRelation.other_id).where(
        PlantRelation.plant_id == plant_id, PlantRelation.kind == "antagonist"
    )
    return list(session.scalars(select(Plant).where(Plant.id.in_(linked)).order_by(Plant.id)))


def list_revisions(*, session: Session, plant_id: int, paging: OffsetPage) -> dict[str, Any]:
    """The plant's history, newest first."""
    from hortus.accounts.models import Account

    get_plant(session=session, plant_id=plant_id)
    base = select(PlantRevision).where(PlantRevision.plant_id == plant_id)
    total = _count(session, base)
    rows = session.execute(
        select(PlantRevision, Account.email)
        .outerjoin(Account, Account.id == PlantRevision.account_id)
        .where(PlantRevision.plant_id == plant_id)
        .order_by(PlantRevision.version.desc(), PlantRevision.id.desc())
        .offset(paging.offset)
        .limit(paging.per_page)
    ).all()
    from hortus.plants.serialize import format_timestamp

    return {
        "revisions": [
            {
                "id": rev.id,
                "plant_id": rev.plant_id,
                "version": rev.version,
                "note": rev.note,
                "author": email,
                "created_at": format_timestamp(rev.created_at),
                "before": rev.before,
                "after": rev.after,
                "changed": _changed_fields(rev.before, rev.after),
            }
            for rev, email in rows
        ],
        "pagination": paging.describe(total),
    }


def create_plant(*, session: Session, payload: PlantCreate, account_id: int | None) -> Plant:
    """Insert a plant (or variety) and its first revision."""
    _check_parent(session, payload.type, payload.parent_id, plant_id=None)
    now = utcnow()
    plant = Plant(
        type=payload.type,
        scientific_name=payload.scientific_name,
        name=payload.name,
        description=payload.description,
        parent_id=payload.parent_id if payload.type == "Variety" else None,
        genus=payload.scientific_name.split()[0] if payload.scientific_name.split() else None,
        slug=unique_slug(session, slugify(f"{payload.scientific_name} {payload.name}")),
        version=1,
        created_at=now,
        updated_at=now,
    )
    for position, (key, value) in enumerate(payload.data):
        plant.attributes.append(PlantAttribute(key=key, value=value, position=position))
    session.add(plant)
    session.flush()
    family = next((v for k, v in payload.data if k == "Family"), None)
    if family:
        plant.family = family
    refresh_document(session, plant)
    session.add(
        PlantRevision(
            plant_id=plant.id,
            version=1,
            account_id=account_id,
            note=payload.note,
            before=None,
            after=revision_state(plant),
            created_at=now,
        )
    )
    session.flush()
    return plant


def update_plant(
    *, session: Session, plant_id: int, changes: PlantChanges, account_id: int | None
) -> Plant:
    """Apply changes if ``changes.version`` is current (optimistic locking); record a revision.

    The row is locked for the rest of the transaction (``FOR UPDATE`` on PostgreSQL; SQLite's
    write transaction already holds the database lock), so of concurrent updates carrying the same
    version exactly one wins and the others see a version mismatch.
    """
    plant = session.scalar(select(Plant).where(Plant.id == plant_id).with_for_update())
    if plant is None:
        raise NotFound(f"There is no plant with id {plant_id}.", error="not found")
    session.refresh(plant)
    if changes.version != plant.version:
        raise VersionMismatch(
            f"The plant is at version {plant.version}, you sent {changes.version}. "
            "Re-fetch the plant and apply your change again.",
        )
    before = revision_state(plant)
    new_type = changes.type if changes.type is not None else plant.type
    new_parent = changes.parent_id if changes.parent_id_given else plant.parent_id
    if new_type == "Plant":
        new_parent = None if not changes.parent_id_given else new_parent
    if changes.type is not None or changes.parent_id_given:
        _check_parent(session, new_type, new_parent, plant_id=plant.id)
    plant.type, plant.parent_id = new_type, new_parent
    if changes.scientific_name is not None:
        plant.scientific_name = changes.scientific_name
    if changes.name is not None:
        plant.name = changes.name
    if changes.description_given:
        plant.description = changes.description
    existing = {a.key: a for a in plant.attributes}
    next_position = max((a.position for a in plant.attributes), default=-1) + 1
    for key, value in changes.data:
        if key in existing:
            existing[key].value = value
        else:
            attribute = PlantAttribute(key=key, value=value, position=next_position)
            plant.attributes.append(attribute)
            existing[key] = attribute
            next_position += 1
        if key == "Family":
            plant.family = value
    after = revision_state(plant)
    after["version"] = before["version"]
    if after == before:
        raise Unprocessable(
            "The update changes nothing: send at least one field with a new value.",
            error="no changes",
        )
    plant.version += 1
    plant.updated_at = utcnow()
    if changes.scientific_name is not None or changes.name is not None:
        plant.slug = unique_slug(
            session, slugify(f"{plant.scientific_name} {plant.name}"), plant_id=plant.id
        )
    session.flush()
    refresh_document(session, plant)
    session.add(
        PlantRevision(
            plant_id=plant.id,
            version=plant.version,
            account_id=account_id,
            note=changes.note,
            before=before,
            after=revision_state(plant),
            created_at=plant.updated_at,
        )
    )
    session.flush()
    return plant


def facet_keys(*, session: Session) -> set[str]:
    """Attribute keys that exist in the database: the filterable facets."""
    return set(session.scalars(select(PlantAttribute.key).distinct()))


def _check_parent(
    session: Session, type_: str, parent_id: int | None, *, plant_id: int | None
) -> None:
    if type_ != "Variety":
        return
    if parent_id is None:
        raise Unprocessable(
            "A Variety needs parent_id: the id of an existing plant.", error="parent_id required"
        )
    if parent_id == plant_id:
        raise Unprocessable("A plant cannot be its own parent.", error="invalid parent_id")
    parent = session.get(Plant, parent_id)
    if parent is None:
        raise Unprocessable(
            f"parent_id {parent_id} is not an existing plant.", error="invalid parent_id"
        )
    if parent.type == "Variety":
        raise Unprocessable(
            "parent_id must be a Plant, not another Variety.", error="invalid parent_id"
        )


def _count(session: Session, query: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _offset_page(session: Session, query: Select[Any], paging: OffsetPage) -> dict[str, Any]:
    total = _count(session, query)
    ids = list(
        session.scalars(
            query.with_only_columns(Plant.id).offset(paging.offset).limit(paging.per_page)
        )
    )
    return {"plants": plant_objects(session, ids), "pagination": paging.describe(total)}


def _changed_fields(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    if before is None:
        return sorted(k for k in after if k != "version")
    changed = [k for k in after if k not in ("version", "data") and before.get(k) != after.get(k)]
    old = {d["key"]: d["value"] for d in before.get("data", [])}
    changed += [
        f"data.{d['key']}" for d in after.get("data", []) if old.get(d["key"]) != d["value"]
    ]
    return changed


def plants_by_ids(*, session: Session, ids: Sequence[int]) -> list[Plant]:
    by_id = {p.id: p for p in session.scalars(select(Plant).where(Plant.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]
