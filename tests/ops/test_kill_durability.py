"""kill -9 in the middle of writes: after a restart, every write the API acknowledged is there
and the SQLite database passes ``PRAGMA integrity_check``."""

from __future__ import annotations

import http.client
import json
import signal
import sqlite3
import threading
import time

from tests.conftest import make_key, permapeople_headers
from tests.server.serve_support import get

from hortus.config import Settings

WRITERS = 4


def _create(port: int, headers: dict[str, str], name: str) -> int | None:
    """POST one plant; its id when the server acknowledged it (201), else None."""
    body = json.dumps({"scientific_name": f"Testus {name}", "name": name, "note": "kill test"})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/api/plants", body=body,
                           headers={**headers, "Content-Type": "application/json"})
        answer = connection.getresponse()
        data = answer.read()
        return json.loads(data)["id"] if answer.status == 201 else None
    except (OSError, http.client.HTTPException, ValueError):
        return None  # cut off by the kill: not acknowledged
    finally:
        connection.close()


def test_acknowledged_writes_survive_sigkill(serve) -> None:
    served = serve()
    key = make_key(Settings(data_dir=served.data_dir, environment="test"))
    headers = permapeople_headers(key)
    acknowledged: dict[int, str] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def write(writer: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            name = f"w{writer}n{n}"
            plant_id = _create(served.port, headers, name)
            if plant_id is not None:
                with lock:
                    acknowledged[plant_id] = name

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    served.process.send_signal(signal.SIGKILL)  # mid-write: the writers are still going
    served.process.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(acknowledged) >= 40

    database = served.data_dir / "hortus.db"
    with sqlite3.connect(database) as connection:  # what a restart finds (the WAL replayed)
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    served.start()  # and the server comes back on it
    for plant_id, name in acknowledged.items():
        status, body = get(served.port, f"/api/plants/{plant_id}", headers=headers)
        assert status == 200 and json.loads(body)["name"] == name, (plant_id, status, body[:200])
