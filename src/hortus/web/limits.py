"""What the pages need to throttle sign-ins: the client's address, the password-hashing
limiter, and the 429 answer's ``Retry-After``."""

from __future__ import annotations

import math

import anyio
from fastapi import Request
from fastapi.responses import Response

from hortus.web.i18n import ngettext


def client_address(request: Request) -> str:
    """The client's IP address: the peer's, or behind a trusted proxy the one it forwarded
    (:mod:`hortus.server.forwarded` rewrites the request before it gets here)."""
    return request.client.host if request.client else "unknown"


def password_limiter(request: Request) -> anyio.CapacityLimiter:
    """At most ``password_hash_concurrency`` password hashes at once in this app: a burst of
    sign-ins queues (without holding a thread) instead of taking every core from the others."""
    state = request.app.state
    limiter = getattr(state, "password_limiter", None)
    if limiter is None:
        limiter = state.password_limiter = anyio.CapacityLimiter(
            state.settings.password_hash_concurrency)
    return limiter


def throttled(response: Response, wait: float) -> Response:
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def minutes(wait: float) -> str:
    """``12 seconds`` or ``3 minutes``."""
    seconds = max(1, math.ceil(wait))
    if seconds < 120:
        return ngettext("%(num)d second", "%(num)d seconds", seconds) % {"num": seconds}
    count = math.ceil(seconds / 60)
    return ngettext("%(num)d minute", "%(num)d minutes", count) % {"num": count}
