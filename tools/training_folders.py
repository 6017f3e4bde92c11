"""Lay out the packaged projects' training folders from the built photo sets.

The shared photo sets (``../shared/data``: oxford17, flowers5, ibean) and the fetched ones
built by ``../shared/data/build`` (deepweeds, plantvillage, coffee, blackgram, citrus_leaves,
chilli) are folders of ``<set>/<class>/<photo>``. Each packaged project trains on a folder of
its own classes, which this script writes as symbolic links (no photo is copied), with

* ``groups.csv``: every photo's split group, prefixed by its set (one leaf, one scene, ...);
* ``photos.csv``: author, licence and citation of every photo, from its set's licence.

Projects (see ``src/hortus/vision/packaged/MODEL_CARD.md``):

* ``weeds`` (identify): DeepWeeds' eight weeds and its ``negative`` scenes (a reject class);
* one diagnosis project per crop: PlantVillage's ``<crop>__<condition>`` folders become
  ``<crop>/<condition>``; ``citrus`` merges PlantVillage's orange huanglongbing (as
  ``greening``) with ``citrus_leaves``; ``coffee``, ``blackgram``, ``chilli`` and ``bean``
  (iBean) are their own sets;
* ``crops`` (the crop recogniser): one class per crop project, pooling its photos, and
  ``other`` (a reject class) from oxford17, flowers5 and all of DeepWeeds.

Large sets are subsampled first, a whole group at a time, with at most ``CAPS[set]`` photos per
class (seed 0), so that the frozen backbone embeds about 25,000 photos in all; the same
selection is also written as ``sets/<set>`` for cross-validating each set as a whole.

A hold-out share of every set's groups (``HOLDOUT_PERCENT``, chosen by a hash of the group,
so stable whatever the caps) is never used for training or cross-validation: it is written as
``holdout/<set>`` (at most ``HOLDOUT_CAP`` photos per class) for the end-to-end benchmark
``bench/bench_breadth.py``, which sends it through the APIs.

Usage::

    python tools/training_folders.py --photos ~/hortus-photos --shared ../shared/data \
        --out ~/hortus-build/folders
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from hortus.vision.dataset import scan_photo_folder, subsample_per_class


@dataclass(frozen=True)
class Credit:
    author: str
    licence: str
    citation: str


CREDITS = {
    "deepweeds": Credit("Olsen et al. (DeepWeeds)", "CC BY 4.0",
                        "Olsen et al. 2019, DeepWeeds: a multiclass weed species image dataset "
                        "for deep learning, Sci. Rep. 9:2058"),
    "plantvillage": Credit("PlantVillage (Hughes & Salathé)", "CC BY-SA 3.0",
                           "Hughes & Salathé 2015, An open access repository of images on plant "
                           "health, arXiv:1511.08060"),
    "coffee": Credit("Esgario, Krohling & Ventura (BRACOL)", "CC BY 4.0",
                     "Esgario, Krohling & Ventura 2020, Deep learning for classification and "
                     "severity estimation of coffee leaf biotic stress, Comput. Electron. Agric. "
                     "169"),
    "blackgram": Credit("Talasila et al. (BPLD)", "CC BY 4.0",
                        "Talasila et al. 2022, BPLD: Black gram plant leaf disease dataset, Data "
                        "in Brief 45"),
    "citrus_leaves": Credit("Rauf et al.", "CC BY 4.0",
                            "Rauf et al. 2019, A citrus fruits and leaves dataset for detection "
                            "and classification of citrus diseases, Data in Brief 26"),
    "chilli": Credit("chilli_leaf_classification contributors", "CC BY 4.0",
                     "ai-agriculture-circuits-and-systems/chilli_leaf_classification"),
    "ibean": Credit("Makerere AI Lab / NaCRRI (iBean)", "MIT",
                    "Copyright (c) 2020 AIR Lab Makerere University"),
    # No licence stated: used for training the recogniser's "other" class only, never shipped.
    "oxford17": Credit("Nilsback & Zisserman (Oxford 17 Flowers)", "",
                       "Oxford 17 Category Flower Dataset, VGG, University of Oxford"),
    "flowers5": Credit("Kaggle Flowers Recognition", "", "Kaggle Flowers Recognition"),
}

HOLDOUT_PERCENT = 15
HOLDOUT_CAP = 40
# At most this many photos per class (whole groups, seed 0); sets not named are used in full.
CAPS = {"deepweeds": 700, "plantvillage": 300, "coffee": 500, "flowers5": 300}
# DeepWeeds' negative scenes are as varied as rangeland: the reject class needs many more.
CLASS_CAPS = {("deepweeds", "negative"): 3000}
PLANTVILLAGE_CROPS = ("apple", "blueberry", "cherry", "corn", "grape", "pepper", "potato",
                      "raspberry", "strawberry", "tomato")
SUFFIXES = {".jpg", ".jpeg", ".png"}
FETCHED = ("deepweeds", "plantvillage", "coffee", "blackgram", "citrus_leaves", "chilli")
CLASSES = Path(__file__).resolve().parents[1] / "src" / "hortus" / "vision" / "packaged" / "classes"


@dataclass(frozen=True)
class Source:
    """Photos of one class folder of a set, going to one class of a project."""

    set_name: str
    folder: Path
    target: str


def held_out(set_name: str, group: str) -> bool:
    """Is this group in the end-to-end hold-out (a stable hash of set and group)?"""
    digest = hashlib.sha256(f"{set_name}:{group}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HOLDOUT_PERCENT


class Selection:
    """The photos of each set that the projects use, and their groups."""

    def __init__(self) -> None:
        self._chosen: dict[tuple[Path, bool], dict[str, str | None]] = {}

    def photos(self, set_name: str, folder: Path,
               holdout: bool = False) -> Iterator[tuple[Path, str | None]]:
        """``(photo, group)`` of the chosen photos of one class folder of a set: those for
        training, or with ``holdout`` those held out."""
        set_dir = folder.parent
        key = (set_dir, holdout)
        if key not in self._chosen:
            scanned = scan_photo_folder(set_dir)
            kept = [p for p, g in zip(scanned.photos, scanned.group_keys(), strict=True)
                    if held_out(set_name, g) == holdout]
            cap = HOLDOUT_CAP if holdout else CAPS.get(set_name)
            chosen = subsample_per_class(replace(scanned, photos=kept), cap, 0).photos
            for (name, label), class_cap in CLASS_CAPS.items():
                if name == set_name and not holdout:
                    of_class = replace(scanned, photos=[p for p in kept if p.label == label])
                    chosen = [p for p in chosen if p.label != label]
                    chosen += subsample_per_class(of_class, class_cap, 0).photos
            self._chosen[key] = {f"{p.label}/{p.path.name}": p.group for p in chosen}
        chosen = self._chosen[key]
        for photo in sorted(folder.iterdir()):
            key = f"{folder.name}/{photo.name}"
            if photo.suffix.lower() in SUFFIXES and key in chosen:
                yield photo, chosen[key]


def write_project(out: Path, name: str, sources: list[Source], selection: Selection,
                  classes: Path | None = None, holdout: bool = False) -> int:
    """Write one project folder; returns the number of photos linked."""
    root = out / name
    shutil.rmtree(root, ignore_errors=True)
    groups_rows, credit_rows = [], []
    for source in sources:
        credit = CREDITS[source.set_name]
        (root / source.target).mkdir(parents=True, exist_ok=True)
        for photo, group in selection.photos(source.set_name, source.folder, holdout):
            file = f"{source.set_name}-{source.folder.name}-{photo.name}"
            (root / source.target / file).symlink_to(photo.resolve())
            key = f"{source.target}/{file}"
            group_key = f"{source.set_name}:{group or key}"
            groups_rows.append((file, source.target, group_key))
            credit_rows.append((key, credit.author, credit.licence, credit.citation))
    with (root / "groups.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("file", "label", "group"))
        writer.writerows(groups_rows)
    with (root / "photos.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("file", "author", "licence", "citation"))
        writer.writerows(credit_rows)
    if classes is not None and classes.is_file():
        shutil.copyfile(classes, root / "classes.csv")
    return len(credit_rows)


def crop_sources(photos: Path, shared: Path) -> dict[str, list[Source]]:
    """The diagnosis projects' sources, by project name."""
    projects: dict[str, list[Source]] = {}
    village = photos / "plantvillage"
    for folder in sorted(p for p in village.iterdir() if p.is_dir()):
        crop, condition = folder.name.split("__", 1)
        if crop in PLANTVILLAGE_CROPS:
            projects.setdefault(crop, []).append(Source("plantvillage", folder, condition))
    projects["citrus"] = [Source("plantvillage", village / "orange__huanglongbing", "greening")]
    for name in ("citrus_leaves", "coffee", "blackgram", "chilli"):
        project = "citrus" if name == "citrus_leaves" else name
        for folder in sorted(p for p in (photos / name).iterdir() if p.is_dir()):
            projects.setdefault(project, []).append(Source(name, folder, folder.name))
    projects["bean"] = [Source("ibean", f, f.name)
                        for f in sorted(p for p in (shared / "ibean").iterdir() if p.is_dir())]
    return projects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=Path.home() / "hortus-photos",
                        help="where ../shared/data/build wrote the fetched sets")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2]
                        / "shared" / "data", help="the shared data folder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    selection = Selection()

    def folders(base: Path) -> list[Path]:
        return sorted(p for p in base.iterdir() if p.is_dir())

    def write(name: str, sources: list[Source], where: Path = args.out) -> None:
        count = write_project(where, name, sources, selection, CLASSES / f"{name}.csv")
        print(f"{name}: {count} photos")

    for set_name in FETCHED:
        sources = [Source(set_name, f, f.name) for f in folders(args.photos / set_name)]
        write(set_name, sources, args.out / "sets")
        count = write_project(args.out / "holdout", set_name, sources, selection, holdout=True)
        print(f"holdout/{set_name}: {count} photos")
    write("weeds", [Source("deepweeds", f, f.name) for f in folders(args.photos / "deepweeds")])
    crops = crop_sources(args.photos, args.shared)
    for name, sources in sorted(crops.items()):
        write(name, sources)
    pooled = [Source(s.set_name, s.folder, crop) for crop, sources in crops.items()
              for s in sources]
    other = [Source(set_name, f, "other") for set_name, base in
             (("oxford17", args.shared / "oxford17"), ("flowers5", args.shared / "flowers5"),
              ("deepweeds", args.photos / "deepweeds"))
             for f in folders(base)]
    write("crops", pooled + other)


if __name__ == "__main__":
    main()
