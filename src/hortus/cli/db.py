"""``hortus db ...``: migrations."""

from __future__ import annotations

import typer

from hortus.config import get_settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_command(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database to the newest schema (safe to run again)."""
    from hortus.db import Database
    from hortus.db.migrate import current_revision, upgrade

    settings = get_settings()
    settings.ensure_dirs()
    database = Database(settings.sqlalchemy_url)
    upgrade(database.engine, revision)
    typer.echo(f"Database at revision {current_revision(database.engine)}")
    database.dispose()


@db_app.command("current")
def current_command() -> None:
    """Print the database's schema revision."""
    from hortus.db import Database
    from hortus.db.migrate import current_revision

    database = Database(get_settings().sqlalchemy_url)
    typer.echo(current_revision(database.engine) or "empty")
    database.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
