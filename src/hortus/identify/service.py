"""Identification: photos in, ranked species out (the orchestration between vision and plants).

One use case, :func:`identify_photos` — "identify these photos for this caller" — whether the
photos arrive in a streamed upload (the API's POST), are already in memory (the web page), or
must be fetched from URLs (the API's GET). The walk: resolve the project, take a unit of the
caller's quota, check each photo's pixels from its header as soon as it has arrived, wait for
one of the account's places for image work (:mod:`hortus.image_work`), decode and embed it
(:class:`~hortus.identify.pipeline.PhotoPipeline`), ask each project for calibrated
probabilities and open-set scores, fuse the photos (:mod:`hortus.identify.fusion`), reject or
rank, then read the names of the ranked species from the knowledge base in two queries.
With related images asked for, each result's reference photos are the nearest of that species
among those whose media is stored (:mod:`hortus.identify.related`).
No HTTP here: the router parses and serialises.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncGenerator, Sequence
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from hortus.config import Settings
from hortus.db import Database
from hortus.errors import InvalidInput, NotFound
from hortus.identify import fusion, related, remote
from hortus.identify.charge import QuotaListener, identification_unit
from hortus.identify.params import MAX_IMAGES, check_organs
from hortus.identify.pipeline import Photo, PhotoPipeline, image_label
from hortus.identify.projects import ALL_PROJECTS, PROJECT_NOT_FOUND, resolve_projects
from hortus.identify.schemas import ApiStatus, IdentifyOptions
from hortus.identify.upload import OrganField, UploadedPhoto
from hortus.inference import Inference
from hortus.media.store import MediaStore
from hortus.plants.taxonomy import SpeciesRecord, cached_records, read_records
from hortus.vision.decode import ImageDecodeError
from hortus.vision.engine import ProjectModel, ReferencePhoto, VisionEngine
from hortus.vision.openset import rejects

__all__ = ["ALL_PROJECTS", "PROJECT_NOT_FOUND", "SPECIES_NOT_FOUND",
           "Identification", "health", "identify_photos", "load_engine", "rank_species"]

REFERENCES_PER_RESULT = 3
ORGAN_VOTERS = 5
SPECIES_NOT_FOUND = "Species not found"
URLS_DISABLED = ("Identification by image URL is disabled on this server; POST the photos to "
                 "this route instead.")


@dataclass(frozen=True)
class PredictedOrgan:
    organ: str
    score: float


@dataclass
class Identification:
    """Everything an identification answer is made of, before serialisation."""

    project: str
    preferred_project: str
    version: str
    photos: list[Photo]
    predicted_organs: list[PredictedOrgan]
    ranked: list[fusion.RankedTaxon]
    records: dict[str, SpeciesRecord]
    # Each result's related images: reference photos with every size in the media store.
    references: dict[str, list[ReferencePhoto]] = field(default_factory=dict)
    genus_scores: list[fusion.RankedTaxon] = field(default_factory=list)
    family_scores: list[fusion.RankedTaxon] = field(default_factory=list)
    rejected: bool = False
    remaining_requests: int = 0  # the caller's identifications left today, after this one


@dataclass
class _ProjectVerdict:
    model: ProjectModel
    probabilities: np.ndarray  # [n, C] per photo
    distribution: dict[str, float]  # fused, by class name
    known_score: float
    rejected: bool


async def load_engine(inference: Inference) -> VisionEngine:
    """The engine, loaded in the inference pool on first use (never on the event loop)."""
    if inference.loaded:
        return inference.engine
    return await inference.run(lambda: inference.engine)


def _verdict(model: ProjectModel, embeddings: np.ndarray, weights: np.ndarray) -> _ProjectVerdict:
    prediction = model.predict(embeddings)
    fused = fusion.fuse_probabilities(prediction.probabilities, weights)
    distribution: dict[str, float] = {}
    for info in model.classes:
        distribution[info.name] = distribution.get(info.name, 0.0) + float(fused[info.index])
    known = fusion.fuse_known_scores(prediction.known_scores, weights)
    # A project with a reject class (weeds' "negative" scenes) also refuses photos that look
    # more like none of its species than like any: the same weighted mean over the photos.
    reject = (0.0 if prediction.reject_probability is None
              else fusion.fuse_known_scores(prediction.reject_probability, weights))
    return _ProjectVerdict(model, prediction.probabilities, distribution, known,
                           bool(rejects(known, prediction.threshold, reject,
                                        prediction.reject_threshold)))


def _best_source(verdicts: Sequence[_ProjectVerdict], name: str) -> tuple[_ProjectVerdict, int]:
    """The project (and class index) that gives ``name`` its largest share of probability."""
    candidates = [(v.distribution.get(name, 0.0), v, info.index)
                  for v in verdicts for info in v.model.classes if info.name == name]
    _, verdict, index = max(candidates, key=lambda c: c[0])
    return verdict, index


def _references(verdicts: Sequence[_ProjectVerdict], embeddings: np.ndarray, name: str,
                held: related.HeldMasks) -> list[ReferencePhoto]:
    """The species' reference photos nearest the photo that shows it best, among those whose
    media is stored (``held``: per project, a mask over its references)."""
    verdict, index = _best_source(verdicts, name)
    among = held.get(verdict.model)
    if among is None or not among.any():
        return []
    photo = int(np.argmax(verdict.probabilities[:, index]))
    return verdict.model.similar_references(embeddings[photo], index, REFERENCES_PER_RESULT,
                                            among=among)


def _predicted_organs(verdicts: Sequence[_ProjectVerdict], embeddings: np.ndarray,
                      photos: Sequence[Photo], best: str | None) -> list[PredictedOrgan]:
    """Each photo's organ: the declared one (score 1), or for ``auto`` photos the organ most
    recorded among the photo's nearest reference photos of the best species (score: its share).

    Hortus has no organ classifier; the references' vote stands in for one where the sender
    did not say, and costs a reference search only for those photos. An ``auto`` photo whose
    references record no organ stays ``auto`` with score 0.
    """
    result = []
    source = _best_source(verdicts, best) if best else None
    for i, photo in enumerate(photos):
        votes: Counter[str] = Counter()
        if photo.organ != "auto":
            result.append(PredictedOrgan(photo.organ, 1.0))
            continue
        if source is not None:
            verdict, index = source
            for reference in verdict.model.similar_references(embeddings[i], index, ORGAN_VOTERS):
                if reference.organ:
                    votes[reference.organ] += 1
        if votes:
            organ, count = votes.most_common(1)[0]
            result.append(PredictedOrgan(organ, count / sum(votes.values())))
        else:
            result.append(PredictedOrgan("auto", 0.0))
    return result


@dataclass
class _Ranking:
    verdicts: list[_ProjectVerdict]
    merged: dict[str, float]
    preferred: _ProjectVerdict
    rejected: bool


def rank_species(models: Sequence[ProjectModel], embeddings: np.ndarray,
                 organs: Sequence[str]) -> _Ranking:
    """Fuse the photos in each project, then merge the projects that recognise the photos."""
    weights = fusion.organ_weights(organs)
    verdicts = [_verdict(m, embeddings, weights) for m in models]
    accepted = [v for v in verdicts if not v.rejected]
    pool = accepted or verdicts
    merged = fusion.mix_projects([v.distribution for v in pool], [v.known_score for v in pool])
    preferred = max(pool, key=lambda v: v.known_score)
    return _Ranking(pool, merged, preferred, rejected=not accepted)


def _version(verdicts: Sequence[_ProjectVerdict]) -> str:
    if len(verdicts) == 1:
        return verdicts[0].model.version
    return "+".join(f"{v.model.name}-{v.model.version}" for v in verdicts)


def _analyse(models: Sequence[ProjectModel], embeddings: np.ndarray,
             photos: Sequence[Photo], options: IdentifyOptions,
             held: related.HeldMasks | None) -> tuple:
    """The CPU part after embedding (runs in the inference pool): predict, fuse, rank, and
    with ``held`` (which reference photos have media) pick each result's related images."""
    ranking = rank_species(models, embeddings, [p.organ for p in photos])
    ranked = fusion.rank(ranking.merged, options.nb_results)
    references = {}
    if held is not None:
        references = {t.name: _references(ranking.verdicts, embeddings, t.name, held)
                      for t in ranked}
    organs = _predicted_organs(ranking.verdicts, embeddings, photos,
                               ranked[0].name if ranked else None)
    return ranking, ranked, references, organs


async def _records(database: Database, names: list[str], lang: str) -> dict[str, SpeciesRecord]:
    """Names, taxonomy and ids of the species, each cached briefly by species and language
    (the same few species come back request after request, in ever different rankings); only
    the species not cached cost a trip to a thread and the database."""
    records, missing = cached_records(database, names, lang)
    if missing:
        records.update(await run_in_threadpool(read_records, database, missing, lang))
    return records


async def _held_media(media: MediaStore | None, models: Sequence[ProjectModel],
                      options: IdentifyOptions) -> related.HeldMasks | None:
    """Which reference photos of the projects have media (None: no related images asked
    for, or no store); a thread and the store are needed only when a check is due."""
    if not options.include_related_images or media is None:
        return None
    masks = related.cached_masks(media, models)
    if masks is None:
        masks = await run_in_threadpool(related.held_masks, media, models)
    return masks


async def _identify(*, inference: Inference, database: Database,
                    models: Sequence[ProjectModel], project: str, photos: Sequence[Photo],
                    embeddings: np.ndarray, options: IdentifyOptions,
                    media: MediaStore | None = None) -> Identification:
    """Identify one plant from 1 to 5 embedded photos. Raises NotFound("Species not found")
    when the open-set rule rejects the photos (unless ``options.no_reject``)."""
    held = await _held_media(media, models, options)
    ranking, ranked, references, organs = await inference.run(
        _analyse, models, embeddings, photos, options, held)
    if ranking.rejected and not options.no_reject:
        raise NotFound(SPECIES_NOT_FOUND, error="species not found")
    names = list(ranking.merged) if options.detailed else [t.name for t in ranked]
    records = await _records(database, names, options.lang)
    if held is not None and media is not None and related.has_contributors():
        contributed = await run_in_threadpool(related.contributed_references, database, media,
                                              [t.name for t in ranked], [p.organ for p in photos])
        for name, extra in contributed.items():
            references[name] = [*references.get(name, []), *extra]
    result = Identification(
        project=project, preferred_project=ranking.preferred.model.name,
        version=_version(ranking.verdicts), photos=list(photos), predicted_organs=organs,
        ranked=ranked, records=records, references=references, rejected=ranking.rejected,
    )
    if options.detailed:
        genus_of = {n: (r.genus.name if r.genus else None) for n, r in records.items()}
        family_of = {n: (r.family.name if r.family else None) for n, r in records.items()}
        result.genus_scores = fusion.rank(fusion.sum_by_group(ranking.merged, genus_of),
                                          options.nb_results)
        result.family_scores = fusion.rank(fusion.sum_by_group(ranking.merged, family_of),
                                           options.nb_results)
    return result


PhotoStream = AsyncGenerator[UploadedPhoto | OrganField, None]


async def _in_memory(photos: Sequence[UploadedPhoto]) -> PhotoStream:
    for photo in photos:
        yield photo


async def identify_photos(*, inference: Inference, database: Database, settings: Settings,
                          account_id: int, project: str, options: IdentifyOptions,
                          upload: PhotoStream | None = None,
                          photos: Sequence[UploadedPhoto] = (), urls: Sequence[str] = (),
                          organs: Sequence[str] = (),
                          on_quota: QuotaListener | None = None,
                          media: MediaStore | None = None) -> Identification:
    """Identify one plant from 1 to 5 photos for an account, counting one identification.

    The photos come one way: ``upload``, a multipart body being read (photos and organ fields
    as they arrive; each photo is decoded as soon as it is in); ``photos``, already in memory;
    or ``urls``, fetched under :mod:`hortus.identify.remote`'s rules. ``organs`` are used when
    the upload carries none (``auto`` for each photo when neither does).

    Raises NotFound ("Project not found", before any quota is taken; "Species not found"),
    InvalidInput / PayloadTooLarge / UnsupportedMedia for bad photos, URLs or organs (a photo
    with more pixels than ``inference.pixel_budget`` allows is refused from its header, before
    any of it is decoded), ImageWorkBusy (429) when the account has no place for image work
    free in time, and QuotaExceeded when the account's daily quota is used up. Any failure
    gives the unit back. ``on_quota`` hears where the quota stands afterwards. Related images
    are listed only when ``media`` holds their photos.
    """
    policy = None
    if urls:
        if not settings.identify_by_url:
            raise InvalidInput(URLS_DISABLED, error="disabled")
        policy = remote.FetchPolicy.from_settings(settings)
        check_organs(organs, len(urls))
        remote.check_urls(urls, policy)  # before the quota is touched
    elif upload is None:
        check_organs(organs, len(photos))
    engine = await load_engine(inference)
    models = resolve_projects(engine, project, settings.project_aliases)
    async with (identification_unit(database=database, settings=settings,
                                    account_id=account_id, listener=on_quota) as unit,
                AsyncExitStack() as admission,
                PhotoPipeline(inference=inference, engine=engine) as pipeline):
        source: PhotoStream
        if policy is not None:
            await unit.taken()  # an over-quota caller costs no fetch
            source = remote.fetch_photos(urls, policy=policy)
        else:
            source = upload if upload is not None else _in_memory(photos)
        # Each photo goes to the pipeline as soon as it has arrived; the organs of an upload
        # may come before or after their photos, and are checked once the whole form is in.
        sent_organs: list[str] = []
        count = 0
        async with aclosing(source):
            async for item in source:
                if isinstance(item, OrganField):
                    sent_organs.append(item.value)
                    continue
                count += 1
                if count <= MAX_IMAGES:
                    _check_pixels(inference, count - 1, item)
                if count == 1:  # the account's place, held until the answer is ready
                    await admission.enter_async_context(inference.image_work.request(account_id))
                    await unit.taken()
                if count <= MAX_IMAGES:
                    pipeline.add(item.filename, item.data)
        checked = check_organs(sent_organs or list(organs), count)
        embedded, embeddings = await pipeline.finish(checked)
        result = await _identify(inference=inference, database=database, models=models,
                                 project=project, photos=embedded, embeddings=embeddings,
                                 options=options, media=media)
        state = await unit.taken()
    result.remaining_requests = state.remaining
    return result


def _check_pixels(inference: Inference, position: int, photo: UploadedPhoto) -> None:
    """InvalidInput (400) naming the photo when its header gives it more pixels than the
    server decodes: refused before any of it is."""
    try:
        inference.pixel_budget.check(photo.data)
    except ImageDecodeError as exc:
        raise InvalidInput(f"{image_label(position, photo.filename)}: {exc.reason}.",
                           error="too many pixels") from None


def health(*, database: Database) -> ApiStatus:
    """``ok`` when the database answers (any failure is the API's 500)."""
    with database.read() as session:
        session.execute(text("select 1"))
    return ApiStatus(status="ok")
