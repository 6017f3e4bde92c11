"""CORS for the three APIs, driven by each key's exposure rules, and RateLimit headers.

A plain ASGI middleware over ``/v2``, ``/v1`` and ``/api``:

* **Preflights** (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) are answered
  here. For Pl@ntNet the key is in the query string, so the preflight carries it: allowed only
  when that key is live, exposed and authorizes the origin. PEAT and Permapeople send their key in
  headers, which a preflight never carries: allowed when the origin is an authorized domain of at
  least one live exposed key — the actual request is then checked against its own key.
  Refusals are 403 in the API's error format.
* **Actual requests**: the authentication dependency decides (see :mod:`hortus.accounts.deps`)
  and leaves a note in ``request.state``; this middleware then adds
  ``Access-Control-Allow-Origin: <origin>`` and ``Vary: Origin``. Unexposed keys get no CORS
  headers at all. Quota notes become ``RateLimit-Policy`` / ``RateLimit`` (and ``Retry-After``).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hortus.accounts import service
from hortus.accounts.deps import STATE_CORS_ORIGIN, STATE_RATE_LIMIT
from hortus.accounts.exposure import origin_allowed, stored_list
from hortus.api_families import family_for, render_default
from hortus.errors import Forbidden

API_PREFIXES = ("/v2", "/v1", "/api")
KEY_IN_QUERY = {"/v2": "api-key"}  # families whose key a preflight carries
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
EXPOSE_HEADERS = "RateLimit, RateLimit-Policy, Retry-After"
MAX_AGE = "600"


def _prefix(path: str) -> str | None:
    for prefix in API_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return prefix
    return None


def _origin(scope: Scope) -> str | None:
    """The request's Origin header, or None."""
    for name, value in scope["headers"]:
        if name == b"origin":
            return str(value.decode("latin-1"))
    return None


class ExposureCorsMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (prefix := _prefix(scope["path"])) is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin and headers.get("access-control-request-method"):
                response = await run_in_threadpool(self._preflight, scope, prefix, origin,
                                                   headers)
                await response(scope, receive, send)
                return
        state: dict = scope.setdefault("state", {})

        # Every API answer passes here: the raw header list is extended in place (a Headers
        # object per request would cost more than the rest of this middleware).
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                rate_limit = state.get(STATE_RATE_LIMIT)
                allowed = state.get(STATE_CORS_ORIGIN)
                if rate_limit or allowed:
                    raw = message.setdefault("headers", [])
                    present = {name.lower() for name, _ in raw}
                    for name, value in (rate_limit or {}).items():
                        key = name.lower().encode("latin-1")
                        if key not in present:
                            raw.append((key, value.encode("latin-1")))
                    if allowed and allowed == _origin(scope):
                        out = MutableHeaders(scope=message)
                        out["Access-Control-Allow-Origin"] = allowed
                        out["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
                        out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _preflight(self, scope: Scope, prefix: str, origin: str, headers: Headers) -> Response:
        database = scope["app"].state.database
        query_key = KEY_IN_QUERY.get(prefix)
        with database.read() as session:
            if query_key is not None:
                key = service.authenticate_api_key(
                    session=session, api_key=QueryParams(scope["query_string"]).get(query_key)
                )
                allowed = (key is not None and key.expose
                           and origin_allowed(stored_list(key.authorized_domains), origin))
            else:
                allowed = service.exposed_origin_allowed(session=session, origin=origin)
        if not allowed:
            exc = Forbidden(f"The origin {origin[:200]} is not an authorized domain of an exposed "
                            "API key.", error="origin not authorized")
            family = family_for(scope["path"])
            render = family.render if family else render_default
            response = render(exc.status, exc.error, exc.message, exc)
            response.headers["Vary"] = "Origin"
            return response
        response = Response(status_code=204)
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        requested = headers.get("access-control-request-headers")
        if requested:
            response.headers["Access-Control-Allow-Headers"] = requested[:1000]
        response.headers["Access-Control-Max-Age"] = MAX_AGE
        response.headers["Vary"] = "Origin, Access-Control-Request-Method, " \
                                   "Access-Control-Request-Headers"
        return response
