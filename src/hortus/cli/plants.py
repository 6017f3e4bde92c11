"""``hortus import`` / ``hortus export``: plants as JSON lines (observations as Darwin Core
Archives: :mod:`hortus.cli.dwca`)."""

from __future__ import annotations

from pathlib import Path

import typer

from hortus.config import get_settings


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        file: Path = typer.Argument(..., help="File to write ('-' for stdout: plants only)."),
        export_format: str = typer.Option(
            "plants", "--format", help="plants: every plant as JSON lines; dwca: the "
                                       "observations as a Darwin Core Archive (zip)."),
        all_observations: bool = typer.Option(
            False, "--all", help="dwca: every observation, not only the valid ones."),
        title: str | None = typer.Option(None, "--title", help="dwca: the dataset's title."),
    ) -> None:
        """Export every plant as JSON lines (the API's plant object plus names, ids and links),
        or with --format dwca the observations and their photos as a Darwin Core Archive."""
        import sys

        if export_format == "dwca":
            from hortus.cli.dwca import export_archive

            export_archive(file, all_observations=all_observations, title=title)
            return
        if export_format != "plants":
            raise typer.BadParameter("--format is plants or dwca")

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
        file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                    help="JSON-lines file, or a Darwin Core Archive (.zip)."),
        as_json: bool = typer.Option(False, "--json", help="dwca: print the report as JSON."),
    ) -> None:
        """Import plants from a JSON-lines export (same ids; existing plants are replaced), or
        observations and their photos from a Darwin Core Archive (a zip)."""
        import zipfile

        if file.suffix.lower() == ".zip" or zipfile.is_zipfile(file):
            from hortus.cli.dwca import import_archive

            import_archive(file, as_json=as_json)
            return
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
