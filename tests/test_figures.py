"""Models rebuild exactly (issue 18): the model card records the checksum of every shipped
artifact, and the credits its rebuild commands need come from a committed script that
reproduces, photo by photo, the credits the shipped reference indexes hold."""

from __future__ import annotations

import csv
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hortus.vision.dataset import content_sha256, scan_photo_folder

REPO = Path(__file__).resolve().parents[1]
PACKAGED = REPO / "src" / "hortus" / "vision" / "packaged"
PROJECTS = PACKAGED / "projects"
SUMS = re.compile(r"sha256sum -c <<'SUMS'\n(.*?)\nSUMS\n", re.S)


def _card_checksums() -> dict[str, str]:
    found = SUMS.search((PACKAGED / "MODEL_CARD.md").read_text(encoding="utf-8"))
    assert found, "MODEL_CARD.md has no sha256sum block"
    return {path: digest for digest, path in
            (line.split("  ", 1) for line in found.group(1).splitlines())}


def test_card_records_the_checksum_of_every_shipped_artifact():
    shipped = {
        f"{project.name}/{version.name}/{path.name}":
            hashlib.sha256(path.read_bytes()).hexdigest()
        for project in PROJECTS.iterdir() if project.is_dir()
        for version in project.iterdir() if version.is_dir()
        for path in version.iterdir()
    }
    assert _card_checksums() == shipped
    for project in PROJECTS.iterdir():  # only the active versions ship
        if project.is_dir():
            active = (project / "ACTIVE").read_text().strip()
            assert [v.name for v in project.iterdir() if v.is_dir()] == [active]


@pytest.mark.parametrize(("project", "dataset"), [("flowers", "oxford17"), ("bean", "ibean")])
def test_credits_script_reproduces_the_shipped_credits(project, dataset, shared_data, tmp_path):
    """Every reference photo of the shipped index gets, from the written credits file, the very
    licence, citation and organ stored for it (so the rebuilt index.npz can match)."""
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "packaged_credits.py"), str(shared_data),
         "--out", str(tmp_path), "--project", project],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    credits_csv = tmp_path / f"{project}-credits.csv"
    with credits_csv.open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(list((shared_data / dataset).glob("*/*")))
    folder = scan_photo_folder(shared_data / dataset, photos_csv=credits_csv,
                               classes_csv=PACKAGED / "classes" / f"{project}.csv")
    by_sha = {content_sha256(p.read_bytes()): p.credit for p in folder.photos}
    version = (PROJECTS / project / "ACTIVE").read_text().strip()
    with np.load(PROJECTS / project / version / "index.npz", allow_pickle=False) as index:
        for field in ("licence", "citation", "organ", "author", "date"):
            written = [getattr(by_sha[str(sha)], field) or "" for sha in index["sha256"]]
            assert written == index[f"meta_{field}"].tolist(), field


def test_credits_script_refuses_photos_that_differ_from_the_manifest(shared_data, tmp_path):
    data = tmp_path / "data"
    (data / "ibean" / "healthy").mkdir(parents=True)
    with (shared_data / "MANIFEST.csv").open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["dataset"] == "ibean"][:2]
    with (data / "MANIFEST.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        (data / row["file"]).parent.mkdir(parents=True, exist_ok=True)
        (data / row["file"]).write_bytes((shared_data / row["file"]).read_bytes())
    script = [sys.executable, str(REPO / "tools" / "packaged_credits.py"), str(data),
              "--out", str(tmp_path / "out"), "--project", "bean"]
    assert subprocess.run(script, capture_output=True, check=False).returncode == 0
    (data / rows[0]["file"]).write_bytes(b"not the photo")
    refused = subprocess.run(script, capture_output=True, text=True, check=False)
    assert refused.returncode == 1 and "differs from MANIFEST.csv" in refused.stderr
