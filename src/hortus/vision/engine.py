"""The vision facade used by the API services: decode, embed once, then ask each project.

Paths and bytes in, arrays and dataclasses out; no HTTP, SQL or settings here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hortus.vision.artifacts import (
    ArtifactError,
    ProjectArtifacts,
    active_markers,
    find_active_projects,
    load_project,
)
from hortus.vision.heads import softmax
from hortus.vision.media import reference_media_path
from hortus.vision.openset import rejects
from hortus.vision.test_time_crops import TEST_VIEWS, VIEWS, view_pixels

log = logging.getLogger(__name__)

PACKAGED_DIR = Path(__file__).resolve().parent / "packaged"
PACKAGED_PROJECTS_DIR = PACKAGED_DIR / "projects"

__all__ = [
    "PACKAGED_DIR",
    "PACKAGED_PROJECTS_DIR",
    "ClassInfo",
    "Prediction",
    "ProjectModel",
    "ReferencePhoto",
    "VisionEngine",
    "rejects",
    "reference_media_path",
]


@dataclass(frozen=True)
class ClassInfo:
    """One class of a project: training folder name, Hortus name (species / EPPO code), extras."""

    index: int
    label: str
    name: str
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReferencePhoto:
    """A training photo similar to the query, with its credits (media may be absent)."""

    sha256: str
    label: str
    similarity: float
    author: str | None
    licence: str | None
    citation: str | None
    date: str | None
    organ: str | None


REJECT_ROLE = "reject"  # classes.csv ``role`` of a class that means "none of the others"


@dataclass(frozen=True)
class Prediction:
    """Calibrated probabilities ``[n, C]`` of the answerable classes, open-set scores ``[n]``,
    the probability ``[n]`` of the project's reject classes, and the rejection verdict.

    A photo is rejected when its open-set score is under the threshold, or when the reject
    classes (e.g. DeepWeeds' ``negative`` scenes) are more probable than the project's
    ``reject_threshold`` (:func:`~hortus.vision.openset.rejects`).
    """

    probabilities: np.ndarray
    known_scores: np.ndarray
    threshold: float
    rejected: np.ndarray
    reject_probability: np.ndarray | None = None
    reject_threshold: float = 0.5


class ProjectModel:
    """One trained project (its active version): head, calibration, open-set rule, references."""

    def __init__(self, artifacts: ProjectArtifacts) -> None:
        self._artifacts = artifacts
        self.name = artifacts.name
        self.task = artifacts.task
        self.version = artifacts.version
        self.metrics = artifacts.metrics
        self.recipe = dict(artifacts.recipe)
        self.path = artifacts.path
        self.backbone_sha256 = str(artifacts.backbone.get("sha256", ""))
        self._all_labels = [c.label for c in artifacts.classes]
        # Reject classes (``role=reject`` in classes.csv) are trained like the others but never
        # answered: ``classes`` and the probabilities hold the answerable ones only.
        self._kept = [i for i, c in enumerate(artifacts.classes)
                      if c.extra.get("role", "").strip().lower() != REJECT_ROLE]
        self._reject = [i for i in range(len(artifacts.classes)) if i not in self._kept]
        self.classes = [
            ClassInfo(index=j, label=c.label, name=c.name, extra=dict(c.extra))
            for j, c in enumerate(artifacts.classes[i] for i in self._kept)
        ]
        self.reject_labels = [self._all_labels[i] for i in self._reject]
        self._head = artifacts.head
        self._rule = artifacts.rule
        self._index = artifacts.index

    @property
    def threshold(self) -> float:
        """Open-set threshold: a photo whose known-score is below it is rejected."""
        return self._rule.threshold

    def predict(self, embeddings: np.ndarray) -> Prediction:
        """Predict from raw backbone embeddings ``[n, D]`` (normalised inside)."""
        features = self._head.features(embeddings)
        probabilities = softmax(self._head.logits_from_features(features), self._head.temperature)
        similarities = (
            self._index.similarities(features) if len(self._index) else np.zeros((len(features), 1))
        )
        scores = self._rule.scores(similarities, probabilities).astype(np.float32)
        if not self._reject:
            return Prediction(probabilities, scores, self._rule.threshold,
                              self._rule.rejected(scores))
        reject = probabilities[:, self._reject].sum(axis=1).astype(np.float32)
        rule = self._rule
        return Prediction(probabilities[:, self._kept], scores, rule.threshold,
                          rejects(scores, rule.threshold, reject, rule.reject_threshold), reject,
                          rule.reject_threshold)

    @property
    def reference_sha256(self) -> np.ndarray:
        """The sha256 of every reference photo, in the reference index's row order."""
        return self._index.sha256

    def similar_references(
        self, embedding: np.ndarray, class_index: int, k: int = 3, *,
        among: np.ndarray | None = None,
    ) -> list[ReferencePhoto]:
        """The ``k`` training photos of ``class_index`` most similar to one raw embedding,
        nearest first; with ``among`` (a boolean mask in :attr:`reference_sha256`'s order,
        e.g. the photos whose media is stored), only those photos."""
        feature = self._head.features(np.asarray(embedding).reshape(1, -1))
        return [
            ReferencePhoto(
                sha256=r.sha256,
                label=self._all_labels[r.label_index],
                similarity=r.similarity,
                author=r.author,
                licence=r.licence,
                citation=r.citation,
                date=r.date,
                organ=r.organ,
            )
            for r in self._index.nearest(feature, self._kept[class_index], k, among)
        ]


def limit_blas_threads(threads: int = 1) -> None:
    """Run NumPy's BLAS with ``threads`` threads, process-wide (a serving process: 1).

    A server calls the engine from its own pool of workers, and the BLAS work of a request (the
    heads, the reference search) is a few small products. A multi-threaded OpenBLAS wakes
    helper threads for them, which then spin-wait for more work, each spin holding a core:
    65-77 ms of CPU per identification on a 2-core machine, and five-photo identifications
    ~25% slower for it.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def resolve_backbone_dir(models_dir: Path, backbone_dir: Path | None) -> Path:
    """The backbone directory to load: ``backbone_dir`` when one is chosen, else (or when it
    is the packaged Lite0's own directory) the packaged Lite0, prepared if missing. A chosen
    directory ``models_dir/backbones/<name>`` of a backbone shipped inside Hortus is built
    from its packaged weights when missing."""
    from hortus.vision.backbone import default_backbone_dir, prepare_backbone
    from hortus.vision.backbone.prepare import packaged_backbone_names, prepare_packaged_backbone

    if backbone_dir is None or Path(backbone_dir) == default_backbone_dir(Path(models_dir)):
        return prepare_backbone(Path(models_dir))
    backbone_dir = Path(backbone_dir)
    if (backbone_dir.parent == Path(models_dir) / "backbones"
            and backbone_dir.name in packaged_backbone_names()):
        return prepare_packaged_backbone(Path(models_dir), backbone_dir.name)
    return backbone_dir


class VisionEngine:
    """Backbone + every project's active model; thread-safe for concurrent predictions."""

    def __init__(
        self,
        backbone,
        models_dir: Path,
        project_roots: Sequence[Path],
        views: Sequence[str] = TEST_VIEWS,
    ) -> None:
        self.backbone = backbone
        self.models_dir = Path(models_dir)
        self.project_roots = [Path(p) for p in project_roots]
        self.views = tuple(views)
        self.load_errors: dict[str, str] = {}
        self._projects: dict[str, ProjectModel] = {}
        self._markers: tuple[tuple[str, int, int, int], ...] = ()
        self.reload()

    @classmethod
    def load(
        cls,
        models_dir: Path,
        *,
        threads: int = 1,
        extra_project_dirs: Sequence[Path] = (PACKAGED_PROJECTS_DIR,),
        backbone_dir: Path | None = None,
    ) -> VisionEngine:
        """Load the backbone (``backbone_dir``; default: the packaged Lite0, prepared if
        missing), then every project's ACTIVE version.

        Projects under ``models_dir/projects`` win over same-named ones in
        ``extra_project_dirs`` (each a folder of ``<name>/ACTIVE`` project dirs).
        """
        from hortus.vision.backbone import Backbone

        backbone = Backbone.load(resolve_backbone_dir(models_dir, backbone_dir), threads=threads)
        roots = [Path(models_dir) / "projects", *extra_project_dirs]
        return cls(backbone, models_dir, roots)

    def refresh(self) -> bool:
        """Reload when a project's ``ACTIVE`` marker changed since the last load (a version
        activated or rolled back by another process); whether it reloaded."""
        if active_markers(self.project_roots) == self._markers:
            return False
        log.info("A project's active version changed: reloading the projects")
        self.reload()
        return True

    def reload(self) -> None:
        """Re-read the active version of every project (after ``train`` or an activation)."""
        self._markers = active_markers(self.project_roots)
        projects: dict[str, ProjectModel] = {}
        errors: dict[str, str] = {}
        backbone_sha = getattr(getattr(self.backbone, "manifest", None), "sha256", None)
        for name, version_dir in find_active_projects(self.project_roots).items():
            try:
                model = ProjectModel(load_project(version_dir))
            except ArtifactError as exc:
                log.error("project %s not loaded: %s", name, exc)
                errors[name] = str(exc)
                continue
            trained_views = tuple(model.recipe.get("test_views") or self.views)
            if trained_views != self.views:
                log.warning(
                    "project %s was calibrated on views %s, the engine embeds %s",
                    name,
                    trained_views,
                    self.views,
                )
            if backbone_sha and model.backbone_sha256 and model.backbone_sha256 != backbone_sha:
                log.warning(
                    "project %s was trained on another backbone (%s, now %s)",
                    name,
                    model.backbone_sha256[:12],
                    backbone_sha[:12],
                )
            projects[name] = model
        self._projects, self.load_errors = projects, errors

    def decode(self, data: bytes):
        """Decode photo bytes (raises ``ImageDecodeError``)."""
        from hortus.vision.decode import decode_image

        return decode_image(data)

    def embed(self, images: Sequence, *, views: Sequence[str] | None = None):
        """One batched forward pass; embeddings and logits averaged over views.

        By default each image is seen in the engine's views (those the heads were calibrated
        with: as is, mirrored, zoomed, zoomed and mirrored), so ``embeddings[i]`` is the mean
        of their raw embeddings. ``views`` trades some of that averaging for speed, e.g.
        ``("center", "hflip")`` when several photos of one plant are fused anyway.
        """
        from hortus.vision.backbone import BackboneOutput

        images = list(images)
        chosen = tuple(views) if views else self.views
        if not images:
            size = int(getattr(self.backbone.manifest, "embedding_size", 0))
            return BackboneOutput(embeddings=np.zeros((0, size), np.float32), logits=None)
        batch = self.backbone.normalise(np.stack(
            [view_pixels(self.backbone, im, VIEWS[v]) for im in images for v in chosen]
        ))
        output = self.backbone.forward(batch)
        v = len(chosen)
        embeddings = output.embeddings.reshape(len(images), v, -1).mean(axis=1).astype(np.float32)
        logits = None
        if output.logits is not None:
            logits = output.logits.reshape(len(images), v, -1).mean(axis=1).astype(np.float32)
        return BackboneOutput(embeddings=embeddings, logits=logits)

    def decode_and_embed(self, data: bytes, *, views: Sequence[str] | None = None):
        """Decode one photo and embed it: ``(DecodedImage, BackboneOutput)`` in one call."""
        image = self.decode(data)
        return image, self.embed([image], views=views)

    def projects(self, task: str | None = None) -> list[ProjectModel]:
        """Loaded projects (optionally of one task), sorted by name."""
        return [p for _, p in sorted(self._projects.items()) if task is None or p.task == task]

    def project(self, name: str) -> ProjectModel:
        """One loaded project (``KeyError`` when unknown)."""
        return self._projects[name]

    def imagenet_top(self, logits: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable ImageNet classes (softmax of one logits vector)."""
        probs = softmax(np.asarray(logits, dtype=np.float32).reshape(1, -1))[0]
        labels = list(self.backbone.labels)
        order = np.argsort(-probs, kind="stable")[:k]
        return [(labels[i] if i < len(labels) else str(i), float(probs[i])) for i in order]
