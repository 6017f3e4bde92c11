"""Benchmark: 12 MP JPEG -> embedding, against floors and a naive baseline measured in this run.

    .venv/bin/python bench/bench_embed.py [--models-dir DIR] [--repeats 40] [--seconds 5]

Measures, on one 4000x3000 JPEG (quality 90) made from a real photo:
1. floor = DCT-scaled decode alone + model forward alone; full = decode_image + preprocess +
   forward. Target full / floor <= 1.15.
2. naive = full Pillow decode + resize + PyTorch eager (when torch is installed). Target
   naive / full >= 3.5.
3. throughput of 2 worker processes, each an ONNX Runtime session with 1 thread. Target >= 55
   photos/s on 2 cores.
4. RSS of a serving process (model loaded, after inferences; never imports torch). Target
   < 150 MB.
Progress goes to stderr; a JSON summary goes to stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"full_over_floor": 1.15, "naive_over_full": 3.5, "photos_per_s": 55.0, "rss_mb": 150.0}


def log(message: str) -> None:
    sys.stderr.write(message + "\n")


def make_big_jpeg(width: int = 4000, height: int = 3000, quality: int = 90) -> tuple[bytes, str]:
    """Upscale a real photo to 12 MP and add mild sensor-like noise (so it compresses like one)."""
    shared = Path(os.environ.get("HORTUS_SHARED_DATA", REPO.parent / "shared" / "data"))
    photos = sorted((shared / "oxford17").glob("*/*.jpg"))
    if photos:
        source = Image.open(photos[0]).convert("RGB")
        origin = str(photos[0].relative_to(shared))
    else:
        from skimage import data as skdata

        source, origin = Image.fromarray(skdata.astronaut()[64:448]), "skimage astronaut"
    big = np.asarray(source.resize((width, height), Image.Resampling.BICUBIC), np.int16)
    noise = np.random.default_rng(0).normal(0, 3, big.shape).astype(np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(big + noise, 0, 255).astype(np.uint8)).save(
        buffer, "JPEG", quality=quality
    )
    return buffer.getvalue(), origin


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def rss_mb() -> tuple[float, float]:
    """Current and peak resident set size of this process, in MB."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    to_mb = lambda v: int(v.split()[0]) / 1024  # noqa: E731
    return to_mb(fields["VmRSS"]), to_mb(fields["VmHWM"])


def _worker(model_dir: str, data: bytes, seconds: float, barrier, results) -> None:
    """One serving-like process: 1-thread session, decode + preprocess + forward in a loop."""
    from hortus.vision.backbone import Backbone
    from hortus.vision.decode import decode_image

    backbone = Backbone.load(Path(model_dir), threads=1)

    def one() -> None:
        backbone.embed([decode_image(data)])

    for _ in range(5):
        one()
    barrier.wait()
    count, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        one()
        count += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    rss, peak = rss_mb()
    results.put({"count": count, "elapsed": elapsed, "cpu": cpu, "rss_mb": rss,
                 "peak_rss_mb": peak, "torch_imported": "torch" in sys.modules})  # fmt: skip


def throughput(model_dir: Path, data: bytes, workers: int, seconds: float) -> dict:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(str(model_dir), data, seconds, barrier, results))
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    reports = [results.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join()
    return {
        "workers": workers,
        "photos_per_s": sum(r["count"] / r["elapsed"] for r in reports),
        # What the same workers would do on otherwise idle cores: photos per CPU-second each.
        # Reported because a shared machine's other load depresses the wall-clock figure.
        "photos_per_cpu_s_x_workers": sum(r["count"] / r["cpu"] for r in reports),
        "rss_mb": max(r["rss_mb"] for r in reports),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in reports),
        "torch_imported": any(r["torch_imported"] for r in reports),
    }


def naive_ms(data: bytes, repeats: int) -> float | None:
    """Full Pillow decode + resize + crop + PyTorch eager forward (1 thread), or None."""
    try:
        import torch
    except ImportError:
        return None
    from hortus.vision.backbone.prepare import packaged_weights_path
    from hortus.vision.backbone.torch_reference import build_torch_lite0

    torch.set_num_threads(1)
    state = torch.load(packaged_weights_path(), map_location="cpu", weights_only=True)
    forward = build_torch_lite0({k: v.numpy() for k, v in state.items()})

    def one() -> None:
        image = Image.open(io.BytesIO(data)).convert("RGB")
        width, height = image.size
        scale = 256 / min(width, height)
        image = image.resize((round(width * scale), round(height * scale)), Image.BILINEAR)
        left, top = (image.width - 224) // 2, (image.height - 224) // 2
        crop = np.asarray(image.crop((left, top, left + 224, top + 224)), np.float32)
        batch = torch.from_numpy(((crop - 127) / 128).transpose(2, 0, 1).copy())[None]
        forward(batch)

    return median_ms(one, max(5, repeats // 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from hortus.vision.backbone import Backbone, prepare_backbone
    from hortus.vision.decode import decode_image

    tmp = tempfile.TemporaryDirectory()
    model_dir = prepare_backbone(args.models_dir or Path(tmp.name))
    data, origin = make_big_jpeg()
    log(f"12 MP JPEG from {origin}: {len(data) / 1e6:.1f} MB")
    backbone = Backbone.load(model_dir, threads=1)
    decoded = decode_image(data)
    batch = backbone.preprocess(decoded)[None]

    def draft_decode() -> None:
        image = Image.open(io.BytesIO(data))
        image.draft("RGB", (256, 256))
        np.asarray(image.convert("RGB"))

    decode_floor = median_ms(draft_decode, args.repeats)
    forward_floor = median_ms(lambda: backbone.forward(batch), args.repeats)
    full = median_ms(lambda: backbone.embed([decode_image(data)]), args.repeats)
    full_decode = median_ms(lambda: Image.open(io.BytesIO(data)).load(), max(5, args.repeats // 4))
    floor = decode_floor + forward_floor
    log(f"floor: DCT-scaled decode {decode_floor:.1f} ms + forward {forward_floor:.1f} ms")
    log(f"full path {full:.1f} ms -> full/floor {full / floor:.3f}")
    log(f"(for scale: a full 12 MP decode alone takes {full_decode:.1f} ms)")
    naive = naive_ms(data, args.repeats)
    if naive is not None:
        log(f"naive (full decode + resize + torch eager) {naive:.1f} ms -> {naive / full:.2f}x")
    else:
        log("naive baseline skipped: torch is not installed")
    tput = throughput(model_dir, data, args.workers, args.seconds)
    load = os.getloadavg()[0]
    log(f"1-min load average at the end of the run: {load:.2f} on {os.cpu_count()} cores")
    log(f"throughput {tput['photos_per_s']:.1f} photos/s with {args.workers} processes "
        f"({tput['photos_per_cpu_s_x_workers']:.1f} from CPU time); "
        f"serving RSS {tput['rss_mb']:.0f} MB (peak {tput['peak_rss_mb']:.0f})")  # fmt: skip

    summary = {
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "jpeg_bytes": len(data),
        "jpeg_source": origin,
        "decode_floor_ms": round(decode_floor, 2),
        "forward_floor_ms": round(forward_floor, 2),
        "floor_ms": round(floor, 2),
        "full_ms": round(full, 2),
        "full_over_floor": round(full / floor, 3),
        "full_decode_only_ms": round(full_decode, 2),
        "naive_ms": None if naive is None else round(naive, 2),
        "naive_over_full": None if naive is None else round(naive / full, 2),
        "throughput": {k: round(v, 2) if isinstance(v, float) else v for k, v in tput.items()},
        "targets": TARGETS,
    }
    summary["meets_targets"] = {
        "full_over_floor": summary["full_over_floor"] <= TARGETS["full_over_floor"],
        "naive_over_full": None if naive is None else naive / full >= TARGETS["naive_over_full"],
        "photos_per_s": tput["photos_per_s"] >= TARGETS["photos_per_s"],
        "rss_mb": tput["rss_mb"] < TARGETS["rss_mb"],
    }
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    tmp.cleanup()


if __name__ == "__main__":
    main()
