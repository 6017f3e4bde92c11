"""Pl@ntNet's label aggregation: the published numbers, hand-checked cases, the production extras
and the AI's vote."""

from __future__ import annotations

import math

import pytest

from hortus.review.aggregation import (
    LN_2_1,
    AiPrediction,
    Observation,
    ReviewPolicy,
    VoteOutcome,
    expertise,
    expertise_species,
    judge,
    majority_vote,
    user_weight,
)
from hortus.review.loop import aggregate

F0 = LN_2_1  # 0.7419373447
F8 = 8**0.5 - 8**0.2 + LN_2_1  # 2.8284271 - 1.5157166 + 0.7419373 = 2.0546479
SPECIES = [
    "Quercus robur",
    "Fagus sylvatica",
    "Acer campestre",
    "Betula pendula",
    "Tilia cordata",
    "Fraxinus excelsior",
    "Carpinus betulus",
    "Sorbus aucuparia",
]


# -- the user weight ---------------------------------------------------------------------------


def test_weight_matches_the_published_values() -> None:
    assert round(user_weight(0), 3) == 0.742
    assert round(user_weight(1), 3) == 0.742
    assert user_weight(0) == user_weight(1) == LN_2_1
    assert round(user_weight(8), 3) == 2.055
    # The reference gives f(2) = 1.008, which is what ln(2.1) rounded to 0.742 gives
    # (1.41421 - 1.14870 + 0.742 = 1.00751); with ln(2.1) = 0.741937 the formula gives 1.00745.
    assert round(user_weight(2), 3) == 1.007
    assert round(2**0.5 - 2**0.2 + 0.742, 3) == 1.008


def test_weight_two_is_reached_at_eight_and_not_at_seven() -> None:
    assert user_weight(7) < 2.0 <= user_weight(8)
    assert round(user_weight(7), 3) == 1.912
    assert all(user_weight(n) < user_weight(n + 1) for n in range(1, 200))


def test_weight_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError):
        user_weight(-1)


def test_expertise_rounds_halves_up_exactly() -> None:
    # n_u = round(n_author + 0.1 n_vote)
    assert expertise(0, 4) == 0  # 0.4
    assert expertise(0, 5) == 1  # 0.5, not 0 as round-half-to-even would give
    assert expertise(0, 14) == 1  # 1.4
    assert expertise(0, 15) == 2  # 1.5
    assert expertise(0, 25) == 3  # 2.5, not 2
    assert expertise(2, 5) == 3  # 2.5
    assert expertise(8, 0) == 8


def test_expertise_species_follow_the_definitions() -> None:
    outcomes = [
        VoteOutcome("a", own_observation=True, label="a", valid=True),  # n_author: a
        VoteOutcome("b", own_observation=True, label="b", valid=False),  # own but invalid: none
        VoteOutcome("c", own_observation=True, label="x", valid=True),  # label differs: none
        VoteOutcome("d", own_observation=False, label="d", valid=False),  # n_vote: d (any validity)
        VoteOutcome("a", own_observation=False, label="a", valid=True),  # already in n_author
        VoteOutcome("e", own_observation=False, label="x", valid=True),  # label differs: none
        VoteOutcome("d", own_observation=False, label="d", valid=True),  # distinct species only
    ]
    assert expertise_species(outcomes) == (frozenset({"a"}), frozenset({"d"}))


# -- labels, conf, acc, validity ---------------------------------------------------------------


def test_three_newcomers_validate_two_do_not() -> None:
    weights = {"ana": F0, "ben": F0, "cy": F0, "dee": F0}
    three = judge(
        Observation(1, "ana", {"ana": "x", "ben": "x", "cy": "x", "dee": "y"}),
        weights,
        ReviewPolicy(),
    )
    # conf = 3 * 0.742 = 2.226 >= 2; acc = 2.226 / 2.968 = 0.75 >= 0.7
    assert three.label == "x" and three.valid
    assert three.conf == pytest.approx(2.2258, abs=1e-4) and three.acc == pytest.approx(0.75)
    two = judge(Observation(2, "ana", {"ana": "x", "ben": "x", "cy": "y"}), weights, ReviewPolicy())
    # conf = 1.484 < 2, acc = 2 / 3
    assert two.label == "x" and not two.valid
    assert two.conf == pytest.approx(1.4839, abs=1e-4) and two.acc == pytest.approx(2 / 3)


def test_an_acc_of_exactly_seven_tenths_is_valid() -> None:
    voters = [f"user{k}" for k in range(10)]
    votes = {user: ("x" if k < 7 else "y") for k, user in enumerate(voters)}
    verdict = judge(Observation(1, "user0", votes), dict.fromkeys(voters, F0), ReviewPolicy())
    # conf = 7 * 0.742 = 5.19, acc = 7 / 10 (0.7 in real numbers, whatever the float rounding)
    assert verdict.acc == pytest.approx(0.7) and verdict.valid
    six = judge(
        Observation(2, "user0", {**votes, "user6": "y"}), dict.fromkeys(voters, F0), ReviewPolicy()
    )
    assert not six.valid


def test_ties_go_to_the_author_then_to_the_smallest_species() -> None:
    weights = {"ana": F0, "ben": F0, "cy": F0}
    author_wins = judge(Observation(1, "ben", {"ana": "a", "ben": "b"}), weights, ReviewPolicy())
    assert (author_wins.label, author_wins.conf, author_wins.acc) == ("b", F0, 0.5)
    no_author_vote = judge(Observation(2, "cy", {"ana": "b", "ben": "a"}), weights, ReviewPolicy())
    assert no_author_vote.label == "a"
    assert judge(Observation(3, "cy", {"ana": 7, "ben": 3}), weights, ReviewPolicy()).label == 3
    assert majority_vote(Observation(4, "cy", {"ana": "b", "ben": 9})) == 9  # ints first
    assert majority_vote(Observation(5, "cy", {})) is None


def _expert_case(confirmed_species: int = 8, **policy: object) -> list[Observation]:
    """Erin authored one observation per species, each confirmed by newcomers Hugo and Iris;
    on Noah's observation Noah and Mila say Mentha spicata, Erin says Mentha longifolia."""
    observations = [
        Observation(k, "erin", {"erin": s, "hugo": s, "iris": s})
        for k, s in enumerate(SPECIES[:confirmed_species], start=1)
    ]
    observations.append(
        Observation(
            100,
            "noah",
            {"noah": "Mentha spicata", "mila": "Mentha spicata", "erin": "Mentha longifolia"},
        )
    )
    return observations


def test_an_expert_outweighs_two_newcomers_hand_checked() -> None:
    state = aggregate(_expert_case())
    # Round 0, every weight 0.742: Erin's observations have conf 3 * 0.742 = 2.226, acc 1: valid.
    #   Noah's: spicata 1.484 against longifolia 0.742 -> spicata, conf 1.484: not valid.
    # Round 1: Erin authored 8 valid observations of 8 species, labelled as she said:
    #   n_author = 8, her longifolia is not the label: n_vote = 0 -> n = 8, w = f(8) = 2.0546.
    #   Hugo and Iris voted 8 species that are labels: n = round(0.8) = 1, w = 0.742.
    #   Noah's observation is invalid (no n_author); Mila's spicata: round(0.1) = 0.
    #   Noah's: spicata 1.484 against longifolia 2.055 -> longifolia,
    #   conf 2.0546, acc 2.0546 / (2.0546 + 1.4839) = 0.5807: not valid.
    # Round 2: Erin's longifolia is now the label of someone else's observation: n_vote = 1,
    #   n = round(8.1) = 8; Mila's spicata is no longer the label: 0. Nothing changes, so the
    #   loop stops after the minimum 5 rounds; sum |n - n_prev| = 8 + 1 + 1 = 10 in round 1.
    noah = state.observations[100]
    assert noah.label == "Mentha longifolia" and not noah.valid
    assert noah.conf == F8
    assert noah.acc == pytest.approx(F8 / (F8 + 2 * F0)) and round(noah.acc, 4) == 0.5807
    assert noah.history == [("Mentha spicata", False), ("Mentha longifolia", False)]
    for k, species in enumerate(SPECIES, start=1):
        record = state.observations[k]
        # conf 2.0546 + 2 * 0.742 = 3.5385, acc 1
        assert (record.label, record.valid, record.acc) == (species, True, 1.0)
        assert record.conf == pytest.approx(F8 + 2 * F0)
    erin = state.reviewers["erin"]
    assert (erin.expertise, erin.weight, erin.history) == (8, F8, [0, 8])
    assert erin.author_species == frozenset(SPECIES)
    assert erin.voter_species == frozenset({"Mentha longifolia"})
    assert state.reviewers["hugo"].expertise == 1 and state.reviewers["hugo"].weight == F0
    assert state.reviewers["mila"].voter_species == frozenset()
    assert state.changes_by_round == [0, 10, 0, 0, 0, 0] and state.at_fixed_point


@pytest.mark.parametrize("confirmed_species", [7, 8])
def test_only_eight_species_let_a_user_validate_alone(confirmed_species: int) -> None:
    lone = Observation(200, "erin", {"erin": SPECIES[0]})  # a species she is already credited for
    state = aggregate([*_expert_case(confirmed_species), lone])
    record = state.observations[200]
    assert record.conf == user_weight(confirmed_species)  # 1.912 for 7, 2.055 for 8
    assert record.valid is (confirmed_species == 8)


def test_agrees_with_peerannots_toy_where_their_differences_do_not_bite() -> None:
    # peerannot tests/test_models.py::test_plantnet, {task: {worker: label}}, no known authors:
    # labels [1, -1, -1] (-1: not valid), conf 2.226, 1.484, 1.484, every weight 0.742.
    answers = {0: {0: 1, 1: 0, 2: 1, 3: 1}, 1: {0: 1, 2: 0, 3: 0}, 2: {1: 1, 3: 1}}
    state = aggregate(Observation(task, "unknown", votes) for task, votes in answers.items())
    records = [state.observations[task] for task in answers]
    assert [(r.label, r.valid) for r in records] == [(1, True), (0, False), (1, False)]
    assert [round(r.conf, 3) for r in records] == [2.226, 1.484, 1.484]
    assert {r.weight for r in state.reviewers.values()} == {F0}


# -- production extras -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "valid"),
    [
        ({}, True),
        ({"quality_score": 2}, True),
        ({"quality_score": 1.5}, False),
        ({"not_a_plant": True}, False),
        ({"censored": True}, False),
    ],
)
def test_production_rules_gate_validity(changes: dict, valid: bool) -> None:
    observation = Observation(1, "ana", {"ana": "x", "ben": "x", "cy": "x"}, **changes)
    verdict = judge(observation, {"ana": F0, "ben": F0, "cy": F0}, ReviewPolicy())
    assert verdict.label == "x" and verdict.valid is valid


def test_a_blocked_author_is_never_valid_nor_credited() -> None:
    state = aggregate(_expert_case(), ReviewPolicy(blocked_authors=frozenset({"erin"})))
    assert not any(state.observations[k].valid for k in range(1, 9))
    assert state.reviewers["erin"].expertise == 0  # no valid observation of her own
    assert state.observations[100].label == "Mentha spicata"  # two newcomers against one


def test_fixed_and_minimum_weights() -> None:
    policy = ReviewPolicy(
        fixed_weights={"erin": 1.0, "partner": 2.5}, minimum_weights={"admin": 2.0, "hugo": 0.1}
    )
    observations = [
        *_expert_case(),
        Observation(300, "partner", {"partner": "x"}),
        Observation(301, "admin", {"admin": "y"}),
        # The partner outweighs two newcomers from round 0 on: w 2.5 against z 1.484,
        # acc 2.5 / 3.984 = 0.63: not valid.
        Observation(302, "ana", {"ana": "z", "ben": "z", "partner": "w"}),
    ]
    state = aggregate(observations, policy)
    assert state.reviewers["erin"].expertise == 8 and state.reviewers["erin"].weight == 1.0
    assert state.observations[100].label == "Mentha spicata"  # Erin's fixed 1.0 < 1.484
    assert state.observations[300].valid and state.observations[300].conf == 2.5
    assert state.observations[301].valid and state.reviewers["admin"].weight == 2.0
    assert state.reviewers["hugo"].weight == F0  # a floor below f(n) changes nothing
    assert state.observations[302].history == [("w", False)]


# -- the AI's vote -----------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [0.85, 2.0, 2.5])
def test_the_ai_weight_must_leave_validation_to_people(weight: float) -> None:
    with pytest.raises(ValueError):
        ReviewPolicy(ai_mode="fixed", ai_weight=weight)
    ReviewPolicy(ai_mode="fixed", ai_weight=0.86)  # 2 * 0.3 / 0.7 = 0.857 < 0.86 < 2


@pytest.mark.parametrize("mode", ["fixed", "confident", "invalidating"])
def test_the_ai_cannot_validate_alone(mode: str) -> None:
    sure = AiPrediction("x", probability=0.99)
    state = aggregate([Observation(1, "ana", {}, ai_prediction=sure)], ReviewPolicy(ai_mode=mode))
    record = state.observations[1]
    assert not record.valid
    if mode == "invalidating":
        assert record.label is None
    else:
        assert (record.label, record.conf, record.acc) == ("x", 1.7, 1.0)
    assert state.reviewers == {}  # the AI is not a user


def test_the_fixed_ai_outweighs_two_newcomers_but_one_person_must_agree_to_validate() -> None:
    policy = ReviewPolicy(ai_mode="fixed")
    ai = AiPrediction("y", probability=0.9)
    weights = {"ana": F0, "ben": F0}
    outvoted = judge(
        Observation(1, "ana", {"ana": "x", "ben": "x"}, ai_prediction=ai), weights, policy
    )
    # y: 1.7 against x: 1.484 -> y, conf 1.7, acc 1.7 / 3.184 = 0.534: not valid
    assert outvoted.label == "y" and not outvoted.valid
    assert outvoted.acc == pytest.approx(1.7 / (1.7 + 2 * F0))
    seconded = judge(Observation(2, "ana", {"ana": "y"}, ai_prediction=ai), weights, policy)
    # conf 0.742 + 1.7 = 2.442, acc 1: valid with one person agreeing
    assert seconded.valid and seconded.conf == math.fsum([F0, 1.7])


def test_the_invalidating_ai_never_changes_the_label() -> None:
    policy = ReviewPolicy(ai_mode="invalidating")
    ai = AiPrediction("y", probability=0.99)
    verdict = judge(
        Observation(1, "ana", {"ana": "x", "ben": "x"}, ai_prediction=ai),
        {"ana": F0, "ben": F0},
        policy,
    )
    # the label stays x; conf 1.484, acc 1.484 / (1.484 + 1.7) = 0.466
    assert verdict.label == "x"
    assert verdict.acc == pytest.approx(2 * F0 / (2 * F0 + 1.7))
    # An expert's lone observation is valid without the AI (conf 2.055, acc 1) ...
    lone = Observation(200, "erin", {"erin": SPECIES[0]})
    assert aggregate([*_expert_case(), lone]).observations[200].valid
    # ... a disagreeing AI invalidates it: acc = 2.055 / (2.055 + 1.7) = 0.547 < 0.7
    doubted = Observation(200, "erin", {"erin": SPECIES[0]}, ai_prediction=ai)
    record = aggregate([*_expert_case(), doubted], policy).observations[200]
    assert record.label == SPECIES[0] and not record.valid
    assert round(record.acc, 3) == 0.547
    # ... and an agreeing one adds to conf: 2.055 + 1.7
    agreeing = Observation(
        200, "erin", {"erin": SPECIES[0]}, ai_prediction=AiPrediction(SPECIES[0], 0.99)
    )
    record = aggregate([*_expert_case(), agreeing], policy).observations[200]
    assert record.valid and record.conf == pytest.approx(F8 + 1.7)


def _final(state) -> dict:  # noqa: ANN001
    return {i: (r.label, r.conf, r.acc, r.valid, r.history) for i, r in state.observations.items()}


def test_the_confident_ai_abstains_under_its_threshold() -> None:
    def case(probability: float) -> list[Observation]:
        ai = AiPrediction("Mentha spicata", probability)
        return [
            *_expert_case(),
            Observation(
                1, "ana", {"ana": "x", "ben": "x"}, ai_prediction=AiPrediction("y", probability)
            ),
            Observation(2, "cy", {"cy": "Mentha spicata"}, ai_prediction=ai),
        ]

    confident = ReviewPolicy(ai_mode="confident")
    without_ai = aggregate(case(0.69))
    abstaining = aggregate(case(0.69), confident)
    assert _final(abstaining) == _final(without_ai)
    assert abstaining.reviewers == without_ai.reviewers
    voting = aggregate(case(0.7), confident)
    assert voting.observations[1].label == "y"  # 1.7 against 1.484
    assert voting.observations[2].conf == pytest.approx(F0 + 1.7) and voting.observations[2].valid


def test_the_ai_never_accrues_weight() -> None:
    # The AI agrees with every label of an expert's observations; its weight stays 1.7.
    observations = [
        Observation(k, "erin", o.votes, ai_prediction=AiPrediction(o.votes["erin"], 0.95))
        for k, o in enumerate(_expert_case()[:8], start=1)
    ]
    state = aggregate(observations, ReviewPolicy(ai_mode="fixed"))
    assert set(state.reviewers) == {"erin", "hugo", "iris"}
    for record in state.observations.values():
        assert record.conf == pytest.approx(F8 + 2 * F0 + 1.7)
