"""How the plant-database routes read bodies, answer, and word validation errors.

* Answers are ``application/json; charset=utf-8``, as the seed promises.
* A body is read once, at most :data:`MAX_BODY` bytes (413), and must be JSON when it is not
  empty (415). An empty or blank body counts as no body at all: ``POST /search?q=apple`` with
  ``Content-Length: 0`` is a search.
* FastAPI's validation errors become :class:`~hortus.errors.InvalidInput` with Permapeople-style
  short errors that name the parameter (``missing q``, ``invalid per_page``, ``unknown field``),
  rendered by the family's error handler like every other error.
* A route that fails (any error after the key was charged) gives its plant-database unit back
  (:func:`hortus.accounts.deps.refund_plant_unit`) before the error is answered.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Coroutine, Mapping, Sequence
from email.message import Message
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from hortus.accounts.deps import (
    PERMAPEOPLE_KEY_PARAMETERS,
    permapeople_key,
    refund_plant_unit,
    require_permapeople_key,
)
from hortus.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia

MAX_BODY = 1024 * 1024
_SOURCES = {"body", "query", "path", "header", "cookie"}
# Hints appended to "<name> is required." for the fields clients most often forget.
_REQUIRED_HINTS = {
    "q": " Send the text to search for.",
    "version": " Send the version you last read.",
    "note": " Describe what you did and which sources you used.",
}
# Error types our own validators raise; their message is already the whole sentence.
_OWN_ERRORS = {"no_changes"}


class PermapeopleJSONResponse(JSONResponse):
    media_type = "application/json; charset=utf-8"

    @classmethod
    def encoded(cls, body: bytes, status_code: int = 200) -> Response:
        """An answer whose JSON is already encoded (by a Pydantic model's ``model_dump_json``:
        the bytes this class would render from the model's JSON-mode dump)."""
        return Response(body, status_code=status_code, media_type=cls.media_type)


def _is_json(content_type: str) -> bool:
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


class JsonBodyRequest(Request):
    """A request whose body is bounded, JSON when present, and empty when blank."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY:
                raise PayloadTooLarge(f"The body is over {MAX_BODY} bytes.", error="body too large")
            raw = bytearray()
            async for chunk in self.stream():
                raw += chunk
                if len(raw) > MAX_BODY:
                    raise PayloadTooLarge(f"The body is over {MAX_BODY} bytes.",
                                          error="body too large")
            content_type = self.headers.get("content-type")
            if raw.strip() and content_type and not _is_json(content_type):
                raise UnsupportedMedia(
                    "Send the body as JSON with content-type: application/json.",
                    error="unsupported media type")
            self._body = bytes(raw) if raw.strip() else b""
        return self._body


class PermapeopleRoute(APIRoute):
    """Reads the body with :class:`JsonBodyRequest`, words validation errors, and gives the
    request's plant-database unit back when the route fails (before the error is answered)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if _needs_key(self.dependant):  # its headers, which the dependency reads itself
            extra = self.openapi_extra or {}
            self.openapi_extra = {**extra, "parameters": [
                *extra.get("parameters", []), *copy.deepcopy(PERMAPEOPLE_KEY_PARAMETERS)]}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        reads_body = self.body_field is not None

        async def permapeople_handler(request: Request) -> Response:
            if reads_body:
                await require_permapeople_key(request)  # 401 before the body is judged
                request = JsonBodyRequest(request.scope, request.receive)
                await request.body()  # 413/415 here, before FastAPI would word them as 400
            try:
                return await handle(request)
            except RequestValidationError as exc:
                await refund_plant_unit(request)
                raise invalid_input(exc.errors()) from None
            except Exception:
                await refund_plant_unit(request)  # the quota counts answers only
                raise

        return permapeople_handler


Answer = Callable[[int, Request], Coroutine[Any, Any, Response]]


class LookupRoute(PermapeopleRoute):
    """A read by id (``GET /plants/{plant_id}``), the busiest route: FastAPI's dependency
    solving and parameter validation cost more than the lookup itself, so a request whose id
    is plainly valid (ASCII digits, within ``1..max_id``) goes straight to the key check and
    :attr:`answer`; any other id takes FastAPI's full path, and gets the same 422 words as
    every route. The key check, quota unit, refund on failure and errors are the dependency's
    own (:func:`~hortus.accounts.deps.permapeople_key`). Made by :meth:`answering`."""

    answer: Answer
    max_id: int

    @classmethod
    def answering(cls, answer: Answer, max_id: int) -> type[LookupRoute]:
        """The route class whose valid ids go to ``answer(id, request)``."""
        return type("LookupRoute", (cls,), {"answer": staticmethod(answer), "max_id": max_id})

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()
        answer, max_id = self.answer, self.max_id
        (name,) = self.param_convertors  # the id, the one path parameter

        async def lookup_handler(request: Request) -> Response:
            raw = request.path_params.get(name)
            if not (isinstance(raw, str) and raw.isascii() and raw.isdigit()
                    and len(raw) <= 20 and 1 <= int(raw) <= max_id):
                return await full(request)
            try:
                await permapeople_key(request)
                return await answer(int(raw), request)
            except Exception:
                await refund_plant_unit(request)  # the quota counts answers only
                raise

        return lookup_handler


def _needs_key(dependant: Dependant) -> bool:
    return any(d.call is permapeople_key or _needs_key(d) for d in dependant.dependencies)


def _parts(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    return loc[1:] if loc and loc[0] in _SOURCES else loc


def _name(loc: tuple[Any, ...]) -> str | None:
    """The parameter or body field an error is about: its first named location."""
    return next((str(p) for p in _parts(loc) if isinstance(p, str)), None)


def _missing(error: Mapping[str, Any]) -> bool:
    """A parameter or top-level field is absent (not something inside one)."""
    return error.get("type") == "missing" and len(_parts(tuple(error.get("loc", ())))) == 1


def _describe(error: Mapping[str, Any]) -> str:
    name = _name(tuple(error.get("loc", ())))
    if _missing(error) and name:
        return f"{name} is required.{_REQUIRED_HINTS.get(name, '')}"
    message = str(error.get("msg", "is not valid"))
    return f"{name}: {message}" if name else message


def invalid_input(errors: Sequence[Mapping[str, Any]]) -> InvalidInput:
    """Validation errors as one 400 in Permapeople's words, named after the first error."""
    first: Mapping[str, Any] = errors[0] if errors else {"type": "value_error", "loc": ()}
    kind = first.get("type", "")
    name = _name(tuple(first.get("loc", ())))
    if kind == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        return InvalidInput(f"The body is not valid JSON: {detail}".strip(),
                            error="malformed json")
    if kind in _OWN_ERRORS:
        return InvalidInput(str(first.get("msg")), error=kind.replace("_", " "))
    if kind == "extra_forbidden":
        unknown = sorted({n for e in errors if e.get("type") == "extra_forbidden"
                          and (n := _name(tuple(e.get("loc", ())))) is not None})
        return InvalidInput(f"Unknown field(s): {', '.join(unknown)[:200]}. See the documented "
                            "body of this operation.", error="unknown field")
    if name is None:
        message = ("The request body is empty; send a JSON object." if kind == "missing"
                   else "The request body must be a JSON object.")
        return InvalidInput(message, error="invalid body")
    message = "; ".join(_describe(e) for e in errors[:3])
    return InvalidInput(message, error=f"{'missing' if _missing(first) else 'invalid'} {name}")
