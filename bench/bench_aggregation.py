"""Label aggregation on a simulated crowd with known truth: Pl@ntNet's weighted algorithm against
the plain majority vote on the same votes, with and without the AI's vote, and the incremental
update against the full loop.

The crowd: observations of species drawn from a long-tailed (Zipf) distribution, species in
genera of four look-alikes; voters of mixed reliability — experts (right 95% of the time),
average users (75%), beginners (50%, confusing look-alikes) and a few adversaries who vote one
agreed wrong species on purpose; each observation carries its author's determination and a
long-tailed number of further votes (mostly none to two), cast by the more active users more
often. The AI is calibrated by construction: right with exactly its stated probability.

Prints one table and the incremental timing (ratio against the full loop measured in the same
run). Run: .venv/bin/python bench/bench_aggregation.py --seed 0 [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hortus.review.aggregation import (
    AiPrediction,
    Observation,
    ObservationId,
    ReviewPolicy,
    SpeciesId,
    UserId,
    majority_vote,
)
from hortus.review.incremental import record_vote
from hortus.review.loop import aggregate
from hortus.review.state import ReviewState

GENUS_SIZE = 4
# Share of the voters and how often they name the right species.
VOTER_KINDS = {
    "expert": (0.06, 0.95),
    "average": (0.36, 0.75),
    "beginner": (0.56, 0.50),
    "adversary": (0.02, 0.0),
}
# How much more active than a typical user each kind is (votes cast and observations made).
ACTIVITY = {"expert": 4.0, "average": 1.0, "beginner": 0.3, "adversary": 3.0}


@dataclass(frozen=True)
class Crowd:
    """Simulated observations (votes, AI predictions) and the species each really shows."""

    observations: list[Observation]
    truth: dict[ObservationId, SpeciesId]
    kinds: dict[UserId, str]


def simulate_crowd(
    seed: int, *, observations: int = 5000, species: int = 200, voters: int = 400
) -> Crowd:
    """A crowd with known truth (see the module docstring)."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, species + 1) ** 1.1
    popularity = popularity[rng.permutation(species)]  # popular species spread over the genera
    popularity /= popularity.sum()

    counts = {kind: round(share * voters) for kind, (share, _) in VOTER_KINDS.items()}
    counts["beginner"] = voters - sum(n for kind, n in counts.items() if kind != "beginner")
    kinds_drawn = rng.permutation([kind for kind, n in counts.items() for _ in range(n)])
    kinds: dict[UserId, str] = {user: str(kind) for user, kind in enumerate(kinds_drawn)}
    activity = rng.lognormal(0.0, 1.0, size=voters) * [ACTIVITY[k] for k in kinds_drawn]
    activity /= activity.sum()
    # The adversaries agree on one wrong species (in another genus) for each true species.
    decoy = (
        np.arange(species)
        + GENUS_SIZE * (1 + rng.integers(0, species // GENUS_SIZE - 1, size=species))
    ) % species

    def vote(user: int, true_species: int) -> int:
        kind = kinds[user]
        if kind == "adversary":
            return int(decoy[true_species])
        if rng.random() < VOTER_KINDS[kind][1]:
            return true_species
        if kind == "average" and rng.random() < 0.3:
            return int(rng.choice(species, p=popularity))  # a popular guess
        genus = true_species - true_species % GENUS_SIZE
        others = [s for s in range(genus, genus + GENUS_SIZE) if s != true_species]
        return int(rng.choice(others))  # a look-alike

    catalogue: list[Observation] = []
    truth: dict[ObservationId, SpeciesId] = {}
    for i in range(observations):
        true_species = int(rng.choice(species, p=popularity))
        author = int(rng.choice(voters, p=activity))
        extra = min(int(rng.geometric(0.5)) - 1, 25)  # 0: 50%, 1: 25%, 2: 12.5%, ...
        votes: dict[UserId, SpeciesId] = {author: vote(author, true_species)}
        while len(votes) < extra + 1:
            user = int(rng.choice(voters, p=activity))
            if user not in votes:
                votes[user] = vote(user, true_species)
        # Rarer species get less confident predictions; right with exactly that probability.
        probability = float(rng.beta(2.0 + 400 * popularity[true_species], 1.5))
        if rng.random() < probability:
            predicted = true_species
        else:
            genus = true_species - true_species % GENUS_SIZE
            predicted = int(
                rng.choice([s for s in range(genus, genus + GENUS_SIZE) if s != true_species])
            )
        catalogue.append(
            Observation(i, author, votes, ai_prediction=AiPrediction(predicted, probability))
        )
        truth[i] = true_species
    return Crowd(catalogue, truth, kinds)


def _accuracy(labels: dict[ObservationId, SpeciesId | None], truth: dict, keys) -> float:
    keys = list(keys)
    return sum(labels[i] == truth[i] for i in keys) / len(keys) if keys else float("nan")


def evaluate(crowd: Crowd, policy: ReviewPolicy) -> dict[str, float | int]:
    """Accuracy of the weighted labels (all and valid only) against the truth, beside the
    majority vote's on the same valid observations."""
    started = time.perf_counter()
    state = aggregate(crowd.observations, policy)
    seconds = time.perf_counter() - started
    labels = {i: r.label for i, r in state.observations.items()}
    majority = {o.observation_id: majority_vote(o) for o in crowd.observations}
    valid = [i for i, r in state.observations.items() if r.valid]
    return {
        "accuracy": _accuracy(labels, crowd.truth, labels),
        "valid": len(valid),
        "accuracy_valid": _accuracy(labels, crowd.truth, valid),
        "majority_accuracy_same_valid": _accuracy(majority, crowd.truth, valid),
        "rounds": state.rounds,
        "seconds": seconds,
    }


def weights_by_kind(crowd: Crowd) -> dict[str, dict[str, float]]:
    """Mean and largest weight each kind of voter ends with (no AI)."""
    state = aggregate(crowd.observations)
    weights: dict[str, list[float]] = {}
    for user, standing in state.reviewers.items():
        weights.setdefault(crowd.kinds[user], []).append(standing.weight)
    return {
        kind: {"mean": sum(w) / len(w), "max": max(w), "at_least_2": sum(x >= 2 for x in w)}
        for kind, w in sorted(weights.items())
    }


def compare(crowd: Crowd, ai_modes=(None, "fixed", "invalidating", "confident")) -> dict:
    """Majority vote, then the weighted algorithm under each AI mode, on the same votes."""
    majority = {o.observation_id: majority_vote(o) for o in crowd.observations}
    results: dict[str, dict] = {
        "majority vote": {"accuracy": _accuracy(majority, crowd.truth, majority)},
        "AI alone (top species)": {
            "accuracy": _accuracy(
                {
                    o.observation_id: o.ai_prediction.species
                    for o in crowd.observations
                    if o.ai_prediction
                },
                crowd.truth,
                majority,
            )
        },
    }
    for mode in ai_modes:
        name = "weighted (Pl@ntNet)" if mode is None else f"weighted + AI {mode}"
        results[name] = evaluate(crowd, ReviewPolicy(ai_mode=mode))
    return results


def incremental_timing(crowd: Crowd, votes: int, seed: int) -> dict[str, float | int | bool]:
    """Hold back ``votes`` non-author votes, aggregate the rest, then record them one by one;
    time each update against one full loop and check the end state equals the full loop's."""
    rng = np.random.default_rng(seed + 1)
    held = [
        (o.observation_id, u, s)
        for o in crowd.observations
        for u, s in o.votes.items()
        if u != o.author
    ]
    chosen = [held[k] for k in rng.choice(len(held), size=min(votes, len(held)), replace=False)]
    withheld = {(i, u) for i, u, _ in chosen}
    base = [
        Observation(
            o.observation_id,
            o.author,
            {u: s for u, s in o.votes.items() if (o.observation_id, u) not in withheld},
            ai_prediction=o.ai_prediction,
        )
        for o in crowd.observations
    ]
    state = aggregate(base)
    durations, rewritten, fallbacks = [], 0, 0
    for observation_id, user, species in chosen:
        started = time.perf_counter()
        update = record_vote(state, observation_id=observation_id, user=user, species=species)
        durations.append(time.perf_counter() - started)
        rewritten += len(update.observations)
        fallbacks += update.full_recompute
    started = time.perf_counter()
    full: ReviewState = aggregate(
        Observation(o.observation_id, o.author, o.votes, ai_prediction=o.ai_prediction)
        for o in crowd.observations
    )
    full_seconds = time.perf_counter() - started
    mean = sum(durations) / len(durations)
    return {
        "votes": len(chosen),
        "mean_update_ms": 1000 * mean,
        "full_loop_ms": 1000 * full_seconds,
        "speedup": full_seconds / mean,
        "observations_rewritten_per_vote": rewritten / len(chosen),
        "fallbacks": fallbacks,
        "identical_to_full_loop": full == state,
    }


def _table(results: dict[str, dict]) -> str:
    header = (
        f"{'method':<26}{'accuracy':>10}{'valid':>8}{'acc(valid)':>12}"
        f"{'majority(same valid)':>22}{'rounds':>8}"
    )
    lines = [header, "-" * len(header)]
    for name, row in results.items():

        def cell(key: str, width: int, fmt: str = ".4f", row: dict = row) -> str:
            return f"{format(row[key], fmt):>{width}}" if key in row else f"{'-':>{width}}"

        lines.append(
            f"{name:<26}{cell('accuracy', 10)}{cell('valid', 8, 'd')}"
            f"{cell('accuracy_valid', 12)}{cell('majority_accuracy_same_valid', 22)}"
            f"{cell('rounds', 8, 'd')}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--observations", type=int, default=5000)
    parser.add_argument("--species", type=int, default=200)
    parser.add_argument("--voters", type=int, default=400)
    parser.add_argument("--incremental-votes", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    crowd = simulate_crowd(
        args.seed, observations=args.observations, species=args.species, voters=args.voters
    )
    vote_count = sum(len(o.votes) for o in crowd.observations)
    results = compare(crowd)
    incremental = incremental_timing(crowd, args.incremental_votes, args.seed)
    weights = weights_by_kind(crowd)
    print(
        f"{len(crowd.observations)} observations, {args.species} species, {args.voters} voters "
        f"({', '.join(f'{k} {sum(v == k for v in crowd.kinds.values())}' for k in VOTER_KINDS)})"
        f", {vote_count} votes, seed {args.seed}"
    )
    print(_table(results))
    print(
        "final weights: "
        + "; ".join(
            f"{kind} mean {w['mean']:.2f} max {w['max']:.2f} ({w['at_least_2']} at >= 2)"
            for kind, w in weights.items()
        )
    )
    print(
        f"incremental: {incremental['votes']} votes, {incremental['mean_update_ms']:.2f} ms per "
        f"vote against {incremental['full_loop_ms']:.0f} ms for the full loop "
        f"({incremental['speedup']:.0f}x), {incremental['observations_rewritten_per_vote']:.1f} "
        f"observations rewritten per vote, {incremental['fallbacks']} fallbacks, identical to "
        f"the full loop: {incremental['identical_to_full_loop']}"
    )
    print(f"total {time.perf_counter() - started:.1f} s")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "observations": len(crowd.observations),
                    "species": args.species,
                    "voters": args.voters,
                    "votes": vote_count,
                    "results": results,
                    "weights_by_kind": weights,
                    "incremental": incremental,
                },
                indent=2,
            )
        )
    return 0 if incremental["identical_to_full_loop"] else 1


if __name__ == "__main__":
    sys.exit(main())
