"""Image analysis, orchestrated: quota, crop choice, the engine, the catalogue, storage.

The route checks the request and hands over the picture's bytes and the metadata headers as
sent; this module parses them (never refusing one), then, in one call in the inference pool,
charges the monthly quota (refunded when the analysis fails), chooses the crop model, asks the
engine, maps the model's classes onto the disease catalogue and the recognised crops onto
knowledge-base plants, stores the picture and the answer, and returns the answer. No
database work runs on the event loop.

The picture is kept in the media store (:mod:`hortus.media`) under its sha256, so the same
photo sent twice is stored once, and every server process sharing the store can serve it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hortus.accounts import quotas
from hortus.config import Settings
from hortus.db import Database, utcnow
from hortus.diagnose.answer import build_answer, recognised_crops
from hortus.diagnose.catalogue_service import DiseaseRef, crop_project, resolve_classes
from hortus.diagnose.metadata import AnalysisMetadata, parse_metadata
from hortus.diagnose.models import Analysis
from hortus.diagnose.recognition import PhotoDiagnosis, crop_models, diagnose_photo
from hortus.diagnose.schemas import ImageAnalysis, StoredAnalysis
from hortus.errors import InvalidInput, NotFound, QuotaExceeded
from hortus.inference import Inference
from hortus.media.store import MediaStore, photo_key
from hortus.plants.taxonomy import known_records
from hortus.vision.decode import ImageDecodeError

logger = logging.getLogger("hortus")


@dataclass(frozen=True)
class AnalysisResult:
    """PEAT's answer, and where the account's monthly quota stands after it."""

    answer: ImageAnalysis
    quota: quotas.QuotaState


def _choose_crop(database: Database, inference: Inference,
                 crop: str | None) -> tuple[str | None, bool]:
    """(project to diagnose with, whether to diagnose at all) for the ``crop`` header."""
    if not crop:
        return None, True
    models = crop_models(inference.engine)
    with database.read() as session:
        project = crop_project(session=session, crop=crop, crops=models)
    return project, project is not None


_CATALOGUE_TTL = 60.0  # seconds a class -> disease mapping is reused (catalogue edits show after)
_mapping_cache: dict[tuple[tuple[str, ...], str | None], tuple[float, dict[str, DiseaseRef]]] = {}


def _diseases_for(database: Database, diagnosis: PhotoDiagnosis) -> dict[str, DiseaseRef]:
    """The catalogue entries of the diagnosing model's classes (cached for a minute)."""
    crop = diagnosis.chosen.crop if diagnosis.chosen else None
    key = (tuple(sorted(c.name for c in diagnosis.classes)), crop)
    cached = _mapping_cache.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < _CATALOGUE_TTL:
        return cached[1]
    with database.read() as session:
        mapping = resolve_classes(session=session, names=list(key[0]), crop=crop)
    if len(_mapping_cache) > 256:
        _mapping_cache.clear()
    _mapping_cache[key] = (now, mapping)
    return mapping


def _crop_plants(database: Database, diagnosis: PhotoDiagnosis) -> dict[str, int | None]:
    """The knowledge-base plant of each recognised crop, by its scientific name (the records
    identification reads, cached a minute by name)."""
    crops = recognised_crops(diagnosis)
    if not crops:
        return {}
    records = known_records(database, crops)
    return {crop: records[crop].plant_id if crop in records else None for crop in crops}


def _record(*, database: Database, account_id: int, pic_id: str, picture: bytes,
            picture_key: str, metadata: AnalysisMetadata, diagnosis: PhotoDiagnosis,
            answer: dict[str, Any], created_at: datetime) -> None:
    """Commit the analysis row (its picture is already in the media store)."""
    fields = metadata.parsed()
    with database.write() as session:
        session.add(Analysis(
            id=pic_id, account_id=account_id, created_at=created_at,
            picture_sha256=picture_key, picture_path=None,
            picture_format=diagnosis.format, picture_bytes=len(picture),
            width=diagnosis.width, height=diagnosis.height,
            project=diagnosis.chosen.project if diagnosis.chosen else None,
            project_version=diagnosis.chosen.version if diagnosis.chosen else None,
            answer=answer, metadata_raw=metadata.sent, **fields,
        ))


class _KeptPicture:
    """The picture of one analysis in the media store, and whether this request stored it."""

    def __init__(self, media: MediaStore, picture: bytes) -> None:
        self.media = media
        self.picture = picture
        self.key = photo_key(picture)
        self.stored = False

    def keep(self) -> None:
        self.stored = self.media.put(self.key, self.picture)

    def discard(self, database: Database) -> None:
        """Remove the picture of a failed analysis, unless an earlier request stored it or an
        analysis names it (the same photo sent again: content-addressed, it is shared)."""
        if not self.stored:
            return
        with database.read() as session:
            named = session.scalar(select(Analysis.id).where(
                Analysis.picture_sha256 == self.key).limit(1))
        if named is None:
            self.media.delete(self.key)


# Takes the quota unit while the engine works (a database round trip hidden behind inference).
_quota_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hortus-analysis-quota")


def _analyse_now(database: Database, settings: Settings, inference: Inference,
                 media: MediaStore, account_id: int, pic_id: str, picture: bytes,
                 metadata: AnalysisMetadata, clock: Callable[[], datetime]) -> AnalysisResult:
    """The whole analysis in one worker call: quota, crop choice, engine, catalogue, storage.

    One unit of the monthly quota is taken atomically as the analysis starts, alongside the
    engine's work; nothing is answered or stored unless it was taken (QuotaExceeded
    otherwise), and it is given back if the analysis fails, to the month it was taken from
    (``clock`` is read once, as the analysis starts). One call, not one per step: each hop
    between threads costs two wake-ups, which on a busy machine add milliseconds.
    """
    kept = _KeptPicture(media, picture)
    started_at = clock()

    def take_unit_and_keep_picture() -> quotas.QuotaState:
        state = quotas.consume(database=database, settings=settings, account_id=account_id,
                               api=quotas.API_ANALYSIS, now=started_at)
        try:
            kept.keep()
        except BaseException:
            _refund(database, settings, account_id, state)
            raise
        return state

    if _recently_spent(account_id):  # refuse before the engine runs, not after
        charge: Future[quotas.QuotaState] = Future()
        charge.set_result(_charge_or_remember(take_unit_and_keep_picture, account_id))
    else:
        charge = _quota_pool.submit(_charge_or_remember, take_unit_and_keep_picture,
                                    account_id)
    try:
        project, diagnose = (_choose_crop(database, inference, metadata.crop) if metadata.crop
                             else (None, True))
        diagnosis = diagnose_photo(inference.engine, picture, project=project,
                                   diagnose=diagnose)
        answer = build_answer(pic_id=pic_id, diagnosis=diagnosis,
                              diseases=_diseases_for(database, diagnosis),
                              plants=_crop_plants(database, diagnosis))
    except BaseException:
        if charge.exception() is None:  # waits for the unit; gives it back when it was taken
            kept.discard(database)
            _refund(database, settings, account_id, charge.result())
        raise
    state = charge.result()  # QuotaExceeded: the month is spent, the result is not given
    try:
        _record(database=database, account_id=account_id, pic_id=pic_id, picture=picture,
                picture_key=kept.key, metadata=metadata, diagnosis=diagnosis,
                answer=answer.model_dump(mode="json"), created_at=started_at)
    except BaseException:
        kept.discard(database)
        _refund(database, settings, account_id, state)
        raise
    return AnalysisResult(answer=answer, quota=state)


# Accounts whose monthly quota was found spent (monotonic time until which to check first):
# their next requests are refused before the engine runs instead of alongside it.
_spent_until: dict[int, float] = {}
_SPENT_MEMORY = 300.0


def _recently_spent(account_id: int) -> bool:
    until = _spent_until.get(account_id)
    return until is not None and time.monotonic() < until


def _charge_or_remember(charge: Callable[[], quotas.QuotaState],
                        account_id: int) -> quotas.QuotaState:
    try:
        state = charge()
    except QuotaExceeded as exc:
        if len(_spent_until) > 10_000:
            _spent_until.clear()
        _spent_until[account_id] = time.monotonic() + min(_SPENT_MEMORY, exc.reset_seconds)
        raise
    _spent_until.pop(account_id, None)
    return state


def _refund(database: Database, settings: Settings, account_id: int,
            charged: quotas.QuotaState) -> None:
    """Give the unit back to the month ``charged`` took it from (not the month it is now)."""
    quotas.refund(database=database, settings=settings, account_id=account_id,
                  api=quotas.API_ANALYSIS, charged=charged)


async def analyse(*, database: Database, settings: Settings, inference: Inference,
                  media: MediaStore, account_id: int, picture: bytes,
                  headers: Mapping[str, str],
                  clock: Callable[[], datetime] = utcnow) -> AnalysisResult:
    """Charge the quota, diagnose one picture and keep it in ``media``; PEAT's answer (a fresh
    ``pic_id``).

    ``headers`` are the metadata headers as sent (by PEAT's spelling of their names): all are
    stored, parsed where they can be, and none is refused. Raises QuotaExceeded when the
    month's quota is spent, and InvalidInput (the unit given back) when the bytes are not a
    usable photo (empty, not an image, an unsupported format, truncated, absurd dimensions).

    The work is bounded whatever the answer: a picture with more pixels than
    ``inference.pixel_budget`` allows is refused from its header (InvalidInput, before any
    quota or decoding), and the analysis waits for one of the account's places in
    ``inference.image_work`` (ImageWorkBusy, 429, when none comes free).

    ``clock`` gives the analysis its time: the month its quota unit is taken from (and given
    back to, should it fail) and the stored ``created_at``.
    """
    metadata = parse_metadata(headers)
    try:
        inference.pixel_budget.check(picture)
        async with inference.image_work.request(account_id):
            return await inference.run(_analyse_now, database, settings, inference, media,
                                       account_id, str(uuid.uuid4()), picture, metadata, clock)
    except ImageDecodeError as exc:
        raise InvalidInput(f"The picture cannot be analysed: {exc.reason}",
                           error=exc.code) from None


def _own_analysis(session: Session, account_id: int, pic_id: uuid.UUID) -> Analysis:
    analysis = session.scalar(select(Analysis).where(Analysis.id == str(pic_id),
                                                     Analysis.account_id == account_id))
    if analysis is None:
        raise NotFound(f"There is no analysis {pic_id} for this key.", error="unknown analysis")
    return analysis


PICTURE_MISSING = "The picture of this analysis is not stored (any more)."


def picture_key(*, session: Session, account_id: int, pic_id: uuid.UUID) -> str:
    """The media key of a stored analysis's picture (this account's only: NotFound
    otherwise, and for an analysis stored before pictures were media objects and not yet
    adopted by ``hortus media migrate``)."""
    analysis = _own_analysis(session, account_id, pic_id)
    if analysis.picture_sha256 is None:
        raise NotFound(PICTURE_MISSING, error="picture not found")
    return analysis.picture_sha256


def get_analysis(*, session: Session, account_id: int, pic_id: uuid.UUID) -> StoredAnalysis:
    """A stored analysis of this account: the answer as sent, plus ``created_at`` and the
    ``metadata`` headers. Another account's analysis is NotFound (it is not theirs to see)."""
    analysis = _own_analysis(session, account_id, pic_id)
    metadata = {
        "latitude": analysis.latitude, "longitude": analysis.longitude,
        "gps_accuracy": analysis.gps_accuracy, "eppo": analysis.eppo,
        "user_id": analysis.user_id, "user_name": analysis.user_name, "crop": analysis.crop,
        "variety": analysis.variety, "timestamp": analysis.timestamp,
        "taken_at": analysis.taken_at, "headers": analysis.metadata_raw or {},
    }
    return StoredAnalysis.model_validate({**analysis.answer, "created_at": analysis.created_at,
                                          "metadata": metadata})
