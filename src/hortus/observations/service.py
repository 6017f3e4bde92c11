"""Observations: save an identification with its photos, vote on it, identify it again.

No HTTP here: the router parses and serialises. Each use case takes keyword arguments:

* :func:`create_observation` — the photos are identified with :func:`hortus.identify.service.
  identify_photos` (one unit of the identification quota, refunded if saving fails), stored in
  the media store (the original under its sha256, and 1280/512/192 px JPEG sizes), and saved
  with the AI's suggestions and the author's determination and organs as the author's votes;
  the label aggregation takes the new observation in, in the same transaction.
* :func:`cast_vote` — one person's determination, organ or quality vote, replacing their
  earlier one on the same target (:mod:`hortus.observations.votes`), with the aggregation
  updated in the same transaction.
* :func:`identify_observation` — the stored photos identified again, as a new identification.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hortus.accounts import quotas
from hortus.config import Settings
from hortus.db import Database, utcnow
from hortus.errors import NotFound, QuotaExceeded
from hortus.identify.charge import QuotaListener
from hortus.identify.fusion import SECONDARY_ORGANS
from hortus.identify.schemas import IdentifyOptions
from hortus.identify.service import Identification, identify_photos, load_engine
from hortus.identify.upload import UploadedPhoto
from hortus.inference import Inference
from hortus.media.store import MediaStore, photo_key, sniff_content_type
from hortus.observations import votes
from hortus.observations.form import NewObservation
from hortus.observations.models import (
    Observation,
    ObservationImage,
    ObservationLabel,
    ObservationVote,
)
from hortus.observations.names import project_classes, require_species, suggestion_names
from hortus.observations.review_records import aggregation_observation
from hortus.observations.review_store import (
    ReviewTransaction,
    review_policy,
    reviewing,
    touch_observations,
)
from hortus.observations.views import OBSERVATION_NOT_FOUND, ObservationView
from hortus.observations.views import _views as observation_views  # its batch reader
from hortus.vision.media import write_reference_media

AI_SUGGESTIONS = 5
BEST_PROJECT = "best"  # Pl@ntNet's "the project with the best results": the union answers
IMAGE_NOT_FOUND = "Image not found"
VoteKind = str  # "determination" | "organ" | "quality"

logger = logging.getLogger("hortus")


def _project(project: str) -> str:
    return "all" if project == BEST_PROJECT else project


async def species_classes(inference: Inference) -> dict[str, str]:
    """The identification projects' class names (voted names may be any of them); none when
    the vision engine cannot load (then only the knowledge base's names are accepted)."""
    try:
        return project_classes(await load_engine(inference))
    except Exception:  # noqa: BLE001 - a vote must not need the vision engine
        logger.exception("The vision engine failed to load; votes accept only the knowledge "
                         "base's species names")
        return {}


def check_species(*, database: Database, name: str, classes: dict[str, str],
                  field: str = "name") -> str:
    """The accepted spelling of a species name (blocking); InvalidInput when unknown."""
    with database.read() as session:
        return require_species(session, name, classes, field=field)


def _store_photos(media: MediaStore, photos: Sequence[UploadedPhoto]) -> list[str]:
    """Each photo in the media store under its sha256, with its served sizes; the keys."""
    keys = []
    for photo in photos:
        key = photo_key(photo.data)
        media.put(key, photo.data, content_type=sniff_content_type(photo.data[:16]))
        write_reference_media(media, key, photo.data)
        keys.append(key)
    return keys


def _suggestions(database: Database, result: Identification,
                 classes: dict[str, str]) -> list[dict[str, object]]:
    with database.read() as session:
        spelled = suggestion_names(session, [t.name for t in result.ranked], classes)
    return [{"species": spelled[t.name], "score": float(t.score)} for t in result.ranked]


def _insert(*, database: Database, settings: Settings, account_id: int, new: NewObservation,
            determination: str | None, keys: Sequence[str], organs: Sequence[str],
            result: Identification, suggestions: list[dict[str, object]]) -> int:
    """The observation, its photos and the author's votes, and the aggregation's update, in
    one transaction."""
    with database.write() as session, reviewing(session, review_policy(settings)) as review:
        return _add_observation(
            review, account_id=account_id, new=new, determination=determination, keys=keys,
            organs=organs, project=result.project, version=result.version,
            rejected=result.rejected, suggestions=suggestions)


def _add_observation(review: ReviewTransaction, *, account_id: int, new: NewObservation,
                     determination: str | None, keys: Sequence[str], organs: Sequence[str],
                     project: str, version: str, rejected: bool,
                     suggestions: list[dict[str, object]]) -> int:
    """Add the observation, its photos and the author's votes, and update the aggregation,
    inside a transaction that holds the review lock; the new observation's id."""
    session = review.session
    now = utcnow()
    row = Observation(
        author_id=account_id, observed_at=new.observed_at, latitude=new.latitude,
        longitude=new.longitude, location_accuracy=new.accuracy, place=new.place,
        license=new.license, project=project, model_version=version,
        ai_suggestions=suggestions, ai_rejected=rejected, quality_score=None,
        created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    for position, (key, organ) in enumerate(zip(keys, organs, strict=True)):
        session.add(ObservationImage(observation_id=row.id, position=position, sha256=key,
                                     declared_organ=organ, organ=organ))
        if organ in votes.VOTE_ORGANS:  # the author's organs are the author's votes
            votes.store_vote(session, observation_id=row.id, account_id=account_id,
                             kind="organ", image=key, value=organ, score=1.0)
    if determination is not None:
        votes.store_vote(session, observation_id=row.id, account_id=account_id,
                         kind="determination", image="", value=determination, score=1.0)
    review.submit(aggregation_observation(
        observation_id=row.id, author_id=account_id, quality_score=None,
        suggestions=suggestions, rejected=rejected, deleted=False,
        votes={account_id: determination} if determination is not None else {}))
    touch_observations(session, review.save() - {row.id})
    return row.id


async def create_observation(*, inference: Inference, database: Database, settings: Settings,
                             media: MediaStore, account_id: int, project: str,
                             new: NewObservation,
                             on_quota: QuotaListener | None = None) -> int:
    """Identify, store and save a new observation; its id.

    Raises InvalidInput for an unknown determination (before any quota is taken), the errors
    of :func:`~hortus.identify.service.identify_photos` (bad photos, unknown project, quota),
    and whatever storing fails with — then the identification unit is given back.
    """
    classes = await species_classes(inference)
    determination = None
    if new.determination is not None:
        determination = await run_in_threadpool(
            lambda: check_species(database=database, name=new.determination or "",
                                  classes=classes, field="determination"))
    charged: list[quotas.QuotaState] = []

    def listen(outcome: quotas.QuotaState | QuotaExceeded) -> None:
        if isinstance(outcome, quotas.QuotaState):
            charged.append(outcome)
        if on_quota is not None:
            on_quota(outcome)

    result = await identify_photos(
        inference=inference, database=database, settings=settings, account_id=account_id,
        project=_project(project), options=IdentifyOptions.model_validate({"no-reject": True,
                                                                  "nb-results": AI_SUGGESTIONS}),
        photos=new.photos, organs=new.organs, on_quota=listen)
    try:
        suggestions = await run_in_threadpool(_suggestions, database, result, classes)
        keys = await run_in_threadpool(_store_photos, media, new.photos)
        return await run_in_threadpool(lambda: _insert(
            database=database, settings=settings, account_id=account_id, new=new,
            determination=determination, keys=keys, organs=[p.organ for p in result.photos],
            result=result, suggestions=suggestions))
    except BaseException:
        if charged:
            state = charged[-1]
            await run_in_threadpool(lambda: quotas.refund(
                database=database, settings=settings, account_id=account_id,
                api=quotas.API_IDENTIFY, charged=state))
        raise


@dataclass(frozen=True)
class Ballot:
    """One vote as the router parsed it: its target and value."""

    kind: VoteKind
    image: str = ""  # a photo's sha256 (organ and quality votes)
    species: str = ""
    organ: str = ""
    good: bool = False
    score: float = 0.0


def _find_image(observation: Observation, sha256: str) -> ObservationImage:
    for image in observation.images:
        if image.sha256 == sha256:
            return image
    raise NotFound(f"{IMAGE_NOT_FOUND}: the observation has no photo {sha256[:64]!r}.",
                   error="image not found")


def cast_vote(*, database: Database, settings: Settings, account_id: int, observation_id: int,
              ballot: Ballot) -> bool:
    """Record one vote (blocking); whether it changed anything. NotFound for an unknown (or
    deleted) observation or photo."""
    with database.write() as session, reviewing(session, review_policy(settings)) as review:
        observation = session.get(Observation, observation_id, populate_existing=True)
        if observation is None or observation.deleted_at is not None:
            raise NotFound(OBSERVATION_NOT_FOUND, error="observation not found")
        if ballot.kind == "determination":
            changed = votes.cast_determination(review, observation, account_id=account_id,
                                               species=ballot.species, score=ballot.score)
        elif ballot.kind == "organ":
            changed = votes.cast_organ(review, observation,
                                       _find_image(observation, ballot.image),
                                       account_id=account_id, organ=ballot.organ,
                                       score=ballot.score)
        else:
            changed = votes.cast_quality(review, observation,
                                         _find_image(observation, ballot.image),
                                         account_id=account_id, good=ballot.good)
        if changed:
            observation.updated_at = utcnow()
        touch_observations(session, review.save() - {observation_id})
    return changed


def _stored_photos(database: Database, media: MediaStore,
                   observation_id: int) -> tuple[list[UploadedPhoto], list[str]]:
    with database.read() as session:
        observation = session.get(Observation, observation_id)
        if observation is None or observation.deleted_at is not None:
            raise NotFound(OBSERVATION_NOT_FOUND, error="observation not found")
        images = [(image.sha256, image.organ) for image in observation.images]
    photos, organs = [], []
    for sha256, organ in images:
        body = media.open(sha256)
        if body is None:
            raise NotFound("The observation's photos are no longer stored.",
                           error="image not found")
        photos.append(UploadedPhoto(filename=sha256, data=body.read()))
        organs.append(organ)
    if all(organ in SECONDARY_ORGANS for organ in organs):
        organs = ["auto"] * len(organs)  # habit/other alone: let the photos speak
    return photos, organs


async def identify_observation(*, inference: Inference, database: Database,
                               settings: Settings, media: MediaStore, account_id: int,
                               project: str, observation_id: int, options: IdentifyOptions,
                               on_quota: QuotaListener | None = None) -> Identification:
    """Identify a stored observation's photos again (one identification of the quota)."""
    photos, organs = await run_in_threadpool(_stored_photos, database, media, observation_id)
    return await identify_photos(
        inference=inference, database=database, settings=settings, account_id=account_id,
        project=_project(project), options=options, photos=photos, organs=organs,
        on_quota=on_quota, media=media)


# -- for the web pages (hortus.web.observation_*): saving an identification made there, and the
# listings of the review page and of a person's observations ------------------------------------


@dataclass(frozen=True)
class SavedObservation:
    """What saving answered: the observation, and whether it is new (False: its author had
    saved these photos already)."""

    id: int
    created: bool


def _same_photos(session: Session, *, account_id: int, keys: Sequence[str]) -> int | None:
    """The author's observation (not deleted) whose photos are exactly ``keys``, in order."""
    candidates = session.scalars(
        select(ObservationImage.observation_id)
        .join(Observation, Observation.id == ObservationImage.observation_id)
        .where(Observation.author_id == account_id, Observation.deleted_at.is_(None),
               ObservationImage.position == 0, ObservationImage.sha256 == keys[0])
        .order_by(ObservationImage.observation_id)).all()
    for observation_id in candidates:
        photos = session.scalars(
            select(ObservationImage.sha256).where(
                ObservationImage.observation_id == observation_id)
            .order_by(ObservationImage.position)).all()
        if list(photos) == list(keys):
            return observation_id
    return None


def _insert_once(*, database: Database, settings: Settings, account_id: int,
                 new: NewObservation, determination: str | None, keys: Sequence[str],
                 organs: Sequence[str], project: str, version: str,
                 suggestions: list[dict[str, object]]) -> SavedObservation:
    """The author's observation of these photos, added unless it exists (under the review lock,
    which every new observation takes: two saves at once make one observation)."""
    with database.write() as session, reviewing(session, review_policy(settings)) as review:
        found = _same_photos(session, account_id=account_id, keys=keys)
        if found is not None:
            review.save()  # nothing moved; the state stays kept for the next transaction
            return SavedObservation(id=found, created=False)
        return SavedObservation(id=_add_observation(
            review, account_id=account_id, new=new, determination=determination, keys=keys,
            organs=organs, project=project, version=version, rejected=False,
            suggestions=suggestions), created=True)


async def save_identified(*, inference: Inference, database: Database, settings: Settings,
                          media: MediaStore, account_id: int, project: str, model_version: str,
                          suggestions: Sequence[tuple[str, float]],
                          new: NewObservation) -> SavedObservation:
    """Save photos that were identified already (a result of the identify page) as their
    author's observation, with the suggestions that identification made, best first: nothing
    is identified again, so no quota is taken.

    Idempotent per author and photos: when the author has an observation (not deleted) with
    exactly these photos in this order, that one is answered, not a second one. Raises
    InvalidInput for an unknown determination.
    """
    classes = await species_classes(inference)
    determination = None
    if new.determination is not None:
        determination = await run_in_threadpool(
            lambda: check_species(database=database, name=new.determination or "",
                                  classes=classes, field="determination"))

    def spelled() -> list[dict[str, object]]:
        with database.read() as session:
            names = suggestion_names(session, [name for name, _ in suggestions], classes)
        return [{"species": names[name], "score": float(score)} for name, score in suggestions]

    ai_suggestions = await run_in_threadpool(spelled)
    keys = await run_in_threadpool(_store_photos, media, new.photos)
    return await run_in_threadpool(lambda: _insert_once(
        database=database, settings=settings, account_id=account_id, new=new,
        determination=determination, keys=keys, organs=new.organs, project=project,
        version=model_version, suggestions=ai_suggestions))


@dataclass(frozen=True)
class ObservationPage:
    """One page of a listing of observations (pages from 1)."""

    views: list[ObservationView]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _listing(session: Session, query: Select[Any], *, page: int,
             per_page: int) -> ObservationPage:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Observation.created_at.desc(), Observation.id.desc())
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return ObservationPage(views=observation_views(session, rows), page=page,
                           per_page=per_page, total=int(total))


def waiting_for_review(*, session: Session, page: int, per_page: int) -> ObservationPage:
    """Observations not valid yet (nor deleted), newest first: what reviewers are asked about."""
    query = (select(Observation)
             .outerjoin(ObservationLabel, ObservationLabel.observation_id == Observation.id)
             .where(Observation.deleted_at.is_(None),
                    or_(ObservationLabel.valid.is_(None), ObservationLabel.valid.is_(False))))
    return _listing(session, query, page=page, per_page=per_page)


def observations_by(*, session: Session, account_id: int, page: int,
                    per_page: int) -> ObservationPage:
    """An author's observations (not deleted), valid or not, newest first."""
    query = select(Observation).where(Observation.author_id == account_id,
                                      Observation.deleted_at.is_(None))
    return _listing(session, query, page=page, per_page=per_page)


def determinations_by(*, session: Session, account_id: int,
                      observation_ids: Sequence[int]) -> dict[int, str]:
    """The species ``account_id`` voted on each of these observations (on their own, their
    determination)."""
    if not observation_ids:
        return {}
    return {observation_id: value for observation_id, value in session.execute(
        select(ObservationVote.observation_id, ObservationVote.value).where(
            ObservationVote.account_id == account_id, ObservationVote.kind == "determination",
            ObservationVote.observation_id.in_(list(observation_ids))))}
