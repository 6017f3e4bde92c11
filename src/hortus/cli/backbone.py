"""Backbone commands: ``hortus backbone tune`` (fine-tune Lite0 on plant photo sets, resumable),
``hortus backbone export`` (a run's checkpoint as a backbone directory) and ``hortus backbone
split`` (each set's evaluation split as train/eval image folders).

The work is done by :mod:`hortus.vision.tuning` (PyTorch, the optional ``torch`` extra);
this module parses options and shows progress with Rich. docs/backbone-tuning.md tells the
protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hortus.vision.tuning.config import TuneConfig

console = Console()
_D = TuneConfig()  # the defaults, shown in the options' help


def _fail(message: str) -> NoReturn:
    console.print(f"[red]Error:[/red] {escape(message)}")  # messages hold [brackets]
    raise typer.Exit(code=1)


def _opt(help_text: str, **kwargs: Any) -> Any:
    return typer.Option(help=help_text, show_default=False, **kwargs)


def tune(
    folders: Annotated[list[Path] | None, typer.Argument(
        help="Photo set folders DIR/<class>/<photo> (groups.csv read when present), each "
             "named after its folder; or use --set.", show_default=False)] = None,
    sets: Annotated[list[str] | None, typer.Option(
        "--set", help="A photo set as NAME=DIR (repeat the option).", show_default=False,
    )] = None,
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Run folder: run.json, evaluation_split.json, checkpoint.pt, "
                            "log.jsonl, then the backbone directory <name>/ and export.json.",
    )] = Path("backbone-run"),
    resume: Annotated[bool, typer.Option(
        help="Continue the run in --out from its checkpoint. Settings not given are the "
             "run's own; settings given must equal them.")] = False,
    split: Annotated[Path | None, typer.Option(
        help="Use this evaluation split (an evaluation_split.json) instead of making one.",
        show_default=False)] = None,
    epochs: Annotated[int | None, _opt(f"Epochs (default: {_D.epochs}).", min=1)] = None,
    image_size: Annotated[int | None, _opt(
        f"Training crop size, a multiple of 32 (default: {_D.image_size}); the exported graph "
        "takes serving's 224.", min=64)] = None,
    batch_size: Annotated[int | None, _opt(f"Batch size (default: {_D.batch_size}).",
                                           min=2)] = None,
    lr_backbone: Annotated[float | None, _opt(
        f"Peak learning rate of the backbone (default: {_D.lr_backbone}).")] = None,
    lr_heads: Annotated[float | None, _opt(
        f"Peak learning rate of the per-set heads (default: {_D.lr_heads}).")] = None,
    weight_decay: Annotated[float | None, _opt(
        f"AdamW weight decay (default: {_D.weight_decay}).")] = None,
    warmup: Annotated[float | None, _opt(
        f"Share of the steps warming up (default: {_D.warmup}).")] = None,
    label_smoothing: Annotated[float | None, _opt(
        f"Label smoothing (default: {_D.label_smoothing}).")] = None,
    dropout: Annotated[float | None, _opt(
        f"Dropout before the heads (default: {_D.dropout}).")] = None,
    freeze_blocks: Annotated[int | None, _opt(
        f"Keep the stem and this many first blocks frozen (default: {_D.freeze_blocks}).",
    )] = None,
    bn_momentum: Annotated[float | None, _opt(
        f"BatchNorm momentum (default: {_D.bn_momentum}).")] = None,
    distill: Annotated[float | None, _opt(
        f"Weight of the ImageNet-logits distillation; 0: none, and the exported backbone "
        f"has no ImageNet logits (default: {_D.distill}).")] = None,
    distill_temperature: Annotated[float | None, _opt(
        f"Distillation temperature (default: {_D.distill_temperature}).")] = None,
    max_per_set: Annotated[int | None, _opt(
        f"Photos a set gives to one epoch at most, class-balanced (default: "
        f"{_D.max_per_set}).", min=1)] = None,
    scale_min: Annotated[float | None, _opt(
        f"Random resized crop: smallest share of the area (default: {_D.scale_min}).")] = None,
    rotation: Annotated[float | None, _opt(
        f"Largest rotation, degrees (default: {_D.rotation}).")] = None,
    jitter: Annotated[float | None, _opt(
        f"Brightness/contrast/saturation jitter (default: {_D.jitter}).")] = None,
    vflip: Annotated[bool | None, _opt(
        f"Vertical flips too (default: {'vflip' if _D.vflip else 'no-vflip'}).")] = None,
    eval_fraction: Annotated[float | None, _opt(
        f"Share of each set's groups held out for evaluation (default: "
        f"{_D.eval_fraction}).")] = None,
    split_seed: Annotated[int | None, _opt(
        f"Seed of the evaluation split (default: {_D.split_seed}).")] = None,
    seed: Annotated[int | None, _opt(f"Training seed (default: {_D.seed}).")] = None,
    name: Annotated[str | None, _opt(f"Backbone name (default: {_D.name}).")] = None,
    threads: Annotated[int, typer.Option(help="PyTorch threads.", min=1)] = 2,
    loader_threads: Annotated[int, typer.Option(
        help="Threads decoding and augmenting the next batches (0: none).", min=0)] = 1,
    checkpoint_minutes: Annotated[float, typer.Option(
        help="Minutes between checkpoints (one also ends every epoch).", min=0)] = 10.0,
    max_steps: Annotated[int | None, typer.Option(
        help="Stop after this many steps (checkpointed); --resume continues.",
        show_default=False, min=1)] = None,
    max_minutes: Annotated[float | None, typer.Option(
        help="Stop after this many minutes (checkpointed); --resume continues.",
        show_default=False, min=0)] = None,
    export: Annotated[bool, typer.Option(
        help="Export the backbone when the last epoch ends.")] = True,
) -> None:
    """Fine-tune one EfficientNet-Lite0 on several plant photo sets (a linear head per set),
    keeping a fixed group-disjoint share of each set out of training, and export it to ONNX."""
    from hortus.vision.tuning import TuningError
    from hortus.vision.tuning.config import RunOptions, SetSpec
    from hortus.vision.tuning.run import read_run
    from hortus.vision.tuning.run import tune as run_tune

    overrides: dict[str, Any] = {
        "epochs": epochs, "image_size": image_size, "batch_size": batch_size,
        "lr_backbone": lr_backbone, "lr_heads": lr_heads, "weight_decay": weight_decay,
        "warmup": warmup, "label_smoothing": label_smoothing, "dropout": dropout,
        "freeze_blocks": freeze_blocks, "bn_momentum": bn_momentum, "distill": distill,
        "distill_temperature": distill_temperature, "max_per_set": max_per_set,
        "scale_min": scale_min, "rotation": rotation, "jitter": jitter, "vflip": vflip,
        "eval_fraction": eval_fraction, "split_seed": split_seed, "seed": seed, "name": name,
    }
    try:
        specs = [SetSpec.parse(str(f)) for f in folders or []]
        specs += [SetSpec.parse(text) for text in sets or []]
        overrides["sets"] = tuple(specs) or None
        base = read_run(out)[0] if resume else TuneConfig()
        config = base.with_overrides(overrides)
        options = RunOptions(threads=threads, loader_threads=loader_threads,
                             checkpoint_minutes=checkpoint_minutes, max_steps=max_steps,
                             max_minutes=max_minutes)
        with _progress_bar() as progress:
            result = run_tune(config, out, options, resume=resume, split=split, export=export,
                              progress=progress, on_sets=_show_sets)
    except TuningError as exc:
        _fail(str(exc))
    _show_result(result, out)


def _show_sets(sets: list) -> None:
    table = Table(title="Photo sets")
    for column in ("set", "classes", "photos", "training", "held out (evaluation)"):
        table.add_column(column, justify="left" if column == "set" else "right")
    for ts in sets:
        table.add_row(ts.spec.name, str(len(ts.class_labels)), str(len(ts.folder.photos)),
                      str(ts.train.size), str(ts.held.size))
    console.print(table)


class _progress_bar:
    """A Rich progress bar fed by the trainer's ``TuneProgress`` reports."""

    def __enter__(self) -> Callable[[Any], None]:
        self.bars = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("{task.fields[rate]:.1f} img/s"), TimeElapsedColumn(),
            console=console, transient=False)
        self.bars.__enter__()
        self.tasks: dict[int, Any] = {}
        return self.update

    def update(self, report: Any) -> None:
        task = self.tasks.get(report.epoch)
        if task is None:
            task = self.bars.add_task(f"epoch {report.epoch + 1}/{report.epochs}",
                                      total=report.steps, loss=0.0, rate=0.0)
            self.tasks[report.epoch] = task
        self.bars.update(task, completed=report.step, loss=report.loss,
                         rate=report.images_per_s)

    def __exit__(self, *exc: Any) -> None:
        self.bars.__exit__(*exc)


def _show_result(result: Any, out: Path) -> None:
    table = Table(title=f"Tuning run {out}", show_header=False)
    table.add_row("stopped", result.reason)
    table.add_row("epochs done", f"{result.epochs_done} of {result.epochs}")
    table.add_row("training time", f"{result.elapsed / 60:.1f} min")
    for epoch in result.history:
        table.add_row(f"epoch {epoch['epoch']}",
                      f"{epoch['seconds'] / 60:.1f} min, {epoch['images_per_s']:.1f} img/s, "
                      f"loss {epoch['loss']:.4f}")
    if result.export:
        table.add_row("backbone", result.export["path"])
        table.add_row("ONNX vs PyTorch", f"max |diff| {result.export['max_abs_diff_embedding']:.1e}"
                      f" (embedding), {result.export['max_abs_diff_logits']:.1e} (logits)")
    elif result.reason != "finished":
        table.add_row("continue with", f"hortus backbone tune --resume --out {out}")
    console.print(table)


def export(
    out: Annotated[Path, typer.Argument(help="The run folder (--out of tune).")],
    to: Annotated[Path | None, typer.Option(
        help="Backbone directory to write (default: OUT/<name>).", show_default=False)] = None,
    threads: Annotated[int, typer.Option(help="PyTorch threads.", min=1)] = 2,
    packaged: Annotated[Path | None, typer.Option(
        help="Also write the weights, rounded to float16, as DIR/<name>.npz and <name>.json "
             "(to ship in src/hortus/vision/packaged/backbones; the backbone directory is "
             "then built from the rounded weights too).", show_default=False)] = None,
) -> None:
    """Export a run's latest checkpoint (finished or not) as a backbone directory, after
    checking ONNX Runtime against PyTorch on held-out photos."""
    from hortus.vision.tuning import TuningError, require_torch
    from hortus.vision.tuning.run import export_run

    try:
        require_torch().set_num_threads(threads)
        with console.status("Exporting..."):
            report = export_run(out, dest=to, packaged=packaged)
    except TuningError as exc:
        _fail(str(exc))
    console.print(f"backbone {report['name']} ({report['epochs_done']} of {report['epochs']} "
                  f"epochs) written to {report['path']}; ONNX vs PyTorch max |diff| "
                  f"{report['max_abs_diff_embedding']:.1e}")


def split(
    out: Annotated[Path, typer.Argument(help="The run folder (--out of tune).")],
    into: Annotated[Path, typer.Option(help="Where to write <set>/train and <set>/eval.")],
) -> None:
    """Lay out each set's evaluation split as image folders of symlinks, <set>/train and
    <set>/eval, to fit heads on one and measure them on the other (no PyTorch needed)."""
    from hortus.vision.tuning import TuningError
    from hortus.vision.tuning.photosets import SPLIT_FILE, prepare_sets, split_folders
    from hortus.vision.tuning.run import read_run

    try:
        config, _ = read_run(out)
        sets, _ = prepare_sets(config.sets, out / SPLIT_FILE, fraction=config.eval_fraction,
                               seed=config.split_seed, create=False)
        counts = split_folders(sets, into)
    except TuningError as exc:
        _fail(str(exc))
    for name, sides in counts.items():
        console.print(f"{name}: {sides['train']} training photos in {into / name / 'train'}, "
                      f"{sides['eval']} evaluation photos in {into / name / 'eval'}")


def register(app: typer.Typer) -> None:
    """Add ``hortus backbone tune|export`` to the main Typer app."""
    backbone_app = typer.Typer(help="Tune and export image backbones (needs the torch extra).",
                               no_args_is_help=True)
    backbone_app.command("tune")(tune)
    backbone_app.command("export")(export)
    backbone_app.command("split")(split)
    app.add_typer(backbone_app, name="backbone")
