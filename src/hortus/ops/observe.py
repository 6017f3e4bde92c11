"""The outermost middleware: a request id for every request, and the request metrics.

The id is the client's ``X-Request-ID`` when it is a sane token (letters, digits, ``.-_:``, at
most 128), else a fresh one; it is echoed in the answer's ``X-Request-ID`` and carried by every
log line written while the request is served (uvicorn's access line included).
"""

from __future__ import annotations

import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hortus.api_families import family_for
from hortus.ops import metrics
from hortus.ops.logs import request_id

HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_OTHER_FAMILIES = (("/metrics", "ops"), ("/healthz", "ops"), ("/readyz", "ops"),
                   ("/docs", "docs"), ("/redoc", "docs"), ("/openapi.json", "docs"),
                   ("/static/", "static"))


def family_label(path: str) -> str:
    """The route family a path is counted under (a small, fixed set of names)."""
    family = family_for(path)
    if family is not None:
        return family.name
    for prefix, name in _OTHER_FAMILIES:
        if path.startswith(prefix):
            return name
    return "web"


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            return value.decode("ascii") if _SANE_ID.match(value) else None
    return None


class RequestObserver:
    """Sets the request id, echoes it, and counts the request in the metrics when it ends."""

    def __init__(self, app: ASGIApp, *, count: bool = True) -> None:
        self.app = app
        self.count = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.count:
                metrics.observe_request(family=family_label(scope["path"]),
                                        method=scope["method"], status=status,
                                        seconds=time.perf_counter() - started)
            request_id.reset(token)
