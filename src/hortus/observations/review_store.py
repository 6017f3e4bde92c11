"""The label aggregation's state in the database: loaded, updated vote by vote, saved.

Every change that moves the aggregation (a new observation, a determination vote, a quality vote,
a deletion) runs inside one write transaction that first locks the single ``review_runs`` row
(``SELECT ... FOR UPDATE``; on SQLite the transaction's ``BEGIN IMMEDIATE`` already serialises
writers). Holding it, the change is applied to the whole :class:`~hortus.review.state.ReviewState`
with :mod:`hortus.review.incremental` — whose result equals the full loop on every observation
— and the records the update rewrote are saved, in the same transaction as the vote itself.
Concurrent voters queue on the lock, so no vote is lost and no update is computed from a state
another one has moved.

Reading the whole state for every vote would cost a full scan; instead each process keeps the
state it last saved in memory, with the random ``token`` it wrote to the run row. A transaction
uses the kept state only when the row still holds that token (nobody — no other process, no
``hortus observations recompute`` — has written since); otherwise it reads the stored records
(the same state, by construction), or, when the records were computed under another policy (the
AI's vote setting changed) or are missing, recomputes everything with the full loop. The kept
state is taken out while a transaction works on it and put back under the new token when the
transaction saves; if the transaction then rolls back, the stored token is still the old one,
and the half-applied state is never used.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from hortus.config import Settings
from hortus.db import Database, utcnow
from hortus.observations.models import REVIEW_RUN_ID, Observation, ObservationLabel, ReviewRun
from hortus.observations.review_records import (
    Progress,
    chunks,
    review_observations,
    save_everything,
    save_observations,
    save_reviewers,
    stored_state,
    verdict_of,
)
from hortus.review import aggregation
from hortus.review.aggregation import AiMode, ReviewPolicy
from hortus.review.incremental import submit_observation
from hortus.review.loop import aggregate
from hortus.review.state import ReviewState


def review_policy(settings: Settings) -> ReviewPolicy:
    """The aggregation's policy under the settings (the AI's vote: HORTUS_REVIEW_AI_VOTE)."""
    modes: dict[str, AiMode] = {"fixed": "fixed", "invalidating": "invalidating",
                                "confident": "confident"}
    return ReviewPolicy(ai_mode=modes.get(settings.review_ai_vote))


def policy_key(policy: ReviewPolicy) -> str:
    """What of the policy the stored records depend on, as stored in ``review_runs.policy``."""
    return f"ai={policy.ai_mode or 'off'}"


# -- the state kept in memory between transactions ---------------------------------------------

_kept_lock = threading.Lock()
_kept: weakref.WeakKeyDictionary[Engine, tuple[str, ReviewState]] = weakref.WeakKeyDictionary()


def _take_kept(engine: Engine, token: str, policy: ReviewPolicy) -> ReviewState | None:
    with _kept_lock:
        kept = _kept.pop(engine, None)
    if kept is None or not token or kept[0] != token or kept[1].policy != policy:
        return None
    return kept[1]


def _keep(engine: Engine, token: str, state: ReviewState) -> None:
    with _kept_lock:
        _kept[engine] = (token, state)


def forget_kept(database: Database) -> None:
    """Drop this process's kept state (tests; after editing the tables by hand)."""
    with _kept_lock:
        _kept.pop(database.engine, None)


# -- one transaction's view --------------------------------------------------------------------

def lock_run(session: Session) -> ReviewRun:
    """The review run's row, locked for the rest of the transaction (created if missing)."""
    run = session.scalar(select(ReviewRun).where(ReviewRun.id == REVIEW_RUN_ID)
                         .with_for_update().execution_options(populate_existing=True))
    if run is None:
        run = ReviewRun(id=REVIEW_RUN_ID, policy="", changes_by_round=[0], token="")
        session.add(run)
        session.flush()
    return run


@dataclass
class ReviewTransaction:
    """The aggregation inside one write transaction that holds the review lock.

    :meth:`submit` applies a change; :meth:`save` writes what it moved, keeps the state in
    memory for the next transaction, and returns the ids of observations whose label,
    confidence, accuracy or validity moved.
    """

    session: Session
    run: ReviewRun
    state: ReviewState
    rebuilt: bool  # the state was recomputed from scratch: every record is to be saved
    touched_observations: set[Any] = field(default_factory=set)
    touched_reviewers: set[Any] = field(default_factory=set)
    submitted: bool = False  # a change was applied to the state (or began to be)
    token: str = ""

    @classmethod
    def begin(cls, session: Session, policy: ReviewPolicy) -> ReviewTransaction:
        """Lock the run and get the state: kept, stored, or recomputed."""
        run = lock_run(session)
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        same_policy = run.policy == policy_key(policy)
        state = _take_kept(engine, run.token, policy) if same_policy else None
        if state is not None:
            return cls(session, run, state, rebuilt=False)
        observations = list(review_observations(session))
        if same_policy and run.token:
            stored = stored_state(session, policy, run.changes_by_round, observations)
            if stored is not None:
                return cls(session, run, stored, rebuilt=False)
        return cls(session, run, aggregate(observations, policy), rebuilt=True)

    def observation(self, observation_id: int) -> aggregation.Observation | None:
        """The observation as the aggregation holds it now."""
        review = self.state.observations.get(observation_id)
        return review.observation if review is not None else None

    def submit(self, observation: aggregation.Observation) -> None:
        """Add or replace an observation (its votes, quality score, AI prediction)."""
        self.submitted = True
        update = submit_observation(self.state, observation)
        self.touched_observations |= update.observations
        self.touched_reviewers |= update.reviewers
        if update.full_recompute:
            self.rebuilt = True

    def vote(self, observation_id: int, user: int, species: str | None) -> None:
        """Set (or, with None, withdraw) one person's determination vote."""
        current = self.observation(observation_id)
        if current is None:
            raise KeyError(observation_id)
        self.submit(current.with_vote(user, species))

    def save(self, progress: Progress | None = None) -> set[int]:
        """Write the moved records and the run; the observations whose verdict moved."""
        session, state = self.session, self.state
        if not self.rebuilt and not self.submitted:
            self.token = self.run.token  # nothing moved: the stored state is still this one
            self._keep()
            return set()
        if self.rebuilt:
            before = {row.observation_id: verdict_of(row)
                      for row in session.scalars(select(ObservationLabel))}
            save_everything(session, state, progress)
            moved = {key for key, review in state.observations.items() if isinstance(key, int)
                     and before.get(key) != (None if review.label is None else str(review.label),
                                             review.conf, review.acc, review.valid)}
        else:
            moved = save_observations(session, state, self.touched_observations)
            save_reviewers(session, state, self.touched_reviewers)
        self.token = uuid.uuid4().hex
        self.run.policy = policy_key(state.policy)
        self.run.changes_by_round = list(state.changes_by_round)
        self.run.token = self.token
        self.run.updated_at = utcnow()
        self._keep()
        return moved

    def abandon(self) -> None:
        """The transaction fails: a state it never changed is kept under the stored token
        (which the rollback leaves as it is), so a refused vote costs the next one no reload."""
        if not self.rebuilt and not self.submitted and not self.token:
            self.token = self.run.token
            self._keep()

    def _keep(self) -> None:
        """Keep the state for this process's next transaction, under the token just written.

        Kept before the commit, so the next voter (who gets the lock at the commit) finds it;
        if the commit fails, the stored token stays the old one and the kept state is never
        used.
        """
        engine = self.session.get_bind()
        if self.token and isinstance(engine, Engine):
            _keep(engine, self.token, self.state)


@contextmanager
def reviewing(session: Session, policy: ReviewPolicy) -> Iterator[ReviewTransaction]:
    """:meth:`ReviewTransaction.begin` for the body of a ``with``; a body that fails before
    changing the state leaves the kept state in place (:meth:`ReviewTransaction.abandon`)."""
    review = ReviewTransaction.begin(session, policy)
    try:
        yield review
    except BaseException:
        review.abandon()
        raise


def touch_observations(session: Session, ids: Iterable[int]) -> None:
    """Mark observations as updated now (``dateUpdated``; what ``sync/latest`` lists by)."""
    now = utcnow()
    for batch in chunks(sorted(set(ids))):
        session.execute(update(Observation).where(Observation.id.in_(batch))
                        .values(updated_at=now))


@dataclass(frozen=True)
class RecomputeReport:
    """What a full recomputation found: observations, voters, valid observations, rounds, and
    how many observations' verdicts moved."""

    observations: int
    voters: int
    valid: int
    rounds: int
    moved: int


def recompute(*, database: Database, policy: ReviewPolicy,
              progress: Progress | None = None) -> RecomputeReport:
    """Recompute every label, weight and validity from the votes with the full loop, and store
    them (for operators: after changing the policy, restoring a backup, deleting accounts).
    Running servers notice on their next vote."""
    with database.write() as session:
        run = lock_run(session)
        if progress is not None:
            progress("reading", 0, 1)
        observations = list(review_observations(session))
        if progress is not None:
            progress("reading", 1, 1)
            progress("aggregating", 0, 1)
        state = aggregate(observations, policy)
        if progress is not None:
            progress("aggregating", 1, 1)
        transaction = ReviewTransaction(session, run, state, rebuilt=True)
        moved = transaction.save(progress)
        touch_observations(session, moved)
    return RecomputeReport(
        observations=len(state.observations), voters=len(state.reviewers),
        valid=sum(1 for r in state.observations.values() if r.valid), rounds=state.rounds,
        moved=len(moved))
