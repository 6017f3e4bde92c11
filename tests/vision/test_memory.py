"""What keeps a serving process's memory down (docs/operations.md, "Memory"), on the real
backbone and real 12 MP photos: the backbone runs at most two images per ONNX Runtime call and
gives the same embeddings as one call; photos decoded and embedded in two worker threads leave
a bounded working set, and giving memory back brings the process near its loaded size; the
inference pool gives it back once idle, never while busy."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from hortus.config import Settings
from hortus.inference import Inference
from hortus.vision.backbone import Backbone
from hortus.vision.backbone.session import MAX_FORWARD_BATCH
from hortus.vision.decode import decode_image
from hortus.vision.test_time_crops import TEST_VIEWS, VIEWS, view_pixels


def four_views(backbone: Backbone, photo: bytes) -> np.ndarray:
    """A photo decoded and cut into the engine's four test views, as one float32 batch."""
    image = decode_image(photo)
    return backbone.normalise(np.stack([view_pixels(backbone, image, VIEWS[name])
                                        for name in TEST_VIEWS]))


def test_forward_in_chunks_equals_one_call(backbone_dir: Path, big_jpeg: bytes) -> None:
    backbone = Backbone.load(backbone_dir, threads=1)
    batch = np.concatenate([four_views(backbone, big_jpeg)] * 2)[:7]  # 7: a last, short chunk
    assert len(batch) > MAX_FORWARD_BATCH
    chunked = backbone.forward(batch)
    names = [backbone.manifest.embedding_output, backbone.manifest.logits_output]
    whole = backbone.session.run(names, {backbone.manifest.input_name: batch})
    assert chunked.embeddings.shape == whole[0].shape == (7, backbone.manifest.embedding_size)
    np.testing.assert_allclose(chunked.embeddings, whole[0], rtol=1e-4, atol=1e-5)
    assert chunked.logits is not None
    np.testing.assert_allclose(chunked.logits, whole[1], rtol=1e-4, atol=1e-4)
    assert backbone.forward(batch[:0]).embeddings.shape == (0, backbone.manifest.embedding_size)


# Two worker threads decode a 12 MP JPEG and embed its four views, again and again, in a fresh
# process (its memory is its own to measure); then the backbone and the heaps give memory back.
_WORKLOAD = textwrap.dedent("""
    import json, sys, threading
    from pathlib import Path
    import numpy as np
    from hortus import heap
    from hortus.vision.backbone import Backbone
    from hortus.vision.decode import decode_image
    from hortus.vision.test_time_crops import TEST_VIEWS, VIEWS, view_pixels

    def four_views(backbone, photo):
        image = decode_image(photo)
        return backbone.normalise(np.stack([view_pixels(backbone, image, VIEWS[name])
                                            for name in TEST_VIEWS]))

    def rss():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    photo = Path(sys.argv[2]).read_bytes()
    backbone = Backbone.load(Path(sys.argv[1]), threads=1)
    heap.trim()
    loaded = rss()
    first = backbone.forward(four_views(backbone, photo)).embeddings

    def worker():
        for _ in range(8):
            backbone.forward(four_views(backbone, photo))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    busy = rss()
    backbone.release_memory()
    heap.trim()
    rest = rss()
    again = backbone.forward(four_views(backbone, photo)).embeddings
    print(json.dumps({"loaded": loaded, "busy": busy, "rest": rest, "trim": heap.can_trim(),
                      "same": bool(np.array_equal(first, again))}))
""")


def test_working_memory_is_bounded_and_given_back(backbone_dir: Path, big_jpeg: bytes,
                                                  tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    photo = tmp_path / "12mp.jpg"
    photo.write_bytes(big_jpeg)
    done = subprocess.run(
        [sys.executable, "-c", _WORKLOAD, str(backbone_dir), str(photo)],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    # Measured over the loaded backbone: ~54 MB busy (~90 MB with the four views in one call),
    # ~16 MB once given back (~46 MB without).
    assert figures["busy"] - figures["loaded"] < 72, figures
    assert figures["same"], "embeddings changed after the arena gave its memory back"
    if figures["trim"]:
        assert figures["rest"] - figures["loaded"] < 30, figures
        assert figures["busy"] - figures["rest"] > 20, figures


def test_idle_pool_gives_memory_back_once(backbone_dir: Path, shared_models_dir: Path,
                                          big_jpeg: bytes, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models_dir=shared_models_dir,
                        memory_release_idle=0.5, warm_up_engine=False)
    inference = Inference(settings)

    async def scenario() -> tuple[np.ndarray, list[int], np.ndarray]:
        engine = await inference.run(lambda: inference.engine)
        first = (await inference.run(engine.decode_and_embed, big_jpeg))[1].embeddings
        seen = []
        busy_until = time.monotonic() + 1.5  # a job every ~0.15 s: never idle for 0.5 s
        while time.monotonic() < busy_until:
            await inference.run(time.sleep, 0.05)
            await asyncio.sleep(0.1)
            seen.append(inference.releases)
        await asyncio.sleep(1.5)
        seen.append(inference.releases)  # idle: given back once
        await asyncio.sleep(1.0)
        seen.append(inference.releases)  # and not again until more work
        again = (await inference.run(engine.decode_and_embed, big_jpeg))[1].embeddings
        return first, seen, again

    try:
        first, seen, again = asyncio.run(scenario())
    finally:
        inference.shutdown()
    assert set(seen[:-2]) == {0}, seen
    assert seen[-2:] == [1, 1], seen
    np.testing.assert_array_equal(first, again)


def test_no_release_when_switched_off(backbone_dir: Path, shared_models_dir: Path,
                                      tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models_dir=shared_models_dir,
                        memory_release_idle=0, warm_up_engine=False)
    inference = Inference(settings)

    async def scenario() -> int:
        await inference.run(lambda: inference.engine)
        await asyncio.sleep(0.5)
        return inference.releases

    try:
        assert asyncio.run(scenario()) == 0
    finally:
        inference.shutdown()
