"""``hortus media ...``: where stored photos are, and copying them between backends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from hortus.config import Settings, get_settings

console = Console()
media_app = typer.Typer(help="Stored photos: backends and migration (docs/media.md).",
                        no_args_is_help=True)


@contextmanager
def configured_store(settings: Settings) -> Iterator:
    """The media store the server would use (its database opened and migrated if needed)."""
    from hortus.bootstrap import prepare_database
    from hortus.media import open_media_store

    database = prepare_database(settings)
    store = open_media_store(settings, database)
    try:
        yield store
    finally:
        store.close()
        database.dispose()


@media_app.command("info")
def info_command() -> None:
    """Which backend this configuration uses, and how many photos it holds."""
    from hortus.media import resolve_backend

    settings = get_settings()
    with configured_store(settings) as store:
        count = sum(1 for _ in store.primary.iter_keys())
    console.print(f"backend: {resolve_backend(settings)} ({count} objects)")


@media_app.command("migrate")
def migrate_command(
    to: Annotated[str, typer.Option("--to", help="Backend to copy to: local, database or s3.")],
    source: Annotated[str | None, typer.Option(
        "--from", help="Backend to copy from (default: the configured one).")] = None,
) -> None:
    """Copy every stored photo to another backend, verifying each one's sha256.

    Safe to interrupt and run again: photos already at the destination are verified, not
    copied again. Analyses stored before pictures were media objects are adopted first (their
    files under the data directory are added to the source). The source is left as it is;
    switch HORTUS_MEDIA_BACKEND afterwards.
    """
    from hortus.bootstrap import prepare_database
    from hortus.diagnose.pictures import adopt_legacy_pictures
    from hortus.media import open_backend, resolve_backend
    from hortus.media.transfer import copy_media

    settings = get_settings()
    try:
        origin = resolve_backend(settings, source)
        target = resolve_backend(settings, to)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if origin == target:
        raise typer.BadParameter(f"--to {target} is already the source backend")
    database = prepare_database(settings)
    try:
        try:
            from_store = open_backend(settings, origin, database)
            to_store = open_backend(settings, target, database)
        except (ValueError, ImportError) as exc:
            console.print(f"[red]Error:[/red] {exc}")
            raise typer.Exit(code=1) from None
        adopted = adopt_legacy_pictures(database=database, media_dir=settings.media_dir,
                                        media=from_store)
        if adopted:
            console.print(f"{adopted} analysis pictures from before migration 0005 adopted")
        with Progress(TextColumn(f"[bold]{origin} → {target}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=console) as bars:
            task = bars.add_task("copy", total=None)

            def progress(done: int, total: int) -> None:
                bars.update(task, completed=done, total=total)

            report = copy_media(from_store, to_store, progress=progress)
        from_store.close()
        to_store.close()
    finally:
        database.dispose()
    summary = Table(title=f"Media {origin} → {target}", show_header=False)
    summary.add_row("objects", str(report.total))
    summary.add_row("copied", f"{report.copied} ({report.bytes_copied} bytes)")
    summary.add_row("already there", str(report.present))
    summary.add_row("sha256 verified", str(report.verified))
    summary.add_row("failed", str(len(report.failed)))
    console.print(summary)
    for key, reason in report.failed[:20]:
        console.print(f"[red]failed[/red] {key}: {reason}")
    if report.failed:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.add_typer(media_app, name="media")
