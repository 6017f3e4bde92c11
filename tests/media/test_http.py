"""Serving stored photos over HTTP from every backend: validators, caching, ranges, errors.

Reference photos (``/v2``, no key) and analysis pictures (``/v1``, the caller's own only)
answer with the key as ETag, immutable caching, 304 on ``If-None-Match``, 206 for one range,
and 404/416 in each API's own error format.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.conftest import make_key

from hortus.accounts import service as accounts
from hortus.app import create_app
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.diagnose.models import Analysis
from hortus.media import open_backend
from hortus.media.store import CHUNK_BYTES, photo_key, rendition_key

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def served(store_settings: tuple[str, Settings], photos) -> Iterator[tuple[TestClient, dict]]:
    """An app on each backend, and what its store holds: a reference photo's three sizes (one
    of them over a megabyte, so it streams in chunks)."""
    backend, settings = store_settings
    settings = settings.model_copy(update={"media_backend": backend})
    sha = photo_key(photos[0])
    held = {rendition_key(sha, "o"): b"".join(photos) * 3,  # > 1 MB: several chunks
            rendition_key(sha, "m"): photos[1], rendition_key(sha, "s"): photos[2]}
    database = prepare_database(settings)
    store = open_backend(settings, backend, database)
    for key, data in held.items():
        store.put(key, data, content_type="image/jpeg")
    store.close()
    database.dispose()
    with TestClient(create_app(settings)) as client:
        yield client, {"sha": sha, "settings": settings, **held}


def test_reference_photos_are_served_with_validators(served):
    client, held = served
    for size in "oms":
        key = rendition_key(held["sha"], size)
        answer = client.get(f"/v2/media/references/{held['sha']}/{size}")
        assert answer.status_code == 200
        assert answer.content == held[key]
        assert answer.headers["etag"] == f'"{key}"'
        assert answer.headers["cache-control"] == IMMUTABLE
        assert answer.headers["content-type"] == "image/jpeg"
        assert answer.headers["accept-ranges"] == "bytes"
        assert answer.headers["content-length"] == str(len(held[key]))
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert len(held[rendition_key(held["sha"], "o")]) > 4 * CHUNK_BYTES


def test_conditional_and_range_requests(served):
    client, held = served
    key = rendition_key(held["sha"], "o")
    data, url, etag = held[key], f"/v2/media/references/{held['sha']}/o", f'"{key}"'
    size = len(data)
    for tags in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = client.get(url, headers={"If-None-Match": tags})
        assert cached.status_code == 304 and cached.content == b"", tags
        assert cached.headers["etag"] == etag and cached.headers["cache-control"] == IMMUTABLE
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    for asked, first, end in [("bytes=100-199", 100, 200), ("bytes=-500", size - 500, size),
                              (f"bytes={CHUNK_BYTES - 10}-", CHUNK_BYTES - 10, size),
                              (f"bytes=0-{size + 50}", 0, size)]:
        part = client.get(url, headers={"Range": asked})
        assert part.status_code == 206, asked
        assert part.content == data[first:end], asked
        assert part.headers["content-range"] == f"bytes {first}-{end - 1}/{size}"
        assert part.headers["content-length"] == str(end - first)
        assert part.headers["etag"] == etag
    assert client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}).status_code == 206
    whole = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert whole.status_code == 200 and whole.content == data
    for ignored in ("bytes=0-9,20-29", "bytes=abc", "items=0-9", "bytes=9-2"):
        answer = client.get(url, headers={"Range": ignored})
        assert answer.status_code == 200 and answer.content == data, ignored
    past = client.get(url, headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{size}"
    assert past.json() == {"statusCode": 416, "error": "Requested Range Not Satisfiable",
                           "message": f"The range is not satisfiable: the object has {size} "
                                      "bytes."}


def test_missing_reference_photos_are_404_in_plantnet_format(served):
    client, held = served
    other = "f" * 64
    for url in (f"/v2/media/references/{other}/m", f"/v2/media/references/{held['sha']}/x",
                "/v2/media/references/nothex/m"):
        answer = client.get(url)
        assert answer.status_code == 404, url
        assert answer.json() == {"statusCode": 404, "error": "Not Found",
                                 "message": "Image not found"}
    cached = client.get(f"/v2/media/references/{other}/m", headers={"If-None-Match": "*"})
    assert cached.status_code == 404  # a validator does not make a missing photo exist


def _stored_analysis(settings: Settings, email: str, picture: bytes, backend: str) -> str:
    """An analysis row the way the service writes it, its picture in the store."""
    database = prepare_database(settings)
    pic_id = str(uuid.uuid4())
    try:
        store = open_backend(settings, backend, database)
        store.put(photo_key(picture), picture)
        store.close()
        with database.write() as session:
            account = accounts.get_or_create_account(session=session, email=email)
            session.flush()
            session.add(Analysis(id=pic_id, account_id=account.id,
                                 picture_sha256=photo_key(picture), picture_format="JPEG",
                                 picture_bytes=len(picture), width=500, height=500,
                                 answer={"pic_id": pic_id}, metadata_raw={}))
    finally:
        database.dispose()
    return pic_id


def test_analysis_pictures_are_served_to_their_account_only(served, photos):
    client, held = served
    settings = held["settings"]
    key = make_key(settings, "grower@example.org")
    stranger = make_key(settings, "stranger@example.org")
    picture = photos[3]
    pic_id = _stored_analysis(settings, "grower@example.org", picture, settings.media_backend)
    url = f"/v1/image_analysis/{pic_id}/picture"
    answer = client.get(url, headers={"Api-Key": key.api_key})
    assert answer.status_code == 200 and answer.content == picture
    assert answer.headers["etag"] == f'"{photo_key(picture)}"'
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["cache-control"] == IMMUTABLE
    part = client.get(url, headers={"Api-Key": key.api_key, "Range": "bytes=-100"})
    assert part.status_code == 206 and part.content == picture[-100:]
    past = client.get(url, headers={"Api-Key": key.api_key, "Range": "bytes=99999999-"})
    assert past.status_code == 416 and past.json()["code"] == 416
    assert client.get(url).status_code == 401
    for answer in (client.get(url, headers={"Api-Key": stranger.api_key}),
                   client.get(f"/v1/image_analysis/{uuid.uuid4()}/picture",
                              headers={"Api-Key": key.api_key})):
        assert answer.status_code == 404
        assert set(answer.json()) == {"message", "code"} and answer.json()["code"] == 404
    # The row survives its picture (a lost object): 404 in PEAT's format, saying so.
    database = prepare_database(settings)
    store = open_backend(settings, settings.media_backend, database)
    store.delete(photo_key(picture))
    store.close()
    database.dispose()
    gone = client.get(url, headers={"Api-Key": key.api_key})
    assert gone.status_code == 404
    assert gone.json() == {"message": "The picture of this analysis is not stored (any more).",
                           "code": 404}
