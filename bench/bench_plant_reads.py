"""Plant reads against a FastAPI hello-world: ``GET /api/plants/{id}`` with key auth and quota
metering, served by ``hortus serve --workers N``, beside ``GET /`` of a bare FastAPI app
(``{"message": "Hello World"}``) served by uvicorn with the same N workers, in the same run.

    .venv/bin/python bench/bench_plant_reads.py [--seconds 10] [--rounds 3] [--workers 2]
        [--connections 32] [--generator auto|wrk|python] [--postgres] [--access-log]
        [--out docs/figures/plant_reads.json]

Each server is its own process tree on a loopback port. Hortus runs on a scratch data
directory: SQLite (and, with ``--postgres``, a throwaway schema of HORTUS_TEST_POSTGRES_URL),
the packaged starter plants, one account with one key whose plant-database quota is set to
10**9 a day, so that the run meters every request without spending the quota (a spent quota
would answer cheap 429s: every answer is checked to be a 200).

The load generator is ``wrk`` when it is installed (``--generator auto``), else a raw-socket
keep-alive generator in its own processes (``--generator python``): ``--connections``
connections, each sending its next request when the previous answer is complete. Targets are
measured in turns, ``--rounds`` times each for ``--seconds``; the median rate of each is
reported with its ratio to the hello-world rate. Both servers log no access lines (the
default; ``--access-log`` turns them on for both: Hortus's JSON lines, uvicorn's text lines).

Whether the generator, not the server, is the limit is reported beside each rate: the CPU the
server's processes used during the measurement (``server_cpu``, in cores) and the CPU the
generator used (``generator_cpu``). The server is saturated when its processes use every core
the generator leaves (on 2 cores: server_cpu + generator_cpu ~ 2), or, on a machine with more
cores than workers, when server_cpu ~ the number of workers. ``cpu_us_per_request`` is the
server's CPU time per answered request: the cost this work is about, whatever the machine.
A generator sharing the cores with the servers favours the slower server: it costs the same
per request for both, so the faster server loses more of its rate to it (the ratio reads
high). Measured on 2 cores: wrk ~30 us of CPU a request (0.35 cores at ~11,000 hello-world
requests a second, most of it the kernel's socket work), the Python generator ~100 us: wrk is
preferred (``apt-get install wrk``), and ``generator_cpu`` says what either took.

Run it on a quiet machine: ``.venv/bin/python bench/bench_plant_reads.py --postgres --out
docs/figures/plant_reads.json`` (defaults: 3 rounds of 10 s per target after 2 s of warm-up,
2 workers, 32 connections, wrk when installed).

Only the hello-world rate and Hortus's are compared; no figure from another run is involved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("HORTUS_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PLANT_QUOTA = 10**9  # a day: never spent by a run
HELLO_PATH = "/"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- the hello-world baseline (built in uvicorn's workers by ``bench_plant_reads:hello_app``) --

def hello_app():  # type: ignore[no-untyped-def]
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"message": "Hello World"}

    return app


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(port: int, path: str, headers: dict[str, str] | None = None,
             timeout: float = 5) -> tuple[int, bytes]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


class Server:
    """A server process (and its workers), waited for until ``path`` answers 200, stopped
    with SIGTERM (a graceful shutdown: Hortus hands back unspent quota units then)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], port: int, path: str,
                 headers: dict[str, str], log_path: Path) -> None:
        self.name, self.args, self.env, self.port, self.path = name, args, env, port, path
        self.headers, self.log_path = headers, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(self.args, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + 180
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log()}")
            try:
                status, body = http_get(self.port, self.path, self.headers)
                if status == 200:
                    return self
                if status != 503:
                    raise RuntimeError(f"{self.name}: {status} {body[:300]!r}")
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.log()}")
            time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process and every descendant alive now."""
        assert self.process is not None
        return sum(_cpu_of(pid) for pid in _tree(self.process.pid))


def _tree(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += _tree(int(child))
    return found


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


# -- load generators ---------------------------------------------------------------------------

@dataclass
class Load:
    """What one measurement saw."""

    requests: int
    non_200: int
    seconds: float
    generator_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def run_wrk(port: int, path: str, headers: dict[str, str], *, connections: int,
            threads: int, seconds: float) -> Load:
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    before = os.times()
    done = subprocess.run([*args, f"http://127.0.0.1:{port}{path}"], capture_output=True,
                          text=True, check=True)
    after = os.times()
    out = done.stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}\n{done.stderr}")
    elapsed = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    non_200 = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if errors:
        log(f"  wrk: {errors.group(0)}")
    cpu = (after.children_user - before.children_user) + (after.children_system
                                                           - before.children_system)
    return Load(requests=int(total.group(1)), non_200=int(non_200.group(1)) if non_200 else 0,
                seconds=elapsed, generator_cpu_seconds=cpu)


def _request_bytes(port: int, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends the request, reads one answer (Content-Length framed),
    sends the next, until told to stop."""

    def __init__(self, request: bytes, stop_at: float, done: asyncio.Future[None]) -> None:
        self.request, self.stop_at, self.done = request, stop_at, done
        self.buffer = b""
        self.requests = self.non_200 = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end]
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if length is None:
                raise RuntimeError(f"an answer without Content-Length: {head[:200]!r}")
            end = head_end + 4 + int(length.group(1))
            if len(self.buffer) < end:
                return
            self.requests += 1
            if not head.startswith(b"HTTP/1.1 200"):
                self.non_200 += 1
            self.buffer = self.buffer[end:]
            assert self.transport is not None
            if time.monotonic() >= self.stop_at:
                self.transport.close()
                if not self.done.done():
                    self.done.set_result(None)
                return
            self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _drive(port: int, request: bytes, connections: int, seconds: float) -> tuple[int, int]:
    loop = asyncio.get_running_loop()
    stop_at = time.monotonic() + seconds
    protocols = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        _, protocol = await loop.create_connection(
            lambda d=done: _Connection(request, stop_at, d), "127.0.0.1", port)
        protocols.append(protocol)
    await asyncio.gather(*(p.done for p in protocols))
    return sum(p.requests for p in protocols), sum(p.non_200 for p in protocols)


def _generator_process(port: int, request: bytes, connections: int, seconds: float,
                       results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results.put(asyncio.run(_drive(port, request, connections, seconds)))


def run_python(port: int, path: str, headers: dict[str, str], *, connections: int,
               processes: int, seconds: float) -> Load:
    """The raw-socket generator: ``processes`` processes sharing ``connections`` between them
    (one Python process is one core at most)."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    request = _request_bytes(port, path, headers)
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    workers = [context.Process(target=_generator_process,
                               args=(port, request, share, seconds, results))
               for share in shares if share]
    started = time.monotonic()
    before = os.times()
    for worker in workers:
        worker.start()
    answers = [results.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system
                                                           - before.children_system)
    return Load(requests=sum(a[0] for a in answers), non_200=sum(a[1] for a in answers),
                seconds=time.monotonic() - started, generator_cpu_seconds=cpu)


# -- the run -----------------------------------------------------------------------------------

@dataclass
class Sample:
    requests_per_second: float
    server_cpu: float  # cores used by the server's processes during the run
    generator_cpu: float  # cores used by the load generator
    cpu_us_per_request: float


def measure(server: Server, args: argparse.Namespace, seconds: float) -> Sample:
    cpu_before = server.cpu_seconds()
    if args.generator == "wrk":
        load = run_wrk(server.port, server.path, server.headers, connections=args.connections,
                       threads=args.wrk_threads, seconds=seconds)
    else:
        load = run_python(server.port, server.path, server.headers,
                          connections=args.connections, processes=args.generator_processes,
                          seconds=seconds)
    cpu = server.cpu_seconds() - cpu_before
    if load.non_200:
        raise RuntimeError(f"{server.name}: {load.non_200} of {load.requests} answers were not "
                           f"200:\n{server.log()[-3000:]}")
    if not load.requests:
        raise RuntimeError(f"{server.name}: no answer")
    return Sample(requests_per_second=load.rate, server_cpu=cpu / load.seconds,
                  generator_cpu=load.generator_cpu_seconds / load.seconds,
                  cpu_us_per_request=cpu / load.requests * 1e6)


def _hortus_env(data_dir: Path, args: argparse.Namespace, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORTUS_")}
    env.update(HORTUS_DATA_DIR=str(data_dir), HORTUS_WARM_UP_ENGINE="false",
               HORTUS_ACCESS_LOG=str(args.access_log).lower(), HORTUS_LOG_FORMAT="json",
               HORTUS_ENVIRONMENT="test", **values)
    return env


def _prepare(env: dict[str, str]) -> tuple[dict[str, str], int]:
    """Migrate and seed the database, make the key and its quota; (headers, a plant id)."""
    from sqlalchemy import select

    from hortus.accounts import quotas, service
    from hortus.bootstrap import prepare_database
    from hortus.config import Settings
    from hortus.plants.models import Plant

    settings = Settings(**{k.removeprefix("HORTUS_").lower(): v for k, v in env.items()
                           if k.startswith("HORTUS_")})
    database = prepare_database(settings, seed=True)
    try:
        with database.write() as session:
            account = service.get_or_create_account(session=session,
                                                    email="bench@example.org")
            key = service.create_key(session=session, account=account, label="bench")
            quotas.set_limits(session=session, account_id=account.id,
                              limits={quotas.API_PLANTS: PLANT_QUOTA})
            plant_id = session.scalar(select(Plant.id).where(Plant.scientific_name
                                                             == "Malus domestica"))
            if plant_id is None:
                plant_id = session.scalar(select(Plant.id).order_by(Plant.id))
    finally:
        database.dispose()
    if plant_id is None:
        raise RuntimeError("the starter knowledge base holds no plant")
    return ({"x-permapeople-key-id": key.key_id, "x-permapeople-key-secret": key.key_secret},
            int(plant_id))


def _postgres_schema() -> str | None:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        schema = "hortus_bench_" + uuid.uuid4().hex[:10]
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        return schema
    except Exception:  # noqa: BLE001 - no server: the target is left out
        return None


def _drop_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warm-up", type=float, default=2.0, help="seconds per target")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--generator-processes", type=int, default=2,
                        help="processes of the python generator")
    parser.add_argument("--postgres", action="store_true",
                        help="also Hortus on PostgreSQL (HORTUS_TEST_POSTGRES_URL)")
    parser.add_argument("--access-log", action="store_true",
                        help="both servers log a line per request")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    if args.generator == "auto":
        args.generator = "wrk" if shutil.which("wrk") else "python"
    log(f"generator: {args.generator}")

    schema = _postgres_schema() if args.postgres else None
    if args.postgres and schema is None:
        log(f"no PostgreSQL at {POSTGRES_URL}: that target is left out")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-plant-reads-") as scratch, \
                ExitStack() as running:
            root = Path(scratch)
            servers = [_start_hello(root, args, running)]
            databases = [("SQLite", {})]
            if schema:
                databases.append(("PostgreSQL", {
                    "HORTUS_DATABASE_URL": f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"}))
            for i, (name, values) in enumerate(databases):
                env = _hortus_env(root / f"data{i}", args, **values)
                headers, plant_id = _prepare(env)
                port = free_port()
                servers.append(running.enter_context(Server(
                    f"Hortus GET /api/plants/{{id}} ({name})",
                    [sys.executable, "-m", "hortus.cli", "serve", "--port", str(port),
                     "--workers", str(args.workers), "--log-level", "warning"],
                    env, port, f"/api/plants/{plant_id}", headers, root / f"hortus{i}.log")))
            for server in servers:
                measure(server, args, args.warm_up)
            samples: dict[str, list[Sample]] = {s.name: [] for s in servers}
            for round_ in range(args.rounds):
                for server in servers:
                    samples[server.name].append(measure(server, args, args.seconds))
                    last = samples[server.name][-1]
                    log(f"round {round_ + 1}: {server.name}: "
                        f"{last.requests_per_second:,.0f} req/s")
    finally:
        if schema:
            _drop_schema(schema)
    report = _report(samples, servers[0].name, args)
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


def _start_hello(root: Path, args: argparse.Namespace, running: ExitStack) -> Server:
    port = free_port()
    uvicorn = [sys.executable, "-m", "uvicorn", "bench_plant_reads:hello_app", "--factory",
               "--app-dir",
               str(Path(__file__).parent), "--port", str(port), "--workers", str(args.workers),
               "--log-level", "warning"]
    if not args.access_log:
        uvicorn.append("--no-access-log")
    return running.enter_context(Server(
        "FastAPI hello-world", uvicorn, dict(os.environ), port, HELLO_PATH, {},
        root / "hello.log"))


def _report(samples: dict[str, list[Sample]], baseline: str,
            args: argparse.Namespace) -> dict[str, object]:
    def median(name: str, field: str) -> float:
        return statistics.median(getattr(s, field) for s in samples[name])

    base = median(baseline, "requests_per_second")
    targets = {}
    for name, values in samples.items():
        rate = median(name, "requests_per_second")
        targets[name] = {
            "requests_per_second": round(rate, 1),
            "ratio_to_hello_world": round(rate / base, 3),
            "server_cpu": round(median(name, "server_cpu"), 2),
            "generator_cpu": round(median(name, "generator_cpu"), 2),
            "cpu_us_per_request": round(median(name, "cpu_us_per_request"), 1),
            "rounds": [asdict(s) for s in values],
        }
    return {
        "what": "GET /api/plants/{id} with key auth and quota metering against a FastAPI "
                "hello-world, same workers, same generator, same run",
        "workers": args.workers,
        "connections": args.connections,
        "generator": args.generator,
        "seconds_per_round": args.seconds,
        "rounds": args.rounds,
        "access_log": args.access_log,
        "cpus": os.cpu_count(),
        "target": "ratio_to_hello_world >= 0.5 (issue 13, target 4)",
        "targets": targets,
    }


if __name__ == "__main__":
    main()
