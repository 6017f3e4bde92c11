"""GET /v2/observations/sync/latest (order, paging, filters) and
GET /v2/projects/{project}/observations/{id}/identify (a stored observation identified again)."""

from __future__ import annotations

import time

import pytest
from identify_openapi import check_shape
from identify_support import PROJECT
from observations_support import DAFFODIL, ERROR_KEYS, SNOWDROP, keys, saved, vote


def _sync(client, key, **params):
    response = client.get("/v2/observations/sync/latest",
                          params={"api-key": key.api_key, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    check_shape(body, "Partner observations")
    return body


@pytest.mark.both_databases
def test_sync_latest_lists_by_last_update(obs_client, obs_settings, flora):
    alice, bob = keys(obs_settings, 2, prefix="sync")
    first = saved(obs_client, alice, flora.photo("daffodil"), determination=DAFFODIL)["id"]
    second = saved(obs_client, bob, flora.photo("snowdrop"), determination=SNOWDROP)["id"]
    third = saved(obs_client, alice, flora.photo("sunflower"))["id"]
    assert [o["id"] for o in _sync(obs_client, alice)["data"]] == [first, second, third]

    time.sleep(0.01)
    vote(obs_client, bob, first, DAFFODIL)  # the first is now the latest updated
    page = _sync(obs_client, alice)
    assert [o["id"] for o in page["data"]] == [second, third, first]
    assert page["hasMore"] is False and "next" not in page and "prev" not in page
    assert page["nextStartDate"] == str(page["data"][-1]["dateUpdated"])

    # Paging: two, then the rest; the links carry no key.
    head = _sync(obs_client, alice, limit=2)
    assert [o["id"] for o in head["data"]] == [second, third] and head["hasMore"] is True
    assert "offset=2" in head["next"] and "api-key" not in head["next"]
    tail = _sync(obs_client, alice, limit=2, offset=2)
    assert [o["id"] for o in tail["data"]] == [first] and tail["hasMore"] is False
    assert "offset=0" in tail["prev"]

    # From a date (inclusive): the last page's nextStartDate gives the last one again.
    since = _sync(obs_client, alice, startDate=page["nextStartDate"])
    assert [o["id"] for o in since["data"]] == [first]
    before = _sync(obs_client, alice, endDate=page["data"][0]["dateUpdated"])
    assert [o["id"] for o in before["data"]] == [second]
    assert _sync(obs_client, alice, startDate=10**13)["data"] == []

    # Filters: ids, and the caller's own e-mail address.
    chosen = _sync(obs_client, alice, ids=[third, first, "nope"])
    assert [o["id"] for o in chosen["data"]] == [third, first]
    assert _sync(obs_client, alice, ids=["nope"])["data"] == []
    own = _sync(obs_client, alice, email="SYNC0@example.org")
    assert [o["id"] for o in own["data"]] == [third, first]
    other = obs_client.get("/v2/observations/sync/latest",
                           params={"api-key": alice.api_key, "email": "sync1@example.org"})
    assert other.status_code == 403 and set(other.json()) == ERROR_KEYS


def test_sync_latest_refuses_bad_parameters(obs_client, obs_settings):
    (key,) = keys(obs_settings, 1, prefix="badsync")
    for params in ({"limit": 0}, {"limit": 10001}, {"limit": "x"}, {"offset": -1},
                   {"startDate": "yesterday"}, {"startDate": -5}, {"endDate": "1e400"},
                   {"startDate": "NaN"}, {"ids": ["1" * 50]},
                   {"ids": [str(i) for i in range(101)]}):
        response = obs_client.get("/v2/observations/sync/latest",
                                  params={"api-key": key.api_key, **params})
        assert response.status_code == 400, (params, response.text)
        assert set(response.json()) == ERROR_KEYS
    assert obs_client.get("/v2/observations/sync/latest").status_code == 401


@pytest.mark.both_databases
def test_a_stored_observation_is_identified_again(obs_client, obs_settings, flora):
    author, partner = keys(obs_settings, 2, prefix="again")
    body = saved(obs_client, author, flora.photo("sunflower"), flora.photo("sunflower", 1),
                 organs=["flower", "leaf"])
    oid = body["id"]
    used = obs_client.get("/v2/quota", params={"api-key": partner.api_key}).json()
    response = obs_client.get(f"/v2/projects/{PROJECT}/observations/{oid}/identify",
                              params={"api-key": partner.api_key, "includeSimilarImages": "true",
                                      "lang": "fr"})
    assert response.status_code == 200, response.text
    result = response.json()
    check_shape(result, "Identification result")
    assert result["results"][0]["species"]["scientificNameWithoutAuthor"] == "Helianthus annuus"
    assert result["query"]["organs"] == ["flower", "leaf"]
    assert result["query"]["project"] == PROJECT and result["language"] == "fr"
    assert result["results"][0]["images"]  # similar images asked for
    after = obs_client.get("/v2/quota", params={"api-key": partner.api_key}).json()
    assert after["quota"]["identify"]["count"] == used["quota"]["identify"]["count"] + 1
    # Organ votes change what is sent: the photos are identified with their current organs.
    image = body["images"][1]["id"]
    for voter in keys(obs_settings, 2, prefix="organist"):
        obs_client.post(f"/v2/observations/{oid}/votes/image/{image}/organ",
                        params={"api-key": voter.api_key}, json={"organ": "flower", "score": 1})
    again = obs_client.get(f"/v2/projects/best/observations/{oid}/identify",
                           params={"api-key": partner.api_key})
    assert again.status_code == 200, again.text
    assert again.json()["query"]["organs"] == ["flower", "flower"]

    for url, status in ((f"/v2/projects/nowhere/observations/{oid}/identify", 404),
                        (f"/v2/projects/{PROJECT}/observations/123456/identify", 404),
                        (f"/v2/projects/{PROJECT}/observations/x/identify", 404)):
        response = obs_client.get(url, params={"api-key": partner.api_key})
        assert response.status_code == status, (url, response.text)
        assert set(response.json()) == ERROR_KEYS
    bad_lang = obs_client.get(f"/v2/projects/{PROJECT}/observations/{oid}/identify",
                              params={"api-key": partner.api_key, "lang": "klingon"})
    assert bad_lang.status_code == 400
    assert obs_client.get(f"/v2/projects/{PROJECT}/observations/{oid}/identify").status_code \
        == 401
