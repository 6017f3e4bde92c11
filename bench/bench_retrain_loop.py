"""From validated observations to a better model, at the scale of Oxford-17: the loop of
tests/observations/test_retrain_loop.py on every class.

1. A first version of a project is trained on photos 0..START-1 of each class.
2. Photos START..START+OBSERVED-1 of each class are saved as observations through the API
   (POST /v2/observations, in process) with the author's determination of the true species,
   and two other accounts vote the same species, so each becomes valid.
3. ``update_project`` (what ``hortus projects update NAME --from-observations`` runs) trains a
   candidate on the first photos plus the observations' photos and compares it with the
   active version on a fixed evaluation set (photos 50..59 of each class, never trained on).
4. Poison: the next POISONED photos of each class are saved without a determination, and a
   group of three adversary accounts votes the *next* class's species on each, so they become
   valid with wrong labels. A second update must be refused by the gate.

Writes the figures to docs/figures/retrain_loop.json (or --json FILE). Run:

    nice -n 19 .venv/bin/python bench/bench_retrain_loop.py --threads 2

about 10 to 20 minutes on 2 cores (embedding ~1,000 photos, ~700 API observations).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from hortus.accounts import service as accounts
from hortus.app import create_app
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.media import open_media_store
from hortus.observations.retraining import UpdateError, rollback, update_project
from hortus.vision.artifacts import active_version_dir
from hortus.vision.backbone import Backbone, prepare_backbone
from hortus.vision.dataset import PhotoCredit, scan_photo_folder
from hortus.vision.recipe import Recipe
from hortus.vision.workflow import train_folder

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "oxford17"
NAMES = ROOT / "src" / "hortus" / "vision" / "packaged" / "classes" / "flowers.csv"
PROJECT = "oxford17loop"
EVALUATION = range(50, 60)


def _species() -> dict[str, str]:
    with NAMES.open(newline="", encoding="utf-8") as handle:
        return {row["folder"]: row["name"] for row in csv.DictReader(handle)
                if (DATA / row["folder"]).is_dir()}  # the packaged list has one class more


def _photos(label: str, indices: range) -> list[Path]:
    photos = sorted((DATA / label).glob("*.jpg"))
    return [photos[i] for i in indices]


def _folder(root: Path, species: dict[str, str], indices: range) -> Path:
    for label in species:
        (root / label).mkdir(parents=True)
        for photo in _photos(label, indices):
            (root / label / photo.name).symlink_to(photo)
    with (root / "classes.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["folder", "name"])
        writer.writerows(species.items())
    return root


def _keys(settings: Settings, count: int, prefix: str):
    database = prepare_database(settings)
    try:
        with database.write() as session:
            return [accounts.create_key(session=session, account=accounts.get_or_create_account(
                session=session, email=f"{prefix}{i}@example.org")) for i in range(count)]
    finally:
        database.dispose()


def _observe(client: TestClient, photos: dict[str, list[Path]], authors, voters,
             claim: dict[str, str], determination: bool) -> int:
    """Save each photo as an observation (one author per class: each account has a daily
    identification quota) and have ``voters`` vote ``claim`` of its class; the number that
    ended valid with that label."""
    valid = 0
    for (label, paths), author in zip(photos.items(), authors, strict=True):
        for path in paths:
            data = {"organs": ["flower"]}
            if determination:
                data["determination"] = claim[label]
            response = client.post("/v2/observations", params={"api-key": author.api_key},
                                   files=[("images", (path.name, path.read_bytes(),
                                                      "image/jpeg"))], data=data)
            response.raise_for_status()
            oid = response.json()["id"]
            for voter in voters:
                client.post(f"/v2/observations/{oid}/votes/determination",
                            params={"api-key": voter.api_key},
                            json={"name": claim[label], "score": 1.0}).raise_for_status()
            body = client.get(f"/v2/observations/{oid}",
                              params={"api-key": author.api_key}).json()
            valid += bool(body["isValid"] and body["currentName"] == claim[label])
    return valid


def _update(settings: Settings, backbone, base: Path, evaluation: Path) -> dict:
    database = prepare_database(settings)
    store = open_media_store(settings, database)
    try:
        began = time.perf_counter()
        report = update_project(name=PROJECT, models_dir=settings.models_dir, database=database,
                                media=store, backbone=backbone,
                                evaluation=scan_photo_folder(evaluation),
                                base=scan_photo_folder(base), cache_dir=settings.cache_dir)
        return {**report.to_json(), "seconds": round(time.perf_counter() - began, 1)}
    finally:
        store.close()
        database.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, default=17, help="first N Oxford-17 classes")
    parser.add_argument("--start", type=int, default=10, help="photos per class to start")
    parser.add_argument("--observed", type=int, default=20, help="honest observations/class")
    parser.add_argument("--poisoned", type=int, default=20, help="poisoned observations/class")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=ROOT / "docs/figures/retrain_loop.json")
    args = parser.parse_args()
    if args.start + args.observed + args.poisoned > EVALUATION.start:
        parser.error(f"start + observed + poisoned must stay below {EVALUATION.start}")
    species = dict(sorted(_species().items())[: args.classes])
    labels = list(species)
    first = range(0, args.start)
    honest = range(args.start, args.start + args.observed)
    poisoned = range(honest.stop, honest.stop + args.poisoned)
    work = args.work or Path(tempfile.mkdtemp(prefix="retrain-loop-"))
    began = time.perf_counter()
    settings = Settings(data_dir=work / "data", environment="test",
                        models_dir=work / "models", media_backend="database",
                        warm_up_engine=False, inference_threads=args.threads)
    settings.ensure_dirs()
    prepare_database(settings, seed=True).dispose()
    backbone = Backbone.load(prepare_backbone(settings.models_dir), threads=args.threads)
    recipe = Recipe(train_views=("center", "hflip"), test_views=("center",))
    base = _folder(work / "base", species, first)
    evaluation = _folder(work / "evaluation", species, EVALUATION)
    train_folder(scan_photo_folder(base, defaults=PhotoCredit(author="Nilsback & Zisserman")),
                 backbone=backbone, name=PROJECT, task="identify",
                 models_dir=settings.models_dir, cache_dir=settings.cache_dir, recipe=recipe)
    project_dir = settings.models_dir / "projects" / PROJECT
    first_version = active_version_dir(project_dir)
    assert first_version is not None
    crowd = _keys(settings, 5, "voter")
    authors = _keys(settings, 2 * len(labels), "author")
    truth = dict(species)
    wrong = {label: species[labels[(i + 1) % len(labels)]] for i, label in enumerate(labels)}
    with TestClient(create_app(settings)) as client:
        honest_valid = _observe(client, {lb: _photos(lb, honest) for lb in labels},
                                authors[: len(labels)], crowd[:2], truth, determination=True)
        print(f"honest observations valid: {honest_valid}", file=sys.stderr)
        honest_update = _update(settings, backbone, base, evaluation)
        print(json.dumps(honest_update["gate"], indent=1), file=sys.stderr)
        poisoned_valid = _observe(client, {lb: _photos(lb, poisoned) for lb in labels},
                                  authors[len(labels):], crowd[2:5], wrong,
                                  determination=False)
        print(f"poisoned observations valid: {poisoned_valid}", file=sys.stderr)
    after_honest = active_version_dir(project_dir)
    poisoned_update = _update(settings, backbone, base, evaluation)
    print(json.dumps(poisoned_update["gate"], indent=1), file=sys.stderr)
    still = active_version_dir(project_dir)
    try:  # back to the version before the active one (none when the gate kept the first)
        rolled: tuple[str | None, str | None] = rollback(name=PROJECT,
                                                         models_dir=settings.models_dir)
    except UpdateError:
        rolled = (still.name if still else None, None)

    def drop_photos(report: dict) -> dict:
        return {k: v for k, v in report.items() if k != "photos"}

    result = {
        "setup": {"dataset": "Oxford 17 Category Flower Dataset", "classes": len(labels),
                  "first_photos_per_class": args.start,
                  "honest_observations_per_class": args.observed,
                  "poisoned_observations_per_class": args.poisoned,
                  "evaluation_photos_per_class": len(EVALUATION),
                  "recipe": recipe.to_json(), "voters": "author + 2 agreeing accounts "
                  "(honest); 3 adversary accounts voting the next class's species (poisoned)"},
        "honest": {"valid_observations": honest_valid, "update": drop_photos(honest_update),
                   "active_after": after_honest.name if after_honest else None},
        "poisoned": {"valid_observations": poisoned_valid,
                     "update": drop_photos(poisoned_update),
                     "active_after": still.name if still else None,
                     "active_unchanged": still == after_honest},
        "rollback": {"from": rolled[0], "to": rolled[1],
                     "first_version": first_version.name},
        "seconds": round(time.perf_counter() - began, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    h, p = honest_update["gate"], poisoned_update["gate"]
    print(f"top-1 before {h['active']['top1']:.4f}, after honest update "
          f"{h['candidate']['top1']:.4f} ({'activated' if h['activated'] else 'refused'}); "
          f"poisoned candidate {p['candidate']['top1']:.4f} "
          f"({'activated' if p['activated'] else 'refused'}: {'; '.join(p['reasons'])})")
    print(f"figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
