"""Random malformed requests against every observation route: never a 5xx, always JSON in
Pl@ntNet's error format for a 4xx."""

from __future__ import annotations

import random

import pytest
from fastapi.testclient import TestClient
from observations_support import DAFFODIL, ERROR_KEYS, keys, saved

from hortus.app import create_app

REQUESTS = 250
JUNK = [b"", b"\x00" * 10, b"\xff\xd8\xff" + bytes(range(200)), b"GIF89a" + b"\x01" * 50,
        bytes(random.Random(5).randrange(256) for _ in range(1000)), "é€😀".encode(), b"{}",
        b"[]", b"null", b'{"name": null, "score": null}', b'{"organ": "leaf", "score": 1e999}',
        b'{"quality": null}', b'{"name": "Narcissus pseudonarcissus", "score": 1}']
VALUES = ["", "0", "-1", "1e9", "abc", "' OR 1=1 --", "%00", "\u202e", "true", "null", "x" * 3000,
          "😀", "[]", "1.5", "NaN", "-Infinity", "2024-13-45T99:00:00Z", "9" * 40]
PARAMS = ["startDate", "endDate", "email", "ids", "offset", "limit", "includeSimilarImages",
          "lang", "type", "project"]
FIELDS = ["determination", "date", "lat", "lon", "accuracy", "place", "license", "organs"]


def _paths(oid: str, image: str) -> list[str]:
    ids = [oid, "0", "abc", "-1", "9" * 40, "%00", "1.0"]
    hashes = [image, image.upper(), "0" * 64, "xyz", "a" * 500]
    rnd = random.Random(len(oid))
    return [
        "/v2/observations", "/v2/observations/sync/latest",
        *[f"/v2/observations/{oid}"] * 10,  # often a real one: some requests must get through
        *(f"/v2/observations/{i}" for i in ids),
        *(f"/v2/observations/{i}/votes/determination" for i in ids),
        *(f"/v2/observations/{rnd.choice(ids)}/votes/image/{h}/{kind}"
          for h in hashes for kind in ("organ", "quality")),
        *(f"/v2/projects/{p}/observations/{rnd.choice(ids)}/identify"
          for p in ("all", "best", "nope", "x" * 300)),
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_random_malformed_requests_never_get_a_server_error(obs_settings, flora, seed):
    author, key = keys(obs_settings, 2, prefix=f"hostile{seed}-")
    rnd = random.Random(seed)
    photo = flora.photo("daffodil").read_bytes()
    failures, statuses = [], set()
    with TestClient(create_app(obs_settings), raise_server_exceptions=False) as client:
        body = saved(client, author, flora.photo("daffodil"), determination=DAFFODIL)
        paths = _paths(body["id"], body["images"][0]["id"])
        for _ in range(REQUESTS // 2):
            params = {rnd.choice(PARAMS): rnd.choice(VALUES) for _ in range(rnd.randint(0, 3))}
            if rnd.random() < 0.85:
                params["api-key"] = key.api_key
            request: dict = {"method": rnd.choice(["GET", "POST", "POST", "PUT", "DELETE"]),
                             "url": rnd.choice(paths), "params": params}
            if request["method"] in ("POST", "PUT"):
                roll = rnd.random()
                if roll < 0.35:
                    request["files"] = [("images", ("f.jpg", rnd.choice([*JUNK, photo]),
                                                    "image/jpeg"))
                                        for _ in range(rnd.randint(0, 6))]
                    request["data"] = {rnd.choice(FIELDS): rnd.choice(VALUES)
                                       for _ in range(rnd.randint(0, 4))}
                elif roll < 0.7:
                    request["content"] = rnd.choice(JUNK)
                    request["headers"] = {"content-type": rnd.choice(
                        ["application/json", "text/plain", "multipart/form-data",
                         "multipart/form-data; boundary=x", "application/json; charset=latin1"])}
                else:
                    request["json"] = rnd.choice([
                        {"name": rnd.choice(VALUES), "score": rnd.choice([1, -1, "1", None])},
                        {"organ": rnd.choice(["leaf", "auto", "", None]), "score": 0},
                        {"quality": rnd.choice([True, "false", 0, None])}, [1], "x", None])
            response = client.request(**request)
            statuses.add(response.status_code)
            if response.status_code >= 500:
                failures.append((request["method"], request["url"], params,
                                 response.status_code, response.text[:200]))
            elif response.status_code >= 400:
                assert set(response.json()) >= ERROR_KEYS, (request, response.text)
    assert not failures, failures[:5]
    assert any(200 <= s < 300 for s in statuses) and {400, 401, 404} <= statuses
