"""The backbone comparison quoted in docs/backbone-tuning.md is the output of
tools/backbone_table.py over the committed results (docs/figures/backbone-cv), digit for digit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "backbone-tuning.md").read_text(encoding="utf-8")


def _printed() -> str:
    return subprocess.run([sys.executable, "tools/backbone_table.py", "docs/figures/backbone-cv"],
                          cwd=REPO, capture_output=True, text=True, check=True).stdout


def test_frozen_and_tuned_rows_quote_the_results() -> None:
    printed = _printed()
    rows = re.findall(r"^\| (\w+) \| ([\d,]+) \| ([\d.]+ ± [\d.]+) \| ([\d.]+ ± [\d.]+) \| "
                      r"([+-][\d.]+) \|", printed, flags=re.M)
    assert len(rows) == 9  # every set, both backbones
    for name, photos, frozen, tuned, gain in rows:
        quoted = re.search(rf"^\| {name} \| {photos} \| {re.escape(frozen)} \| "
                           rf"{re.escape(tuned)} \| {re.escape(gain)} \|", DOC, flags=re.M)
        assert quoted, f"{name}: the doc does not quote {frozen} -> {tuned}"


def test_views_table_is_the_output_of_the_script() -> None:
    printed = _printed()
    start = printed.index("| set | Lite0, 4 views |")
    table = printed[start:].split("\n\n")[0].strip()
    assert table.count("\n") == 10 and table in DOC
