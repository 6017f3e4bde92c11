"""The photo sets of a tuning run and each set's FIXED evaluation split.

For every set, about ``eval_fraction`` of the photos, a whole group at a time (``groups.csv``:
one leaf, one scene, one session; a photo without a group is its own), stratified by class and
seeded by the split's own seed, are held out of the backbone's training for good. The split is
written once as JSON (the held-out groups by name, photos without a group by their path in the
set's folder: about 100 kB for the nine development sets) and read back on resumption or by a
later run given it (``--split``): the heads fitted later on the tuned backbone are measured on
these photos, which the backbone never saw.

Applying a split holds out whole groups: a photo added to a held-out leaf later stays out.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hortus.vision.backbone.manifest import write_atomic
from hortus.vision.dataset import DatasetError, PhotoFolder, scan_photo_folder
from hortus.vision.splits import grouped_holdout
from hortus.vision.tuning import TuningError
from hortus.vision.tuning.config import SetSpec

SPLIT_FORMAT = 1
SPLIT_FILE = "evaluation_split.json"


@dataclass(frozen=True)
class TuningSet:
    """One scanned set: its photos, class index and group key per photo, and which photos
    may train the backbone (``train``) or are held out for evaluation (``held``)."""

    spec: SetSpec
    folder: PhotoFolder
    labels: np.ndarray  # class index of every photo
    groups: list[str]  # group key of every photo
    train: np.ndarray  # photo indices
    held: np.ndarray  # photo indices

    @property
    def class_labels(self) -> list[str]:
        return self.folder.labels


def relative_path(folder: PhotoFolder, index: int) -> str:
    """A photo's path inside its set's folder, ``<class>/<file>`` with forward slashes."""
    photo = folder.photos[index]
    return f"{photo.label}/{photo.path.name}"


def scan_set(spec: SetSpec) -> PhotoFolder:
    """Scan a set's folder (``groups.csv`` read when present)."""
    try:
        return scan_photo_folder(Path(spec.root))
    except (DatasetError, OSError) as exc:
        raise TuningError(f"set {spec.name}: {exc}") from exc


def make_split(folders: dict[str, PhotoFolder], fraction: float, seed: int) -> dict[str, Any]:
    """The evaluation split of each set (grouped, stratified, seeded), as its JSON document:
    the held-out ``groups.csv`` groups by name, and the held-out photos that have no group
    by path (``<class>/<file>``): every photo of a set without ``groups.csv``."""
    sets: dict[str, Any] = {}
    for name, folder in folders.items():
        labels = np.asarray(folder.label_indices(), dtype=np.int64)
        keys = folder.group_keys()
        _, held = grouped_holdout(labels, keys, fraction, seed)
        by_class: dict[str, list[str]] = {}
        groups: set[str] = set()
        for i in held.tolist():
            photo = folder.photos[i]
            if photo.group is not None:
                groups.add(photo.group)
            else:
                by_class.setdefault(photo.label, []).append(photo.path.name)
        sets[name] = {
            "photos": len(folder.photos),
            "groups": len(set(keys)),
            "grouped_by": "groups.csv" if any(p.group for p in folder.photos) else "photo",
            "held_out_photos": int(held.size),
            "held_out_groups": sorted(groups),
            "held_out": {label: sorted(files) for label, files in sorted(by_class.items())},
        }
    return {
        "format": SPLIT_FORMAT,
        "what": (
            "Fixed evaluation photos of each set: never used to train the backbone. About "
            f"{fraction:.0%} of each set's photos, whole groups at a time, stratified by class "
            f"(hortus.vision.splits.grouped_holdout, seed {seed}). Held out: every photo of the "
            "groups in held_out_groups (groups.csv), and the photos without a group listed in "
            "held_out as <class>: [<file>] inside the set's folder."
        ),
        "fraction": fraction,
        "seed": seed,
        "sets": sets,
    }


def write_split(path: Path, split: dict[str, Any]) -> None:
    """Write a split document atomically (sorted keys: stable diffs when committed)."""
    write_atomic(path, (json.dumps(split, indent=1, sort_keys=True) + "\n").encode("utf-8"))


def read_split(path: Path) -> dict[str, Any]:
    """Read and check a split document."""
    try:
        split = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TuningError(f"unreadable evaluation split {path}: {exc}") from exc
    if not isinstance(split, dict) or split.get("format") != SPLIT_FORMAT or not isinstance(
        split.get("sets"), dict
    ):
        raise TuningError(f"{path} is not an evaluation split (format {SPLIT_FORMAT})")
    return split


def apply_split(spec: SetSpec, folder: PhotoFolder, split: dict[str, Any]) -> TuningSet:
    """Training and held-out photos of one set under a split document: held out are the
    listed photos and every photo of the listed groups, or of a listed photo's group."""
    entry = split["sets"].get(spec.name)
    if entry is None:
        raise TuningError(f"the evaluation split has no set {spec.name!r}")
    listed = {f"{label}/{name}" for label, names in entry["held_out"].items() for name in names}
    named = {str(g) for g in entry.get("held_out_groups", [])}
    keys = folder.group_keys()
    paths = [relative_path(folder, i) for i in range(len(folder.photos))]
    present_groups = {p.group for p in folder.photos if p.group is not None}
    missing = len(listed - set(paths)) + len(named - present_groups)
    if missing:
        raise TuningError(
            f"set {spec.name}: {missing} of its {len(listed) + len(named)} held-out photos and "
            f"groups are missing from {spec.root}; the split does not belong to this folder")
    held_keys = {keys[i] for i, path in enumerate(paths) if path in listed}
    held_keys |= {keys[i] for i, p in enumerate(folder.photos) if p.group in named}
    held = np.asarray([i for i in range(len(paths)) if keys[i] in held_keys], dtype=np.int64)
    # Photos reserved for another measurement (the packaged models' end-to-end hold-out):
    # neither trained on nor part of the evaluation side.
    barred = {f"{label}/{name}" for label, names in entry.get("never_train", {}).items()
              for name in names}
    barred_groups = {str(g) for g in entry.get("never_train_groups", [])}
    barred_keys = {keys[i] for i, path in enumerate(paths) if path in barred}
    barred_keys |= {keys[i] for i, p in enumerate(folder.photos) if p.group in barred_groups}
    excluded = [i for i in range(len(paths)) if keys[i] in barred_keys]
    train = np.setdiff1d(np.arange(len(folder.photos)), np.union1d(held, excluded))
    return TuningSet(spec=spec, folder=folder,
                     labels=np.asarray(folder.label_indices(), dtype=np.int64),
                     groups=keys, train=train, held=held)


def prepare_sets(specs: tuple[SetSpec, ...], split_path: Path, *, fraction: float, seed: int,
                 create: bool) -> tuple[list[TuningSet], dict[str, Any]]:
    """Scan every set and apply the split at ``split_path``; with ``create`` and no file
    there, make the split first (for every set) and write it."""
    if not specs:
        raise TuningError("no photo sets given")
    folders = {spec.name: scan_set(spec) for spec in specs}
    if create and not Path(split_path).is_file():
        write_split(split_path, make_split(folders, fraction, seed))
    split = read_split(split_path)
    sets = [apply_split(spec, folders[spec.name], split) for spec in specs]
    for tuning_set in sets:
        if tuning_set.train.size == 0:
            raise TuningError(f"set {tuning_set.spec.name} has no photo left to train on")
    return sets, split


SIDE_FILES = ("classes.csv", "photos.csv")


def split_folders(sets: list[TuningSet], dest: Path) -> dict[str, dict[str, int]]:
    """Lay each set's split out as two image folders of symlinks, ``dest/<set>/train`` and
    ``dest/<set>/eval`` (with the set's ``classes.csv`` and ``photos.csv``, and its
    ``groups.csv`` rows of that side), for ``hortus train`` and ``hortus eval``: a head
    fitted on ``train`` and measured on ``eval`` is measured on photos the backbone never
    saw. Returns the photo count of every side."""
    import csv

    counts: dict[str, dict[str, int]] = {}
    for ts in sets:
        root = Path(ts.spec.root)
        counts[ts.spec.name] = {}
        for side, rows in (("train", ts.train), ("eval", ts.held)):
            side_dir = Path(dest) / ts.spec.name / side
            if side_dir.exists():
                raise TuningError(f"{side_dir} exists already")
            grouped = []
            for i in rows.tolist():
                photo = ts.folder.photos[i]
                link = side_dir / photo.label / photo.path.name
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(photo.path.resolve())
                if photo.group is not None:
                    grouped.append((f"{photo.label}/{photo.path.name}", photo.group))
            for name in SIDE_FILES:
                if (root / name).is_file():
                    shutil.copyfile(root / name, side_dir / name)
            if grouped:
                with open(side_dir / "groups.csv", "w", newline="", encoding="utf-8") as out:
                    writer = csv.writer(out)
                    writer.writerow(["file", "group"])
                    writer.writerows(grouped)
            counts[ts.spec.name][side] = int(rows.size)
    return counts
