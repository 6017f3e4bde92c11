"""The crop-problem catalogue pages, the problems of a plant, and the HTML error pages people
get outside the APIs (whose JSON errors stay exactly as they were)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from web_support import sign_up

from hortus.web.disease_pages import problems_for_plant

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
LINK = re.compile(r'href="(/[^"#]*)')


@pytest.mark.both_databases
def test_browse_search_and_filter_the_catalogue(client: TestClient) -> None:
    everything = client.get("/diseases")
    assert everything.status_code == 200
    total = int(re.search(r"(\d+) problems", everything.text).group(1))
    assert total >= 200 and "Page 1 of" in everything.text
    blight = client.get("/diseases", params={"q": "blight"}).text
    assert "Late blight of potato and tomato" in blight
    french = client.get("/diseases", params={"q": "mildiou de la pomme"}).text  # any language
    assert "Late blight of potato and tomato" in french
    tomato = client.get("/diseases", params={"crop": "Solanum lycopersicum"}).text
    assert "Late blight of potato and tomato" in tomato and "Coffee leaf rust" not in tomato
    viruses = client.get("/diseases", params={"kind": "virus"}).text
    assert "Virus" in viruses and "Late blight" not in viruses
    second = client.get("/diseases", params={"page": "2"})
    assert second.status_code == 200 and "Page 2 of" in second.text
    beyond = client.get("/diseases", params={"page": "99999"})
    assert beyond.status_code == 200 and "No crop problem matches" in beyond.text
    for params in ({"page": "abc"}, {"page": "0"}, {"page": "1e9999"}, {"q": "x" * 201},
                   {"crop": "y" * 5000}, {"kind": "dragon"}, {"page": "-1"}):
        refused = client.get("/diseases", params=params)
        assert refused.status_code == 400 and 'role="alert"' in refused.text, params
    hostile = client.get("/diseases", params={"q": "<script>alert(1)</script>' OR 1=1 --%_"})
    assert hostile.status_code == 200 and "<script>alert(1)" not in hostile.text


@pytest.mark.both_databases
def test_a_problem_page_links_hosts_to_plant_profiles_and_back(client: TestClient) -> None:
    page = client.get("/diseases/late-blight-potato-tomato")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Late blight of potato and tomato</h1>" in text
    assert "Phytophthora infestans" in text and "PHYTIN" in text and "Oomycete" in text
    for heading in ("Symptoms", "Treatment", "Organic", "Chemical", "Prevention"):
        assert f">{heading}</h" in text, heading
    assert 'lang="fr">Mildiou de la pomme de terre' in text and "<dt>French</dt>" in text
    hosts = re.findall(r'<a href="(/plants/[^"]+)">', text)
    assert hosts, "no host is linked to its plant profile"
    for href in hosts:
        assert client.get(href).status_code == 200, href
    # The old numeric address and any case lead to the one address of the page.
    for other in ("/diseases/100001", "/diseases/LATE-BLIGHT-POTATO-TOMATO"):
        moved = client.get(other, follow_redirects=False)
        assert moved.status_code == 303, other
        assert moved.headers["location"] == "/diseases/late-blight-potato-tomato"
    for missing in ("/diseases/no-such-problem", "/diseases/99999999", "/diseases/%00",
                    "/diseases/" + "9" * 40):
        answer = client.get(missing, headers=HTML)
        assert answer.status_code == 404 and "Crop problem not found" in answer.text, missing


def test_problems_of_a_plant_for_its_profile(client: TestClient) -> None:
    from hortus.plants.models import Plant

    database = client.app.state.database  # type: ignore[attr-defined]
    with database.read() as session:
        tomato = session.query(Plant).filter(Plant.scientific_name == "Solanum lycopersicum").one()
        problems = problems_for_plant(session=session, plant_id=tomato.id)
        assert problems_for_plant(session=session, plant_id=987654321) == []
    names = [p.name for p in problems]
    assert "Late blight of potato and tomato" in names and names == sorted(names, key=str.lower)
    late = next(p for p in problems if p.name.startswith("Late blight"))
    assert late.href == "/diseases/late-blight-potato-tomato"
    assert late.pathogen.startswith("Oomycete")
    assert client.get(late.href).status_code == 200


def test_every_link_on_the_new_pages_answers(client: TestClient) -> None:
    client.follow_redirects = False
    sign_up(client, "reader@example.org")
    pages = ["/diagnose", "/diseases", "/diseases?crop=Solanum+lycopersicum&page=2",
             "/diseases/late-blight-potato-tomato", "/diseases/coffee-leaf-rust", "/nope"]
    seen: set[str] = set()
    for page in pages:
        for href in LINK.findall(client.get(page, headers=HTML).text):
            href = href.replace("&amp;", "&")
            if href in seen or href.startswith("/static/"):
                continue
            seen.add(href)
            answer = client.get(href, follow_redirects=True)
            assert answer.status_code == 200, (page, href, answer.status_code)
    assert len(seen) > 20


def test_people_get_html_error_pages_and_apis_keep_their_json(client: TestClient) -> None:
    client.follow_redirects = False
    page = client.get("/no/such/page", headers=HTML)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text and "/no/such/page" in page.text
    assert 'href="/"' in page.text and "Your API keys" not in page.text  # signed out
    assert client.get("/plants/id/abc", headers=HTML).status_code == 400
    not_a_page = client.post("/diseases", headers=HTML)
    assert not_a_page.status_code == 405 and "not a page" in not_a_page.text
    assert not_a_page.headers["allow"] == "GET, HEAD"
    # Clients that do not ask for HTML, and every API path, keep their formats exactly.
    assert client.get("/no/such/page").json() == {
        "error": "not found", "msg": "There is no endpoint GET /no/such/page."}
    assert client.get("/v1/nope", headers=HTML).json() == {
        "message": "There is no endpoint GET /v1/nope.", "code": 404}
    assert client.get("/v2/nope", headers=HTML).json() == {
        "statusCode": 404, "error": "Not Found", "message": "There is no endpoint GET /v2/nope."}
    assert client.get("/api/nope", headers=HTML).json() == {
        "error": "not found", "msg": "There is no endpoint GET /api/nope."}
    assert client.get("/v1/diseases", headers=HTML).headers["content-type"] == \
        "application/json"
    # Signed in, the error page offers the way to the keys too.
    sign_up(client, "reader@example.org")
    assert "Your API keys" in client.get("/no/such/page", headers=HTML).text
