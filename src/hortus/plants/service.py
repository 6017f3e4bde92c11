"""Knowledge-base reads and writes: keyword-only functions over a session, answering in the
wire models of :mod:`hortus.plants.schemas`.

Functions that answer plant objects take ``base_url``, the address the client called: a
photo the server itself serves is stored as a path and answered as an absolute URL on it
(:mod:`hortus.plants.images`); without one (the web pages, exports) it stays a path."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, Select, bindparam, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from hortus.db.base import utcnow
from hortus.errors import NotFound, Unprocessable, VersionMismatch
from hortus.plants.images import absolute_url
from hortus.plants.models import CommonName, Plant, PlantAttribute, PlantRelation, PlantRevision
from hortus.plants.schemas import (
    Attribute,
    KeysetPagination,
    KeysetPlantPage,
    OffsetPlantPage,
    PageQuery,
    PlantCreate,
    PlantImages,
    PlantListQuery,
    PlantRead,
    PlantUpdate,
    RevisionPage,
    RevisionRead,
    RevisionState,
    SearchCriteria,
)
from hortus.plants.search import matching_plants, refresh_document

# Attributes that mirror a column of the plant (kept in step when a client edits them).
TAXON_KEYS = {"Family": "family", "Genus": "genus"}
MAX_TAXON = 200  # the columns' length: a longer value is no taxon name

_PLANT_COLUMNS = (Plant.id, Plant.type, Plant.scientific_name, Plant.name, Plant.version,
                  Plant.description, Plant.slug, Plant.parent_id, Plant.updated_at,
                  Plant.created_at, Plant.image_thumb, Plant.image_title)


# -- reading plants ---------------------------------------------------------------------------


@functools.cache
def _read_statements(by_one_id: bool) -> tuple[Executable, Executable]:
    """The two queries of :func:`plant_reads` (the plants' columns; their attributes in
    order), built once: building a statement costs more than running it. By one id (bound as
    ``id``), or by a list (``ids``)."""
    def where(column: Any) -> Any:
        return (column == bindparam("id", type_=Integer) if by_one_id
                else column.in_(bindparam("ids", expanding=True)))

    plants = select(*_PLANT_COLUMNS).where(where(Plant.id))
    attributes = (select(PlantAttribute.plant_id, PlantAttribute.key, PlantAttribute.value)
                  .where(where(PlantAttribute.plant_id))
                  .order_by(PlantAttribute.plant_id, PlantAttribute.position))
    return plants, attributes


def plant_reads(*, session: Session, ids: Sequence[int], base_url: str = "") -> list[PlantRead]:
    """Plant objects for ``ids``, in that order, read with two plain prebuilt queries on the
    session's connection (list endpoints serve up to 100 plants a page, and ``GET
    /plants/{id}`` is the busiest route: the ORM's per-query and per-object work would
    dominate their latency)."""
    if not ids:
        return []
    session.flush()  # what an ORM query would autoflush: the caller's pending changes
    connection = session.connection()
    plants, attributes = _read_statements(len(ids) == 1)
    params: dict[str, Any] = {"id": ids[0]} if len(ids) == 1 else {"ids": list(ids)}
    rows = connection.execute(plants, params).all()
    data: dict[int, list[Attribute]] = {}
    for plant_id, key, value in connection.execute(attributes, params):
        data.setdefault(plant_id, []).append(Attribute(key=key, value=value))
    by_id = {
        row.id: PlantRead(
            id=row.id, type=row.type, scientific_name=row.scientific_name, name=row.name,
            version=row.version, description=row.description or "", link=f"/plants/{row.slug}",
            slug=row.slug, parent_id=row.parent_id, updated_at=row.updated_at,
            created_at=row.created_at,
            images=PlantImages(thumb=absolute_url(row.image_thumb, base_url),
                               title=absolute_url(row.image_title, base_url)),
            data=data.get(row.id, []),
        )
        for row in rows
    }
    return [by_id[i] for i in ids if i in by_id]


def read_plant(*, session: Session, plant_id: int, base_url: str = "") -> PlantRead:
    """The plant object of one plant; NotFound (404) when there is none."""
    reads = plant_reads(session=session, ids=[plant_id], base_url=base_url)
    if not reads:
        raise _not_found(plant_id)
    return reads[0]


def names_in_language(*, session: Session, plant_ids: Sequence[int],
                      language: str) -> dict[int, str]:
    """Each plant's first common name in ``language`` (by position), for the plants that have
    one (the web pages name plants in their visitor's language)."""
    if not plant_ids:
        return {}
    names: dict[int, str] = {}
    for plant_id, name in session.execute(
            select(CommonName.plant_id, CommonName.name)
            .where(CommonName.plant_id.in_(list(plant_ids)), CommonName.language == language)
            .order_by(CommonName.plant_id, CommonName.position, CommonName.id)):
        names.setdefault(plant_id, name)
    return names


def count_plants(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Plant)) or 0


def list_plants(*, session: Session, query: PlantListQuery,
                base_url: str = "") -> KeysetPlantPage | OffsetPlantPage:
    """``GET /plants``: by id, keyset on ``last_id`` unless a ``page`` is asked for."""
    base = select(Plant.id)
    if query.updated_since is not None:
        base = base.where(Plant.updated_at >= query.updated_since)
    if query.page is not None:
        return _offset_page(session, base.order_by(Plant.id),
                            PageQuery(page=query.page, per_page=query.per_page), base_url)
    total = _count(session, base)
    ids = list(session.scalars(
        base.where(Plant.id > query.last_id).order_by(Plant.id).limit(query.per_page + 1)))
    page, has_more = ids[:query.per_page], len(ids) > query.per_page
    return KeysetPlantPage(
        plants=plant_reads(session=session, ids=page, base_url=base_url),
        pagination=KeysetPagination(per_page=query.per_page, total=total,
                                    last_id=page[-1] if page else query.last_id,
                                    has_more=has_more),
    )


def search_plants(*, session: Session, criteria: SearchCriteria,
                  base_url: str = "") -> OffsetPlantPage:
    """``/search``: full-text matches, exact scientific/common-name matches first."""
    ids, total = matching_plants(session=session, criteria=criteria)
    return OffsetPlantPage(plants=plant_reads(session=session, ids=ids, base_url=base_url),
                           pagination=criteria.paging.describe(total))


def list_varieties(*, session: Session, plant_id: int, paging: PageQuery,
                   base_url: str = "") -> OffsetPlantPage:
    _require_plant(session, plant_id)
    query = select(Plant.id).where(Plant.parent_id == plant_id).order_by(Plant.id)
    return _offset_page(session, query, paging, base_url)


def list_companions(*, session: Session, plant_id: int, paging: PageQuery,
                    base_url: str = "") -> OffsetPlantPage:
    """Plants linked as "companion to" (antagonists are stored but not listed here)."""
    _require_plant(session, plant_id)
    linked = select(PlantRelation.other_id).where(
        PlantRelation.plant_id == plant_id, PlantRelation.kind == "companion")
    return _offset_page(session, select(Plant.id).where(Plant.id.in_(linked)).order_by(Plant.id),
                        paging, base_url)


def list_revisions(*, session: Session, plant_id: int, paging: PageQuery) -> RevisionPage:
    """The plant's history, newest first. Editors are named by their public handle or a
    placeholder (any key holder reads this): never by e-mail."""
    from hortus.accounts.models import Account
    from hortus.accounts.service import public_name

    _require_plant(session, plant_id)
    total = _count(session, select(PlantRevision.id).where(PlantRevision.plant_id == plant_id))
    rows = session.execute(
        select(PlantRevision, Account.handle)
        .outerjoin(Account, Account.id == PlantRevision.account_id)
        .where(PlantRevision.plant_id == plant_id)
        .order_by(PlantRevision.version.desc(), PlantRevision.id.desc())
        .offset(paging.offset)
        .limit(paging.per_page)
    ).all()
    return RevisionPage(
        revisions=[
            RevisionRead(id=rev.id, plant_id=rev.plant_id, version=rev.version, note=rev.note,
                         author=public_name(account_id=rev.account_id, handle=handle),
                         created_at=rev.created_at,
                         before=RevisionState.model_validate(rev.before) if rev.before else None,
                         after=RevisionState.model_validate(rev.after),
                         changed=_changed_fields(rev.before, rev.after))
            for rev, handle in rows
        ],
        pagination=paging.describe(total),
    )


# -- writing plants ---------------------------------------------------------------------------


def create_plant(*, session: Session, payload: PlantCreate, account_id: int | None,
                 base_url: str = "") -> PlantRead:
    """Insert a plant (or variety) and its first revision."""
    _check_parent(session, payload.type, payload.parent_id, plant_id=None)
    now = utcnow()
    words = payload.scientific_name.split()
    plant = Plant(
        type=payload.type,
        scientific_name=payload.scientific_name,
        name=payload.name,
        description=payload.description or None,
        parent_id=payload.parent_id if payload.type == "Variety" else None,
        genus=words[0] if words and len(words[0]) <= MAX_TAXON else None,
        slug=unique_slug(session, slugify(f"{payload.scientific_name} {payload.name}")),
        version=1,
        created_at=now,
        updated_at=now,
    )
    for position, pair in enumerate(payload.data):
        plant.attributes.append(PlantAttribute(key=pair.key, value=pair.value, position=position))
        _mirror_taxon(plant, pair.key, pair.value)
    session.add(plant)
    session.flush()
    refresh_document(session, plant)
    _record(session, plant, account_id=account_id, note=payload.note, before=None)
    return read_plant(session=session, plant_id=plant.id, base_url=base_url)


def update_plant(
    *, session: Session, plant_id: int, changes: PlantUpdate, account_id: int | None,
    base_url: str = "",
) -> PlantRead:
    """Apply changes if ``changes.version`` is current (optimistic locking); record a revision.

    The row is locked for the rest of the transaction (``FOR UPDATE`` on PostgreSQL; SQLite's
    write transaction already holds the database lock), so of concurrent updates carrying the same
    version exactly one wins and the others see a version mismatch.
    """
    plant = session.scalar(select(Plant).where(Plant.id == plant_id).with_for_update())
    if plant is None:
        raise _not_found(plant_id)
    session.refresh(plant)
    if changes.version != plant.version:
        raise VersionMismatch(
            f"The plant is at version {plant.version}, you sent {changes.version}. "
            "Re-fetch the plant and apply your change again.",
        )
    before = revision_state(plant)
    new_type = changes.type if changes.type is not None else plant.type
    new_parent = changes.parent_id if changes.sent("parent_id") else plant.parent_id
    if new_type == "Plant" and not changes.sent("parent_id"):
        new_parent = None
    if changes.type is not None or changes.sent("parent_id"):
        _check_parent(session, new_type, new_parent, plant_id=plant.id)
    plant.type, plant.parent_id = new_type, new_parent
    if changes.scientific_name is not None:
        plant.scientific_name = changes.scientific_name
    if changes.name is not None:
        plant.name = changes.name
    if changes.sent("description"):
        plant.description = changes.description or None
    existing = {a.key: a for a in plant.attributes}
    next_position = max((a.position for a in plant.attributes), default=-1) + 1
    for pair in changes.data:
        if pair.key in existing:
            existing[pair.key].value = pair.value
        else:
            attribute = PlantAttribute(key=pair.key, value=pair.value, position=next_position)
            plant.attributes.append(attribute)
            existing[pair.key] = attribute
            next_position += 1
        _mirror_taxon(plant, pair.key, pair.value)
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
    _record(session, plant, account_id=account_id, note=changes.note, before=before)
    return read_plant(session=session, plant_id=plant.id, base_url=base_url)


def revision_state(plant: Plant) -> dict[str, Any]:
    """What a revision records: the editable fields (not timestamps or derived links)."""
    return {
        "type": plant.type,
        "scientific_name": plant.scientific_name,
        "name": plant.name,
        "description": plant.description,
        "parent_id": plant.parent_id,
        "version": plant.version,
        "data": [{"key": a.key, "value": a.value} for a in plant.attributes],
    }


def slugify(text: str) -> str:
    """ASCII, lower-case, dash-separated.

    ``Morus alba White mulberry`` → ``morus-alba-white-mulberry``.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:300] or "plant"


def unique_slug(session: Session, base: str, *, plant_id: int | None = None) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever no other plant has."""
    candidate, n = base, 1
    while True:
        owner = session.scalar(select(Plant.id).where(Plant.slug == candidate))
        if owner is None or owner == plant_id:
            return candidate
        n += 1
        candidate = f"{base}-{n}"


# -- helpers ----------------------------------------------------------------------------------


def _not_found(plant_id: int) -> NotFound:
    return NotFound(f"There is no plant with id {plant_id}.", error="not found")


def _require_plant(session: Session, plant_id: int) -> None:
    if session.scalar(select(Plant.id).where(Plant.id == plant_id)) is None:
        raise _not_found(plant_id)


def _mirror_taxon(plant: Plant, key: str, value: str) -> None:
    column = TAXON_KEYS.get(key)
    if column is not None and value and len(value) <= MAX_TAXON:
        setattr(plant, column, value)


def _record(session: Session, plant: Plant, *, account_id: int | None, note: str,
            before: dict[str, Any] | None) -> None:
    session.add(PlantRevision(plant_id=plant.id, version=plant.version, account_id=account_id,
                              note=note, before=before, after=revision_state(plant),
                              created_at=plant.updated_at))
    session.flush()


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


def _offset_page(session: Session, ids_query: Select[Any], paging: PageQuery,
                 base_url: str = "") -> OffsetPlantPage:
    total = _count(session, ids_query)
    ids = list(session.scalars(ids_query.offset(paging.offset).limit(paging.per_page)))
    return OffsetPlantPage(plants=plant_reads(session=session, ids=ids, base_url=base_url),
                           pagination=paging.describe(total))


def _changed_fields(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    if before is None:
        return sorted(k for k in after if k != "version")
    changed = [k for k in after if k not in ("version", "data") and before.get(k) != after.get(k)]
    old = {d["key"]: d["value"] for d in before.get("data", [])}
    changed += [
        f"data.{d['key']}" for d in after.get("data", []) if old.get(d["key"]) != d["value"]
    ]
    return changed
