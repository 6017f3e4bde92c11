"""Operating a server: request ids and JSON logs without secrets, Prometheus metrics, health
and readiness routes, body caps of the web forms, backup and restore (docs/operations.md)."""

from __future__ import annotations

from fastapi import FastAPI

UPLOAD_PAGES = frozenset({"/identify", "/diagnose"})  # web pages whose forms carry photos


def install(app: FastAPI) -> None:
    """Add the operational middleware (outermost) and routes to an app built by create_app."""
    from hortus.ops import health, metrics
    from hortus.ops.observe import RequestObserver
    from hortus.server.body_limit import WebFormBodyLimit

    settings = app.state.settings

    def cap_for(path: str) -> int:
        return settings.max_upload_bytes if path in UPLOAD_PAGES else settings.web_form_max_bytes

    app.include_router(health.router)
    if settings.metrics:
        app.include_router(metrics.router)
    app.add_middleware(WebFormBodyLimit, cap_for=cap_for)
    app.add_middleware(RequestObserver, count=settings.metrics)
