"""Stored analyses are kept for a while, not for ever: by age and by the pictures' total size.

Analyses are made through the real service at chosen times (its clock), on SQLite and on
PostgreSQL (where pictures are rows of the database); then the purge, the server's sweep at
start and ``hortus analyses purge`` delete what the retention settings no longer keep: the rows,
and each picture no remaining analysis names. A purged analysis is the API's ordinary 404.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from stored_analyses import Analyses, analyses, photo
from tests.conftest import make_key

from hortus.app import create_app
from hortus.config import Settings
from hortus.db import utcnow
from hortus.diagnose.retention import PurgeReport, RetentionPolicy, purge_analyses
from hortus.media import photo_key

NOW = utcnow()


def _days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def grower(any_settings: Settings) -> Iterator[Analyses]:
    with analyses(any_settings) as made:
        yield made


def _purge(grower: Analyses, policy: RetentionPolicy, *, dry_run: bool = False) -> PurgeReport:
    return purge_analyses(database=grower.database, media=grower.media,
                          media_dir=grower.settings.media_dir, policy=policy, now=NOW,
                          dry_run=dry_run)


def _settings(settings: Settings, **overrides: object) -> Settings:
    values = {"data_dir": settings.data_dir, "database_url": settings.database_url,
              "environment": "test", "models_dir": settings.models_dir, "warm_up_engine": False,
              **overrides}
    return Settings(**values)


def test_old_analyses_go_and_a_picture_stays_while_an_analysis_names_it(
        grower: Analyses) -> None:
    alone, shared, recent = photo(1), photo(2), photo(3)
    old_alone = grower.analyse(alone, at=_days_ago(400)).answer.pic_id
    old_shared = grower.analyse(shared, at=_days_ago(400)).answer.pic_id
    young_shared = grower.analyse(shared, at=_days_ago(10)).answer.pic_id  # the same photo
    young = grower.analyse(recent, at=_days_ago(1)).answer.pic_id
    everything = {str(i) for i in (old_alone, old_shared, young_shared, young)}
    keys = {photo_key(p) for p in (alone, shared, recent)}
    assert grower.stored_ids() == everything and grower.media_keys() == keys
    policy = RetentionPolicy(max_age_days=365)

    planned = _purge(grower, policy, dry_run=True)
    assert (planned.analyses, planned.pictures, planned.bytes_freed) == (2, 1, len(alone))
    assert grower.stored_ids() == everything and grower.media_keys() == keys  # nothing yet

    done = _purge(grower, policy)
    assert (done.analyses, done.pictures, done.bytes_freed) == (2, 1, len(alone))
    assert (done.kept_analyses, done.kept_bytes) == (2, len(shared) + len(recent))
    assert done.oldest_kept == _days_ago(10)
    assert grower.stored_ids() == {str(young_shared), str(young)}
    assert grower.media_keys() == {photo_key(shared), photo_key(recent)}
    assert _purge(grower, policy).analyses == 0  # nothing left to do


def test_past_the_size_limit_the_oldest_analyses_go_first(grower: Analyses) -> None:
    pictures = [photo(10 + n) for n in range(4)]
    ids = [str(grower.analyse(p, at=_days_ago(4 - n)).answer.pic_id)
           for n, p in enumerate(pictures)]
    newest_two = len(pictures[2]) + len(pictures[3])

    done = _purge(grower, RetentionPolicy(max_total_bytes=newest_two + len(pictures[1]) - 1))
    assert (done.analyses, done.pictures) == (2, 2)
    assert done.bytes_freed == len(pictures[0]) + len(pictures[1])
    assert grower.stored_ids() == set(ids[2:])
    assert grower.media_keys() == {photo_key(p) for p in pictures[2:]}
    assert done.kept_bytes == newest_two <= grower.settings.analysis_max_total_bytes

    # A limit no picture fits under keeps nothing.
    assert _purge(grower, RetentionPolicy(max_total_bytes=1)).analyses == 2
    assert grower.stored_ids() == set() and grower.media_keys() == set()


def test_without_limits_nothing_is_deleted(grower: Analyses) -> None:
    grower.analyse(photo(20), at=_days_ago(5000))
    done = _purge(grower, RetentionPolicy(max_age_days=0, max_total_bytes=0))
    assert done.analyses == 0 and done.kept_analyses == 1 and len(grower.stored_ids()) == 1


def test_the_server_sweeps_at_start_and_a_purged_analysis_is_a_404(
        grower: Analyses, any_settings: Settings) -> None:
    old = str(grower.analyse(photo(30), at=_days_ago(60)).answer.pic_id)
    fresh = str(grower.analyse(photo(31)).answer.pic_id)
    key = make_key(any_settings, email="grower@example.org")
    headers = {"Api-Key": key.api_key}
    served = create_app(_settings(any_settings, analysis_max_age_days=30))
    with TestClient(served) as client:
        deadline = time.monotonic() + 30
        while client.get(f"/v1/image_analysis/{old}", headers=headers).status_code != 404:
            assert time.monotonic() < deadline, "the old analysis was never purged"
            time.sleep(0.05)
        gone = client.get(f"/v1/image_analysis/{old}", headers=headers)
        assert gone.json() == {"message": f"There is no analysis {old} for this key.",
                               "code": 404}
        assert client.get(f"/v1/image_analysis/{old}/picture", headers=headers).status_code \
            == 404
        assert client.get(f"/v1/image_analysis/{fresh}", headers=headers).status_code == 200
        picture = client.get(f"/v1/image_analysis/{fresh}/picture", headers=headers)
        assert picture.status_code == 200 and picture.content == photo(31)
        assert served.state.retention.sweeps >= 1
    assert grower.stored_ids() == {fresh}
    assert grower.media_keys() == {photo_key(photo(31))}


def _hortus(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORTUS_")}
    env.update(HORTUS_DATA_DIR=str(settings.data_dir), HORTUS_ENVIRONMENT="test")
    if settings.database_url:
        env["HORTUS_DATABASE_URL"] = settings.database_url
    return subprocess.run([sys.executable, "-m", "hortus.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, cwd=Path.cwd())


def test_hortus_analyses_purge_with_a_dry_run_first(grower: Analyses,
                                                    any_settings: Settings) -> None:
    old = grower.analyse(photo(40), at=_days_ago(45))
    fresh = str(grower.analyse(photo(41)).answer.pic_id)

    planned = _hortus(any_settings, "analyses", "purge", "--dry-run", "--json",
                      "--max-age-days", "30")
    assert planned.returncode == 0, planned.stderr
    report = json.loads(planned.stdout)
    assert report["dry_run"] is True
    assert (report["analyses"], report["pictures"]) == (1, 1)
    assert report["bytes_freed"] == len(photo(40)) and report["kept_analyses"] == 1
    assert len(grower.stored_ids()) == 2

    done = _hortus(any_settings, "analyses", "purge", "--max-age-days", "30")
    assert done.returncode == 0, done.stderr
    assert "deleted 1 analyses and 1 pictures" in done.stdout
    assert grower.stored_ids() == {fresh}
    assert photo_key(photo(40)) not in grower.media_keys()
    assert str(old.answer.pic_id) not in grower.stored_ids()
