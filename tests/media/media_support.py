"""Helpers of the media tests: real photos, a local S3-compatible server, ``hortus serve``.

The S3-compatible server is moto's (``moto[server]``), run as its own process on a loopback
port and spoken to over real HTTP by boto3. It is an emulator of S3's API, not a production
object store: it honours ``If-None-Match: *`` on writes, but does not verify the
``ChecksumSHA256`` an upload carries.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SAMPLE_PHOTOS = (  # real photos, a few KB to 200 KB
    "ibean/bean_rust/bean_rust_0222.jpg",
    "ibean/healthy/healthy_0307.jpg",
    "oxford17/daffodil/image_0001.jpg",
    "oxford17/sunflower/image_0721.jpg",
    "flowers5/rose/10090824183_d02c613f10_m.jpg",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str, *, headers: dict[str, str] | None = None,
        timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """One GET over a fresh loopback connection: status, headers (lower-case), body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def _wait_for(port: int, path: str, process: subprocess.Popen, log: Path,
              timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            if get(port, path, timeout=2)[0] < 500:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)


class MotoS3:
    """moto's S3-compatible HTTP server on a loopback port, in its own process."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log = log_dir / f"moto-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MotoS3:
        executable = shutil.which("moto_server", path=str(Path(sys.executable).parent))
        args = ([executable] if executable else [sys.executable, "-m", "moto.server"])
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([*args, "-H", "127.0.0.1", "-p", str(self.port)],
                                            stdout=log, stderr=subprocess.STDOUT)
        _wait_for(self.port, "/", self.process, self.log, 60)
        return self

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def settings_env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        return {"HORTUS_MEDIA_BACKEND": "s3", "HORTUS_MEDIA_S3_BUCKET": bucket,
                "HORTUS_MEDIA_S3_PREFIX": prefix, "HORTUS_MEDIA_S3_ENDPOINT_URL": self.url,
                "HORTUS_MEDIA_S3_REGION": "us-east-1", "HORTUS_MEDIA_S3_ACCESS_KEY_ID": "test",
                "HORTUS_MEDIA_S3_SECRET_ACCESS_KEY": "test"}

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def hortus_env(data_dir: Path, **values: str) -> dict[str, str]:
    """The environment of a ``hortus`` subprocess: ours without HORTUS_*, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORTUS_")}
    env.update(HORTUS_DATA_DIR=str(data_dir), HORTUS_ENVIRONMENT="test",
               HORTUS_WARM_UP_ENGINE="false", HORTUS_LOAD_STARTER_DATA="false")
    env.update(values)
    return env


def hortus(args: list[str], env: dict[str, str],
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run one ``hortus`` command to its end (output captured)."""
    return subprocess.run([sys.executable, "-m", "hortus.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


class Served:
    """``python -m hortus.cli serve`` on its own data directory and loopback port."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.env = env
        self.log = log_dir / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hortus.cli", "serve", "--port", str(self.port),
                 "--log-level", "warning"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        _wait_for(self.port, "/v2/_status", self.process, self.log, 180)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
