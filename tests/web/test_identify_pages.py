"""The identification pages over HTTP, with real photos and the packaged model: a result has its
own page (post/redirect/get), signed-out visitors have a daily allowance per address, signed-in
people a history, HEIC photos work, and every hostile form gets a 4xx page."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from web_support import PASSWORD, csrf_of, sign_up

from hortus.app import create_app
from hortus.config import Settings
from hortus.web.identify_models import WebIdentification

RESULT = re.compile(r"^/identify/results/([A-Za-z0-9_-]{22})$")
HTML = {"accept": "text/html"}


def oxford(shared_data: Path, kind: str, n: int = 3) -> bytes:
    return sorted((shared_data / "oxford17" / kind).glob("*.jpg"))[n].read_bytes()


def heic_of(jpeg: bytes) -> bytes:
    """A real HEIC photo made from a JPEG (pillow-heif's encoder), like an iPhone's."""
    import pillow_heif

    out = io.BytesIO()
    pillow_heif.from_pillow(Image.open(io.BytesIO(jpeg))).save(out, quality=85)
    assert out.getvalue()[4:12] == b"ftypheic"
    return out.getvalue()


@pytest.fixture
def app_for(settings: Settings) -> Iterator:
    """Build the app on the test's database with some settings changed."""
    clients: list[TestClient] = []

    def build(**changes: object) -> tuple[FastAPI, TestClient]:
        app = create_app(settings.model_copy(update=changes))
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        return app, client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def post_photos(client: TestClient, photos: list[tuple[str, bytes]], organs: list[str],
                token: str | None = None) -> object:
    token = token if token is not None else csrf_of(client.get("/identify").text)
    return client.post("/identify", data={"csrf_token": token, "organs": organs},
                       files=[("images", (name, data, "image/jpeg")) for name, data in photos])


def links_of(html: str) -> set[str]:
    return {m for m in re.findall(r'(?:href|src)="(/[^"#]*)"', html) if not m.startswith("//")}


@pytest.mark.both_databases
def test_a_visitor_identifies_and_the_result_has_its_own_page(app_for, shared_data: Path) -> None:
    app, client = app_for()
    form = client.get("/identify")
    assert form.status_code == 200
    assert "Without an account" in form.text and "5 more plants today" in form.text
    assert 'multiple accept="image/*,.heic,.heif"' in form.text and 'capture="environment"' in \
        form.text
    answer = post_photos(client, [("sunflower.jpg", oxford(shared_data, "sunflower"))],
                         ["flower"])
    assert answer.status_code == 303, answer.text[:400]
    location = answer.headers["location"]
    assert RESULT.match(location)
    page = client.get(location)
    assert page.status_code == 200
    assert "Helianthus annuus" in page.text and "Most likely Sunflower" in page.text
    assert "Edible" in page.text and "Light" in page.text  # care facts from the knowledge base
    assert 'href="/plants/' in page.text  # the plant's profile
    assert "Create a free account" in page.text
    assert client.get(location).text == page.text  # reload: the same page, nothing redone
    for link in links_of(page.text):  # every internal link and image answers
        followed = client.get(link, follow_redirects=True)
        assert followed.status_code == 200, link
    photo = client.get(location + "/photos/1/m")
    assert photo.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(photo.content)).size[0] <= 1280
    assert "4 more plants today" in client.get("/identify").text
    with app.state.database.read() as session:
        row = session.get(WebIdentification, RESULT.match(location).group(1))
        assert row is not None and row.account_id is None

    # A weed whose project ships licensed reference photos: shown with author and licence.
    weed = sorted((shared_data / "samples" / "deepweeds" / "parkinsonia").glob("*.jpg"))[0]
    answer = post_photos(client, [("weed.jpg", weed.read_bytes())], ["leaf"])
    page = client.get(answer.headers["location"])
    assert "Parkinsonia aculeata" in page.text
    assert page.text.count('src="/v2/media/references/') >= 3 and "© " in page.text
    assert "licence not recorded" not in page.text
    for link in links_of(page.text):
        assert client.get(link, follow_redirects=True).status_code == 200, link


def test_the_visitor_allowance_refunds_failures_and_can_be_closed(app_for,
                                                                    shared_data: Path) -> None:
    _, client = app_for(web_identify_visitor_per_day=2)
    photo = [("s.jpg", oxford(shared_data, "sunflower"))]
    broken = [("s.jpg", oxford(shared_data, "sunflower")[:300])]  # a truncated JPEG
    assert post_photos(client, broken, ["flower"]).status_code == 400
    assert post_photos(client, photo, ["flower"]).status_code == 303
    assert post_photos(client, photo, ["flower"]).status_code == 303  # the failure was refunded
    refused = post_photos(client, photo, ["flower"])
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Create a free account" in refused.text and "used up" in refused.text
    _, closed = app_for(web_identify_visitor_per_day=0)
    assert "Identifying needs an account" in closed.get("/identify").text
    refused = post_photos(closed, photo, ["flower"])
    assert refused.status_code == 429 and "needs an account" in refused.text


@pytest.mark.both_databases
def test_signed_in_people_land_on_identify_and_keep_a_history(app_for,
                                                              shared_data: Path) -> None:
    app, client = app_for()
    sign_up(client, "gardener@example.org")
    login = client.get("/login?next=/identify/history")
    assert login.status_code == 303 and login.headers["location"] == "/identify/history"
    token = csrf_of(client.get("/identify").text)
    client.post("/logout", data={"csrf_token": token})
    page = client.get("/login")
    landed = client.post("/login", data={"email": "gardener@example.org", "password": PASSWORD,
                                         "csrf_token": csrf_of(page.text)})
    assert landed.headers["location"] == "/identify"
    form = client.get("/identify")
    assert "Your identifications" in form.text and "of 500 a day" in form.text
    assert 'href="/identify/history"' in form.text  # the nav link and the allowance note

    first = post_photos(client, [("s.jpg", oxford(shared_data, "sunflower"))], ["flower"])
    second = post_photos(client, [("d.jpg", oxford(shared_data, "daffodil"))], ["auto"])
    ids = [RESULT.match(a.headers["location"]).group(1) for a in (first, second)]
    broken = post_photos(client, [("b.jpg", oxford(shared_data, "daisy")[:500])], ["flower"])
    assert broken.status_code == 400
    # Two identifications taken from the account's daily 500 (the failure was given back).
    assert "498 more plants today" in client.get("/identify").text
    history = client.get("/identify/history")
    assert history.status_code == 200
    assert history.text.index(ids[1]) < history.text.index(ids[0])  # newest first
    assert "Sunflower" in history.text and "Daffodil" in history.text
    for link in links_of(history.text):
        assert client.get(link, follow_redirects=True).status_code == 200, link
    assert client.get("/identify/history?page=abc").status_code == 400
    assert client.get("/identify/history?page=0").status_code == 400
    assert client.get("/identify/history?page=99").status_code == 200

    result = client.get(f"/identify/results/{ids[0]}")
    assert "Delete this identification" in result.text
    # Someone else (signed out) may see a shared result, not delete it.
    with TestClient(app, follow_redirects=False) as stranger:
        shared = stranger.get(f"/identify/results/{ids[0]}")
        assert shared.status_code == 200 and "Delete this identification" not in shared.text
        assert stranger.get("/identify/history").headers["location"].startswith("/login")
        refused = stranger.post(f"/identify/results/{ids[0]}/delete",
                                data={"csrf_token": csrf_of(stranger.get("/identify").text)})
        assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    forged = client.post(f"/identify/results/{ids[0]}/delete", data={"csrf_token": "x"})
    assert forged.status_code == 403
    deleted = client.post(f"/identify/results/{ids[0]}/delete",
                          data={"csrf_token": csrf_of(result.text)})
    assert deleted.headers["location"] == "/identify/history?notice=deleted"
    assert "were deleted" in client.get(deleted.headers["location"]).text
    assert client.get(f"/identify/results/{ids[0]}").status_code == 404
    assert client.get(f"/identify/results/{ids[0]}/photos/1/s").status_code == 404
    assert client.get(f"/identify/results/{ids[1]}/photos/1/s").status_code == 200


def test_history_is_paged(app_for) -> None:
    from hortus.web.identify_store import new_identification_id, save_identification

    app, client = app_for()
    sign_up(client, "pager@example.org")
    with app.state.database.read() as session:
        from hortus.accounts.service import get_account

        account_id = get_account(session=session, email="pager@example.org").id
    for n in range(23):
        save_identification(database=app.state.database, identification_id=new_identification_id(),
                            account_id=account_id, language="en", model_version="t",
                            photos=[], candidates=[{"name": "Helianthus annuus",
                                                    "score": n / 100, "references": []}])
    first = client.get("/identify/history")
    assert "23 identifications" in first.text and "Page 1 of 2" in first.text
    assert first.text.count('href="/identify/results/') == 20 and 'rel="next"' in first.text
    second = client.get("/identify/history?page=2")
    assert second.text.count('href="/identify/results/') == 3 and 'rel="prev"' in second.text


def test_a_heic_photo_from_a_phone_is_identified_and_shown_back(app_for,
                                                                 shared_data: Path) -> None:
    _, client = app_for()
    heic = heic_of(oxford(shared_data, "sunflower"))
    token = csrf_of(client.get("/identify").text)
    answer = client.post("/identify", data={"csrf_token": token, "organs": ["flower"]},
                         files=[("images", ("IMG_0001.HEIC", heic, "image/heic"))])
    assert answer.status_code == 303, answer.text[:400]
    page = client.get(answer.headers["location"])
    assert "Helianthus annuus" in page.text
    shown = client.get(answer.headers["location"] + "/photos/1/m")
    assert Image.open(io.BytesIO(shown.content)).format == "JPEG"
    # A damaged HEIC gets a sentence, not a 500.
    damaged = client.post("/identify", data={"csrf_token": token},
                          files=[("images", ("x.heic", heic[:2000], "image/heic"))])
    assert damaged.status_code == 415 and "cannot be read" in damaged.text


def test_photos_that_disagree_are_flagged(app_for, shared_data: Path) -> None:
    _, client = app_for()
    answer = post_photos(client, [("daisy.jpg", oxford(shared_data, "daisy", 5)),
                                  ("daffodil.jpg", oxford(shared_data, "daffodil", 5))],
                         ["flower", "flower"])
    assert answer.status_code == 303, answer.text[:400]
    page = client.get(answer.headers["location"])
    assert "The photos may not show one plant" in page.text, page.text
    assert "photo 1 looks like" in page.text and "photo 2 looks like" in page.text
    agree = post_photos(client, [("a.jpg", oxford(shared_data, "sunflower", 3)),
                                 ("b.jpg", oxford(shared_data, "sunflower", 7))],
                        ["flower", "auto"])
    assert "may not show one plant" not in client.get(agree.headers["location"]).text


def test_hostile_and_malformed_forms_get_a_4xx_page(app_for, shared_data: Path) -> None:
    app, client = app_for()
    photo = oxford(shared_data, "sunflower")
    token = csrf_of(client.get("/identify").text)

    def expect(response, status: int, words: str) -> None:  # type: ignore[no-untyped-def]
        assert response.status_code == status, (status, response.text[:300])
        assert words in response.text, response.text[-1500:]
        assert response.headers["content-type"].startswith("text/html")

    expect(post_photos(client, [("s.jpg", photo)], ["flower"], token="forged"), 403,
           "could not be verified")
    nothing = [("images", ("", b"", "application/octet-stream"))] * 2  # both inputs left empty
    expect(client.post("/identify", data={"csrf_token": token}, files=nothing), 400,
           "Choose at least one photo")
    expect(post_photos(client, [(f"{n}.jpg", photo) for n in range(6)], [], token), 400,
           "at most 5 photos")
    expect(post_photos(client, [("a.gif", b"GIF89a" + b"\x01" * 50)], ["auto"], token), 415,
           "JPEG, PNG, WebP or HEIC")
    expect(post_photos(client, [("a.jpg", b"not a photo")], ["auto"], token), 415,
           "is not a photo Hortus can read")
    expect(post_photos(client, [("a.jpg", photo)], ["root"], token), 400,
           "Choose what each photo shows")
    expect(post_photos(client, [("a.jpg", photo)], ["habit"], token), 400, "whole plant")
    expect(client.post("/identify", data={"csrf_token": token}), 415, "multipart/form-data")
    expect(client.post("/identify", content=b"--x\r\njunk", headers={
        "content-type": "multipart/form-data; boundary=x"}), 400, "malformed")
    expect(client.post("/identify", content=b"", headers={
        "content-type": "multipart/form-data"}), 400, "boundary")
    expect(client.post("/identify", data={"csrf_token": "t" * 5000}, files=[
        ("images", ("a.jpg", photo, "image/jpeg"))]), 400, "not what this page sends")
    expect(client.get("/identify/results/nope"), 404, "no identification at this address")
    expect(client.get("/identify/results/" + "A" * 22), 404, "no identification")
    no_match = post_photos(client, [("pot.png", _plain_png())], ["leaf"], token)
    assert no_match.status_code in (303, 404)
    if no_match.status_code == 404:
        assert "None of the plants Hortus knows" in no_match.text
    # Nothing above was counted against the visitor, and every page was HTML.
    assert "more plants today" in client.get("/identify").text


def _plain_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(out, "PNG")
    return out.getvalue()


def test_photo_urls_and_the_favicon(app_for, shared_data: Path) -> None:
    _, client = app_for()
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert Image.open(io.BytesIO(icon.content)).format == "ICO"
    location = post_photos(client, [("s.jpg", oxford(shared_data, "sunflower"))],
                           ["flower"]).headers["location"]
    small = client.get(location + "/photos/1/s")
    assert small.status_code == 200 and max(Image.open(io.BytesIO(small.content)).size) <= 320
    assert "private" in small.headers["cache-control"]
    for bad in ("/photos/2/s", "/photos/0/s", "/photos/x/s", "/photos/1/o", "/photos/999999/m"):
        assert client.get(location + bad).status_code == 404, bad
