"""Knowledge-base speed at 100,000 plants on SQLite (or HORTUS_DATABASE_URL).

Prints ratios measured in this run:
- keyset paging: the page after id 99,000 against the first page (target <= 1.2x);
- offset paging beside it: page 991 against page 1;
- full-text search latency p50/p95 over a mix of queries (target p50 < 10 ms on SQLite).

Run: .venv/bin/python bench/bench_plants.py [--plants 100000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.db import fulltext
from hortus.plants import service
from hortus.plants.models import CommonName, Plant, PlantAttribute, PlantSearchDocument
from hortus.plants.schemas import PlantListQuery, SearchBody, search_criteria
from hortus.plants.search import TYPE_FACET

GENERA = ["Mentha", "Ocimum", "Solanum", "Allium", "Brassica", "Rosa", "Malus", "Prunus", "Rubus",
          "Salvia", "Thymus", "Lavandula", "Quercus", "Acer", "Betula", "Pinus", "Vitis", "Citrus",
          "Cucurbita", "Phaseolus", "Pisum", "Daucus", "Lactuca", "Beta", "Capsicum", "Fragaria"]
EPITHETS = ["alba", "rubra", "officinalis", "vulgaris", "sativa", "arvensis", "montana",
            "sylvestris", "odorata", "grandiflora", "minor", "major", "communis", "edulis",
            "hortensis", "aquatica", "nigra", "lutea", "repens", "spicata"]
WORDS = ["sweet", "wild", "giant", "dwarf", "golden", "red", "white", "black", "mountain", "water",
         "creeping", "winter", "summer", "lemon", "common", "garden", "field", "marsh"]
NOUNS = ["mint", "basil", "nightshade", "onion", "cabbage", "rose", "apple", "plum", "bramble",
         "sage", "thyme", "lavender", "oak", "maple", "birch", "pine", "grape", "orange", "squash",
         "bean", "pea", "carrot", "lettuce", "beet", "pepper", "strawberry"]
LAYERS = ["Herbs", "Trees", "Shrubs", "Climbers", "Low flowering plants", "Ground cover"]
LIGHT = ["Full sun", "Partial sun/shade", "Full sun, partial sun/shade", "Full shade"]
WATER = ["Dry", "Moist", "Wet", "Dry, moist"]


def populate(settings: Settings, count: int) -> None:
    """Insert ``count`` plausible plants with attributes, names and search documents."""
    database = prepare_database(settings)
    rng = random.Random(7)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    with database.write() as session:
        batch = 5000
        for start in range(1, count + 1, batch):
            plants, attributes, names, documents = [], [], [], []
            for pid in range(start, min(start + batch, count + 1)):
                genus = GENERA[pid % len(GENERA)]
                noun = NOUNS[GENERA.index(genus)]
                scientific = f"{genus} {rng.choice(EPITHETS)} {pid}"
                common = f"{rng.choice(WORDS).capitalize()} {noun} {pid}"
                description = f"A {rng.choice(WORDS)} {noun} of the genus {genus}, grown for food."
                plants.append(dict(id=pid, type="Plant", scientific_name=scientific, name=common,
                                   genus=genus, description=description, slug=f"p-{pid}",
                                   version=1, created_at=now, updated_at=now))
                attrs = [("Layer", rng.choice(LAYERS)), ("Light requirement", rng.choice(LIGHT)),
                         ("Water requirement", rng.choice(WATER)), ("Edible", "true"),
                         ("Family", f"{genus}aceae")]
                attributes += [dict(plant_id=pid, key=k, value=v, position=i)
                               for i, (k, v) in enumerate(attrs)]
                names.append(dict(plant_id=pid, language="en", name=common, position=0))
                documents.append(dict(
                    plant_id=pid, names=f"{scientific} {common}",
                    body=description + " " + " ".join(f"{k} {v}" for k, v in attrs),
                    facets=" ".join(fulltext.facet_tokens([(TYPE_FACET, "Plant"), *attrs]))))
            session.execute(insert(Plant), plants)
            session.execute(insert(PlantAttribute), attributes)
            session.execute(insert(CommonName), names)
            session.execute(insert(PlantSearchDocument), documents)
    database.dispose()


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm caches
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plants", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), load_starter_data=False)
        started = time.perf_counter()
        populate(settings, args.plants)
        print(f"populated {args.plants} plants in {time.perf_counter() - started:.1f}s",
              file=sys.stderr)
        database = prepare_database(settings)
        deep = max(1, args.plants - 1000)
        with database.read() as session:
            def listing(**query: int) -> Callable[[], object]:
                return lambda: service.list_plants(session=session,
                                                   query=PlantListQuery(per_page=100, **query))

            first = timed(listing(last_id=0), args.repeat)
            after = timed(listing(last_id=deep), args.repeat)
            last_page = (deep // 100) + 1
            offset_first = timed(listing(page=1), args.repeat)
            offset_deep = timed(listing(page=last_page), args.repeat)
            queries = [{"q": "mint"}, {"q": "sweet basil"}, {"q": "Rosa alba"},
                       {"q": "lavender", "Layer": "Shrubs"},
                       {"q": "oak", "Light requirement": ["Full sun", "Full shade"]},
                       {"q": "golden apple 4242"}, {"q": "Mentha spicata 12345"},
                       {"q": "strawb"}, {"q": "creeping thyme", "type": "Plant"},
                       {"q": "pepper", "page": 3, "per_page": 20}]
            latencies: list[float] = []
            for params in queries:
                criteria = search_criteria(SearchBody.model_validate(params))
                latencies += timed(lambda c=criteria: service.search_plants(session=session,
                                                                            criteria=c), 10)
        database.dispose()

    med = statistics.median
    result = {
        "plants": args.plants,
        "keyset_first_page_ms": round(med(first), 2),
        "keyset_after_id_ms": round(med(after), 2),
        "keyset_depth_ratio": round(med(after) / med(first), 3),
        "offset_first_page_ms": round(med(offset_first), 2),
        "offset_deep_page_ms": round(med(offset_deep), 2),
        "offset_depth_ratio": round(med(offset_deep) / med(offset_first), 3),
        "search_p50_ms": round(med(latencies), 2),
        "search_p95_ms": round(sorted(latencies)[int(0.95 * len(latencies)) - 1], 2),
        "targets": {"keyset_depth_ratio": "<= 1.2", "search_p50_ms": "< 10 (SQLite)"},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
