"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz`` (it can serve).

Readiness checks the database (one ``SELECT 1``) and that the vision engine is loaded; when it
is not loaded yet, the check starts loading it (once at a time) and says ``loading`` until it is,
or the error that stopped it. A load balancer should send traffic only on 200 from ``/readyz``,
and restart a process only when ``/healthz`` stops answering.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(include_in_schema=False)
CHECK_SECONDS = 5.0
_LOADING = threading.Lock()


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """200 while the process's event loop answers."""
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


def _database_ok(database: Any) -> None:
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _models_state(state: Any) -> str:
    """``ok``, ``loading`` or the load error; starts a load in the background when needed."""
    inference = getattr(state, "inference", None)
    if inference is None:
        return "not started"
    if inference.loaded:
        return "ok"
    with _LOADING:
        loader = getattr(state, "readiness_loader", None)
        if loader is None:
            state.readiness_error = None
            loader = threading.Thread(target=_load, args=(state, inference),
                                      name="hortus-readiness-load", daemon=True)
            state.readiness_loader = loader
            loader.start()
    loader.join(CHECK_SECONDS)
    if inference.loaded:
        return "ok"
    if loader.is_alive():
        return "loading"
    with _LOADING:  # the load ended without an engine: say why; the next check tries again
        if getattr(state, "readiness_loader", None) is loader:
            state.readiness_loader = None
    return f"error: {getattr(state, 'readiness_error', None) or 'not loaded'}"


def _load(state: Any, inference: Any) -> None:
    try:
        _ = inference.engine
    except Exception as exc:  # noqa: BLE001 - reported by the readiness answer
        state.readiness_error = f"{type(exc).__name__}: {exc}"[:300]


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when the database answers and the models are loaded; else 503 saying what is not."""
    state = request.app.state
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(asyncio.to_thread(_database_ok, state.database), CHECK_SECONDS)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = f"error: {type(exc).__name__}: {exc}"[:300]
    checks["models"] = await asyncio.to_thread(_models_state, state)
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                        status_code=200 if ready else 503,
                        headers={"Cache-Control": "no-store"})
