"""The vision engine as the API services use it: loaded once per process, run off the event loop.

Inference runs in a bounded thread pool (``settings.inference_workers`` threads, each ONNX
Runtime call with ``settings.inference_threads`` intra-op threads), so the event loop keeps
serving while photos are decoded and embedded, and a burst of uploads queues instead of
oversubscribing the CPU.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from hortus.config import Settings
from hortus.vision.engine import VisionEngine, limit_blas_threads

logger = logging.getLogger("hortus")
T = TypeVar("T")


class Inference:
    """Owns the process's VisionEngine and the executor that runs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: VisionEngine | None = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=settings.inference_workers, thread_name_prefix="hortus-inference"
        )

    @property
    def engine(self) -> VisionEngine:
        """The engine, loaded (and the backbone prepared) on first use."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self.settings.ensure_dirs()
                    logger.info("Loading the vision engine from %s", self.settings.models_dir)
                    self._engine = VisionEngine.load(
                        self.settings.models_dir, threads=self.settings.inference_threads
                    )
                    limit_blas_threads(1)  # parallelism comes from the pool, not from BLAS
        return self._engine

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def reload(self) -> None:
        """Re-read the projects' active versions (after training)."""
        if self._engine is not None:
            self._engine.reload()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in the inference pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def warm_up(self) -> None:
        """Load the engine in the background so the first request does not wait for it."""
        threading.Thread(target=self._safe_load, name="hortus-warm-up", daemon=True).start()

    def _safe_load(self) -> None:
        try:
            _ = self.engine
        except Exception:  # noqa: BLE001 - reported, and retried by the first request
            logger.exception("The vision engine failed to load")

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


async def get_inference(request: Request) -> Inference:
    return request.app.state.inference


InferenceDep = Annotated[Inference, Depends(get_inference)]
