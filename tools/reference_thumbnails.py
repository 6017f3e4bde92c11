"""Write the packaged reference thumbnails: a few photos per class, in the o/m/s sizes served.

Every packaged project's reference index (``index.npz``) names its reference photos by the
sha256 of the photo as built (``../shared/data/build`` writes the same bytes on every machine)
and carries each photo's author, licence and citation. For every class of every project whose
photos may be shared (``deepweeds``, PlantVillage under CC BY-SA 3.0, ``coffee``, ``blackgram``,
``citrus_leaves``, ``chilli``: CC BY 4.0; iBean: MIT), this picks the ``--per-class``
references nearest the class's mean embedding (the most typical photos, deterministically),
finds their bytes among the built photos, and writes their o/m/s JPEGs into
``src/hortus/vision/packaged/media`` (the read-only media layer every process serves).

Never shipped: photos whose licence is not stated (Oxford-17 and flowers5, so the ``flowers``
project has none), reject classes (``negative``, ``other``). A rebuild removes renditions that
are no longer chosen, so the folder is exactly what this command writes; ``CREDITS.md`` there
lists each set's licence and the count shipped.

Usage::

    python tools/reference_thumbnails.py --photos ~/hortus-photos --shared ../shared/data
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from hortus.vision.engine import PACKAGED_DIR, PACKAGED_PROJECTS_DIR
from hortus.vision.index import ReferenceIndex
from hortus.vision.media import MEDIA_SIZES, reference_media_path, write_reference_media

# Licences under which photos may be redistributed (with the credit the index carries).
SHAREABLE = ("CC BY 4.0", "CC BY-SA 3.0", "MIT")
PER_CLASS = 3
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


def photo_bytes_by_sha(roots: list[Path]) -> dict[str, Path]:
    """sha256 of every photo file under ``roots`` -> its path."""
    found: dict[str, Path] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in PHOTO_SUFFIXES and path.is_file():
                found.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), path)
    return found


def active_version(project_dir: Path) -> Path:
    return project_dir / (project_dir / "ACTIVE").read_text(encoding="utf-8").strip()


def typical(vectors: np.ndarray, rows: np.ndarray, k: int) -> list[int]:
    """The ``k`` rows nearest the mean of ``vectors[rows]`` (cosine), nearest first."""
    block = vectors[rows].astype(np.float32)
    block /= np.linalg.norm(block, axis=1, keepdims=True) + 1e-12
    centre = block.mean(axis=0)
    order = np.argsort(-(block @ centre), kind="stable")
    return [int(rows[i]) for i in order[:k]]


def choose(per_class: int) -> dict[str, tuple[str, dict[str, str]]]:
    """sha256 -> (project/class, credit) of every thumbnail to ship."""
    chosen: dict[str, tuple[str, dict[str, str]]] = {}
    for project_dir in sorted(p for p in PACKAGED_PROJECTS_DIR.iterdir() if p.is_dir()):
        version = active_version(project_dir)
        labels = json.loads((version / "labels.json").read_text(encoding="utf-8"))
        index = ReferenceIndex.load(version / "index.npz")
        by_class: dict[int, list[int]] = defaultdict(list)
        for row, label in enumerate(np.asarray(index.labels).tolist()):
            by_class[int(label)].append(row)
        for entry in labels:
            if (entry.get("extra") or {}).get("role") == "reject" or entry["label"] in (
                    "negative", "other"):
                continue
            rows = [r for r in by_class.get(entry["index"], [])
                    if str(index.meta["licence"][r]) in SHAREABLE]
            if not rows:
                continue
            for row in typical(index.vectors, np.asarray(rows), per_class):
                credit = {f: str(index.meta[f][row]) for f in ("author", "licence", "citation")}
                chosen.setdefault(str(index.sha256[row]),
                                  (f"{project_dir.name}/{entry['label']}", credit))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=Path.home() / "hortus-photos",
                        help="the fetched sets as built by ../shared/data/build")
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"),
                        help="../shared/data (iBean)")
    parser.add_argument("--per-class", type=int, default=PER_CLASS)
    parser.add_argument("--out", type=Path, default=PACKAGED_DIR / "media")
    parser.add_argument("--quality", type=int, default=80)
    args = parser.parse_args()

    chosen = choose(args.per_class)
    print(f"{len(chosen)} thumbnails chosen; hashing the built photos ...")
    found = photo_bytes_by_sha([args.photos, args.shared / "ibean"])
    missing = sorted(sha for sha in chosen if sha not in found)
    if missing:
        raise SystemExit(f"{len(missing)} chosen photos are not among the built photos "
                         f"(e.g. {chosen[missing[0]][0]} {missing[0]}): build the sets first")
    references = args.out / "references"
    shutil.rmtree(references, ignore_errors=True)
    for sha in sorted(chosen):
        write_reference_media(args.out, sha, found[sha].read_bytes(), quality=args.quality)
        assert all(reference_media_path(args.out, sha, s).is_file() for s in MEDIA_SIZES)
    size = sum(p.stat().st_size for p in references.rglob("*.jpg"))
    licences = Counter((c["licence"], c["citation"].split(" (via ")[0])
                       for _, c in chosen.values())
    lines = ["# Packaged reference thumbnails", "",
             "Written by `python tools/reference_thumbnails.py` (see its docstring): "
             f"{len(chosen)} photos, {args.per_class} per class, in the o/m/s sizes, "
             f"{size / 1e6:.1f} MB. Each image entry of an answer carries the photo's author, "
             "licence and citation. Counts by source:", "",
             "| photos | licence | source |", "|---:|---|---|"]
    lines += [f"| {n} | {lic} | {cit} |" for (lic, cit), n in sorted(licences.items())]
    lines += ["", "PlantVillage photos (Hughes & Salathé 2015) are shared under CC BY-SA 3.0, "
              "the licence of PlantVillage's original release; the renditions here are resized "
              "copies under the same licence.", ""]
    (args.out / "CREDITS.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {len(chosen)} photos x {len(MEDIA_SIZES)} sizes, {size / 1e6:.1f} MB "
          f"into {args.out}")


if __name__ == "__main__":
    main()
