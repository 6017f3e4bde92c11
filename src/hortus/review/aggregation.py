"""Pl@ntNet's label aggregation, as published: the formulas, as pure functions.

Source: Lefort, Affouard, Charlier, Lombardo, Chouet, Goëau, Salmon, Bonnet, Joly, "Cooperative
learning of Pl@ntNet's Artificial Intelligence algorithm: how does it work and how can we improve
it?" (arXiv 2406.03356, 2024/2025) and T. Lefort's thesis. The public ``peerannot``
implementation differs from the paper (strict ``>``, conf/acc against the initial labels, the
author's own votes in ``n_vote``); this module follows the paper.

Choices the paper leaves open, made once here and used by the full loop and by the incremental
update alike:

- ``n_u = round(n_author + 0.1 * n_vote)`` rounds halves up, in integer arithmetic
  (``(10 * n_author + n_vote + 5) // 10``), so 0.5 gives 1 and 2.5 gives 3, not 2 as
  banker's rounding of a float would.
- Ties in a weighted vote go to the author's determination when it is among the tied species,
  otherwise to the smallest species identifier (integers before strings). Both depend only on
  the observation's votes, never on the order in which they arrived.
- Weights are added with ``math.fsum`` (correctly rounded), so a sum, and therefore a tie or a
  threshold, does not depend on the order of the votes either.
- ``conf >= 2`` and ``acc >= 0.7`` allow a relative 1e-9 for binary rounding, so a value that
  equals the threshold in real numbers (7 votes of 10 equal weights) reaches it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple, TypeAlias

UserId: TypeAlias = int | str
SpeciesId: TypeAlias = int | str
ObservationId: TypeAlias = int | str
AiMode: TypeAlias = Literal["fixed", "invalidating", "confident"]

LN_2_1 = math.log(2.1)  # f(0) = f(1): the weight of a newcomer, about 0.742
THETA_CONF = 2.0
THETA_ACC = 0.7
AI_WEIGHT = 1.7
AI_MIN_PROBABILITY = 0.7
MIN_QUALITY_SCORE = 2.0
THRESHOLD_SLACK = 1e-9  # relative; far below any difference one vote makes


def user_weight(n: int) -> float:
    """f(n) = n^0.5 - n^0.2 + ln(2.1), the weight of a user whose expertise count is ``n``.

    f(0) = f(1) = 0.742, f(2) = 1.007, f(7) = 1.912, f(8) = 2.055: a user can validate an
    observation alone (weight >= 2) from n = 8.
    """
    if n < 0:
        raise ValueError(f"an expertise count is never negative, got {n}")
    return n**0.5 - n**0.2 + LN_2_1


def expertise(author_species: int, voter_species: int) -> int:
    """n_u = round(n_author + 0.1 * n_vote), halves rounded up, in exact integer arithmetic."""
    return (10 * author_species + voter_species + 5) // 10


class VoteOutcome(NamedTuple):
    """One of a user's votes beside the current state of the observation it was cast on."""

    species: SpeciesId
    own_observation: bool  # the voter is the observation's author (the vote is their determination)
    label: SpeciesId | None
    valid: bool


def expertise_species(
    outcomes: Iterable[VoteOutcome],
) -> tuple[frozenset[SpeciesId], frozenset[SpeciesId]]:
    """The species behind ``n_author`` and ``n_vote`` for one user.

    ``n_author``: distinct species k such that the user authored a VALID observation labelled k
    and determined it as k. ``n_vote``: distinct species k, not already counted in
    ``n_author``, such that the user voted k on someone else's observation labelled k (valid or
    not). Votes on one's own observations never count in ``n_vote``.
    """
    outcomes = list(outcomes)
    as_author = frozenset(
        o.species for o in outcomes if o.own_observation and o.valid and o.label == o.species
    )
    as_voter = frozenset(
        o.species for o in outcomes if not o.own_observation and o.label == o.species
    )
    return as_author, as_voter - as_author


@dataclass(frozen=True)
class AiPrediction:
    """The identification model's top species for an observation, with a calibrated probability."""

    species: SpeciesId
    probability: float


@dataclass(frozen=True)
class Observation:
    """What the aggregation needs to know about one observation.

    ``votes`` holds one species per user; the author's determination is the author's entry.
    ``quality_score`` is the photo quality score, None when it was never scored (then it does
    not block validity).
    """

    observation_id: ObservationId
    author: UserId
    votes: Mapping[UserId, SpeciesId] = field(default_factory=dict)
    quality_score: float | None = None
    not_a_plant: bool = False
    censored: bool = False
    ai_prediction: AiPrediction | None = None

    def with_vote(self, user: UserId, species: SpeciesId | None) -> Observation:
        """This observation with ``user``'s vote set to ``species`` (replacing any earlier one),
        or withdrawn when ``species`` is None."""
        votes = {u: s for u, s in self.votes.items() if u != user}
        if species is not None:
            votes[user] = species
        return replace(self, votes=votes)


@dataclass(frozen=True)
class ReviewPolicy:
    """Thresholds, the AI's vote and Pl@ntNet's production extras.

    ``fixed_weights`` (partner accounts, admin overrides) replace f(n) for those users;
    ``minimum_weights`` are floors under f(n). ``blocked_authors``' observations are never valid.
    ``tolerance`` is the loop's stopping threshold on sum |n - n_prev| / N_obs.
    """

    theta_conf: float = THETA_CONF
    theta_acc: float = THETA_ACC
    min_rounds: int = 5
    max_rounds: int = 100
    tolerance: float = 1e-5
    ai_mode: AiMode | None = None
    ai_weight: float = AI_WEIGHT
    ai_min_probability: float = AI_MIN_PROBABILITY
    min_quality_score: float = MIN_QUALITY_SCORE
    blocked_authors: frozenset[UserId] = frozenset()
    fixed_weights: Mapping[UserId, float] = field(default_factory=dict)
    minimum_weights: Mapping[UserId, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The AI may never validate alone (w_AI < theta_conf), yet its disagreement must be able
        # to invalidate a lone user of weight theta_conf (w_AI > theta_conf (1 - acc) / acc).
        lowest = self.theta_conf * (1 - self.theta_acc) / self.theta_acc
        if not lowest < self.ai_weight < self.theta_conf:
            raise ValueError(
                f"the AI's weight must lie strictly between {lowest:.3f} and {self.theta_conf}, "
                f"got {self.ai_weight}"
            )
        if self.ai_mode not in (None, "fixed", "invalidating", "confident"):
            raise ValueError(f"unknown AI mode {self.ai_mode!r}")
        if self.max_rounds < 1 or not 0 <= self.min_rounds <= self.max_rounds:
            raise ValueError("rounds: need 0 <= min_rounds <= max_rounds and max_rounds >= 1")

    def weight(self, user: UserId, n: int) -> float:
        """The user's weight for expertise count ``n``: fixed, or f(n) raised to any floor."""
        if user in self.fixed_weights:
            return self.fixed_weights[user]
        return max(self.minimum_weights.get(user, 0.0), user_weight(n))

    def may_be_valid(self, observation: Observation) -> bool:
        """Production rules: a scored photo of quality >= 2, a plant, not censored, author not
        blocked."""
        score = observation.quality_score
        return (
            (score is None or score >= self.min_quality_score)
            and not observation.not_a_plant
            and not observation.censored
            and observation.author not in self.blocked_authors
        )


@dataclass(frozen=True)
class Verdict:
    """An observation's label, conf (weight behind the label), acc (its share) and validity."""

    label: SpeciesId | None
    conf: float
    acc: float
    valid: bool


def _species_order(species: SpeciesId) -> tuple[bool, SpeciesId]:
    return (isinstance(species, str), species)


def weighted_majority(
    support: Mapping[SpeciesId, Iterable[float]], author_species: SpeciesId | None = None
) -> SpeciesId | None:
    """The species with the largest summed weight; None when nobody voted.

    Ties go to ``author_species`` when it is among the tied, else to the smallest species id.
    """
    totals = {species: math.fsum(weights) for species, weights in support.items()}
    if not totals:
        return None
    best = max(totals.values())
    tied = [species for species, total in totals.items() if total == best]
    if author_species in tied:
        return author_species
    return min(tied, key=_species_order)


def majority_vote(observation: Observation) -> SpeciesId | None:
    """The plain (unweighted) majority vote, ties broken as in ``weighted_majority``."""
    support: dict[SpeciesId, list[float]] = {}
    for species in observation.votes.values():
        support.setdefault(species, []).append(1.0)
    return weighted_majority(support, observation.votes.get(observation.author))


def ai_ballot(observation: Observation, policy: ReviewPolicy) -> tuple[SpeciesId | None, bool]:
    """The AI's vote on this observation under the policy: (species or None, counts in label).

    "fixed": counts in the label, conf and acc. "invalidating": counts in conf and acc only, so
    it can lower acc but never choose the label. "confident": as "fixed" when the calibrated
    probability is >= ``ai_min_probability``, otherwise the AI abstains.
    """
    prediction = observation.ai_prediction
    if policy.ai_mode is None or prediction is None:
        return None, False
    if policy.ai_mode == "invalidating":
        return prediction.species, False
    if policy.ai_mode == "confident" and prediction.probability < policy.ai_min_probability:
        return None, False
    return prediction.species, True


def judge(
    observation: Observation, weights: Mapping[UserId, float], policy: ReviewPolicy
) -> Verdict:
    """Label, conf, acc and validity of one observation given every voter's weight.

    y = weighted majority vote; conf = summed weight of the voters of y (the AI's included when
    it voted y and its mode counts it); acc = conf / summed weight of all voters on it;
    valid = conf >= theta_conf and acc >= theta_acc and the production rules allow it.
    """
    support: dict[SpeciesId, list[float]] = {}
    for user, species in observation.votes.items():
        support.setdefault(species, []).append(weights[user])
    everyone = [w for ws in support.values() for w in ws]
    ai_species, ai_in_label = ai_ballot(observation, policy)
    ballot = support
    if ai_species is not None:
        everyone.append(policy.ai_weight)
        if ai_in_label:
            ballot = {**support, ai_species: [*support.get(ai_species, []), policy.ai_weight]}
    label = weighted_majority(ballot, observation.votes.get(observation.author))
    if label is None:
        return Verdict(label=None, conf=0.0, acc=0.0, valid=False)
    agreeing = list(support.get(label, []))
    if ai_species == label:
        agreeing.append(policy.ai_weight)
    conf = math.fsum(agreeing)
    total = math.fsum(everyone)
    acc = conf / total if total > 0 else 0.0
    valid = (
        reaches(conf, policy.theta_conf)
        and reaches(acc, policy.theta_acc)
        and policy.may_be_valid(observation)
    )
    return Verdict(label=label, conf=conf, acc=acc, valid=valid)


def reaches(value: float, threshold: float) -> bool:
    """value >= threshold, allowing for binary rounding: 7 of 10 equal weights give acc
    0.7 in real numbers but may give 0.6999999999999998 in floats; that still reaches 0.7."""
    return value >= threshold - THRESHOLD_SLACK * max(1.0, abs(threshold))


def has_converged(
    round_number: int, change: int, observation_count: int, policy: ReviewPolicy
) -> bool:
    """The loop's stopping rule: at least ``min_rounds`` rounds and
    sum |n - n_prev| / N_obs <= tolerance."""
    if round_number < policy.min_rounds:
        return False
    return observation_count == 0 or change / observation_count <= policy.tolerance
