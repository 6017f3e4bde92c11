"""The identification page for people: real photos and the packaged model, HTTP and Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import LiveServer
from web_support import PASSWORD, csrf_of, sign_up


def sunflower(shared_data: Path) -> Path:
    return sorted((shared_data / "oxford17" / "sunflower").glob("*.jpg"))[3]


def test_identify_page_needs_an_account(client: TestClient) -> None:
    response = client.get("/identify", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


@pytest.mark.both_databases
def test_identify_page_names_the_plant_and_counts_once(client: TestClient,
                                                       shared_data: Path) -> None:
    client.follow_redirects = False
    sign_up(client, "viewer@example.org")
    page = client.get("/identify")
    assert page.status_code == 200
    token = csrf_of(page.text)
    photo = sunflower(shared_data).read_bytes()
    answer = client.post("/identify", data={"csrf_token": token, "organs": ["flower"]},
                         files=[("images", ("sunflower.jpg", photo, "image/jpeg"))])
    assert answer.status_code == 200, answer.text[:500]
    assert "Helianthus annuus" in answer.text and "Sunflower" in answer.text
    assert "/plants/id/" in answer.text
    usage = client.get("/settings/api-key").text
    assert "499" in usage  # one identification taken from the default daily 500

    forged = client.post("/identify", data={"csrf_token": "forged", "organs": ["flower"]},
                         files=[("images", ("s.jpg", photo, "image/jpeg"))])
    assert forged.status_code == 403
    junk = client.post("/identify", data={"csrf_token": token, "organs": ["flower"]},
                       files=[("images", ("s.jpg", b"not a photo", "image/jpeg"))])
    assert junk.status_code == 415 and "JPEG or PNG" in junk.text
    bad_organ = client.post("/identify", data={"csrf_token": token, "organs": ["root"]},
                            files=[("images", ("s.jpg", photo, "image/jpeg"))])
    assert bad_organ.status_code == 400
    assert "499" in client.get("/settings/api-key").text  # failures were refunded


@pytest.mark.browser
def test_identify_in_a_browser(browser, settings, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    with LiveServer(settings) as server:
        page = browser.new_page()
        page.goto(server.url + "/signup")
        page.fill("input[name=email]", "browser@example.org")
        page.fill("input[name=password]", PASSWORD)
        page.fill("input[name=password_confirm]", PASSWORD)
        page.click("button[type=submit]")
        # Sign-up lands on the sign-in page (it never says whether the address was taken).
        page.wait_for_url("**/login**")
        page.fill("input[name=email]", "browser@example.org")
        page.fill("input[name=password]", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_load_state()
        page.goto(server.url + "/identify")
        page.set_input_files("#image0", str(sunflower(shared_data)))
        page.select_option("#organ0", "flower")
        page.click("form.card button[type=submit]")
        results = page.locator("section[aria-label=Results]")
        assert "Helianthus annuus" in results.inner_text()
        page.click("section[aria-label=Results] li a >> nth=0")
        assert page.inner_text("h1") == "Sunflower"
        page.close()
