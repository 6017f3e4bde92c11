"""``hortus serve``."""

from __future__ import annotations

import logging

import typer

from hortus.config import get_settings


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


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, help="Port to listen on."),
        workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
        log_level: str = typer.Option("info", help="debug, info, warning or error."),
    ) -> None:
        """Run the server (creates, migrates and seeds the data directory on first start)."""
        import uvicorn

        from hortus.bootstrap import prepare_database

        logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
        settings = get_settings()
        prepare_database(settings, seed=True).dispose()  # once, before any worker starts
        typer.echo(startup_banner(host=host, port=port, data_dir=str(settings.data_dir)),
                   err=True)
        uvicorn.run("hortus.app:create_app", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level, proxy_headers=False)
