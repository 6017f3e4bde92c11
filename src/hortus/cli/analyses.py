"""``hortus analyses ...``: stored image analyses and their pictures, for operators."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hortus.config import get_settings

analyses_app = typer.Typer(help="Stored image analyses (docs/operations.md, \"Stored "
                                "analyses\").", no_args_is_help=True)


@analyses_app.command("purge")
def purge_command(
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say what would be deleted; delete nothing.")] = False,
    max_age_days: Annotated[int | None, typer.Option(
        "--max-age-days", min=0,
        help="Delete analyses older than this (default: HORTUS_ANALYSIS_MAX_AGE_DAYS; "
             "0: no age limit).")] = None,
    max_total_bytes: Annotated[int | None, typer.Option(
        "--max-total-bytes", min=0,
        help="Keep at most this many bytes of pictures, the newest analyses first (default: "
             "HORTUS_ANALYSIS_MAX_TOTAL_BYTES; 0: no size limit).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Delete stored analyses past the retention limits, with the pictures no analysis names
    any more (what a running server does every HORTUS_ANALYSIS_SWEEP_INTERVAL seconds)."""
    from hortus.bootstrap import prepare_database
    from hortus.diagnose.retention import RetentionPolicy, purge_analyses
    from hortus.media import open_media_store

    settings = get_settings()
    configured = RetentionPolicy.from_settings(settings)
    policy = RetentionPolicy(
        max_age_days=configured.max_age_days if max_age_days is None else max_age_days,
        max_total_bytes=(configured.max_total_bytes if max_total_bytes is None
                         else max_total_bytes))
    database = prepare_database(settings)
    media = open_media_store(settings, database)
    try:
        report = purge_analyses(database=database, media=media, media_dir=settings.media_dir,
                                policy=policy, dry_run=dry_run)
    finally:
        media.close()
        database.dispose()
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
        return
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {report.analyses} analyses and {report.pictures} pictures "
               f"({report.bytes_freed} bytes)")
    oldest = report.oldest_kept.isoformat() if report.oldest_kept else "-"
    typer.echo(f"kept {report.kept_analyses} analyses, {report.kept_bytes} bytes of pictures, "
               f"oldest {oldest}")
    if not policy.limited:
        typer.echo("no retention limit is set: nothing is ever deleted")


def register(app: typer.Typer) -> None:
    app.add_typer(analyses_app, name="analyses")
