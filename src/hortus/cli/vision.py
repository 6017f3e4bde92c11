"""Vision commands: ``train``, ``eval``, ``projects list``, ``models prepare|media``.

The lead's main Typer app calls :func:`register`. Output goes through Rich; the work is done
by :mod:`hortus.vision.workflow`, which knows nothing of settings.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()

TaskOption = Annotated[
    str, typer.Option("--task", help="identify (species) or diagnose (diseases).")
]


@contextmanager
def _progress():
    """A Rich progress display and a ``progress(stage, done, total)`` callback feeding it."""
    with Progress(
        TextColumn("[bold]{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bars:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield update


def _settings():
    from hortus.config import get_settings

    settings = get_settings()
    settings.ensure_dirs()
    return settings


def _backbone(settings, threads: int | None):
    from hortus.vision.backbone import Backbone
    from hortus.vision.engine import resolve_backbone_dir

    with console.status("Preparing the backbone..."):
        model_dir = resolve_backbone_dir(settings.models_dir, settings.backbone_dir)
    return Backbone.load(model_dir, threads=threads or settings.inference_threads)


MaxPerClassOption = Annotated[
    int | None,
    typer.Option(help="Use at most about N photos per class, whole groups at a time (seeded)."),
]
TrainViewsOption = Annotated[
    str | None,
    typer.Option(help="Training views, comma-separated (center,hflip,zoom,zoom_hflip,tl,tr,bl,"
                      "br); default all eight. Fewer views embed large sets faster."),
]
TestViewsOption = Annotated[
    str | None,
    typer.Option(help="Views a photo is seen in at inference, comma-separated (as --train-views); "
                      "the head is calibrated on their mean embedding, and the server embeds "
                      "every photo in them; default center,hflip,zoom,zoom_hflip."),
]
GroupsOption = Annotated[
    bool,
    typer.Option(help="Keep the photos of one group (DIR/groups.csv) on one side of every "
                      "split."),
]


def _scan(folder: Path, *, groups: bool, max_per_class: int | None, seed: int, **kwargs):
    """Scan a photo folder, drop its groups when asked, subsample it per class."""
    from dataclasses import replace

    from hortus.vision.dataset import scan_photo_folder, subsample_per_class

    scanned = scan_photo_folder(folder, **kwargs)
    if not groups:
        scanned = replace(scanned, photos=[replace(p, group=None) for p in scanned.photos])
    return subsample_per_class(scanned, max_per_class, seed)


def _check_task(task: str) -> str:
    from hortus.vision.artifacts import TASKS

    if task not in TASKS:
        raise typer.BadParameter(f"--task must be one of {', '.join(TASKS)}")
    return task


def _project_roots(settings) -> list[Path]:
    from hortus.vision.engine import PACKAGED_PROJECTS_DIR

    return [settings.models_dir / "projects", PACKAGED_PROJECTS_DIR]


@contextmanager
def _media_store(settings, wanted: bool):
    """The configured media store (docs/media.md) when ``wanted``, else None."""
    if not wanted:
        yield None
        return
    from hortus.cli.media import configured_store

    with configured_store(settings) as store:
        yield store.primary  # written where every process reads, never to a read-only layer


def _fail(message: str) -> NoReturn:
    console.print(f"[red]Error:[/red] {message}")
    raise typer.Exit(code=1)


def train(
    folders: Annotated[
        list[Path],
        typer.Argument(help="Image folder DIR/<class>/<photo>; several are merged by class."),
    ],
    project: Annotated[str, typer.Option("--project", "-p", help="Project name.")],
    task: TaskOption = "identify",
    seed: Annotated[int, typer.Option(help="Seed of the split and fitting.")] = 0,
    classes: Annotated[
        Path | None, typer.Option(help="classes.csv (folder,name,...) if not in DIR.")
    ] = None,
    photos: Annotated[
        Path | None, typer.Option(help="Per-photo credits CSV (file,author,licence,...).")
    ] = None,
    author: Annotated[str | None, typer.Option(help="Default photo author.")] = None,
    licence: Annotated[str | None, typer.Option(help="Default photo licence.")] = None,
    citation: Annotated[str | None, typer.Option(help="Default photo citation.")] = None,
    organ: Annotated[str | None, typer.Option(help="Default organ (flower, leaf...).")] = None,
    head: Annotated[str | None, typer.Option(help="Head: logistic or mlp.")] = None,
    c: Annotated[float | None, typer.Option("--c", help="Inverse L2 strength.")] = None,
    max_references: Annotated[
        int | None, typer.Option(help="Keep at most N reference photos per class in the index.")
    ] = None,
    media: Annotated[bool, typer.Option(help="Write reference media (o/m/s JPEGs).")] = True,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads.")] = None,
    max_per_class: MaxPerClassOption = None,
    train_views: TrainViewsOption = None,
    test_views: TestViewsOption = None,
    groups: GroupsOption = True,
    inner_folds: Annotated[int | None, typer.Option(
        min=2,
        help="Folds inside the training photos whose out-of-fold predictions choose C, the "
             "temperature and the rejection thresholds (grouped by groups.csv) [default: 3].",
    )] = None,
    threshold_folds: Annotated[int | None, typer.Option(
        min=2, hidden=True, help="Former name of --inner-folds.",
    )] = None,
    keep: Annotated[float | None, typer.Option(
        min=0.5, max=1.0,
        help="Share of the answerable classes' out-of-fold photos that the rejection rule "
             "must accept; the rest sets the threshold [default: 0.95].",
    )] = None,
) -> None:
    """Train a project on an image folder, write a new version and activate it."""
    from hortus.vision.dataset import DatasetError, PhotoCredit, merge_photo_folders
    from hortus.vision.workflow import train_folder

    _check_task(task)
    settings = _settings()
    defaults = PhotoCredit(author=author, licence=licence, citation=citation, organ=organ)
    try:
        scanned = merge_photo_folders(
            [
                _scan(f, groups=groups, max_per_class=max_per_class, seed=seed,
                      classes_csv=classes, photos_csv=photos, defaults=defaults)
                for f in folders
            ]
        )
    except (DatasetError, OSError) as exc:
        _fail(str(exc))
    from dataclasses import replace

    recipe = _recipe(head=head, c=c, train_views=train_views, test_views=test_views,
                     inner_folds=inner_folds or threshold_folds)
    if max_references is not None:
        recipe = replace(recipe, max_references_per_class=max_references)
    if keep is not None:
        recipe = replace(recipe, keep=keep)
    backbone = _backbone(settings, threads)
    with _progress() as progress, _media_store(settings, media) as media_store:
        try:
            result = train_folder(
                scanned,
                backbone=backbone,
                name=project,
                task=task,
                models_dir=settings.models_dir,
                cache_dir=settings.cache_dir,
                media_dir=media_store,
                recipe=recipe,
                seed=seed,
                progress=progress,
            )
        except ValueError as exc:
            _fail(str(exc))
    art = result.artifacts
    summary = Table(
        title=f"Project {art.name} ({art.task}) version {art.version}", show_header=False
    )
    summary.add_row("classes", str(len(art.classes)))
    summary.add_row("photos", f"{result.photos} ({len(result.skipped)} skipped)")
    summary.add_row("held-out photos", str(art.metrics.get("n", 0)))
    summary.add_row("held-out top-1", _fmt(art.metrics.get("top1")))
    summary.add_row("held-out top-5", _fmt(art.metrics.get("top5")))
    summary.add_row("C (chosen out-of-fold)", _fmt(art.metrics.get("model", {}).get("c")))
    summary.add_row("temperature", f"{art.head.temperature:.3f}")
    summary.add_row("open-set threshold", f"{art.rule.threshold:.4f} ({art.rule.method})")
    summary.add_row("reference media written", str(result.media_written))
    summary.add_row("saved to", str(result.version_dir))
    console.print(summary)
    for path, reason in result.skipped[:10]:
        console.print(f"[yellow]skipped[/yellow] {path}: {reason}")


def _views(option: str, value: str) -> tuple[str, ...]:
    from hortus.vision.test_time_crops import VIEWS

    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [v for v in names if v not in VIEWS]
    if not names or unknown:
        raise typer.BadParameter(f"{option} takes names from {', '.join(VIEWS)} (got {value!r})")
    return names


def _recipe(head: str | None = None, c: float | None = None, train_views: str | None = None,
            inner_folds: int | None = None, test_views: str | None = None):
    from dataclasses import replace

    from hortus.vision.training import DEFAULT_RECIPE

    recipe = DEFAULT_RECIPE
    if train_views is not None:
        recipe = replace(recipe, train_views=_views("--train-views", train_views))
    if test_views is not None:
        recipe = replace(recipe, test_views=_views("--test-views", test_views))
    if head is not None:
        if head not in ("logistic", "mlp"):
            raise typer.BadParameter("--head must be logistic or mlp")
        recipe = replace(recipe, head=head)
    if c is not None:
        recipe = replace(recipe, c=c, c_grid=())
    if inner_folds is not None:
        recipe = replace(recipe, inner_folds=inner_folds)
    return recipe


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def evaluate(
    folder: Annotated[Path, typer.Argument(help="Image folder DIR/<class>/<photo>.")],
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Project to evaluate.")
    ] = None,
    cv: Annotated[
        int | None, typer.Option("--cv", help="k-fold cross-validation on DIR instead.")
    ] = None,
    task: TaskOption = "identify",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write metrics JSON.")] = None,
    confusion: Annotated[
        Path | None, typer.Option(help="Confusion-matrix PNG (default: beside --json or cwd).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the folds.")] = 0,
    head: Annotated[str | None, typer.Option(help="Head for --cv: logistic or mlp.")] = None,
    c: Annotated[float | None, typer.Option("--c", help="Inverse L2 strength for --cv.")] = None,
    inner_folds: Annotated[int | None, typer.Option(
        min=2, help="For --cv: folds inside each outer fold's training photos that choose C, "
                    "the temperature and the thresholds [default: 3].",
    )] = None,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads.")] = None,
    max_per_class: MaxPerClassOption = None,
    train_views: TrainViewsOption = None,
    test_views: TestViewsOption = None,
    groups: GroupsOption = True,
) -> None:
    """Evaluate a trained project on DIR, or cross-validate the training recipe (--cv K).

    Cross-validation folds are grouped by DIR/groups.csv when there is one."""
    from hortus.vision.artifacts import ArtifactError, find_active_projects, load_project
    from hortus.vision.dataset import DatasetError
    from hortus.vision.engine import ProjectModel
    from hortus.vision.evaluation import render_confusion_png
    from hortus.vision.workflow import cross_validate_folder, evaluate_folder

    _check_task(task)
    if (project is None) == (cv is None):
        raise typer.BadParameter("give either --project NAME or --cv K")
    settings = _settings()
    model = None
    if project is not None:
        version_dir = find_active_projects(_project_roots(settings)).get(project)
        if version_dir is None:
            _fail(f"no trained project {project!r}")
        try:
            model = ProjectModel(load_project(version_dir))
        except ArtifactError as exc:
            _fail(str(exc))
    try:
        scanned = _scan(folder, groups=groups, max_per_class=max_per_class, seed=seed)
        if model is not None:
            known = [cl.label for cl in model.classes]
            unknown = [cl.label for cl in scanned.classes if cl.label not in known]
            if unknown:
                console.print(f"[yellow]ignoring classes not in {project}:[/yellow] {unknown}")
                scanned = _scan(folder, groups=groups, max_per_class=max_per_class, seed=seed,
                                only_classes=known)
    except (DatasetError, OSError) as exc:
        _fail(str(exc))
    backbone = _backbone(settings, threads)
    with _progress() as progress:
        if model is not None:
            metrics = evaluate_folder(
                scanned, model, backbone=backbone, cache_dir=settings.cache_dir, progress=progress
            )
        else:
            assert cv is not None  # either --project or --cv, checked above
            if cv < 2:
                raise typer.BadParameter("--cv needs at least 2 folds")
            metrics = cross_validate_folder(
                scanned,
                backbone=backbone,
                cache_dir=settings.cache_dir,
                recipe=_recipe(head=head, c=c, train_views=train_views,
                               test_views=test_views, inner_folds=inner_folds),
                folds=cv,
                seed=seed,
                progress=progress,
            )
            metrics["task"] = task
    _print_metrics(metrics, cv)
    counts, labels = _confusion(metrics)
    png = confusion or (
        json_path.with_suffix(".confusion.png")
        if json_path
        else Path.cwd() / f"confusion-{project or folder.name}.png"
    )
    render_confusion_png(counts, labels, png)
    console.print(f"confusion matrix: {png}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        console.print(f"metrics: {json_path}")


def _confusion(metrics: dict):
    import numpy as np

    if "confusion" in metrics:
        return np.asarray(metrics["confusion"]["counts"]), metrics["confusion"]["labels"]
    folds = metrics["folds"]
    total = sum(np.asarray(f["confusion"]["counts"]) for f in folds)
    return total, folds[0]["confusion"]["labels"]


def _print_metrics(metrics: dict, cv: int | None) -> None:
    keys = ("top1", "top5", "macro_top1", "average_k", "nll", "ece")
    table = Table(title=f"{cv}-fold cross-validation" if cv else "Evaluation")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in keys:
        if cv:
            s = metrics["summary"].get(key)
            if s:
                table.add_row(key, f"{s['mean']:.4f} ± {s['std']:.4f}")
        elif key in metrics:
            table.add_row(key, f"{metrics[key]:.4f}")
    table.add_row("photos", str(metrics["n"]))
    if not cv:
        table.add_row("accepted (open-set)", f"{metrics['accepted']:.4f}")
    console.print(table)
    if metrics.get("evaluated_on"):
        console.print(f"evaluated on: {metrics['evaluated_on']}")
    per_class = Table(title="Per class")
    per_class.add_column("class")
    per_class.add_column("top-1", justify="right")
    per_class.add_column("photos", justify="right")
    for label, values in metrics["per_class"].items():
        per_class.add_row(label, f"{values['top1']:.3f}", str(values["n"]))
    console.print(per_class)


def projects_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every trained project (data dir first, then the packaged defaults)."""
    from hortus.vision.artifacts import ArtifactError, find_active_projects, read_manifest
    from hortus.vision.engine import PACKAGED_PROJECTS_DIR

    settings = _settings()
    rows: list[dict[str, Any]] = []
    for name, version_dir in find_active_projects(_project_roots(settings)).items():
        try:
            manifest = read_manifest(version_dir)
        except ArtifactError:
            continue
        packaged = PACKAGED_PROJECTS_DIR in version_dir.parents
        rows.append(
            {
                "name": name,
                "task": manifest.get("task"),
                "version": manifest.get("version"),
                "classes": list(manifest.get("classes") or []),
                "source": "packaged" if packaged else "data",
            }
        )
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(title="Projects")
    for column in ("name", "task", "version", "classes", "source"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"], row["task"], row["version"], str(len(row["classes"])), row["source"]
        )
    console.print(table)


def models_prepare() -> None:
    """Convert the packaged EfficientNet-Lite0 weights to ONNX in the models dir."""
    from hortus.vision.backbone import prepare_backbone

    settings = _settings()
    with console.status("Preparing the backbone..."):
        path = prepare_backbone(settings.models_dir)
    console.print(f"backbone ready in {path}")


def models_media(
    folder: Annotated[Path, typer.Argument(help="The project's training folder.")],
    project: Annotated[str, typer.Option("--project", "-p", help="Project name.")],
) -> None:
    """(Re)build a project's reference media (o/m/s JPEGs) from its training photos."""
    from hortus.vision.artifacts import ArtifactError, find_active_projects, load_project
    from hortus.vision.dataset import DatasetError, content_sha256, scan_photo_folder
    from hortus.vision.workflow import build_media

    settings = _settings()
    version_dir = find_active_projects(_project_roots(settings)).get(project)
    if version_dir is None:
        _fail(f"no trained project {project!r}")
    try:
        wanted = set(load_project(version_dir).index.sha256.tolist())
        scanned = scan_photo_folder(folder)
    except (ArtifactError, DatasetError, OSError) as exc:
        _fail(str(exc))
    photos = [p for p in scanned.photos if content_sha256(p.read_bytes()) in wanted]
    with _progress() as progress, _media_store(settings, True) as media_store:
        written = build_media(photos, media_store, progress=progress)
        where = media_store.backend
    console.print(
        f"{len(photos)} of {len(wanted)} reference photos found; {written} renditions written "
        f"to the {where} media store"
    )


def register(app: typer.Typer) -> None:
    """Add the vision commands to the main Typer app."""
    app.command("train")(train)
    app.command("eval")(evaluate)
    projects_app = typer.Typer(help="Trained identification and diagnosis projects.")
    projects_app.command("list")(projects_list)
    from hortus.cli import retraining

    retraining.register(projects_app)
    app.add_typer(projects_app, name="projects")
    models_app = typer.Typer(help="Backbone and model files.")
    models_app.command("prepare")(models_prepare)
    models_app.command("media")(models_media)
    app.add_typer(models_app, name="models")
