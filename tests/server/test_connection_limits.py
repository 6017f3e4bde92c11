"""Connection limits of ``hortus serve`` under attack: a huge header, slow or idle connections.

Each attack runs against a real server process while a probe times ``GET /v2/_status`` on fresh
connections: the attacker is refused or cut off, and everyone else is still answered fast.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serve_support import LatencyProbe, Served, under_attack

pytestmark = pytest.mark.alone  # it times the server: see tests/conftest.py

P99_LIMIT = 0.100
MiB = 1024 * 1024


def _send_huge_header(port: int, size: int) -> tuple[int, bytes]:
    """Send a request whose one header is ``size`` bytes; returns (bytes sent, answer)."""
    chunk = b"a" * (256 * 1024)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as attacker:
        try:
            attacker.sendall(b"GET /v2/_status HTTP/1.1\r\nHost: x\r\nX-Big: ")
            while sent < size:
                attacker.sendall(chunk)
                sent += len(chunk)
            attacker.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            return sent, attacker.recv(4096)
        except (ConnectionResetError, TimeoutError):
            return sent, b""


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Served]:
    """One server for the attacks that leave it as it was: headers capped at 64 KiB, header,
    body and keep-alive deadlines of 1 s."""
    env = {"HORTUS_MAX_HEADER_BYTES": str(64 * 1024), "HORTUS_HEADER_TIMEOUT": "1",
           "HORTUS_BODY_TIMEOUT": "1", "HORTUS_KEEP_ALIVE_TIMEOUT": "1"}
    with Served(tmp_path_factory.mktemp("limits") / "data", template=sqlite_template,
                env=env) as served:
        yield served


def test_a_huge_header_is_refused_early_and_others_stay_fast(guarded: Served) -> None:
    served = guarded
    before = served.rss_kib("VmHWM")
    results, probe = under_attack(served.port, lambda: _send_huge_header(served.port, 32 * MiB))
    for sent, answer in results:
        # Refused within the socket buffers' worth of the limit, not after 32 MiB.
        assert sent < 8 * MiB, (sent, answer[:100])
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:100]
    grown = served.rss_kib("VmHWM") - before
    assert grown < 16 * 1024, f"the server grew by {grown} KiB"
    assert not probe.failures, probe.failures[:3]
    assert probe.quantile(0.99) < P99_LIMIT, probe.summary()


def _closed_after(connection: socket.socket, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closes the connection (reading what it says), at most limit."""
    started = time.monotonic()
    connection.settimeout(limit)
    said = b""
    try:
        while chunk := connection.recv(4096):
            said += chunk
    except TimeoutError:
        return float("inf"), said
    except ConnectionResetError:
        pass
    return time.monotonic() - started, said


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _silent(port: int) -> None:
    """Opened, then silent: closed without an answer."""
    with _connect(port) as silent:
        waited, said = _closed_after(silent, 5)
        assert waited < 3 and said == b""


def _dripping_headers(port: int) -> None:
    """Headers one line every 0.3 s (each read resets no clock): 408 at the header deadline."""
    with _connect(port) as slow:
        slow.sendall(b"GET /v2/_status HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        try:
            for n in range(20):
                time.sleep(0.3)
                slow.sendall(b"X-Drip-%d: 1\r\n" % n)
        except (BrokenPipeError, ConnectionResetError):
            pass
        waited, said = _closed_after(slow, 5)
        assert time.monotonic() - started < 3
        assert said.startswith(b"HTTP/1.1 408") or said == b"", said[:100]


def _stalled_body(port: int) -> None:
    """A body that stops half-way: 408 once it has been silent for body_timeout."""
    with _connect(port) as stalled:
        stalled.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
                        b"x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=a")
        waited, said = _closed_after(stalled, 5)
        assert waited < 3 and said.startswith(b"HTTP/1.1 408"), (waited, said[:100])


def _kept_alive(follow_up: bytes) -> Callable[[int], None]:
    """Keep-alive: idle after an answer, or one byte of a next request and then silence."""
    def check(port: int) -> None:
        with _connect(port) as kept:
            kept.sendall(b"GET /v2/_status HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.2)
            assert kept.recv(4096).startswith(b"HTTP/1.1 200")
            kept.sendall(follow_up)
            waited, _ = _closed_after(kept, 5)
            assert waited < 3, follow_up
    return check


def test_slow_idle_and_stalled_connections_are_closed(guarded: Served) -> None:
    # Each connection keeps its own clock, so they all run at once (one deadline, not five).
    checks = [_silent, _dripping_headers, _stalled_body, _kept_alive(b""), _kept_alive(b"G")]
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        for done in [pool.submit(check, guarded.port) for check in checks]:
            done.result()


def test_many_slow_connections_leave_the_server_responsive(serve) -> None:
    served = serve(header_timeout=2)
    connections = []
    with LatencyProbe(served.port) as probe:
        for _ in range(200):
            slow = _connect(served.port)
            slow.sendall(b"GET /v2/_status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            connections.append(slow)
        time.sleep(1.0)
        for slow in connections:  # still dripping, still within the deadline
            slow.sendall(b"a")
        # The probe times others until the header deadline has closed every one of them.
        closed = 0
        for slow in connections:
            waited, _ = _closed_after(slow, 3)
            closed += waited < 3
            slow.close()
    assert closed == len(connections)
    assert not probe.failures, probe.failures[:3]
    assert probe.quantile(0.99) < P99_LIMIT, probe.summary()
