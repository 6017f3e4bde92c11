"""PEAT image analysis over real HTTP: the seed's Python client against a live server."""

from __future__ import annotations

import importlib.util
import io
import uuid
from pathlib import Path

import pytest
import requests
from diagnose_support import BEAN_CLASSES, EXPECTED, predicted_label, unseen_photos
from PIL import Image
from sqlalchemy import select
from tests.conftest import LiveServer

from hortus.accounts import quotas
from hortus.accounts import service as accounts
from hortus.accounts.keys import NewKey
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.diagnose.models import Analysis
from hortus.media.factory import open_backend, resolve_backend
from hortus.media.local import LocalMediaStore
from hortus.media.store import photo_key

CLIENTS = Path(__file__).with_name("clients")
QUOTA_MESSAGE = {"message": "You have reached your maximum amount of requests this month"}


def seed_client(server: LiveServer, key: NewKey, picture: Path):
    """The seed's Python example, pointed at the live server (host, key and picture changed)."""
    spec = importlib.util.spec_from_file_location(f"peat_example_{uuid.uuid4().hex}",
                                                  CLIENTS / "peat_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.URL = f"{server.url}/{module.VERSION}/{module.ROUTE}"
    module.HEADER = {"Api-Key": key.api_key}
    module.IMAGE = str(picture)
    return module.single_processing()


def post(server: LiveServer, key: NewKey | None, data: bytes | None = None,
         headers: dict[str, str] | None = None, name: str = "leaf.jpg") -> requests.Response:
    files = {"picture": (name, data, "image/jpeg")} if data is not None else None
    sent = {"Api-Key": key.api_key} if key else {}
    return requests.post(f"{server.url}/v1/image_analysis", files=files,
                         headers={**sent, **(headers or {})}, timeout=60)


@pytest.mark.both_databases
def test_seed_client_gets_every_field(diag_server, diag_key, diag_settings, shared_data):
    photo = unseen_photos(shared_data, "bean_rust", 1)[0]
    answer = seed_client(diag_server, diag_key, photo)
    assert isinstance(answer, dict), answer
    assert set(answer) >= {"big_enough", "code", "image_analysis", "objects_net", "pic_id",
                           "plant_net", "recognized", "recognized_bool"}
    assert answer["big_enough"] is True and answer["code"] == 200  # 500x500 photo
    assert answer["recognized"] in ("True", "False")  # a string, as in PEAT's document
    assert answer["recognized"] == str(answer["recognized_bool"])
    top = answer["image_analysis"][0]
    assert {k: top[k] for k in ("eppo", "name", "peat_id", "scientific_name")} == \
        EXPECTED["bean_rust"]
    assert top["rank"] == 1 and isinstance(top["similarity"], int) and top["similarity"] >= 50
    ranks = [e["rank"] for e in answer["image_analysis"]]
    assert ranks == sorted(ranks) and len(answer["image_analysis"]) == 2  # healthy not listed
    for entry in answer["image_analysis"] + answer["objects_net"] + answer["plant_net"]:
        assert isinstance(entry["similarity"], int) and 0 <= entry["similarity"] <= 100
    assert [o["rank"] for o in answer["objects_net"]] == [1, 2, 3, 4, 5]
    assert all(isinstance(o["name"], str) and "," not in o["name"] for o in answer["objects_net"])
    assert answer["plant_net"][0]["name"] == "BEAN" and answer["plant_net"][0]["rank"] == 1
    assert answer["plant_net"][0]["similarity"] > 50
    assert isinstance(answer["healthy"], int)
    pic_id = str(uuid.UUID(answer["pic_id"]))
    # The picture (in the configured media store, under its sha256: the data directory on
    # SQLite, the database on PostgreSQL) and the answer are stored; the extensions read them.
    assert _stored_keys(diag_settings) == [photo_key(photo.read_bytes())]
    picture = requests.get(f"{diag_server.url}/v1/image_analysis/{pic_id}/picture",
                           headers={"Api-Key": diag_key.api_key}, timeout=10)
    assert picture.status_code == 200 and picture.content == photo.read_bytes()
    again = requests.get(f"{diag_server.url}/v1/image_analysis/{pic_id}",
                         headers={"Api-Key": diag_key.api_key}, timeout=10)
    assert again.status_code == 200
    body = again.json()
    assert {k: body[k] for k in answer} == answer and "created_at" in body


def _stored_keys(settings: Settings) -> list[str]:
    """Every key in the store the server writes to (``HORTUS_MEDIA_BACKEND``)."""
    database = prepare_database(settings)
    try:
        store = open_backend(settings, resolve_backend(settings), database)
        return list(store.iter_keys())
    finally:
        database.dispose()


def test_unseen_photos_are_diagnosed(diag_server, diag_key, shared_data):
    """Photos the model never saw, four per class, all through HTTP."""
    hits = recognized = total = 0
    for label in BEAN_CLASSES:
        for photo in unseen_photos(shared_data, label, 4):
            response = post(diag_server, diag_key, photo.read_bytes())
            assert response.status_code == 200
            hits += predicted_label(response.json()) == label
            recognized += response.json()["recognized_bool"]
            total += 1
    assert hits / total >= 0.75, f"{hits}/{total}"
    assert recognized / total >= 0.5, f"{recognized}/{total} recognised as bean"


@pytest.mark.both_databases
def test_metadata_headers_in_both_spellings_are_stored(diag_server, diag_key, diag_settings,
                                                       shared_data):
    photo = unseen_photos(shared_data, "angular_leaf_spot", 1)[0].read_bytes()
    headers = {"Latitude": "0.3476", "longitude": "32.58", "Gps-Accuracy": "4.5",
               "eppo": "phaigr", "User-Id": "farmer-7", "user_name": "Akello",
               "Crop": "Phaseolus vulgaris", "variety": "K132", "timestamp": "2024-05-01T09:30:00Z"}
    response = post(diag_server, diag_key, photo, headers=headers)
    assert response.status_code == 200, response.text
    pic_id = response.json()["pic_id"]
    database = prepare_database(diag_settings)
    try:
        with database.read() as session:
            row = session.scalar(select(Analysis).where(Analysis.id == pic_id))
    finally:
        database.dispose()
    assert (row.latitude, row.longitude, row.gps_accuracy) == (0.3476, 32.58, 4.5)
    assert (row.eppo, row.user_id, row.user_name) == ("PHAIGR", "farmer-7", "Akello")
    assert (row.crop, row.variety, row.timestamp) == ("Phaseolus vulgaris", "K132",
                                                      "2024-05-01T09:30:00Z")
    assert row.taken_at.isoformat() == "2024-05-01T09:30:00+00:00"
    assert row.project == "bean" and row.answer == response.json()
    assert row.picture_format == "JPEG" and (row.width, row.height) == (500, 500)


@pytest.mark.parametrize(("crop", "diagnosed"), [
    ("bean", True), ("French bean", True), ("PHASEOLUS VULGARIS", True), ("beans", True),
    ("carrot", False),  # a crop the knowledge base knows, without a diagnosis model
])
def test_crop_header_selects_the_model(diag_server, diag_key, shared_data, crop, diagnosed):
    photo = unseen_photos(shared_data, "bean_rust", 1)[0].read_bytes()
    answer = post(diag_server, diag_key, photo, headers={"crop": crop}).json()
    assert bool(answer["image_analysis"]) is diagnosed
    if not diagnosed:
        assert answer["recognized_bool"] is False and answer["healthy"] is None
    assert answer["plant_net"][0]["name"] == "BEAN"  # recognition runs either way


def test_small_photo_is_not_big_enough(diag_server, diag_key, shared_data):
    photo = Image.open(unseen_photos(shared_data, "healthy", 1)[0]).resize((160, 160))
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    answer = post(diag_server, diag_key, buffer.getvalue(), name="leaf.png").json()
    assert answer["big_enough"] is False and answer["code"] == 200


def _truncated(shared_data: Path) -> bytes:
    data = unseen_photos(shared_data, "healthy", 1)[0].read_bytes()
    return data[: len(data) // 2]


@pytest.mark.parametrize(("case", "body"), [
    ("no picture", None),
    ("not an image", b"this is not a photo"),
    ("empty", b""),
    ("truncated", "truncated"),
])
def test_bad_input_is_400_json_and_costs_nothing(diag_server, diag_key, diag_settings,
                                                 shared_data, case, body):
    if body == "truncated":
        body = _truncated(shared_data)
    if body is None:
        response = requests.post(f"{diag_server.url}/v1/image_analysis",
                                 headers={"Api-Key": diag_key.api_key},
                                 data={"other": "x"}, timeout=30)
    else:
        response = post(diag_server, diag_key, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()
    assert error["code"] == 400 and error["message"]
    assert _used(diag_settings, diag_key) == 0
    assert list(LocalMediaStore(diag_settings.media_dir).iter_keys()) == []  # nothing kept


def _account_id(database, key: NewKey) -> int:
    with database.read() as session:
        return accounts.authenticate_api_key(session=session, api_key=key.api_key).account_id


def _used(settings: Settings, key: NewKey) -> int:
    database = prepare_database(settings)
    try:
        return quotas.peek(database=database, settings=settings,
                           account_id=_account_id(database, key), api=quotas.API_ANALYSIS).used
    finally:
        database.dispose()


def test_missing_or_wrong_key_is_401(diag_server, shared_data):
    photo = unseen_photos(shared_data, "healthy", 1)[0].read_bytes()
    for headers in ({}, {"Api-Key": "nope"}):
        response = requests.post(f"{diag_server.url}/v1/image_analysis",
                                 files={"picture": ("a.jpg", photo)}, headers=headers, timeout=30)
        assert response.status_code == 401
        assert response.json() == {"message": "No valid Api-Key provided.", "code": 401}


@pytest.mark.both_databases
def test_monthly_quota_gives_peats_exact_429(diag_server, diag_key, diag_settings, shared_data):
    database = prepare_database(diag_settings)
    try:
        with database.write() as session:
            quotas.set_limits(session=session, account_id=_account_id(database, diag_key),
                              limits={quotas.API_ANALYSIS: 2})
    finally:
        database.dispose()
    photo = unseen_photos(shared_data, "healthy", 1)[0].read_bytes()
    assert post(diag_server, diag_key, b"junk").status_code == 400  # refunded
    assert [post(diag_server, diag_key, photo).status_code for _ in range(2)] == [200, 200]
    refused = post(diag_server, diag_key, photo)
    assert refused.status_code == 429
    assert refused.json() == QUOTA_MESSAGE
    assert int(refused.headers["Retry-After"]) > 0
    assert post(diag_server, diag_key, photo).json() == QUOTA_MESSAGE  # refused before the model
    assert _used(diag_settings, diag_key) == 2
    database = prepare_database(diag_settings)
    try:
        with database.write() as session:  # the operator raises the limit: served again
            quotas.set_limits(session=session, account_id=_account_id(database, diag_key),
                              limits={quotas.API_ANALYSIS: 3})
    finally:
        database.dispose()
    assert post(diag_server, diag_key, photo).status_code == 200
    assert _used(diag_settings, diag_key) == 3


def test_picture_over_the_upload_limit_is_413(diag_settings, diag_key, shared_data):
    small = Settings(data_dir=diag_settings.data_dir, environment="test",
                     models_dir=diag_settings.models_dir, warm_up_engine=False,
                     max_upload_bytes=4096)
    photo = unseen_photos(shared_data, "healthy", 1)[0].read_bytes()
    with LiveServer(small) as server:
        response = post(server, diag_key, photo)
    assert response.status_code == 413
    assert response.json()["code"] == 413
    assert _used(small, diag_key) == 0


@pytest.mark.both_databases
def test_stored_analysis_is_private_and_checked(diag_server, diag_key, diag_settings,
                                                shared_data):
    from tests.conftest import make_key

    photo = unseen_photos(shared_data, "healthy", 1)[0].read_bytes()
    pic_id = post(diag_server, diag_key, photo).json()["pic_id"]
    other = make_key(diag_settings, email="neighbour@example.org")
    url = f"{diag_server.url}/v1/image_analysis"
    assert requests.get(f"{url}/{pic_id}", headers={"Api-Key": other.api_key},
                        timeout=10).status_code == 404
    assert requests.get(f"{url}/{pic_id}", timeout=10).status_code == 401
    bad = requests.get(f"{url}/not-a-uuid", headers={"Api-Key": diag_key.api_key}, timeout=10)
    assert bad.status_code == 400 and bad.json()["code"] == 400


def test_a_flower_is_not_recognised_as_a_bean(diag_server, diag_key, shared_data):
    flowers = shared_data / "oxford17" / "daisy"
    if not flowers.is_dir():
        pytest.skip("oxford17 is absent")
    answer = post(diag_server, diag_key, sorted(flowers.iterdir())[0].read_bytes()).json()
    assert (answer["recognized"], answer["recognized_bool"]) == ("False", False)
    assert answer["plant_net"] == [] and answer["image_analysis"] == []


def test_counted_answers_carry_monthly_rate_limit_headers(diag_server, diag_key, shared_data):
    photo = unseen_photos(shared_data, "bean_rust", 1)[0].read_bytes()
    first = post(diag_server, diag_key, photo)
    second = post(diag_server, diag_key, photo)
    assert first.status_code == second.status_code == 200
    assert first.headers["RateLimit-Policy"].startswith('"month";q=')
    remaining = [int(r.headers["RateLimit"].split(";r=")[1].split(";")[0]) for r in (first, second)]
    assert remaining[1] == remaining[0] - 1
