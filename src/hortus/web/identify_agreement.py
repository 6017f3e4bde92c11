"""Do the photos of one identification agree? Each photo's own verdict, and the rule that
decides when the result page warns that they may show different plants.

The identification service fuses the photos into one ranking and does not say what each photo
showed alone, so :func:`photo_verdicts` asks the same models about each photo on its own: one
more decode and forward pass per photo, in the engine's own views as the service embeds every
photo, so each photo's embedding (and calibration) is the one the fused answer was made from.
Only results of two photos or more need it.

The rule (:func:`disagreement`, documented in docs/web.md). With two photos or more, each
photo alone has a best candidate and its probability (or matches no known plant, by the same
open-set rule as the whole identification). The page warns when

1. **different plants**: two photos or more are each *confident* (at least
   :data:`CONFIDENT`, 60 %) about different candidates, e.g. a daisy and a daffodil sent as
   "one plant"; or
2. **unsure together**: the fused best candidate is under :data:`UNSURE_TOGETHER` (40 %) while
   at least one photo alone is confident: the photos pull the answer apart; or
3. **odd photo out**: some photos alone match no plant Hortus knows while others do.

Photos that are each unsure about different candidates raise no warning: their low scores
already say so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hortus.identify import fusion
from hortus.identify import service as identification
from hortus.identify.projects import resolve_projects
from hortus.inference import Inference
from hortus.vision.engine import ProjectModel, VisionEngine

CONFIDENT = 0.6
UNSURE_TOGETHER = 0.4


@dataclass(frozen=True)
class PhotoVerdict:
    """What one photo says alone: its best candidate and that candidate's probability, or
    ``rejected`` when alone it matches no plant the models know."""

    top: str | None
    score: float
    rejected: bool = False

    @property
    def confident(self) -> bool:
        return not self.rejected and self.top is not None and self.score >= CONFIDENT


@dataclass(frozen=True)
class Disagreement:
    """Why the photos may not show one plant (empty: they agree, or there is one photo)."""

    different: list[tuple[int, str, float]] = field(default_factory=list)  # photo, name, score
    unsure_together: bool = False
    no_match: list[int] = field(default_factory=list)  # photos (from 0) that match nothing

    def __bool__(self) -> bool:
        return bool(self.different) or self.unsure_together or bool(self.no_match)


def disagreement(verdicts: Sequence[PhotoVerdict], fused_score: float) -> Disagreement:
    """The rule in this module's docstring: ``verdicts`` of each photo (in order), and the
    fused best candidate's score."""
    if len(verdicts) < 2:
        return Disagreement()
    confident = [(i, v.top, v.score) for i, v in enumerate(verdicts)
                 if v.confident and v.top is not None]
    different = confident if len({name for _, name, _ in confident}) >= 2 else []
    unsure = fused_score < UNSURE_TOGETHER and bool(confident)
    rejected = [i for i, v in enumerate(verdicts) if v.rejected]
    no_match = rejected if len(rejected) < len(verdicts) else []
    return Disagreement(different=different, unsure_together=unsure, no_match=no_match)


def _alone(models: Sequence[ProjectModel], embedding: np.ndarray, organ: str) -> PhotoVerdict:
    ranking = identification.rank_species(models, embedding.reshape(1, -1), [organ])
    best = fusion.rank(ranking.merged, 1)
    if not best:
        return PhotoVerdict(top=None, score=0.0, rejected=True)
    return PhotoVerdict(top=best[0].name, score=best[0].score, rejected=ranking.rejected)


def _embed(engine: VisionEngine, data: bytes) -> np.ndarray:
    _, output = engine.decode_and_embed(data)
    return np.asarray(output.embeddings[0])


async def photo_verdicts(*, inference: Inference, project_aliases: dict[str, str],
                         account_id: int, photos: Sequence[tuple[bytes, str]]
                         ) -> list[PhotoVerdict]:
    """Each photo's verdict alone (``photos``: bytes as the service read them, and organ);
    none for a single photo. The work counts against the account's places for image work."""
    if len(photos) < 2:
        return []
    engine = await identification.load_engine(inference)
    models = resolve_projects(engine, identification.ALL_PROJECTS, project_aliases)
    async with inference.image_work.request(account_id):
        embeddings = await asyncio.gather(*(inference.run(_embed, engine, data)
                                            for data, _ in photos))
        return [await inference.run(_alone, models, embedding, organ)
                for embedding, (_, organ) in zip(embeddings, photos, strict=True)]
