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
from hortus.observations.models import Observation, ObservationImage
from hortus.observations.names import project_classes, require_species, suggestion_names
from hortus.observations.review_records import aggregation_observation
from hortus.observations.review_store import review_policy, reviewing, touch_observations
from hortus.observations.views import OBSERVATION_NOT_FOUND
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
        now = utcnow()
        row = Observation(
            author_id=account_id, observed_at=new.observed_at, latitude=new.latitude,
            longitude=new.longitude, location_accuracy=new.accuracy, place=new.place,
            license=new.license, project=result.project, model_version=result.version,
            ai_suggestions=suggestions, ai_rejected=result.rejected, quality_score=None,
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
            suggestions=suggestions, rejected=result.rejected, deleted=False,
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
