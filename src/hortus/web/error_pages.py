"""Error pages for people: what a browser gets, outside every API family, instead of JSON.

:mod:`hortus.api_families` answers every error in the format of the API family of its path;
a path outside every family (``/nope``, ``/plants/id/abc``, a GET on a form's address) from a
client that asks for HTML (a browser navigating) gets :func:`error_page` instead: the site's
page with a title a person understands, the reason, and where to go next. Other clients, and
every path under ``/api``, ``/v1`` and ``/v2``, keep their JSON exactly.
"""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import Response

from hortus.accounts import sessions
from hortus.web import security
from hortus.web.router import Visit, render, visit

logger = logging.getLogger("hortus")

TITLES = {
    400: "That request was not understood",
    401: "Please sign in",
    403: "Not allowed",
    404: "Page not found",
    405: "This address is not a page",
    413: "Too large",
    414: "Address too long",
    415: "Unsupported file",
    422: "That request was not understood",
    429: "Too many requests",
}


def _message(request: Request, status: int, message: str) -> str:
    if status == 404 and message.startswith("There is no endpoint "):
        return f"There is no page at {request.url.path[:200]}. It may have moved, or the " \
               "address may be mistyped."
    if status == 405:
        return ("This address receives a form; it is not a page to open. Go back to the page "
                "that has the form.")
    if status >= 500:
        return "Something went wrong on the server; it has been logged. Please try again."
    return message


def _visit(request: Request) -> Visit:
    """The visitor, signed in when their cookie says so; anonymous when the database cannot
    tell (the page must render even when the error came from the database)."""
    try:
        return visit(request, request.app.state.database)
    except Exception:  # noqa: BLE001 - an error page never fails for want of an account
        secret = security.secret_for(request)
        return Visit(request=request, secret=secret, token=sessions.new_token(), account=None,
                     set_cookie=False)


def error_page(request: Request, status: int, message: str) -> Response:
    """The HTML error page for a person's browser."""
    title = TITLES.get(status, "Something went wrong" if status >= 500 else "Not possible")
    page = render(_visit(request), "error.html", status=status, title=title,
                  message=_message(request, status, message))
    page.headers["Cache-Control"] = "no-store"
    return page
