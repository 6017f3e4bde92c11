"""Plant photos from the packaged projects' reference thumbnails (the plants' ``images.thumb``).

A packaged project ships o/m/s thumbnails of a few reference photos per class, for the photo
sets whose licence allows it (never ``flowers``: Oxford-17 states none). Every class that names
a plant lends its plant a photo: a diagnosis project's *healthy* class (its crop: a healthy
leaf shows the plant, a diseased one shows its problem), an identification project's species
(the weeds), a crop recogniser's crop (tomato, blueberry). For each plant this takes one photo
whose every size ships, from a healthy class first, then a species class, then a recogniser
class; within a class the photo nearest the class's mean (the most typical, as the thumbnails
themselves were chosen). Reject classes (``negative``, ``other``) and photos without a licence
(none recorded, or one saying none is stated, as Oxford-17's) lend nothing, whatever media
there is.

The photos' URLs are paths of the reference-media route (no key needed), which every process
serves from the packaged media folder; :func:`illustrate_plants` stores them in the knowledge
base (:mod:`hortus.plants.images` says why stored, and how they stay right after an upgrade).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from hortus.identify.serialize import MEDIA_ROUTE
from hortus.media.factory import PACKAGED_MEDIA_DIR
from hortus.media.local import LocalMediaStore
from hortus.media.store import MediaStore
from hortus.plants.images import PlantPhoto, set_plant_photos
from hortus.vision.artifacts import (
    INDEX_FILE,
    LABELS_FILE,
    ArtifactError,
    find_active_projects,
    read_manifest,
)
from hortus.vision.engine import PACKAGED_PROJECTS_DIR, REJECT_ROLE
from hortus.vision.heads import l2_normalise
from hortus.vision.index import ReferenceIndex
from hortus.vision.media import MEDIA_SIZES, reference_media_key

THUMB_SIZE = "s"  # 192 px: Permapeople's thumbnails are small
HEALTHY = "healthy"
# Which classes lend their plant a photo first (lower first).
_PREFERENCE = {"diagnose": 0, "identify": 1, "crop": 2}
_NO_LICENCE = ("no licence", "no license", "unknown", "none")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class _Candidate:
    """A reference photo of a class that names a plant."""

    plant: str  # scientific name
    preference: int
    typicality: float  # cosine similarity to the class's mean
    sha256: str
    author: str | None
    licence: str | None

    @property
    def order(self) -> tuple[int, float, str]:
        return self.preference, -self.typicality, self.sha256


def licensed(licence: str | None) -> bool:
    """Whether a reference photo's recorded licence is one (not empty, not "no licence
    stated ..." as the flower sets record)."""
    text = (licence or "").strip().lower()
    return bool(text) and not text.startswith(_NO_LICENCE)


def reference_photo_url(sha256: str, size: str = THUMB_SIZE) -> str:
    """The server path of one size of a reference photo (the route needs no key)."""
    return f"{MEDIA_ROUTE}/{sha256}/{size}"


def _plant_of(task: str, entry: dict) -> str | None:
    """The plant a class names, or None (a reject class, a disease, an unknown task)."""
    extra = entry.get("extra") or {}
    if str(extra.get("role", "")).strip().lower() == REJECT_ROLE:
        return None
    if task == "diagnose":
        healthy = HEALTHY in (str(entry.get("name", "")).lower(),
                              str(entry.get("label", "")).lower())
        return (str(extra.get("crop", "")).strip() or None) if healthy else None
    if task in ("identify", "crop"):
        return str(entry.get("name", "")).strip() or None
    return None


@lru_cache(maxsize=64)
def _candidates(version_dir: Path) -> tuple[_Candidate, ...]:
    """Every reference photo of the classes of one project version that name a plant (the
    files are read once per process: a version never changes)."""
    try:
        task = str(read_manifest(version_dir).get("task", ""))
        labels = json.loads((version_dir / LABELS_FILE).read_text(encoding="utf-8"))
        index = ReferenceIndex.load(version_dir / INDEX_FILE)
    except (ArtifactError, OSError, ValueError, KeyError):
        return ()  # a broken project lends nothing (the engine reports it)
    if task not in _PREFERENCE:
        return ()
    found: list[_Candidate] = []
    for entry in labels:
        plant = _plant_of(task, entry)
        if plant is None:
            continue
        rows = np.flatnonzero(index.labels == int(entry["index"]))
        if not rows.size:
            continue
        vectors = index.vectors[rows].astype(np.float32)
        typical = vectors @ l2_normalise(vectors.mean(axis=0, keepdims=True))[0]
        for row, similarity in zip(rows, typical, strict=True):
            if not _SHA256.match(str(index.sha256[row])):
                continue  # no media key can name it
            found.append(_Candidate(
                plant=plant, preference=_PREFERENCE[task], typicality=float(similarity),
                sha256=str(index.sha256[row]),
                # whom to credit: the author, else the citation (iBean names its copyright
                # holder only there)
                author=(str(index.meta["author"][row]) or str(index.meta["citation"][row])
                        or None),
                licence=str(index.meta["licence"][row]) or None))
    return tuple(found)


def _all_candidates(projects_root: Path) -> Iterator[_Candidate]:
    for version_dir in find_active_projects([projects_root]).values():
        yield from _candidates(version_dir)


def plant_photos(*, media: MediaStore, projects_root: Path = PACKAGED_PROJECTS_DIR,
                 ) -> list[PlantPhoto]:
    """One photo per plant that the projects under ``projects_root`` name, among the
    reference photos that have a licence and every size in ``media`` (one ``existing``
    call), as server paths with their credit; sorted by plant."""
    candidates = [c for c in _all_candidates(projects_root) if licensed(c.licence)]
    keys = {c.sha256: [reference_media_key(c.sha256, size) for size in MEDIA_SIZES]
            for c in candidates}
    held = media.existing(k for listed in keys.values() for k in listed)
    best: dict[str, _Candidate] = {}
    for candidate in candidates:
        if not all(k in held for k in keys[candidate.sha256]):
            continue
        chosen = best.get(candidate.plant)
        if chosen is None or candidate.order < chosen.order:
            best[candidate.plant] = candidate
    return [PlantPhoto(scientific_name=plant, url=reference_photo_url(c.sha256),
                       author=c.author, licence=c.licence)
            for plant, c in sorted(best.items())]


@cache
def packaged_plant_photos() -> tuple[PlantPhoto, ...]:
    """:func:`plant_photos` of the packaged projects and thumbnails (read-only files: worked
    out once per process)."""
    media = LocalMediaStore(PACKAGED_MEDIA_DIR, read_only=True)
    return tuple(plant_photos(media=media, projects_root=PACKAGED_PROJECTS_DIR))


def illustrate_plants(session: Session, *, media: MediaStore | None = None,
                      projects_root: Path = PACKAGED_PROJECTS_DIR) -> int:
    """Give the knowledge base's plants the photos of :func:`plant_photos` (default: the
    packaged projects and their packaged thumbnails, which every process serves); returns how
    many plants changed. Run on every start: it also clears photos no longer shipped."""
    if media is None and projects_root == PACKAGED_PROJECTS_DIR:
        photos: Sequence[PlantPhoto] = packaged_plant_photos()
    else:
        photos = plant_photos(media=media or LocalMediaStore(PACKAGED_MEDIA_DIR, read_only=True),
                              projects_root=projects_root)
    return set_plant_photos(session, photos, managed_prefix=f"{MEDIA_ROUTE}/")
