"""Benchmark: the packaged weed and crop models end to end, through the APIs, on held-out photos.

    .venv/bin/python bench/bench_breadth.py [--holdout ~/hortus-build/folders/holdout]
        [--shared ../shared/data] [--per-class 40] [--out docs/figures/breadth.json]

The hold-out folders are written by ``tools/training_folders.py``: whole groups (one leaf, one
scene) of every fetched set that no packaged model trained on. Each photo goes through a
fresh Hortus (SQLite, packaged models, in-process ASGI app) as a client would send it:

* ``deepweeds``: ``POST /v2/identify/all`` and ``POST /v2/identify/weeds`` (organ ``auto``).
  A weed photo is right when the best species is its weed; ``lost`` counts weed photos
  answered "Species not found" (404). A ``negative`` photo is right when it gets 404.
* crop sets (plantvillage, coffee, blackgram, citrus_leaves, chilli): ``POST
  /v1/image_analysis`` without a ``crop`` header, so the crop recogniser chooses the model.
  ``crop`` counts photos whose first ``plant_net`` crop is theirs; a problem photo is right
  when, in addition, the first listed problem is its own (catalogue id, else name); a healthy
  leaf is right when its crop is recognised and no problem ranks above healthy.
* ``no crop``: held-out Oxford-17 / flowers5 photos and DeepWeeds scenes sent to
  ``/v1/image_analysis``: the share answered with an empty ``plant_net`` (no diagnosis).

Prints a summary to stderr and writes JSON (per set and per class) to ``--out`` or stdout;
``--parts identify`` reruns one part and keeps the others from an existing ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HORTUS_SHARED_DATA", REPO.parent / "shared" / "data"))
CROP_SETS = ("plantvillage", "coffee", "blackgram", "citrus_leaves", "chilli")
# Class folder of a fetched set -> (diagnosis project, class of that project).
SET_PROJECT = {"coffee": "coffee", "blackgram": "blackgram", "chilli": "chilli",
               "citrus_leaves": "citrus"}


def log(message: str) -> None:
    sys.stderr.write(message + "\n")


def expected(set_name: str, label: str) -> tuple[str, str]:
    """(project, class folder in that project) of a held-out photo's label."""
    if set_name == "plantvillage":
        crop, condition = label.split("__", 1)
        if crop == "orange":
            return "citrus", "greening"
        return crop, condition
    return SET_PROJECT[set_name], label


def photos(folder: Path, per_class: int) -> list[tuple[str, Path]]:
    out = []
    for label_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(p for p in label_dir.iterdir() if p.is_file())[:per_class]
        out.extend((label_dir.name, f) for f in files)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holdout", type=Path,
                        default=Path.home() / "hortus-build" / "folders" / "holdout")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--parts", default="identify,diagnose,no_crop",
                        help="which parts to run; the others are kept from an existing --out")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if not args.holdout.is_dir():
        log(f"no hold-out folders at {args.holdout}: run tools/training_folders.py first")
        sys.exit(2)

    from fastapi.testclient import TestClient

    from hortus.accounts import service as accounts
    from hortus.app import create_app
    from hortus.bootstrap import prepare_database
    from hortus.config import Settings
    from hortus.diagnose.catalogue_service import resolve_classes
    from hortus.vision.artifacts import find_active_projects, load_project
    from hortus.vision.engine import PACKAGED_PROJECTS_DIR

    data_dir = Path(tempfile.mkdtemp(prefix="hortus-breadth-"))
    settings = Settings(data_dir=data_dir, environment="test", identify_per_day=10**7,
                        analysis_per_month=10**7)
    database = prepare_database(settings, seed=True)
    with database.write() as session:
        account = accounts.get_or_create_account(session=session, email="bench@example.org")
        key = accounts.create_key(session=session, account=account).api_key
    projects = {name: load_project(path)
                for name, path in find_active_projects([PACKAGED_PROJECTS_DIR]).items()}
    weed_names = {c.label: c.name for c in projects["weeds"].classes}
    results: dict = {"identify": {}, "diagnose": {}, "no_crop": {}}
    if args.out and args.out.is_file() and parts != {"identify", "diagnose", "no_crop"}:
        results.update(json.loads(args.out.read_text(encoding="utf-8")))

    with TestClient(create_app(settings)) as client:
        class_names: dict[str, dict[str, str]] = {
            name: {c.label: c.name for c in art.classes}
            for name, art in projects.items() if art.task == "diagnose"}
        with database.read() as session:
            refs = {name: resolve_classes(session=session, names=list(classes.values()))
                    for name, classes in class_names.items()}

        def identify(project: str, path: Path):
            with path.open("rb") as handle:
                return client.post(f"/v2/identify/{project}", params={"api-key": key},
                                   files={"images": (path.name, handle, "image/jpeg")},
                                   data={"organs": "auto"})

        def analyse(path: Path):
            return client.post("/v1/image_analysis", headers={"api-key": key},
                               files={"picture": (path.name, path.read_bytes(), "image/jpeg")})

        weeds_dir = args.holdout / "deepweeds"
        for project in ("all", "weeds") if "identify" in parts else ():
            tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for label, path in photos(weeds_dir, args.per_class):
                answer = identify(project, path)
                row = tally[label]
                row["n"] += 1
                if answer.status_code == 404:
                    row["right" if label == "negative" else "lost"] += 1
                    continue
                answer.raise_for_status()
                best = answer.json()["results"][0]["species"]["scientificNameWithoutAuthor"]
                if label != "negative" and best == weed_names[label]:
                    row["right"] += 1
            results["identify"][project] = {k: dict(v) for k, v in tally.items()}
            log(f"identify/{project}: {_rate(tally, exclude='negative')} of weed photos right, "
                f"{_share(tally, 'lost', exclude='negative')} lost, "
                f"negative refused {_share({'negative': tally['negative']}, 'right')}")

        for set_name in CROP_SETS if "diagnose" in parts else ():
            tally = defaultdict(lambda: defaultdict(int))
            folder = args.holdout / set_name
            if not folder.is_dir():
                continue
            for label, path in photos(folder, args.per_class):
                project, condition = expected(set_name, label)
                row = tally[label]
                row["n"] += 1
                answer = analyse(path)
                if answer.status_code >= 400:
                    row["errors"] += 1
                    continue
                body = answer.json()
                crops = [c["name"] for c in body["plant_net"]]
                if not crops or crops[0] != project.upper():
                    continue
                row["crop"] += 1
                problems = sorted(body["image_analysis"], key=lambda d: d["rank"])
                if condition == "healthy":
                    if not problems or problems[0]["rank"] > 1:
                        row["right"] += 1
                    continue
                want = refs.get(project, {}).get(class_names[project].get(condition, ""))
                first = problems[0] if problems and problems[0]["rank"] == 1 else None
                if first is not None and (
                        (want is not None and first["peat_id"] == want.peat_id)
                        or (want is None and first["name"] == class_names[project][condition])):
                    row["right"] += 1
            results["diagnose"][set_name] = {k: dict(v) for k, v in tally.items()}
            log(f"image_analysis {set_name}: crop {_share(tally, 'crop')}, "
                f"right {_share(tally, 'right')}")

        others = [("deepweeds", lbl, p) for lbl, p in photos(weeds_dir, args.per_class)
                  if "no_crop" in parts]
        for name in ("oxford17", "flowers5"):
            base = args.shared / name
            if base.is_dir() and "no_crop" in parts:
                others += [(name, lbl, p) for lbl, p in photos(base, 4)]
        tally = defaultdict(lambda: defaultdict(int))
        for set_name, _, path in others if "no_crop" in parts else ():
            row = tally[set_name]
            row["n"] += 1
            answer = analyse(path)
            if answer.status_code < 400 and not answer.json()["plant_net"]:
                row["no_crop"] += 1
        if "no_crop" in parts:
            results["no_crop"] = {k: dict(v) for k, v in tally.items()}
        log(f"no crop recognised: {json.dumps(results['no_crop'])}")
    results["note"] = ("oxford17 and flowers5 photos here are not all held out from the crop "
                       "recogniser's 'other' class (85% of them trained it)")
    text = json.dumps(results, indent=2) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _share(tally, key: str, exclude: str | None = None) -> str:
    rows = [v for k, v in tally.items() if k != exclude]
    n = sum(r.get("n", 0) for r in rows)
    return f"{sum(r.get(key, 0) for r in rows) / n:.3f}" if n else "-"


def _rate(tally, exclude: str | None = None) -> str:
    return _share(tally, "right", exclude)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
