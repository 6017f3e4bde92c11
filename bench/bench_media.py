"""Serving a 200 KB photo from each media backend, against the same file served from disk.

Each server is its own process on a loopback port (one uvicorn worker): the baseline is a bare
app serving the file with Starlette's ``FileResponse`` and ``StaticFiles``; the others are
``hortus serve`` answering ``GET /v2/media/references/{sha256}/o`` from its media store —
the local folder, the database on SQLite, the database on PostgreSQL (when one is reachable:
HORTUS_TEST_POSTGRES_URL, default the local test server) and S3 through boto3 against moto's
S3-compatible server (when moto is installed: an emulator, so that figure measures moto as
much as Hortus). Clients are threads of this process on keep-alive connections, each checking
every body's length. Targets are measured in turns, several rounds, and the median of each is
printed with its ratio to the FileResponse baseline measured in the same run.

Run: .venv/bin/python bench/bench_media.py [--seconds 3] [--rounds 3] [--clients 4] [--out F]
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTO = Path(os.environ.get("HORTUS_SHARED_DATA", REPO.parent / "shared" / "data")) / \
    "ibean" / "bean_rust" / "bean_rust_0222.jpg"  # 201,427 bytes
POSTGRES_URL = os.environ.get("HORTUS_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


class Process:
    """A server subprocess, waited for until ``path`` answers 200, stopped with SIGTERM."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, path: str,
                 log: Path) -> None:
        self.args, self.env, self.port, self.path, self.log = args, env, port, path, log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Process:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.args, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text(errors="replace"))
            try:
                if _get(self.port, self.path)[0] == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.args} did not start: {self.log}")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def serve_baseline(folder: str, port: int) -> None:
    """The baseline server (run in its own process by this script)."""
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    app = FastAPI()
    path = Path(folder) / "photo.jpg"

    @app.get("/file")
    def file() -> FileResponse:
        return FileResponse(path, media_type="image/jpeg")

    app.mount("/static", StaticFiles(directory=folder), name="static")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def measure(port: int, path: str, size: int, *, clients: int, seconds: float) -> float:
    """Requests per second by ``clients`` threads on keep-alive connections."""
    stop = time.monotonic() + seconds
    counts = [0] * clients
    failures: list[str] = []
    start = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        try:
            while time.monotonic() < stop:
                connection.request("GET", path)
                answer = connection.getresponse()
                body = answer.read()
                if answer.status != 200 or len(body) != size:
                    failures.append(f"{answer.status} {len(body)}")
                    return
                counts[i] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{path}: {failures[0]}")
    return sum(counts) / (time.monotonic() - began)


def _hortus_env(data_dir: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORTUS_")}
    env.update(HORTUS_DATA_DIR=str(data_dir), HORTUS_WARM_UP_ENGINE="false",
               HORTUS_LOAD_STARTER_DATA="false", HORTUS_ACCESS_LOG="false",
               HORTUS_ENVIRONMENT="test", **values)
    return env


def _postgres_schema() -> str | None:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        schema = "hortus_bench_" + uuid.uuid4().hex[:10]
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        return schema
    except Exception:  # noqa: BLE001 - no server: the backend is left out
        return None


def _drop_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _store_photo(env: dict[str, str], backend: str, photo: bytes, key: str) -> None:
    """Put the photo in that server's store, the way ``hortus models media`` would."""
    from hortus.bootstrap import prepare_database
    from hortus.config import Settings
    from hortus.media import open_backend

    values = {k.removeprefix("HORTUS_").lower(): v for k, v in env.items()
              if k.startswith("HORTUS_")}
    settings = Settings(**values)
    database = prepare_database(settings, seed=True)
    store = open_backend(settings, backend, database)
    assert store.put(key, photo, content_type="image/jpeg")
    store.close()
    database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--out", "--json", dest="json", type=Path,
                        help="Also write the figures as JSON here.")
    parser.add_argument("--serve-baseline", nargs=2, metavar=("FOLDER", "PORT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline[0], int(args.serve_baseline[1]))
        return
    if not PHOTO.is_file():
        sys.exit(f"{PHOTO} is absent (../shared/data)")
    from hortus.media.store import photo_key, rendition_key

    photo = PHOTO.read_bytes()
    sha = photo_key(photo)
    key = rendition_key(sha, "o")
    route = f"/v2/media/references/{sha}/o"
    targets: list[tuple[str, int, str]] = []
    schema = _postgres_schema()
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as running:
        root = Path(scratch)
        (root / "static").mkdir()
        (root / "static" / "photo.jpg").write_bytes(photo)
        port = _free_port()
        running.enter_context(Process(
            [sys.executable, __file__, "--serve-baseline", str(root / "static"), str(port)],
            dict(os.environ), port, "/file", root / "baseline.log"))
        targets += [("FileResponse (baseline)", port, "/file"),
                    ("StaticFiles", port, "/static/photo.jpg")]

        backends: list[tuple[str, str, dict[str, str]]] = [
            ("local folder", "local", {"HORTUS_MEDIA_BACKEND": "local"}),
            ("database: SQLite", "database", {"HORTUS_MEDIA_BACKEND": "database"}),
        ]
        if schema:
            backends.append(("database: PostgreSQL", "database", {
                "HORTUS_MEDIA_BACKEND": "database",
                "HORTUS_DATABASE_URL": f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"}))
        if all(importlib.util.find_spec(m) for m in ("boto3", "moto")):
            moto_port = _free_port()
            running.enter_context(Process(
                [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p",
                 str(moto_port)], dict(os.environ), moto_port, "/", root / "moto.log"))
            import boto3

            endpoint = f"http://127.0.0.1:{moto_port}"
            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                         aws_access_key_id="bench", aws_secret_access_key="bench",
                         ).create_bucket(Bucket="hortus-bench")
            backends.append(("s3: moto (emulator)", "s3", {
                "HORTUS_MEDIA_BACKEND": "s3", "HORTUS_MEDIA_S3_BUCKET": "hortus-bench",
                "HORTUS_MEDIA_S3_ENDPOINT_URL": endpoint, "HORTUS_MEDIA_S3_REGION": "us-east-1",
                "HORTUS_MEDIA_S3_ACCESS_KEY_ID": "bench",
                "HORTUS_MEDIA_S3_SECRET_ACCESS_KEY": "bench"}))
        for i, (name, backend, values) in enumerate(backends):
            env = _hortus_env(root / f"data{i}", **values)
            _store_photo(env, backend, photo, key)
            port = _free_port()
            running.enter_context(Process(
                [sys.executable, "-m", "hortus.cli", "serve", "--port", str(port),
                 "--log-level", "warning"], env, port, route, root / f"serve{i}.log"))
            targets.append((f"Hortus, {name}", port, route))

        rates: dict[str, list[float]] = {name: [] for name, _, _ in targets}
        for _, port, path in targets:  # warm-up
            measure(port, path, len(photo), clients=args.clients, seconds=0.5)
        for _ in range(args.rounds):
            for name, port, path in targets:
                rates[name].append(measure(port, path, len(photo), clients=args.clients,
                                           seconds=args.seconds))
    if schema:
        _drop_schema(schema)

    baseline = statistics.median(rates["FileResponse (baseline)"])
    print(f"GET of one {len(photo):,}-byte JPEG, {args.clients} keep-alive clients, "
          f"{args.rounds} x {args.seconds:g} s per target, {os.cpu_count()} cores shared by "
          "clients and servers")
    print(f"{'target':<32} {'req/s':>8} {'MB/s':>7} {'vs FileResponse':>16}")
    report: dict[str, dict] = {"run": {
        "photo_bytes": len(photo), "clients": args.clients, "seconds": args.seconds,
        "rounds": args.rounds, "cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}}
    for name, values in rates.items():
        rate = statistics.median(values)
        report[name] = {"requests_per_second": rate, "ratio": rate / baseline,
                        "rounds": values}
        print(f"{name:<32} {rate:8.0f} {rate * len(photo) / 1e6:7.1f} {rate / baseline:15.2f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
