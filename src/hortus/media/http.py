"""Serving a stored object over HTTP: validators, caching, byte ranges, the family's errors.

Keys name immutable bytes, so the ETag is the key itself (a strong validator), and a client
may cache for a year (``immutable``). ``If-None-Match`` answers 304; one byte range
(``bytes=a-b``, ``a-``, ``-n``) answers 206, guarded by ``If-Range``; a request for several
ranges, or a malformed one, gets the whole object (HTTP lets a server ignore ``Range``); a
range past the end is 416 with ``Content-Range: bytes */size`` in the API's error format.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from hortus.api_families import family_for, render_default
from hortus.errors import HortusError
from hortus.media.store import (
    CHUNK_BYTES,
    ByteRange,
    MediaStore,
    RangeNotSatisfiable,
    check_key,
)

IMMUTABLE = "public, max-age=31536000, immutable"


def parse_range(header: str | None) -> ByteRange | None:
    """One ``bytes`` range, or None for no header, several ranges or anything malformed."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or (not first and last.isdigit())):
        return None
    if not first:
        return ByteRange(suffix=int(last))
    if last and (not last.isdigit() or int(last) < int(first)):
        return None
    return ByteRange(first=int(first), last=int(last) if last else None)


def _etag(key: str) -> str:
    return f'"{key}"'


def _matches(header: str, etag: str) -> bool:
    """``If-None-Match`` (weak comparison): ``*`` or any listed tag."""
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


def media_response(request: Request, store: MediaStore, key: str, *, missing: HortusError,
                   cache_control: str = IMMUTABLE,
                   headers: Mapping[str, str] | None = None) -> Response:
    """The object ``key`` as an HTTP answer (blocking: call from a worker thread).

    ``missing`` is raised for a key the store does not hold (or that is no key), so each API
    answers 404 in its own format.
    """
    try:
        check_key(key)
    except ValueError:
        raise missing from None
    etag = _etag(key)
    common = {"ETag": etag, "Cache-Control": cache_control, "Accept-Ranges": "bytes",
              "X-Content-Type-Options": "nosniff", **(headers or {})}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and _matches(if_none_match, etag):
        if store.stat(key) is None:
            raise missing
        return Response(status_code=304, headers=common)
    byte_range = parse_range(request.headers.get("range"))
    if_range = request.headers.get("if-range")
    if byte_range is not None and if_range is not None and if_range.strip() != etag:
        byte_range = None  # the client's copy is another object: send this one whole
    try:
        body = store.open(key, byte_range)
    except RangeNotSatisfiable as exc:
        return _unsatisfiable(request, exc.size, common)
    if body is None:
        raise missing
    status = 200
    sent = dict(common)
    if byte_range is not None:
        status = 206
        sent["Content-Range"] = f"bytes {body.start}-{body.end - 1}/{body.info.size}"
    sent["Content-Length"] = str(body.length)
    if body.length <= CHUNK_BYTES:  # one piece: no streaming machinery
        return Response(body.read(), status_code=status, headers=sent,
                        media_type=body.info.content_type)
    return StreamingResponse(iter(body), status_code=status, headers=sent,
                             media_type=body.info.content_type)


def _unsatisfiable(request: Request, size: int, common: Mapping[str, str]) -> Response:
    message = f"The range is not satisfiable: the object has {size} bytes."
    error = HortusError(message, error="range not satisfiable", status=416)
    family = family_for(request.url.path)
    render = family.render if family else render_default
    response = render(416, error.error, message, error)
    response.headers["Content-Range"] = f"bytes */{size}"
    response.headers["ETag"] = common["ETag"]
    return response
