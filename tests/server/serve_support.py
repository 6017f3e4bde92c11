"""A real ``hortus serve`` process on a loopback port, and a probe of how fast it answers others.

Shared by the server and operations tests: every attack runs against a separate server process
(its memory is its own to measure), while a probe thread times ``GET /v2/_status`` on fresh
connections.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

STATUS = "/v2/_status"
# Between two attacks: dozens a second, one connection at a time, each as big as it likes. (A
# flood of connections as fast as one core can open them is another attack, for a proxy.)
ATTACK_PAUSE = 0.01


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """``python -m hortus.cli serve`` on a data directory (a copy of the seeded template)."""

    def __init__(self, data_dir: Path, *, template: Path | None = None,
                 env: dict[str, str] | None = None, workers: int = 1,
                 log_level: str = "warning") -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        if template is not None and not (data_dir / "hortus.db").exists():
            shutil.copy(template, data_dir / "hortus.db")
        self.port = free_port()
        self.log_path = data_dir.parent / f"serve-{self.port}.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HORTUS_")}
        self.env.update(HORTUS_DATA_DIR=str(data_dir), HORTUS_WARM_UP_ENGINE="false",
                        HORTUS_ENVIRONMENT="test", HORTUS_LOAD_STARTER_DATA="false")
        self.env.update(env or {})
        self.args = [sys.executable, "-m", "hortus.cli", "serve", "--port", str(self.port),
                     "--log-level", log_level, "--workers", str(workers)]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 120) -> Served:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.args, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, self.log()
            try:
                if get(self.port, STATUS, timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def rss_kib(self, field: str = "VmRSS") -> int:
        """The server process's resident memory (``VmHWM``: its peak so far), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise

    def __enter__(self) -> Served:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def get(port: int, path: str, *, timeout: float = 5,
        headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


class LatencyProbe:
    """Times ``GET /v2/_status`` on a fresh connection, again and again, in a thread."""

    def __init__(self, port: int, pause: float = 0.02) -> None:
        self.port = port
        self.pause = pause
        self.samples: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                status, _ = get(self.port, STATUS, timeout=30)
                if status != 200:
                    self.failures.append(f"status {status}")
            except OSError as exc:
                self.failures.append(repr(exc))
            self.samples.append(time.perf_counter() - started)
            self._stop.wait(self.pause)

    def __enter__(self) -> LatencyProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples)
        assert ordered, "the probe took no sample"
        return ordered[int(q * (len(ordered) - 1))]  # nearest rank below: one outlier in 100

    def summary(self) -> str:
        return (f"{len(self.samples)} requests, p50 {self.quantile(0.5) * 1000:.1f} ms, "
                f"p99 {self.quantile(0.99) * 1000:.1f} ms, max {max(self.samples) * 1000:.1f} ms")


def _attack_loop(attack, seconds: float, results) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    done = []
    while time.monotonic() < deadline:
        done.append(attack())
        time.sleep(ATTACK_PAUSE)
    results.put(done)


def under_attack(port: int, attack, seconds: float = 1.0) -> tuple[list, LatencyProbe]:  # type: ignore[no-untyped-def]
    """Run ``attack()`` again and again for ``seconds`` in another process (so the attacker
    does not share this process's interpreter with the probe) while a probe times others.

    A second is dozens of attacks and some seventy probes: a server that does the attacker's
    work (reads, buffers or spools what it should refuse) shows it in every attack, and in the
    probes' p99 (below a hundred samples, the second-slowest)."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    attacker = context.Process(target=_attack_loop, args=(attack, seconds, results))
    attacker.start()
    with LatencyProbe(port, pause=0.01) as probe:
        done = results.get(timeout=seconds + 120)
        attacker.join(timeout=30)
    return done, probe


@pytest.fixture
def serve(tmp_path: Path, sqlite_template: Path) -> Iterator[Callable[..., Served]]:
    """Start ``hortus serve`` with extra HORTUS_* settings; every server is stopped at the end."""
    started: list[Served] = []

    def start(name: str = "data", env: dict[str, str] | None = None, log_level: str = "warning",
              **settings: object) -> Served:
        env = {**(env or {}),
               **{f"HORTUS_{key.upper()}": str(value) for key, value in settings.items()}}
        served = Served(tmp_path / name, template=sqlite_template, env=env, log_level=log_level)
        started.append(served)
        return served.start()

    yield start
    for served in started:
        served.stop()
