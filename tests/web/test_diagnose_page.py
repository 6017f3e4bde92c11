"""The diagnosis page over HTTP with the packaged crop models and real crop photos: the photo
form, post/redirect/get to the stored analysis (its owner only), hostile uploads, and the
analysis quota."""

from __future__ import annotations

import html
import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import csrf_of, sign_up

from hortus.diagnose.models import Analysis

HTML = {"accept": "text/html,application/xhtml+xml"}
RESULT = re.compile(r"^/diagnose/results/([0-9a-f-]{36})$")


def coffee_rust(shared_data: Path) -> Path:
    return sorted((shared_data / "samples" / "coffee" / "rust").glob("*.jpg"))[0]


def tomato_late_blight(shared_data: Path) -> Path:
    return sorted((shared_data / "samples" / "plantvillage" / "tomato__late_blight").iterdir())[0]


def sunflower(shared_data: Path) -> Path:
    return sorted((shared_data / "oxford17" / "sunflower").glob("*.jpg"))[3]


def diagnose(client: TestClient, photo: bytes, crop: str = "", name: str = "leaf.jpg",
             token: str | None = None):  # type: ignore[no-untyped-def]
    token = token or csrf_of(client.get("/diagnose").text)
    return client.post("/diagnose", data={"csrf_token": token, "crop": crop},
                       files={"picture": (name, photo, "image/jpeg")})


def analyses(client: TestClient) -> int:
    from sqlalchemy import func, select

    with client.app.state.database.read() as session:  # type: ignore[attr-defined]
        return session.scalar(select(func.count()).select_from(Analysis)) or 0


def used_this_month(client: TestClient) -> str:
    row = re.search(r'<tr data-api="analysis">(.*?)</tr>', client.get("/settings/api-key").text,
                    re.S).group(1)
    return re.search(r'class="month"[^>]*>([^<]*)<', row).group(1)


def test_signed_out_visitors_are_told_why_an_account_is_needed(client: TestClient) -> None:
    client.follow_redirects = False
    page = client.get("/diagnose")
    assert page.status_code == 200
    assert "Sign in to diagnose a photo" in page.text
    assert 'href="/login?next=/diagnose"' in page.text and 'href="/signup"' in page.text
    assert 'href="/diseases"' in page.text  # the catalogue is open to everyone
    posted = client.post("/diagnose", files={"picture": ("a.jpg", b"x", "image/jpeg")})
    assert posted.status_code == 303 and posted.headers["location"] == "/login?next=/diagnose"


@pytest.mark.both_databases
def test_a_coffee_leaf_is_diagnosed_and_kept_at_its_own_address(client: TestClient,
                                                                shared_data: Path) -> None:
    client.follow_redirects = False
    sign_up(client, "grower@example.org")
    form = client.get("/diagnose")
    assert form.status_code == 200 and '<option value="coffee">Coffee' in form.text
    photo = coffee_rust(shared_data).read_bytes()
    answer = diagnose(client, photo, token=csrf_of(form.text))
    assert answer.status_code == 303, answer.text[:500]
    address = answer.headers["location"]
    assert RESULT.match(address)
    result = client.get(address)
    assert result.status_code == 200
    text = result.text
    assert "Coffee leaf rust" in text and "Hemileia vastatrix" in text
    for heading in ("Symptoms", "Organic treatment", "Chemical treatment", "Prevention"):
        assert f"<dt>{heading}</dt>" in text
    assert 'href="/diseases/' in text and f'src="{address}/picture"' in text
    assert "Crop: <strong>" in text and "Coffee" in text
    # Reload (and Back) show the stored analysis: nothing is analysed or charged again.
    assert client.get(address).text == text
    assert analyses(client) == 1 and used_this_month(client) == "1"
    picture = client.get(f"{address}/picture")
    assert picture.status_code == 200 and picture.content == photo
    assert picture.headers["content-type"] == "image/jpeg"
    assert picture.headers["cache-control"].startswith("private")

    # Only its owner sees it: another account and a signed-out visitor do not.
    with TestClient(client.app, follow_redirects=False) as other:  # type: ignore[arg-type]
        assert other.get(address).status_code == 303  # signed out: sign in first
        assert other.get(address).headers["location"] == f"/login?next={address}"
        assert other.get(f"{address}/picture").status_code == 404
        sign_up(other, "neighbour@example.org")
        refused = other.get(address)
        assert refused.status_code == 404 and "Coffee leaf rust" not in refused.text
        assert other.get(f"{address}/picture").status_code == 404


def test_a_chosen_crop_selects_its_model(client: TestClient, shared_data: Path) -> None:
    client.follow_redirects = False
    sign_up(client, "grower@example.org")
    answer = diagnose(client, tomato_late_blight(shared_data).read_bytes(), crop="tomato")
    assert answer.status_code == 303, answer.text[:500]
    result = client.get(answer.headers["location"]).text
    assert re.search(r"Crop: <strong>.*Tomato.*</strong> \(your choice", result)
    assert "Late blight of potato and tomato" in result
    assert 'href="/diseases?crop=Solanum+lycopersicum">every known problem of tomato' in result
    with client.app.state.database.read() as session:  # type: ignore[attr-defined]
        stored = session.query(Analysis).one()
        assert stored.crop == "tomato" and stored.project == "tomato"


def test_a_photo_of_no_crop_says_so(client: TestClient, shared_data: Path) -> None:
    client.follow_redirects = False
    sign_up(client, "grower@example.org")
    answer = diagnose(client, sunflower(shared_data).read_bytes())
    assert answer.status_code == 303
    result = client.get(answer.headers["location"]).text
    assert "No crop Hortus can diagnose was recognised" in result


def test_hostile_uploads_get_a_clear_4xx_and_cost_nothing(client: TestClient,
                                                          shared_data: Path) -> None:
    client.follow_redirects = False
    sign_up(client, "grower@example.org")
    token = csrf_of(client.get("/diagnose").text)
    photo = coffee_rust(shared_data).read_bytes()
    cases = [
        (b"not a photo", "", "leaf.jpg"),
        (b"", "", "leaf.jpg"),
        (photo[: len(photo) // 3], "", "leaf.jpg"),  # truncated
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "", "x.png"),
        (b"GIF89a" + b"\x01" * 50, "", "x.gif"),
        (photo, "mars-cabbage", "leaf.jpg"),  # a crop no model diagnoses
        (photo, "<script>alert(1)</script>", "leaf.jpg"),
        (photo, "x" * 5000, "leaf.jpg"),
    ]
    for data, crop, name in cases:
        answer = diagnose(client, data, crop=crop, name=name, token=token)
        assert 400 <= answer.status_code < 500, (name, crop[:20], answer.status_code)
        assert '<div class="errors" role="alert"' in answer.text, answer.text[:300]
        assert "<script>alert(1)</script>" not in answer.text
    no_file = client.post("/diagnose", data={"csrf_token": token, "crop": ""})
    assert no_file.status_code == 400 and "Choose a photo" in no_file.text
    text_not_file = client.post("/diagnose", data={"csrf_token": token, "picture": "x"},
                                files={"other": ("a.txt", b"a", "text/plain")}, headers=HTML)
    assert 400 <= text_not_file.status_code < 500
    not_multipart = client.post("/diagnose", content=b"\xff" * 100, headers={
        "content-type": "application/octet-stream", **HTML})
    assert 400 <= not_multipart.status_code < 500
    forged = diagnose(client, photo, token="forged")
    assert forged.status_code == 403
    too_large = client.post("/diagnose", content=b"x", headers={
        "content-type": "multipart/form-data; boundary=x",
        "content-length": str(client.app.state.settings.max_upload_bytes + 1)})  # type: ignore[attr-defined]
    assert too_large.status_code == 413
    assert analyses(client) == 0 and used_this_month(client) == "0"  # refunded, or never taken

    for address in ("/diagnose/results/nope", f"/diagnose/results/{uuid.uuid4()}",
                    "/diagnose/results/" + "9" * 300, "/diagnose/results/%00"):
        page = client.get(address, headers=HTML)
        assert page.status_code == 404 and "Analysis not found" in page.text, address
        assert client.get(address + "/picture").status_code == 404


def test_the_months_quota_is_explained(client: TestClient, shared_data: Path) -> None:
    from hortus.accounts import quotas, service

    client.follow_redirects = False
    sign_up(client, "grower@example.org")
    with client.app.state.database.write() as session:  # type: ignore[attr-defined]
        account = service.get_account(session=session, email="grower@example.org")
        quotas.set_limits(session=session, account_id=account.id,
                          limits={quotas.API_ANALYSIS: 0})
    answer = diagnose(client, coffee_rust(shared_data).read_bytes())
    assert answer.status_code == 429
    assert "this month's 0 image analyses" in html.unescape(answer.text)
