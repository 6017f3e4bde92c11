"""Operating a real server: Prometheus metrics (one process and several workers), liveness and
readiness, and a graceful shutdown that finishes the request in flight."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import signal
import socket
import time
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import make_key, permapeople_headers
from tests.server.serve_support import Served, get

from hortus.app import create_app
from hortus.config import Settings
from hortus.inference import Inference


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_refusals_and_pools(serve) -> None:
    served = serve(plants_per_day=0)
    key = make_key(Settings(data_dir=served.data_dir, environment="test"))
    before = _samples(get(served.port, "/metrics")[1].decode())
    for _ in range(5):
        assert get(served.port, "/v2/_status")[0] == 200
    for _ in range(2):
        assert get(served.port, "/api/plants", headers=permapeople_headers(key))[0] == 429
    assert get(served.port, "/nowhere")[0] == 404
    status, body = get(served.port, "/metrics")
    assert status == 200
    after = _samples(body.decode())

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("hortus_http_requests_total", family="plantnet", method="GET",
                status="200") == 5
    assert grew("hortus_http_requests_total", family="permapeople", method="GET",
                status="429") == 2
    assert grew("hortus_quota_refusals_total", family="permapeople") == 2
    assert grew("hortus_http_requests_total", family="web", method="GET", status="404") == 1
    assert grew("hortus_http_request_duration_seconds_count", family="plantnet") == 5
    for name in ("hortus_db_pool_size", "hortus_db_pool_checked_out", "hortus_inference_waiting",
                 "hortus_inference_running", "hortus_inference_calls_total",
                 "process_resident_memory_bytes"):
        assert any(n == name for n, _ in after), name


def test_metrics_add_up_every_worker(serve, tmp_path: Path, sqlite_template: Path) -> None:
    served = Served(tmp_path / "multi", template=sqlite_template, workers=2).start()
    try:
        for _ in range(40):
            assert get(served.port, "/v2/_status")[0] == 200
        counts = set()
        for _ in range(6):  # scrapes land on either worker; each sees both workers' requests
            samples = _samples(get(served.port, "/metrics")[1].decode())
            counts.add(_value(samples, "hortus_http_requests_total", family="plantnet",
                              method="GET", status="200"))
        # the start-up probe's requests count too
        assert len(counts) == 1 and counts.pop() >= 40
    finally:
        served.stop()


def test_inference_pool_statistics() -> None:
    inference = Inference(Settings(data_dir=Path("/nonexistent"), inference_workers=1))

    async def calls() -> list[int]:
        def slow(n: int) -> int:
            time.sleep(0.05)
            return n

        return list(await asyncio.gather(*(inference.run(slow, n) for n in range(3))))

    try:
        assert asyncio.run(calls()) == [0, 1, 2]
    finally:
        inference.shutdown()
    stats = inference.stats
    assert (stats.waiting, stats.running, stats.done) == (0, 0, 3)
    assert stats.run_seconds >= 0 and stats.wait_seconds >= 0


def test_liveness_and_readiness(settings: Settings, shared_models_dir: Path,
                                tmp_path: Path) -> None:
    ready = settings.model_copy(update={"models_dir": shared_models_dir})
    with TestClient(create_app(ready)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        deadline = time.monotonic() + 600
        while (answer := client.get("/readyz")).status_code != 200:
            assert answer.json()["checks"]["models"] == "loading", answer.json()
            assert time.monotonic() < deadline
        assert answer.json() == {"status": "ok", "checks": {"database": "ok", "models": "ok"}}
    # A backbone file that is not a model (its checksum matches its manifest): not ready.
    broken_dir = tmp_path / "models"
    shutil.copytree(shared_models_dir / "backbones", broken_dir / "backbones")
    backbone = next((broken_dir / "backbones").iterdir())
    (backbone / "model.onnx").write_bytes(b"not a model")
    manifest = json.loads((backbone / "manifest.json").read_text())
    manifest["sha256"] = hashlib.sha256(b"not a model").hexdigest()
    (backbone / "manifest.json").write_text(json.dumps(manifest))
    broken = settings.model_copy(update={"models_dir": broken_dir})
    with TestClient(create_app(broken)) as client:
        assert client.get("/healthz").status_code == 200
        answer = client.get("/readyz")
        assert answer.status_code == 503
        checks = answer.json()["checks"]
        assert checks["database"] == "ok" and checks["models"].startswith("error:"), checks


def _begin_slow_form(port: int) -> socket.socket:
    """A sign-in form whose body has only half arrived."""
    client = socket.create_connection(("127.0.0.1", port), timeout=20)
    client.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
                   b"x-www-form-urlencoded\r\nContent-Length: 44\r\n\r\nemail=a%40example.org")
    time.sleep(0.5)
    return client


def test_sigterm_finishes_the_request_in_flight_then_exits(serve) -> None:
    served = serve(shutdown_timeout=20)
    slow = _begin_slow_form(served.port)
    served.process.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert served.process.poll() is None  # still finishing
    slow.sendall(b"&password=x&csrf=abcdef")
    answer = slow.recv(65536)
    slow.close()
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]  # answered in full (a forged form)
    # uvicorn re-raises the signal once it has shut down cleanly: "killed by SIGTERM".
    assert served.process.wait(timeout=20) in (0, -signal.SIGTERM)


def test_sigterm_waits_for_a_stuck_request_only_shutdown_timeout(serve) -> None:
    served = serve(shutdown_timeout=2, body_timeout=600)
    stuck = _begin_slow_form(served.port)
    started = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    served.process.wait(timeout=30)
    assert time.monotonic() - started < 10
    stuck.close()


