"""Benchmark: does Pl@ntNet's ``all`` flora (flowers + weeds together) hurt either project?

    .venv/bin/python bench/bench_union.py [--holdout ~/hortus-build/folders/holdout]
        [--shared ../shared/data] [--per-class 40] [--out docs/figures/union.json]

Each held-out photo is sent through ``POST /v2/identify/<project>`` of a fresh Hortus (SQLite,
in-process ASGI app) twice: to its own project alone and to ``all``, which ranks the species of
every identification project together (here ``flowers`` and ``weeds``):

* weeds: the DeepWeeds hold-out written by ``tools/training_folders.py`` (whole camera
  sessions the packaged ``weeds`` never saw). Right = the best species is the photo's weed;
  ``lost`` = a weed photo answered "Species not found" (404); a ``negative`` scene is right
  when it gets 404.
* flowers: the packaged ``flowers`` trained on every Oxford-17 photo, so no photo of it is
  unseen. This run trains a stand-in ``flowers`` with the packaged project's own recipe and
  classes on the Oxford-17 photos outside a 15 % hold-out (chosen by a hash of the file name,
  the rule of ``tools/training_folders.py``) and serves it in place of the packaged one; the
  held-out photos are the test. Right = the best species is the photo's flower.

The figure of merit is the difference between ``all`` and the project alone on the same
photos. Prints a summary to stderr and writes JSON to ``--out`` or stdout.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from bench_breadth import photos  # the same first photos of each hold-out class

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HORTUS_SHARED_DATA", REPO.parent / "shared" / "data"))
HOLDOUT_PERCENT = 15  # as tools/training_folders.py


def log(message: str) -> None:
    sys.stderr.write(message + "\n")


def held_out(set_name: str, group: str) -> bool:
    digest = hashlib.sha256(f"{set_name}:{group}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HOLDOUT_PERCENT


def train_stand_in_flowers(oxford17: Path, models_dir: Path, work: Path) -> list[tuple[str, Path]]:
    """Train ``flowers`` on Oxford-17 outside the hold-out, with the packaged recipe and classes
    (into ``models_dir``, where it wins over the packaged one); returns the held-out photos."""
    from hortus.vision.artifacts import find_active_projects, load_project
    from hortus.vision.backbone import Backbone, prepare_backbone
    from hortus.vision.dataset import PhotoCredit, scan_photo_folder
    from hortus.vision.engine import PACKAGED_DIR, PACKAGED_PROJECTS_DIR
    from hortus.vision.training import Recipe
    from hortus.vision.workflow import train_folder

    packaged = load_project(find_active_projects([PACKAGED_PROJECTS_DIR])["flowers"])
    classes_csv = PACKAGED_DIR / "classes" / "flowers.csv"
    with classes_csv.open(encoding="utf-8") as handle:
        names = {row["folder"]: row["name"] for row in csv.DictReader(handle)}
    folder, test = work / "oxford17-train", []
    for label_dir in sorted(p for p in oxford17.iterdir() if p.is_dir()):
        (folder / label_dir.name).mkdir(parents=True)
        for photo in sorted(label_dir.iterdir()):
            if held_out("oxford17", photo.name):
                test.append((names.get(label_dir.name, label_dir.name), photo))
            else:
                (folder / label_dir.name / photo.name).symlink_to(photo)
    scanned = scan_photo_folder(folder, classes_csv=classes_csv,
                                defaults=PhotoCredit(organ="flower"))
    backbone = Backbone.load(prepare_backbone(models_dir), threads=2)
    result = train_folder(scanned, backbone=backbone, name="flowers", task="identify",
                          models_dir=models_dir, cache_dir=work / "cache", media_dir=None,
                          recipe=Recipe.from_json(packaged.recipe), seed=packaged.seed)
    log(f"stand-in flowers: {result.photos} photos trained, {len(test)} held out")
    return test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holdout", type=Path,
                        default=Path.home() / "hortus-build" / "folders" / "holdout")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    weeds_dir = args.holdout / "deepweeds"
    if not weeds_dir.is_dir() or not (args.shared / "oxford17").is_dir():
        log(f"needs {weeds_dir} (tools/training_folders.py) and {args.shared / 'oxford17'}")
        sys.exit(2)

    from fastapi.testclient import TestClient

    from hortus.accounts import service as accounts
    from hortus.app import create_app
    from hortus.bootstrap import prepare_database
    from hortus.config import Settings
    from hortus.vision.artifacts import find_active_projects, load_project
    from hortus.vision.engine import PACKAGED_PROJECTS_DIR

    data_dir = Path(tempfile.mkdtemp(prefix="hortus-union-"))
    settings = Settings(data_dir=data_dir, environment="test", identify_per_day=10**7)
    flower_photos = train_stand_in_flowers(args.shared / "oxford17", settings.models_dir,
                                           data_dir / "work")
    weeds = load_project(find_active_projects([PACKAGED_PROJECTS_DIR])["weeds"])
    weed_names = {c.label: c.name for c in weeds.classes}
    weed_photos = [(label, path) for label, path in photos(weeds_dir, args.per_class)]
    database = prepare_database(settings, seed=True)
    with database.write() as session:
        account = accounts.get_or_create_account(session=session, email="bench@example.org")
        key = accounts.create_key(session=session, account=account).api_key

    results: dict = {"photos": {"flowers": len(flower_photos), "weeds": len(weed_photos)}}
    with TestClient(create_app(settings)) as client:
        listed = client.get("/v2/projects", params={"api-key": key}).json()
        results["projects"] = sorted(p["id"] for p in listed)

        def best(project: str, path: Path) -> str | None:
            with path.open("rb") as handle:
                answer = client.post(f"/v2/identify/{project}", params={"api-key": key},
                                     files={"images": (path.name, handle, "image/jpeg")},
                                     data={"organs": "auto"})
            if answer.status_code == 404:
                return None
            answer.raise_for_status()
            return answer.json()["results"][0]["species"]["scientificNameWithoutAuthor"]

        for own, test, wanted in (
                ("flowers", flower_photos, lambda label: label),
                ("weeds", weed_photos, lambda label: weed_names.get(label))):
            for project in (own, "all"):
                tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
                for label, path in test:
                    answer = best(project, path)
                    row = tally[label]
                    row["n"] += 1
                    if label == "negative":
                        row["right"] += answer is None
                    elif answer is None:
                        row["lost"] += 1
                    elif answer == wanted(label):
                        row["right"] += 1
                    elif (answer in weed_names.values()) == (own == "flowers"):
                        row["as_other_project"] += 1  # a weed for a flower, or vice versa
                summary = _summary(tally)
                results.setdefault(own, {})[project] = {"summary": summary,
                                                        "classes": {k: dict(v) for k, v in
                                                                    tally.items()}}
                log(f"{own} photos via /v2/identify/{project}: {json.dumps(summary)}")
    text = json.dumps(results, indent=2) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _summary(tally) -> dict:
    """Top-1, lost and named-as-the-other-project's shares of the species photos; refusal
    rate of the ``negative`` scenes."""
    rows = [v for k, v in tally.items() if k != "negative"]
    n = sum(r["n"] for r in rows)
    out = {"n": n}
    for key in ("right", "lost", "as_other_project"):
        out[key] = round(sum(r.get(key, 0) for r in rows) / n, 3) if n else None
    if "negative" in tally:
        negative = tally["negative"]
        out["negative_n"] = negative["n"]
        out["negative_refused"] = round(negative.get("right", 0) / negative["n"], 3)
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
