"""``hortus import`` / ``hortus export``: plants as JSON lines."""

from __future__ import annotations

from pathlib import Path

import typer

from hortus.config import get_settings


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        file: Path = typer.Argument(..., help="JSON-lines file to write ('-' for stdout)."),
    ) -> None:
        """Export every plant as JSON lines (the API's plant object plus names, ids and links)."""
        import sys

        from hortus.bootstrap import prepare_database
        from hortus.plants.transfer import export_plants

        database = prepare_database(get_settings())
        with database.read() as session:
            if str(file) == "-":
                count = export_plants(session, sys.stdout)
            else:
                with file.open("w", encoding="utf-8") as out:
                    count = export_plants(session, out)
        typer.echo(f"Exported {count} plants", err=True)

    @app.command("import")
    def import_command(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON-lines file."),
    ) -> None:
        """Import plants from a JSON-lines export (same ids; existing plants are replaced)."""
        from hortus.bootstrap import prepare_database
        from hortus.errors import HortusError
        from hortus.plants.transfer import import_plants, read_lines

        database = prepare_database(get_settings())
        try:
            with database.write() as session:
                count = import_plants(session, read_lines(file))
        except HortusError as exc:
            typer.echo(f"Import failed, nothing was changed: {exc.message}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"Imported {count} plants", err=True)
