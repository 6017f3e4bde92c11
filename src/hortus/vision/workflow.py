"""End-to-end runs on photo folders: train a project, evaluate it, cross-validate a recipe,
and (re)build reference media. The CLI calls these; they take paths and objects, never
settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hortus.vision.artifacts import ProjectArtifacts, validate_name, write_project
from hortus.vision.cache import EmbeddingCache
from hortus.vision.dataset import PhotoFolder
from hortus.vision.embedding import EmbeddedPhotos, embed_photos
from hortus.vision.engine import ProjectModel
from hortus.vision.evaluation import classification_metrics
from hortus.vision.index import ReferenceIndex
from hortus.vision.media import MediaSink, write_reference_media
from hortus.vision.training import (
    DEFAULT_RECIPE,
    ProgressFn,
    Recipe,
    cross_validate,
    fit_project,
    inference_embeddings,
)

log = logging.getLogger(__name__)


def _quiet(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class TrainResult:
    """What ``train`` produced."""

    version_dir: Path
    artifacts: ProjectArtifacts
    photos: int
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    media_written: int = 0


def _cache_for(backbone, cache_dir: Path | None) -> EmbeddingCache | None:
    return EmbeddingCache(cache_dir, backbone.manifest.sha256) if cache_dir is not None else None


def _embed(
    folder: PhotoFolder, backbone, cache_dir, views, progress
) -> tuple[EmbeddedPhotos, np.ndarray]:
    embedded = embed_photos(
        folder.photos, backbone, _cache_for(backbone, cache_dir), views, progress=progress
    )
    position = {c.label: i for i, c in enumerate(folder.classes)}
    labels = np.asarray([position[p.label] for p in embedded.photos], dtype=np.int64)
    return embedded, labels


def _groups(embedded: EmbeddedPhotos) -> list[str] | None:
    """Split groups of the embedded photos (``groups.csv``), or None when the folder has none."""
    if all(p.group is None for p in embedded.photos):
        return None
    return [p.group if p.group is not None else f"photo:{p.path}" for p in embedded.photos]


def _reject(folder: PhotoFolder) -> list[int]:
    """Indices of the folder's reject classes (``role=reject`` in classes.csv)."""
    from hortus.vision.engine import REJECT_ROLE

    return [i for i, c in enumerate(folder.classes)
            if c.extra.get("role", "").strip().lower() == REJECT_ROLE]


def train_folder(
    folder: PhotoFolder,
    *,
    backbone,
    name: str,
    task: str,
    models_dir: Path,
    cache_dir: Path | None = None,
    media_dir: Path | MediaSink | None = None,
    recipe: Recipe = DEFAULT_RECIPE,
    seed: int = 0,
    progress: ProgressFn = _quiet,
) -> TrainResult:
    """Embed, fit, write a new version under ``models_dir/projects`` and activate it.

    With ``media_dir`` (a media folder or store), each training photo is also written as
    reference media (o/m/s).
    """
    validate_name(name)
    embedded, labels = _embed(folder, backbone, cache_dir, recipe.views, progress)
    if len(np.unique(labels)) < 2:
        raise ValueError("training needs at least two classes with decodable photos")
    fitted = fit_project(
        embedded.embeddings,
        labels,
        embedded.view_names,
        folder.labels,
        recipe,
        seed=seed,
        groups=_groups(embedded),
        reject=_reject(folder),
        progress=progress,
    )
    rows = fitted.index_rows
    credits = [embedded.photos[r].credit for r in rows]
    index = ReferenceIndex.build(
        fitted.index_features,
        labels[rows],
        [embedded.sha256[r] for r in rows],
        {
            f: [getattr(c, f) for c in credits]
            for f in ("author", "licence", "citation", "date", "organ")
        },
    )
    metrics = {
        **fitted.report(),
        "photos": len(embedded.photos),
        "skipped": len(embedded.skipped),
    }
    artifacts = ProjectArtifacts(
        name=name,
        task=task,
        version="",
        classes=list(folder.classes),
        head=fitted.head,
        rule=fitted.rule,
        index=index,
        metrics=metrics,
        seed=seed,
        recipe=recipe.to_json(),
        backbone={"name": backbone.manifest.name, "sha256": backbone.manifest.sha256},
    )
    version_dir = write_project(Path(models_dir) / "projects", artifacts)
    artifacts.version, artifacts.path = version_dir.name, version_dir
    written = 0
    if media_dir is not None:
        written = build_media([embedded.photos[r] for r in rows], media_dir, progress=progress)
    return TrainResult(version_dir, artifacts, len(embedded.photos), embedded.skipped, written)


def build_media(photos, media_dir: Path | MediaSink, *, progress: ProgressFn = _quiet) -> int:
    """Write o/m/s reference JPEGs of ``photos`` to a media folder or store (existing ones
    kept); returns renditions written."""
    from hortus.vision.dataset import content_sha256

    written = 0
    for i, photo in enumerate(photos):
        data = photo.read_bytes()
        try:
            written += write_reference_media(media_dir, content_sha256(data), data)
        except OSError as exc:
            log.warning("no reference media for %s: %s", photo.path, exc)
        progress("media", i + 1, len(photos))
    return written


def evaluate_folder(
    folder: PhotoFolder,
    model: ProjectModel,
    *,
    backbone,
    cache_dir: Path | None = None,
    views: tuple[str, ...] | None = None,
    progress: ProgressFn = _quiet,
    per_photo: bool = False,
) -> dict:
    """Metrics of a trained project on a labelled folder (its classes, or a subset of them).

    With ``per_photo``, ``metrics["per_photo"]`` holds every photo's path, its true class's
    probability and whether the top class was right (in the folder's order), for paired
    comparisons of two versions on the same photos. Folders naming no class of the project
    raise ``ValueError``.
    """
    project_labels = [c.label for c in model.classes]
    unknown = [c.label for c in folder.classes if c.label not in project_labels]
    if unknown:
        raise ValueError(f"classes not in project {model.name!r}: {', '.join(unknown)}")
    recipe = Recipe.from_json(model.recipe) if views is None else Recipe(test_views=views)
    embedded = embed_photos(
        folder.photos,
        backbone,
        _cache_for(backbone, cache_dir),
        recipe.test_views,
        progress=progress,
    )
    labels = np.asarray([project_labels.index(p.label) for p in embedded.photos], dtype=np.int64)
    raw = inference_embeddings(embedded.embeddings, embedded.view_names, recipe)
    prediction = model.predict(raw)
    metrics = classification_metrics(prediction.probabilities, labels, project_labels)
    metrics["accepted"] = float((~prediction.rejected).mean())
    metrics["threshold"] = prediction.threshold
    metrics["skipped"] = len(embedded.skipped)
    metrics["project"] = {"name": model.name, "version": model.version}
    if per_photo:
        rows = np.arange(len(labels))
        metrics["per_photo"] = {
            "path": [str(p.path) for p in embedded.photos],
            "true_probability": prediction.probabilities[rows, labels].astype(float).tolist(),
            "correct": (prediction.probabilities.argmax(axis=1) == labels).tolist(),
        }
    return metrics


def cross_validate_folder(
    folder: PhotoFolder,
    *,
    backbone,
    cache_dir: Path | None = None,
    recipe: Recipe = DEFAULT_RECIPE,
    folds: int = 5,
    seed: int = 0,
    progress: ProgressFn = _quiet,
) -> dict:
    """Stratified k-fold CV of ``recipe`` on one folder (embeddings cached across runs),
    grouped by the folder's ``groups.csv`` when it has one."""
    embedded, labels = _embed(folder, backbone, cache_dir, recipe.views, progress)
    result = cross_validate(
        embedded.embeddings,
        labels,
        embedded.view_names,
        folder.labels,
        recipe,
        folds=folds,
        seed=seed,
        groups=_groups(embedded),
        reject=_reject(folder),
        progress=progress,
    )
    result["skipped"] = len(embedded.skipped)
    return result
