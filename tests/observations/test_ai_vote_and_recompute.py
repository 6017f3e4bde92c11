"""The AI's vote (HORTUS_REVIEW_AI_VOTE): off by default, weight 1.7 when on, never enough to
validate alone; a change of the setting recomputes every label; and the operators' command
``hortus observations recompute``."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from identify_support import flora_settings
from observations_support import DAFFODIL, F0, keys, read, saved, verdict, vote
from typer.testing import CliRunner

from hortus.app import create_app
from hortus.cli import app as cli_app
from hortus.config import Settings
from hortus.review.aggregation import AI_WEIGHT


def test_the_ai_votes_when_the_setting_says_so(obs_settings: Settings, settings, flora):
    author, other = keys(obs_settings, 2, prefix="ai")
    with TestClient(create_app(obs_settings)) as client:
        named = saved(client, author, flora.photo("daffodil"), organs=["flower"],
                      determination=DAFFODIL)
        unnamed = saved(client, other, flora.photo("daffodil", 1), organs=["flower"])
        assert named["identificationResults"][0]["species"] == DAFFODIL
        assert named["isValid"] is False and verdict(named)[0] == pytest.approx(F0)
        assert unnamed["currentName"] == ""  # the AI does not vote: nobody has named it

    fixed = flora_settings(settings, flora, media_backend="database", review_ai_vote="fixed")
    with TestClient(create_app(fixed)) as client:
        # The setting changed: the first vote recomputes every label with the AI's vote.
        vote(client, other, named["id"], DAFFODIL)
        now = read(client, author, named["id"])
        assert now["isValid"] is True
        # The AI's weight is in the confidence, not among the people's votes.
        assert verdict(now) == (pytest.approx(2 * F0 + AI_WEIGHT), pytest.approx(1.0))
        assert now["votes"][0]["count"] == 2
        assert now["votes"][0]["score"]["weight"] == pytest.approx(2 * F0)
        # Alone, the AI names the plant but cannot validate it (1.7 < 2).
        alone = read(client, author, unnamed["id"])
        assert alone["currentName"] == DAFFODIL and alone["isValid"] is False
        assert alone["votes"] == []
        # One newcomer agreeing with the AI is enough: 0.742 + 1.7 >= 2.
        vote(client, author, unnamed["id"], DAFFODIL)
        assert read(client, author, unnamed["id"])["isValid"] is True


@pytest.mark.both_databases
def test_recompute_command_finds_the_stored_state_exact(obs_client, obs_settings, flora,
                                                        monkeypatch):
    author, b, c = keys(obs_settings, 3, prefix="cli")
    oid = saved(obs_client, author, flora.photo("daffodil"), determination=DAFFODIL)["id"]
    vote(obs_client, b, oid, DAFFODIL)
    vote(obs_client, c, oid, DAFFODIL)
    saved(obs_client, b, flora.photo("snowdrop"))
    monkeypatch.setenv("HORTUS_DATA_DIR", str(obs_settings.data_dir))
    if obs_settings.database_url:
        monkeypatch.setenv("HORTUS_DATABASE_URL", obs_settings.database_url)
    monkeypatch.setenv("HORTUS_MODELS_DIR", str(obs_settings.models_dir))
    result = CliRunner().invoke(cli_app, ["observations", "recompute", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report == {"observations": 2, "voters": 3, "valid": 1, "rounds": report["rounds"],
                      "moved": 0}
    assert report["rounds"] >= 5  # the loop runs at least five rounds
    table = CliRunner().invoke(cli_app, ["observations", "recompute"])
    assert table.exit_code == 0 and "valid" in table.output
    # The server goes on from the recomputed state (its kept one is no longer current).
    vote(obs_client, author, oid, DAFFODIL, score=0.3)
    assert read(obs_client, author, oid)["isValid"] is True
