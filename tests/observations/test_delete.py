"""DELETE /v2/observations/{id}: the author's or an operator's right; votes and photos go, the
aggregation follows; everyone else gets Pl@ntNet's 403."""

from __future__ import annotations

import hashlib

import pytest
from dwc_support import counts, make_operator, stored_photo, use_settings, validated
from observations_support import (
    DAFFODIL,
    ERROR_KEYS,
    SNOWDROP,
    keys,
    read,
    saved,
    vote,
)
from sqlalchemy import func, select
from typer.testing import CliRunner

from hortus.bootstrap import prepare_database
from hortus.cli import app as cli_app
from hortus.observations.models import ObservationVote, VoterStanding
from hortus.observations.review_store import recompute, review_policy
from hortus.vision.media import MEDIA_SIZES


def _delete(client, key, observation_id):
    return client.delete(f"/v2/observations/{observation_id}", params={"api-key": key.api_key})


def _votes_on(settings, observation_id: int) -> int:
    database = prepare_database(settings)
    try:
        with database.read() as session:
            return session.scalar(select(func.count(ObservationVote.id)).where(
                ObservationVote.observation_id == observation_id)) or 0
    finally:
        database.dispose()


def _expertise(settings) -> dict[int, int]:
    database = prepare_database(settings)
    try:
        with database.read() as session:
            return dict(session.execute(select(VoterStanding.account_id,
                                               VoterStanding.expertise)).all())
    finally:
        database.dispose()


@pytest.mark.both_databases
def test_the_author_deletes_votes_photos_and_weight_go(obs_client, obs_settings, flora):
    author, b, c, stranger = keys(obs_settings, 4, prefix="del")
    photo = flora.photo("daffodil").read_bytes()
    sha = hashlib.sha256(photo).hexdigest()
    body = validated(obs_client, author, [b, c], photo, DAFFODIL)
    oid = body["id"]
    # Another observation by b, voted on by c: it gains nothing from the deleted one.
    other = saved(obs_client, b, flora.photo("snowdrop"), determination=SNOWDROP)
    vote(obs_client, c, other["id"], SNOWDROP)
    assert _votes_on(obs_settings, int(oid)) > 0
    assert stored_photo(obs_settings, sha) == photo
    before = _expertise(obs_settings)

    refused = _delete(obs_client, stranger, oid)
    assert refused.status_code == 403 and set(refused.json()) == ERROR_KEYS
    assert "author" in refused.json()["message"]
    assert read(obs_client, stranger, oid)["isValid"] is True  # nothing changed
    assert stored_photo(obs_settings, sha) == photo

    answer = _delete(obs_client, author, oid)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": oid, "deleted": True}
    gone = obs_client.get(f"/v2/observations/{oid}", params={"api-key": author.api_key})
    assert gone.status_code == 404 and set(gone.json()) == ERROR_KEYS
    assert _votes_on(obs_settings, int(oid)) == 0
    # The photo and its sizes have left the media store, and are no longer served.
    assert stored_photo(obs_settings, sha) is None
    for size in MEDIA_SIZES:
        assert stored_photo(obs_settings, f"{sha}_{size}") is None
        assert obs_client.get(f"/v2/media/references/{sha}/{size}").status_code == 404
    # Partners learn of it through sync/latest.
    synced = obs_client.get("/v2/observations/sync/latest",
                            params={"api-key": author.api_key, "ids": [oid]}).json()["data"]
    assert [o["deleted"] for o in synced] == [True]
    # The voters lose what the deleted observation gave them, and the stored state is exact.
    after = _expertise(obs_settings)
    assert sum(after.values()) < sum(before.values())
    database = prepare_database(obs_settings)
    try:
        report = recompute(database=database, policy=review_policy(obs_settings))
    finally:
        database.dispose()
    assert report.moved == 0
    assert read(obs_client, b, other["id"])["currentName"] == SNOWDROP
    # Deleting again: it is not there any more.
    assert _delete(obs_client, author, oid).status_code == 404


def test_an_operator_may_delete_anyones_and_a_shared_photo_stays(obs_client, obs_settings,
                                                                 flora):
    author, other, operator = keys(obs_settings, 3, prefix="op")
    photo = flora.photo("sunflower").read_bytes()
    sha = hashlib.sha256(photo).hexdigest()
    first = saved(obs_client, author, photo)
    second = saved(obs_client, other, photo)  # the same photo, saved again by someone else
    assert _delete(obs_client, operator, first["id"]).status_code == 403
    make_operator(obs_settings, operator)
    assert _delete(obs_client, operator, first["id"]).status_code == 200
    # The other observation still shows the photo: it stays, with its sizes.
    assert stored_photo(obs_client.app.state.settings, sha) == photo
    assert obs_client.get(second["images"][0]["m"]).status_code == 200
    assert _delete(obs_client, other, second["id"]).status_code == 200
    assert stored_photo(obs_settings, sha) is None


def test_delete_refuses_unknown_ids_and_missing_keys(obs_client, obs_settings, flora):
    author, = keys(obs_settings, 1, prefix="bad")
    for bad in ("999999", "abc", "-1", "1" * 40):
        answer = _delete(obs_client, author, bad)
        assert answer.status_code == 404 and set(answer.json()) == ERROR_KEYS, bad
    body = saved(obs_client, author, flora.photo("crocus"))
    answer = obs_client.delete(f"/v2/observations/{body['id']}")
    assert answer.status_code == 401 and set(answer.json()) == ERROR_KEYS
    assert read(obs_client, author, body["id"])["deleted"] is False


def test_the_operator_deletes_on_the_command_line(obs_client, obs_settings, flora, monkeypatch):
    author, = keys(obs_settings, 1, prefix="cli")
    body = saved(obs_client, author, flora.photo("pansy"))
    before = counts(obs_settings)
    use_settings(monkeypatch, obs_settings)
    result = CliRunner().invoke(cli_app, ["observations", "delete", body["id"]])
    assert result.exit_code == 0, result.output
    assert "deleted" in result.output
    assert counts(obs_settings)["media"] == before["media"] - 4  # the original and 3 sizes
    again = CliRunner().invoke(cli_app, ["observations", "delete", body["id"]])
    assert again.exit_code == 1 and "not found" in again.output
    synced = obs_client.get("/v2/observations/sync/latest",
                            params={"api-key": author.api_key, "ids": [body["id"]]}).json()
    assert synced["data"][0]["deleted"] is True
