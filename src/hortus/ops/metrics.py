"""Prometheus metrics (the official ``prometheus-client``), served at ``/metrics``.

Per route family (``permapeople``, ``plantnet``, ``peat``, ``web``, ``docs``, ``ops``): requests
by method and status, latency, and quota refusals (429 answers of the API families). Per
process: the vision inference pool (calls waiting and running; seconds waited and run), the
database connection pool, sign-ins refused by throttling, and the process's CPU and memory.

With ``hortus serve --workers N`` the request counters live in files shared by the workers
(prometheus-client's multiprocess mode, under ``PROMETHEUS_MULTIPROC_DIR``, which ``serve``
sets up), so any worker's ``/metrics`` counts every worker's requests; the per-process gauges
are those of the worker that answered the scrape.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

#: Hortus's own registry (not the library's global one), shared by every app of the process.
REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("hortus_http_requests", "HTTP requests answered, by route family, method "
                   "and status.", ["family", "method", "status"], registry=REGISTRY)
LATENCY = Histogram("hortus_http_request_duration_seconds", "Time from a request's start to "
                    "the end of its answer, by route family.", ["family"], registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
QUOTA_REFUSALS = Counter("hortus_quota_refusals", "Requests refused for a spent quota (429), by "
                         "API family.", ["family"], registry=REGISTRY)
SIGN_IN_THROTTLED = Counter("hortus_sign_in_throttled", "Sign-in and sign-up forms refused by "
                            "throttling (429).", ["form"], registry=REGISTRY)

QUOTA_FAMILIES = frozenset({"permapeople", "plantnet", "peat"})


def observe_request(*, family: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    REQUESTS.labels(family, method if method in _METHODS else "OTHER", str(status)).inc()
    LATENCY.labels(family).observe(seconds)
    if status == 429 and family in QUOTA_FAMILIES:
        QUOTA_REFUSALS.labels(family).inc()


class _AppCollector(Collector):
    """The inference pool and the database pool of one app, read at scrape time."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        inference = getattr(self.state, "inference", None)
        stats = getattr(inference, "stats", None)
        if inference is not None and stats is not None:
            yield GaugeMetricFamily("hortus_inference_waiting", "Inference calls queued for a "
                                    "worker thread.", value=stats.waiting)
            yield GaugeMetricFamily("hortus_inference_running", "Inference calls running.",
                                    value=stats.running)
            yield CounterMetricFamily("hortus_inference_calls", "Inference calls done.",
                                      value=stats.done)
            yield CounterMetricFamily("hortus_inference_wait_seconds", "Seconds inference calls "
                                      "waited in the queue.", value=stats.wait_seconds)
            yield CounterMetricFamily("hortus_inference_run_seconds", "Seconds inference calls "
                                      "ran.", value=stats.run_seconds)
            yield GaugeMetricFamily("hortus_inference_engine_loaded", "1 once the vision engine "
                                    "is loaded.", value=float(bool(inference.loaded)))
        database = getattr(self.state, "database", None)
        pool = getattr(getattr(database, "engine", None), "pool", None)
        if pool is not None and hasattr(pool, "checkedout"):
            yield GaugeMetricFamily("hortus_db_pool_size", "Connections the pool keeps.",
                                    value=pool.size())
            yield GaugeMetricFamily("hortus_db_pool_checked_out", "Connections in use.",
                                    value=pool.checkedout())
            yield GaugeMetricFamily("hortus_db_pool_overflow", "Connections over the pool size "
                                    "(negative: not yet opened).", value=pool.overflow())


def app_registry(state: Any) -> CollectorRegistry:
    """A registry of one app's per-process metrics (its pools, the process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_AppCollector(state))
    ProcessCollector(registry=registry)
    return registry


def _shared_output() -> bytes:
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format: this process's (or every worker's) counters, then this app's
    pools."""
    state = request.app.state
    registry = getattr(state, "metrics_registry", None)
    if registry is None:
        registry = state.metrics_registry = app_registry(state)
    body = _shared_output() + generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
