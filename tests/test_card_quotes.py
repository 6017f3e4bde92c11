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


def test_media_speed_table_quotes_media_serving_json() -> None:
    figures = json.loads((FIGURES / "media-serving.json").read_text())
    run = figures.pop("run")
    printed = (FIGURES / "media-serving.txt").read_text(encoding="utf-8")
    text = (REPO / "docs" / "media.md").read_text(encoding="utf-8")
    flat = " ".join(text.split())
    assert (f"{run['clients']} clients, {run['rounds']} rounds of {run['seconds']:g} s per "
            f"target") in flat
    assert f"(1-minute load average {run['load_average']:.1f} at the end)" in flat
    labels = {"FileResponse (baseline)": "`FileResponse` (baseline)",
              "StaticFiles": "`StaticFiles`",
              "Hortus, local folder": "Hortus, local folder",
              "Hortus, database: SQLite": "Hortus, database on SQLite",
              "Hortus, database: PostgreSQL": "Hortus, database on PostgreSQL",
              "Hortus, s3: moto (emulator)": "Hortus, S3 on moto (an emulator: measures moto)"}
    assert set(figures) == set(labels)
    for name, v in figures.items():
        rate, ratio = v["requests_per_second"], v["ratio"]
        assert f"| {labels[name]} | {rate:.0f} | {ratio:.2f} |" in text, name
        # the committed printout is the same run as the JSON
        assert f"{name:<32} {rate:8.0f} {rate * run['photo_bytes'] / 1e6:7.1f} {ratio:15.2f}x" \
            in printed, name


def _image_limits_runs() -> dict[str, dict[str, dict[str, str]]]:
    """``docs/figures/image-limits.txt`` (bench/bench_image_limits.py's printout), by run
    ("before", "after") and attack ("idle", "huge PNG", "largest PNG"): its figures."""
    import re

    unit = r"[0-9.]+ (?:ms|s|MB)"
    patterns = [
        rf"/v2/_status (?:meanwhile: )?(?P<requests>\d+) requests, p50 (?P<p50>{unit}), "
        rf"p99 (?P<p99>{unit}), max (?P<max>{unit})",
        r"answers (?P<answers>\{[^}]*\}) in (?P<time>[0-9.]+ s); attacker's quota used: "
        r"(?P<quota>\d+)",
        rf"server CPU (?P<cpu>{unit}) \((?P<cpu_each>{unit}) a request\); peak RSS "
        rf"(?P<peak>{unit}), after (?P<rss_after>{unit})",
        rf"other key's identification: (?P<done>\d+) done, median (?P<median>{unit}), "
        rf"max (?P<slowest>{unit})",
    ]
    runs: dict[str, dict[str, dict[str, str]]] = {}
    current: dict[str, dict[str, str]] = {}
    attack = "idle"
    for line in (FIGURES / "image-limits.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("== "):
            current, attack = runs.setdefault(line.split()[1], {}), "idle"
        elif line.startswith(("huge PNG", "largest PNG")):
            attack = line.split(":")[0]
        for pattern in patterns:
            if found := re.search(pattern, line):
                current.setdefault(attack, {}).update(found.groupdict())
    return runs


def test_image_limits_table_quotes_image_limits_txt() -> None:
    runs = _image_limits_runs()
    before, after = runs["before"], runs["after"]
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    huge_b, huge_a = before["huge PNG"], after["huge PNG"]
    assert huge_b["answers"] == "{404: 16}" and huge_a["answers"] == "{400: 16}"
    assert huge_b["quota"] == huge_a["quota"] == "0"
    assert (f"| five 7071x7071 PNGs (the probe's) | all 16 decoded and answered 404 in "
            f"{huge_b['time']}; {huge_b['cpu']} of server CPU ({huge_b['cpu_each']} a request), "
            f"peak RSS {huge_b['peak']} ({huge_b['rss_after']} after); quota used 0 | "
            f"all 16 refused (400) in {huge_a['time']}; {huge_a['cpu']} of CPU in all; "
            f"peak RSS {huge_a['peak']} |") in text
    big_b, big_a = before["largest PNG"], after["largest PNG"]
    assert big_b["answers"] == "{404: 16}" and big_a["answers"] == "{404: 6, 429: 10}"
    assert (f"all 16 served (404) in {big_b['time']}; {big_b['cpu']} of CPU; the other key "
            f"got {big_b['done']} identifications done, median {big_b['median']}, max "
            f"{big_b['slowest']} | 6 served, 10 refused (429) in {big_a['time']}; "
            f"{big_a['cpu']} of CPU; the other key got {big_a['done']} done, median "
            f"{big_a['median']}, max {big_a['slowest']} |") in text
    flat = " ".join(text.split())
    assert (f"p99 {huge_b['p99']} before and {huge_a['p99']} after during the 7071x7071 attack "
            f"(after: {huge_a['requests']} probes only, the attack lasted {huge_a['time']}), "
            f"{big_b['p99']} before and {big_a['p99']} after during the 4000x4000 one, against "
            f"{before['idle']['p99']} and {after['idle']['p99']} idle") in flat


def test_diagnose_speed_paragraph_quotes_its_json() -> None:
    figures = json.loads((FIGURES / "diagnose-speed.json").read_text())
    flat = " ".join((REPO / "docs" / "diagnose.md").read_text(encoding="utf-8").split())
    assert (f"{figures['repeats']} analyses of {figures['photos']} iBean photos") in flat
    assert f"1-minute load average {figures['load_average']} at the end" in flat
    assert (f"median {figures['http_ms_median']} ms over HTTP against "
            f"{figures['engine_ms_median']} ms for the engine alone, "
            f"**{figures['http_over_engine']}** (target ≤ {figures['target']})") in flat
    assert (f"the fastest tenths {figures['http_ms_p10']} ms against {figures['engine_ms_p10']} "
            f"ms, {figures['http_over_engine_p10']}") in flat
    assert figures["http_over_engine"] == round(
        figures["http_ms_median"] / figures["engine_ms_median"], 3)


def _attack_cells(run: dict) -> dict[str, str]:
    """The attacks table's cells for one run of bench/bench_attacks.py."""
    def others(r: dict) -> str:
        a = r["attacked"]
        return (f"others p99 {a['p99_ms']} ms, max {a['max_ms']} ms ({a['requests']} "
                f"probes, {a['failures']} failed)")

    header, form = run["header"], run["form"]
    guessing, slow = run["guessing"], run["slowloris"]
    return {
        "header": (f"`{header['outcome']['answer']}` after {header['outcome']['seconds']} s; "
                   f"{others(header)}; peak RSS +"
                   f"{header['peak_rss_mb_after'] - header['peak_rss_mb_before']} MB"),
        "form": (f"`{form['outcome']['answer']}` after {form['outcome']['seconds']} s; "
                 f"{form['outcome']['spooled_mb']} MB spooled to the temp dir; {others(form)}"),
        "guessing": (f"{guessing['outcome']['checked_per_s']} passwords checked/s, "
                     f"{guessing['outcome']['refused_per_s']} refused/s; {others(guessing)}"),
        "slowloris": (f"{slow['outcome']['still_open']} of {slow['outcome']['connections']} "
                      f"still open after {slow['outcome']['seconds']:g} s; {others(slow)}"),
    }


def test_attacks_table_quotes_attacks_json() -> None:
    figures = json.loads((FIGURES / "attacks.json").read_text())
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert figures["run"]["baseline"] == "/tmp/old-attacks/src"  # a worktree of 909268d
    flat = " ".join(text.split())
    assert "`--baseline` against commit 909268d" in flat
    assert f"load average {figures['run']['load_average_after']} at the end" in flat
    before, after = _attack_cells(figures["baseline"]), _attack_cells(figures["this tree"])
    labels = {"header": f"one {figures['run']['header_mb']} MB header",
              "form": f"{figures['run']['form_mb']} MB chunked form to `/login`",
              "guessing": "8 connections guessing passwords for 5 s",
              "slowloris": "200 slow-header connections"}
    for attack, label in labels.items():
        row = f"| {label} | {before[attack]} | {after[attack]} |"
        assert row in text, row
