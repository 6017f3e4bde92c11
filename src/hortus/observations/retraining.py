"""From validated observations to a better model: gather, retrain, gate, activate or refuse.

``hortus projects update NAME --from-observations`` runs :func:`update_project`:

1. **Gather.** The photos of the valid, not deleted observations whose label is the species
   of one of the project's classes (its ``name``, or its folder label), with a confidence of
   at least ``min_confidence``; photos voted bad (quality under 2) are left out. Only the
   project's existing classes grow: an observation of another species is not a reason to add
   a class (that needs its own reference photos and an operator's decision).
2. **Export.** Each photo's original bytes are read from the media store into a work folder
   ``<class>/<sha256>.jpg`` with its credit (the author's public name, the observation's
   licence and organ); the photos of one observation form one split group.
3. **Train.** A candidate is trained with the active version's recipe and seed on the base
   folder(s) the operator gives (the project's original training photos: a manifest records
   their checksums, not the photos) plus the observation photos. It is trained into a hidden
   staging folder, then moved beside the other versions *without* being activated.
4. **Gate.** The active version and the candidate are evaluated on the same fixed evaluation
   folder (photos also found among the training photos, by checksum, are dropped from the
   training side first, as are second copies of a training photo). The candidate is
   activated only when it is not worse: its top-1 is not lower than the active one's by more
   than :data:`TOP1_TOLERANCE_PHOTOS` evaluation photo, and its mean NLL is not worse: not
   higher by more than :func:`nll_tolerance` (0.01 nats, or on a small evaluation set what one
   photo's probability of its true class halving adds, ln 2 / n, whichever is larger), or, when
   it is, not significantly so (a one-sided paired t-test of the photos' losses, the same
   photos under both versions, at :data:`NLL_SIGNIFICANCE`). Top-1 is what a person sees; NLL
   also weighs how sure the model is, and on a few hundred photos a handful of confident
   mistakes move it by more than the tolerance while top-1 rises by several points. Otherwise
   the active version stays and the reasons are recorded. Either way the decision and both sets
   of figures are written to the candidate's ``update.json``.

:func:`rollback` makes the version before the active one (skipping candidates the gate
refused) active again. No HTTP here; paths, a database, a media store and a backbone in.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from sqlalchemy import func, or_, select

from hortus.accounts.models import Account
from hortus.accounts.service import public_name
from hortus.db import Database
from hortus.media.store import MediaStore
from hortus.observations.models import Observation, ObservationImage, ObservationLabel
from hortus.plants.taxonomy import normalise_name
from hortus.vision.artifacts import (
    MANIFEST_FILE,
    ArtifactError,
    activate_version,
    active_version_dir,
    load_project,
    read_manifest,
    validate_name,
)
from hortus.vision.dataset import ClassEntry, Photo, PhotoCredit, PhotoFolder, content_sha256
from hortus.vision.engine import ProjectModel
from hortus.vision.recipe import Recipe
from hortus.vision.workflow import evaluate_folder, train_folder

TOP1_TOLERANCE_PHOTOS = 1  # the candidate may miss at most one more evaluation photo
NLL_TOLERANCE = 0.01  # nats per evaluation photo, at least (see :func:`nll_tolerance`)
NLL_SIGNIFICANCE = 0.05  # a rise beyond the tolerance refuses only when significant at this level
MIN_QUALITY = 2.0  # photos voted bad on average (Pl@ntNet's quality threshold) are left out
UPDATE_FILE = "update.json"
ProgressFn = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    return None


class UpdateError(ValueError):
    """The update cannot run (no such project, no photos for a class, ...)."""


@dataclass(frozen=True)
class ObservationPhoto:
    """One photo of a valid observation, as training data of one project class."""

    sha256: str
    label: str  # the project's class folder
    observation_id: int
    author: str
    licence: str
    organ: str | None
    observed_at: str
    confidence: float


@dataclass
class Gate:
    """The gate's verdict on a candidate against the active version (same evaluation)."""

    activated: bool
    reasons: list[str]
    active: dict[str, Any]
    candidate: dict[str, Any]
    nll_margin: float = NLL_TOLERANCE
    nll_p_value: float | None = None  # the paired test's, when the rise exceeded the margin

    def to_json(self) -> dict[str, Any]:
        def figures(of: dict[str, Any]) -> dict[str, Any]:  # per-photo values stay out
            return {k: v for k, v in of.items() if k != "per_photo"}

        return {"activated": self.activated, "reasons": self.reasons,
                "active": figures(self.active), "candidate": figures(self.candidate),
                "tolerance": {"top1_photos": TOP1_TOLERANCE_PHOTOS, "nll": self.nll_margin,
                              "nll_significance": NLL_SIGNIFICANCE},
                "nll_p_value": self.nll_p_value}


@dataclass
class UpdateReport:
    """What an update did (or, dry, would do)."""

    project: str
    active_version: str
    observations: int
    photos_by_class: dict[str, int]
    base_photos: int = 0
    evaluation_photos: int = 0
    dropped_overlap: int = 0
    candidate_version: str | None = None
    gate: Gate | None = None
    dry_run: bool = False
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "active_version": self.active_version,
                "observations": self.observations, "photos_by_class": self.photos_by_class,
                "base_photos": self.base_photos, "evaluation_photos": self.evaluation_photos,
                "dropped_overlap": self.dropped_overlap,
                "candidate_version": self.candidate_version, "dry_run": self.dry_run,
                "gate": self.gate.to_json() if self.gate else None, "skipped": self.skipped}


def class_for_species(classes: list[ClassEntry]) -> dict[str, str]:
    """``{lower-cased accepted species name: class folder}`` for the project's classes."""
    mapping: dict[str, str] = {}
    for entry in classes:
        for spelling in (entry.name, entry.label):
            if spelling.strip():
                mapping.setdefault(normalise_name(spelling).lower(), entry.label)
    return mapping


def valid_observation_photos(database: Database, classes: list[ClassEntry], *,
                             min_confidence: float = 0.0) -> list[ObservationPhoto]:
    """The photos of valid, not deleted observations labelled with one of ``classes``."""
    wanted = class_for_species(classes)
    label = func.lower(ObservationLabel.label)
    query = (
        select(ObservationImage.sha256, ObservationImage.organ, ObservationLabel.label,
               ObservationLabel.confidence, Observation.id, Observation.author_id,
               Observation.license, Observation.observed_at)
        .join(Observation, Observation.id == ObservationImage.observation_id)
        .join(ObservationLabel, ObservationLabel.observation_id == Observation.id)
        .where(ObservationLabel.valid.is_(True), Observation.deleted_at.is_(None),
               ObservationLabel.confidence >= min_confidence, label.in_(sorted(wanted)),
               or_(ObservationImage.quality_score.is_(None),
                   ObservationImage.quality_score >= MIN_QUALITY))
        .order_by(Observation.id, ObservationImage.position))
    with database.read() as session:
        rows = session.execute(query).all()
        authors = sorted({r.author_id for r in rows if r.author_id is not None})
        handles = dict(session.execute(select(Account.id, Account.handle)
                                       .where(Account.id.in_(authors))).all()) if authors else {}
    photos: list[ObservationPhoto] = []
    seen: set[str] = set()
    for row in rows:
        if row.sha256 in seen:  # one photo in two observations trains once
            continue
        seen.add(row.sha256)
        author = (public_name(account_id=row.author_id, handle=handles.get(row.author_id))
                  if row.author_id is not None else None) or "anonymous"
        photos.append(ObservationPhoto(
            sha256=row.sha256, label=wanted[str(row.label).lower()], observation_id=row.id,
            author=author, licence=row.license,
            organ=row.organ if row.organ not in ("auto", "") else None,
            observed_at=row.observed_at.date().isoformat(), confidence=row.confidence))
    return photos


def export_photos(photos: list[ObservationPhoto], media: MediaStore,
                  folder: Path) -> tuple[list[Photo], list[str]]:
    """Write each photo's stored bytes to ``folder/<class>/<sha256>.jpg``; the photos (credited,
    grouped by observation) and the keys no longer stored."""
    exported: list[Photo] = []
    missing: list[str] = []
    for photo in photos:
        body = media.open(photo.sha256)
        if body is None:
            missing.append(photo.sha256)
            continue
        try:
            data = body.read()
        finally:
            body.close()
        path = folder / photo.label / f"{photo.sha256}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        exported.append(Photo(
            path=path, label=photo.label, group=f"observation:{photo.observation_id}",
            credit=PhotoCredit(author=photo.author, licence=photo.licence, organ=photo.organ,
                               date=photo.observed_at,
                               citation=f"{photo.author} / Hortus observation "
                                        f"{photo.observation_id}, {photo.licence}")))
    return exported, missing


def _hashes(photos: list[Photo]) -> list[str]:
    return [content_sha256(p.read_bytes()) for p in photos]


def nll_tolerance(n: int) -> float:
    """How much higher the candidate's mean NLL on ``n`` evaluation photos may be: 0.01, or
    ln 2 / n (one photo's true-class probability halved) when that is larger. On 40 photos
    that is 0.017; from 70 photos on, 0.01."""
    return max(NLL_TOLERANCE, math.log(2) / max(n, 1))


def nll_rise_p_value(active_probability: list[float] | np.ndarray,
                     candidate_probability: list[float] | np.ndarray) -> float:
    """One-sided p-value that the candidate's per-photo loss (-ln of the true class's
    probability) is higher than the active version's on the same photos (paired t-test)."""
    before = -np.log(np.clip(np.asarray(active_probability, dtype=np.float64), 1e-12, 1.0))
    after = -np.log(np.clip(np.asarray(candidate_probability, dtype=np.float64), 1e-12, 1.0))
    if before.shape != after.shape or before.size < 2:
        raise ValueError("a paired test needs the same photos, two or more, under both versions")
    difference = after - before
    if not np.any(difference != difference[0]):  # no spread: the sign decides
        return 0.0 if difference[0] > 0 else 1.0
    return float(stats.ttest_rel(after, before, alternative="greater").pvalue)


def gate(active: dict[str, Any], candidate: dict[str, Any]) -> Gate:
    """Activate the candidate only when it is not worse than the active version on the same
    evaluation photos: top-1 within one photo; NLL within :func:`nll_tolerance` or, beyond it,
    not significantly higher (:func:`nll_rise_p_value`, when both figures have ``per_photo``
    true-class probabilities; without them, the tolerance alone decides)."""
    n = max(int(active["n"]), 1)
    nll_margin = nll_tolerance(n)
    reasons = []
    top1_floor = active["top1"] - TOP1_TOLERANCE_PHOTOS / n
    if candidate["top1"] < top1_floor - 1e-12:
        reasons.append(f"top-1 {candidate['top1']:.4f} is lower than the active "
                       f"{active['top1']:.4f} by more than {TOP1_TOLERANCE_PHOTOS} of {n} "
                       f"evaluation photos")
    p_value = None
    if candidate["nll"] > active["nll"] + nll_margin:
        paired = active.get("per_photo"), candidate.get("per_photo")
        if (paired[0] is not None and paired[1] is not None
                and paired[0].get("path") == paired[1].get("path")):
            p_value = nll_rise_p_value(paired[0]["true_probability"],
                                       paired[1]["true_probability"])
        if p_value is None or p_value < NLL_SIGNIFICANCE:
            significance = "" if p_value is None else f" (paired t-test p = {p_value:.3g})"
            reasons.append(f"NLL {candidate['nll']:.4f} is higher than the active "
                           f"{active['nll']:.4f} by more than {nll_margin:.4f}{significance}")
    return Gate(activated=not reasons, reasons=reasons, active=active, candidate=candidate,
                nll_margin=nll_margin, nll_p_value=p_value)


def _figures(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = ("n", "top1", "top5", "macro_top1", "nll", "ece", "accepted", "project",
            "per_photo")
    return {k: metrics[k] for k in keep if k in metrics}


def _adopt(staged: Path, project_dir: Path) -> Path:
    """Move a staged version directory beside the project's versions, renamed (and its
    manifest's version with it) if that name is taken; not activated."""
    version = staged.name
    n = 1
    while (project_dir / version).exists():
        n += 1
        version = f"{staged.name}-u{n}"
    if version != staged.name:
        manifest = read_manifest(staged)
        manifest["version"] = version
        (staged / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n",
                                            encoding="utf-8")
    final = project_dir / version
    os.replace(staged, final)
    return final


def update_project(*, name: str, models_dir: Path, database: Database, media: MediaStore,
                   backbone, evaluation: PhotoFolder, base: PhotoFolder | None = None,
                   cache_dir: Path | None = None, media_sink: Any = None,
                   min_confidence: float = 0.0, dry_run: bool = False,
                   progress: ProgressFn = _quiet) -> UpdateReport:
    """Retrain project ``name`` with its valid observations' photos added, and activate the
    candidate only when the gate lets it through (see the module docstring)."""
    project_dir = Path(models_dir) / "projects" / validate_name(name)
    active_dir = active_version_dir(project_dir)
    if active_dir is None:
        raise UpdateError(f"no trained project {name!r} in {Path(models_dir) / 'projects'}")
    active = load_project(active_dir)
    labels = [c.label for c in active.classes]
    photos = valid_observation_photos(database, active.classes, min_confidence=min_confidence)
    by_class = {label: sum(1 for p in photos if p.label == label) for label in labels}
    report = UpdateReport(project=name, active_version=active.version,
                          observations=len({p.observation_id for p in photos}),
                          photos_by_class=by_class, dry_run=dry_run)
    unknown = [c.label for c in evaluation.classes if c.label not in labels]
    if unknown:
        raise UpdateError(f"evaluation classes not in project {name!r}: {', '.join(unknown)}")
    base_photos = [p for p in (base.photos if base else []) if p.label in labels]
    report.skipped = [f"base class {c.label} is not a class of {name}"
                      for c in (base.classes if base else []) if c.label not in labels]
    report.evaluation_photos = len(evaluation.photos)
    if dry_run:
        report.base_photos = len(base_photos)
        return report
    if not photos:
        raise UpdateError(f"no valid observation of a species of project {name!r}")
    staging = Path(tempfile.mkdtemp(dir=Path(models_dir), prefix=f".update-{name}-"))
    try:
        exported, missing = export_photos(photos, media, staging / "photos")
        report.skipped += [f"photo {key} is no longer stored" for key in missing]
        held_out = set(_hashes(evaluation.photos))
        training = base_photos + exported
        seen: set[str] = set(held_out)  # evaluation photos, then photos already taken
        keep = []
        for digest in _hashes(training):
            keep.append(digest not in seen)
            seen.add(digest)
        kept = [p for p, k in zip(training, keep, strict=True) if k]
        report.dropped_overlap = len(training) - len(kept)  # in --eval, or twice
        report.base_photos = sum(keep[: len(base_photos)])
        empty = [label for label in labels if not any(p.label == label for p in kept)]
        if empty:
            raise UpdateError(f"no training photo for class(es) {', '.join(empty)}: give the "
                              "project's training folder with --base")
        folder = PhotoFolder(root=staging / "photos", classes=list(active.classes), photos=kept)
        trained = train_folder(folder, backbone=backbone, name=name, task=active.task,
                               models_dir=staging / "models", cache_dir=cache_dir,
                               media_dir=media_sink, recipe=Recipe.from_json(active.recipe),
                               seed=active.seed, progress=progress)
        candidate_dir = _adopt(trained.version_dir, project_dir)
        report.candidate_version = candidate_dir.name
        before = evaluate_folder(evaluation, ProjectModel(active), backbone=backbone,
                                 cache_dir=cache_dir, progress=progress, per_photo=True)
        after = evaluate_folder(evaluation, ProjectModel(load_project(candidate_dir)),
                                backbone=backbone, cache_dir=cache_dir, progress=progress,
                                per_photo=True)
        verdict = gate(_figures(before), _figures(after))
        report.gate = verdict
        record = {**report.to_json(), "photos": [
            {"sha256": p.sha256, "class": p.label, "observation": p.observation_id,
             "author": p.author, "licence": p.licence} for p in photos]}
        (candidate_dir / UPDATE_FILE).write_text(json.dumps(record, indent=2) + "\n",
                                                 encoding="utf-8")
        if verdict.activated:
            activate_version(Path(models_dir) / "projects", name, candidate_dir.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _refused(version_dir: Path) -> bool:
    record = version_dir / UPDATE_FILE
    if not record.is_file():
        return False
    try:
        gate_record = json.loads(record.read_text(encoding="utf-8")).get("gate") or {}
    except (OSError, json.JSONDecodeError):
        return True
    return not gate_record.get("activated", False)


def versions(project_dir: Path) -> list[Path]:
    """The project's version directories, oldest first (version names sort by time)."""
    if not project_dir.is_dir():
        return []
    return sorted((p for p in project_dir.iterdir()
                   if p.is_dir() and not p.name.startswith(".")
                   and (p / MANIFEST_FILE).is_file()), key=lambda p: p.name)


def rollback(*, name: str, models_dir: Path) -> tuple[str, str]:
    """Activate the version before the active one (skipping candidates the gate refused and
    versions that no longer load); ``(from, to)`` versions."""
    root = Path(models_dir) / "projects"
    project_dir = root / validate_name(name)
    active_dir = active_version_dir(project_dir)
    if active_dir is None:
        raise UpdateError(f"no trained project {name!r} in {root}")
    for candidate in reversed([v for v in versions(project_dir) if v.name < active_dir.name]):
        if _refused(candidate):
            continue
        try:
            load_project(candidate)
        except ArtifactError:
            continue
        activate_version(root, name, candidate.name)
        return active_dir.name, candidate.name
    raise UpdateError(f"project {name!r} has no version before {active_dir.name}")


def evaluation_subset(folder: PhotoFolder, labels: list[str]) -> PhotoFolder:
    """``folder`` restricted to the project's classes (the evaluation compares like with
    like)."""
    classes = [c for c in folder.classes if c.label in labels]
    return replace(folder, classes=classes,
                   photos=[p for p in folder.photos if p.label in labels])
