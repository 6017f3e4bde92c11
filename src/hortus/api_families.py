"""API families and their error formats: one mapping from domain errors to each API's JSON.

Every path belongs to one family by prefix (``/api`` Permapeople, ``/v2`` Pl@ntNet, ``/v1``
PEAT); an error raised anywhere under it — a domain error, a validation error, an unknown route,
an unexpected exception — is answered in that family's format.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from hortus.errors import HortusError

logger = logging.getLogger("hortus")

Renderer = Callable[[int, str, str, HortusError | None], Response]


@dataclass(frozen=True)
class ApiFamily:
    name: str
    prefix: str
    render: Renderer


@dataclass(frozen=True)
class ErrorDocs:
    """How one family documents its errors in OpenAPI: its error body, its quota body, a
    description per status, and the RateLimit headers its quota answers carry."""

    error_model: type[BaseModel]
    quota_model: type[BaseModel]
    descriptions: Mapping[int, str]
    rate_limit_headers: Mapping[str, Any]

    def responses(self, *statuses: int, default: bool = False,
                  **described: str) -> dict[int | str, dict[str, Any]]:
        """``responses=`` for the error statuses a route answers (``e404="..."`` says when);
        with ``default``, any other error (405 ...) is documented in the same body."""
        answers: dict[int | str, dict[str, Any]] = {}
        for status in statuses:
            answer: dict[str, Any] = {"model": self.error_model, "description":
                                      described.get(f"e{status}", self.descriptions[status])}
            if status == 429:
                answer["model"] = self.quota_model
                answer["headers"] = {
                    "Retry-After": {"description": "Seconds until the quota resets.",
                                    "schema": {"type": "integer"}},
                    **self.rate_limit_headers}
            answers[status] = answer
        if default:
            answers["default"] = {"model": self.error_model,
                                  "description": "Any other error, in the same format."}
        return answers


def render_default(status: int, error: str, message: str, exc: HortusError | None) -> Response:
    return JSONResponse({"error": error, "msg": message}, status_code=status)


_FAMILIES: list[ApiFamily] = []


def register_family(family: ApiFamily) -> None:
    """Add a family (longest prefixes win when they overlap)."""
    _FAMILIES[:] = [f for f in _FAMILIES if f.name != family.name] + [family]
    _FAMILIES.sort(key=lambda f: len(f.prefix), reverse=True)


def family_for(path: str) -> ApiFamily | None:
    for family in _FAMILIES:
        if path == family.prefix or path.startswith(family.prefix + "/"):
            return family
    return None


# Outside every family, a browser (it asks for text/html) gets the web pages' HTML error page
# when the app has one: ``app.state.error_page(request, status, message)`` (hortus.web).
PageRenderer = Callable[[Request, int, str], Response]


async def _page_for_people(request: Request, status: int, message: str) -> Response | None:
    render_page: PageRenderer | None = getattr(request.app.state, "error_page", None)
    if render_page is None or "text/html" not in request.headers.get("accept", "").lower():
        return None
    try:  # in a worker thread: the page reads the visitor's session from the database
        return await run_in_threadpool(render_page, request, status, message)
    except Exception:  # noqa: BLE001 - the JSON answer below is the fallback
        logger.exception("The HTML error page failed on %s", request.url.path)
        return None


async def _render(request: Request, status: int, error: str, message: str,
                  exc: HortusError | None = None) -> Response:
    family = family_for(request.url.path)
    if family is None and (page := await _page_for_people(request, status, message)) is not None:
        return page
    renderer = family.render if family else render_default
    return renderer(status, error, message, exc)


_STATUS_ERRORS = {
    400: "bad request", 401: "not authenticated", 403: "forbidden", 404: "not found",
    405: "method not allowed", 413: "payload too large", 414: "uri too long",
    415: "unsupported media type", 422: "unprocessable", 429: "too many requests",
}


_LOCATIONS = {"body", "query", "header", "path", "cookie"}
# Pydantic names the branch of a union (or a validator) in an error's location: ``lat.float``,
# ``page.function-after[...]``. A client wants the parameter's name.
_TYPE_TAGS = {"int", "float", "str", "bool", "none", "bytes", "date", "datetime", "decimal",
              "list", "dict", "json-or-python"}


def _is_type_tag(part: object) -> bool:
    text = str(part)
    return text in _TYPE_TAGS or ("[" in text and text.endswith("]")) \
        or text.startswith("constrained-")


def _validation_message(exc: RequestValidationError) -> str:
    """One clause per parameter (the first problem of each), naming the parameter."""
    parts: dict[str, str] = {}
    for err in exc.errors():
        loc = [p for p in err.get("loc", ()) if p not in _LOCATIONS and not _is_type_tag(p)]
        where = ".".join(str(p) for p in loc)
        parts.setdefault(where, f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        if len(parts) == 5:
            break
    return "; ".join(parts.values()) or "The request is not valid."


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's own 405 names only the first
    route that matched the path). Asks the router itself, method by method."""
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in routes):
            allowed.append(method)
    if "GET" in allowed and "HEAD" not in allowed:
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return allowed


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the format of the API family the path belongs to."""

    @app.exception_handler(HortusError)
    async def _domain(request: Request, exc: HortusError) -> Response:
        return await _render(request, exc.status, exc.error, exc.message, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return await _render(request, 400, "invalid request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        error = _STATUS_ERRORS.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else error
        if exc.status_code == 404 and message == "Not Found":
            message = f"There is no endpoint {request.method} {request.url.path}."
        response = await _render(request, exc.status_code, error, message)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("Unhandled error on %s %s", request.method, request.url.path)
        return await _render(request, 500, "internal error",
                       "Something went wrong on the server; it has been logged.")
