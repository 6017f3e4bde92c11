"""``hortus projects update NAME --from-observations`` and ``hortus projects rollback NAME``.

The work is done by :mod:`hortus.observations.retraining`; this module parses options, opens
the database, the media store and the backbone, and prints the gate's verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hortus.cli.vision import _backbone, _fail, _progress, _scan, _settings, console


def update_command(
    project: Annotated[str, typer.Argument(help="The project to retrain.")],
    from_observations: Annotated[bool, typer.Option(
        "--from-observations", help="Add the photos of valid observations of its species "
                                    "(required: the only source so far).")] = False,
    evaluation: Annotated[Path | None, typer.Option(
        "--eval", help="Fixed evaluation folder DIR/<class>/<photo> on which the active "
                       "version and the candidate are compared (required unless --dry-run).",
    )] = None,
    base: Annotated[list[Path] | None, typer.Option(
        "--base", help="The project's training folder(s), trained on again beside the "
                       "observations (repeatable; only the project's classes are used).",
    )] = None,
    min_confidence: Annotated[float, typer.Option(
        min=0.0, help="Only observations whose label has at least this confidence (valid ones "
                      "already have 2 or more).")] = 0.0,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Count the photos an update would add; train nothing.")] = False,
    media: Annotated[bool, typer.Option(help="Write reference media (o/m/s JPEGs).")] = True,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Retrain a project with its validated observations; activate the candidate only when
    it is not worse than the active version on the --eval photos (docs/observations.md)."""
    from hortus.bootstrap import prepare_database
    from hortus.media import open_media_store
    from hortus.observations.retraining import UpdateError, evaluation_subset, update_project
    from hortus.vision.artifacts import (
        ArtifactError,
        active_version_dir,
        read_manifest,
        validate_name,
    )
    from hortus.vision.dataset import DatasetError, merge_photo_folders

    if not from_observations:
        raise typer.BadParameter("say where the new photos come from: --from-observations")
    if evaluation is None and not dry_run:
        raise typer.BadParameter("--eval DIR is required: the fixed photos of the comparison")
    settings = _settings()
    try:
        active_dir = active_version_dir(settings.models_dir / "projects" / validate_name(project))
    except ArtifactError as exc:
        _fail(str(exc))
    if active_dir is None:
        _fail(f"no trained project {project!r} in {settings.models_dir / 'projects'}")
    try:
        labels = list(read_manifest(active_dir).get("classes") or [])
        base_folder = merge_photo_folders(
            [_scan(f, groups=True, max_per_class=None, seed=0) for f in base]) if base else None
        eval_folder = (evaluation_subset(_scan(evaluation, groups=True, max_per_class=None,
                                               seed=0), labels)
                       if evaluation is not None else None)
    except (ArtifactError, DatasetError, OSError) as exc:
        _fail(str(exc))
    if eval_folder is not None and not eval_folder.photos:
        _fail(f"{evaluation} holds no photo of a class of {project}")
    database = prepare_database(settings)
    store = open_media_store(settings, database)
    try:
        backbone = None if dry_run else _backbone(settings, threads)
        with _progress() as progress:
            report = update_project(
                name=project, models_dir=settings.models_dir, database=database, media=store,
                backbone=backbone, evaluation=eval_folder or _empty(labels), base=base_folder,
                cache_dir=settings.cache_dir, media_sink=store.primary if media else None,
                min_confidence=min_confidence, dry_run=dry_run, progress=progress)
    except (UpdateError, ArtifactError, DatasetError, OSError) as exc:
        _fail(str(exc))
    finally:
        store.close()
        database.dispose()
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        _print(report)
    if report.gate is not None and not report.gate.activated:
        raise typer.Exit(code=3)  # refused: scripts can tell it from success and failure


def _empty(labels: list[str]):
    """No evaluation photos (a dry run compares nothing)."""
    from hortus.vision.dataset import PhotoFolder

    return PhotoFolder(root=Path("."), classes=[], photos=[])


def _print(report) -> None:
    table = Table(title=f"Update of {report.project} (active {report.active_version})",
                  show_header=False)
    table.add_row("valid observations", str(report.observations))
    table.add_row("their photos", ", ".join(f"{k} {v}" for k, v in
                                            report.photos_by_class.items()))
    table.add_row("base photos", str(report.base_photos))
    table.add_row("evaluation photos", str(report.evaluation_photos))
    if report.dropped_overlap:
        table.add_row("dropped (also evaluation photos)", str(report.dropped_overlap))
    if report.candidate_version:
        table.add_row("candidate", report.candidate_version)
    console.print(table)
    for line in report.skipped[:10]:
        console.print(f"[yellow]skipped[/yellow] {line}")
    if report.dry_run or report.gate is None:
        console.print("dry run: nothing trained")
        return
    figures = Table(title="Same evaluation photos")
    for column in ("version", "top-1", "NLL", "photos"):
        figures.add_column(column)
    for who, values in (("active", report.gate.active), ("candidate", report.gate.candidate)):
        figures.add_row(f"{who} {values['project']['version']}", f"{values['top1']:.4f}",
                        f"{values['nll']:.4f}", str(values["n"]))
    console.print(figures)
    if report.gate.activated:
        console.print(f"[green]activated[/green] {report.candidate_version} "
                      "(restart the server to serve it)")
    else:
        console.print(f"[red]refused[/red]: {'; '.join(report.gate.reasons)}; "
                      f"{report.active_version} stays active")


def rollback_command(
    project: Annotated[str, typer.Argument(help="The project to roll back.")],
) -> None:
    """Activate the version before the active one (skipping candidates the gate refused)."""
    from hortus.observations.retraining import UpdateError, rollback
    from hortus.vision.artifacts import ArtifactError

    settings = _settings()
    try:
        was, now = rollback(name=project, models_dir=settings.models_dir)
    except (UpdateError, ArtifactError) as exc:
        _fail(str(exc))
    console.print(f"{project}: {now} active again (was {was}); restart the server to serve it")


def register(projects_app: typer.Typer) -> None:
    """Add ``update`` and ``rollback`` to the ``projects`` command group."""
    projects_app.command("update")(update_command)
    projects_app.command("rollback")(rollback_command)
