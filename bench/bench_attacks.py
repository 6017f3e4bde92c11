"""Attacks on a real ``hortus serve``: what each costs everyone else, before and after.

Runs the server from this tree (and, with ``--baseline SRC``, from another source tree, e.g. a
``git archive`` of an older commit) and, for each attack, times ``GET /v2/_status`` on fresh
connections meanwhile (p50, p99, max), the server's peak memory, and what the attacker got:

* header: one request with a ``--header-mb`` MB header;
* form: a ``--form-mb`` MB chunked multipart body to ``POST /login``;
* guessing: 8 connections guessing one account's password for 5 s, as fast as answered;
* slowloris: 200 connections sending headers a byte a second; how many are still open at 15 s.

    python bench/bench_attacks.py --baseline /tmp/hortus-base/src [--out F]

``--out`` also writes every figure printed as JSON (e.g. ``docs/figures/attacks.json``), by run
("baseline", "this tree") and attack.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "server"))
from serve_support import LatencyProbe, Served  # noqa: E402

MiB = 1024 * 1024


def header_attack(port: int, megabytes: int) -> dict:
    sent, started = 0, time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as attacker:
        try:
            attacker.sendall(b"GET /v2/_status HTTP/1.1\r\nHost: x\r\nX-Big: ")
            while sent < megabytes * MiB:
                attacker.sendall(b"a" * MiB)
                sent += MiB
            attacker.sendall(b"\r\n\r\n")
        except OSError:
            pass
        try:
            answer = attacker.recv(64).split(b"\r\n")[0].decode()
        except OSError as exc:
            answer = type(exc).__name__
    return {"sent_mb": round(sent / MiB), "seconds": round(time.monotonic() - started, 1),
            "answer": answer}


def spooled_bytes(pid: int, folder: Path) -> int:
    """Bytes in the files under ``folder`` that process ``pid`` holds open (deleted or not:
    a spooled upload is an unlinked temporary file)."""
    total = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith(str(folder)):
                total += fd.stat().st_size
        except OSError:
            pass
    return total


def form_attack(port: int, megabytes: int, spool: Path, pid: int) -> dict:
    boundary = b"bench"
    head = (b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=bench\r\n\r\n")
    part = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="email"; '
            b'filename="x"\r\n\r\n')
    sent, peak, started = 0, 0, time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as attacker:
        try:
            attacker.sendall(head + b"%x\r\n%s\r\n" % (len(part), part))
            while sent < megabytes * MiB:
                attacker.sendall(b"%x\r\n%s\r\n" % (MiB, b"z" * MiB))
                sent += MiB
                if sent % (8 * MiB) == 0:
                    peak = max(peak, spooled_bytes(pid, spool))
            attacker.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        try:
            answer = attacker.recv(64).split(b"\r\n")[0].decode()
        except OSError as exc:
            answer = type(exc).__name__
    return {"sent_mb": round(sent / MiB), "seconds": round(time.monotonic() - started, 1),
            "spooled_mb": round(peak / MiB), "answer": answer}


def guessing_attack(port: int, seconds: float = 5.0) -> dict:
    def visitor() -> tuple[str, str]:
        connection = socket.create_connection(("127.0.0.1", port), timeout=30)
        connection.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
        connection.close()
        text = data.decode(errors="replace")
        cookie = re.search(r"set-cookie: ([^;]+)", text, re.I).group(1)
        return cookie, re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)

    import http.client

    statuses: collections.Counter[int] = collections.Counter()
    deadline = time.monotonic() + seconds

    def guess(n: int) -> None:
        cookie, token = visitor()
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            form = urllib.parse.urlencode({"email": "victim@example.org", "csrf_token": token,
                                           "password": f"Guess-{n}-{attempt}"})
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("POST", "/login", body=form, headers={
                "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
            statuses[connection.getresponse().status] += 1
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"seconds": seconds, "checked": statuses.get(400, 0),
            "checked_per_s": round(statuses.get(400, 0) / seconds, 1),
            "refused_per_s": round(statuses.get(429, 0) / seconds, 1),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}


def _still_open(connection: socket.socket) -> bool:
    """Whether the server has neither closed the connection nor answered and closed it."""
    connection.setblocking(False)
    try:
        while connection.recv(65536):
            pass
        return False  # b"": closed (after an answer, if any)
    except BlockingIOError:
        return True
    except OSError:
        return False


def slowloris_attack(port: int, connections: int = 200, seconds: float = 15.0) -> dict:
    opened = []
    for _ in range(connections):
        slow = socket.create_connection(("127.0.0.1", port), timeout=5)
        slow.sendall(b"GET /v2/_status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        opened.append(slow)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for slow in opened:
            with contextlib.suppress(OSError):
                slow.sendall(b"a")
        time.sleep(1.0)
    still = 0
    for slow in opened:
        still += _still_open(slow)
        slow.close()
    return {"connections": connections, "seconds": seconds, "still_open": still}


def sign_up_victim(port: int) -> None:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/signup")
    answer = connection.getresponse()
    page = answer.read().decode()
    cookie = answer.headers["set-cookie"].split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"email": "victim@example.org", "password": "Tomato-Basil-7",
                                   "password_confirm": "Tomato-Basil-7", "csrf_token": token})
    connection.request("POST", "/signup", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    connection.getresponse().read()
    connection.close()


def _latency(probe: LatencyProbe) -> dict:
    return {"requests": len(probe.samples), "failures": len(probe.failures),
            "p50_ms": round(probe.quantile(0.5) * 1000, 1),
            "p99_ms": round(probe.quantile(0.99) * 1000, 1),
            "max_ms": round(max(probe.samples) * 1000, 1)}


def run(label: str, src: Path | None, args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="hortus-bench-"))
    spool = work / "spool"
    spool.mkdir()
    env = {"TMPDIR": str(spool)}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    served = Served(work / "data", env=env).start()
    print(f"== {label}", flush=True)
    results: dict = {}
    try:
        sign_up_victim(served.port)
        attacks = {
            "header": lambda: header_attack(served.port, args.header_mb),
            "form": lambda: form_attack(served.port, args.form_mb, spool, served.pid),
            "guessing": lambda: guessing_attack(served.port),
            "slowloris": lambda: slowloris_attack(served.port),
        }
        for name, attack in attacks.items():
            if name not in args.only:
                continue
            with LatencyProbe(served.port, pause=0.01) as idle:
                time.sleep(1.0)
            rss_before = served.rss_kib("VmHWM")
            with LatencyProbe(served.port, pause=0.01) as probe:
                outcome = attack()
            rss_after = served.rss_kib("VmHWM")
            results[name] = {"idle": _latency(idle), "attacked": _latency(probe),
                             "outcome": outcome, "peak_rss_mb_before": round(rss_before / 1024),
                             "peak_rss_mb_after": round(rss_after / 1024)}
            print(f"{name:10s} idle: {idle.summary()}\n{'':10s} attacked: {probe.summary()}"
                  f" (failures {len(probe.failures)})\n{'':10s} {outcome}; peak RSS "
                  f"{rss_before / 1024:.0f} -> {rss_after / 1024:.0f} MB",
                  flush=True)
    finally:
        served.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="Source tree (its src/) to compare with.")
    parser.add_argument("--header-mb", type=int, default=96)
    parser.add_argument("--form-mb", type=int, default=300)
    parser.add_argument("--only", nargs="*", default=["header", "form", "guessing",
                                                      "slowloris"])
    parser.add_argument("--out", type=Path, help="Also write the figures as JSON here.")
    args = parser.parse_args()
    os.environ.setdefault("HORTUS_LOAD_STARTER_DATA", "false")
    report: dict = {"run": {"header_mb": args.header_mb, "form_mb": args.form_mb,
                            "cpus": os.cpu_count(),
                            "baseline": str(args.baseline) if args.baseline else None}}
    if args.baseline:
        report["baseline"] = run(f"baseline {args.baseline}", args.baseline, args)
    report["this tree"] = run("this tree", None, args)
    report["run"]["load_average_after"] = round(os.getloadavg()[0], 2)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
