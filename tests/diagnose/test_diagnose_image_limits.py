"""Issue 15, items 3 and 4 on PEAT's ``/v1/image_analysis``: what one request, and one account,
can make the server do.

* A chunked picture is cut off at the upload cap while it streams: nothing past the cap is read
  (the probe's 300 MB chunked picture was spooled to /tmp in full before the 413).
* A 7071x7071 single-colour PNG (160 KB, 150 MB of pixels) is refused from its header, before
  any decoding and at no quota cost.
* One account never has more than ``image_work_per_account`` image jobs running, however many
  requests it sends at once; the rest wait or get PEAT's 429 with Retry-After, and another
  account is served meanwhile.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from diagnose_support import unseen_photos, used_units
from fastapi.testclient import TestClient
from tests.conftest import LiveServer, make_key

from hortus.app import create_app
from hortus.config import Settings
from image_work_support import JobWatch, chunked_request, flood, huge_png

CAP = 1024 * 1024
CHUNK = 64 * 1024
FRAMING = 64 * 1024  # PEAT's body may carry this much framing on top of the picture's cap


def _picture_body(boundary: bytes, picture_bytes: int) -> list[bytes]:
    head = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="picture"; '
            b'filename="leaf.png"\r\nContent-Type: image/png\r\n\r\n')
    tail = b"\r\n--" + boundary + b"--\r\n"
    return [head, *(b"z" * CHUNK for _ in range(picture_bytes // CHUNK)), tail]


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_chunked_picture_is_cut_off_at_the_cap(settings: Settings, method: str) -> None:
    small = settings.model_copy(update={"max_upload_bytes": CAP})
    key = make_key(small)
    chunks = _picture_body(b"xx", CAP + 4 * 1024 * 1024)  # 5 MB sent without a length
    with TestClient(create_app(small)) as client:
        status, _, body, pulled = chunked_request(
            client, method, "/v1/image_analysis",
            {"api-key": key.api_key, "content-type": "multipart/form-data; boundary=xx"},
            chunks)
    assert status == 413
    assert json.loads(body) == {"message": f"The picture is over {CAP} bytes.", "code": 413}
    assert pulled <= CAP + FRAMING + CHUNK, f"read {pulled:,} bytes of a {CAP:,} bytes cap"
    assert used_units(small, key) == 0


def test_a_chunked_picture_within_the_cap_is_read_whole(diag_settings: Settings,
                                                        diag_key) -> None:
    """The cut-off counts bytes, not chunks: a body under the cap in many chunks gets past it
    (to the decoder, which finds the bytes are no photo: PEAT's 400)."""
    key = diag_key
    with TestClient(create_app(diag_settings)) as client:
        status, _, body, pulled = chunked_request(
            client, "POST", "/v1/image_analysis",
            {"api-key": key.api_key, "content-type": "multipart/form-data; boundary=xx"},
            _picture_body(b"xx", 2 * 1024 * 1024))
    assert status == 400, body
    assert pulled > 2 * 1024 * 1024


def test_a_huge_single_colour_png_costs_no_decoding_and_no_unit(diag_settings: Settings,
                                                                diag_key) -> None:
    with TestClient(create_app(diag_settings)) as client:
        engine = client.app.state.inference.engine  # type: ignore[attr-defined]
        watch = JobWatch(engine, who_bytes=lambda _: "any", who_image=lambda _: "any")
        try:
            png = huge_png()
            started = time.process_time()
            response = client.post("/v1/image_analysis", headers={"Api-Key": diag_key.api_key},
                                   files={"picture": ("flat.png", png, "image/png")})
            cpu = time.process_time() - started
        finally:
            watch.close()
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["code"] == 400
    assert "7071x7071 = 49,999,041 pixels" in answer["message"]
    assert "limit of 16,000,000 pixels for PNG images" in answer["message"]
    assert watch.calls["any"] == 0  # refused from the header: nothing decoded
    assert cpu < 0.5, f"{cpu:.2f} s of CPU for a refusal"
    assert used_units(diag_settings, diag_key) == 0


def test_one_account_runs_at_most_its_share_of_image_jobs(diag_settings: Settings,
                                                          shared_data) -> None:
    limited = diag_settings.model_copy(update={
        "inference_workers": 4, "image_work_per_account": 1, "image_work_wait": 30.0})
    flood_key = make_key(limited, "flood@example.org")
    other_key = make_key(limited, "other@example.org")
    flood_photo, other_photo = (p.read_bytes() for p in unseen_photos(shared_data, "healthy", 2))
    app = create_app(limited)
    with LiveServer(app) as server:
        keys = {"flood": flood_key, "other": other_key}

        def send(who: str, photo: bytes) -> requests.Response:
            return requests.post(f"{server.url}/v1/image_analysis",
                                 headers={"Api-Key": keys[who].api_key},
                                 files={"picture": ("leaf.jpg", photo)}, timeout=120)

        peak, answers = flood(app.state.inference.engine, send, flood_photo, other_photo)
    statuses = sorted(r.status_code for _, r in answers["flood"])
    assert peak["flood"] == 1, f"{peak['flood']} of its jobs ran at once"
    assert 200 in statuses and 429 in statuses, statuses
    refused = next(r for _, r in answers["flood"] if r.status_code == 429)
    assert refused.json() == {"message": refused.json()["message"], "code": 429}
    assert "image requests in progress" in refused.json()["message"]
    assert refused.headers["Retry-After"] == "1"
    [(other_done, other_answer)] = answers["other"]
    assert other_answer.status_code == 200, other_answer.text
    assert other_done < max(done for done, _ in answers["flood"])  # not queued behind the flood
    assert used_units(limited, flood_key) == statuses.count(200)  # a 429 costs no unit
