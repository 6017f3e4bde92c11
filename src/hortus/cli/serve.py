"""``hortus serve``."""

from __future__ import annotations

import logging.config
import os
import shutil
import sys

import typer

from hortus.config import Settings, get_settings
from hortus.ops.logs import logging_config
from hortus.server.options import uvicorn_options


def startup_banner(*, host: str, port: int, data_dir: str) -> str:
    """Where the server listens and the first thing a new user needs: a key."""
    shown = f"[{host}]" if ":" in host else ("127.0.0.1" if host in ("0.0.0.0", "") else host)
    base = f"http://{shown}:{port}"
    return "\n".join([
        f"Hortus is starting on {base}  (data: {data_dir})",
        f"  API documentation: {base}/docs   web pages: {base}/",
        "  Create a key (one key for all three APIs):",
        "    hortus keys create --account you@example.org --json",
        f"  or sign up at {base}/signup and open Settings -> API key.",
    ])


def prepare_multiprocess_metrics(settings: Settings, workers: int) -> None:
    """With several workers, their metrics go to files every worker can read (emptied at each
    start: counters restart from zero with the server, as they do with one process)."""
    from hortus.ops.metrics import MULTIPROCESS_ENV

    if workers < 2 or not settings.metrics:
        return
    folder = settings.data_dir / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROCESS_ENV] = str(folder)  # inherited by the spawned workers


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, help="Port to listen on."),
        workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
        log_level: str = typer.Option("info", help="debug, info, warning or error."),
    ) -> None:
        """Run the server (creates, migrates and seeds the data directory on first start).

        Limits, timeouts, log format and metrics come from the HORTUS_* settings
        (docs/operations.md).
        """
        import uvicorn

        from hortus.bootstrap import prepare_database

        settings = get_settings()
        log_format = settings.log_format
        if log_format == "auto":
            log_format = "text" if sys.stderr.isatty() else "json"
        log_config = logging_config(level=log_level, log_format=log_format,
                                    access_log=settings.access_log)
        logging.config.dictConfig(log_config)
        prepare_database(settings, seed=True).dispose()  # once, before any worker starts
        prepare_multiprocess_metrics(settings, workers)
        typer.echo(startup_banner(host=host, port=port, data_dir=str(settings.data_dir)),
                   err=True)
        uvicorn.run("hortus.app:create_app", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level,
                    log_config=log_config, access_log=settings.access_log,
                    **uvicorn_options(settings))
