"""``hortus observations ...``: the community review's label aggregation, for operators."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from hortus.config import get_settings

console = Console()
observations_app = typer.Typer(help="Observations and their votes (docs/observations.md).",
                               no_args_is_help=True)


@observations_app.command("recompute")
def recompute_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute every observation's label, confidence, accuracy and validity, and every
    voter's weight, from the votes with the full published loop, and store them.

    Votes keep everything up to date as they arrive; run this after restoring a backup,
    deleting accounts, or editing votes by hand. (A change of HORTUS_REVIEW_AI_VOTE is picked
    up by the next vote on its own.) Votes wait while it runs.
    """
    from hortus.bootstrap import prepare_database
    from hortus.observations.review_store import recompute, review_policy

    settings = get_settings()
    database = prepare_database(settings)
    try:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, disable=as_json) as bars:
            tasks: dict[str, TaskID] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bars.add_task(phase, total=total)
                bars.update(tasks[phase], completed=done, total=total)

            report = recompute(database=database, policy=review_policy(settings),
                               progress=progress)
    finally:
        database.dispose()
    values = {"observations": report.observations, "voters": report.voters,
              "valid": report.valid, "rounds": report.rounds, "moved": report.moved}
    if as_json:
        typer.echo(json.dumps(values))
        return
    summary = Table(title="Label aggregation recomputed", show_header=False)
    for name, value in values.items():
        summary.add_row(name, str(value))
    console.print(summary)


@observations_app.command("delete")
def delete_command(
    observation_id: Annotated[int, typer.Argument(help="The observation's id.")],
) -> None:
    """Delete an observation as the operator (the API lets only its author or an operator's
    key do it): its votes go, the aggregation follows, its photos leave the media store."""
    from hortus.bootstrap import prepare_database
    from hortus.errors import HortusError
    from hortus.media import open_media_store
    from hortus.observations.removal import delete_observation

    settings = get_settings()
    database = prepare_database(settings)
    store = open_media_store(settings, database)
    try:
        removed = delete_observation(database=database, settings=settings, media=store,
                                     account_id=None, observation_id=observation_id)
    except HortusError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
        database.dispose()
    console.print(f"Observation {observation_id} deleted ({removed} media objects removed).")


def register(app: typer.Typer) -> None:
    app.add_typer(observations_app, name="observations")
