"""Issue 15, item 4 on Pl@ntNet's ``/v2/identify``: expensive requests that cost nothing.

"Species not found" gives the quota unit back (Pl@ntNet's semantics, kept), so the probe sent
five 7071x7071 single-colour PNGs per request (~160 KB each, 150 MB of pixels each) at no cost;
16 such requests at once took the server past 1 GB. Now a photo's pixels are checked from its
header before any is decoded, and one account never has more than ``image_work_per_account``
image jobs running, whatever it sends; other accounts are served meanwhile.
"""

from __future__ import annotations

import time

import requests
from fastapi.testclient import TestClient
from identify_support import PROJECT, flora_settings
from tests.conftest import LiveServer, make_key

from hortus.app import create_app
from hortus.config import Settings
from image_work_support import JobWatch, flood, huge_jpeg, huge_png


def _used(client: TestClient, key) -> int:
    quota = client.get("/v2/quota", params={"api-key": key.api_key}).json()
    return quota["quota"]["identify"]["count"]


def test_five_huge_single_colour_pngs_cost_no_decoding(id_client: TestClient,
                                                       id_settings: Settings) -> None:
    key = make_key(id_settings)
    engine = id_client.app.state.inference.engine  # type: ignore[attr-defined]
    watch = JobWatch(engine, who_bytes=lambda _: "any", who_image=lambda _: "any")
    try:
        png = huge_png()
        started = time.process_time()
        response = id_client.post(
            f"/v2/identify/{PROJECT}", params={"api-key": key.api_key},
            files=[("images", (f"flat-{i}.png", png, "image/png")) for i in range(5)])
        cpu = time.process_time() - started
    finally:
        watch.close()
    assert response.status_code == 400, response.text
    answer = response.json()
    assert (answer["statusCode"], answer["error"]) == (400, "Bad Request")
    assert answer["message"].startswith("image 1 (flat-0.png): the image is 7071x7071 = "
                                        "49,999,041 pixels, over this server's limit of "
                                        "16,000,000 pixels for PNG images")
    assert watch.calls["any"] == 0  # refused from the header: nothing decoded
    assert cpu < 0.5, f"{cpu:.2f} s of CPU for a refusal"
    assert _used(id_client, key) == 0


def test_a_huge_baseline_jpeg_is_still_decoded_at_reduced_scale(id_client: TestClient,
                                                                id_settings: Settings) -> None:
    """The same 50 MP picture as a baseline JPEG fits the budget: libjpeg reads it at 1/8."""
    key = make_key(id_settings)
    engine = id_client.app.state.inference.engine  # type: ignore[attr-defined]
    watch = JobWatch(engine, who_bytes=lambda _: "any", who_image=lambda _: "any")
    try:
        response = id_client.post(
            f"/v2/identify/{PROJECT}", params={"api-key": key.api_key},
            files=[("images", ("flat.jpg", huge_jpeg(), "image/jpeg"))])
    finally:
        watch.close()
    assert response.status_code in (200, 404), response.text  # a flat green is no flower
    assert watch.calls["any"] >= 2  # decoded and embedded


def test_one_account_runs_at_most_its_share_of_image_jobs(settings: Settings, flora) -> None:
    limited = flora_settings(settings, flora, inference_workers=4, image_work_per_account=1,
                             image_work_wait=30.0)
    flood_key = make_key(limited, "flood@example.org")
    other_key = make_key(limited, "other@example.org")
    flood_photo = flora.photo("daffodil").read_bytes()
    other_photo = flora.photo("sunflower").read_bytes()
    app = create_app(limited)
    with LiveServer(app) as server:
        keys = {"flood": flood_key, "other": other_key}

        def send(who: str, photo: bytes) -> requests.Response:
            return requests.post(f"{server.url}/v2/identify/{PROJECT}",
                                 params={"api-key": keys[who].api_key},
                                 files={"images": ("flower.jpg", photo)}, timeout=120)

        peak, answers = flood(app.state.inference.engine, send, flood_photo, other_photo)
        used = requests.get(f"{server.url}/v2/quota", params={"api-key": flood_key.api_key},
                            timeout=30).json()["quota"]["identify"]["count"]
    statuses = sorted(r.status_code for _, r in answers["flood"])
    assert peak["flood"] == 1, f"{peak['flood']} of its jobs ran at once"
    assert 200 in statuses and 429 in statuses, statuses
    refused = next(r for _, r in answers["flood"] if r.status_code == 429)
    assert refused.json() == {"statusCode": 429, "error": "Too Many Requests",
                              "message": refused.json()["message"]}
    assert "image requests in progress" in refused.json()["message"]
    assert refused.headers["Retry-After"] == "1"
    [(other_done, other_answer)] = answers["other"]
    assert other_answer.status_code == 200, other_answer.text
    assert other_done < max(done for done, _ in answers["flood"])  # not queued behind the flood
    assert used == statuses.count(200)  # a 429 costs no unit
