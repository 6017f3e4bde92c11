"""The retraining gate's arithmetic, rollback's choice of version, and the update command's
refusals (no trained project, a bad name, no --eval), without training anything."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hortus.cli import app as cli_app
from hortus.config import Settings
from hortus.observations.retraining import (
    NLL_SIGNIFICANCE,
    UPDATE_FILE,
    UpdateError,
    gate,
    nll_rise_p_value,
    nll_tolerance,
    rollback,
)
from hortus.vision.artifacts import ACTIVE_FILE, MANIFEST_FILE


def figures(top1: float, nll: float, n: int = 40) -> dict:
    return {"n": n, "top1": top1, "nll": nll}


def test_gate_allows_one_photo_and_a_small_nll_rise_and_no_more() -> None:
    assert nll_tolerance(40) == pytest.approx(math.log(2) / 40)
    assert nll_tolerance(200) == 0.01
    active = figures(0.9, 0.30)
    assert gate(active, figures(0.9 - 1 / 40, 0.30)).activated  # one photo fewer
    assert gate(active, figures(0.95, 0.30 + 0.017)).activated  # within ln 2 / 40
    two_fewer = gate(active, figures(0.9 - 2 / 40, 0.20))
    assert not two_fewer.activated and "top-1" in two_fewer.reasons[0]
    worse_nll = gate(active, figures(0.95, 0.30 + 0.018))
    assert not worse_nll.activated and worse_nll.reasons[0].startswith("NLL")
    both = gate(active, figures(0.5, 1.0))
    assert len(both.reasons) == 2
    assert both.to_json()["tolerance"] == {"top1_photos": 1, "nll": nll_tolerance(40),
                                           "nll_significance": NLL_SIGNIFICANCE}


def paired(probabilities: list[float]) -> dict:
    """Figures with per-photo true-class probabilities, as evaluate_folder(per_photo=True)."""
    losses = [-math.log(p) for p in probabilities]
    correct = [p > 0.5 for p in probabilities]
    return {"n": len(probabilities), "top1": sum(correct) / len(correct),
            "nll": sum(losses) / len(losses),
            "per_photo": {"path": [f"p{i}.jpg" for i in range(len(probabilities))],
                          "true_probability": probabilities, "correct": correct}}


def test_an_nll_rise_beyond_the_margin_refuses_only_when_significant() -> None:
    n = 100
    active = [0.9] * 90 + [0.3] * 5 + [0.9] * 5
    # Surer where it was right, surer of its mistakes on photos both versions get wrong: the
    # mean loss rises by more than the margin, the photos disagreeing in both directions.
    noisy = [0.97] * 90 + [0.02] * 5 + [0.9] * 5
    noisy_gate = gate(paired(active), paired(noisy))
    mean_rise = noisy_gate.candidate["nll"] - noisy_gate.active["nll"]
    assert mean_rise > nll_tolerance(n)
    assert noisy_gate.nll_p_value is not None and noisy_gate.nll_p_value >= NLL_SIGNIFICANCE
    assert noisy_gate.activated, noisy_gate.reasons  # top-1 95 -> 95, the NLL rise is noise
    assert noisy_gate.to_json()["nll_p_value"] == noisy_gate.nll_p_value
    # The same mean rise spread over every photo is a real one.
    steady = [p * math.exp(-mean_rise) for p in active]
    steady[0] *= 0.999  # some spread for the t-test
    steady_gate = gate(paired(active), paired(steady))
    assert steady_gate.nll_p_value is not None and steady_gate.nll_p_value < NLL_SIGNIFICANCE
    assert not steady_gate.activated and "paired t-test" in steady_gate.reasons[0]
    # Figures without per-photo values (or of other photos): the margin alone decides.
    bare = {k: v for k, v in paired(noisy).items() if k != "per_photo"}
    assert not gate(paired(active), bare).activated
    elsewhere = paired(noisy)
    elsewhere["per_photo"]["path"] = [f"q{i}.jpg" for i in range(n)]
    assert not gate(paired(active), elsewhere).activated
    assert nll_rise_p_value([0.5, 0.5], [0.4, 0.4]) == 0.0  # no spread: the sign decides
    with pytest.raises(ValueError, match="same photos"):
        nll_rise_p_value([0.5, 0.5], [0.5])


def _version(project_dir: Path, name: str, refused: bool | None = None) -> None:
    (project_dir / name).mkdir(parents=True)
    (project_dir / name / MANIFEST_FILE).write_text("{}")
    if refused is not None:
        (project_dir / name / UPDATE_FILE).write_text(
            json.dumps({"gate": {"activated": not refused}}))


def test_rollback_skips_refused_and_unloadable_versions(tmp_path: Path) -> None:
    project_dir = tmp_path / "projects" / "demo"
    _version(project_dir, "20260101-000000")  # not loadable (empty manifest)
    _version(project_dir, "20260102-000000", refused=True)
    _version(project_dir, "20260103-000000", refused=False)
    (project_dir / ACTIVE_FILE).write_text("20260103-000000\n")
    with pytest.raises(UpdateError, match="no version before 20260103-000000"):
        rollback(name="demo", models_dir=tmp_path)
    assert (project_dir / ACTIVE_FILE).read_text().strip() == "20260103-000000"
    with pytest.raises(UpdateError, match="no trained project"):
        rollback(name="other", models_dir=tmp_path)


def _env(settings: Settings, models_dir: Path) -> dict[str, str]:
    return {"HORTUS_DATA_DIR": str(settings.data_dir),
            "HORTUS_DATABASE_URL": settings.database_url,
            "HORTUS_MODELS_DIR": str(models_dir), "HORTUS_ENVIRONMENT": "test"}


@pytest.mark.parametrize("arguments, message", [
    (["projects", "update", "nothing", "--from-observations", "--dry-run"],
     "no trained project"),
    (["projects", "update", "../etc", "--from-observations", "--dry-run"], "bad project name"),
    (["projects", "rollback", "nothing"], "no trained project"),
])
def test_commands_refuse_unknown_and_hostile_projects(settings: Settings, tmp_path: Path,
                                                      arguments: list[str], message: str) -> None:
    result = CliRunner().invoke(cli_app, arguments, env=_env(settings, tmp_path / "models"))
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split())


@pytest.mark.parametrize("arguments", [
    ["projects", "update", "demo", "--dry-run"],  # where from?
    ["projects", "update", "demo", "--from-observations"],  # no --eval
])
def test_update_needs_its_source_and_evaluation(settings: Settings, tmp_path: Path,
                                                arguments: list[str]) -> None:
    result = CliRunner().invoke(cli_app, arguments, env=_env(settings, tmp_path / "models"))
    assert result.exit_code == 2, result.output
