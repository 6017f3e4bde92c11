"""Bar the packaged models' end-to-end hold-out from the backbone's training.

``tools/training_folders.py`` keeps a stable hash-chosen share of every set's groups
(``HOLDOUT_PERCENT``) out of the packaged heads' training: the model card's held-out table and
``bench/bench_breadth.py`` are measured on it. A backbone tuned on those photos would flatter
both, so this script writes them into the backbone's evaluation split document as
``never_train_groups`` (by ``groups.csv`` group) and ``never_train`` (``<class>: [<file>]``,
photos without a group): ``hortus backbone tune`` then neither trains on them nor counts them
on the evaluation side (``hortus.vision.tuning.photosets.apply_split``).

The photos are scanned exactly as ``training_folders.py`` scans them (same folder paths, so an
ungrouped photo's hash key, ``photo:<path>``, is the same): run it from the repository with the
arguments ``tools/train_packaged.sh`` uses.

Usage::

    .venv/bin/python tools/backbone_split_reserve.py docs/figures/backbone-split.json \
        --photos ~/hortus-photos --shared ../shared/data
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from training_folders import FETCHED, HOLDOUT_PERCENT, held_out  # noqa: E402

from hortus.vision.dataset import scan_photo_folder  # noqa: E402
from hortus.vision.tuning.photosets import read_split, write_split  # noqa: E402

SHARED_SETS = ("oxford17", "flowers5", "ibean")


def reserve(split_path: Path, photos: Path, shared: Path) -> dict[str, int]:
    """Add every set's end-to-end hold-out to the split document; photos barred per set."""
    split = read_split(split_path)
    counts: dict[str, int] = {}
    for name, entry in sorted(split["sets"].items()):
        root = (shared if name in SHARED_SETS else photos) / name
        if name not in SHARED_SETS and name not in FETCHED:
            raise SystemExit(f"set {name} is not one of the packaged models' sets")
        folder = scan_photo_folder(root)
        groups: set[str] = set()
        files: dict[str, list[str]] = {}
        for photo, key in zip(folder.photos, folder.group_keys(), strict=True):
            if not held_out(name, key):
                continue
            counts[name] = counts.get(name, 0) + 1
            if photo.group is not None:
                groups.add(photo.group)
            else:
                files.setdefault(photo.label, []).append(photo.path.name)
        entry["never_train_groups"] = sorted(groups)
        entry["never_train"] = {label: sorted(names) for label, names in sorted(files.items())}
        entry["never_train_photos"] = counts.get(name, 0)
    split["never_train_rule"] = (
        f"tools/training_folders.py's end-to-end hold-out ({HOLDOUT_PERCENT} % of each set's "
        "groups by a hash of set and group): the packaged models' held-out table and "
        "bench/bench_breadth.py measure on it, so the backbone never trains on it either; "
        "those photos are not on the evaluation side (a group in both lists is held out)")
    write_split(split_path, split)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("split", type=Path, help="the split document to extend in place")
    parser.add_argument("--photos", type=Path, default=Path.home() / "hortus-photos")
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"),
                        help="as tools/train_packaged.sh passes it (ungrouped photos' keys "
                             "include this path)")
    args = parser.parse_args()
    for name, count in sorted(reserve(args.split, args.photos, args.shared).items()):
        print(f"{name}: {count} photos barred from the backbone's training")


if __name__ == "__main__":
    main()
