"""Helpers of the image-work limit tests (identification and diagnosis): hostile photos, a
watch on the engine's image jobs, and a raw ASGI request with a chunked body."""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

HUGE_SIDE = 7071  # 7071 x 7071 = 49,999,041 pixels: under the decoder's own 50 MP cap


@cache
def huge_png() -> bytes:
    """A 7071x7071 single-colour PNG: ~160 KB that decode to 150 MB of pixels (the probe's)."""
    buffer = io.BytesIO()
    Image.new("RGB", (HUGE_SIDE, HUGE_SIDE), (40, 140, 40)).save(buffer, "PNG")
    return buffer.getvalue()


@cache
def huge_jpeg() -> bytes:
    """The same picture as a baseline JPEG, which the decoder reads at 1/8 scale (~8 MB)."""
    buffer = io.BytesIO()
    Image.new("RGB", (HUGE_SIDE, HUGE_SIDE), (40, 140, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


class JobWatch:
    """Counts an engine's image jobs (``decode`` and ``embed``) by whose photo they work on,
    and the most of each one's running at once. Wraps the methods of this one engine object
    (an instance attribute shadows the method); ``close`` puts them back.

    ``who_bytes`` names the sender of photo bytes, ``who_image`` of a decoded photo;
    ``decode_delay`` makes each decode last longer, so that jobs overlap.
    """

    def __init__(self, engine: Any, *, who_bytes: Callable[[bytes], str],
                 who_image: Callable[[Any], str], decode_delay: float = 0.0) -> None:
        self.engine = engine
        self.calls: Counter[str] = Counter()
        self.running: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self._lock = threading.Lock()
        decode, embed = engine.decode, engine.embed

        def watched_decode(data: bytes) -> Any:
            with self._running(who_bytes(data)):
                time.sleep(decode_delay)
                return decode(data)

        def watched_embed(images: list, **options: Any) -> Any:
            with self._running(who_image(images[0])):
                return embed(images, **options)

        engine.decode, engine.embed = watched_decode, watched_embed

    def _running(self, who: str) -> _Running:
        return _Running(self, who)

    def close(self) -> None:
        del self.engine.decode, self.engine.embed


class _Running:
    def __init__(self, watch: JobWatch, who: str) -> None:
        self.watch, self.who = watch, who

    def __enter__(self) -> None:
        with self.watch._lock:
            self.watch.calls[self.who] += 1
            self.watch.running[self.who] += 1
            self.watch.peak[self.who] = max(self.watch.peak[self.who],
                                            self.watch.running[self.who])

    def __exit__(self, *exc: object) -> None:
        with self.watch._lock:
            self.watch.running[self.who] -= 1


def chunked_request(client: TestClient, method: str, path: str, headers: dict[str, str],
                    chunks: Iterable[bytes]) -> tuple[int, dict[str, str], bytes, int]:
    """Send a body chunk by chunk, without a Content-Length, straight to the app in ``client``
    (entered: its lifespan is running). Returns the status, headers, body of the answer and
    how many body bytes the app pulled before answering. (TestClient itself reads a whole
    body before the app sees any of it.)"""
    pulled = 0
    source = iter(chunks)
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        chunk = next(source, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    path, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(),
        "query_string": query.encode(), "root_path": "", "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80), "state": {},
        "headers": [(b"host", b"testserver"), (b"transfer-encoding", b"chunked"),
                    *((k.lower().encode(), v.encode()) for k, v in headers.items())],
    }
    assert client.portal is not None, "enter the TestClient first"
    client.portal.call(client.app, scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    answer_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], answer_headers, body, pulled


Answers = dict[str, list[tuple[float, Any]]]


def flood(engine: Any, send: Callable[[str, bytes], Any], flood_photo: bytes,
          other_photo: bytes, count: int = 8) -> tuple[Counter[str], Answers]:
    """``count`` concurrent requests of ``flood_photo`` from one account, then (while they
    run) one of ``other_photo`` from another, watching the engine's jobs by photo.

    ``send(who, photo)`` posts one photo as ``who`` ("flood" or "other") and returns the
    response. Returns the peak number of jobs each ran at once, and every response with the
    time it came back.
    """
    import numpy as np

    flood_pixels = engine.decode(flood_photo).rgb
    watch = JobWatch(engine, who_bytes=lambda d: "flood" if d == flood_photo else "other",
                     who_image=lambda im: ("flood" if np.array_equal(im.rgb, flood_pixels)
                                           else "other"), decode_delay=0.3)
    answers: Answers = {"flood": [], "other": []}

    def one(who: str, photo: bytes) -> None:
        response = send(who, photo)
        answers[who].append((time.monotonic(), response))

    try:
        threads = [threading.Thread(target=one, args=("flood", flood_photo))
                   for _ in range(count)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        one("other", other_photo)
        for thread in threads:
            thread.join()
    finally:
        watch.close()
    return watch.peak, answers
