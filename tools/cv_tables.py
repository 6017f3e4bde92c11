"""Markdown tables of the grouped cross-validation results in ``docs/figures/cv/*.json``.

The model card quotes these files; this prints what it quotes (a summary table against the
floor, and top-1 per class for every set), so the card can be checked against, or regenerated
from, the committed results. Two floors: the README's (``../shared/data/README.md``, measured on
each set in full) and the floor recipe on the very photos of each CV run
(``floor.json``, written by ``bench/bench_floor.py``), the one that compares like with like::

    python tools/cv_tables.py [docs/figures/cv] > /tmp/cv.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Floors from ../shared/data/README.md ("The floor to beat on the fetched sets").
FLOORS = {"weeds": 0.748, "plantvillage": 0.957, "coffee": 0.875, "blackgram": 0.971,
          "citrus_leaves": 0.891, "chilli": 0.775, "oxford17": 0.943, "ibean": 0.915,
          "flowers5": 0.746}
ORDER = ("weeds", "plantvillage", "coffee", "blackgram", "citrus_leaves", "chilli", "crops",
         "oxford17", "ibean", "flowers5")


def load(folder: Path) -> dict[str, dict]:
    found = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")
             if p.stem != "floor"}
    return {name: found[name] for name in sorted(found, key=lambda n: (
        ORDER.index(n) if n in ORDER else len(ORDER), n))}


def summary_table(results: dict[str, dict], floors: dict[str, dict]) -> list[str]:
    lines = ["| set | photos | folds | top-1 (mean ± std) | floor recipe, same photos | "
             "README floor (whole set) | macro top-1 | NLL | ECE |",
             "|---|---:|---:|---|---|---|---|---|---|"]
    for name, result in results.items():
        s = result["summary"]
        floor = FLOORS.get(name)
        same = floors.get(name, {}).get("top1")
        same_text = f"{same['mean']:.3f} ± {same['std']:.3f}" if same else "-"
        lines.append(
            f"| {name} | {result['n']:,} | {len(result['folds'])} | "
            f"{s['top1']['mean']:.3f} ± {s['top1']['std']:.3f} | "
            f"{same_text} | "
            f"{f'{floor:.3f}' if floor else '-'} | {s['macro_top1']['mean']:.3f} | "
            f"{s['nll']['mean']:.3f} | {s['ece']['mean']:.3f} |")
    return lines


def per_class_table(name: str, result: dict) -> list[str]:
    rows = sorted(result["per_class"].items())
    lines = [f"**{name}** (top-1 per class over the pooled out-of-fold predictions)", "",
             "| class | photos | top-1 |", "|---|---:|---:|"]
    lines += [f"| {label} | {row['n']:,} | {row['top1']:.3f} |" for label, row in rows]
    return lines


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/figures/cv")
    results = load(folder)
    floor_file = folder / "floor.json"
    floors = json.loads(floor_file.read_text(encoding="utf-8")) if floor_file.is_file() else {}
    out = summary_table(results, floors)
    for name, result in results.items():
        out += ["", *per_class_table(name, result)]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
