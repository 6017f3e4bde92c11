"""Identification: photos in, ranked species out (the orchestration between vision and plants).

The walk: decode each photo in the inference pool as soon as it has arrived, embed each one as
soon as it is decoded (:class:`PhotoPipeline`), ask each project for calibrated probabilities
and open-set scores, fuse the photos (:mod:`hortus.identify.fusion`), reject or rank, then read
the names of the ranked species from the knowledge base in two queries.
No HTTP here: the router serialises.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from hortus.db import Database
from hortus.errors import InvalidInput, NotFound, UnsupportedMedia
from hortus.identify import fusion
from hortus.identify.params import IdentifyOptions
from hortus.inference import Inference
from hortus.plants.taxonomy import SpeciesRecord, species_records
from hortus.vision.decode import DecodedImage, ImageDecodeError
from hortus.vision.engine import ProjectModel, ReferencePhoto, VisionEngine

ALL_PROJECTS = "all"
IDENTIFY_TASK = "identify"
REFERENCES_PER_RESULT = 3
ORGAN_VOTERS = 5
SPECIES_NOT_FOUND = "Species not found"
PROJECT_NOT_FOUND = "Project not found"
_UNSUPPORTED_CODES = ("unsupported_format", "not_an_image")
MULTI_PHOTO_VIEWS = ("center",)
INLINE_HASH_BYTES = 256 * 1024  # sha256 of 256 KiB: ~0.15 ms on the event loop


@dataclass(frozen=True)
class Photo:
    """One uploaded photo, the organ its sender says it shows, and its id (the first 32 hex
    digits of its sha256)."""

    filename: str
    data: bytes = field(repr=False)
    organ: str
    image_id: str


def photo_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


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
    references: dict[str, list[ReferencePhoto]] = field(default_factory=dict)
    genus_scores: list[fusion.RankedTaxon] = field(default_factory=list)
    family_scores: list[fusion.RankedTaxon] = field(default_factory=list)
    rejected: bool = False


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


def identify_projects(engine: VisionEngine) -> list[ProjectModel]:
    """The loaded identification projects, by name."""
    return engine.projects(IDENTIFY_TASK)


def resolve_projects(engine: VisionEngine, project: str) -> list[ProjectModel]:
    """The models answering for ``project`` (``all``: every identification project); 404."""
    if project == ALL_PROJECTS:
        models = identify_projects(engine)
        if not models:
            raise NotFound(PROJECT_NOT_FOUND, error="project not found")
        return models
    try:
        model = engine.project(project)
    except KeyError:
        raise NotFound(PROJECT_NOT_FOUND, error="project not found") from None
    if model.task != IDENTIFY_TASK:
        raise NotFound(PROJECT_NOT_FOUND, error="project not found")
    return [model]


def _decode_error(filename: str, position: int, exc: ImageDecodeError) -> Exception:
    label = f"image {position + 1}" + (f" ({filename[:80]})" if filename else "")
    if exc.code in _UNSUPPORTED_CODES:
        return UnsupportedMedia(f"{label}: {exc.reason}. Send JPEG or PNG photos.",
                                error="unsupported media type")
    return InvalidInput(f"{label}: {exc.reason}.", error="bad image")


def _verdict(model: ProjectModel, embeddings: np.ndarray, weights: np.ndarray) -> _ProjectVerdict:
    prediction = model.predict(embeddings)
    fused = fusion.fuse_probabilities(prediction.probabilities, weights)
    distribution: dict[str, float] = {}
    for info in model.classes:
        distribution[info.name] = distribution.get(info.name, 0.0) + float(fused[info.index])
    known = fusion.fuse_known_scores(prediction.known_scores, weights)
    return _ProjectVerdict(model, prediction.probabilities, distribution, known,
                           bool(known < prediction.threshold))


def _best_source(verdicts: Sequence[_ProjectVerdict], name: str) -> tuple[_ProjectVerdict, int]:
    """The project (and class index) that gives ``name`` its largest share of probability."""
    candidates = [(v.distribution.get(name, 0.0), v, info.index)
                  for v in verdicts for info in v.model.classes if info.name == name]
    _, verdict, index = max(candidates, key=lambda c: c[0])
    return verdict, index


def _references(verdicts: Sequence[_ProjectVerdict], embeddings: np.ndarray,
                name: str) -> list[ReferencePhoto]:
    verdict, index = _best_source(verdicts, name)
    photo = int(np.argmax(verdict.probabilities[:, index]))
    return verdict.model.similar_references(embeddings[photo], index, REFERENCES_PER_RESULT)


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


def _views(count: int) -> Sequence[str] | None:
    """A single photo is embedded in all the engine's views; several photos of one plant in
    ``MULTI_PHOTO_VIEWS`` only, since fusing the photos already averages over viewpoints (and
    five photos must cost at most about twice one)."""
    return MULTI_PHOTO_VIEWS if count > 1 else None


def _embed(engine: VisionEngine, image: DecodedImage, views: Sequence[str] | None) -> np.ndarray:
    """One photo's embedding ``[D]`` (a pool task)."""
    return engine.embed([image], views=views).embeddings[0]


def _forget(future: asyncio.Future[Any]) -> None:
    """Drop a pool task nobody will await: cancel it if it has not started, and retrieve its
    outcome so that a failure is not reported as never retrieved."""
    future.cancel()
    future.add_done_callback(lambda f: f.cancelled() or f.exception())


class PhotoPipeline:
    """Photos in as they arrive, embeddings out: decoding starts at :meth:`add`.

    Each photo is decoded in the inference pool as soon as it is added (and hashed beside it in
    the default pool), so with a streamed upload the first photos are decoded while the rest
    are still arriving. How a photo is embedded depends on how many photos there are
    (:func:`_views`), known only once :meth:`finish` is called: a photo decoded after that is
    embedded in the same pool task; one decoded before gets an embedding task of its own as soon
    as :meth:`finish` knows. Every photo being its own task, five photos keep both workers busy
    to the end instead of leaving one idle behind a worker with three.

    Use it as an async context manager: leaving it early drops the photos' pending work.
    """

    def __init__(self, *, inference: Inference, engine: VisionEngine) -> None:
        self._inference = inference
        self._engine = engine
        self._uploads: list[tuple[str, bytes]] = []
        self._decoding: list[asyncio.Future[tuple[DecodedImage, np.ndarray | None]]] = []
        self._hashing: list[asyncio.Future[str]] = []
        self._count: int | None = None  # set by finish(); read by the pool's threads
        self._finished = False

    def __len__(self) -> int:
        return len(self._uploads)

    async def __aenter__(self) -> PhotoPipeline:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self._finished:
            futures: list[asyncio.Future[Any]] = [*self._decoding, *self._hashing]
            for future in futures:
                _forget(future)

    def add(self, filename: str, data: bytes) -> None:
        """Start decoding (and hashing) a photo."""
        loop = asyncio.get_running_loop()
        position = len(self._uploads)
        self._uploads.append((filename, data))
        self._decoding.append(asyncio.ensure_future(
            self._inference.run(self._decode, filename, data, position)))
        if len(data) <= INLINE_HASH_BYTES:  # cheaper than a trip to a thread
            hashed: asyncio.Future[str] = loop.create_future()
            hashed.set_result(photo_id(data))
        else:
            hashed = loop.run_in_executor(None, photo_id, data)
        self._hashing.append(hashed)

    def _decode(self, filename: str, data: bytes,
                position: int) -> tuple[DecodedImage, np.ndarray | None]:
        """Decode one photo, and embed it too if the number of photos is known (a pool task).
        A bad photo becomes the API's 400 or 415."""
        try:
            image = self._engine.decode(data)
        except ImageDecodeError as exc:
            error = _decode_error(filename, position, exc)
            error.position = position  # type: ignore[attr-defined]
            raise error from None
        count = self._count
        return image, (None if count is None else _embed(self._engine, image, _views(count)))

    async def finish(self, organs: Sequence[str]) -> tuple[list[Photo], np.ndarray]:
        """The photos (with ``organs``, in order) and their embeddings ``[n, D]``.

        Raises the error of the first bad photo in upload order, whichever worker met it.
        """
        self._count = len(self._uploads)
        views = _views(self._count)

        async def embedded(
                decoding: asyncio.Future[tuple[DecodedImage, np.ndarray | None]]) -> np.ndarray:
            image, embedding = await decoding
            if embedding is None:
                embedding = await self._inference.run(_embed, self._engine, image, views)
            return embedding

        outcomes = await asyncio.gather(*(embedded(d) for d in self._decoding),
                                        return_exceptions=True)
        ids = await asyncio.gather(*self._hashing)
        self._finished = True
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            failures.sort(key=lambda e: getattr(e, "position", 0))
            raise failures[0]
        photos = [Photo(filename=filename, data=data, organ=organ, image_id=image_id)
                  for (filename, data), organ, image_id
                  in zip(self._uploads, organs, ids, strict=True)]
        return photos, np.stack([o for o in outcomes if isinstance(o, np.ndarray)])


async def embed_photos(*, inference: Inference, engine: VisionEngine,
                       uploads: Sequence[tuple[str, bytes]],
                       organs: Sequence[str]) -> tuple[list[Photo], np.ndarray]:
    """Photos already in memory (fetched by URL, or from a web form), embedded."""
    async with PhotoPipeline(inference=inference, engine=engine) as pipeline:
        for filename, data in uploads:
            pipeline.add(filename, data)
        return await pipeline.finish(organs)


def _analyse(models: Sequence[ProjectModel], embeddings: np.ndarray,
             photos: Sequence[Photo], options: IdentifyOptions) -> tuple:
    """The CPU part after embedding (runs in the inference pool): predict, fuse, rank."""
    ranking = rank_species(models, embeddings, [p.organ for p in photos])
    ranked = fusion.rank(ranking.merged, options.nb_results)
    references = {}
    if options.include_related_images:
        references = {t.name: _references(ranking.verdicts, embeddings, t.name) for t in ranked}
    organs = _predicted_organs(ranking.verdicts, embeddings, photos,
                               ranked[0].name if ranked else None)
    return ranking, ranked, references, organs


_RECORDS_TTL = 60.0  # seconds; knowledge-base edits show in identifications within a minute
_RECORDS_MAX = 20_000
_records_cache: weakref.WeakKeyDictionary[
    Database, dict[tuple[str, str], tuple[float, SpeciesRecord | None]]
] = weakref.WeakKeyDictionary()


def _read_records(database: Database, names: list[str], lang: str) -> dict[str, SpeciesRecord]:
    with database.read() as session:
        records = species_records(session=session, names=names, language=lang)
    cache = _records_cache.setdefault(database, {})
    if len(cache) > _RECORDS_MAX:
        cache.clear()
    now = time.monotonic()
    for name in names:  # a species the knowledge base lacks is remembered as None
        cache[(name, lang)] = (now, records.get(name))
    return records


async def _records(database: Database, names: list[str], lang: str) -> dict[str, SpeciesRecord]:
    """Names, taxonomy and ids of the species, each cached briefly by species and language
    (the same few species come back request after request, in ever different rankings); only
    the species not cached cost a trip to a thread and the database."""
    cache = _records_cache.get(database, {})
    now = time.monotonic()
    records: dict[str, SpeciesRecord] = {}
    missing = []
    for name in names:
        hit = cache.get((name, lang))
        if hit is None or now - hit[0] >= _RECORDS_TTL:
            missing.append(name)
        elif hit[1] is not None:
            records[name] = hit[1]
    if missing:
        records.update(await run_in_threadpool(_read_records, database, missing, lang))
    return records


async def identify(*, inference: Inference, database: Database,
                   models: Sequence[ProjectModel], project: str, photos: Sequence[Photo],
                   embeddings: np.ndarray, options: IdentifyOptions) -> Identification:
    """Identify one plant from 1 to 5 embedded photos (:class:`PhotoPipeline`). Raises
    NotFound("Species not found") when the open-set rule rejects the photos (unless
    ``options.no_reject``)."""
    ranking, ranked, references, organs = await inference.run(
        _analyse, models, embeddings, photos, options)
    if ranking.rejected and not options.no_reject:
        raise NotFound(SPECIES_NOT_FOUND, error="species not found")
    names = list(ranking.merged) if options.detailed else [t.name for t in ranked]
    records = await _records(database, names, options.lang)
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
