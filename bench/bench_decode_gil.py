"""Benchmark: decoding a 12 MP JPEG beside a thread that runs Python code (the GIL convoy).

    .venv/bin/python bench/bench_decode_gil.py [--repeats 20]

Pillow feeds libjpeg 64 KiB at a time and takes the GIL back after each block. When another
thread is running Python code (the event loop parsing a request, a second inference worker in
NumPy glue), every block waits for that thread to give the GIL up, up to a switch interval
(5 ms) each. ``hortus.vision.decode`` hands the decoder the whole file in one block instead.

Figures, medians in this run: the same DCT-scaled decode alone and beside a busy Python thread,
in Pillow's default blocks (the baseline) and as Hortus decodes (one block). JSON to stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from PIL import Image

from hortus.vision.decode import decode_image

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HORTUS_SHARED_DATA", REPO.parent / "shared" / "data"))


def twelve_megapixels() -> bytes:
    """A 4000x3000 JPEG (quality 90): a real Oxford-17 photo scaled up when ../shared/data is
    there (as in bench_identify.py), else a gradient with some noise."""
    import numpy as np

    photos = sorted((SHARED / "oxford17" / "daffodil").glob("*.jpg"))
    if photos:
        with Image.open(photos[0]) as image:
            big = image.convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        big.save(buffer, format="JPEG", quality=90)
        return buffer.getvalue()
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:3000, 0:4000]
    base = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.int16)
    pixels = np.clip(base + rng.integers(-8, 8, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def pillow_default_blocks(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (256, 256))
        image.load()


def hortus(data: bytes) -> None:
    decode_image(data)


def median_ms(fn, data: bytes, repeats: int, busy: bool) -> float:
    stop = threading.Event()

    def spin() -> None:  # pure Python work, holding the GIL whenever it runs
        n = 0
        while not stop.is_set():
            n += 1

    thread = threading.Thread(target=spin, daemon=True) if busy else None
    if thread:
        thread.start()
    try:
        fn(data)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(data)
            samples.append(time.perf_counter() - start)
    finally:
        stop.set()
        if thread:
            thread.join()
    return round(statistics.median(samples) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    data = twelve_megapixels()
    sys.stderr.write(f"12 MP JPEG: {len(data) / 1e6:.1f} MB\n")
    figures = {
        "pillow_default_blocks_alone_ms": median_ms(pillow_default_blocks, data, args.repeats,
                                                    False),
        "pillow_default_blocks_busy_ms": median_ms(pillow_default_blocks, data, args.repeats,
                                                   True),
        "hortus_alone_ms": median_ms(hortus, data, args.repeats, False),
        "hortus_busy_ms": median_ms(hortus, data, args.repeats, True),
    }
    figures["busy_speedup"] = round(figures["pillow_default_blocks_busy_ms"]
                                    / figures["hortus_busy_ms"], 2)
    figures["hortus_busy_over_alone"] = round(figures["hortus_busy_ms"]
                                              / figures["hortus_alone_ms"], 2)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
