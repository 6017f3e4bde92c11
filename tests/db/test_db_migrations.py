"""Migrations on real databases: an empty database reaches head, and back down cleanly."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from hortus.config import Settings
from hortus.db import Database
from hortus.db.migrate import current_revision, head_revision, upgrade


def _start_from_nothing(settings: Settings) -> None:
    """Remove the test's seeded database: the SQLite file, or PostgreSQL's schema."""
    settings.ensure_dirs()
    (settings.data_dir / "hortus.db").unlink(missing_ok=True)
    url = settings.sqlalchemy_url
    if url.startswith("postgresql"):
        schema = url.split("search_path%3D")[1]
        admin = create_engine(url.split("?")[0])
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()


def test_upgrade_downgrade_upgrade(any_settings: Settings) -> None:
    _start_from_nothing(any_settings)
    database = Database(any_settings.sqlalchemy_url)
    try:
        assert current_revision(database.engine) is None
        upgrade(database.engine)
        assert current_revision(database.engine) == head_revision()
        tables = set(inspect(database.engine).get_table_names())
        assert {"plants", "plant_attributes", "common_names", "taxa", "plant_external_ids",
                "plant_relations", "plant_revisions", "accounts", "api_keys", "quotas",
                "usage_counters"} <= tables
        upgrade(database.engine)  # running it again changes nothing
        assert current_revision(database.engine) == head_revision()

        from alembic import command

        from hortus.db.migrate import alembic_config

        config = alembic_config(database.engine.url.render_as_string(hide_password=False))
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert "plants" not in set(inspect(database.engine).get_table_names())
        upgrade(database.engine)
        assert current_revision(database.engine) == head_revision()
    finally:
        database.dispose()
