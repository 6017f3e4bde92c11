"""First-start work: data directory, database migrations, starter data."""

from __future__ import annotations

import logging

import hortus.db.models  # noqa: F401 - every table registered before first use
from hortus.config import Settings
from hortus.db import Database
from hortus.db.migrate import current_revision, head_revision, upgrade

logger = logging.getLogger("hortus")


def prepare_database(
    settings: Settings, database: Database | None = None, *, seed: bool = False
) -> Database:
    """Open the database and migrate it to the newest schema.

    With ``seed`` (the server's first start) an empty knowledge base also gets the packaged
    starter plants, unless ``settings.load_starter_data`` is off; the disease catalogue gets
    its new entries, and plants the packaged reference thumbnails of the classes naming them.
    """
    settings.ensure_dirs()
    database = database or Database(settings.sqlalchemy_url,
                                    sqlite_synchronous=settings.sqlite_synchronous)
    if current_revision(database.engine) != head_revision():
        logger.info("Migrating the database at %s", database.engine.url.render_as_string())
        upgrade(database.engine)
    if seed and settings.load_starter_data:
        from hortus.plants.transfer import load_starter

        with database.write() as session:
            loaded = load_starter(session)
        if loaded:
            logger.info("Loaded %d plants from the starter knowledge base", loaded)
    if seed:
        from hortus.diagnose.catalogue import load_catalogue

        with database.write() as session:
            added = load_catalogue(session)
        if added:
            logger.info("Loaded %d crop problems from the disease catalogue", added)
        from hortus.identify.illustrations import illustrate_plants

        with database.write() as session:
            illustrated = illustrate_plants(session)
        if illustrated:
            logger.info("Set the reference photo of %d plants", illustrated)
    return database
