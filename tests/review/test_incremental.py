"""The vote-by-vote update equals the full loop, record for record, and rewrites only what the
new vote affects."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import pytest

from hortus.review.aggregation import (
    AiPrediction,
    Observation,
    ReviewPolicy,
    weighted_majority,
)
from hortus.review.incremental import record_vote, submit_observation
from hortus.review.loop import aggregate
from hortus.review.state import ReviewState

USERS = list(range(10))
AUTHORING = [10, 4, 2, 2, 1, 1, 1, 1, 1, 1]  # user 0 makes most observations
RELIABILITY = [0.97, 0.9, 0.85, 0.8, 0.75, 0.6, 0.5, 0.4, 0.3, 0.0]
SPECIES = list(range(14))


@dataclass
class SessionStats:
    updates: int = 0
    replaced_votes: int = 0
    withdrawn_votes: int = 0
    fallbacks: int = 0
    rounds_seen: set[int] = field(default_factory=set)
    rounds_up: int = 0
    rounds_down: int = 0
    relabelled_after_round_0: int = 0  # updates after which a label differs from round 0's
    rewritten: int = 0
    observations: int = 0


def _snapshot(state: ReviewState) -> tuple[dict, dict]:
    observations = {
        i: (r.label, r.conf, r.acc, r.valid, tuple(r.history))
        for i, r in state.observations.items()
    }
    reviewers = {
        u: (r.expertise, r.weight, r.author_species, r.voter_species, tuple(r.history))
        for u, r in state.reviewers.items()
    }
    return observations, reviewers


def _check_ai_rules(state: ReviewState) -> None:
    policy = state.policy
    for record in state.observations.values():
        observation = record.observation
        if record.valid:  # the AI never validates alone: some person voted the label
            assert record.label in observation.votes.values()
        if policy.ai_mode == "invalidating":  # the label is the people's weighted majority
            support: dict = {}
            for user, species in observation.votes.items():
                support.setdefault(species, []).append(state.reviewers[user].weight)
            assert record.label == weighted_majority(
                support, observation.votes.get(observation.author)
            )


def run_random_session(seed: int, policy: ReviewPolicy, steps: int) -> SessionStats:
    """New observations, votes, replaced and withdrawn votes in random order; after each one
    the incremental state must equal the full loop's and untouched records must not move."""
    rng = random.Random(seed)
    state = aggregate([], policy)
    truth: dict[int, int] = {}
    stats = SessionStats()
    last_rounds = state.rounds

    def vote(user: int, true_species: int) -> int:
        if rng.random() < RELIABILITY[user]:
            return true_species
        # Wrong voters often agree on the same look-alike, so labels get contested.
        return (true_species + 1) % len(SPECIES) if rng.random() < 0.6 else rng.choice(SPECIES)

    for step in range(steps):
        before_observations, before_reviewers = _snapshot(state)
        if not truth or rng.random() < 0.12:
            key = len(truth)
            truth[key] = true_species = rng.choice(SPECIES)
            author = rng.choices(USERS, AUTHORING)[0]
            prediction = AiPrediction(
                true_species if rng.random() < 0.7 else (true_species + 1) % len(SPECIES),
                round(rng.random(), 2),
            )
            observation = Observation(
                key,
                author,
                {author: vote(author, true_species)} if rng.random() < 0.95 else {},
                quality_score=rng.choice([None, None, None, 3, 1]),
                not_a_plant=rng.random() < 0.03,
                ai_prediction=prediction if rng.random() < 0.8 else None,
            )
            update = submit_observation(state, observation)
        else:
            key = rng.choice(list(truth))
            user = rng.choice(USERS)
            species = None if rng.random() < 0.07 else vote(user, truth[key])
            previous = state.observations[key].observation.votes.get(user)
            stats.replaced_votes += previous is not None and species is not None
            stats.withdrawn_votes += previous is not None and species is None
            update = record_vote(state, observation_id=key, user=user, species=species)

        expected = aggregate([r.observation for r in state.observations.values()], policy)
        assert state == expected, f"step {step}: the update differs from the full loop"
        after_observations, after_reviewers = _snapshot(state)
        for i, values in before_observations.items():
            if i not in update.observations:
                assert after_observations[i] == values, f"step {step}: {i} moved unreported"
        for u, values in before_reviewers.items():
            if u not in update.reviewers:
                assert after_reviewers.get(u) == values, f"step {step}: user {u} moved unreported"
        _check_ai_rules(state)
        stats.updates += 1
        stats.fallbacks += update.full_recompute
        stats.rounds_up += update.rounds > last_rounds > 0
        stats.rounds_down += update.rounds < last_rounds
        stats.rounds_seen.add(update.rounds)
        last_rounds = update.rounds
        stats.rewritten += len(update.observations)
        stats.relabelled_after_round_0 += any(
            r.label != r.history[0][0] for r in state.observations.values()
        )
    stats.observations = len(state.observations)
    return stats


@pytest.mark.parametrize(
    "policy",
    [
        ReviewPolicy(),
        ReviewPolicy(ai_mode="fixed"),
        ReviewPolicy(ai_mode="invalidating"),
        ReviewPolicy(ai_mode="confident"),
        ReviewPolicy(
            fixed_weights={3: 2.5},
            minimum_weights={4: 1.2},
            blocked_authors=frozenset({1}),
            ai_mode="fixed",
        ),
    ],
    ids=["plain", "ai-fixed", "ai-invalidating", "ai-confident", "partners-admins-blocked"],
)
def test_incremental_equals_the_full_loop_on_random_votes(policy: ReviewPolicy) -> None:
    stats = run_random_session(seed=3, policy=policy, steps=160)
    assert stats.replaced_votes >= 10 and stats.withdrawn_votes >= 3
    assert stats.relabelled_after_round_0 > 0  # labels did move after the majority vote
    assert stats.fallbacks == 0  # every stored run ended at a fixed point
    # An update rewrites a few records, not the whole state.
    assert stats.rewritten / stats.updates < 0.25 * stats.observations


def test_incremental_equals_the_full_loop_when_the_round_count_moves() -> None:
    # With one minimum round, the loop stops at the first round that changes no n_u: 1 to 4.
    stats = run_random_session(seed=0, policy=ReviewPolicy(min_rounds=1), steps=220)
    assert len(stats.rounds_seen) >= 3 and stats.rounds_up > 0 and stats.rounds_down > 0
    assert stats.fallbacks == 0


def test_falls_back_to_the_full_loop_after_a_run_stopped_on_the_tolerance() -> None:
    # A tolerance of 5% lets the loop stop while some n_u still move (with the default 1e-5 this
    # takes 100,000 observations); a later vote needing more rounds then runs the full loop.
    stats = run_random_session(seed=3, policy=ReviewPolicy(min_rounds=1, tolerance=0.05), steps=220)
    assert stats.fallbacks > 0


def _hand_case() -> ReviewState:
    """The expert case of test_aggregation, built one vote at a time."""
    species = [
        "Quercus robur",
        "Fagus sylvatica",
        "Acer campestre",
        "Betula pendula",
        "Tilia cordata",
        "Fraxinus excelsior",
        "Carpinus betulus",
        "Sorbus aucuparia",
    ]
    state = aggregate([])
    submit_observation(state, Observation(100, "noah", {"noah": "Mentha spicata"}))
    for k, name in enumerate(species, start=1):
        submit_observation(state, Observation(k, "erin", {"erin": name}))
        record_vote(state, observation_id=k, user="hugo", species=name)
    record_vote(state, observation_id=100, user="erin", species="Mentha longifolia")
    record_vote(state, observation_id=100, user="mila", species="Mentha spicata")
    for k, name in enumerate(species, start=1):
        record_vote(state, observation_id=k, user="iris", species=name)
    return state


def test_vote_by_vote_reaches_the_hand_checked_state() -> None:
    state = _hand_case()
    noah = state.observations[100]
    assert (noah.label, noah.valid, round(noah.acc, 4)) == ("Mentha longifolia", False, 0.5807)
    assert state.reviewers["erin"].expertise == 8
    assert state == aggregate(r.observation for r in state.observations.values())


def test_replacing_a_vote_changes_the_outcome_and_matches_the_full_loop() -> None:
    state = _hand_case()
    update = record_vote(state, observation_id=100, user="erin", species="Mentha spicata")
    noah = state.observations[100]
    # Now everyone says spicata: conf 2.0546 + 2 * 0.742 = 3.5385, acc 1: valid, and Noah is
    # credited with spicata as its author (n = 1, weight still 0.742).
    assert (noah.label, noah.valid, noah.acc) == ("Mentha spicata", True, 1.0)
    assert noah.conf == pytest.approx(2.0546479 + 2 * 0.7419373)
    assert state.reviewers["noah"].author_species == frozenset({"Mentha spicata"})
    assert state.observations[100].observation.votes["erin"] == "Mentha spicata"  # one vote each
    assert not update.full_recompute and 100 in update.observations
    assert state == aggregate(r.observation for r in state.observations.values())
    # The author's determination is the author's vote: Noah changes his mind.
    record_vote(state, observation_id=100, user="noah", species="Mentha aquatica")
    assert state.observations[100].observation.votes["noah"] == "Mentha aquatica"
    assert state.observations[100].label == "Mentha spicata"
    assert state == aggregate(r.observation for r in state.observations.values())


def test_an_isolated_vote_rewrites_only_its_own_records() -> None:
    state = _hand_case()
    update = submit_observation(state, Observation(500, "zoe", {"zoe": "Allium ursinum"}))
    assert update.observations == {500} and update.reviewers == {"zoe"}
    update = record_vote(state, observation_id=500, user="yan", species="Allium ursinum")
    assert update.observations == {500} and update.reviewers == {"yan"}


def test_withdrawing_a_users_last_vote_removes_them() -> None:
    state = _hand_case()
    update = record_vote(state, observation_id=100, user="mila", species=None)
    assert "mila" not in state.reviewers and "mila" in update.reviewers
    assert state == aggregate(r.observation for r in state.observations.values())


def test_updates_on_a_partial_aggregate_equal_aggregating_everything() -> None:
    rng = random.Random(3)
    observations = [
        Observation(
            i, rng.choice(USERS), {u: rng.choice(SPECIES[:4]) for u in rng.sample(USERS, 3)}
        )
        for i in range(40)
    ]
    state = aggregate(observations[:30])
    for observation in observations[30:]:
        submit_observation(state, observation)
    assert state == aggregate(observations)
    assert math.isclose(
        sum(r.conf for r in state.observations.values()),
        sum(r.conf for r in aggregate(observations).observations.values()),
    )
