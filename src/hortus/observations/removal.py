"""Deleting an observation: the author's right, or an operator's (an account with ``is_admin``).

In one write transaction that holds the review lock: the observation is marked deleted (its row
stays, so ``sync/latest`` tells partners to drop it, and re-importing its occurrence does not
bring it back), every vote on it is removed, and the label aggregation takes it in as an
observation without votes — the voters' weights lose what it gave them, and every observation
whose verdict moves with them is marked updated. After the commit its photos are removed from
the media store: the original and its o/m/s sizes, unless another observation still shows the
same photo (the original also when an analysis stored the same picture: analyses name their
pictures by the same key).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hortus.accounts.models import Account
from hortus.config import Settings
from hortus.db import Database, utcnow
from hortus.diagnose.models import Analysis
from hortus.errors import Forbidden, NotFound
from hortus.media.store import MediaStore
from hortus.observations.models import Observation, ObservationImage, ObservationVote
from hortus.observations.review_records import aggregation_observation
from hortus.observations.review_store import review_policy, reviewing, touch_observations
from hortus.observations.views import OBSERVATION_NOT_FOUND
from hortus.vision.media import MEDIA_SIZES, reference_media_key

logger = logging.getLogger("hortus")
NOT_YOURS = "Only the observation's author or an operator may delete it."


def _mark_deleted(*, database: Database, settings: Settings, account_id: int | None,
                  observation_id: int) -> list[str]:
    """The transaction; the deleted observation's photo keys."""
    with database.write() as session, reviewing(session, review_policy(settings)) as review:
        observation = session.get(Observation, observation_id, populate_existing=True)
        if observation is None or observation.deleted_at is not None:
            raise NotFound(OBSERVATION_NOT_FOUND, error="observation not found")
        if account_id is not None and observation.author_id != account_id:
            caller = session.get(Account, account_id)
            if caller is None or not caller.is_admin:
                raise Forbidden(NOT_YOURS, error="forbidden")
        now = utcnow()
        observation.deleted_at = observation.updated_at = now
        session.execute(delete(ObservationVote)
                        .where(ObservationVote.observation_id == observation_id))
        review.submit(aggregation_observation(
            observation_id=observation_id, author_id=observation.author_id,
            quality_score=observation.quality_score, suggestions=observation.ai_suggestions,
            rejected=observation.ai_rejected, deleted=True, votes={}))
        touch_observations(session, review.save() - {observation_id})
        return [image.sha256 for image in observation.images]


def still_shown(session: Session, keys: Iterable[str]) -> tuple[set[str], set[str]]:
    """Among photo keys, those another (not deleted) observation shows, and those an analysis
    stored as its picture."""
    wanted = sorted(set(keys))
    if not wanted:
        return set(), set()
    shown = set(session.scalars(
        select(ObservationImage.sha256).distinct()
        .join(Observation, Observation.id == ObservationImage.observation_id)
        .where(ObservationImage.sha256.in_(wanted), Observation.deleted_at.is_(None))))
    analysed = set(session.scalars(select(Analysis.picture_sha256).distinct()
                                   .where(Analysis.picture_sha256.in_(wanted))))
    return shown, {key for key in analysed if key}


def remove_photos(*, database: Database, media: MediaStore, keys: Iterable[str]) -> int:
    """Remove the photos among ``keys`` that nothing shows any more (blocking); how many
    objects (originals and sizes) were removed."""
    keys = set(keys)
    with database.read() as session:
        shown, analysed = still_shown(session, keys)
    removed = 0
    for key in sorted(keys - shown):
        targets = [reference_media_key(key, size) for size in MEDIA_SIZES]
        if key not in analysed:
            targets.append(key)
        for target in targets:
            try:
                removed += bool(media.delete(target))
            except Exception:  # noqa: BLE001 - the observation is deleted; a photo may linger
                logger.exception("could not remove the media object %s", target)
    return removed


def delete_observation(*, database: Database, settings: Settings, media: MediaStore,
                       account_id: int | None, observation_id: int) -> int:
    """Delete an observation as ``account_id`` (None: the operator, on the server's command
    line) (blocking); how many media objects went with it. NotFound for an unknown or already
    deleted observation, Forbidden when the account is neither its author nor an operator."""
    keys = _mark_deleted(database=database, settings=settings, account_id=account_id,
                         observation_id=observation_id)
    return remove_photos(database=database, media=media, keys=keys)
