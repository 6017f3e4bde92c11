"""Issue 17: ``GET /v1/image_analysis`` with a multipart body, as PEAT's published scripts send it.

Those scripts call ``requests.get(URL, files={"picture": f}, headers={"api_key": KEY},
timeout=...)`` for one photo and, in their batch form, once per photo with metadata headers.
The answers must be the ``POST`` answers (per-request ids aside).
"""

from __future__ import annotations

from pathlib import Path

import requests
from diagnose_support import BEAN_CLASSES, stored_row, unseen_photos, used_units

TIMEOUT = 200


def without_ids(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "pic_id"}


def get_as_peat_scripts_do(url: str, key: str, photo: Path,
                           metadata: dict[str, str] | None = None) -> requests.Response:
    with photo.open("rb") as picture:
        return requests.get(f"{url}/v1/image_analysis", files={"picture": picture},
                            headers={"api_key": key, **(metadata or {})}, timeout=TIMEOUT)


def post(url: str, key: str, photo: Path, metadata: dict[str, str] | None = None):
    with photo.open("rb") as picture:
        return requests.post(f"{url}/v1/image_analysis", files={"picture": picture},
                             headers={"Api-Key": key, **(metadata or {})}, timeout=TIMEOUT)


def test_single_photo_by_get(diag_server, diag_key, diag_settings, shared_data):
    photo = unseen_photos(shared_data, "bean_rust", 1)[0]
    got = get_as_peat_scripts_do(diag_server.url, diag_key.api_key, photo)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/json")
    posted = post(diag_server.url, diag_key.api_key, photo)
    assert posted.status_code == 200
    assert without_ids(got.json()) == without_ids(posted.json())
    assert got.json()["pic_id"] != posted.json()["pic_id"]
    assert got.json()["plant_net"][0]["name"] == "BEAN"
    # Stored and charged like a POST.
    assert used_units(diag_settings, diag_key) == 2
    assert got.headers["RateLimit"] and posted.headers["RateLimit"]
    stored = requests.get(f"{diag_server.url}/v1/image_analysis/{got.json()['pic_id']}",
                          headers={"api_key": diag_key.api_key}, timeout=10)
    assert stored.status_code == 200
    assert {k: stored.json()[k] for k in got.json()} == got.json()


def test_batch_by_get_with_metadata_headers(diag_server, diag_key, diag_settings, shared_data):
    metadata = {"user": "field-team-3", "latitude": "0.3476", "longitude": "32.58",
                "variety": "K132"}
    photos = [p for label in BEAN_CLASSES for p in unseen_photos(shared_data, label, 2)]
    for photo in photos:
        got = get_as_peat_scripts_do(diag_server.url, diag_key.api_key, photo, metadata)
        posted = post(diag_server.url, diag_key.api_key, photo, metadata)
        assert got.status_code == posted.status_code == 200, got.text
        assert without_ids(got.json()) == without_ids(posted.json()), photo.name
        row = stored_row(diag_settings, got.json()["pic_id"])
        assert row.metadata_raw == metadata
        assert (row.latitude, row.longitude, row.variety) == (0.3476, 32.58, "K132")
        assert row.answer == got.json()
    assert used_units(diag_settings, diag_key) == 2 * len(photos)


def test_get_errors_are_posts_errors(diag_server, diag_key, shared_data):
    photo = unseen_photos(shared_data, "healthy", 1)[0]
    url = f"{diag_server.url}/v1/image_analysis"
    with photo.open("rb") as picture:
        anonymous = requests.get(url, files={"picture": picture}, timeout=TIMEOUT)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"message": "No valid Api-Key provided.", "code": 401}
    junk = requests.get(url, files={"picture": ("a.jpg", b"junk")},
                        headers={"api_key": diag_key.api_key}, timeout=TIMEOUT)
    posted = requests.post(url, files={"picture": ("a.jpg", b"junk")},
                           headers={"api_key": diag_key.api_key}, timeout=TIMEOUT)
    assert junk.status_code == posted.status_code == 400
    assert junk.json() == posted.json()
