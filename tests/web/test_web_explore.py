"""The knowledge-base pages: home, search, plant profile — over HTTP and in a real browser."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.conftest import LiveServer


@pytest.mark.both_databases
def test_home_search_and_profile_over_http(client: TestClient) -> None:
    home = client.get("/")
    assert home.status_code == 200 and "Search the plant knowledge base" in home.text
    found = client.get("/plants", params={"q": "basil"})
    assert found.status_code == 200 and "Ocimum basilicum" in found.text
    profile = client.get("/plants/ocimum-basilicum-basil")
    assert profile.status_code == 200
    assert "Good companions" in profile.text and "Tomato" in profile.text
    assert client.get("/plants/no-such-plant").status_code == 404
    assert client.get("/plants", params={"q": "%%%"}).status_code == 400
    assert client.get("/plants", params={"page": "x"}).status_code == 400
    listing = client.get("/plants", params={"page": "2"})
    assert listing.status_code == 200 and "Page 2 of" in listing.text


@pytest.mark.browser
def test_search_and_follow_companions_in_a_browser(browser, settings) -> None:  # type: ignore[no-untyped-def]
    with LiveServer(settings) as server:
        page = browser.new_page()
        page.goto(server.url + "/")
        page.fill("input[name=q]", "tomato")
        page.click("button[type=submit]")
        page.wait_for_url("**/plants?q=tomato")
        page.click("ul.plants li a >> nth=0")
        assert page.inner_text("h1") == "Tomato"
        assert "Solanum lycopersicum" in page.inner_text("p.lead")
        page.click("text=Basil")
        assert page.inner_text("h1") == "Basil"
        assert "Tomato" in page.inner_text("section:has-text('Neighbours')")
        page.close()
