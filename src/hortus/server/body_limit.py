"""Body caps of the web pages' forms, counted while the body arrives.

The API families cap their own bodies where they read them (a JSON body, a photo upload). The
web pages' forms are parsed by Starlette, which reads a whole form, spooling file parts to the
temporary directory, before any handler sees it; so a sign-in form could make the server take
in 500 MB. This middleware sits in front of every web page: a declared ``Content-Length`` over
the cap is answered 413 at once, and a body (chunked or not) is cut off the moment its bytes pass
the cap; the application is told its client left, and the 413 goes out with ``Connection:
close`` so the rest of the body is never read.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hortus.api_families import family_for

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class WebFormBodyLimit:
    """413 for a web page's request body over its cap: ``cap_for(path)`` bytes.

    Paths of an API family (``/api``, ``/v1``, ``/v2``) pass untouched.
    """

    def __init__(self, app: ASGIApp, *, cap_for: Callable[[str], int]) -> None:
        self.app = app
        self.cap_for = cap_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in _BODY_METHODS
                or family_for(scope["path"]) is not None):
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _too_large(send, cap)
            return
        received = 0
        over = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # the application's answer to a cut body is replaced by the 413
            started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _too_large(send, cap)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _too_large(send: Send, cap: int) -> None:
    body = (f"<!doctype html><title>Too large</title><p>This form sends more than "
            f"{cap:,} bytes, the most this page takes. Nothing was saved.</p>").encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})
