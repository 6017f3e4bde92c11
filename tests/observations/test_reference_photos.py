"""Valid observations' photos are related images of their species in a real /v2/identify
answer, with their author and licence — from the moment votes validate the observation until
a vote or a deletion takes its validity away."""

from __future__ import annotations

import hashlib

import pytest
from dwc_support import set_handle, validated
from identify_support import PROJECT
from observations_support import DAFFODIL, SNOWDROP, keys, read, saved, vote


def _daffodil_images(client, key, photo: bytes) -> list[dict]:
    """The related images of the daffodil result for a daffodil photo."""
    answer = client.post(
        f"/v2/identify/{PROJECT}",
        params={"api-key": key.api_key, "include-related-images": "true", "nb-results": "3"},
        files=[("images", ("query.jpg", photo, "image/jpeg"))], data={"organs": ["flower"]})
    assert answer.status_code == 200, answer.text
    results = {r["species"]["scientificNameWithoutAuthor"]: r for r in answer.json()["results"]}
    assert DAFFODIL in results
    return results[DAFFODIL]["images"]


def _sha(image: dict) -> str:
    return image["url"]["o"].rsplit("/", 2)[-2]


@pytest.mark.both_databases
def test_a_validated_observation_is_a_related_image_of_its_species(obs_client, obs_settings,
                                                                   flora):
    author, b, c, d, e = keys(obs_settings, 5, prefix="ref")
    set_handle(obs_settings, author, "rosa")
    query = flora.photo("daffodil", 4).read_bytes()
    photo = flora.photo("daffodil", 5).read_bytes()
    sha = hashlib.sha256(photo).hexdigest()

    references = _daffodil_images(obs_client, author, query)
    assert sha not in [_sha(i) for i in references]

    # Saved, one vote (the author's): not valid, not shown.
    body = saved(obs_client, author, photo, organs=["flower"], determination=DAFFODIL,
                 license="cc-by", date="2024-04-02")
    vote(obs_client, b, body["id"], DAFFODIL)
    assert read(obs_client, author, body["id"])["isValid"] is False
    assert sha not in [_sha(i) for i in _daffodil_images(obs_client, author, query)]

    # A third person agrees: valid, and shown after the model's own reference photos.
    vote(obs_client, c, body["id"], DAFFODIL)
    assert read(obs_client, author, body["id"])["isValid"] is True
    images = _daffodil_images(obs_client, d, query)
    assert [_sha(i) for i in images[:len(references)]] == [_sha(i) for i in references]
    [mine] = [i for i in images if _sha(i) == sha]
    assert mine["author"] == "rosa" and mine["license"] == "cc-by"
    assert mine["organ"] == "flower"
    assert mine["date"]["string"].startswith("2024-04-02")
    assert "rosa" in mine["citation"] and body["id"] in mine["citation"]
    for size in ("o", "m", "s"):
        served = obs_client.get(mine["url"][size])
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"

    # Two people change their minds: no longer valid, no longer shown.
    vote(obs_client, b, body["id"], SNOWDROP)
    vote(obs_client, c, body["id"], SNOWDROP)
    assert read(obs_client, author, body["id"])["isValid"] is False
    assert sha not in [_sha(i) for i in _daffodil_images(obs_client, author, query)]

    # Valid again, then deleted: gone.
    vote(obs_client, b, body["id"], DAFFODIL)
    vote(obs_client, c, body["id"], DAFFODIL)
    assert sha in [_sha(i) for i in _daffodil_images(obs_client, author, query)]
    deleted = obs_client.delete(f"/v2/observations/{body['id']}",
                                params={"api-key": author.api_key})
    assert deleted.status_code == 200
    assert sha not in [_sha(i) for i in _daffodil_images(obs_client, author, query)]

    # At most three per species, and only of that species.
    for i in range(4):
        validated(obs_client, e, [b, c], flora.photo("daffodil", 6 + i), DAFFODIL)
    snowdrop = validated(obs_client, e, [b, c], flora.photo("snowdrop", 6), SNOWDROP)
    images = _daffodil_images(obs_client, author, query)
    contributed = [i for i in images if "Hortus observation" in i["citation"]]
    assert len(contributed) == 3
    assert snowdrop["images"][0]["id"] not in [_sha(i) for i in images]
