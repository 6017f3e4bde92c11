"""Server-rendered pages for people (sign up, sign in, API key settings)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).with_name("static")


def install(app: FastAPI) -> None:
    """Mount the pages and their static files on the app."""
    from hortus.web.diagnose_page import router as diagnose_router
    from hortus.web.error_pages import error_page
    from hortus.web.explore import router as explore_router
    from hortus.web.i18n import load_catalogues
    from hortus.web.identify_page import router as identify_router
    from hortus.web.languages import LanguageMiddleware
    from hortus.web.languages import router as language_router
    from hortus.web.observation_pages import router as observation_router
    from hortus.web.router import router

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    app.include_router(explore_router)
    app.include_router(identify_router)
    app.include_router(diagnose_router)  # /diagnose and the /diseases catalogue
    app.include_router(observation_router)  # /review, /observations/..., save as observation
    app.include_router(language_router)  # the language switch (POST /language)
    app.add_middleware(LanguageMiddleware)  # each request in its visitor's language
    load_catalogues()  # a broken catalogue stops the start, not a visitor's page
    app.state.error_page = error_page  # HTML errors for browsers outside the APIs
