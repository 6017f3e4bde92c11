"""Benchmark: resident memory of a real ``hortus serve`` through 1,000 identifications of 12 MP
photos, and what it costs in speed.

    python bench/bench_memory.py [--requests 1000] [--five 100] [--concurrent 200]
                                 [--baseline OLD/src] [--out docs/figures/memory.json]

Starts ``python -m hortus.cli serve`` with the settings a user gets (a fresh data directory
with the starter data, the packaged backbone and projects, the engine warmed up in the
background; only the keys' identification quotas are raised), then, on one kept-alive
connection, ``POST /v2/identify/all``:

1. ``--requests`` identifications of one 12 MP JPEG (4000x3000, made from real Oxford-17 photos
   of ``../shared/data``, five different photos in turn);
2. ``--five`` identifications of five such photos each (both inference workers busy);
3. ``--concurrent`` identifications of one photo from 8 clients (8 accounts) at once.

Resident memory (``VmRSS`` of ``/proc``, and its anonymous part ``RssAnon``: the rest is shared
libraries' pages, which the kernel drops under memory pressure) is read when the server first
answers ("start"), once the engine is loaded ("loaded"), after 3 warm-up identifications, right
after each phase's last answer ("after") and again ``--settle`` seconds later ("at_rest": once
the server has been idle ``memory_release_idle`` seconds it gives back what the photos used,
docs/operations.md "Memory"); "peak" is ``VmHWM``. Latency: each phase's median.

With ``--baseline SRC`` a second server runs the source tree SRC (e.g. a ``git archive`` of an
older commit, its ``src/``) and every request alternates between the two, so both see the same
machine load: each latency ratio (this tree / baseline) comes from the same moments. JSON goes
to stdout and, with ``--out``, to that file.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench_identify import SHARED, make_key, multipart, twelve_megapixels

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("daffodil", "sunflower", "tulip", "iris", "pansy")
PROJECT = "all"
CLIENTS = 8


def log(message: str) -> None:
    sys.stderr.write(message + "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def proc_status(pid: int, field: str) -> float:
    """A ``/proc/<pid>/status`` memory field, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no {field} for {pid}")


def rollup(pid: int) -> dict[str, float]:
    """Resident memory by kind (``/proc/<pid>/smaps_rollup``), in MB: anonymous (heaps, arenas,
    Python objects, model weights) and file-backed (shared libraries' pages)."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            fields[name] = int(rest.split()[0]) / 1024
    return {"anonymous_mb": round(fields["Anonymous"], 1),
            "file_mb": round(fields["Rss"] - fields["Anonymous"], 1)}


def prepare_template(folder: Path) -> list[str]:
    """A data directory as a first start leaves it (database, starter data, the backbone
    converted) and CLIENTS keys of as many accounts, each allowed enough identifications (one
    account may only have 2 photo requests in work at once per process)."""
    from hortus.accounts import quotas
    from hortus.accounts import service as accounts
    from hortus.bootstrap import prepare_database
    from hortus.config import Settings
    from hortus.vision.backbone import prepare_backbone

    keys = [make_key(folder)]
    settings = Settings(data_dir=folder)
    database = prepare_database(settings)
    with database.write() as session:
        for i in range(1, CLIENTS):
            account = accounts.get_or_create_account(session=session,
                                                     email=f"bench{i}@example.org")
            keys.append(accounts.create_key(session=session, account=account).api_key)
            quotas.set_limits(session=session, account_id=account.id,
                              limits={quotas.API_IDENTIFY: 10**6})
    database.dispose()
    prepare_backbone(settings.models_dir)
    return keys


class Server:
    """``hortus serve`` from this tree or from ``src`` on a copy of the template."""

    def __init__(self, label: str, template: Path, work: Path, keys: list[str],
                 src: Path | None) -> None:
        self.label, self.keys = label, keys
        data_dir = work / label.replace(" ", "-")
        shutil.copytree(template, data_dir)
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HORTUS_")}
        env["HORTUS_DATA_DIR"] = str(data_dir)
        env["PYTHONPATH"] = str(src or REPO / "src")
        self.log_path = work / f"{label.replace(' ', '-')}.log"
        with self.log_path.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hortus.cli", "serve", "--port", str(self.port),
                 "--log-level", "warning"], env=env, stdout=output, stderr=subprocess.STDOUT)
        self.figures: dict = {"rss_mb": {}, "rss_anon_mb": {}, "latency_ms": {}}
        self._connection: http.client.HTTPConnection | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self, moment: str) -> float:
        """Record the resident memory now, and its anonymous part (file-backed pages are the
        shared libraries' code, which the kernel may drop and read again under pressure)."""
        self.figures["rss_anon_mb"][moment] = proc_status(self.pid, "RssAnon")
        value = self.figures["rss_mb"][moment] = proc_status(self.pid, "VmRSS")
        return value

    def get(self, path: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", path)
            answer = connection.getresponse()
            answer.read()
            return answer.status
        finally:
            connection.close()

    def wait_for(self, path: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if self.get(path) == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label}: {path} not ready in {timeout} s")
            time.sleep(0.2)

    def identify(self, body: tuple[bytes, str],
                 connection: http.client.HTTPConnection | None = None, client: int = 0) -> float:
        """One identification (by the key of ``client``) on a kept-alive connection; its
        seconds."""
        content, content_type = body
        own = connection is None
        for attempt in (1, 2):  # the server closes a connection idle past its keep-alive
            if own and self._connection is None:
                self._connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                              timeout=600)
            use = self._connection if own else connection
            assert use is not None
            started = time.perf_counter()
            try:
                use.request("POST", f"/v2/identify/{PROJECT}?api-key={self.keys[client]}",
                            body=content,
                            headers={"Content-Type": content_type})
                answer = use.getresponse()
                payload = answer.read()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                use.close()
                if own:
                    self._connection = None
                if attempt == 2:
                    raise
                continue
            elapsed = time.perf_counter() - started
            if answer.status not in (200, 404):
                raise RuntimeError(f"{self.label}: {answer.status} {payload[:300]!r}")
            return elapsed
        raise AssertionError("unreachable")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def alternate(servers: list[Server], count: int, body_of: Callable[[int], tuple[bytes, str]],
              phase: str) -> None:
    """``count`` identifications on each server, alternating; their median latency."""
    times: dict[str, list[float]] = {s.label: [] for s in servers}
    for i in range(count):
        for server in servers:
            times[server.label].append(server.identify(body_of(i)))
        if (i + 1) % 100 == 0:
            log(f"  {phase}: {i + 1}/{count} " + ", ".join(
                f"{s.label} {proc_status(s.pid, 'VmRSS'):.0f} MB" for s in servers))
    for server in servers:
        server.figures["latency_ms"][phase] = round(statistics.median(times[server.label]) * 1000,
                                                    1)


def concurrent(servers: list[Server], count: int, bodies: list[tuple[bytes, str]]) -> None:
    """``count`` identifications on each server from CLIENTS clients at once (the servers in
    turn, each batch of CLIENTS requests alternating between them)."""
    times: dict[str, list[float]] = {s.label: [] for s in servers}
    for start in range(0, count, CLIENTS):
        for server in servers:
            def client(i: int, server: Server = server) -> None:
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
                try:
                    elapsed = server.identify(bodies[i % len(bodies)], connection,
                                              client=i % CLIENTS)
                finally:
                    connection.close()
                times[server.label].append(elapsed)
            threads = [threading.Thread(target=client, args=(i,))
                       for i in range(start, min(count, start + CLIENTS))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    for server in servers:
        server.figures["latency_ms"]["concurrent"] = round(
            statistics.median(times[server.label]) * 1000, 1)


def settle(servers: list[Server], seconds: float, moment: str) -> None:
    for server in servers:
        server.rss(f"after_{moment}")
    time.sleep(seconds)
    for server in servers:
        server.rss(f"at_rest_after_{moment}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000,
                        help="Identifications of one 12 MP photo.")
    parser.add_argument("--five", type=int, default=100,
                        help="Identifications of five 12 MP photos each (0: none).")
    parser.add_argument("--concurrent", type=int, default=200,
                        help=f"Identifications of one photo from {CLIENTS} clients (0: none).")
    parser.add_argument("--settle", type=float, default=8.0,
                        help="Seconds between a phase's last answer and the at-rest reading "
                             "(more than the server's memory_release_idle, 5 s by default).")
    parser.add_argument("--baseline", type=Path, help="Source tree (its src/) to compare with.")
    parser.add_argument("--out", type=Path, help="Also write the JSON here.")
    args = parser.parse_args()

    photos = [sorted((SHARED / "oxford17" / label).glob("*.jpg"))[50] for label in SOURCES]
    blobs = [twelve_megapixels(photo) for photo in photos]
    one = [multipart([blob]) for blob in blobs]
    five = [multipart(blobs[i:] + blobs[:i]) for i in range(len(blobs))]
    log(f"12 MP photos: {', '.join(f'{len(b) / 1e6:.1f} MB' for b in blobs)}")

    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    log(f"preparing a data directory in {work} ...")
    template = work / "template"
    keys = prepare_template(template)
    runs = [("this tree", None)] + ([("baseline", args.baseline)] if args.baseline else [])
    servers = [Server(label, template, work, keys, src) for label, src in runs]
    try:
        for server in servers:
            server.wait_for("/v2/_status")
            server.rss("start")
        for server in servers:
            server.wait_for("/readyz")
            server.rss("loaded")
        for server in servers:
            for i in range(3):
                server.identify(one[i])
            server.rss("after_warm_up")
        log(f"{args.requests} identifications of one photo ...")
        alternate(servers, args.requests, lambda i: one[i % len(one)], "one_photo")
        settle(servers, args.settle, f"{args.requests}")
        if args.five:
            log(f"{args.five} identifications of five photos ...")
            alternate(servers, args.five, lambda i: five[i % len(five)], "five_photos")
            settle(servers, args.settle, "five")
        if args.concurrent:
            log(f"{args.concurrent} identifications from {CLIENTS} clients at once ...")
            concurrent(servers, args.concurrent, one)
            settle(servers, args.settle, "concurrent")
        for server in servers:
            readings = server.figures["rss_mb"].values()
            server.figures["rss_mb"]["peak"] = max(proc_status(server.pid, "VmHWM"), *readings)
            server.figures["at_end"] = rollup(server.pid)
    finally:
        for server in servers:
            server.stop()

    report: dict = {
        "setup": {"photo": "12 MP JPEG (4000x3000) from Oxford-17", "project": PROJECT,
                  "photo_mb": [round(len(blob) / 1e6, 2) for blob in blobs],
                  "one_photo_requests": args.requests, "five_photo_requests": args.five,
                  "concurrent_requests": args.concurrent, "clients": CLIENTS,
                  "settle_s": args.settle, "target": f"after_{args.requests} <= 250 MB",
                  "baseline": str(args.baseline) if args.baseline else None},
        "this_tree": servers[0].figures,
    }
    if args.baseline:
        mine, base = servers[0].figures, servers[1].figures
        report["baseline"] = base
        report["latency_ratio"] = {phase: round(ms / base["latency_ms"][phase], 3)
                                   for phase, ms in mine["latency_ms"].items()}
    text = json.dumps(report, indent=2) + "\n"
    sys.stdout.write(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
