"""Which reference photos can be shown as related images: those whose o, m and s JPEGs are all
in the media store.

A packaged project ships thumbnails for a few of its 60-120 reference photos per class, so the
answer's ``images`` are the nearest photos *among those that have media*, not the nearest
photos with the media-less ones then dropped. Which photos of a project have media is asked
once per process and project version, for all its references in one batched existence check
(the packaged read-only layer answers from a listing made once; the writable store gets one
batched call), then kept as a mask over the reference index:

* a photo found held stays held: media keys name immutable objects;
* photos found missing are asked again after :data:`RECHECK_SECONDS`, the wait doubling up
  to :data:`MAX_RECHECK_SECONDS` while nothing changes, since ``hortus train`` activates a
  version before it writes the version's media.

Other domains may contribute related images of a species (:func:`add_contributor`): the photos
of valid observations follow the reference photos in each result's ``images``.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hortus.db import Database
from hortus.media.store import MediaStore
from hortus.vision.engine import ProjectModel, ReferencePhoto
from hortus.vision.media import MEDIA_SIZES, reference_media_key

RECHECK_SECONDS = 60.0
MAX_RECHECK_SECONDS = 3600.0

HeldMasks = dict[ProjectModel, np.ndarray]


@dataclass(frozen=True)
class _Held:
    mask: np.ndarray  # one bool per reference row: every size of that photo is stored
    checked: float  # monotonic time of the last check
    wait: float  # seconds until the missing photos are asked about again

    def due(self, now: float) -> bool:
        return not bool(self.mask.all()) and now - self.checked >= self.wait


_lock = threading.Lock()
_held: weakref.WeakKeyDictionary[MediaStore, weakref.WeakKeyDictionary[ProjectModel, _Held]] = (
    weakref.WeakKeyDictionary())


def cached_masks(media: MediaStore, models: Sequence[ProjectModel]) -> HeldMasks | None:
    """The masks of ``models`` when none needs checking now, else None. No I/O: safe on the
    event loop."""
    now = time.monotonic()
    known = _held.get(media)
    if known is None:
        return None
    masks: HeldMasks = {}
    for model in models:
        entry = known.get(model)
        if entry is None or entry.due(now):
            return None
        masks[model] = entry.mask
    return masks


def held_masks(media: MediaStore, models: Sequence[ProjectModel]) -> HeldMasks:
    """For each project, which of its reference photos have every size in ``media``
    (blocking: one ``existing`` call for every photo not known to be held, over all the
    projects that need checking)."""
    now = time.monotonic()
    with _lock:
        known = _held.setdefault(media, weakref.WeakKeyDictionary())
        entries = {model: known.get(model) for model in models}
    due = [m for m, entry in entries.items() if entry is None or entry.due(now)]
    keys: set[str] = set()
    for model in due:
        entry = entries[model]
        for row, sha in enumerate(model.reference_sha256):
            if entry is None or not entry.mask[row]:
                keys.update(_keys(str(sha)))
    held = media.existing(keys) if keys else set()
    for model in due:
        entry = entries[model]
        shas = [str(sha) for sha in model.reference_sha256]
        mask = np.fromiter((bool(k) and k <= held for k in map(_keys, shas)), dtype=bool,
                           count=len(shas))
        if entry is None:
            wait = RECHECK_SECONDS
        else:
            mask |= entry.mask
            grew = bool((mask & ~entry.mask).any())
            wait = RECHECK_SECONDS if grew else min(entry.wait * 2, MAX_RECHECK_SECONDS)
        entries[model] = _Held(mask=mask, checked=now, wait=wait)
    with _lock:
        for model in due:
            entry = entries[model]
            if entry is not None:
                known[model] = entry
    return {model: entry.mask for model, entry in entries.items() if entry is not None}


def _keys(sha256: str) -> frozenset[str]:
    """The media keys of every size of one reference photo (none for a malformed sha256)."""
    try:
        return frozenset(reference_media_key(sha256, size) for size in MEDIA_SIZES)
    except ValueError:
        return frozenset()


# -- photos other domains contribute -----------------------------------------------------------
#
# The photos of valid observations are related images of their species too. The observations
# domain builds on identification, so identification cannot ask it directly: it registers a
# contributor here (at import), which identification calls with the ranked species.

ContributedPhotos = Callable[[Database, MediaStore, Sequence[str], Sequence[str]],
                             dict[str, list[ReferencePhoto]]]
_contributors: list[ContributedPhotos] = []


def add_contributor(source: ContributedPhotos) -> None:
    """Register ``source(database, media, species names, query organs)``, which answers more
    related images by species name (only photos whose o, m and s sizes are stored)."""
    if source not in _contributors:
        _contributors.append(source)


def has_contributors() -> bool:
    """Whether any domain contributes related images (else no thread hop is needed)."""
    return bool(_contributors)


def contributed_references(database: Database, media: MediaStore, names: Sequence[str],
                           organs: Sequence[str]) -> dict[str, list[ReferencePhoto]]:
    """Every contributor's related images of ``names`` (blocking), by name."""
    found: dict[str, list[ReferencePhoto]] = {}
    for source in list(_contributors):
        for name, photos in source(database, media, names, organs).items():
            found.setdefault(name, []).extend(photos)
    return found
