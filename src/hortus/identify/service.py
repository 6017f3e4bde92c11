"""Identification: photos in, ranked species out (the orchestration between vision and plants).

The walk: decode every photo in parallel in the inference pool, embed them in batched forward
passes (one per inference worker, side by side), ask each project for calibrated probabilities
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
from functools import cached_property

import numpy as np
from starlette.concurrency import run_in_threadpool

from hortus.db import Database
from hortus.errors import InvalidInput, NotFound, UnsupportedMedia
from hortus.identify import fusion
from hortus.identify.params import IdentifyOptions
from hortus.inference import Inference
from hortus.plants.taxonomy import SpeciesRecord, species_records
from hortus.vision.decode import ImageDecodeError
from hortus.vision.engine import ProjectModel, ReferencePhoto, VisionEngine

ALL_PROJECTS = "all"
IDENTIFY_TASK = "identify"
REFERENCES_PER_RESULT = 3
ORGAN_VOTERS = 5
SPECIES_NOT_FOUND = "Species not found"
PROJECT_NOT_FOUND = "Project not found"
_UNSUPPORTED_CODES = ("unsupported_format", "not_an_image")
MULTI_PHOTO_VIEWS = ("center",)


@dataclass(frozen=True)
class Photo:
    """One uploaded photo and the organ its sender says it shows."""

    filename: str
    data: bytes
    organ: str

    @cached_property
    def image_id(self) -> str:
        """A stable id for the photo: the first 32 hex digits of its sha256 (computed once, in
        the inference pool beside the decoding, so the event loop never hashes megabytes)."""
        return hashlib.sha256(self.data).hexdigest()[:32]


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


def _decode_error(photo: Photo, position: int, exc: ImageDecodeError) -> Exception:
    label = f"image {position + 1}" + (f" ({photo.filename[:80]})" if photo.filename else "")
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


def _decode_and_embed_group(engine: VisionEngine, photos: Sequence[Photo],
                            positions: Sequence[int], views: Sequence[str] | None) -> np.ndarray:
    """Decode some of the photos, then embed them in one batched pass (one pool task)."""
    images = []
    for photo, position in zip(photos, positions, strict=True):
        _ = photo.image_id
        try:
            images.append(engine.decode(photo.data))
        except ImageDecodeError as exc:
            error = _decode_error(photo, position, exc)
            error.position = position  # type: ignore[attr-defined]
            raise error from None
    return engine.embed(images, views=views).embeddings


async def decode_and_embed(*, inference: Inference, engine: VisionEngine,
                           photos: Sequence[Photo]) -> np.ndarray:
    """Embeddings ``[n, D]`` of the photos, in order.

    The photos are dealt round-robin to the inference workers; each worker decodes its share
    and embeds it in one batched pass, so the workers run side by side with no barrier between
    decoding and embedding. A single photo is embedded in all the engine's views; several photos
    of one plant in ``MULTI_PHOTO_VIEWS`` only, since fusing the photos already averages over
    viewpoints (and five photos must cost at most about twice one).
    """
    views = MULTI_PHOTO_VIEWS if len(photos) > 1 else None
    workers = max(1, min(len(photos), inference.settings.inference_workers))
    groups = [list(range(w, len(photos), workers)) for w in range(workers)]
    outputs = await asyncio.gather(*(
        inference.run(_decode_and_embed_group, engine, [photos[i] for i in group], group, views)
        for group in groups
    ), return_exceptions=True)
    failures = [o for o in outputs if isinstance(o, BaseException)]
    if failures:
        # Report the first bad photo in upload order, whichever worker met it first.
        failures.sort(key=lambda e: getattr(e, "position", 0))
        raise failures[0]
    arrays = [o for o in outputs if isinstance(o, np.ndarray)]
    embeddings = np.empty((len(photos), arrays[0].shape[1]), dtype=np.float32)
    for group, output in zip(groups, arrays, strict=True):
        embeddings[group] = output
    return embeddings


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
_records_cache: weakref.WeakKeyDictionary[
    Database, dict[tuple[tuple[str, ...], str], tuple[float, dict[str, SpeciesRecord]]]
] = weakref.WeakKeyDictionary()


def _records(database: Database, names: list[str], lang: str) -> dict[str, SpeciesRecord]:
    """Names, taxonomy and ids of the species, cached briefly (the same few species and
    languages come back request after request)."""
    cache = _records_cache.setdefault(database, {})
    key = (tuple(names), lang)
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and now - hit[0] < _RECORDS_TTL:
        return hit[1]
    with database.read() as session:
        records = species_records(session=session, names=names, language=lang)
    if len(cache) > 4096:
        cache.clear()
    cache[key] = (now, records)
    return records


async def identify(*, inference: Inference, database: Database, engine: VisionEngine,
                   models: Sequence[ProjectModel], project: str, photos: Sequence[Photo],
                   options: IdentifyOptions) -> Identification:
    """Identify one plant from 1 to 5 photos. Raises NotFound("Species not found") when the
    open-set rule rejects the photos (unless ``options.no_reject``), UnsupportedMedia or
    InvalidInput for photos that cannot be decoded."""
    embeddings = await decode_and_embed(inference=inference, engine=engine, photos=photos)
    ranking, ranked, references, organs = await inference.run(
        _analyse, models, embeddings, photos, options)
    if ranking.rejected and not options.no_reject:
        raise NotFound(SPECIES_NOT_FOUND, error="species not found")
    names = list(ranking.merged) if options.detailed else [t.name for t in ranked]
    records = await run_in_threadpool(_records, database, names, options.lang)
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
