"""PEAT's "image analysis" answer, built from what the engine saw and the catalogue says.

Rules where the PEAT document is silent (see docs/diagnose.md):

* ``similarity`` is a whole percentage 0-100 (``round(100 * p)``), as in the document.
* ``image_analysis`` lists the crop problems of the model that diagnosed, best first. ``rank``
  is the class's place in that model's full ranking, where the *healthy* class also counts but
  is not listed (it is not a problem): ranks 2, 3 ... with no rank 1 mean the leaf looks
  healthy. The extension field ``healthy`` gives the healthy class's similarity (null when the
  model has no healthy class).
* ``plant_net`` says what the photo shows: the crops recognised in it, best first; empty when
  none is, so a flower photo is never called ``BEAN``. ``name`` is the crop model's name
  upper-cased (``BEAN``); ``plant_id`` (a Hortus extension) the knowledge-base plant of the
  crop's scientific name, null when the knowledge base has none. With the packaged crop
  recogniser, ``similarity`` is its calibrated probability for that crop as a percentage,
  and a crop is listed when the recogniser accepts the photo and gives the crop at least
  20 % (or ranks it first); without one, each model's open-set known score (mean cosine
  similarity to the nearest training photos), listed at or above the model's threshold
  (:mod:`hortus.diagnose.recognition`).
* ``recognized`` / ``recognized_bool``: the model that diagnosed accepted the photo as its crop.
  With no model diagnosing (no crop recognised, or a named crop without a model), False.
* ``big_enough``: the picture's shorter side (EXIF-upright) is at least ``MIN_SIDE`` pixels —
  the backbone looks at 224x224 pixels; smaller photos are upsampled and lose detail.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from hortus.diagnose.catalogue_service import DiseaseRef
from hortus.diagnose.recognition import PhotoDiagnosis
from hortus.diagnose.schemas import DiseaseMatch, ImageAnalysis, RankedName, RecognisedCrop

MIN_SIDE = 224


def similarity(value: float) -> int:
    """A score in [0, 1] as a whole percentage 0-100 (clipped)."""
    return int(round(100 * min(1.0, max(0.0, float(value)))))


def crop_label(project: str) -> str:
    """PEAT shows crops upper-case: project ``bean`` -> ``BEAN``."""
    return project.replace("_", " ").replace("-", " ").upper()


def big_enough(width: int, height: int) -> bool:
    """Is the photo large enough to judge (shorter side >= MIN_SIDE)."""
    return min(width, height) >= MIN_SIDE


def recognised_crops(diagnosis: PhotoDiagnosis) -> list[str]:
    """The scientific names of the crops ``plant_net`` will list (those it knows)."""
    return [c.model.crop for c in diagnosis.crops if c.recognized and c.model.crop]


def build_answer(*, pic_id: str, diagnosis: PhotoDiagnosis, diseases: dict[str, DiseaseRef],
                 plants: Mapping[str, int | None] | None = None) -> ImageAnalysis:
    """The answer, every field of PEAT's example plus ``healthy`` and each crop's
    ``plant_id``.

    ``diseases`` maps class names to catalogue entries; a class that maps to nothing is listed
    under its own name with null ``peat_id``, ``eppo`` and ``scientific_name``. ``plants``
    maps crops' scientific names to knowledge-base plant ids (a crop it lacks: null).
    """
    plants = plants or {}
    image_analysis: list[DiseaseMatch] = []
    healthy: int | None = None
    for rank, cls in enumerate(diagnosis.classes, start=1):
        if cls.healthy:
            healthy = similarity(cls.probability)
            continue
        ref = diseases.get(cls.name) or DiseaseRef(peat_id=None, eppo=None, name=cls.name,
                                                   scientific_name=None)
        image_analysis.append(DiseaseMatch(
            eppo=ref.eppo, name=ref.name, peat_id=ref.peat_id, rank=rank,
            scientific_name=ref.scientific_name, similarity=similarity(cls.probability),
        ))
    recognised = [c for c in diagnosis.crops if c.recognized]
    return ImageAnalysis(
        big_enough=big_enough(diagnosis.width, diagnosis.height),
        healthy=healthy,
        image_analysis=image_analysis,
        objects_net=[RankedName(name=name, rank=rank, similarity=similarity(p))
                     for rank, (name, p) in enumerate(diagnosis.objects, start=1)],
        pic_id=uuid.UUID(pic_id),
        plant_net=[RecognisedCrop(name=crop_label(c.model.project),
                                  plant_id=plants.get(c.model.crop) if c.model.crop else None,
                                  rank=rank, similarity=similarity(c.score))
                   for rank, c in enumerate(recognised, start=1)],
        recognized="True" if diagnosis.recognized else "False",
        recognized_bool=diagnosis.recognized,
    )
