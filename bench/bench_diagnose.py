"""Benchmark: one PEAT image analysis over HTTP against the vision engine alone, same run.

    .venv/bin/python bench/bench_diagnose.py [--models-dir DIR] [--repeats 40] [--threads 1]
        [--out docs/figures/diagnose-speed.json]

``engine`` = ``diagnose_photo`` in this process: decode + one forward pass + every diagnosis
head + the ImageNet top-5 (everything the answer needs from the engine). ``http`` = a
``POST /v1/image_analysis`` of the same photo to a real uvicorn server in another process (key
check, monthly quota, multipart parsing, crop choice, the same engine work, catalogue mapping,
the picture written to disk, the analysis row committed, JSON). The two are interleaved photo by
photo over real ibean photos; the medians are compared (and, less sensitive to other load on
the machine, the fastest tenths). Target: http / engine <= 1.25.

``--models-dir`` must hold a ``bean`` diagnosis project; by default a small one (60 photos per
class) is trained into a temporary directory first. Progress goes to stderr; JSON to stdout.
"""

from __future__ import annotations

import argparse
import http.client as http_client
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HORTUS_SHARED_DATA", REPO.parent / "shared" / "data"))
TARGET = 1.25
CLASSES_CSV = ("folder,name,crop\nangular_leaf_spot,PHAIGR,Phaseolus vulgaris\n"
               "bean_rust,UROMAP,Phaseolus vulgaris\nhealthy,healthy,Phaseolus vulgaris\n")


def log(message: str) -> None:
    sys.stderr.write(message + "\n")


def train_small_bean(models_dir: Path, work: Path) -> None:
    """A bean project on the first 60 photos of each ibean class."""
    from hortus.vision.backbone import Backbone, prepare_backbone
    from hortus.vision.dataset import scan_photo_folder
    from hortus.vision.workflow import train_folder

    for label in ("angular_leaf_spot", "bean_rust", "healthy"):
        (work / "ibean" / label).mkdir(parents=True)
        for photo in sorted((SHARED / "ibean" / label).iterdir())[:60]:
            (work / "ibean" / label / photo.name).symlink_to(photo)
    (work / "classes.csv").write_text(CLASSES_CSV, encoding="utf-8")
    backbone = Backbone.load(prepare_backbone(models_dir), threads=2)
    folder = scan_photo_folder(work / "ibean", classes_csv=work / "classes.csv")
    train_folder(folder, backbone=backbone, name="bean", task="diagnose", models_dir=models_dir,
                 cache_dir=work / "cache", media_dir=None, seed=0)


def serve(data_dir: str, models_dir: str, threads: int, port: int) -> None:
    """Run the server (in a child process)."""
    import logging

    import uvicorn

    from hortus.app import create_app
    from hortus.config import Settings

    logging.disable(logging.WARNING)
    settings = Settings(data_dir=Path(data_dir), models_dir=Path(models_dir), environment="test",
                        inference_threads=threads, analysis_per_month=10**7,
                        warm_up_engine=True)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="error",
                access_log=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path,
                        help="Also write the JSON here (e.g. docs/figures/diagnose-speed.json).")
    args = parser.parse_args()
    if not (SHARED / "ibean").is_dir():
        log(f"{SHARED / 'ibean'} is absent; nothing to measure")
        sys.exit(2)

    import requests

    from hortus.accounts import service as accounts
    from hortus.bootstrap import prepare_database
    from hortus.config import Settings
    from hortus.diagnose.recognition import diagnose_photo
    from hortus.vision.engine import VisionEngine, limit_blas_threads

    work = Path(tempfile.mkdtemp(prefix="bench-diagnose-"))
    try:
        models_dir = args.models_dir
        if models_dir is None:
            models_dir = work / "models"
            log("training a small bean model ...")
            train_small_bean(models_dir, work / "train")
        data_dir = work / "data"
        settings = Settings(data_dir=data_dir, models_dir=models_dir, environment="test")
        database = prepare_database(settings, seed=True)
        with database.write() as session:
            account = accounts.get_or_create_account(session=session, email="bench@example.org")
            api_key = accounts.create_key(session=session, account=account).api_key
        database.dispose()

        engine = VisionEngine.load(models_dir, threads=args.threads)
        limit_blas_threads(1)  # as the server does (hortus.inference)
        photos = [p.read_bytes() for label in ("angular_leaf_spot", "bean_rust", "healthy")
                  for p in sorted((SHARED / "ibean" / label).iterdir())[300:310]]
        port = free_port()
        server = mp.get_context("spawn").Process(
            target=serve, args=(str(data_dir), str(models_dir), args.threads, port), daemon=True)
        server.start()
        http = requests.Session()
        http.headers["Api-Key"] = api_key
        deadline = time.monotonic() + 60
        while True:
            try:
                http.get(f"http://127.0.0.1:{port}/v1/diseases?per_page=1", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

        # The timed client sends a body encoded beforehand on a kept-alive connection: what is
        # measured is the server and the transport, not the client library's form encoding.
        connection = http_client.HTTPConnection("127.0.0.1", port, timeout=60)
        boundary = uuid.uuid4().hex
        encoded = {
            id(data): (f"--{boundary}\r\nContent-Disposition: form-data; name=\"picture\"; "
                       f"filename=\"leaf.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
            + data + f"\r\n--{boundary}--\r\n".encode()
            for data in photos
        }
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "Api-Key": api_key}

        def over_http(data: bytes) -> float:
            start = time.perf_counter()
            connection.request("POST", "/v1/image_analysis", body=encoded[id(data)],
                               headers=headers)
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - start
            assert response.status == 200, body[:300]
            return elapsed

        def in_engine(data: bytes) -> float:
            start = time.perf_counter()
            diagnose_photo(engine, data, project=None)
            return time.perf_counter() - start

        for data in photos[:5]:  # warm-up both sides
            over_http(data)
            in_engine(data)
        engine_times, http_times = [], []
        for i in range(args.repeats):
            data = photos[i % len(photos)]
            engine_times.append(in_engine(data))
            http_times.append(over_http(data))
        server.terminate()
        server.join(10)
        summary = {
            "photos": len(photos), "repeats": args.repeats, "threads": args.threads,
            "engine_ms_median": round(1000 * statistics.median(engine_times), 2),
            "http_ms_median": round(1000 * statistics.median(http_times), 2),
        }
        summary["http_over_engine"] = round(
            summary["http_ms_median"] / summary["engine_ms_median"], 3)
        # The fastest tenth of each, less sensitive to other load on the machine.
        p10 = [statistics.quantiles(t, n=10)[0] for t in (engine_times, http_times)]
        summary["engine_ms_p10"], summary["http_ms_p10"] = (round(1000 * v, 2) for v in p10)
        summary["http_over_engine_p10"] = round(p10[1] / p10[0], 3)
        summary["target"] = TARGET
        summary["pass"] = summary["http_over_engine"] <= TARGET
        summary["cpus"], summary["load_average"] = os.cpu_count(), round(os.getloadavg()[0], 2)
        log(f"engine {summary['engine_ms_median']} ms, http {summary['http_ms_median']} ms, "
            f"ratio {summary['http_over_engine']} (target <= {TARGET})")
        sys.stdout.write(json.dumps(summary) + "\n")
        if args.out:
            args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
