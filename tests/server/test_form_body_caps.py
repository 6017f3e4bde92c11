"""Web form bodies are capped while they arrive: sign-in and sign-up forms take a few KiB, the
identification page's photos ``max_upload_bytes``; nothing bigger is read or spooled to disk."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from serve_support import Served, under_attack

pytestmark = pytest.mark.alone  # it times the server: see tests/conftest.py

MiB = 1024 * 1024
BOUNDARY = b"hortus-test-boundary"


def _post_chunked(port: int, path: str, size: int,
                  during: Callable[[], object] = lambda: None) -> tuple[int, bytes]:
    """POST a chunked multipart body of ``size`` bytes (one big file part); returns the bytes
    the server took before it answered or cut the connection, and its answer."""
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY.decode()}\r\n\r\n").encode()
    part = (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="email"; '
            b'filename="x.bin"\r\nContent-Type: application/octet-stream\r\n\r\n')
    filler = b"z" * (256 * 1024)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        try:
            client.sendall(head + b"%x\r\n%s\r\n" % (len(part), part))
            while sent < size:
                client.sendall(b"%x\r\n%s\r\n" % (len(filler), filler))
                sent += len(filler)
                if sent % (4 * MiB) == 0:
                    during()
            client.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            return sent, client.recv(4096)
        except (ConnectionResetError, TimeoutError):
            return sent, b""


def _spooled(pid: int, folder: Path) -> int:
    """Bytes in files under ``folder`` that the server holds open (a spooled upload is an
    unlinked temporary file: not in the folder's listing) or that are left in the folder."""
    total = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd).startswith(str(folder)):
                total += fd.stat().st_size
    return total + sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory,
           sqlite_template: Path) -> Iterator[tuple[Served, Path]]:
    """One server for the module (none of its tests changes it), with uploads capped at 1 MiB
    and its temporary files in a folder of their own: (server, that folder)."""
    root = tmp_path_factory.mktemp("caps")
    spool = root / "spool"
    spool.mkdir()
    served = Served(root / "data", template=sqlite_template,
                    env={"TMPDIR": str(spool), "HORTUS_MAX_UPLOAD_BYTES": str(MiB)})
    with served:
        yield served, spool


@pytest.mark.parametrize("path", ["/login", "/signup", "/identify"])
def test_a_huge_chunked_form_is_cut_off_at_the_cap(capped: tuple[Served, Path],
                                                    path: str) -> None:
    served, spool = capped
    peak: list[int] = []

    def attack() -> tuple[int, bytes, int]:
        sent, answer = _post_chunked(served.port, path, 64 * MiB, during=lambda: peak.append(
            _spooled(served.pid, spool)))
        return sent, answer, max(peak, default=0)

    results, probe = under_attack(served.port, attack)
    assert results
    for sent, answer, spooled in results:
        assert sent < 8 * MiB, (sent, answer[:120])
        assert answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer[:120]
        assert spooled < 2 * MiB
    assert _spooled(served.pid, spool) < 64 * 1024  # nothing left (a library leaves a .ses file)
    assert not probe.failures, probe.failures[:3]
    assert probe.quantile(0.99) < 0.1, probe.summary()


def test_a_declared_length_over_the_cap_is_refused_before_the_body(
        capped: tuple[Served, Path]) -> None:
    served, _ = capped
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as client:
        client.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
                       b"x-www-form-urlencoded\r\nContent-Length: 10000000\r\n\r\nemail=a")
        answer = client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413") and b"connection: close" in answer.lower()
    # An ordinary form is untouched: it reaches the page (which refuses its CSRF token).
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as client:
        form = b"email=a%40example.org&password=x&csrf_token=forged"
        client.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
                       b"x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
                       % (len(form), form))
        assert client.recv(4096).startswith(b"HTTP/1.1 403")
