"""``hortus backup FILE`` and ``hortus restore FILE`` (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from hortus.config import get_settings


def register(app: typer.Typer) -> None:
    @app.command()
    def backup(
        file: Path = typer.Argument(..., help="The backup to write (.tar, or .tar.gz)."),
        models: bool = typer.Option(True, help="Include the trained project versions."),
    ) -> None:
        """Back up the database (online: the server may keep running), the media folder, the
        trained projects and the cookie key into one tar file with a manifest."""
        from hortus.ops.backup import BackupError
        from hortus.ops.backup import backup as make_backup

        try:
            summary = make_backup(settings=get_settings(), target=file, include_models=models)
        except BackupError as exc:
            typer.echo(f"Backup failed: {exc}", err=True)
            raise typer.Exit(1) from exc
        rows = sum(summary.tables.values())
        typer.echo(f"Backed up {summary.dialect}: {len(summary.tables)} tables, {rows} rows, "
                   f"{summary.files} files, {summary.bytes:,} bytes -> {summary.path}")

    @app.command()
    def restore(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A backup file."),
        force: bool = typer.Option(False, help="Replace a database that is already there."),
    ) -> None:
        """Restore a backup into the data directory (and database) of the settings; stop the
        server first. Every file is checked against the manifest, and every table's rows."""
        from hortus.ops.backup import BackupError
        from hortus.ops.backup import restore as restore_backup

        try:
            summary = restore_backup(settings=get_settings(), source=file, force=force)
        except BackupError as exc:
            typer.echo(f"Restore failed: {exc}", err=True)
            raise typer.Exit(1) from exc
        rows = sum(summary.tables.values())
        typer.echo(f"Restored {summary.dialect}: {len(summary.tables)} tables, {rows} rows, "
                   f"{summary.files} files, checked against the manifest.")
