"""The application factory: one FastAPI app serving the three API families and the web UI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from hortus import __version__, ops, web
from hortus.accounts.cors import ExposureCorsMiddleware
from hortus.accounts.metering import open_plant_meter
from hortus.api_families import install_error_handlers, register_family
from hortus.bootstrap import prepare_database
from hortus.config import Settings, get_settings
from hortus.diagnose import router as diagnose_router
from hortus.diagnose.retention import start_sweeps
from hortus.identify import router as identify_router
from hortus.inference import Inference
from hortus.media import open_media_store
from hortus.observations import dwc_router
from hortus.observations import router as observations_router
from hortus.openapi import install_openapi
from hortus.plants import router as plants_router
from hortus.plants.read_cache import PlantReadCache
from hortus.server import forwarded

API_DESCRIPTION = """\
One server, three public APIs: existing clients work by changing only the base URL and the key.

* **Identification** (`/v2`) follows the Pl@ntNet API v2; the key is the `api-key` query
  parameter. Errors: `{"statusCode", "error", "message"}`.
* **Diagnosis** (`/v1`) follows the PEAT/Plantix image analysis API v1; the key is the `Api-Key`
  (or `api_key`) header. Errors: `{"message", "code"}`.
* **Plant database** (`/api`) follows the Permapeople API; the key is the pair of headers
  `x-permapeople-key-id` and `x-permapeople-key-secret`. Errors: `{"error", "msg"}`.

One key serves all three (`hortus keys create --json`, or *Settings → API key* on the web
pages). Routes and fields that the public services do not have are marked **Hortus extension**.
"""

OPENAPI_TAGS = [
    {"name": "Identification (Pl@ntNet v2)",
     "description": "Photos of a plant in, ranked species out (Pl@ntNet API v2)."},
    {"name": "Image analysis (PEAT)",
     "description": "A photo of a crop in, ranked diseases out (PEAT/Plantix API v1); the "
                    "disease catalogue is a Hortus extension."},
    {"name": "Plant database (Permapeople)",
     "description": "Plants, varieties, companions, search and versioned edits (Permapeople)."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. The database is opened, migrated and seeded when the app starts."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = prepare_database(settings, seed=True)
        # Plant-database quota units leased in blocks, flushed back (docs/operations.md).
        app.state.plant_meter = open_plant_meter(database=app.state.database, settings=settings)
        app.state.plant_cache = PlantReadCache.for_database(app.state.database)  # SQLite only
        app.state.media = open_media_store(settings, app.state.database)  # docs/media.md
        app.state.inference = Inference(settings)
        if settings.warm_up_engine:
            app.state.inference.warm_up()
        # Stored analyses older or bulkier than the retention settings go (docs/operations.md).
        app.state.retention = start_sweeps(database=app.state.database, media=app.state.media,
                                           settings=settings)
        try:
            yield
        finally:
            app.state.plant_meter.close()  # units in hand go back to the database first
            if app.state.plant_cache is not None:
                app.state.plant_cache.close()
            if app.state.retention is not None:
                app.state.retention.stop()
            app.state.inference.shutdown()
            app.state.media.close()
            app.state.database.dispose()

    # /docs and /redoc load their scripts from Hortus itself (no CDN): they work offline.
    app = FastAPIOffline(
        title="Hortus",
        version=__version__,
        summary="Plant identification, diagnosis and knowledge base — self-hosted, offline.",
        description=API_DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        static_url="/docs/assets",
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
    app.include_router(observations_router.router)  # Pl@ntNet v2 observations and votes
    app.include_router(dwc_router.router)  # Pl@ntNet v2 Darwin Core occurrences
    app.add_middleware(ExposureCorsMiddleware)
    web.install(app)
    install_openapi(app)
    ops.install(app)  # request ids, metrics, health, web form body caps
    forwarded.install(app, settings)  # outermost: every layer sees the client behind proxies
    return app
