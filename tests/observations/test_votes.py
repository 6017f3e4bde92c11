"""Votes over HTTP: the published validity rule on a hand-checked case, re-voting replaces,
organ and quality votes, and every malformed vote answered with a 4xx in Pl@ntNet's format."""

from __future__ import annotations

import pytest
from observations_support import (
    DAFFODIL,
    ERROR_KEYS,
    F0,
    SNOWDROP,
    keys,
    read,
    saved,
    verdict,
    vote,
)


@pytest.mark.both_databases
def test_validity_follows_the_published_rule_vote_by_vote(obs_client, obs_settings, flora):
    """Five newcomers (weight f(0) = ln 2.1 = 0.742 each; nobody has an expertise count above
    1, so nobody weighs more), checked by hand:

    author + 1 agree         conf 1.484  acc 1.0    invalid (conf < 2)
    author + 2 agree         conf 2.226  acc 1.0    valid
    + 2 vote another species conf 2.226  acc 0.6    invalid (acc < 0.7), label unchanged
    one of them changes mind conf 2.968  acc 0.8    valid (a replaced vote, not a sixth one)
    """
    author, b, c, d, e = keys(obs_settings, 5)
    body = saved(obs_client, author, flora.photo("daffodil"), organs=["flower"],
                 determination=DAFFODIL)
    oid = body["id"]

    def state() -> tuple[str, float, float, bool]:
        now = read(obs_client, author, oid)
        return (now["currentName"], *verdict(now), now["isValid"])

    assert vote(obs_client, b, oid, DAFFODIL).json() == {"updated": True}
    assert state() == (DAFFODIL, pytest.approx(2 * F0), pytest.approx(1.0), False)
    assert vote(obs_client, c, oid, DAFFODIL).json() == {"updated": True}
    assert state() == (DAFFODIL, pytest.approx(3 * F0), pytest.approx(1.0), True)
    vote(obs_client, d, oid, SNOWDROP)
    vote(obs_client, e, oid, SNOWDROP)
    assert state() == (DAFFODIL, pytest.approx(3 * F0), pytest.approx(0.6), False)
    assert vote(obs_client, e, oid, DAFFODIL).json() == {"updated": True}
    assert state() == (DAFFODIL, pytest.approx(4 * F0), pytest.approx(0.8), True)

    final = read(obs_client, author, oid)
    assert final["votes"] == [
        {"name": DAFFODIL, "count": 4, "selected": True,
         "score": {"weight": pytest.approx(4 * F0), "share": pytest.approx(0.8),
                   "confidence": pytest.approx(4 * F0), "accuracy": pytest.approx(0.8)}},
        {"name": SNOWDROP, "count": 1, "selected": False,
         "score": {"weight": pytest.approx(F0), "share": pytest.approx(0.2)}}]
    # The same vote again changes nothing, and says so.
    assert vote(obs_client, e, oid, DAFFODIL).json() == {"updated": False}
    assert vote(obs_client, e, oid, DAFFODIL, score=0.5).json() == {"updated": True}
    assert read(obs_client, author, oid)["votes"][0]["count"] == 4


def test_the_author_revising_is_the_author_changing_their_vote(obs_client, obs_settings, flora):
    author, b, c = keys(obs_settings, 3, prefix="revise")
    oid = saved(obs_client, author, flora.photo("snowdrop"), determination=DAFFODIL)["id"]
    vote(obs_client, b, oid, SNOWDROP)
    vote(obs_client, c, oid, SNOWDROP)
    now = read(obs_client, author, oid)
    assert now["submittedName"] == DAFFODIL and now["currentName"] == SNOWDROP
    assert now["isRevised"] is True and now["isValid"] is False  # acc 2/3 < 0.7
    vote(obs_client, author, oid, SNOWDROP)  # the author agrees: their vote is replaced
    now = read(obs_client, author, oid)
    assert now["submittedName"] == now["currentName"] == SNOWDROP
    assert now["isRevised"] is False and now["isValid"] is True  # 3 x 0.742, acc 1
    assert now["votes"] == [{"name": SNOWDROP, "count": 3, "selected": True,
                             "score": {"weight": pytest.approx(3 * F0), "share": 1.0,
                                       "confidence": pytest.approx(3 * F0), "accuracy": 1.0}}]


@pytest.mark.both_databases
def test_organ_and_quality_votes(obs_client, obs_settings, flora):
    author, b, c, d = keys(obs_settings, 4, prefix="organ")
    body = saved(obs_client, author, flora.photo("daffodil"), organs=["leaf"],
                 determination=DAFFODIL)
    oid, image = body["id"], body["images"][0]["id"]
    organ = f"/v2/observations/{oid}/votes/image/{image}/organ"
    quality = f"/v2/observations/{oid}/votes/image/{image}/quality"

    def post(key, url, payload):
        response = obs_client.post(url, params={"api-key": key.api_key}, json=payload)
        assert response.status_code == 200, response.text
        return response.json()

    assert post(b, organ, {"organ": "flower", "score": 0.9}) == {"updated": True}
    assert read(obs_client, b, oid)["images"][0]["organ"] == "leaf"  # 1-1: the author's wins
    post(c, organ, {"organ": "flower", "score": 1})
    now = read(obs_client, b, oid)["images"][0]
    assert now["organ"] == "flower" and now["organs_votes"] == {"leaf": 1, "flower": 2}
    post(c, organ, {"organ": "fruit", "score": 1})  # replaced, not added
    now = read(obs_client, b, oid)["images"][0]
    assert now["organ"] == "leaf" and now["organs_votes"] == {"leaf": 1, "flower": 1,
                                                              "fruit": 1}
    # Hash spelled in capitals names the same photo.
    assert post(c, organ.replace(image, image.upper()), {"organ": "fruit", "score": 1}) == {
        "updated": False}

    # Quality: valid with three agreeing voters; a bad photo cannot stay valid.
    vote(obs_client, b, oid, DAFFODIL)
    vote(obs_client, c, oid, DAFFODIL)
    assert read(obs_client, b, oid)["isValid"] is True
    post(d, quality, {"quality": False})  # score 1 + 4 * 0/1 = 1 < 2
    now = read(obs_client, b, oid)
    assert now["isValid"] is False and now["images"][0]["quality_votes"] == {"good": 0,
                                                                              "bad": 1}
    post(b, quality, {"quality": True})  # score 1 + 4 * 1/2 = 3
    assert read(obs_client, b, oid)["isValid"] is True
    post(b, quality, {"quality": False})  # b changes their mind: 0 good, 2 bad
    now = read(obs_client, b, oid)
    assert now["isValid"] is False and now["images"][0]["quality_votes"] == {"good": 0,
                                                                              "bad": 2}


@pytest.mark.both_databases
def test_malformed_votes_get_a_4xx_in_pl_ntnet_format(obs_client, obs_settings, flora):
    author, voter = keys(obs_settings, 2, prefix="hostile")
    body = saved(obs_client, author, flora.photo("daffodil"), determination=DAFFODIL)
    oid, image = body["id"], body["images"][0]["id"]
    determination = f"/v2/observations/{oid}/votes/determination"
    organ = f"/v2/observations/{oid}/votes/image/{image}/organ"
    quality = f"/v2/observations/{oid}/votes/image/{image}/quality"
    key = {"api-key": voter.api_key}
    cases = [
        (determination, {}, {"json": {"name": DAFFODIL, "score": 1}}, 401),
        (determination, {"api-key": "abc.def"}, {"json": {"name": DAFFODIL, "score": 1}}, 401),
        (determination, key, {"json": {"name": DAFFODIL}}, 400),
        (determination, key, {"json": {"score": 1}}, 400),
        (determination, key, {"json": {"name": "", "score": 1}}, 400),
        (determination, key, {"json": {"name": "Planta imaginaria", "score": 1}}, 400),
        (determination, key, {"json": {"name": DAFFODIL, "score": -1}}, 400),
        (determination, key, {"json": {"name": DAFFODIL, "score": "high"}}, 400),
        (determination, key, {"json": {"name": ["x"], "score": 1}}, 400),
        (determination, key, {"json": [DAFFODIL]}, 400),
        (determination, key, {"content": b'{"name": "x", "score": NaN}',
                              "headers": {"content-type": "application/json"}}, 400),
        (determination, key, {"content": b'{"name": ', "headers": {
            "content-type": "application/json"}}, 400),
        (determination, key, {"content": b""}, 400),
        (determination, key, {"content": b"name=x", "headers": {
            "content-type": "application/x-www-form-urlencoded"}}, 415),
        (determination, key, {"content": b"[" * 2_000_000, "headers": {
            "content-type": "application/json"}}, 413),
        (organ, key, {"json": {"organ": "stem", "score": 1}}, 400),
        (organ, key, {"json": {"organ": "auto", "score": 1}}, 400),
        (organ, key, {"json": {"organ": "leaf", "score": -0.1}}, 400),
        (organ, key, {"json": {"organ": "leaf"}}, 400),
        (quality, key, {"json": {"quality": "yes"}}, 400),
        (quality, key, {"json": {"quality": 1}}, 400),
        (quality, key, {"json": {}}, 400),
        (f"/v2/observations/{oid}/votes/image/{'0' * 64}/organ", key,
         {"json": {"organ": "leaf", "score": 1}}, 404),
        (f"/v2/observations/{oid}/votes/image/not-a-hash/quality", key,
         {"json": {"quality": True}}, 404),
        ("/v2/observations/999999/votes/determination", key,
         {"json": {"name": DAFFODIL, "score": 1}}, 404),
        ("/v2/observations/abc/votes/determination", key,
         {"json": {"name": DAFFODIL, "score": 1}}, 404),
        (f"/v2/observations/{'9' * 30}/votes/image/{image}/quality", key,
         {"json": {"quality": True}}, 404),
    ]
    for url, params, request, status in cases:
        response = obs_client.post(url, params=params, **request)
        assert response.status_code == status, (url, request, response.text)
        assert set(response.json()) == ERROR_KEYS, response.text
    assert obs_client.get(determination, params=key).status_code == 405
    # None of that counted: the observation has its author's vote only.
    assert read(obs_client, voter, oid)["votes"][0]["count"] == 1
