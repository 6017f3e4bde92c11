"""Which language a visitor reads the pages in, and the language switch.

A visitor's language is the one they chose with the switch (a cookie), else the best of
:data:`~hortus.web.i18n.LANGUAGES` for their browser's ``Accept-Language`` (``fr-CH`` reads
French), else English. :class:`LanguageMiddleware` decides it once per request and sets it for
the whole request (:func:`hortus.web.i18n.speaking`); the API families ignore it.

The switch is a small form on every page (one button per language, no script needed): it
posts to ``/language``, which sets the cookie and sends the visitor back to the page they were
on.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from babel import Locale
from fastapi import APIRouter, Form
from fastapi.responses import Response
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from hortus.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, own_names, speaking
from hortus.web.i18n import gettext as _
from hortus.web.router import VisitDep, _csrf_refused, redirect, render

COOKIE_NAME = "hortus_language"
COOKIE_MAX_AGE = 365 * 24 * 3600
PATH = "/language"
MAX_HEADER = 500  # characters of Accept-Language read (browsers send a few dozen)
MAX_TAGS = 20
_TAG = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")

router = APIRouter(include_in_schema=False)


def accepted_languages(header: str | None) -> list[str]:
    """The language tags of an ``Accept-Language`` header, most wanted first (equal weights
    in the header's order); ``*``, ``q=0`` and malformed entries left out."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header[:MAX_HEADER].split(",")[:MAX_TAGS]):
        tag, _, parameters = item.strip().partition(";")
        tag = tag.strip()
        if not _TAG.fullmatch(tag):
            continue
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if not math.isfinite(quality) or quality <= 0:
            continue
        weighted.append((-quality, position, tag.replace("_", "-")))
    return [tag for _, _, tag in sorted(weighted)]


def negotiated(header: str | None) -> str | None:
    """The page language that best fits an ``Accept-Language`` header (Babel's negotiation:
    an exact tag, else its language part), or None when none fits."""
    found = Locale.negotiate(accepted_languages(header), list(LANGUAGES), sep="-")
    return found.language if found is not None else None


def visitor_language(*, chosen: str | None, accept_language: str | None) -> str:
    """The switch's choice (cookie) when it is a page language, else the negotiated one, else
    English."""
    if chosen in LANGUAGES:
        return chosen
    return negotiated(accept_language) or DEFAULT_LANGUAGE


def language_of_scope(scope: Scope) -> str:
    headers = Headers(scope=scope)
    chosen = cookie_parser(headers.get("cookie", "")).get(COOKIE_NAME)
    return visitor_language(chosen=chosen, accept_language=headers.get("accept-language"))


class LanguageMiddleware:
    """Answers each HTTP request in the visitor's language (a context variable: concurrent
    requests keep their own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with speaking(language_of_scope(scope)):
            await self.app(scope, receive, send)


def _back_to(value: str) -> str:
    """The page to go back to: a path of this site, else the home page."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value \
            and value.isprintable() and len(value) <= 2000:
        return value
    return "/"


Text = Annotated[str, Form()]


@router.post(PATH)
def switch_language(visit: VisitDep, language: Text = "", next: Text = "/",
                    csrf_token: Text = "") -> Response:
    """Remember the chosen language (a cookie for a year) and go back to the page."""
    if (refused := _csrf_refused(visit, csrf_token)) is not None:
        return refused
    if language not in LANGUAGES:
        return render(visit, "error.html", status=400, title=_("Language not available"),
                      message=_("Choose one of the languages the pages offer: %(names)s.")
                      % {"names": ", ".join(name for code, name in own_names())})
    response = redirect(visit, _back_to(next))
    secure = visit.request.url.scheme == "https" or \
        visit.request.app.state.settings.environment == "production"
    response.set_cookie(COOKIE_NAME, language, max_age=COOKIE_MAX_AGE, path="/", httponly=True,
                        samesite="lax", secure=secure)
    return response
