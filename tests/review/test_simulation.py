"""A small run of the simulated crowd of bench/bench_aggregation.py: on the same votes, the
weighted algorithm's valid labels are more often right than the plain majority vote."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_aggregation.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_aggregation", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_weighted_valid_labels_beat_the_majority_vote(bench: ModuleType) -> None:
    crowd = bench.simulate_crowd(0, observations=500, species=60, voters=80)
    assert len(crowd.observations) == 500 and len(crowd.truth) == 500
    results = bench.compare(crowd, ai_modes=(None, "confident"))
    majority = results["majority vote"]["accuracy"]
    weighted = results["weighted (Pl@ntNet)"]
    assert weighted["valid"] >= 50
    assert weighted["accuracy_valid"] > majority
    assert weighted["accuracy_valid"] > weighted["majority_accuracy_same_valid"] - 0.02
    assert results["weighted + AI confident"]["accuracy_valid"] > majority


def test_the_incremental_update_matches_the_full_loop_on_the_crowd(bench: ModuleType) -> None:
    crowd = bench.simulate_crowd(1, observations=300, species=40, voters=50)
    figures = bench.incremental_timing(crowd, votes=15, seed=1)
    assert figures["identical_to_full_loop"] is True
