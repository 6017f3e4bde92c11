"""What public Pl@ntNet clients send, as they send it: Pl@ntNet's own project ids, organs in the
query string, large ``nb-results``, Authenix tokens; the quota history route; the error wording;
and no quota unit spent on any request refused for a client error."""

from __future__ import annotations

import pytest
import requests
from fastapi.testclient import TestClient
from identify_openapi import check_shape
from identify_support import CLASSES, PROJECT, flora_settings, noise_jpeg
from tests.conftest import LiveServer, make_key

from hortus.app import create_app
from hortus.db import utcnow

ERROR_KEYS = {"statusCode", "error", "message"}
PROJECT_NOT_FOUND = {"statusCode": 404, "error": "Not Found", "message": "Project not found"}


def _files(*items) -> list:
    return [("images", (f"photo_{i}.jpg", item if isinstance(item, bytes) else item.read_bytes(),
                        "image/jpeg")) for i, item in enumerate(items)]


def _used(client: TestClient, key) -> int:
    return client.get("/v2/quota", params={"api-key": key.api_key}).json()[
        "quota"]["identify"]["count"]


@pytest.mark.parametrize("plantnet_id", ["k-world-flora", "k-southwestern-europe", "weurope",
                                         "useful", "the-plant-list", "k-middle-europe"])
def test_plantnet_project_ids_answer_from_the_union_flora(plantnet_id, id_client, id_settings,
                                                          flora):
    key = make_key(id_settings)
    response = id_client.post(f"/v2/identify/{plantnet_id}", params={"api-key": key.api_key},
                              files=_files(flora.photo("dandelion")), data={"organs": "flower"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"]["project"] == plantnet_id  # echoed as sent
    assert body["results"][0]["species"]["scientificNameWithoutAuthor"] == "Taraxacum officinale"
    params = {"api-key": key.api_key, "pageSize": ""}
    species = id_client.get(f"/v2/projects/{plantnet_id}/species", params=params)
    assert species.status_code == 200, species.text
    assert species.json() == id_client.get("/v2/species", params=params).json()


def test_unknown_project_and_no_species_are_two_different_404s(id_client, id_settings, flora):
    key = make_key(id_settings)
    params = {"api-key": key.api_key}
    for project in ("moon-flora", "K_World_Flora", "k-", "k-world-flora/extra"):
        response = id_client.post(f"/v2/identify/{project}", params=params,
                                  files=_files(flora.photo("dandelion")),
                                  data={"organs": "flower"})
        if response.status_code == 404 and response.json().get("message") == (
                "Project not found"):
            assert response.json() == PROJECT_NOT_FOUND
        else:  # a path with a slash is no route at all; still Pl@ntNet's body
            assert response.status_code == 404 and set(response.json()) == ERROR_KEYS
            assert response.json()["message"] != "Species not found"
    assert id_client.get("/v2/projects/moon-flora/species", params=params).json() == (
        PROJECT_NOT_FOUND)
    nothing = id_client.post("/v2/identify/k-world-flora", params=params,
                             files=_files(noise_jpeg(3), noise_jpeg(4)),
                             data={"organs": ["leaf", "leaf"]})
    assert nothing.json() == {"statusCode": 404, "error": "Not Found",
                              "message": "Species not found"}
    assert _used(id_client, key) == 0


def test_an_operator_maps_plantnet_ids_to_local_projects(settings, flora):
    mapped = flora_settings(settings, flora, project_aliases={
        "k-world-flora": PROJECT, "my-garden": "all", "k-northern-europe": "gone-project"})
    key = make_key(mapped)
    params = {"api-key": key.api_key}
    with TestClient(create_app(mapped)) as client:
        body = client.post("/v2/identify/k-world-flora", params=params,
                           files=_files(flora.photo("pansy")), data={"organs": "flower"}).json()
        assert body["query"]["project"] == "k-world-flora"
        assert body["preferedReferential"] == PROJECT
        species = client.get("/v2/projects/k-world-flora/species", params=params).json()
        assert {s["id"] for s in species} == {
            s["id"] for s in client.get(f"/v2/projects/{PROJECT}/species", params=params).json()}
        assert len(species) == len(CLASSES)
        assert client.get("/v2/projects/my-garden/species", params=params).status_code == 200
        # an alias to a project the server does not have is the operator's mistake: 404
        gone = client.get("/v2/projects/k-northern-europe/species", params=params)
        assert gone.json() == PROJECT_NOT_FOUND


def test_organs_in_the_query_string_are_honoured_when_the_form_has_none(id_client, id_settings,
                                                                        flora):
    key = make_key(id_settings)
    photos = _files(flora.photo("daffodil"), flora.photo("daffodil", 1))
    in_query = id_client.post(f"/v2/identify/{PROJECT}",
                              params={"api-key": key.api_key, "organs": ["flower", "leaf"]},
                              files=photos)
    assert in_query.status_code == 200, in_query.text
    assert in_query.json()["query"]["organs"] == ["flower", "leaf"]
    both = id_client.post(f"/v2/identify/{PROJECT}",
                          params={"api-key": key.api_key, "organs": ["leaf", "leaf"]},
                          files=photos, data={"organs": ["fruit", "flower"]})
    assert both.json()["query"]["organs"] == ["fruit", "flower"]  # the form wins
    wrong = id_client.post(f"/v2/identify/{PROJECT}",
                           params={"api-key": key.api_key, "organs": ["flower"]}, files=photos)
    assert wrong.status_code == 400 and "organs" in wrong.json()["message"]
    assert _used(id_client, key) == 2


@pytest.mark.both_databases
def test_nb_results_has_no_maximum_but_a_minimum_of_one(id_client, id_settings, flora):
    key = make_key(id_settings)
    for asked in ("1001", "100000000000"):
        response = id_client.post(f"/v2/identify/{PROJECT}",
                                  params={"api-key": key.api_key, "nb-results": asked},
                                  files=_files(flora.photo("daffodil")), data={"organs": "flower"})
        assert response.status_code == 200, response.text
        assert len(response.json()["results"]) == len(CLASSES)  # every species there is
    for bad in ("0", "-3", "ten"):
        refused = id_client.post(f"/v2/identify/{PROJECT}",
                                 params={"api-key": key.api_key, "nb-results": bad},
                                 files=_files(flora.photo("daffodil")), data={"organs": "flower"})
        assert refused.status_code == 400 and "nb-results" in refused.json()["message"]
    assert _used(id_client, key) == 2


@pytest.mark.parametrize(("case", "status"), [
    ("bad nb-results", 400), ("bad lang", 400), ("bad type", 400), ("bad boolean", 400),
    ("lang twice", 400), ("unknown project", 404), ("uri too long", 414),
    ("declared too large", 413), ("no body", 400), ("bad url", 400), ("no key", 401),
    ("authenix only", 401),
])
def test_no_client_error_uses_a_unit_of_quota(case, status, settings, flora):
    capped = flora_settings(settings, flora, max_upload_bytes=64 * 1024)
    key = make_key(capped)
    photo = flora.photo("daffodil").read_bytes()
    params: dict = {"api-key": key.api_key}
    project, method, kwargs = PROJECT, "POST", {"files": _files(photo),
                                                "data": {"organs": "flower"}}
    extra = {"bad nb-results": {"nb-results": "0"}, "bad lang": {"lang": "xx"},
             "bad type": {"type": "new"}, "bad boolean": {"no-reject": "maybe"},
             "lang twice": {"lang": ["fr", "xx"]}, "uri too long": {"x": "y" * 9000}}
    params.update(extra.get(case, {}))
    if case == "unknown project":
        project = "moon-flora"
    elif case == "declared too large":
        kwargs = {"files": _files(photo * 8), "data": {"organs": "flower"}}
    elif case == "no body":
        kwargs = {}
    elif case == "bad url":
        method, kwargs = "GET", {}
        params.update({"images": "gopher://127.0.0.1/x", "organs": "leaf"})
    elif case == "no key":
        params.pop("api-key")
    elif case == "authenix only":
        params = {"authenix-access-token": "eyJhbGciOi.fake.token"}
    with TestClient(create_app(capped)) as client:
        response = client.request(method, f"/v2/identify/{project}", params=params, **kwargs)
        assert response.status_code == status, response.text
        assert set(response.json()) == ERROR_KEYS
        assert _used(client, key) == 0


def test_error_wording_follows_the_plantnet_openapi(settings, flora):
    capped = flora_settings(settings, flora, max_upload_bytes=64 * 1024)
    key = make_key(capped)
    with TestClient(create_app(capped)) as client:
        large = client.post(f"/v2/identify/{PROJECT}", params={"api-key": key.api_key},
                            files=_files(flora.photo("daffodil").read_bytes() * 8))
        long = client.get("/v2/projects", params={"api-key": key.api_key, "x": "a" * 9000})
    assert large.status_code == 413 and large.json()["error"] == "Payload Too Large"
    assert long.status_code == 414 and long.json()["error"] == "URI Too Long"


def test_authenix_tokens_are_refused_with_a_clear_message(id_client, id_settings, flora):
    key = make_key(id_settings)
    token = {"authenix-access-token": "eyJhbGciOi.fake.token"}
    refused = id_client.post("/v2/identify/all", params=token,
                             files=_files(flora.photo("daffodil")), data={"organs": "flower"})
    assert refused.status_code == 401
    message = refused.json()["message"]
    assert "Authenix" in message and "api-key" in message and "not supported" in message
    by_url = id_client.get("/v2/identify/all", params={**token, "images": "https://a.org/x.jpg"})
    assert by_url.status_code == 401 and "Authenix" in by_url.json()["message"]
    both = id_client.post("/v2/identify/all", params={**token, "api-key": key.api_key},
                          files=_files(flora.photo("daffodil")), data={"organs": "flower"})
    assert both.status_code == 200  # the key decides; the token is not needed


@pytest.mark.both_databases
def test_quota_history_counts_identifications_by_day(settings, flora):
    """``GET /v2/quota/history?year=YYYY`` (Pl@ntNet's Model32), through a live server."""
    live = flora_settings(settings, flora)
    key = make_key(live)
    today = utcnow().date()
    with LiveServer(live) as server:
        for _ in range(2):
            assert requests.post(f"{server.url}/v2/identify/{PROJECT}",
                                 params={"api-key": key.api_key},
                                 files=_files(flora.photo("sunflower")),
                                 data={"organs": "flower"}, timeout=60).status_code == 200
        history = requests.get(f"{server.url}/v2/quota/history",
                               params={"api-key": key.api_key}, timeout=10)
        this_year = requests.get(f"{server.url}/v2/quota/history",
                                 params={"api-key": key.api_key, "year": str(today.year)},
                                 timeout=10).json()
        last_year = requests.get(f"{server.url}/v2/quota/history",
                                 params={"api-key": key.api_key, "year": str(today.year - 1)},
                                 timeout=10).json()
        bad = requests.get(f"{server.url}/v2/quota/history",
                           params={"api-key": key.api_key, "year": "20x5"}, timeout=10)
        anonymous = requests.get(f"{server.url}/v2/quota/history", timeout=10)
    assert history.status_code == 200, history.text
    check_shape(history.json(), "Model32")
    assert history.json() == this_year == [{
        "day": today.isoformat(),
        "quota": {"identify": {"count": 2, "total": 500, "remaining": 498}}}]
    assert last_year == []
    assert bad.status_code == 400 and "year" in bad.json()["message"]
    assert anonymous.status_code == 401
