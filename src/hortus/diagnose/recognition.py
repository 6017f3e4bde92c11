"""One photo through the vision engine for diagnosis: the ML half of an image analysis.

Runs in the inference pool; knows the vision facade and nothing of HTTP or SQL. One decode and
one forward pass feed everything the answer needs:

* ``objects``: the backbone's own ImageNet head (PEAT's ``objects_net``);
* ``crops``: how strongly the photo looks like each crop that has a diagnosis model. With a
  crop recogniser (a project of task ``crop``, whose classes are named after the diagnosis
  projects and whose reject class stands for "no crop of ours"), that is its calibrated
  probability, and the crops it gives at least :data:`RECOGNISED_MIN` (or its best one) are
  *recognised* unless it refuses the photo. Without one, each diagnosis model's open-set
  *known score* (the mean cosine similarity of the photo to its nearest training photos),
  recognised at the model's threshold. PEAT's ``plant_net`` lists the recognised ones;
* ``classes``: the chosen crop model's calibrated class probabilities, best first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from hortus.vision.engine import ProjectModel, VisionEngine

OBJECTS_TOP = 5
HEALTHY = "healthy"
CROP_TASK = "crop"
RECOGNISED_MIN = 0.2  # a crop the recogniser gives this much is listed as recognised


@dataclass(frozen=True)
class CropModel:
    """A diagnosis project seen as a crop: its name, version and the crop it diagnoses."""

    project: str
    version: str
    crop: str | None  # the crop's scientific name (classes.csv column ``crop``), if given


@dataclass(frozen=True)
class CropScore:
    """How much the photo looks like one diagnosis model's crop."""

    model: CropModel
    score: float  # the recogniser's probability, else the model's open-set known score
    recognized: bool


@dataclass(frozen=True)
class ClassScore:
    """One class of the chosen model: folder label, Hortus name, probability."""

    label: str
    name: str
    probability: float

    @property
    def healthy(self) -> bool:
        """The class of healthy plants (``healthy`` as name or folder)."""
        return HEALTHY in (self.name.strip().lower(), self.label.strip().lower())


@dataclass(frozen=True)
class PhotoDiagnosis:
    """Everything the engine says about one photo."""

    width: int  # original size, EXIF-upright
    height: int
    format: str  # JPEG | PNG | WEBP
    objects: list[tuple[str, float]]
    crops: list[CropScore]  # best first
    chosen: CropModel | None  # the model that diagnosed (None: no model could)
    classes: list[ClassScore]  # of ``chosen``, best first
    recognized: bool  # the chosen model accepted the photo as its crop


def crop_of(project: ProjectModel) -> str | None:
    """The crop a diagnosis project is for: the most common ``crop`` column of its classes."""
    crops = Counter(c.extra.get("crop", "").strip() for c in project.classes)
    crops.pop("", None)
    return crops.most_common(1)[0][0] if crops else None


def crop_models(engine: VisionEngine) -> list[CropModel]:
    """Every loaded diagnosis project, as crops (sorted by project name)."""
    return [CropModel(project=p.name, version=str(p.version), crop=crop_of(p))
            for p in engine.projects("diagnose")]


def _object_name(label: str) -> str:
    """ImageNet labels list synonyms (``"tench, Tinca tinca"``); PEAT shows the first."""
    return label.split(",")[0].strip()


def diagnose_photo(engine: VisionEngine, data: bytes, *, project: str | None,
                   diagnose: bool = True) -> PhotoDiagnosis:
    """Decode, embed once, score every crop model, and diagnose with one of them.

    ``project`` forces the model (the client named its crop); otherwise the best-scoring
    recognised crop is chosen, and when no crop is recognised no model diagnoses: a photo of
    something else gets no crop's diseases. With ``diagnose`` false (the client named a crop
    without a model) no model diagnoses. Raises the vision layer's ``ImageDecodeError`` for
    bytes that are not a usable photo.
    """
    image = engine.decode(data)
    output = engine.embed([image])
    objects = []
    if output.logits is not None:
        objects = [(_object_name(name), p)
                   for name, p in engine.imagenet_top(output.logits[0], OBJECTS_TOP)]
    recognisers = engine.projects(CROP_TASK)
    if recognisers:
        return _with_recogniser(engine, recognisers[0], image, output, objects,
                                project=project, diagnose=diagnose)
    scored: list[tuple[CropScore, np.ndarray]] = []
    for model in engine.projects("diagnose"):
        prediction = model.predict(output.embeddings)
        crop = CropModel(project=model.name, version=str(model.version), crop=crop_of(model))
        scored.append((CropScore(model=crop, score=float(prediction.known_scores[0]),
                                 recognized=not bool(prediction.rejected[0])),
                       prediction.probabilities[0]))
    scored.sort(key=lambda item: (item[0].recognized, item[0].score), reverse=True)
    chosen: tuple[CropScore, np.ndarray] | None = None
    if diagnose and project is not None:
        chosen = next((item for item in scored if item[0].model.project == project), None)
    elif diagnose and scored and scored[0][0].recognized:  # recognised ones sort first
        chosen = scored[0]
    classes: list[ClassScore] = []
    if chosen is not None:
        model = engine.project(chosen[0].model.project)
        order = np.argsort(-chosen[1], kind="stable")
        classes = [ClassScore(label=model.classes[i].label, name=model.classes[i].name,
                              probability=float(chosen[1][i])) for i in order]
    return PhotoDiagnosis(
        width=image.width, height=image.height, format=image.format, objects=objects,
        crops=[item[0] for item in scored], chosen=chosen[0].model if chosen else None,
        classes=classes, recognized=bool(chosen and chosen[0].recognized),
    )


def _with_recogniser(engine: VisionEngine, recogniser: ProjectModel, image, output,
                     objects: list[tuple[str, float]], *, project: str | None,
                     diagnose: bool) -> PhotoDiagnosis:
    """:func:`diagnose_photo` when a crop recogniser is loaded: it ranks the crops, and only
    the chosen crop's model runs. A recognised crop without a model is listed, and nothing
    diagnoses."""
    models = {m.name: m for m in engine.projects("diagnose")}
    prediction = recogniser.predict(output.embeddings)
    refused = bool(prediction.rejected[0])
    probabilities = prediction.probabilities[0]
    best = int(np.argmax(probabilities)) if len(probabilities) else -1

    def crop_model(info) -> CropModel:
        # A crop the recogniser knows but no model diagnoses (PlantVillage has only healthy
        # blueberry and raspberry leaves) is named by the recogniser itself.
        model = models.get(info.label)
        if model is None:
            return CropModel(project=info.label, version=str(recogniser.version),
                             crop=info.name or None)
        return CropModel(project=info.label, version=str(model.version), crop=crop_of(model))

    crops = sorted(
        (CropScore(model=crop_model(info), score=float(probabilities[info.index]),
                   recognized=not refused and (info.index == best
                                               or probabilities[info.index] >= RECOGNISED_MIN))
         for info in recogniser.classes),
        key=lambda c: (c.recognized, c.score), reverse=True)
    chosen: CropScore | None = None
    if diagnose and project is not None:
        chosen = next((c for c in crops if c.model.project == project), None)
        if chosen is None and project in models:  # a model the recogniser does not know
            model = models[project]
            chosen = CropScore(CropModel(project, str(model.version), crop_of(model)), 0.0,
                               not bool(model.predict(output.embeddings).rejected[0]))
    elif diagnose and crops and crops[0].recognized and crops[0].model.project in models:
        chosen = crops[0]
    classes: list[ClassScore] = []
    if chosen is not None:
        model = models[chosen.model.project]
        probs = model.predict(output.embeddings).probabilities[0]
        classes = [ClassScore(label=model.classes[i].label, name=model.classes[i].name,
                              probability=float(probs[i]))
                   for i in np.argsort(-probs, kind="stable")]
    return PhotoDiagnosis(
        width=image.width, height=image.height, format=image.format, objects=objects,
        crops=crops, chosen=chosen.model if chosen else None, classes=classes,
        recognized=bool(chosen and chosen.recognized),
    )
