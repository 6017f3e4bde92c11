"""Plant photos: ``images.thumb`` from licensed reference photos, with their credit beside it.

Permapeople's plant object carries ``images: {thumb, title}`` as URLs and has no place for a
photo's author or licence. Hortus fills ``thumb`` of the plants a packaged project's class
names with a reference thumbnail that the server itself serves (the caller passes the photos:
:mod:`hortus.identify.illustrations`). Decisions:

* **Stored, not resolved per request**: the plant row holds the thumbnail's path, written by a
  step that runs on every start (:func:`set_plant_photos`), so list, search, get and export
  all show the same value and cost nothing more. The path is relative because the server's
  address is unknown when the database is seeded; the API answers it as an absolute URL on the
  address the client called (:func:`absolute_url`); an imported ``https://`` URL is kept as is.
* **Never a dead link**: the step only sets photos the caller found in the read-only packaged
  media, which every process serves; on each start it re-points or clears the thumbnails it
  manages (paths under ``managed_prefix``) whose photo is no longer shipped. Thumbnails set
  any other way (an import) are never touched.
* **Credit**: each photo's author and licence go to ``plant_images`` (exported and imported
  with the plant as ``image_credits``); docs/plants.md names each photo set's licence.
* Setting a thumbnail is no edit of the plant: no revision and the same ``version``, but
  ``updated_at`` moves, so clients syncing with ``updated_since`` fetch the new photo.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.orm import Session

from hortus.db.base import utcnow
from hortus.plants.models import Plant, PlantImage
from hortus.plants.taxonomy import normalise_name


@dataclass(frozen=True)
class PlantPhoto:
    """A licensed photo of a plant, by its scientific name: URL (or server path) and credit."""

    scientific_name: str
    url: str
    author: str | None
    licence: str | None


def absolute_url(url: str | None, base_url: str) -> str:
    """A stored image URL as the API answers it: a server path (``/v2/...``) on ``base_url``
    (the address the client called, no trailing slash); anything else as stored; ``""`` for
    none."""
    if not url:
        return ""
    return f"{base_url}{url}" if url.startswith("/") else url


def set_plant_photos(session: Session, photos: Iterable[PlantPhoto], *,
                     managed_prefix: str) -> int:
    """Point ``images.thumb`` of every plant (not variety) that ``photos`` names at its photo,
    and clear the thumbnails under ``managed_prefix`` that no photo names any more; returns how
    many plants changed.

    A plant whose thumbnail is set and not under ``managed_prefix`` (imported) is left alone.
    Safe when several processes start at once: each change is a conditional update of the
    value it read, and only the process whose update applied writes the credit.
    """
    wanted = {normalise_name(p.scientific_name): p for p in photos}
    rows = session.execute(
        select(Plant.id, Plant.scientific_name, Plant.image_thumb).where(
            Plant.type == "Plant",
            or_(Plant.scientific_name.in_(list(wanted)),
                Plant.image_thumb.startswith(managed_prefix, autoescape=True)))
        .order_by(Plant.id)
    ).all()
    now = utcnow()
    changed = 0
    for plant_id, scientific_name, current in rows:
        if current and not current.startswith(managed_prefix):
            continue
        photo = wanted.get(normalise_name(scientific_name))
        desired = photo.url if photo else None
        if (current or None) == desired:
            continue
        unchanged = (Plant.image_thumb == current if current
                     else or_(Plant.image_thumb.is_(None), Plant.image_thumb == ""))
        result = cast(CursorResult[Any], session.execute(
            update(Plant).where(Plant.id == plant_id, unchanged)
            .values(image_thumb=desired, updated_at=now)
            .execution_options(synchronize_session=False)))
        if result.rowcount != 1:
            continue  # another process changed it first
        session.execute(delete(PlantImage).where(
            PlantImage.plant_id == plant_id,
            PlantImage.url.startswith(managed_prefix, autoescape=True)))
        if photo is not None:
            session.add(PlantImage(plant_id=plant_id, url=photo.url, author=photo.author,
                                   licence=photo.licence))
        changed += 1
    session.flush()
    return changed


def image_credits(session: Session, plant_id: int) -> list[dict[str, str | None]]:
    """The credit of each photo of a plant (``url``, ``author``, ``licence``), oldest first."""
    rows = session.execute(
        select(PlantImage.url, PlantImage.author, PlantImage.licence)
        .where(PlantImage.plant_id == plant_id).order_by(PlantImage.id)).all()
    return [{"url": url, "author": author, "licence": licence} for url, author, licence in rows]


def replace_image_credits(session: Session, plant_id: int,
                          credits: Sequence[dict[str, Any]]) -> None:
    """Set a plant's photo credits to ``credits`` (an import's ``image_credits``)."""
    session.execute(delete(PlantImage).where(PlantImage.plant_id == plant_id))
    for credit in credits:
        session.add(PlantImage(plant_id=plant_id, url=str(credit["url"]),
                               author=credit.get("author"), licence=credit.get("licence")))
