"""Image work one key can make a real ``hortus serve`` do for free, before and after the limits.

Runs the server from this tree twice, on one models directory: first with the limits switched
off by settings (``HORTUS_MAX_FULL_DECODE_PIXELS=50000000``, ``HORTUS_IMAGE_WORK_PER_ACCOUNT=0``:
what the server did before them), then with the defaults. In each run, from one key:

* huge PNG: ``--requests`` concurrent ``POST /v2/identify/all``, each with five 7071x7071
  single-colour PNGs (~160 KB each, 150 MB of pixels each): the probe's attack, answered
  "Species not found", which costs no quota unit;
* largest PNG: the same with five 4000x4000 PNGs (16 MP: within the default budget), while
  another key identifies a photo again and again.

For each: the server's CPU seconds and peak RSS during the attack (``/proc``: utime + stime,
VmHWM reset before it), its RSS after, the answers, the attacker's quota use, ``GET
/v2/_status`` latency on fresh connections meanwhile and, for the second, the other key's
identification latency.

    python bench/bench_image_limits.py > docs/figures/image-limits.txt
"""

from __future__ import annotations

import argparse
import collections
import http.client
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "server"))
from serve_support import LatencyProbe, Served  # noqa: E402

from hortus.accounts import service as accounts  # noqa: E402
from hortus.bootstrap import prepare_database  # noqa: E402
from hortus.config import Settings  # noqa: E402

BEFORE = {"HORTUS_MAX_FULL_DECODE_PIXELS": "50000000", "HORTUS_IMAGE_WORK_PER_ACCOUNT": "0"}
TICKS = os.sysconf("SC_CLK_TCK")


def flat_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (40, 140, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def photo_jpeg() -> bytes:
    """A 1024x768 photo of smooth colour (the other key's; no flower: "Species not found")."""
    rng = np.random.default_rng(1)
    small = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    small.resize((1024, 768), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def multipart(photos: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    parts = [b"--%s\r\nContent-Disposition: form-data; name=\"images\"; filename=\"%s\"\r\n"
             b"Content-Type: application/octet-stream\r\n\r\n%s\r\n"
             % (boundary.encode(), name.encode(), data) for name, data in photos]
    body = b"".join(parts) + b"--%s--\r\n" % boundary.encode()
    return f"multipart/form-data; boundary={boundary}", body


def identify(port: int, key: str, photos: list[tuple[str, bytes]]) -> tuple[int, float]:
    content_type, body = multipart(photos)
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request("POST", f"/v2/identify/all?api-key={key}", body=body,
                           headers={"Content-Type": content_type})
        answer = connection.getresponse()
        answer.read()
        return answer.status, time.perf_counter() - started
    finally:
        connection.close()


def used_today(port: int, key: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", f"/v2/quota?api-key={key}")
        return int(json.loads(connection.getresponse().read())["quota"]["identify"]["count"])
    finally:
        connection.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def new_key(data_dir: Path, email: str) -> str:
    database = prepare_database(Settings(data_dir=data_dir, environment="test",
                                         load_starter_data=False))
    try:
        with database.write() as session:
            account = accounts.get_or_create_account(session=session, email=email)
            return accounts.create_key(session=session, account=account).api_key
    finally:
        database.dispose()


def attack(served: Served, key: str, photos: list[tuple[str, bytes]], requests: int,
           other: tuple[str, bytes] | None = None) -> str:
    Path(f"/proc/{served.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    cpu_before = cpu_seconds(served.pid)
    statuses: collections.Counter[int] = collections.Counter()
    other_latencies: list[float] = []
    done = threading.Event()

    def attacker() -> None:
        statuses[identify(served.port, key, photos)[0]] += 1

    def victim() -> None:
        assert other is not None
        while not done.is_set():
            other_latencies.append(identify(served.port, other[0], [("photo.jpg", other[1])])[1])

    started = time.perf_counter()
    with LatencyProbe(served.port, pause=0.01) as probe:
        threads = [threading.Thread(target=attacker) for _ in range(requests)]
        watcher = threading.Thread(target=victim) if other else None
        for thread in threads:
            thread.start()
        if watcher:
            time.sleep(0.2)
            watcher.start()
        for thread in threads:
            thread.join()
        done.set()
        if watcher:
            watcher.join()
    wall = time.perf_counter() - started
    cpu = cpu_seconds(served.pid) - cpu_before
    lines = [f"  answers {dict(sorted(statuses.items()))} in {wall:.1f} s; attacker's quota "
             f"used: {used_today(served.port, key)}",
             f"  server CPU {cpu:.1f} s ({cpu / requests:.2f} s a request); peak RSS "
             f"{served.rss_kib('VmHWM') / 1024:.0f} MB, after {served.rss_kib() / 1024:.0f} MB",
             f"  /v2/_status meanwhile: {probe.summary()}"]
    if other_latencies:
        lines.append(f"  other key's identification: {len(other_latencies)} done, median "
                     f"{statistics.median(other_latencies) * 1000:.0f} ms, max "
                     f"{max(other_latencies) * 1000:.0f} ms")
    return "\n".join(lines)


def run(label: str, env: dict[str, str], work: Path, args: argparse.Namespace) -> None:
    data_dir = work / label.split()[0]
    served = Served(data_dir, env={"HORTUS_MODELS_DIR": str(work / "models"), **env}).start()
    try:
        attacker, other = new_key(data_dir, "attacker@example.org"), new_key(
            data_dir, "other@example.org")
        photo = photo_jpeg()
        identify(served.port, other, [("photo.jpg", photo)])  # loads the engine
        with LatencyProbe(served.port, pause=0.01) as idle:
            time.sleep(1.0)
        print(f"== {label}\n  idle: /v2/_status {idle.summary()}; RSS "
              f"{served.rss_kib() / 1024:.0f} MB", flush=True)
        huge = [(f"flat-{i}.png", args.huge_png) for i in range(5)]
        print(f"huge PNG: {args.requests} requests x 5 PNGs of 7071x7071\n"
              f"{attack(served, attacker, huge, args.requests)}", flush=True)
        largest = [(f"flat-{i}.png", args.largest_png) for i in range(5)]
        print(f"largest PNG: {args.requests} requests x 5 PNGs of 4000x4000, and another key\n"
              f"{attack(served, attacker, largest, args.requests, (other, photo))}", flush=True)
    finally:
        served.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    args = parser.parse_args()
    args.huge_png, args.largest_png = flat_png(7071), flat_png(4000)
    print(f"{os.cpu_count()} CPUs; PNGs of {len(args.huge_png):,} and {len(args.largest_png):,} "
          "bytes; HORTUS_INFERENCE_WORKERS=2 (default)", flush=True)
    with tempfile.TemporaryDirectory(prefix="hortus-bench-") as folder:
        work = Path(folder)
        run("before (limits off: " + ", ".join(f"{k}={v}" for k, v in BEFORE.items()) + ")",
            BEFORE, work, args)
        run("after (defaults)", {}, work, args)


if __name__ == "__main__":
    main()
