"""Importing a Darwin Core Archive into observations (``hortus import FILE.zip``).

Three steps, so that a refused archive changes nothing and a failing one leaves nothing behind:

1. **Read and check** everything (:mod:`hortus.observations.dwca_read`,
   :mod:`hortus.observations.dwca_rows`) without writing: a hostile or malformed archive is
   refused here with an :class:`~hortus.observations.dwca_read.ArchiveError`. Occurrences
   already on this server — by ``occurrenceID``: imported before, or this server's own
   (``urn:hortus:<this dataset>:observation:<id>``) — are counted and left alone, so
   importing the same archive twice adds nothing.
2. **Store the photos** (the original under its sha256, and the o/m/s sizes), each checked as
   an identification photo is (format, pixels) and decoded once to make the sizes. A photo
   known only by its address is not fetched (imports work offline): its URL and credits are
   recorded, and the report counts it.
3. **One database transaction**, holding the review lock: accounts for the people the archive
   names (:mod:`hortus.observations.dwc_people`), the observations, their photos, their
   determination and organ votes, their Darwin Core records; then the label aggregation
   recomputed with the full loop. If anything fails, the transaction rolls back and the photos
   step 2 added that nothing shows are removed again.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hortus.config import Settings
from hortus.db import Database, utcnow
from hortus.media.store import MediaStore, photo_key, sniff_content_type
from hortus.observations import votes
from hortus.observations.dwc import dataset_identifier, local_observation_id
from hortus.observations.dwc_models import DwcMedia, DwcOccurrence
from hortus.observations.dwc_people import PeopleBook
from hortus.observations.dwca_read import ArchiveError, ArchiveLimits, DarwinCoreArchive, Row
from hortus.observations.dwca_rows import (
    NameResolver,
    PlannedOccurrence,
    PlannedPhoto,
    Skip,
    plan_occurrence,
)
from hortus.observations.models import Observation, ObservationImage, ObservationLabel
from hortus.observations.removal import still_shown
from hortus.observations.review_records import chunks, review_observations
from hortus.observations.review_store import (
    ReviewTransaction,
    lock_run,
    review_policy,
    touch_observations,
)
from hortus.plants.taxonomy import normalise_name
from hortus.review.loop import aggregate
from hortus.vision.artifacts import LABELS_FILE, find_active_projects, read_manifest
from hortus.vision.decode import ImageDecodeError
from hortus.vision.engine import PACKAGED_PROJECTS_DIR, REJECT_ROLE
from hortus.vision.media import MEDIA_SIZES, reference_media_key, write_reference_media
from hortus.vision.pixel_budget import PixelBudget

logger = logging.getLogger("hortus")
IMPORT_PROJECT = "import"  # the project of an imported observation: no AI has looked at it
MAX_NOTES = 20
Progress = Callable[[str, int, int], None]  # (phase, done, total)
PhotoKey = tuple[int, int]  # (occurrence line, photo position)


@dataclass
class ImportReport:
    """What an import did. ``skipped``: occurrences left out, by reason; ``photos_skipped``:
    photos not stored, by reason (``remote``: an address, not fetched); ``notes``: the first
    few reasons with their lines."""

    occurrences: int = 0
    imported: int = 0
    already_present: int = 0
    unnamed: int = 0
    valid: int = 0
    photos_stored: int = 0
    photos_skipped: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    media_without_occurrence: int = 0
    people_created: int = 0
    ignored_extensions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)

    def as_dict(self) -> dict[str, object]:
        return {"occurrences": self.occurrences, "imported": self.imported,
                "already_present": self.already_present, "unnamed": self.unnamed,
                "valid": self.valid, "photos_stored": self.photos_stored,
                "photos_skipped": dict(self.photos_skipped), "skipped": dict(self.skipped),
                "media_without_occurrence": self.media_without_occurrence,
                "people_created": self.people_created,
                "ignored_extensions": self.ignored_extensions, "notes": self.notes}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


def project_class_names(settings: Settings) -> dict[str, str]:
    """The identification projects' class names (lower-case spelling → spelling), read from
    their labels files: names an archive may use beside the knowledge base's, found without
    loading the vision engine."""
    names: dict[str, str] = {}
    roots = [settings.models_dir / "projects", PACKAGED_PROJECTS_DIR]
    for version_dir in find_active_projects(roots).values():
        try:
            if read_manifest(version_dir).get("task") != "identify":
                continue
            labels = json.loads((version_dir / LABELS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError, RuntimeError):
            continue
        for entry in labels:
            role = str((entry.get("extra") or {}).get("role", "")).lower()
            name = normalise_name(str(entry.get("name", "")))
            if name and role != REJECT_ROLE:
                names.setdefault(name.lower(), name)
    return names


# -- step 1: read and check --------------------------------------------------------------------

def _media_rows(archive: DarwinCoreArchive, report: ImportReport) -> dict[str, list[Row]]:
    found: dict[str, list[Row]] = {}
    if archive.multimedia is None:
        return found
    cap = archive.limits.max_media_per_occurrence
    for row in archive.rows(archive.multimedia):
        listed = found.setdefault(row.id, [])
        if len(listed) < cap:
            listed.append(row)
        else:
            report.photos_skipped["over the photos per occurrence"] += 1
    return found


def plan_archive(archive: DarwinCoreArchive, database: Database, classes: dict[str, str],
                 report: ImportReport) -> list[PlannedOccurrence]:
    """Every occurrence of the archive, planned; those left out counted in ``report``."""
    media = _media_rows(archive, report)
    plans: list[PlannedOccurrence] = []
    ids: set[str] = set()
    keys: set[str] = set()
    with database.read() as session:
        names = NameResolver(session, classes)
        for row in archive.rows(archive.core):
            report.occurrences += 1
            if not row.id:
                raise ArchiveError(f"{archive.core.location}, line {row.line}: the occurrence "
                                   "has no id.")
            if row.id in ids:
                raise ArchiveError(f"{archive.core.location}, line {row.line}: the id "
                                   f"{row.id[:80]!r} appears twice.")
            ids.add(row.id)
            try:
                plan = plan_occurrence(row, media.get(row.id, []), archive, names)
            except Skip as skip:
                report.skipped[skip.reason] += 1
                report.note(f"line {row.line}: left out, {skip.detail}")
                continue
            if plan.occurrence_id in keys:
                raise ArchiveError(f"{archive.core.location}, line {row.line}: the occurrenceID "
                                   f"{plan.occurrence_id[:80]!r} appears twice.")
            keys.add(plan.occurrence_id)
            plans.append(plan)
    report.media_without_occurrence = sum(len(rows) for key, rows in media.items()
                                          if key not in ids)
    report.ignored_extensions = list(archive.ignored_extensions)
    return plans


def present_occurrences(session: Session, dataset: str,
                        plans: Sequence[PlannedOccurrence]) -> set[str]:
    """The occurrenceIDs among ``plans`` this server already has."""
    wanted = [p.occurrence_id for p in plans]
    present: set[str] = set()
    for batch in chunks(wanted):
        present.update(session.scalars(select(DwcOccurrence.occurrence_id)
                                       .where(DwcOccurrence.occurrence_id.in_(batch))))
    local = {key: local_observation_id(dataset, key) for key in wanted}
    own = sorted({i for i in local.values() if i is not None})
    held: set[int] = set()
    for id_batch in chunks(own):
        held.update(session.scalars(select(Observation.id).where(Observation.id.in_(id_batch))))
    present.update(key for key, i in local.items() if i is not None and i in held)
    return present


# -- step 2: the photos ------------------------------------------------------------------------

@dataclass
class _PhotoStep:
    archive: DarwinCoreArchive
    media: MediaStore
    budget: PixelBudget
    max_bytes: int
    report: ImportReport
    added: set[str] = field(default_factory=set)  # media keys this import stored
    by_member: dict[str, str | None] = field(default_factory=dict)
    stored: dict[PhotoKey, str] = field(default_factory=dict)
    reasons: dict[PhotoKey, str] = field(default_factory=dict)

    def store_member(self, member: str) -> str:
        """The sha256 of an archive photo, stored with its sizes; Skip when it is no photo
        Hortus takes."""
        data = self.archive.read_member(member, self.max_bytes)
        if sniff_content_type(data[:16]) not in ("image/jpeg", "image/png", "image/webp"):
            raise Skip("unreadable", f"{member} is not a JPEG, PNG or WebP photo")
        try:
            self.budget.check(data)
        except ImageDecodeError as exc:
            raise Skip("too many pixels", f"{member}: {exc.reason}") from None
        key = photo_key(data)
        keys = [key, *(reference_media_key(key, size) for size in MEDIA_SIZES)]
        before = self.media.existing(keys)
        try:
            write_reference_media(self.media, key, data)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
                SyntaxError) as exc:
            raise Skip("unreadable", f"{member} cannot be decoded ({exc})") from None
        finally:
            self.added.update(k for k in keys[1:] if k not in before
                              and k in self.media.existing([k]))
        if self.media.put(key, data, content_type=sniff_content_type(data[:16])):
            self.added.add(key)
        return key

    def photo(self, plan: PlannedOccurrence, position: int, photo: PlannedPhoto) -> None:
        where = (plan.line, position)
        if photo.member is None:
            self.reasons[where] = "remote"
        elif photo.license_code is None:
            self.reasons[where] = "licence"
        else:
            if photo.member not in self.by_member:
                try:
                    self.by_member[photo.member] = self.store_member(photo.member)
                except Skip as skip:
                    self.by_member[photo.member] = None
                    self.reasons[where] = skip.reason
                    self.report.note(f"line {plan.line}: photo {photo.member[:80]} not "
                                     f"stored, {skip.detail}")
            key = self.by_member[photo.member]
            if key is None:
                self.reasons.setdefault(where, "unreadable")
            else:
                self.stored[where] = key
                return
        self.report.photos_skipped[self.reasons[where]] += 1


def remove_unshown(database: Database, media: MediaStore, keys: Iterable[str]) -> None:
    """Remove the media objects among ``keys`` (photos and sizes an import stored) that no
    observation or analysis shows: a failed import leaves none behind."""
    keys = set(keys)
    photos = {key.split("_", 1)[0] for key in keys}
    with database.read() as session:
        shown, analysed = still_shown(session, photos)
    for key in sorted(keys):
        photo = key.split("_", 1)[0]
        if photo in shown or (key == photo and photo in analysed):
            continue
        try:
            media.delete(key)
        except Exception:  # noqa: BLE001 - cleaning up after a failure must not hide it
            logger.exception("could not remove the media object %s", key)


# -- step 3: the transaction -------------------------------------------------------------------

def _insert(session: Session, plan: PlannedOccurrence, photos: _PhotoStep,
            people: PeopleBook) -> int:
    now = utcnow()
    author_id = people.account(plan.recorded_by) if plan.recorded_by else None
    row = Observation(
        author_id=author_id, observed_at=plan.observed_at, latitude=plan.latitude,
        longitude=plan.longitude, location_accuracy=plan.accuracy, place=plan.place,
        license=plan.license_code, project=IMPORT_PROJECT, model_version="",
        ai_suggestions=[], ai_rejected=False, quality_score=None, created_at=now,
        updated_at=now)
    session.add(row)
    session.flush()
    shown: set[str] = set()
    for position, photo in enumerate(plan.photos):
        key = photos.stored.get((plan.line, position))
        reason = photos.reasons.get((plan.line, position))
        if key is not None and key in shown:
            key, reason = None, "duplicate"
        if key is not None:
            shown.add(key)
            session.add(ObservationImage(observation_id=row.id, position=len(shown) - 1,
                                         sha256=key, declared_organ=photo.organ,
                                         organ=photo.organ))
            if author_id is not None and photo.organ in votes.VOTE_ORGANS:
                votes.store_vote(session, observation_id=row.id, account_id=author_id,
                                 kind="organ", image=key, value=photo.organ, score=1.0)
        session.add(DwcMedia(observation_id=row.id, position=position, sha256=key,
                             identifier=photo.identifier[:2000], license=photo.license_text,
                             creator=photo.creator, rights_holder=photo.rights_holder,
                             skipped=reason))
    determinations: dict[int, str] = {}
    if plan.species is not None:
        for name in plan.identifiers:
            determinations[people.account(name)] = plan.species
    if author_id is not None:
        determinations.pop(author_id, None)
        if plan.author_species is not None:
            determinations[author_id] = plan.author_species
    for account_id, species in determinations.items():
        votes.store_vote(session, observation_id=row.id, account_id=account_id,
                         kind="determination", image="", value=species, score=1.0)
    session.add(DwcOccurrence(observation_id=row.id, occurrence_id=plan.occurrence_id,
                              recorded_by=plan.recorded_by, scientific_name=plan.name_text,
                              imported_at=now))
    session.flush()
    return row.id


def _save(*, database: Database, settings: Settings, dataset: str,
          plans: Sequence[PlannedOccurrence], photos: _PhotoStep, report: ImportReport,
          progress: Progress | None) -> list[int]:
    """Step 3; the new observations' ids."""
    with database.write() as session:
        run = lock_run(session)  # votes wait: the aggregation below sees every observation
        present = present_occurrences(session, dataset, plans)  # again, under the lock
        todo = [p for p in plans if p.occurrence_id not in present]
        report.already_present += len(plans) - len(todo)
        people = PeopleBook(session)
        ids = []
        for done, plan in enumerate(todo, start=1):
            ids.append(_insert(session, plan, photos, people))
            report.unnamed += plan.species is None
            if progress is not None and (done % 100 == 0 or done == len(todo)):
                progress("saving", done, len(todo))
        report.people_created = people.created
        if ids:
            state = aggregate(list(review_observations(session)), review_policy(settings))
            moved = ReviewTransaction(session, run, state, rebuilt=True).save()
            touch_observations(session, moved - set(ids))
        return ids


def import_archive(*, database: Database, settings: Settings, media: MediaStore, path: Path,
                   limits: ArchiveLimits | None = None,
                   progress: Progress | None = None) -> ImportReport:
    """Import a Darwin Core Archive (blocking); what it did. ArchiveError (nothing changed)
    for an archive refused as a whole."""
    report = ImportReport()
    limits = limits or ArchiveLimits(max_photo_bytes=settings.max_upload_bytes)
    with DarwinCoreArchive(path, limits) as archive:
        if progress is not None:
            progress("reading", 0, 1)
        plans = plan_archive(archive, database, project_class_names(settings), report)
        dataset = dataset_identifier(database)
        with database.read() as session:
            present = present_occurrences(session, dataset, plans)
        report.already_present = len(present)
        plans = [p for p in plans if p.occurrence_id not in present]
        if progress is not None:
            progress("reading", 1, 1)
        photos = _PhotoStep(archive=archive, media=media,
                            budget=PixelBudget(scaled=settings.max_image_pixels,
                                               full=settings.max_full_decode_pixels),
                            max_bytes=limits.max_photo_bytes, report=report)
        try:
            total = sum(len(p.photos) for p in plans)
            done = 0
            for plan in plans:
                for position, photo in enumerate(plan.photos):
                    photos.photo(plan, position, photo)
                    done += 1
                    if progress is not None:
                        progress("photos", done, total)
            ids = _save(database=database, settings=settings, dataset=dataset, plans=plans,
                        photos=photos, report=report, progress=progress)
        except BaseException:
            remove_unshown(database, media, photos.added)
            raise
    report.photos_stored = len({photos.stored[k] for k in photos.stored})
    report.imported = len(ids)
    with database.read() as session:
        for batch in chunks(ids):
            report.valid += len(list(session.scalars(
                select(ObservationLabel.observation_id).where(
                    ObservationLabel.observation_id.in_(batch),
                    ObservationLabel.valid.is_(True)))))
    return report
