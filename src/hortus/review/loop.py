"""The full aggregation loop, from scratch, exactly as published.

    w_u = ln(2.1) for all users; y_i = majority vote
    repeat until sum |n - n_prev| / N_obs <= tolerance (at least min_rounds rounds), max_rounds:
        validity from the current weights and labels
        n_u and w_u from the current labels and validity
        y_i = weighted majority vote with the new weights

Indexed by round: after round t every observation holds (y_t, conf_t, acc_t, valid_t), all
computed from the weights w_t = W(n_t), and n_t is computed from the observations after round
t - 1. n_0 = 0, so round 0 is the majority vote: equal weights ln(2.1), except where the policy
fixes or raises a user's weight, and the AI's 1.7 where its mode lets it choose the label.
The result is the state after the last round T: labels y_T, validity and conf/acc from (w_T, y_T),
and n_T with the species sets behind it.

When the last round changed no n_u (``ReviewState.at_fixed_point``, always the case below
N_obs = 1 / tolerance = 100,000 observations unless the loop hit ``max_rounds``), the result is a
fixed point: n_T = n_(T-1) gives w_T = w_(T-1), hence the same labels, validity and n again.
"""

from __future__ import annotations

from collections.abc import Iterable

from hortus.review.aggregation import (
    Observation,
    ObservationId,
    ReviewPolicy,
    SpeciesId,
    UserId,
    Verdict,
    VoteOutcome,
    expertise,
    expertise_species,
    has_converged,
    judge,
)
from hortus.review.state import (
    ObservationReview,
    ReviewerStanding,
    ReviewState,
    VerdictAtRound,
    drop_repeats,
)


def aggregate(
    observations: Iterable[Observation], policy: ReviewPolicy | None = None
) -> ReviewState:
    """Run the whole loop over ``observations`` and return the resulting state."""
    policy = policy or ReviewPolicy()
    catalogue = {o.observation_id: o for o in observations}
    votes_by_user: dict[UserId, dict[ObservationId, SpeciesId]] = {}
    for observation in catalogue.values():
        for user, species in observation.votes.items():
            votes_by_user.setdefault(user, {})[observation.observation_id] = species

    counts = {user: 0 for user in votes_by_user}
    credited = {user: (frozenset[SpeciesId](), frozenset[SpeciesId]()) for user in votes_by_user}
    weights = {user: policy.weight(user, 0) for user in votes_by_user}
    verdicts = {i: judge(o, weights, policy) for i, o in catalogue.items()}
    verdict_rounds: dict[ObservationId, list[VerdictAtRound]] = {
        i: [_outcome(v)] for i, v in verdicts.items()
    }
    count_rounds = {user: [0] for user in votes_by_user}
    changes_by_round = [0]

    round_number = 0
    while catalogue and round_number < policy.max_rounds:
        round_number += 1
        credited = {
            user: expertise_species(
                VoteOutcome(species, catalogue[i].author == user, *_outcome(verdicts[i]))
                for i, species in votes.items()
            )
            for user, votes in votes_by_user.items()
        }
        new_counts = {user: expertise(len(a), len(v)) for user, (a, v) in credited.items()}
        change = sum(abs(new_counts[user] - counts[user]) for user in counts)
        counts = new_counts
        weights = {user: policy.weight(user, n) for user, n in counts.items()}
        verdicts = {i: judge(o, weights, policy) for i, o in catalogue.items()}
        for i, verdict in verdicts.items():
            verdict_rounds[i].append(_outcome(verdict))
        for user, n in counts.items():
            count_rounds[user].append(n)
        changes_by_round.append(change)
        if has_converged(round_number, change, len(catalogue), policy):
            break

    for verdict_history in verdict_rounds.values():
        drop_repeats(verdict_history)
    for count_history in count_rounds.values():
        drop_repeats(count_history)
    return ReviewState(
        policy=policy,
        observations={i: _review(catalogue[i], verdicts[i], verdict_rounds[i]) for i in catalogue},
        reviewers={
            user: ReviewerStanding(
                votes=votes,
                author_species=credited[user][0],
                voter_species=credited[user][1],
                expertise=counts[user],
                weight=weights[user],
                history=count_rounds[user],
            )
            for user, votes in votes_by_user.items()
        },
        changes_by_round=changes_by_round,
    )


def _outcome(verdict: Verdict) -> VerdictAtRound:
    return (verdict.label, verdict.valid)


def _review(
    observation: Observation, verdict: Verdict, history: list[VerdictAtRound]
) -> ObservationReview:
    return ObservationReview(
        observation=observation,
        label=verdict.label,
        conf=verdict.conf,
        acc=verdict.acc,
        valid=verdict.valid,
        history=history,
    )
