"""The vision engine as the API services use it: loaded once per process, run off the event loop.

Inference runs in a bounded thread pool (``settings.inference_workers`` threads, each ONNX
Runtime call with ``settings.inference_threads`` intra-op threads), so the event loop keeps
serving while photos are decoded and embedded, and a burst of uploads queues instead of
oversubscribing the CPU.

Once the pool has been idle for ``settings.memory_release_idle`` seconds, the process gives back
the memory its photos used (ONNX Runtime's activation arena, the freed malloc heaps of the
threads that decoded and embedded them; docs/operations.md, "Memory"); under load, nothing is
given back, so requests never wait for memory the previous ones had.

The same object holds the limits on image work (docs/operations.md, "Limits on image work"):
the pixel budget a photo must fit before any of it is decoded (:attr:`Inference.pixel_budget`),
and how many requests and pool jobs one account may have at once (:attr:`Inference.image_work`;
:meth:`Inference.run` charges each job to the account whose request queued it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from hortus import heap
from hortus.config import Settings
from hortus.image_work import ImageWorkLimiter, take_job_place
from hortus.vision.engine import VisionEngine, limit_blas_threads
from hortus.vision.pixel_budget import PixelBudget

logger = logging.getLogger("hortus")
T = TypeVar("T")


class InferenceStats:
    """What the pool is doing, for the metrics: calls waiting and running now, and totals of
    calls done and the seconds they waited in the queue and ran."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waiting = 0
        self.running = 0
        self.done = 0
        self.wait_seconds = 0.0
        self.run_seconds = 0.0

    def queued(self) -> list[bool]:
        """Count a call as waiting; returns its token for :meth:`started` or :meth:`dropped`."""
        with self._lock:
            self.waiting += 1
        return [False]

    def dropped(self, token: list[bool]) -> None:
        """The caller went away: a call that has not started stops counting as waiting."""
        with self._lock:
            if not token[0]:
                token[0] = True
                self.waiting -= 1

    def started(self, token: list[bool], waited: float) -> None:
        with self._lock:
            if not token[0]:
                token[0] = True
                self.waiting -= 1
            self.running += 1
            self.wait_seconds += waited

    def finished(self, ran: float) -> None:
        with self._lock:
            self.running -= 1
            self.done += 1
            self.run_seconds += ran


class Inference:
    """Owns the process's VisionEngine and the executor that runs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: VisionEngine | None = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=settings.inference_workers, thread_name_prefix="hortus-inference"
        )
        self.stats = InferenceStats()
        self.pixel_budget = PixelBudget(scaled=settings.max_image_pixels,
                                        full=settings.max_full_decode_pixels)
        self.image_work = ImageWorkLimiter(per_account=settings.image_work_per_account,
                                           wait=settings.image_work_wait)
        self.releases = 0  # times the idle process gave memory back
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_job_end = 0.0
        self._refreshed_at = 0.0  # when the projects' active versions were last checked
        self._refresh_lock = threading.Lock()

    @property
    def engine(self) -> VisionEngine:
        """The engine, loaded (and the backbone prepared) on first use."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self.settings.ensure_dirs()
                    logger.info("Loading the vision engine from %s", self.settings.models_dir)
                    self._engine = VisionEngine.load(
                        self.settings.models_dir, threads=self.settings.inference_threads,
                        backbone_dir=self.settings.backbone_dir,
                    )
                    limit_blas_threads(1)  # parallelism comes from the pool, not from BLAS
                    heap.trim()  # ONNX Runtime's parsing and graph rewriting freed 10-30 MB
                    self._refreshed_at = time.monotonic()
            return self._engine
        interval = self.settings.projects_refresh_interval
        if interval > 0 and time.monotonic() - self._refreshed_at >= interval:
            self._refresh()
        return self._engine

    def _refresh(self) -> None:
        """Reload the projects when another process changed an active version (a few stat
        calls; one thread at a time checks, the others go on with the loaded projects)."""
        if not self._refresh_lock.acquire(blocking=False):
            return
        try:
            self._refreshed_at = time.monotonic()
            assert self._engine is not None
            self._engine.refresh()
        except OSError:  # the models folder is unreadable for a moment: check again later
            logger.exception("Checking the projects' active versions failed")
        finally:
            self._refresh_lock.release()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def reload(self) -> None:
        """Re-read the projects' active versions (after training)."""
        if self._engine is not None:
            self._engine.reload()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in the inference pool and await its result.

        Inside :meth:`ImageWorkLimiter.request` (``self.image_work``), the call first waits for
        one of the account's job places, and holds it until ``fn`` has returned in its thread,
        even when the caller stops waiting for it.
        """
        loop = asyncio.get_running_loop()
        charge = await take_job_place()
        stats, queued_at = self.stats, time.perf_counter()
        token = stats.queued()

        def timed() -> T:
            began = time.perf_counter()
            stats.started(token, began - queued_at)
            try:
                return fn(*args)
            finally:
                stats.finished(time.perf_counter() - began)

        try:
            job = self._executor.submit(timed)
        except BaseException:
            stats.dropped(token)
            if charge is not None:
                charge.give_back_job()
            raise
        if charge is not None:  # when the job ends, not when its caller stops awaiting it
            job.add_done_callback(lambda _: _call_soon(loop, charge.give_back_job))
        job.add_done_callback(lambda _: _call_soon(loop, self._job_ended))
        try:
            return await asyncio.wrap_future(job)
        finally:
            stats.dropped(token)

    def _job_ended(self) -> None:
        """After each pool job (on the event loop): plan a release for when the pool has
        been idle ``memory_release_idle`` seconds."""
        delay = self.settings.memory_release_idle
        if delay <= 0:
            return
        loop = asyncio.get_running_loop()
        self._last_job_end = loop.time()
        if self._idle_timer is None:
            self._idle_timer = loop.call_later(delay, self._release_when_idle)

    def _release_when_idle(self) -> None:
        self._idle_timer = None
        if self.stats.running or self.stats.waiting:
            return  # the running job plans the next check when it ends
        loop = asyncio.get_running_loop()
        remaining = self._last_job_end + self.settings.memory_release_idle - loop.time()
        if remaining > 0:  # a job ended since this check was planned
            self._idle_timer = loop.call_later(remaining, self._release_when_idle)
        elif self._engine is not None:
            with contextlib.suppress(RuntimeError):  # the pool has shut down
                self._executor.submit(self._release_memory)

    def _release_memory(self) -> None:
        """Give back ONNX Runtime's free arena regions and the heaps' free pages (a pool job
        of 20-50 ms, run only when the pool is idle)."""
        began = time.perf_counter()
        try:
            if self._engine is not None:
                self._engine.backbone.release_memory()
            heap.trim()
        except Exception:  # noqa: BLE001 - memory stays in use; serving goes on
            logger.exception("Giving back idle memory failed")
            return
        self.releases += 1
        logger.debug("Gave back the memory of idle inference in %.1f ms",
                     (time.perf_counter() - began) * 1000)

    def warm_up(self) -> None:
        """Load the engine in the background so the first request does not wait for it."""
        threading.Thread(target=self._safe_load, name="hortus-warm-up", daemon=True).start()

    def _safe_load(self) -> None:
        try:
            _ = self.engine
        except Exception:  # noqa: BLE001 - reported, and retried by the first request
            logger.exception("The vision engine failed to load")

    def shutdown(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._executor.shutdown(wait=False, cancel_futures=True)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Run ``callback`` on ``loop`` from any thread (not at all once the loop is closed)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)


async def get_inference(request: Request) -> Inference:
    return request.app.state.inference


InferenceDep = Annotated[Inference, Depends(get_inference)]
