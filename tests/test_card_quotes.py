"""One source for every number (issue 18): the model card's accuracy tables quote the results
files committed beside the commands that wrote them, digit for digit.

* the grouped-CV tables are the output of ``tools/cv_tables.py`` over ``docs/figures/cv``;
* the end-to-end rows are ``docs/figures/breadth.json`` (``bench/bench_breadth.py``);
* the all-against-alone rows are ``docs/figures/union.json`` (``bench/bench_union.py``);
* the development-set CV figures of README and docs are ``docs/figures/cv/*.json``, and the
  fusion figures of ``docs/identify.md`` are ``docs/figures/fusion.json`` (1, 2, 5 photos);
* each packaged project's held-out row is its shipped ``metrics.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGED = REPO / "src" / "hortus" / "vision" / "packaged"
FIGURES = REPO / "docs" / "figures"
CARD = (PACKAGED / "MODEL_CARD.md").read_text(encoding="utf-8")


def _rows(table: dict, exclude: str | None = None) -> list[dict]:
    return [row for label, row in table.items() if label != exclude]


def _share(rows: list[dict], key: str) -> float:
    return sum(r.get(key, 0) for r in rows) / sum(r["n"] for r in rows)


def test_cv_tables_are_the_output_of_the_script() -> None:
    printed = subprocess.run([sys.executable, "tools/cv_tables.py", "docs/figures/cv"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert printed.strip() and printed.strip() in CARD


@pytest.mark.parametrize("route", ["weeds", "all"])
def test_identify_rows_quote_breadth_json(route: str) -> None:
    table = json.loads((FIGURES / "breadth.json").read_text())["identify"][route]
    weeds, negative = _rows(table, exclude="negative"), table["negative"]
    n = sum(r["n"] for r in weeds)
    label = "`/v2/identify/weeds`" if route == "weeds" else "`/v2/identify/all` (flowers + weeds)"
    row = (f"| {label} | {_share(weeds, 'right'):.3f} ({n}) | {_share(weeds, 'lost'):.3f} | "
           f"{negative.get('right', 0) / negative['n']:.3f} ({negative['n']}) |")
    assert row in CARD


def test_diagnosis_rows_quote_breadth_json() -> None:
    results = json.loads((FIGURES / "breadth.json").read_text())
    for name, table in results["diagnose"].items():
        rows = _rows(table)
        n = sum(r["n"] for r in rows)
        label = "plantvillage (34 classes)" if name == "plantvillage" else name
        row = f"| {label} | {n:,} | {_share(rows, 'crop'):.3f} | {_share(rows, 'right'):.3f} |"
        assert row in CARD, row
    no_crop = results["no_crop"]["deepweeds"]
    assert f"{no_crop['no_crop']}/{no_crop['n']} DeepWeeds photos" in CARD


def test_union_rows_quote_union_json() -> None:
    union = json.loads((FIGURES / "union.json").read_text())
    for project, label in (("flowers", "Oxford-17 flowers"), ("weeds", "DeepWeeds weeds")):
        alone, mixed = union[project][project]["summary"], union[project]["all"]["summary"]
        row = (f"| {label} ({alone['n']}) | {alone['right']:.3f} / {alone['lost']:.3f} | "
               f"{mixed['right']:.3f} / {mixed['lost']:.3f} | "
               f"{mixed['as_other_project']:.3f} |")
        assert row in CARD, row
    alone, mixed = union["weeds"]["weeds"]["summary"], union["weeds"]["all"]["summary"]
    assert (f"| DeepWeeds `negative` ({alone['negative_n']}), refused | "
            f"{alone['negative_refused']:.3f} | {mixed['negative_refused']:.3f} |") in CARD


def test_weeds_held_out_row_quotes_its_metrics() -> None:
    project = PACKAGED / "projects" / "weeds"
    version = project / (project / "ACTIVE").read_text().strip()
    metrics = json.loads((version / "metrics.json").read_text())
    row = (f"| weeds | {metrics['n']:,} | {metrics['top1']:.3f} (9 classes) | "
           f"{metrics['macro_top1']:.3f} | {metrics['openset_keep']:.3f} | "
           f"{metrics['reject_refused']:.3f} of `negative` |")
    assert row in CARD, row


def _cv_top1(name: str) -> str:
    top1 = json.loads((FIGURES / "cv" / f"{name}.json").read_text())["summary"]["top1"]
    return f"{top1['mean']:.3f} ± {top1['std']:.3f}"


def test_readme_and_docs_quote_the_cv_files() -> None:
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())  # unwrapped
    means = {name: _cv_top1(name).split(" ± ")[0] for name in ("oxford17", "ibean", "flowers5")}
    assert (f"Oxford-17 flowers {means['oxford17']} (floor 0.943), iBean leaves "
            f"{means['ibean']} (0.915), flowers5 {means['flowers5']} (0.746)") in readme
    diagnose = " ".join((REPO / "docs" / "diagnose.md").read_text(encoding="utf-8").split())
    assert f"**{_cv_top1('ibean')}**" in diagnose
    breadth = json.loads((FIGURES / "breadth.json").read_text())["diagnose"]["plantvillage"]
    rows = _rows(breadth)
    assert (f"PlantVillage crops recognised {_share(rows, 'crop'):.3f}, right "
            f"{_share(rows, 'right'):.3f}") in readme


def test_identify_docs_quote_the_fusion_figures() -> None:
    by_count = json.loads((FIGURES / "fusion.json").read_text())["by_photos_per_request"]
    text = (REPO / "docs" / "identify.md").read_text(encoding="utf-8")
    assert set(by_count) == {"1", "2", "5"}
    for n, v in by_count.items():
        row = (f"| {n} | {v['requests']} | {v['top1']:.3f} | {v['kept']:.3f} | "
               f"{v['unknown_requests']} | {v['unknown_rejected']:.3f} | "
               f"{v['mean_top_score']:.3f} | {v['ece']:.3f} |")
        assert row in text, row
    before = json.loads((FIGURES / "fusion-before-88681f0.json").read_text())
    before_kept = {n: v["kept"] for n, v in before["by_photos_per_request"].items()}
    flat = " ".join(text.split())
    assert (f"two-photo requests kept {before_kept['2']:.3f} of the answerable ones and "
            f"five-photo requests {before_kept['5']:.3f}") in flat


def _held_out_rows() -> dict[str, list[str]]:
    """The card's held-out table, by project: its cells."""
    start = CARD.index("| project | held-out photos | top-1 | macro top-1 |")
    rows = {}
    for line in CARD[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells
    return rows


@pytest.mark.parametrize("project", sorted(_held_out_rows()))
def test_every_held_out_row_quotes_its_metrics(project: str) -> None:
    root = PACKAGED / "projects" / project
    metrics = json.loads((root / (root / "ACTIVE").read_text().strip() / "metrics.json")
                         .read_text())
    cells = _held_out_rows()[project]
    assert cells[1] == f"{metrics['n']:,}"
    assert cells[2].split(" ")[0] == f"{metrics['top1']:.3f}"
    assert cells[3] == f"{metrics['macro_top1']:.3f}"
    assert cells[4] == f"{metrics['openset_keep']:.3f}"
    if "reject_refused" in metrics:
        assert cells[5].startswith(f"{metrics['reject_refused']:.3f} of `")
    else:
        assert cells[5] == ""
    per_class = {name: v["top1"] for name, v in metrics["per_class"].items()}
    weakest = min(per_class, key=lambda name: per_class[name])
    if per_class[weakest] < 1.0:
        assert cells[6] == f"{weakest.replace('_', ' ')} {per_class[weakest]:.3f}"
    else:
        assert cells[6] == ""


def test_open_set_paragraph_quotes_openset_json() -> None:
    figures = json.loads((FIGURES / "openset.json").read_text())
    flowers, bean = figures["flowers"], figures["bean"]
    for project in (flowers, bean):  # measured on the versions shipped now
        name = "flowers" if project is flowers else "bean"
        assert project["version"] == (PACKAGED / "projects" / name / "ACTIVE").read_text().strip()
    text = " ".join(CARD.split())
    assert (f"all {flowers['skimage']['photos']} scikit-image sample pictures") in text
    assert (f"{flowers['skimage']['rejected']:.1%} by `flowers` (highest score "
            f"{flowers['skimage']['highest_score']:.2f} against its threshold "
            f"{flowers['skimage']['threshold']:.2f}), {bean['skimage']['rejected']:.1%} by `bean` "
            f"({bean['skimage']['highest_score']:.2f} against {bean['skimage']['threshold']:.2f})"
            ) in text
    assert (f"`bean` rejects {bean['oxford17_and_flowers5']['rejected']:.1%} of the "
            f"{bean['oxford17_and_flowers5']['photos']:,} Oxford-17 and flowers5 photos, "
            f"`flowers` {flowers['ibean_leaves']['rejected']:.1%} of the "
            f"{flowers['ibean_leaves']['photos']:,} iBean leaves") in text


def test_identify_speed_table_quotes_identify_json() -> None:
    figures = json.loads((FIGURES / "identify.json").read_text())
    single, five, throughput = (figures["single_12mp"], figures["five_vs_one"],
                                figures["throughput"])
    text = (REPO / "docs" / "identify.md").read_text(encoding="utf-8")
    assert (f"| ≤ 1.25 | {single['ratio']:.3f} ({single['http_ms']:.1f} ms against "
            f"{single['engine_ms']:.1f} ms) |") in text
    assert (f"| ≤ 2 | {five['ratio']:.3f} ({five['five_ms']:.1f} ms against "
            f"{five['one_ms']:.1f} ms) |") in text
    assert (f"| ≥ 0.85 | {throughput['ratio']:.3f} (rounds {min(throughput['round_ratios']):.3f}"
            f"–{max(throughput['round_ratios']):.3f}) |") in text
    fusion = json.loads((FIGURES / "fusion.json").read_text())["by_photos_per_request"]
    before = json.loads((FIGURES / "fusion-before-88681f0.json").read_text())
    flat = " ".join(text.split())
    assert (f"kept only {before['by_photos_per_request']['5']['kept']:.3f} of the answerable "
            f"five-photo requests ({fusion['5']['kept']:.3f} now;") in flat


def test_identify_docs_quote_the_weeds_breadth_figures() -> None:
    table = json.loads((FIGURES / "breadth.json").read_text())["identify"]["weeds"]
    weeds, negative = _rows(table, exclude="negative"), table["negative"]
    flat = " ".join((REPO / "docs" / "identify.md").read_text(encoding="utf-8").split())
    assert (f"loses {100 * _share(weeds, 'lost'):.1f} % of weed photos and refuses "
            f"{100 * negative.get('right', 0) / negative['n']:.1f} % of empty scenes") in flat
