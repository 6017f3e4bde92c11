"""POST /v2/identify and the catalogue routes over HTTP, with real photos, models and database."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from identify_openapi import check_shape, properties
from identify_support import CLASSES, PROJECT, flora_settings, noise_jpeg
from PIL import Image
from tests.conftest import make_key

from hortus.app import create_app

ERROR_KEYS = {"statusCode", "error", "message"}


def _files(*paths_or_bytes, name: str = "images") -> list:
    files = []
    for i, item in enumerate(paths_or_bytes):
        data = item if isinstance(item, bytes) else item.read_bytes()
        files.append((name, (f"photo_{i}.jpg", data, "image/jpeg")))
    return files


def _used(client: TestClient, key) -> int:
    """Identifications counted today for the key's account (read through /v2/quota)."""
    quota = client.get("/v2/quota", params={"api-key": key.api_key}).json()
    return quota["quota"]["identify"]["count"]


def _identify(client: TestClient, key, files, organs, project: str = PROJECT, **params):
    return client.post(f"/v2/identify/{project}", params={"api-key": key.api_key, **params},
                       files=files, data={"organs": organs} if organs else None)


@pytest.mark.both_databases
def test_answer_has_every_field_of_the_identification_result(id_client, id_settings, flora):
    key = make_key(id_settings)
    photos = _files(flora.photo("daffodil"), flora.photo("daffodil", 1))
    response = _identify(id_client, key, photos,
                         ["flower", "leaf"], **{"include-related-images": "true",
                                                "detailed": "true", "lang": "fr",
                                                "nb-results": "4"})
    assert response.status_code == 200, response.text
    body = response.json()
    check_shape(body, "Identification result")
    assert properties("Identification result") - set(body) == {"switchToProject"}
    assert set(body["query"]) == properties("query")
    assert body["query"]["organs"] == ["flower", "leaf"] and len(body["query"]["images"]) == 2
    assert body["language"] == "fr" and body["preferedReferential"] == PROJECT
    assert len(body["results"]) == 4
    best = body["results"][0]
    assert best["species"]["scientificNameWithoutAuthor"] == "Narcissus pseudonarcissus"
    assert body["bestMatch"] == "Narcissus pseudonarcissus L." == best["species"]["scientificName"]
    assert best["species"]["genus"]["scientificNameWithoutAuthor"] == "Narcissus"
    assert best["species"]["family"]["scientificNameWithoutAuthor"] == "Amaryllidaceae"
    assert "Jonquille" in best["species"]["commonNames"]  # French names from the knowledge base
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and 0.5 < scores[0] <= 1
    assert 1 <= len(best["images"]) <= 3
    image = best["images"][0]
    assert (image["organ"], image["author"], image["license"]) == (
        "flower", "Nilsback & Zisserman", "research only")
    assert image["date"]["string"] == "2006-01-01" and image["date"]["timestamp"] > 0
    for size in "oms":
        served = id_client.get(image["url"][size].replace("http://testserver", ""))
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert best["plant"]["url"].endswith(f"/api/plants/{best['plant']['id']}")
    assert "Light requirement" in best["plant"]["care"]
    assert body["version"] and body["remainingIdentificationRequests"] == 499
    assert [p["filename"] for p in body["predictedOrgans"]] == ["photo_0.jpg", "photo_1.jpg"]
    assert [p["organ"] for p in body["predictedOrgans"]] == ["flower", "leaf"]
    other = body["otherResults"]
    assert other["genus"][0]["genus"]["scientificName"] == "Narcissus"
    assert other["family"][0]["family"]["scientificName"] == "Amaryllidaceae"
    assert sum(f["score"] for f in other["family"]) == pytest.approx(1.0, abs=1e-6)
    assert response.headers["RateLimit"].startswith('"day";r=499')


@pytest.mark.both_databases
def test_language_falls_back_to_english_and_related_images_are_opt_in(id_client, id_settings,
                                                                       flora):
    key = make_key(id_settings)
    body = _identify(id_client, key, _files(flora.photo("sunflower")), ["auto"],
                     lang="ja").json()
    best = body["results"][0]
    assert best["species"]["scientificNameWithoutAuthor"] == "Helianthus annuus"
    assert "Sunflower" in best["species"]["commonNames"]
    assert "images" not in best and "otherResults" not in body
    # an "auto" photo's organ is voted by its nearest reference photos (all flowers here)
    assert body["predictedOrgans"][0]["organ"] == "flower"
    assert body["query"]["includeRelatedImages"] is False and len(body["results"]) == len(CLASSES)


@pytest.mark.both_databases
def test_genus_level_classes_and_hybrid_names(id_client, id_settings, flora):
    key = make_key(id_settings)
    body = _identify(id_client, key, _files(flora.photo("pansy"), flora.photo("pansy", 1)),
                     ["flower", "flower"]).json()
    names = [r["species"]["scientificNameWithoutAuthor"] for r in body["results"]]
    assert "Viola × wittrockiana" in names[:2]  # the class is spelled "Viola x wittrockiana"
    species = id_client.get("/v2/species", params={"api-key": key.api_key, "prefix": "cro"}).json()
    # The test flora's genus-level class (the packaged flora may add Crocus vernus beside it).
    assert {"id": "Crocus", "scientificNameWithoutAuthor": "Crocus",
            "scientificNameAuthorship": "L.", "commonNames": [], "genus": "Crocus",
            "family": "Iridaceae"} in species
    assert all(s["id"].lower().startswith("cro") for s in species)


@pytest.mark.both_databases
def test_no_plant_is_species_not_found_and_costs_nothing(id_client, id_settings):
    key = make_key(id_settings)
    response = _identify(id_client, key, _files(noise_jpeg(1), noise_jpeg(2)), ["leaf", "leaf"])
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": "Not Found",
                               "message": "Species not found"}
    assert _used(id_client, key) == 0
    forced = _identify(id_client, key, _files(noise_jpeg(1)), ["leaf"], **{"no-reject": "true"})
    assert forced.status_code == 200 and forced.json()["query"]["noReject"] is True
    assert _used(id_client, key) == 1


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "green").save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(("case", "status"), [
    ("no image", 400), ("six images", 400), ("organ count", 400), ("unknown organ", 400),
    ("habit alone", 400), ("bad nb-results", 400), ("bad lang", 400), ("bad boolean", 400),
    ("no key", 401), ("unknown key", 401), ("unknown project", 404), ("gif", 415),
    ("text file", 415), ("json body", 415), ("truncated jpeg", 400), ("empty file", 400),
    ("malformed multipart", 400),
])
def test_bad_requests_get_plantnet_errors_and_cost_nothing(case, status, id_client, id_settings,
                                                           flora):
    key = make_key(id_settings)
    photo = flora.photo("daffodil").read_bytes()
    params: dict = {"api-key": key.api_key}
    kwargs: dict = {"files": _files(photo), "data": {"organs": ["flower"]}}
    project = PROJECT
    if case == "no image":
        kwargs = {"data": {"organs": ["flower"]}}
    elif case == "six images":
        kwargs = {"files": _files(*[photo] * 6), "data": {"organs": ["flower"] * 6}}
    elif case == "organ count":
        kwargs["data"] = {"organs": ["flower", "leaf"]}
    elif case == "unknown organ":
        kwargs["data"] = {"organs": ["root"]}
    elif case == "habit alone":
        kwargs["data"] = {"organs": ["habit"]}
    elif case in ("bad nb-results", "bad lang", "bad boolean"):
        name, value = {"bad nb-results": ("nb-results", "0"), "bad lang": ("lang", "klingon"),
                       "bad boolean": ("detailed", "sure")}[case]
        params[name] = value
    elif case == "no key":
        params = {}
    elif case == "unknown key":
        params = {"api-key": "hk_nope.nope"}
    elif case == "unknown project":
        project = "moon-flora"
    elif case == "gif":
        kwargs["files"] = _files(_gif())
    elif case == "text file":
        kwargs["files"] = _files(b"these are not the photos you are looking for")
    elif case == "truncated jpeg":
        kwargs["files"] = _files(photo[: len(photo) // 2])
    elif case == "empty file":
        kwargs["files"] = _files(b"")
    if case == "json body":
        response = id_client.post(f"/v2/identify/{project}", params=params, json={"images": []})
    elif case == "malformed multipart":
        response = id_client.post(f"/v2/identify/{project}", params=params,
                                  content=b"--xyz\r\nContent-Disposition: form-data\r\n\r\nabc",
                                  headers={"content-type": "multipart/form-data"})
    else:
        response = id_client.post(f"/v2/identify/{project}", params=params, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS and body["statusCode"] == status
    assert body["error"] == {400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                             415: "Unsupported Media Type"}[status]
    assert _used(id_client, key) == 0


@pytest.mark.both_databases
def test_several_bad_photos_report_the_first_in_upload_order(id_client, id_settings, flora):
    """Photos are decoded side by side as they arrive; whichever worker fails first, the
    answer names the first bad photo as sent, and nothing is counted."""
    key = make_key(id_settings)
    good = flora.photo("daffodil").read_bytes()
    for files, organs, named in (
            ([good, good[: len(good) // 3], b"GIF89a not really"], ["flower"] * 3, "image 2"),
            ([b"plain text", good, good[:100]], ["flower", "leaf", "fruit"], "image 1"),
            ([good] * 4 + [good[:-5000]], ["flower"] * 5, "image 5")):
        response = _identify(id_client, key, _files(*files), organs)
        assert response.status_code in (400, 415), response.text
        assert response.json()["message"].startswith(f"{named} (photo_"), response.text
    assert _used(id_client, key) == 0


def test_upload_cap_413_by_declared_length_and_while_streaming(settings, flora):
    capped = flora_settings(settings, flora, max_upload_bytes=64 * 1024)
    key = make_key(capped)
    big = flora.photo("daffodil").read_bytes() * 4
    assert len(big) > 64 * 1024
    with TestClient(create_app(capped)) as client:
        declared = client.post(f"/v2/identify/{PROJECT}", params={"api-key": key.api_key},
                               files=_files(big), data={"organs": ["flower"]})

        def chunks():  # no Content-Length: the cap must hold while streaming
            body = (b"--b\r\nContent-Disposition: form-data; name=\"images\"; filename=\"a\"\r\n"
                    b"\r\n" + big + b"\r\n--b--\r\n")
            for i in range(0, len(body), 8192):
                yield body[i:i + 8192]

        streamed = client.post(f"/v2/identify/{PROJECT}", params={"api-key": key.api_key},
                               content=chunks(),
                               headers={"content-type": "multipart/form-data; boundary=b"})
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"] == "Payload Too Large"  # Pl@ntNet's wording
        assert _used(client, key) == 0


def test_uri_too_long_is_414(id_client, id_settings):
    key = make_key(id_settings)
    response = id_client.get("/v2/projects", params={"api-key": key.api_key, "x": "a" * 9000})
    assert response.status_code == 414 and response.json()["statusCode"] == 414


@pytest.mark.both_databases
def test_daily_quota_429_with_no_remaining_requests(settings, flora):
    limited = flora_settings(settings, flora, identify_per_day=2)
    key = make_key(limited)
    photo = flora.photo("snowdrop")
    with TestClient(create_app(limited)) as client:
        remaining = [_identify(client, key, _files(photo), ["flower"]).json()
                     ["remainingIdentificationRequests"] for _ in range(2)]
        refused = _identify(client, key, _files(photo), ["flower"])
        quota = client.get("/v2/quota", params={"api-key": key.api_key}).json()
    assert remaining == [1, 0]
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    body = refused.json()
    assert body["remainingIdentificationRequests"] == 0 and body["statusCode"] == 429
    assert body["error"] == "Too Many Requests"
    assert quota == {"quota": {"identify": {"count": 2, "total": 2, "remaining": 0}}}


@pytest.mark.both_databases
def test_catalogue_routes(id_client, id_settings):
    key = make_key(id_settings)
    params = {"api-key": key.api_key}
    projects = id_client.get("/v2/projects", params=params).json()
    check_shape(projects, "Projects list")
    by_id = {p["id"]: p for p in projects}
    assert by_id["all"]["speciesCount"] >= len(CLASSES)
    assert by_id[PROJECT]["speciesCount"] == len(CLASSES) and by_id[PROJECT]["title"]
    species = id_client.get(f"/v2/projects/{PROJECT}/species",
                            params={**params, "lang": "fr"}).json()
    check_shape(species, "Species list")
    assert len(species) == len(CLASSES)
    daffodil = next(s for s in species if s["id"] == "Narcissus pseudonarcissus")
    assert daffodil["commonNames"][0] == "Jonquille" and daffodil["family"] == "Amaryllidaceae"
    page = id_client.get(f"/v2/projects/{PROJECT}/species",
                         params={**params, "page": "2", "pageSize": "4"}).json()
    assert [s["id"] for s in page] == [s["id"] for s in species][4:6]
    assert len(id_client.get(f"/v2/projects/{PROJECT}/species",
                             params={**params, "pageSize": ""}).json()) == len(CLASSES)
    assert id_client.get(f"/v2/projects/{PROJECT}/species",
                         params={**params, "page": "x"}).status_code == 400
    assert id_client.get("/v2/projects/nope/species", params=params).json() == {
        "statusCode": 404, "error": "Not Found", "message": "Project not found"}
    languages = id_client.get("/v2/languages", params=params).json()
    check_shape(languages, "Languages list")
    assert "en" in languages and "fr" in languages
    assert id_client.get("/v2/_status").json() == {"status": "ok"}
    assert id_client.get("/v2/languages").status_code == 401
    missing = id_client.get("/v2/media/references/" + "0" * 64 + "/m")
    assert missing.status_code == 404 and missing.json()["message"] == "Image not found"
    assert id_client.get("/v2/media/references/nothex/x").status_code == 404


def test_all_merges_projects(id_client, id_settings, flora):
    key = make_key(id_settings)
    body = _identify(id_client, key, _files(flora.photo("dandelion")), ["flower"],
                     project="all").json()
    assert body["query"]["project"] == "all"
    assert body["results"][0]["species"]["scientificNameWithoutAuthor"] == "Taraxacum officinale"
    assert sum(r["score"] for r in body["results"]) <= 1.0 + 1e-6
