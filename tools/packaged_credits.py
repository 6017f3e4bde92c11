"""Per-photo credits of the packaged ``flowers`` and ``bean`` projects, from the shared data.

The model card's training commands for those two projects read ``--photos
<project>-credits.csv`` (``file,author,licence,citation,date,organ``: the columns of
:func:`hortus.vision.dataset.read_photos_csv`). This writes them from ``MANIFEST.csv`` of the
shared data (``../shared/data`` beside the repository), checking every photo's sha256 against
the manifest, so a rebuild trains on the very photos, with the very credits, that the shipped
reference index holds::

    python tools/packaged_credits.py ../shared/data --out /tmp/hortus-build

writes ``/tmp/hortus-build/flowers-credits.csv`` (Oxford-17) and ``bean-credits.csv`` (iBean).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """One shared photo set and the credit every photo of it carries."""

    dataset: str
    licence: str
    citation: str  # followed by " (via <repository>): <path in it>" per photo
    organ: str


PROJECTS = {
    "flowers": Source(
        "oxford17", "no licence stated (research dataset)",
        "Nilsback & Zisserman, Oxford 17 Category Flower Dataset, VGG, University of Oxford",
        "flower"),
    "bean": Source(
        "ibean", "MIT", "iBean, Copyright (c) 2020 AIR Lab Makerere University", "leaf"),
}
COLUMNS = ("file", "author", "licence", "citation", "date", "organ")


def credit_rows(data: Path, source: Source) -> list[dict[str, str]]:
    """Rows of one project's credits CSV, one per photo of ``data/<dataset>`` listed in
    ``data/MANIFEST.csv`` (``file`` = ``<class>/<photo>``), sorted by file.

    Raises ``ValueError`` when a listed photo is missing or its content differs from the
    manifest's sha256, or when the set holds photos the manifest does not list."""
    rows: dict[str, dict[str, str]] = {}
    with (data / "MANIFEST.csv").open(newline="", encoding="utf-8") as handle:
        for entry in csv.DictReader(handle):
            if entry["dataset"] != source.dataset:
                continue
            path = data / entry["file"]
            if not path.is_file():
                raise ValueError(f"{path}: listed in MANIFEST.csv but absent")
            if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
                raise ValueError(f"{path}: content differs from MANIFEST.csv")
            name = f"{entry['label']}/{path.name}"
            rows[name] = {
                "file": name, "author": "", "licence": source.licence,
                "citation": f"{source.citation} (via {entry['source_repo']}): "
                            f"{entry['source_path']}",
                "date": "", "organ": source.organ,
            }
    on_disk = {f"{p.parent.name}/{p.name}" for p in (data / source.dataset).glob("*/*")
               if p.is_file()}
    unlisted = sorted(on_disk - set(rows))
    if unlisted:
        raise ValueError(f"{source.dataset}: {len(unlisted)} photos not in MANIFEST.csv, "
                         f"e.g. {unlisted[0]}")
    return [rows[name] for name in sorted(rows)]


def write_credits(data: Path, out: Path, projects: list[str]) -> list[Path]:
    """Write ``out/<project>-credits.csv`` for each project; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for project in projects:
        path = out / f"{project}-credits.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(credit_rows(data, PROJECTS[project]))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the shared data folder (holds MANIFEST.csv)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder to write into")
    parser.add_argument("--project", choices=sorted(PROJECTS), action="append",
                        help="only this project (repeatable; default both)")
    args = parser.parse_args(argv)
    try:
        paths = write_credits(args.data, args.out, args.project or sorted(PROJECTS))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
