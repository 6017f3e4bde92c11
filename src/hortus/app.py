"""The application factory: one FastAPI app serving the three API families and the web UI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hortus import __version__, web
from hortus.accounts.cors import ExposureCorsMiddleware
from hortus.bootstrap import prepare_database
from hortus.config import Settings, get_settings
from hortus.diagnose import router as diagnose_router
from hortus.families import install_error_handlers, register_family
from hortus.identify import router as identify_router
from hortus.inference import Inference
from hortus.plants import router as plants_router


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. The database is opened, migrated and seeded when the app starts."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = prepare_database(settings, seed=True)
        app.state.inference = Inference(settings)
        if settings.warm_up_engine:
            app.state.inference.warm_up()
        try:
            yield
        finally:
            app.state.inference.shutdown()
            app.state.database.dispose()

    app = FastAPI(
        title="Hortus",
        version=__version__,
        summary="Plant identification, diagnosis and knowledge base — self-hosted, offline.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    register_family(plants_router.FAMILY)
    app.include_router(plants_router.router)
    register_family(diagnose_router.FAMILY)
    app.include_router(diagnose_router.router)  # /v1: PEAT image analysis, disease catalogue
    register_family(identify_router.FAMILY)
    app.include_router(identify_router.router)  # Pl@ntNet v2, incl. quota and subscription
    app.add_middleware(ExposureCorsMiddleware)
    web.install(app)
    return app
