"""The aggregation's state, shaped for persistence: one record per observation, one per reviewer.

A database layer stores, per observation: its votes and flags (``observation``), ``label``,
``conf``, ``acc``, ``valid`` and ``history``; per user: ``author_species`` and
``voter_species`` (the species behind n_author and n_vote), ``expertise`` (n_u), ``weight``
and ``history``; and once, ``changes_by_round``. ``ReviewerStanding.votes`` is an index of the
user's votes, rebuilt from the observations.

A history is the loop's trajectory for one record, kept so that a new vote can be replayed
through the same rounds (see ``hortus.review.incremental``): the value at rounds 0, 1, ... up to
the last round at which it changed; later rounds repeat the last entry. For an observation the
value is (label, valid) after round t; for a user it is n_u after round t (0 at round 0).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from hortus.review.aggregation import (
    Observation,
    ObservationId,
    ReviewPolicy,
    SpeciesId,
    UserId,
)

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")
VerdictAtRound = tuple[SpeciesId | None, bool]  # (label, valid)


@dataclass
class ObservationReview:
    """An observation with its current label, conf, acc, validity and their history."""

    observation: Observation
    label: SpeciesId | None
    conf: float
    acc: float
    valid: bool
    history: list[VerdictAtRound]


@dataclass
class ReviewerStanding:
    """A user's standing: the species they are credited with, n_u, weight, and n_u's history."""

    votes: dict[ObservationId, SpeciesId]
    author_species: frozenset[SpeciesId]
    voter_species: frozenset[SpeciesId]
    expertise: int
    weight: float
    history: list[int]


def value_at(history: Sequence[Value], round_number: int) -> Value:
    """The value a history holds at ``round_number`` (the last entry repeats)."""
    return history[min(round_number, len(history) - 1)]


def set_round(history: list[Value], round_number: int, value: Value) -> bool:
    """Set the value at exactly ``round_number``, keeping every other round's value.

    Returns whether anything changed. Trailing repeats are dropped, so equal trajectories have
    equal histories.
    """
    if value_at(history, round_number) == value:
        return False
    following = value_at(history, round_number + 1)
    while len(history) <= round_number:
        history.append(history[-1])
    history[round_number] = value
    if len(history) == round_number + 1 and following != value:
        history.append(following)
    drop_repeats(history)
    return True


def drop_repeats(history: list[Value]) -> None:
    """Drop trailing entries equal to the one before them."""
    while len(history) >= 2 and history[-1] == history[-2]:
        history.pop()


class LastChangeIndex(Generic[Key]):
    """Records whose history changes after round 0, grouped by the round of their last change.

    Derived from the histories (a database would index the history length): it finds the few
    records that hold rounds beyond a given one without scanning them all.
    """

    def __init__(self, histories: Iterable[tuple[Key, Sequence[object]]] = ()) -> None:
        self._by_round: dict[int, set[Key]] = {}
        for key, history in histories:
            self.moved(key, 1, len(history))

    def moved(self, key: Key, previous_length: int, length: int) -> None:
        """Note that ``key``'s history went from ``previous_length`` to ``length`` entries."""
        if previous_length == length:
            return
        if previous_length > 1:
            self._by_round[previous_length - 1].discard(key)
        if length > 1:
            self._by_round.setdefault(length - 1, set()).add(key)

    def changing_from(self, round_number: int) -> set[Key]:
        """Keys whose last change is at ``round_number`` or later."""
        found: set[Key] = set()
        for last, keys in self._by_round.items():
            if last >= round_number:
                found |= keys
        return found


@dataclass
class ReviewState:
    """Every observation's review and every voter's standing after the loop.

    ``changes_by_round[t]`` is sum |n_t - n_(t-1)| over users for round t (0 for round 0);
    the loop ran ``rounds`` = len(changes_by_round) - 1 rounds.
    """

    policy: ReviewPolicy
    observations: dict[ObservationId, ObservationReview]
    reviewers: dict[UserId, ReviewerStanding]
    changes_by_round: list[int]
    observation_index: LastChangeIndex[ObservationId] = field(init=False, repr=False, compare=False)
    reviewer_index: LastChangeIndex[UserId] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.observation_index = LastChangeIndex(
            (key, record.history) for key, record in self.observations.items()
        )
        self.reviewer_index = LastChangeIndex(
            (key, record.history) for key, record in self.reviewers.items()
        )

    @property
    def rounds(self) -> int:
        """How many rounds the loop ran."""
        return len(self.changes_by_round) - 1

    @property
    def at_fixed_point(self) -> bool:
        """Whether the last round changed no n_u, so every later round would repeat it."""
        return self.changes_by_round[-1] == 0

    def weights(self) -> Mapping[UserId, float]:
        """Every voter's current weight."""
        return {user: standing.weight for user, standing in self.reviewers.items()}
