"""Incremental aggregation: one new, replaced or withdrawn vote at a time, equal to the full loop.

The loop's rounds form a chain of pure functions over a bipartite graph:

- observation i after round t, (y_t, valid_t) and conf/acc, depends only on i's votes and flags
  and on the weights w_t of i's voters;
- user u's n_t (t >= 1) depends only on u's votes and on (y, valid) after round t - 1 of the
  observations u voted on.

``ReviewState`` keeps each record's value after every round (its ``history``). A change to one
observation replays the rounds in order, recomputing at round t only the records whose inputs
differ from the stored trajectory at round t — these are "affected":

- round 0: the changed observation;
- round t >= 1: users whose votes changed, plus the voters of every observation whose
  (label, valid) after round t - 1 differs from the stored one; then the changed observation,
  plus every observation voted on by a user whose weight w_t differs from the stored one.

Every other record's inputs at round t are the same as before, so its value is too (by
induction over the rounds): after the replay the histories are exactly those the full loop would
produce from scratch on the new votes. The stopping rule needs only sum |n_t - n_(t-1)| per
round; ``changes_by_round`` is corrected by the recomputed users' terms, so the replay stops at
the same round T as the full loop. Finally the records whose value after round T may differ from
their stored final one get label, conf, acc, valid, weight and species sets refreshed: the
rewritten ones, records whose history changes at or after the earlier of the old and the new
last round, and the neighbours of both (an observation's voters, a user's observations). The
result equals ``aggregate`` on all observations, bit for bit: both call the same formulas, and
sums are order-independent (``math.fsum``).

When the new run must go beyond the stored last round, the rounds after it are taken as repeats
of it, which is exact when the stored run ended at a fixed point (the last round changed no n_u).
It is not when the stored run stopped on the tolerance with some n_u still moving (possible only
from N_obs > 1 / tolerance observations) — only then does the update fall back to the full loop
(``ReviewUpdate.full_recompute``). A stored run that hit ``max_rounds`` never needs more rounds.

Changes to the policy (weights, blocked authors, the AI's mode) call for ``aggregate`` again.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from hortus.review.aggregation import (
    Observation,
    ObservationId,
    SpeciesId,
    UserId,
    Verdict,
    VoteOutcome,
    expertise,
    expertise_species,
    has_converged,
    judge,
)
from hortus.review.loop import aggregate
from hortus.review.state import (
    LastChangeIndex,
    ObservationReview,
    ReviewerStanding,
    ReviewState,
    VerdictAtRound,
    drop_repeats,
    set_round,
    value_at,
)

_NEW = object()  # the stored value of a record that did not exist before the update


@dataclass(frozen=True)
class ReviewUpdate:
    """What one update rewrote: the records a database layer must save (at least every one that
    changed; a listed reviewer absent from the state has no votes left), the loop's round count,
    and whether the full loop ran instead of a replay."""

    observations: frozenset[ObservationId]
    reviewers: frozenset[UserId]
    rounds: int
    full_recompute: bool


def record_vote(
    state: ReviewState,
    *,
    observation_id: ObservationId,
    user: UserId,
    species: SpeciesId | None,
) -> ReviewUpdate:
    """Record ``user``'s vote on an existing observation, replacing their earlier vote on it, or
    withdraw it (``species`` None). The author's vote is their determination."""
    record = state.observations[observation_id]
    return submit_observation(state, record.observation.with_vote(user, species))


def submit_observation(state: ReviewState, observation: Observation) -> ReviewUpdate:
    """Add a new observation, or replace one (votes, quality score, flags, AI prediction), and
    bring ``state`` to what ``aggregate`` would return on all observations."""
    return _Replay(state, observation).run()


class _FullLoopNeeded(Exception):
    pass


class _Replay:
    """One update: the changed observation replayed through the stored rounds."""

    def __init__(self, state: ReviewState, observation: Observation) -> None:
        self.state = state
        self.observation = observation
        self.old_rounds = state.rounds
        self.old_changes = list(state.changes_by_round)
        self.old_at_fixed_point = state.at_fixed_point
        # Histories before the update, saved when first rewritten (None: the record is new).
        self.saved_verdicts: dict[ObservationId, list[VerdictAtRound] | None] = {}
        self.saved_counts: dict[UserId, list[int] | None] = {}

    def run(self) -> ReviewUpdate:
        voters_changed = self._apply_votes()
        try:
            last_round, changes = self._replay_rounds(voters_changed)
        except _FullLoopNeeded:
            return self._full_loop(voters_changed)
        return self._finish(last_round, changes, voters_changed)

    # -- the structural change ---------------------------------------------------------------

    def _apply_votes(self) -> set[UserId]:
        state, new = self.state, self.observation
        key = new.observation_id
        record = state.observations.get(key)
        old_votes = record.observation.votes if record else {}
        voters_changed = {
            user for user in {*old_votes, *new.votes} if old_votes.get(user) != new.votes.get(user)
        }
        if record and record.observation.author != new.author:
            voters_changed |= {record.observation.author, new.author}
        if record is None:
            self.saved_verdicts[key] = None
            state.observations[key] = ObservationReview(
                observation=new, label=None, conf=0.0, acc=0.0, valid=False, history=[]
            )
        else:
            record.observation = new
        for user in voters_changed:
            standing = state.reviewers.get(user)
            if standing is None:
                self.saved_counts[user] = None
                weight = state.policy.weight(user, 0)
                standing = ReviewerStanding({}, frozenset(), frozenset(), 0, weight, [0])
                state.reviewers[user] = standing
            if user in new.votes:
                standing.votes[key] = new.votes[user]
            else:
                standing.votes.pop(key, None)
        return voters_changed

    # -- values before and after -------------------------------------------------------------

    def _count(self, user: UserId, round_number: int) -> int:
        standing = self.state.reviewers.get(user)
        return value_at(standing.history, round_number) if standing else 0

    def _old_count(self, user: UserId, round_number: int) -> int:
        if user in self.saved_counts:
            saved = self.saved_counts[user]
            return value_at(saved, round_number) if saved is not None else 0
        return self._count(user, round_number)

    def _verdict(self, key: ObservationId, round_number: int) -> VerdictAtRound:
        return value_at(self.state.observations[key].history, round_number)

    def _old_verdict(self, key: ObservationId, round_number: int) -> object:
        if key in self.saved_verdicts:
            saved = self.saved_verdicts[key]
            return value_at(saved, round_number) if saved is not None else _NEW
        return self._verdict(key, round_number)

    def _write_count(self, user: UserId, round_number: int, n: int) -> None:
        history = self.state.reviewers[user].history
        if value_at(history, round_number) == n:
            return
        self.saved_counts.setdefault(user, list(history))
        before = len(history)
        set_round(history, round_number, n)
        self.state.reviewer_index.moved(user, before, len(history))

    def _write_verdict(self, key: ObservationId, round_number: int, value: VerdictAtRound) -> None:
        history = self.state.observations[key].history
        if not history:  # a new observation starts at round 0
            history.append(value)
            return
        if value_at(history, round_number) == value:
            return
        self.saved_verdicts.setdefault(key, list(history))
        before = len(history)
        set_round(history, round_number, value)
        self.state.observation_index.moved(key, before, len(history))

    # -- the rounds --------------------------------------------------------------------------

    def _replay_rounds(self, voters_changed: set[UserId]) -> tuple[int, list[int]]:
        state, policy = self.state, self.state.policy
        key = self.observation.observation_id
        changed_verdicts = self._judge_round(0, {key})
        changes = [0]
        changed_counts: set[UserId] = set()
        round_number = 0
        while round_number < policy.max_rounds:
            round_number += 1
            if round_number > self.old_rounds and not self.old_at_fixed_point:
                raise _FullLoopNeeded
            users = set(voters_changed)
            for i in changed_verdicts:
                users.update(state.observations[i].observation.votes)
            previous_counts, changed_counts = changed_counts, set()
            reweighted: set[UserId] = set()
            for user in users:
                n = self._recount(user, round_number)
                old = self._old_count(user, round_number)
                self._write_count(user, round_number, n)
                if n != old:
                    changed_counts.add(user)
                    if policy.weight(user, n) != policy.weight(user, old):
                        reweighted.add(user)
            changes.append(self._change(round_number, changed_counts | previous_counts))
            to_judge = {key}
            for user in reweighted:
                to_judge.update(state.reviewers[user].votes)
            changed_verdicts = self._judge_round(round_number, to_judge)
            if has_converged(round_number, changes[-1], len(state.observations), policy):
                break
        return round_number, changes

    def _recount(self, user: UserId, round_number: int) -> int:
        author_species, voter_species = self._credited(user, round_number - 1)
        return expertise(len(author_species), len(voter_species))

    def _credited(
        self, user: UserId, round_number: int
    ) -> tuple[frozenset[SpeciesId], frozenset[SpeciesId]]:
        observations = self.state.observations
        return expertise_species(
            VoteOutcome(
                species,
                observations[i].observation.author == user,
                *self._verdict(i, round_number),
            )
            for i, species in self.state.reviewers[user].votes.items()
        )

    def _change(self, round_number: int, users: Iterable[UserId]) -> int:
        """sum |n_t - n_(t-1)| for this round: the stored one, corrected for ``users``."""
        t = round_number
        stored = self.old_changes[t] if t <= self.old_rounds else 0
        for user in users:
            stored += abs(self._count(user, t) - self._count(user, t - 1))
            stored -= abs(self._old_count(user, t) - self._old_count(user, t - 1))
        return stored

    def _judge_round(self, round_number: int, keys: Iterable[ObservationId]) -> set[ObservationId]:
        """Judge ``keys`` with the weights after ``round_number``; return those whose
        (label, valid) differs from the stored one."""
        changed = set()
        for key in keys:
            verdict = self._judge(key, round_number)
            value = (verdict.label, verdict.valid)
            if value != self._old_verdict(key, round_number):
                changed.add(key)
            self._write_verdict(key, round_number, value)
        return changed

    def _judge(self, key: ObservationId, round_number: int) -> Verdict:
        policy = self.state.policy
        observation = self.state.observations[key].observation
        weights = {
            user: policy.weight(user, self._count(user, round_number)) for user in observation.votes
        }
        return judge(observation, weights, policy)

    # -- the final state ---------------------------------------------------------------------

    def _finish(
        self, last_round: int, changes: list[int], voters_changed: set[UserId]
    ) -> ReviewUpdate:
        state, policy = self.state, self.state.policy
        key = self.observation.observation_id
        # Records whose value after the new last round may differ from their stored final one.
        horizon = min(last_round, self.old_rounds)
        moved_observations = {*self.saved_verdicts, *state.observation_index.changing_from(horizon)}
        moved_users = {*self.saved_counts, *state.reviewer_index.changing_from(horizon)}
        users = moved_users | voters_changed
        for i in moved_observations:
            users.update(state.observations[i].observation.votes)
        observations = moved_observations | {key}
        for user in moved_users:
            if user in state.reviewers:
                observations.update(state.reviewers[user].votes)

        for user in users:
            standing = state.reviewers[user]
            self._trim(standing.history, last_round, state.reviewer_index, user)
            author_species, voter_species = self._credited(user, last_round - 1)
            standing.author_species, standing.voter_species = author_species, voter_species
            standing.expertise = value_at(standing.history, last_round)
            standing.weight = policy.weight(user, standing.expertise)
        for i in observations:
            record = state.observations[i]
            self._trim(record.history, last_round, state.observation_index, i)
            verdict = self._judge(i, last_round)
            record.label, record.conf, record.acc = verdict.label, verdict.conf, verdict.acc
            record.valid = verdict.valid
        # Users whose last vote was withdrawn leave the state, as the full loop never sees them.
        for user in voters_changed:
            standing = state.reviewers[user]
            if not standing.votes:
                state.reviewer_index.moved(user, len(standing.history), 1)
                del state.reviewers[user]
        state.changes_by_round = changes
        return ReviewUpdate(
            observations=frozenset(observations),
            reviewers=frozenset(users),
            rounds=last_round,
            full_recompute=False,
        )

    @staticmethod
    def _trim(
        history: list[Any], last_round: int, index: LastChangeIndex[Any], key: Hashable
    ) -> None:
        """Forget rounds after the last one (they belonged to a longer run)."""
        if len(history) > last_round + 1:
            before = len(history)
            del history[last_round + 1 :]
            drop_repeats(history)
            index.moved(key, before, len(history))

    def _full_loop(self, voters_changed: set[UserId]) -> ReviewUpdate:
        state = self.state
        for user, counts in self.saved_counts.items():
            if counts is not None:
                state.reviewers[user].history = counts
        for key, verdicts in self.saved_verdicts.items():
            if verdicts is not None:
                state.observations[key].history = verdicts
        fresh = aggregate((r.observation for r in state.observations.values()), state.policy)
        observations = frozenset(
            {self.observation.observation_id}
            | {i for i, r in fresh.observations.items() if state.observations.get(i) != r}
        )
        reviewers = frozenset(
            voters_changed
            | {
                u
                for u in {*fresh.reviewers, *state.reviewers}
                if state.reviewers.get(u) != fresh.reviewers.get(u)
            }
        )
        state.observations, state.reviewers = fresh.observations, fresh.reviewers
        state.changes_by_round = fresh.changes_by_round
        state.observation_index, state.reviewer_index = (
            fresh.observation_index,
            fresh.reviewer_index,
        )
        return ReviewUpdate(observations, reviewers, fresh.rounds, full_recompute=True)
