"""GET /v2/dwc/occurrence/search and /v2/dwc/occurrence/{id}: the valid observations as Darwin
Core occurrences, in Pl@ntNet's shape, with GBIF's terms; filters; errors in Pl@ntNet's
format."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from dwc_support import account_of, set_handle, validated
from identify_openapi import check_shape
from observations_support import DAFFODIL, ERROR_KEYS, SNOWDROP, keys, saved

SEARCH = "/v2/dwc/occurrence/search"


@pytest.fixture
def published(obs_client, obs_settings, flora):
    """Two valid observations (a daffodil with a place, a snowdrop without) and one that is
    not valid; the author has a handle."""
    author, b, c = keys(obs_settings, 3, prefix="dwc")
    set_handle(obs_settings, author, "rosa")
    set_handle(obs_settings, b, "basil")
    daffodil_photo = flora.photo("daffodil").read_bytes()
    daffodil = validated(obs_client, author, [b, c], daffodil_photo, DAFFODIL,
                         organs=["flower"], date="2024-04-02T09:30:00Z", lat="43.61",
                         lon="3.87", accuracy="12", place="Montpellier", license="cc-by")
    snowdrop = validated(obs_client, b, [author, c], flora.photo("snowdrop"), SNOWDROP,
                         date="2023-02-10")
    casual = saved(obs_client, author, flora.photo("pansy"), determination=DAFFODIL)
    return {"keys": (author, b, c), "daffodil": daffodil, "snowdrop": snowdrop,
            "casual": casual, "sha": hashlib.sha256(daffodil_photo).hexdigest()}


def _search(client, key, **params):
    return client.get(SEARCH, params={"api-key": key.api_key, **params})


@pytest.mark.both_databases
def test_search_publishes_valid_observations_as_darwin_core(obs_client, obs_settings,
                                                            published):
    author, b, c = published["keys"]
    answer = _search(obs_client, author)
    assert answer.status_code == 200, answer.text
    page = answer.json()
    check_shape(page, "DarwinCore occurrences")
    assert page["count"] == 2 and page["offset"] == 0 and page["limit"] == 100
    assert page["endOfRecords"] is True and page["startTime"] > 0
    # Newest created first; the observation that is not valid is not published.
    ids = [o["id"] for o in page["results"]]
    assert ids == [published["snowdrop"]["id"], published["daffodil"]["id"]]
    assert published["casual"]["id"] not in ids

    daffodil = page["results"][1]
    assert daffodil["occurrenceID"].startswith("urn:hortus:")
    assert daffodil["occurrenceID"].endswith(f":observation:{published['daffodil']['id']}")
    assert daffodil["basisOfRecord"] == "HumanObservation"
    assert daffodil["identificationVerificationStatus"] == "research"
    assert daffodil["scientificName"] == "Narcissus pseudonarcissus L."
    assert daffodil["scientificNameAuthorship"] == "L."
    assert daffodil["taxonRank"] == "species" and daffodil["kingdom"] == "Plantae"
    assert daffodil["genus"] == "Narcissus" and daffodil["family"] == "Amaryllidaceae"
    assert daffodil["eventDate"] == "2024-04-02T09:30:00Z"
    assert daffodil["observedOn"] == "2024-04-02"
    assert daffodil["decimalLatitude"] == 43.61 and daffodil["decimalLongitude"] == 3.87
    assert daffodil["coordinateUncertaintyInMeters"] == 12.0
    assert daffodil["geodeticDatum"] == "WGS84" and daffodil["locality"] == "Montpellier"
    assert daffodil["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert daffodil["recordedBy"] == daffodil["rightsHolder"] == "rosa"
    # The people whose votes are the name, the author first; never an e-mail address.
    names = daffodil["identifiedBy"].split(" | ")
    assert names == ["rosa", "basil", f"anonymous #{account_of(obs_settings, c)}"]
    assert "@" not in daffodil["identifiedBy"]
    assert daffodil["verbatimIdentification"] == DAFFODIL
    assert daffodil["user"] == {"id": str(account_of(obs_settings, author))}
    assert daffodil["taxon"]["name"] == DAFFODIL and daffodil["taxon"]["rank"] == "species"
    assert daffodil["votes"] == [{"determination": DAFFODIL, "count": 3,
                                  "score": pytest.approx(daffodil["votes"][0]["score"]),
                                  "selected": True}]
    assert daffodil["votes"][0]["score"] >= 2.0
    # Its photo, with its licence and creator; every size is served.
    [media] = daffodil["media"]
    assert media["type"] == "StillImage" and media["format"] == "image/jpeg"
    assert media["organ"] == "flower"
    assert media["license"] == daffodil["license"]
    assert media["creator"] == media["rightsHolder"] == "rosa"
    assert published["sha"] in media["identifier"]
    for url in (media["identifier"], media["medium_url"], media["large_url"]):
        served = obs_client.get(url)
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"

    snowdrop = page["results"][0]
    assert "decimalLatitude" not in snowdrop and snowdrop["recordedBy"] == "basil"
    assert snowdrop["eventDate"] == "2023-02-10T00:00:00Z"
    assert snowdrop["license"] == "https://creativecommons.org/licenses/by-sa/4.0/"

    one = obs_client.get(f"/v2/dwc/occurrence/{published['daffodil']['id']}",
                         params={"api-key": c.api_key})
    assert one.status_code == 200
    check_shape(one.json(), "DarwinCore occurrence")
    assert one.json() == daffodil


def test_filters(obs_client, published):
    author = published["keys"][0]
    daffodil, snowdrop = published["daffodil"]["id"], published["snowdrop"]["id"]

    def ids(**params):
        answer = _search(obs_client, author, **params)
        assert answer.status_code == 200, (params, answer.text)
        body = answer.json()
        assert len(body["results"]) <= body["limit"]
        return [o["id"] for o in body["results"]]

    assert ids(scientificName="narcissus PSEUDONARCISSUS") == [daffodil]
    assert ids(scientificName="Narcissus pseudonarcissus L.") == [daffodil]
    assert ids(scientificName="Narcissus") == [daffodil]  # a genus: its species
    assert ids(scientificName="Narcissus poeticus") == []
    assert _search(obs_client, author, scientificName="Narcissus").json()["count"] == 1
    assert ids(scientificName="Narcis%") == []  # no wildcard
    assert ids(license="cc-by") == [daffodil]
    assert ids(license="CC-BY-SA-4.0,https://creativecommons.org/licenses/by/4.0/") == \
        [snowdrop, daffodil]
    assert ids(minEventDate="2024-01-01") == [daffodil]
    assert ids(maxEventDate="2023-02-10") == [snowdrop]
    assert ids(minEventDate="2024-04-03") == []
    assert ids(hasCoordinate="true") == [daffodil]
    assert ids(minDecimalLatitude="43", maxDecimalLatitude="44",
               minDecimalLongitude="3", maxDecimalLongitude="4") == [daffodil]
    assert ids(minDecimalLatitude="44") == []
    assert ids(hasIdentification="true") == [snowdrop, daffodil]
    assert ids(identificationVerificationStatus="research") == [snowdrop, daffodil]
    assert ids(identificationVerificationStatus="casual") == []
    assert ids(taxonId="0") == []
    assert ids(limit="1") == [snowdrop]
    assert ids(limit="1", offset="1") == [daffodil]
    assert ids(offset="5") == []
    assert ids(page="1") == [snowdrop, daffodil]
    assert ids(page="2") == []
    # startTime: occurrences created later are not in the pages.
    before = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1000)
    assert ids(startTime=str(before)) == []
    paged = _search(obs_client, author, limit="1").json()
    assert paged["endOfRecords"] is False and paged["count"] == 2
    assert _search(obs_client, author, limit="1", offset="1").json()["endOfRecords"] is True


BAD_QUERIES = [
    {"limit": "0"}, {"limit": "1001"}, {"limit": "ten"}, {"offset": "-1"}, {"page": "0"},
    {"minEventDate": "2024-13-01"}, {"maxEventDate": "yesterday"},
    {"minEventDate": "2024-05-01", "maxEventDate": "2024-04-01"},
    {"minDecimalLatitude": "95"}, {"minDecimalLatitude": "10", "maxDecimalLatitude": "5"},
    {"minDecimalLongitude": "nan"}, {"taxonId": "7"}, {"license": "all-rights-reserved"},
    {"license": "cc-by-3.0"}, {"identificationVerificationStatus": "expert"},
    {"lang": "xx"}, {"startTime": "-5"}, {"hasCoordinate": "maybe"},
    {"scientificName": "x" * 400},
]


def test_bad_queries_are_pl_ntnet_400s(obs_client, obs_settings):
    key, = keys(obs_settings, 1, prefix="bad")
    for params in BAD_QUERIES:
        answer = _search(obs_client, key, **params)
        assert answer.status_code == 400, (params, answer.text)
        assert set(answer.json()) == ERROR_KEYS and answer.json()["statusCode"] == 400
        assert answer.json()["message"], params


def test_unknown_unpublished_and_keyless(obs_client, obs_settings, published):
    author = published["keys"][0]
    for bad in (published["casual"]["id"], "999999", "abc", "1" * 40, "-3"):
        answer = obs_client.get(f"/v2/dwc/occurrence/{bad}", params={"api-key": author.api_key})
        assert answer.status_code == 404, bad
        assert set(answer.json()) == ERROR_KEYS
        assert "Occurrence not found" in answer.json()["message"]
    for path in (SEARCH, f"/v2/dwc/occurrence/{published['daffodil']['id']}"):
        answer = obs_client.get(path)
        assert answer.status_code == 401 and set(answer.json()) == ERROR_KEYS
