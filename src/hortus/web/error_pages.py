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
from hortus.web.i18n import N_, speaking
from hortus.web.i18n import gettext as _
from hortus.web.languages import language_of_scope
from hortus.web.router import Visit, render, visit
from hortus.web.service_messages import translated

logger = logging.getLogger("hortus")

TITLES = {
    400: N_("That request was not understood"),
    401: N_("Please sign in"),
    403: N_("Not allowed"),
    404: N_("Page not found"),
    405: N_("This address is not a page"),
    413: N_("Too large"),
    414: N_("Address too long"),
    415: N_("Unsupported file"),
    422: N_("That request was not understood"),
    429: N_("Too many requests"),
}


def _message(request: Request, status: int, message: str) -> str:
    if status == 404 and message.startswith("There is no endpoint "):
        return _("There is no page at %(path)s. It may have moved, or the address may be "
                 "mistyped.") % {"path": request.url.path[:200]}
    if status == 405:
        return _("This address receives a form; it is not a page to open. Go back to the page "
                 "that has the form.")
    if status >= 500:
        return _("Something went wrong on the server; it has been logged. Please try again.")
    return translated(message)


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
    """The HTML error page for a person's browser, in their language (also when the error
    happened outside :class:`~hortus.web.languages.LanguageMiddleware`, as a 500 does)."""
    with speaking(language_of_scope(request.scope)):
        title = _(TITLES[status]) if status in TITLES else (
            _("Something went wrong") if status >= 500 else _("Not possible"))
        page = render(_visit(request), "error.html", status=status, title=title,
                      message=_message(request, status, message))
    page.headers["Cache-Control"] = "no-store"
    return page
