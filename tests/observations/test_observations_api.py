"""POST /v2/observations and GET /v2/observations/{id} over HTTP, with real photos, the trained
flora and a real database: what is stored, what is answered, what it costs."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from identify_openapi import check_shape
from identify_support import PROJECT
from observations_support import (
    DAFFODIL,
    ERROR_KEYS,
    F0,
    keys,
    read,
    save,
    saved,
    verdict,
)
from tests.conftest import make_key

from hortus.config import Settings


def _used(client: TestClient, key) -> int:
    quota = client.get("/v2/quota", params={"api-key": key.api_key}).json()
    return quota["quota"]["identify"]["count"]


@pytest.mark.both_databases
def test_saved_observation_answers_pl_ntnet_partner_observation(obs_client, obs_settings, flora):
    key = make_key(obs_settings)
    photos = [flora.photo("daffodil"), flora.photo("daffodil", 1)]
    before = _used(obs_client, key)
    body = saved(obs_client, key, *photos, organs=["flower", "leaf"],
                 determination="narcissus  PSEUDONARCISSUS", date="2024-04-02",
                 lat="43.61", lon="3.87", accuracy="12", place="Montpellier")
    check_shape(body, "Partner observation")
    assert _used(obs_client, key) == before + 1  # saving identified the photos once

    assert body["license"] == "cc-by-sa"
    assert body["licenseUrl"] == "https://creativecommons.org/licenses/by-sa/4.0/"
    # The determination is spelled as the knowledge base spells it, and is the author's vote.
    assert body["submittedName"] == body["currentName"] == DAFFODIL
    assert body["species"]["name"] == DAFFODIL and body["species"]["author"] == "L."
    assert body["species"]["family"] == "Amaryllidaceae"
    assert body["species"]["genus"] == "Narcissus"
    assert body["isValid"] is False and body["isRevised"] is False  # one newcomer: 0.742 < 2
    assert verdict(body) == (pytest.approx(F0), pytest.approx(1.0))
    assert body["votes"] == [{"name": DAFFODIL, "count": 1, "selected": True,
                              "score": {"weight": pytest.approx(F0), "share": 1.0,
                                        "confidence": pytest.approx(F0), "accuracy": 1.0}}]
    assert body["geo"] == {"lat": 43.61, "lon": 3.87, "place": "Montpellier", "accuracy": 12.0}
    assert body["dateObs"] == int(datetime(2024, 4, 2, tzinfo=UTC).timestamp() * 1000)
    assert body["dateCreated"] == body["dateUpdated"]
    assert body["project"] == "all"
    assert body["partner"] == {"id": "hortus", "observation_id": body["id"]}
    assert body["author"]["name"] and "@" not in body["author"]["name"]

    # The AI's suggestions, as made when the observation was saved (best first).
    suggestions = body["identificationResults"]
    assert 1 <= len(suggestions) <= 5 and suggestions[0]["species"] == DAFFODIL
    assert [s["score"] for s in suggestions] == sorted((s["score"] for s in suggestions),
                                                       reverse=True)

    # The photos: ids are the sha256 of the bytes sent; every size is served, without a key.
    assert [image["id"] for image in body["images"]] == [
        hashlib.sha256(p.read_bytes()).hexdigest() for p in photos]
    assert [image["organ"] for image in body["images"]] == ["flower", "leaf"]
    assert body["images"][0]["organs_votes"] == {"flower": 1}
    assert body["images"][0]["quality_votes"] == {"good": 0, "bad": 0}
    for size in ("o", "m", "s"):
        served = obs_client.get(body["images"][0][size])
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"

    # Reading it back gives the same observation.
    assert read(obs_client, key, body["id"]) == body


def test_unknown_determination_and_defaults(obs_client, obs_settings, flora):
    key = make_key(obs_settings)
    body = saved(obs_client, key, flora.photo("sunflower"), determination="unknown",
                 licence="CC0-1.0")
    assert "submittedName" not in body and body["currentName"] == ""
    assert body["species"] == {"name": "", "author": "", "commonNames": [], "family": ""}
    assert body["votes"] == [] and body["isValid"] is False and body["isRevised"] is False
    assert body["license"] == "cc0" and "geo" not in body
    assert body["images"][0]["organ"] == "auto"  # no organ said, none voted
    assert abs(body["dateObs"] - datetime.now(UTC).timestamp() * 1000) < 120_000


@pytest.mark.both_databases
def test_bad_forms_are_refused_before_any_quota(obs_client, obs_settings, flora):
    key = make_key(obs_settings)
    photo = flora.photo("daffodil")
    cases = [  # (photos sent, organs, other fields): each a 400
        (0, None, {"determination": DAFFODIL}),  # no photo at all
        (1, ["stem"], {}),
        (1, ["flower", "leaf"], {}),  # two organs, one photo
        (1, None, {"determination": "Planta imaginaria"}),
        (1, None, {"determination": "x" * 400}),
        (1, None, {"date": "2024-13-45"}),
        (1, None, {"date": "2999-01-01"}),
        (1, None, {"date": "1e400"}),
        (1, None, {"lat": "91", "lon": "0"}),
        (1, None, {"lat": "45"}),  # lat without lon
        (1, None, {"lat": "NaN", "lon": "1"}),
        (1, None, {"license": "all-rights-reserved"}),
        (1, None, {"place": "p" * 400}),
    ]
    before = _used(obs_client, key)
    for count, organs, fields in cases:
        response = save(obs_client, key, *[photo] * count, organs=organs, **fields)
        assert response.status_code == 400, (organs, fields, response.text)
        assert set(response.json()) == ERROR_KEYS, response.text
    # The same photo twice is one photo sent twice, not two views of the plant.
    twice = save(obs_client, key, photo, photo)
    assert twice.status_code == 400 and "same photo" in twice.json()["message"]
    assert _used(obs_client, key) == before


def test_wrong_photos_project_key_and_bodies(obs_client, obs_settings, flora):
    key = make_key(obs_settings)
    photo = flora.photo("daffodil")
    missing_key = obs_client.post("/v2/observations", files=[("images", ("a.jpg", b"x"))])
    assert missing_key.status_code == 401 and set(missing_key.json()) == ERROR_KEYS
    bad_key = obs_client.post("/v2/observations", params={"api-key": "nope.nope"},
                              files=[("images", ("a.jpg", photo.read_bytes()))])
    assert bad_key.status_code == 401
    not_an_image = save(obs_client, key, b"GIF89a" + b"\x00" * 100)
    assert not_an_image.status_code == 415, not_an_image.text
    truncated = save(obs_client, key, photo.read_bytes()[:2000])
    assert truncated.status_code == 400, truncated.text
    unknown_project = save(obs_client, key, photo, params={"project": "nowhere"})
    assert unknown_project.status_code == 404
    assert unknown_project.json()["message"] == "Project not found"
    as_json = obs_client.post("/v2/observations", params={"api-key": key.api_key},
                              json={"images": []})
    assert as_json.status_code == 415
    too_big = obs_client.post("/v2/observations", params={"api-key": key.api_key},
                              content=b"x" * 10,
                              headers={"content-type": "multipart/form-data; boundary=b",
                                       "content-length": str(200 * 1024 * 1024)})
    assert too_big.status_code == 413 and set(too_big.json()) == ERROR_KEYS


def test_a_named_project_and_a_stored_observation_read_by_others(obs_client, obs_settings,
                                                                  flora):
    author, reader = keys(obs_settings, 2, prefix="reader")
    body = saved(obs_client, author, flora.photo("snowdrop"), organs=["flower"],
                 params={"project": PROJECT})
    assert body["project"] == PROJECT
    assert read(obs_client, reader, body["id"]) == body
    for bad in ("abc", "0", "-1", "99999999", "1" * 40, "1.5", "%20"):
        response = obs_client.get(f"/v2/observations/{bad}", params={"api-key": reader.api_key})
        assert response.status_code == 404, bad
        assert set(response.json()) == ERROR_KEYS
    assert obs_client.get(f"/v2/observations/{body['id']}").status_code == 401


def test_settings_default_the_ai_vote_off(obs_settings: Settings) -> None:
    assert obs_settings.review_ai_vote == "off"
