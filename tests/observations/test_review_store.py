"""The aggregation's state in the database: the state a process keeps between votes is used only
while it is the stored one — not after another process voted, not after a rolled-back vote, not
under another policy — and the stored records always equal a full recomputation."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from hortus.accounts import service as accounts
from hortus.config import Settings
from hortus.db import Database, utcnow
from hortus.errors import NotFound
from hortus.observations import service, votes
from hortus.observations.models import Observation, ObservationLabel, VoterStanding
from hortus.observations.review_records import aggregation_observation
from hortus.observations.review_store import recompute, review_policy, reviewing

SPECIES = ["Bellis perennis", "Taraxacum officinale", "Crocus"]


def _accounts(database: Database, count: int) -> list[int]:
    with database.write() as session:
        return [accounts.get_or_create_account(session=session, email=f"store{i}@example.org").id
                for i in range(count)]


def _observation(database: Database, settings: Settings, author: int, species: str,
                 ai: str | None = None) -> int:
    """An observation without photos (the store needs none), its author's determination, and
    the AI's suggestion."""
    suggestions = [{"species": ai, "score": 0.9}] if ai else []
    with database.write() as session, reviewing(session, review_policy(settings)) as review:
        now = utcnow()
        row = Observation(author_id=author, observed_at=now, license="cc-by-sa", project="all",
                          model_version="test", ai_suggestions=suggestions, ai_rejected=False,
                          created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        votes.store_vote(session, observation_id=row.id, account_id=author,
                                 kind="determination", image="", value=species, score=1.0)
        review.submit(aggregation_observation(
            observation_id=row.id, author_id=author, quality_score=None,
            suggestions=suggestions, rejected=False, deleted=False, votes={author: species}))
        review.save()
        return row.id


def _vote(database: Database, settings: Settings, account: int, observation: int,
          species: str) -> None:
    service.cast_vote(database=database, settings=settings, account_id=account,
                      observation_id=observation,
                      ballot=service.Ballot(kind="determination", species=species, score=1.0))


def _stored(database: Database) -> tuple[dict, dict]:
    with database.read() as session:
        return ({r.observation_id: (r.label, r.confidence, r.accuracy, r.valid, r.history)
                 for r in session.scalars(select(ObservationLabel))},
                {r.account_id: (r.expertise, r.weight, r.history)
                 for r in session.scalars(select(VoterStanding))})


def _check_exact(database: Database, settings: Settings) -> None:
    before = _stored(database)
    report = recompute(database=database, policy=review_policy(settings))
    assert report.moved == 0
    assert _stored(database) == before


@pytest.mark.both_databases
def test_kept_state_is_used_only_while_it_is_the_stored_one(settings: Settings,
                                                            database: Database) -> None:
    people = _accounts(database, 12)
    rnd = random.Random(4)
    observations = [_observation(database, settings, people[i % 4], SPECIES[i % 3])
                    for i in range(8)]
    other_process = Database(settings.sqlalchemy_url)  # another server on the same database
    try:
        for step in range(60):
            voter = rnd.choice(people)
            target = rnd.choice(observations)
            species = rnd.choice(SPECIES)
            _vote(other_process if step % 5 == 0 else database, settings, voter, target, species)
            if step % 7 == 0:  # a vote that fails after changing the kept state: rolled back
                with pytest.raises(RuntimeError), database.write() as session, \
                        reviewing(session, review_policy(settings)) as review:
                    review.vote(target, voter, "Rolled back")
                    review.save()
                    raise RuntimeError("the transaction fails after the update")
            if step % 11 == 0:  # refused before any change: the kept state stays usable
                with pytest.raises(NotFound):
                    _vote(database, settings, voter, 10**9, species)
        _check_exact(database, settings)
        # And after the recomputation (a new token), both processes go on from it.
        _vote(database, settings, people[0], observations[0], SPECIES[1])
        _vote(other_process, settings, people[1], observations[0], SPECIES[1])
        _check_exact(database, settings)
    finally:
        other_process.dispose()


def test_a_new_policy_recomputes_everything_at_the_next_vote(settings: Settings,
                                                             database: Database) -> None:
    author, voter = _accounts(database, 2)
    first = _observation(database, settings, author, SPECIES[0], ai=SPECIES[0])
    second = _observation(database, settings, voter, SPECIES[1], ai=SPECIES[1])
    labels, _ = _stored(database)
    assert labels[first][3] is False  # 0.742 alone
    with_ai = settings.model_copy(update={"review_ai_vote": "fixed"})
    _vote(database, with_ai, voter, first, SPECIES[0])  # 2 x 0.742 + 1.7
    labels, _ = _stored(database)
    assert labels[first][3] is True and labels[second][3] is True  # 0.742 + 1.7 >= 2
    _check_exact(database, with_ai)
