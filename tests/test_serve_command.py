"""``hortus serve`` (what ``scripts/serve`` runs) on an empty data directory: it creates and
seeds it, says where it listens and how to create a key, and answers over real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_prints_where_it_listens_and_how_to_get_a_key(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORTUS_")}
    env.update(HORTUS_DATA_DIR=str(tmp_path / "data"), HORTUS_WARM_UP_ENGINE="false")
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "hortus.cli", "serve", "--port", str(port),
             "--log-level", "warning"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                assert server.poll() is None, log.read_text()
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/_status",
                                                timeout=5) as answer:
                        assert json.loads(answer.read()) == {"status": "ok"}
                        break
                except OSError:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
        finally:
            server.terminate()
            server.wait(timeout=30)
    printed = log.read_text()
    assert f"http://127.0.0.1:{port}" in printed
    assert "hortus keys create --account" in printed
    assert f"http://127.0.0.1:{port}/docs" in printed
    assert (tmp_path / "data" / "hortus.db").is_file()
