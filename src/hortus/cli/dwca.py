"""``hortus export --format dwca FILE`` and ``hortus import FILE.zip``: observations as Darwin
Core Archives (docs/observations.md, "Darwin Core").

The ``export`` and ``import`` commands themselves are :mod:`hortus.cli.plants`'s (plants as
JSON lines by default); they hand Darwin Core work to the two functions here, which show
progress bars and print a summary (or JSON with ``--json``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from hortus.config import Settings, get_settings

console = Console(stderr=True)


@contextmanager
def _server_parts(settings: Settings) -> Iterator[tuple]:
    """The database and media store the server would use (migrated if needed)."""
    from hortus.bootstrap import prepare_database
    from hortus.media import open_media_store

    database = prepare_database(settings)
    store = open_media_store(settings, database)
    try:
        yield database, store
    finally:
        store.close()
        database.dispose()


@contextmanager
def _bars(quiet: bool) -> Iterator:
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                  disable=quiet) as bars:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bars.add_task(phase, total=total)
            bars.update(tasks[phase], completed=done, total=total)

        yield progress


def export_archive(file: Path, *, all_observations: bool, title: str | None,
                   as_json: bool = False) -> None:
    """Write the observations (valid ones unless ``all_observations``) and their photos."""
    import json

    from hortus.observations.dwca_write import DEFAULT_TITLE, write_archive

    if str(file) == "-":
        raise typer.BadParameter("a Darwin Core Archive is a zip: name a file")
    settings = get_settings()
    with _server_parts(settings) as (database, store), _bars(as_json) as progress:
        report = write_archive(
            database=database, media=store, target=file, only_valid=not all_observations,
            title=title or DEFAULT_TITLE,
            publisher=settings.public_url or "Hortus",
            progress=lambda done, total: progress("observations", done, total))
    values = {"observations": report.observations, "photos": report.photos,
              "remote_photos": report.remote_photos, "missing_photos": report.missing_photos,
              "file": str(file)}
    if as_json:
        typer.echo(json.dumps(values))
        return
    summary = Table(title=f"Darwin Core Archive written ({'all' if all_observations else 'valid'}"
                          " observations)", show_header=False)
    summary.add_row("file", str(file))
    summary.add_row("observations", str(report.observations))
    summary.add_row("photo files", str(report.photos))
    summary.add_row("photos only as a URL", str(report.remote_photos))
    summary.add_row("photos no longer stored (left out)", str(report.missing_photos))
    console.print(summary)


def import_archive(file: Path, *, as_json: bool) -> None:
    """Import a Darwin Core Archive; exit code 1, nothing changed, when it is refused."""
    from hortus.errors import HortusError
    from hortus.observations.dwca_import import import_archive as run_import

    settings = get_settings()
    try:
        with _server_parts(settings) as (database, store), _bars(as_json) as progress:
            report = run_import(database=database, settings=settings, media=store, path=file,
                                progress=progress)
    except HortusError as exc:
        typer.echo(f"Import failed, nothing was changed: {exc.message}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(report.to_json())
        return
    summary = Table(title=f"Darwin Core Archive imported: {file.name}", show_header=False)
    summary.add_row("occurrences in the archive", str(report.occurrences))
    summary.add_row("imported", str(report.imported))
    summary.add_row("already here (same occurrenceID)", str(report.already_present))
    summary.add_row("imported without a name this server knows", str(report.unnamed))
    summary.add_row("valid after review", str(report.valid))
    for reason, count in sorted(report.skipped.items()):
        summary.add_row(f"left out: {reason}", str(count))
    summary.add_row("photos stored", str(report.photos_stored))
    remote = report.photos_skipped.get("remote", 0)
    summary.add_row("photos NOT fetched (URLs; recorded, import is offline)", str(remote))
    for reason, count in sorted(report.photos_skipped.items()):
        if reason != "remote":
            summary.add_row(f"photos not stored: {reason}", str(count))
    summary.add_row("accounts made for the archive's people", str(report.people_created))
    if report.media_without_occurrence:
        summary.add_row("multimedia rows of no occurrence (ignored)",
                        str(report.media_without_occurrence))
    for extension in report.ignored_extensions:
        summary.add_row("extension ignored", extension)
    console.print(summary)
    for note in report.notes:
        console.print(f"  {note}")
