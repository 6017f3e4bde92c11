"""Multipart framing, whole and streamed: the splitter must give the same parts (or the same
error) however the body is cut into chunks on the wire."""

from __future__ import annotations

import asyncio
import random

import pytest

from hortus.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia
from hortus.identify.upload import (
    MAX_PARTS,
    MultipartSplitter,
    OrganField,
    UploadedPhoto,
    split_parts,
    stream_upload,
)

EXAMPLE = (b"preamble\r\n--xx\r\nContent-Disposition: form-data; name=\"organs\"\r\n\r\nleaf"
           b"\r\n--xx\r\nContent-Disposition: form-data; name=\"images\"; filename=\"a.jpg\"\r\n"
           b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\r\n--x\r\n\xff\xd9\r\n--xx--\r\nepilogue")


def test_multipart_framing():
    parts = split_parts(EXAMPLE, b"xx")
    assert [data for _, data in parts] == [b"leaf", b"\xff\xd8\r\n--x\r\n\xff\xd9"]
    assert parts[1][0][b"content-type"] == b"image/jpeg"
    for broken, why in ((b"--xx\r\nno colon\r\n\r\nx\r\n--xx--", "has no colon"),
                        (b"--xx\r\n\r\nunterminated", "ends inside a part"),
                        (b"nothing here", "boundary never occurs"),
                        (b"--xx junk\r\n\r\nx\r\n--xx--", "not followed by CRLF"),
                        (b"--xx\r\nA: b\r\n", "headers do not end")):
        with pytest.raises(InvalidInput, match=why):
            split_parts(broken, b"xx")


def _outcome(chunks: list[bytes], boundary: bytes) -> tuple[str, object]:
    splitter = MultipartSplitter(boundary)
    parts = []
    try:
        for chunk in chunks:
            parts.extend(splitter.feed(chunk))
        splitter.close()
    except InvalidInput as exc:
        return "error", exc.message
    return "parts", parts


def _random_body(rng: random.Random, boundary: bytes) -> bytes:
    """A multipart body whose data is full of near-misses of the delimiter."""
    noise = [b"\r\n", b"--", b"\r\n--", b"\r\n-" + boundary[:-1], b"-" + boundary, b"\r",
             boundary, b"\xff\xd8"]
    body = bytearray(rng.choice([b"", b"preamble\r\n", b"\r\n"]))
    for i in range(rng.randint(0, 5)):
        data = b"".join(rng.choice(noise) if rng.random() < 0.5 else rng.randbytes(3)
                        for _ in range(rng.randint(0, 30)))
        body += b"--" + boundary + rng.choice([b"", b"  \t"]) + b"\r\n"
        body += f'Content-Disposition: form-data; name="f{i}"\r\n\r\n'.encode() + data + b"\r\n"
    body += b"--" + boundary + b"--" + rng.choice([b"", b"\r\n", b"epilogue --" + boundary])
    return bytes(body)


def test_any_chunking_gives_what_the_whole_body_gives():
    rng = random.Random(7)
    for trial in range(400):
        boundary = rng.choice([b"xx", b"b", b"----WebKitFormBoundary7MA4YWxk"])
        body = _random_body(rng, boundary)
        if trial % 3 == 1:  # damage it: cut it short, or flip a byte
            cut = rng.randrange(len(body) + 1)
            body = body[:cut] if rng.random() < 0.5 else body[:cut] + b"?" + body[cut + 1:]
        whole = _outcome([body], boundary)
        for _ in range(3):
            cuts = sorted(rng.sample(range(len(body) + 1), k=min(len(body), rng.randint(1, 12))))
            chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
            assert _outcome(chunks, boundary) == whole, (body, chunks)
        assert _outcome([bytes([b]) for b in body], boundary) == whole, body


def test_too_many_parts_are_refused():
    body = b"".join(b"--b\r\n\r\nx\r\n" for _ in range(MAX_PARTS + 1)) + b"--b--"
    with pytest.raises(InvalidInput, match="more than"):
        split_parts(body, b"b")


def _stream(body: bytes, **kwargs: object) -> list[object]:
    async def chunks():
        for i in range(0, len(body), 5):
            yield body[i:i + 5]

    async def run() -> list[object]:
        options = {"content_type": "multipart/form-data; boundary=xx",
                   "content_length": str(len(body)), "max_bytes": 10_000, **kwargs}
        return [item async for item in stream_upload(stream=chunks(), **options)]

    return asyncio.run(run())


def test_stream_upload_yields_photos_and_organs_in_order():
    assert _stream(EXAMPLE) == [
        OrganField("leaf"), UploadedPhoto(filename="a.jpg", data=b"\xff\xd8\r\n--x\r\n\xff\xd9")]
    assert _stream(b"", content_type=None, content_length="0") == []


def test_stream_upload_refuses_what_it_cannot_take():
    with pytest.raises(PayloadTooLarge):
        _stream(EXAMPLE, max_bytes=100, content_length=None)  # cut off while streaming
    with pytest.raises(PayloadTooLarge):
        _stream(EXAMPLE, content_length="10001")  # refused before reading
    with pytest.raises(UnsupportedMedia):
        _stream(EXAMPLE, content_type="application/json")
    with pytest.raises(InvalidInput, match="no boundary"):
        _stream(EXAMPLE, content_type="multipart/form-data")
    with pytest.raises(InvalidInput, match="must be text"):
        _stream(b'--xx\r\nContent-Disposition: form-data; name="organs"; filename="o"\r\n\r\n'
                b"leaf\r\n--xx--")
