"""Labelled photo folders: ``DIR/<class>/<photo>`` plus optional CSV side files.

* ``DIR/classes.csv`` (or any file given explicitly) maps a class folder to the name the
  rest of Hortus knows it by (a scientific name or an EPPO code). Columns: ``folder`` (or
  ``label``), ``name``, then any extra columns (``crop``, ``pathogen`` ...) kept as strings.
* ``DIR/photos.csv`` (or any file given explicitly) holds per-photo credits. Columns: ``file``
  (path relative to ``DIR``, e.g. ``daisy/001.jpg``, or a bare file name), and any of
  ``author``, ``licence``, ``citation``, ``date``, ``organ``. Missing values fall back to the
  defaults given by the caller (the ``train`` command's ``--author`` ... options).
* ``DIR/groups.csv`` (or any file given explicitly) puts photos that must never be split
  apart (one leaf, one scene, near-identical shots) in one group. Columns: ``file`` (as in
  ``photos.csv``) and ``group``. Splits and cross-validation folds keep a group together;
  a photo without a row is a group of its own.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
CLASSES_FILE = "classes.csv"
PHOTOS_FILE = "photos.csv"
GROUPS_FILE = "groups.csv"
CREDIT_FIELDS = ("author", "licence", "citation", "date", "organ")


class DatasetError(ValueError):
    """The folder is not a usable labelled photo folder."""


@dataclass(frozen=True)
class PhotoCredit:
    """Who took a photo, under which licence, and of which organ."""

    author: str | None = None
    licence: str | None = None
    citation: str | None = None
    date: str | None = None
    organ: str | None = None

    def merged_over(self, defaults: PhotoCredit) -> PhotoCredit:
        """This credit with its missing fields taken from ``defaults``."""
        return PhotoCredit(**{f: getattr(self, f) or getattr(defaults, f) for f in CREDIT_FIELDS})


@dataclass(frozen=True)
class ClassEntry:
    """One class: its folder name, the name Hortus knows it by, and extra columns."""

    label: str
    name: str
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Photo:
    """One labelled photo on disk."""

    path: Path
    label: str
    credit: PhotoCredit = PhotoCredit()
    group: str | None = None  # photos of one group are never split apart (groups.csv)

    def read_bytes(self) -> bytes:
        """The photo file's bytes."""
        return self.path.read_bytes()


@dataclass(frozen=True)
class PhotoFolder:
    """A scanned image folder: classes in a stable (sorted) order and their photos."""

    root: Path
    classes: list[ClassEntry]
    photos: list[Photo]

    @property
    def labels(self) -> list[str]:
        """Class folder names, in class-index order."""
        return [c.label for c in self.classes]

    def group_keys(self) -> list[str]:
        """Each photo's split group: its ``groups.csv`` group, else the photo itself."""
        return [p.group if p.group is not None else f"photo:{p.path}" for p in self.photos]

    def label_indices(self) -> list[int]:
        """Each photo's class index."""
        position = {c.label: i for i, c in enumerate(self.classes)}
        return [position[p.label] for p in self.photos]


def content_sha256(data: bytes) -> str:
    """Hex sha256 of a photo's bytes (the key of caches and reference media)."""
    return hashlib.sha256(data).hexdigest()


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def read_classes_csv(path: Path) -> dict[str, ClassEntry]:
    """Read a ``classes.csv`` into ``{folder: ClassEntry}``."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        key = "folder" if "folder" in columns else "label" if "label" in columns else None
        if key is None or "name" not in columns:
            raise DatasetError(f"{path}: needs a 'folder' (or 'label') and a 'name' column")
        entries: dict[str, ClassEntry] = {}
        for row in reader:
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            label = row.get(key, "")
            if not label:
                continue
            extra = {k: v for k, v in row.items() if k not in {key, "name"} and k and v}
            entries[label] = ClassEntry(label=label, name=row.get("name") or label, extra=extra)
    return entries


def read_photos_csv(path: Path) -> dict[str, PhotoCredit]:
    """Read a per-photo credits CSV into ``{file: PhotoCredit}`` (file as written there)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if "file" not in [c.strip() for c in reader.fieldnames or []]:
            raise DatasetError(f"{path}: needs a 'file' column")
        credits: dict[str, PhotoCredit] = {}
        for row in reader:
            row = {(k or "").strip(): v for k, v in row.items()}
            name = _clean(row.get("file"))
            if name:
                credits[name.replace("\\", "/")] = PhotoCredit(
                    **{f: _clean(row.get(f)) for f in CREDIT_FIELDS}
                )
    return credits


def read_groups_csv(path: Path) -> dict[str, str]:
    """Read a ``groups.csv`` into ``{file: group}`` (file as written there)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        if "file" not in columns or "group" not in columns:
            raise DatasetError(f"{path}: needs a 'file' and a 'group' column")
        groups: dict[str, str] = {}
        for row in reader:
            row = {(k or "").strip(): v for k, v in row.items()}
            name, group = _clean(row.get("file")), _clean(row.get("group"))
            if name and group:
                label = _clean(row.get("label"))
                name = name.replace("\\", "/")
                groups[f"{label}/{name}" if label and "/" not in name else name] = group
    return groups


def _photo_files(folder: Path) -> Iterable[Path]:
    for path in sorted(folder.iterdir()):
        if (
            path.is_file()
            and path.suffix.lower() in PHOTO_SUFFIXES
            and not path.name.startswith(".")
        ):
            yield path


def scan_photo_folder(
    root: Path,
    *,
    classes_csv: Path | None = None,
    photos_csv: Path | None = None,
    groups_csv: Path | None = None,
    defaults: PhotoCredit = PhotoCredit(),
    only_classes: Iterable[str] | None = None,
    min_photos: int = 1,
) -> PhotoFolder:
    """Scan ``root/<class>/<photo>``; classes are sorted by folder name.

    ``classes_csv``/``photos_csv``/``groups_csv`` default to ``root/classes.csv``,
    ``root/photos.csv`` and ``root/groups.csv`` when those exist. ``only_classes`` keeps
    just those folders (e.g. an evaluation subset). Raises :class:`DatasetError` when fewer
    than one class with ``min_photos`` photos remains.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    classes_csv = classes_csv or (root / CLASSES_FILE if (root / CLASSES_FILE).is_file() else None)
    photos_csv = photos_csv or (root / PHOTOS_FILE if (root / PHOTOS_FILE).is_file() else None)
    named = read_classes_csv(classes_csv) if classes_csv else {}
    credits = read_photos_csv(photos_csv) if photos_csv else {}
    groups_csv = groups_csv or (root / GROUPS_FILE if (root / GROUPS_FILE).is_file() else None)
    groups = read_groups_csv(groups_csv) if groups_csv else {}
    wanted = set(only_classes) if only_classes is not None else None

    classes: list[ClassEntry] = []
    photos: list[Photo] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if wanted is not None and folder.name not in wanted:
            continue
        files = list(_photo_files(folder))
        if len(files) < min_photos:
            continue
        entry = named.get(folder.name, ClassEntry(label=folder.name, name=folder.name))
        classes.append(replace(entry, label=folder.name))
        for path in files:
            key = f"{folder.name}/{path.name}"
            credit = credits.get(key) or credits.get(path.name)
            photos.append(
                Photo(
                    path=path,
                    label=folder.name,
                    credit=(credit or PhotoCredit()).merged_over(defaults),
                    group=groups.get(key) or groups.get(path.name),
                )
            )
    if not classes:
        raise DatasetError(f"{root}: no class folder with at least {min_photos} photo(s)")
    return PhotoFolder(root=root, classes=classes, photos=photos)


def merge_photo_folders(folders: list[PhotoFolder]) -> PhotoFolder:
    """One folder from several: classes with the same folder name are merged (first entry's
    name and extras win), classes sorted by folder name, photos in input order."""
    if not folders:
        raise DatasetError("no folders to merge")
    entries: dict[str, ClassEntry] = {}
    for folder in folders:
        for entry in folder.classes:
            entries.setdefault(entry.label, entry)
    classes = [entries[label] for label in sorted(entries)]
    photos = [photo for folder in folders for photo in folder.photos]
    return PhotoFolder(root=folders[0].root, classes=classes, photos=photos)


def subsample_per_class(folder: PhotoFolder, limit: int | None, seed: int = 0) -> PhotoFolder:
    """At most about ``limit`` photos per class, taken a whole group at a time (groups in a
    seeded random order, so every group is either fully in or fully out)."""
    if limit is None:
        return folder
    import random

    rng = random.Random(seed)
    keys = folder.group_keys()
    kept: set[int] = set()
    for label in folder.labels:
        by_group: dict[str, list[int]] = {}
        for i, photo in enumerate(folder.photos):
            if photo.label == label:
                by_group.setdefault(keys[i], []).append(i)
        order = sorted(by_group)
        rng.shuffle(order)
        taken = 0
        for group in order:
            if taken >= limit:
                break
            kept.update(by_group[group])
            taken += len(by_group[group])
    photos = [p for i, p in enumerate(folder.photos) if i in kept]
    return replace(folder, photos=photos)
