"""200 concurrent votes on one observation from 200 accounts, through a live server, on SQLite
and on PostgreSQL: every vote counted once, and the stored labels, weights and validity equal a
full recomputation of the published loop."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from observations_support import DAFFODIL, SNOWDROP, SUNFLOWER, keys, read, saved, vote
from sqlalchemy import func, select
from tests.conftest import LiveServer, make_key

from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.observations.models import ObservationLabel, ObservationVote, VoterStanding
from hortus.observations.review_store import forget_kept, recompute, review_policy

VOTERS = 200


def _stored(settings: Settings) -> tuple[dict, dict]:
    database = prepare_database(settings)
    try:
        with database.read() as session:
            labels = {r.observation_id: (r.label, r.confidence, r.accuracy, r.valid, r.history)
                      for r in session.scalars(select(ObservationLabel))}
            standings = {r.account_id: (r.expertise, r.weight, r.author_species,
                                        r.voter_species, r.history)
                         for r in session.scalars(select(VoterStanding))}
            return labels, standings
    finally:
        database.dispose()


def _vote_rows(settings: Settings, observation_id: int) -> int:
    database = prepare_database(settings)
    try:
        with database.read() as session:
            return session.scalar(select(func.count()).select_from(ObservationVote).where(
                ObservationVote.observation_id == observation_id,
                ObservationVote.kind == "determination")) or 0
    finally:
        database.dispose()


def _equals_full_recomputation(settings: Settings) -> None:
    before = _stored(settings)
    database = prepare_database(settings)
    try:
        forget_kept(database)
        report = recompute(database=database, policy=review_policy(settings))
    finally:
        database.dispose()
    assert report.moved == 0
    assert _stored(settings) == before


@pytest.mark.both_databases
@pytest.mark.slow
def test_two_hundred_concurrent_voters(obs_settings, flora):
    author = make_key(obs_settings, email="author@example.org")
    voters = keys(obs_settings, VOTERS, prefix="crowd")
    choice = {i: (DAFFODIL if i % 3 else SNOWDROP) for i in range(VOTERS)}
    with LiveServer(obs_settings) as server, httpx.Client(
            base_url=server.url, timeout=120,
            limits=httpx.Limits(max_connections=VOTERS)) as http:
        body = saved(http, author, flora.photo("daffodil"), organs=["flower"],
                     determination=SUNFLOWER)
        oid = body["id"]
        # A second observation shares voters, so weights move across observations too.
        other = saved(http, author, flora.photo("snowdrop"), organs=["flower"],
                      determination=SNOWDROP)["id"]
        for key in voters[:10]:
            assert vote(http, key, other, SNOWDROP).status_code == 200

        def cast(i: int) -> int:
            return vote(http, voters[i], oid, choice[i]).status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(cast, range(VOTERS)))
        assert statuses == [200] * VOTERS
        now = read(http, author, oid)
        counts = {v["name"]: v["count"] for v in now["votes"]}
        assert counts == {DAFFODIL: sum(1 for s in choice.values() if s == DAFFODIL),
                          SNOWDROP: sum(1 for s in choice.values() if s == SNOWDROP),
                          SUNFLOWER: 1}
        assert now["currentName"] == DAFFODIL and now["isRevised"] is True
        assert _vote_rows(obs_settings, int(oid)) == VOTERS + 1
        _equals_full_recomputation(obs_settings)

        # Everyone changes their mind at once: replaced, never added.
        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(lambda i: vote(http, voters[i], oid, SNOWDROP).status_code,
                                     range(VOTERS)))
        assert statuses == [200] * VOTERS
        now = read(http, author, oid)
        assert {v["name"]: v["count"] for v in now["votes"]} == {SNOWDROP: VOTERS, SUNFLOWER: 1}
        assert now["currentName"] == SNOWDROP and now["isValid"] is True
        assert _vote_rows(obs_settings, int(oid)) == VOTERS + 1
    _equals_full_recomputation(obs_settings)
