"""How long stored analyses are kept: a maximum age, and a maximum total size of their pictures.

Every answered analysis keeps its row (the answer, the metadata headers) and its picture (up to
``max_upload_bytes``, in the media store under its sha256). :func:`purge_analyses` deletes the
analyses older than ``analysis_max_age_days`` and, while the pictures of the rest weigh more
than ``analysis_max_total_bytes``, the oldest ones: rows first, then each picture no remaining
analysis names (the same photo sent twice is stored once, and kept while any of its analyses
is). A purged analysis is gone: its ``GET`` is the API's ordinary 404.

A running server sweeps at start and then every ``analysis_sweep_interval`` seconds
(:class:`RetentionSweeper`, from the app's lifespan); ``hortus analyses purge`` runs the same
function once, with ``--dry-run`` to see what it would delete. Deleting goes in small
transactions, so API requests waiting for SQLite's write lock wait for one batch at most.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select

from hortus.config import Settings
from hortus.db import Database, utcnow
from hortus.diagnose.models import Analysis
from hortus.media.store import MediaStore

logger = logging.getLogger("hortus")

BATCH_SIZE = 200  # analyses deleted per transaction


@dataclass(frozen=True)
class RetentionPolicy:
    """What to keep: analyses at most ``max_age_days`` old, pictures of at most
    ``max_total_bytes`` together (0: no limit of that kind)."""

    max_age_days: int = 0
    max_total_bytes: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(max_age_days=settings.analysis_max_age_days,
                   max_total_bytes=settings.analysis_max_total_bytes)

    @property
    def limited(self) -> bool:
        return bool(self.max_age_days or self.max_total_bytes)

    def cutoff(self, now: datetime) -> datetime | None:
        """Analyses created before this are too old (None: no age limit)."""
        return now - timedelta(days=self.max_age_days) if self.max_age_days else None


@dataclass
class PurgeReport:
    """What a purge deleted (or, in a dry run, would delete), and what it kept."""

    dry_run: bool = False
    analyses: int = 0
    pictures: int = 0  # pictures no remaining analysis names, deleted with their analyses
    bytes_freed: int = 0
    kept_analyses: int = 0
    kept_bytes: int = 0
    oldest_kept: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {"dry_run": self.dry_run, "analyses": self.analyses, "pictures": self.pictures,
                "bytes_freed": self.bytes_freed, "kept_analyses": self.kept_analyses,
                "kept_bytes": self.kept_bytes,
                "oldest_kept": self.oldest_kept.isoformat() if self.oldest_kept else None}


@dataclass(frozen=True)
class _Row:
    id: str
    created_at: datetime
    sha256: str | None
    path: str | None
    size: int

    @property
    def picture(self) -> str:
        """What the picture is known by: its media key, else its pre-0005 file."""
        return self.sha256 or f"file:{self.path}"


@dataclass
class _Plan:
    purge: list[_Row] = field(default_factory=list)
    kept_pictures: dict[str, int] = field(default_factory=dict)  # picture -> bytes
    kept_analyses: int = 0
    oldest_kept: datetime | None = None


def _stored_bytes(database: Database) -> tuple[int, int, datetime | None]:
    """(analyses, bytes of their distinct pictures, oldest created_at): one pass in SQL."""
    picture = func.coalesce(Analysis.picture_sha256, Analysis.picture_path)
    pictures = (select(func.max(Analysis.picture_bytes).label("size"))
                .group_by(picture).subquery())
    with database.read() as session:
        count, oldest = session.execute(
            select(func.count(), func.min(Analysis.created_at))).one()
        total = session.scalar(select(func.coalesce(func.sum(pictures.c.size), 0)))
    return int(count), int(total or 0), oldest


def _newest_first(database: Database) -> Iterator[_Row]:
    query = (select(Analysis.id, Analysis.created_at, Analysis.picture_sha256,
                    Analysis.picture_path, Analysis.picture_bytes)
             .order_by(Analysis.created_at.desc(), Analysis.id.desc())
             .execution_options(yield_per=2000))
    with database.read() as session:
        for row in session.execute(query):
            yield _Row(id=row[0], created_at=row[1], sha256=row[2], path=row[3],
                       size=int(row[4] or 0))


def _plan(database: Database, policy: RetentionPolicy, now: datetime) -> _Plan:
    """Newest first: keep analyses while they are young enough and their pictures fit; the
    first picture that does not fit ends the kept ones (everything older goes: oldest first).
    A picture already kept costs nothing more."""
    plan = _Plan()
    cutoff = policy.cutoff(now)
    total = 0
    full = False
    for row in _newest_first(database):
        if full or (cutoff is not None and row.created_at < cutoff):
            plan.purge.append(row)
            continue
        if row.picture not in plan.kept_pictures:
            if policy.max_total_bytes and total + row.size > policy.max_total_bytes:
                full = True
                plan.purge.append(row)
                continue
            plan.kept_pictures[row.picture] = row.size
            total += row.size
        plan.kept_analyses += 1
        plan.oldest_kept = row.created_at
    return plan


def _batches(rows: list[_Row], size: int) -> Iterator[list[_Row]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _still_named(database: Database, rows: Iterable[_Row]) -> tuple[set[str], set[str]]:
    """The media keys and legacy files among ``rows``' pictures that an analysis still names."""
    keys = {r.sha256 for r in rows if r.sha256}
    paths = {r.path for r in rows if r.path}
    with database.read() as session:
        named_keys = {k for k in session.scalars(select(Analysis.picture_sha256).distinct()
                                                 .where(Analysis.picture_sha256.in_(keys)))
                      if k} if keys else set()
        named_paths = {p for p in session.scalars(select(Analysis.picture_path).distinct()
                                                  .where(Analysis.picture_path.in_(paths)))
                       if p} if paths else set()
    return named_keys, named_paths


def _delete_legacy_file(media_dir: Path, relative: str) -> bool:
    root = media_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return False
    path.unlink()
    return True


def purge_analyses(*, database: Database, media: MediaStore, media_dir: Path,
                   policy: RetentionPolicy, now: datetime | None = None, dry_run: bool = False,
                   batch_size: int = BATCH_SIZE,
                   should_stop: Callable[[], bool] = lambda: False) -> PurgeReport:
    """Delete the analyses ``policy`` no longer keeps, and the pictures no analysis names any
    more (``dry_run``: count them, delete nothing). ``now`` is the clock (default: UTC now).

    Rows go first, a batch per transaction, then the pictures of that batch that no analysis
    names (asked again after the delete, so a picture shared with a kept analysis stays).
    ``should_stop`` is asked between batches (a server shutting down).
    """
    now = now or utcnow()
    report = PurgeReport(dry_run=dry_run)
    if not policy.limited:
        count, total, oldest = _stored_bytes(database)
        report.kept_analyses, report.kept_bytes, report.oldest_kept = count, total, oldest
        return report
    count, total, oldest = _stored_bytes(database)
    cutoff = policy.cutoff(now)
    too_old = cutoff is not None and oldest is not None and oldest < cutoff
    too_big = bool(policy.max_total_bytes) and total > policy.max_total_bytes
    if not (too_old or too_big):  # the common case: one aggregate query, nothing to plan
        report.kept_analyses, report.kept_bytes, report.oldest_kept = count, total, oldest
        return report
    plan = _plan(database, policy, now)
    report.kept_analyses, report.oldest_kept = plan.kept_analyses, plan.oldest_kept
    report.kept_bytes = sum(plan.kept_pictures.values())
    if dry_run:
        freed = {r.picture: r.size for r in plan.purge if r.picture not in plan.kept_pictures}
        report.analyses, report.pictures = len(plan.purge), len(freed)
        report.bytes_freed = sum(freed.values())
        return report
    for batch in _batches(plan.purge, batch_size):
        if should_stop():
            break
        with database.write() as session:
            session.execute(delete(Analysis).where(Analysis.id.in_([r.id for r in batch])))
        report.analyses += len(batch)
        named_keys, named_paths = _still_named(database, batch)
        sizes = {r.picture: r.size for r in batch}
        for key in {r.sha256 for r in batch if r.sha256} - named_keys:
            if media.delete(key):
                report.pictures += 1
                report.bytes_freed += sizes[key]
        for relative in {r.path for r in batch if r.path} - named_paths:
            if _delete_legacy_file(media_dir, relative) and f"file:{relative}" in sizes:
                report.pictures += 1
                report.bytes_freed += sizes[f"file:{relative}"]
    return report


def purge_with_settings(*, database: Database, media: MediaStore, settings: Settings,
                        now: datetime | None = None, dry_run: bool = False,
                        should_stop: Callable[[], bool] = lambda: False) -> PurgeReport:
    """:func:`purge_analyses` with the configured policy."""
    return purge_analyses(database=database, media=media, media_dir=settings.media_dir,
                          policy=RetentionPolicy.from_settings(settings), now=now,
                          dry_run=dry_run, should_stop=should_stop)


class RetentionSweeper:
    """Purges in a background thread of a running server: at start, then every
    ``interval`` seconds, until :meth:`stop`."""

    def __init__(self, *, database: Database, media: MediaStore, settings: Settings) -> None:
        self.database = database
        self.media = media
        self.settings = settings
        self.sweeps = 0  # sweeps finished, for tests and curious operators
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hortus-retention", daemon=True)

    def start(self) -> RetentionSweeper:
        self._thread.start()
        return self

    def sweep(self) -> PurgeReport:
        report = purge_with_settings(database=self.database, media=self.media,
                                     settings=self.settings, should_stop=self._stop.is_set)
        if report.analyses:
            logger.info("Retention: deleted %d analyses and %d pictures (%d bytes); %d analyses "
                        "kept (%d bytes)", report.analyses, report.pictures, report.bytes_freed,
                        report.kept_analyses, report.kept_bytes)
        return report

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - logged; the next sweep tries again
                logger.exception("The retention sweep of stored analyses failed")
            self.sweeps += 1
            self._stop.wait(self.settings.analysis_sweep_interval)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)


def start_sweeps(*, database: Database, media: MediaStore,
                 settings: Settings) -> RetentionSweeper | None:
    """A started :class:`RetentionSweeper`, or None when nothing limits retention."""
    if not RetentionPolicy.from_settings(settings).limited:
        return None
    return RetentionSweeper(database=database, media=media, settings=settings).start()
