"""The plant browser and plant profiles over real HTTP on SQLite and PostgreSQL: filters,
sorting, readable values, language names, photos with credit, and friendly answers to bad
parameters and missing plants."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from web_support import sign_up

_SCIENTIFIC = re.compile(r'<p class="sci"><em>([^<]+)</em>')
_NAME = re.compile(r'class="card-title"><a href="[^"]+">([^<]+)</a>')


def listed(page: str) -> list[str]:
    return [html.unescape(n) for n in _SCIENTIFIC.findall(page)]


def test_the_query_string_names_every_facet_and_order() -> None:
    from typing import get_args

    from hortus.plants.browse import SORTS, BrowseParams
    from hortus.plants.facets import FACETS
    from hortus.plants.search import Order

    assert set(BrowseParams.model_fields) == {"q", "page", "sort", *(f.name for f in FACETS)}
    assert set(SORTS) == set(get_args(Order))


@pytest.mark.both_databases
def test_filters_narrow_and_combine(client: TestClient) -> None:
    everything = client.get("/plants").text
    total = int(re.search(r"(\d+) plants", everything).group(1))  # type: ignore[union-attr]
    edible_herbs = client.get("/plants", params={"edible": "yes", "layer": "herbs"})
    assert edible_herbs.status_code == 200
    text = edible_herbs.text
    count = int(re.search(r"(\d+) plants? ·", text).group(1))  # type: ignore[union-attr]
    assert 0 < count < total and "Edible: Yes · Layer: Herbs" in text
    assert text.count("<li>Edible: yes</li>") == len(_NAME.findall(text))
    assert text.count("<li>Layer: Herbs</li>") == len(_NAME.findall(text))
    # A zone is a range's member: "Zone 10" lists the tomato (stored as "10-11").
    warm = client.get("/plants", params={"q": "tomato", "zone": "10"}).text
    assert "Solanum lycopersicum" in listed(warm)
    assert "Solanum lycopersicum" not in listed(
        client.get("/plants", params={"q": "tomato", "zone": "3"}).text)
    varieties = listed(client.get("/plants", params={"q": "Solanum", "kind": "variety"}).text)
    assert varieties and all("'" in name for name in varieties)
    light = client.get("/plants", params={"q": "basil", "light": "full-sun"}).text
    assert "Ocimum basilicum" in listed(light)
    assert listed(client.get("/plants", params={"q": "basil", "light": "full-shade"}).text) == []


@pytest.mark.both_databases
def test_sorting(client: TestClient) -> None:
    by_name = _NAME.findall(client.get("/plants", params={"q": "tomato", "sort": "name"}).text)
    assert by_name == sorted(by_name, key=str.lower) and len(by_name) > 3
    scientific = listed(client.get("/plants", params={"sort": "scientific_name"}).text)
    assert scientific == sorted(scientific, key=str.lower)
    best = listed(client.get("/plants", params={"q": "tomato"}).text)
    assert best[0] == "Solanum lycopersicum"
    assert "/plants?q=tomato&amp;page=2" not in client.get("/plants?q=tomato").text
    second = client.get("/plants", params={"sort": "name", "page": "2", "edible": "yes"})
    assert second.status_code == 200 and "page 2 of" in second.text
    # The pager keeps the filter and the order.
    assert 'href="/plants?edible=yes&amp;page=3&amp;sort=name"' in second.text


@pytest.mark.both_databases
def test_results_and_profiles_read_like_a_person_wrote_them(client: TestClient) -> None:
    results = client.get("/plants", params={"q": "tomato"}).text
    assert "<li>Edible: yes</li>" in results and ">true<" not in results
    assert "variety of Tomato" in results
    # A plant with a licensed reference photo shows it with its credit; others show none.
    assert re.search(r'<img class="thumb" src="/v2/media/references/[0-9a-f]+/s" '
                     r'alt="Photo of Tomato"', results)
    assert "Photo: PlantVillage (Hughes &amp; Salathé), CC BY-SA 3.0" in results
    profile = client.get("/plants/solanum-lycopersicum-tomato").text
    assert "<dt>Edible</dt><dd>yes</dd>" in profile and "<dd>true</dd>" not in profile
    assert "<dt>USDA Hardiness zone</dt><dd>10–11</dd>" in profile
    assert '<dt>German</dt><dd lang="de">Tomate</dd>' in profile
    assert '<dt>English</dt><dd lang="en">Tomato</dd>' in profile
    assert ">de<" not in profile and ">en<" not in profile
    assert "<figcaption>Photo: PlantVillage (Hughes &amp; Salathé), CC BY-SA 3.0</figcaption>" \
        in profile
    photo = re.search(r'<img src="(/v2/media/references/[^"]+)"', profile)
    assert photo and client.get(photo.group(1)).status_code == 200
    assert "Problems of this plant" in profile
    for href in set(re.findall(r'href="(/[^"]*)"', profile)):
        if href.startswith(("/plants", "/diseases")):
            assert client.get(html.unescape(href)).status_code == 200, href


@pytest.mark.both_databases
@pytest.mark.parametrize("params, status, says", [
    ({"page": "abc"}, 400, "“abc” is not a page number"),
    ({"page": "0"}, 400, "is not a page number"),
    ({"page": "1e9"}, 400, "is not a page number"),
    ({"page": "9" * 40}, 400, "is not a page number"),
    ({"q": "tomato", "page": "999"}, 404, "There is no page 999: this search has 1 page."),
    ({"sort": "price"}, 400, "Results can be sorted by"),
    ({"edible": "maybe"}, 400, "Edible can be Yes, No"),
    ({"zone": "14"}, 400, "Hardiness zone (USDA) can be Zone 1"),
    ({"q": "%%%"}, 400, "letters or digits"),
    ({"q": "x" * 501}, 400, "too long"),
])
def test_bad_parameters_get_a_page_that_says_what_to_change(
        client: TestClient, params: dict[str, str], status: int, says: str) -> None:
    answer = client.get("/plants", params=params)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert says in html.unescape(answer.text)
    assert 'role="alert"' in answer.text and 'role="search"' in answer.text
    for developer_words in ("Input should", "ValidationError", "Traceback", "int_parsing"):
        assert developer_words not in answer.text


@pytest.mark.both_databases
def test_hostile_queries_are_words(client: TestClient) -> None:
    for q in ("<script>alert(1)</script>", "tomato' OR '1'='1", 'NEAR(tomato basil)', "a:b",
              "tomato*", "(tomato", "^tomato", "toma\x00to", "\x00tomato\ttomatoe"):
        answer = client.get("/plants", params={"q": q})
        assert answer.status_code == 200, q
        assert "<script>alert(1)" not in answer.text
    for path in ("/plants/%00", "/plants/tomato%00", "/plants/%3Cscript%3E",
                 "/plants/id/99999999999", "/plants/id/-1", "/plants/id/0"):
        answer = client.get(path)
        assert answer.status_code == 404 and "<script>" not in answer.text, path


@pytest.mark.both_databases
def test_a_missing_plant_offers_a_search_not_the_keys_page(client: TestClient) -> None:
    for path in ("/plants/solanum-lycopersicm-tomatoe", "/plants/id/987654"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert "<h1>Plant not found</h1>" in answer.text
        assert "API keys" not in answer.text.split('<main id="main">')[1]
    similar = client.get("/plants/solanum-lycopersicm-tomatoe").text
    assert "Plants with similar names" in similar
    assert listed(similar)[0] == "Solanum lycopersicum"
    nothing = client.get("/plants/qqqzzz").text
    assert "Plants with similar names" not in nothing and 'href="/plants"' in nothing
    client.follow_redirects = False  # sign_up checks each answer of the sign-up forms
    sign_up(client, "gardener@example.org")  # signed in: still the plant search
    client.follow_redirects = True
    assert "API keys" not in client.get("/plants/qqqzzz").text.split('<main id="main">')[1]
