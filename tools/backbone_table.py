"""Markdown tables of frozen Lite0 against the tuned backbone (``docs/figures/backbone-cv``).

``tools/backbone_compare.sh`` cross-validates heads on each set's evaluation photos (never seen
by the tuned backbone) once per backbone; this prints what the model card and the closing note
quote: per set, both backbones' grouped 5-fold top-1, the gain, the README floor and the
issue's target (half the gap between that floor and 1.0), and top-1 per class::

    python tools/backbone_table.py [docs/figures/backbone-cv] > /tmp/backbone.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cv_tables import FLOORS  # noqa: E402  (tools/ is on sys.path when run as a script)

SETS = ("deepweeds", "plantvillage", "coffee", "blackgram", "citrus_leaves", "chilli",
        "oxford17", "ibean", "flowers5")
FLOOR_NAME = {"deepweeds": "weeds"}


def load(folder: Path, side: str) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((folder / side).glob("*.json"))}


def summary(frozen: dict[str, dict], tuned: dict[str, dict]) -> list[str]:
    lines = ["| set | evaluation photos | Lite0 (frozen) | tuned | gain | README floor | "
             "target (half the gap) | NLL frozen → tuned |",
             "|---|---:|---|---|---:|---:|---:|---|"]
    for name in SETS:
        if name not in frozen:
            continue
        f = frozen[name]["summary"]
        t = tuned.get(name, {}).get("summary")
        floor = FLOORS.get(FLOOR_NAME.get(name, name))
        target = f"{floor + (1 - floor) / 2:.3f}" if floor else "-"
        tuned_text = f"{t['top1']['mean']:.3f} ± {t['top1']['std']:.3f}" if t else "-"
        gain = f"{t['top1']['mean'] - f['top1']['mean']:+.3f}" if t else "-"
        nll = f"{f['nll']['mean']:.3f} → {t['nll']['mean']:.3f}" if t else "-"
        lines.append(f"| {name} | {frozen[name]['n']:,} | {f['top1']['mean']:.3f} ± "
                     f"{f['top1']['std']:.3f} | {tuned_text} | {gain} | "
                     f"{f'{floor:.3f}' if floor else '-'} | {target} | {nll} |")
    return lines


def per_class(name: str, frozen: dict, tuned: dict | None) -> list[str]:
    lines = [f"**{name}** (top-1 per class, pooled out-of-fold predictions)", "",
             "| class | photos | frozen | tuned |", "|---|---:|---:|---:|"]
    for label, row in sorted(frozen["per_class"].items()):
        other = (tuned or {}).get("per_class", {}).get(label)
        lines.append(f"| {label} | {row['n']:,} | {row['top1']:.3f} | "
                     f"{other['top1']:.3f} |" if other else
                     f"| {label} | {row['n']:,} | {row['top1']:.3f} | - |")
    return lines


def views_table(folder: Path) -> list[str]:
    """Four test views against the centre view alone, on both backbones (same photos)."""
    sides = {side: load(folder, side) for side in ("lite0", "lite0-center", "tuned",
                                                     "tuned-center")}
    if not sides["lite0-center"] and not sides["tuned-center"]:
        return []
    lines = ["", "Heads served with four test views (as today) or the centre view alone "
             "(one forward pass a photo), grouped 5-fold top-1 on the same photos:", "",
             "| set | Lite0, 4 views | Lite0, centre | tuned, 4 views | tuned, centre |",
             "|---|---:|---:|---:|---:|"]
    for name in SETS:
        cells = []
        for side in ("lite0", "lite0-center", "tuned", "tuned-center"):
            result = sides[side].get(name)
            cells.append(f"{result['summary']['top1']['mean']:.3f}" if result else "-")
        if any(c != "-" for c in cells):
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/figures/backbone-cv")
    frozen, tuned = load(folder, "lite0"), load(folder, "tuned")
    out = summary(frozen, tuned) + views_table(folder)
    for name in SETS:
        if name in frozen:
            out += ["", *per_class(name, frozen[name], tuned.get(name))]
    print("\n".join(out))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
