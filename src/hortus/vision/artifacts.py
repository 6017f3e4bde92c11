"""Versioned project models on disk, checksummed, with no pickles.

``<root>/<name>/<version>/`` holds ``manifest.json`` (name, task, version, created, backbone
name + sha256, classes, files with sha256, threshold, temperature, metrics, seed, recipe),
``head.npz``, ``index.npz``, ``labels.json`` and ``metrics.json``; ``<root>/<name>/ACTIVE``
names the version in use. ``<root>`` is ``<models_dir>/projects`` for trained models.
Loading re-hashes every file listed in the manifest and refuses any mismatch.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hortus.vision.backbone.manifest import sha256_file, write_atomic
from hortus.vision.dataset import ClassEntry
from hortus.vision.heads import Head
from hortus.vision.index import ReferenceIndex
from hortus.vision.openset import OpenSetRule

MANIFEST_FILE = "manifest.json"
HEAD_FILE = "head.npz"
INDEX_FILE = "index.npz"
LABELS_FILE = "labels.json"
METRICS_FILE = "metrics.json"
ACTIVE_FILE = "ACTIVE"
TASKS = ("identify", "diagnose", "crop")  # crop: the crop recogniser of diagnosis
FORMAT_VERSION = 1
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ArtifactError(RuntimeError):
    """A project directory is missing, malformed or fails its checksums."""


@dataclass
class ProjectArtifacts:
    """Everything stored for one version of one project."""

    name: str
    task: str
    version: str
    classes: list[ClassEntry]
    head: Head
    rule: OpenSetRule
    index: ReferenceIndex
    metrics: dict = field(default_factory=dict)
    seed: int = 0
    recipe: dict = field(default_factory=dict)
    backbone: dict = field(default_factory=dict)
    created: str = ""
    path: Path | None = None


def validate_name(name: str) -> str:
    """Return ``name`` if usable as a project name (lowercase letters, digits, ``-``, ``_``)."""
    if not _NAME.match(name):
        raise ArtifactError(f"bad project name {name!r}: use a-z, 0-9, '-' and '_'")
    return name


def _json_bytes(data: object) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")


def new_version(project_dir: Path, now: datetime | None = None) -> str:
    """A fresh version name ``YYYYMMDD-HHMMSS`` (UTC), suffixed ``-2``, ``-3`` ... if taken."""
    base = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    version, n = base, 1
    while (project_dir / version).exists():
        n += 1
        version = f"{base}-{n}"
    return version


def write_project(root: Path, artifacts: ProjectArtifacts, *, activate: bool = True) -> Path:
    """Write a new version directory under ``root/<name>/`` (and make it ACTIVE)."""
    validate_name(artifacts.name)
    if artifacts.task not in TASKS:
        raise ArtifactError(f"task must be one of {TASKS}")
    project_dir = Path(root) / artifacts.name
    project_dir.mkdir(parents=True, exist_ok=True)
    version = artifacts.version or new_version(project_dir)
    final = project_dir / version
    if final.exists():
        raise ArtifactError(f"{final} already exists")
    staging = Path(tempfile.mkdtemp(dir=project_dir, prefix=f".{version}."))
    try:
        with (staging / HEAD_FILE).open("wb") as handle:
            head_arrays: dict[str, Any] = artifacts.head.to_arrays()
            np.savez(handle, **head_arrays)
        artifacts.index.save(staging / INDEX_FILE)
        labels = [
            {"index": i, "label": c.label, "name": c.name, "extra": dict(c.extra)}
            for i, c in enumerate(artifacts.classes)
        ]
        (staging / LABELS_FILE).write_bytes(_json_bytes(labels))
        (staging / METRICS_FILE).write_bytes(_json_bytes(artifacts.metrics))
        files = {
            f: sha256_file(staging / f) for f in (HEAD_FILE, INDEX_FILE, LABELS_FILE, METRICS_FILE)
        }
        manifest = {
            "format": FORMAT_VERSION,
            "name": artifacts.name,
            "task": artifacts.task,
            "version": version,
            "created": artifacts.created or datetime.now(UTC).isoformat(timespec="seconds"),
            "backbone": artifacts.backbone,
            "classes": [c.label for c in artifacts.classes],
            "head": artifacts.head.kind,
            "temperature": artifacts.head.temperature,
            "threshold": artifacts.rule.threshold,
            "openset": artifacts.rule.to_json(),
            "references": len(artifacts.index),
            "metrics": _headline(artifacts.metrics),
            "seed": artifacts.seed,
            "recipe": artifacts.recipe,
            "files": files,
        }
        (staging / MANIFEST_FILE).write_bytes(_json_bytes(manifest))
        os.replace(staging, final)
    except BaseException:
        for leftover in staging.glob("*"):
            leftover.unlink()
        staging.rmdir()
        raise
    if activate:
        activate_version(Path(root), artifacts.name, version)
    return final


def _headline(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str)}


def activate_version(root: Path, name: str, version: str) -> None:
    """Point ``root/<name>/ACTIVE`` at an existing version."""
    project_dir = Path(root) / validate_name(name)
    if not (project_dir / version / MANIFEST_FILE).is_file():
        raise ArtifactError(f"no version {version!r} of project {name!r}")
    write_atomic(project_dir / ACTIVE_FILE, (version + "\n").encode("utf-8"))


def active_version_dir(project_dir: Path) -> Path | None:
    """The directory named by ``project_dir/ACTIVE``, or None when there is none."""
    marker = Path(project_dir) / ACTIVE_FILE
    if not marker.is_file():
        return None
    version = marker.read_text(encoding="utf-8").strip()
    if not version or "/" in version or "\\" in version or version.startswith("."):
        raise ArtifactError(f"{marker}: bad version {version!r}")
    path = Path(project_dir) / version
    return path if path.is_dir() else None


def find_active_projects(roots: list[Path]) -> dict[str, Path]:
    """``{name: active version dir}`` over several roots; the first root naming a project wins."""
    found: dict[str, Path] = {}
    for root in roots:
        if not Path(root).is_dir():
            continue
        for project_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
            if project_dir.name in found or not _NAME.match(project_dir.name):
                continue
            version_dir = active_version_dir(project_dir)
            if version_dir is not None:
                found[project_dir.name] = version_dir
    return found


def active_markers(roots: list[Path]) -> tuple[tuple[str, int, int, int], ...]:
    """A cheap fingerprint of every project's ``ACTIVE`` marker under ``roots`` (path, inode,
    size, modification time): it changes when a version is activated, rolled back, or a
    project appears or goes, by this process or another (``hortus projects update``)."""
    found: list[tuple[str, int, int, int]] = []
    for root in roots:
        if not Path(root).is_dir():
            continue
        for project_dir in Path(root).iterdir():
            try:
                marker = (project_dir / ACTIVE_FILE).stat()
            except OSError:  # not a project, or no active version
                continue
            found.append((str(project_dir), marker.st_ino, marker.st_size, marker.st_mtime_ns))
    return tuple(sorted(found))


def read_manifest(version_dir: Path) -> dict:
    """The manifest of a version directory (JSON, not verified)."""
    try:
        return json.loads((Path(version_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"unreadable manifest in {version_dir}: {exc}") from exc


def load_project(version_dir: Path) -> ProjectArtifacts:
    """Load one version, verifying each file's sha256 against the manifest first."""
    version_dir = Path(version_dir)
    manifest = read_manifest(version_dir)
    files = manifest.get("files") or {}
    for required in (HEAD_FILE, INDEX_FILE, LABELS_FILE):
        if required not in files:
            raise ArtifactError(f"{version_dir}: manifest does not list {required}")
    for name, expected in files.items():
        path = version_dir / name
        if Path(name).name != name or not path.is_file():
            raise ArtifactError(f"{version_dir}: missing file {name}")
        if sha256_file(path) != expected:
            raise ArtifactError(f"{version_dir}: checksum mismatch for {name}")
    try:
        with np.load(version_dir / HEAD_FILE, allow_pickle=False) as data:
            head = Head.from_arrays(str(manifest["head"]), {k: data[k] for k in data.files})
        index = ReferenceIndex.load(version_dir / INDEX_FILE)
        labels = json.loads((version_dir / LABELS_FILE).read_text(encoding="utf-8"))
        metrics = (
            json.loads((version_dir / METRICS_FILE).read_text(encoding="utf-8"))
            if METRICS_FILE in files
            else {}
        )
        classes = [
            ClassEntry(
                label=str(c["label"]),
                name=str(c["name"]),
                extra={str(k): str(v) for k, v in (c.get("extra") or {}).items()},
            )
            for c in sorted(labels, key=lambda c: int(c["index"]))
        ]
        rule = OpenSetRule.from_json(manifest["openset"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ArtifactError(f"{version_dir}: malformed artifacts: {exc}") from exc
    if head.num_classes != len(classes) or (len(index) and int(index.labels.max()) >= len(classes)):
        raise ArtifactError(f"{version_dir}: head, index and labels disagree on classes")
    return ProjectArtifacts(
        name=str(manifest["name"]),
        task=str(manifest["task"]),
        version=str(manifest["version"]),
        classes=classes,
        head=head,
        rule=rule,
        index=index,
        metrics=metrics,
        seed=int(manifest.get("seed", 0)),
        recipe=dict(manifest.get("recipe") or {}),
        backbone=dict(manifest.get("backbone") or {}),
        created=str(manifest.get("created", "")),
        path=version_dir,
    )
