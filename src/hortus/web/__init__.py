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
    from hortus.web.identify_page import router as identify_router
    from hortus.web.router import router

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    app.include_router(explore_router)
    app.include_router(identify_router)
    app.include_router(diagnose_router)  # /diagnose and the /diseases catalogue
    app.state.error_page = error_page  # HTML errors for browsers outside the APIs
