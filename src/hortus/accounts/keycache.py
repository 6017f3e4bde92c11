"""A one-second memory of the API keys a process has looked up.

Every API request authenticates its key. Under load the lookup (an ORM query, in a worker
thread) costs more than all the rest of a request's bookkeeping, and a busy client sends the
same key many times a second. A key found in the database is remembered for :data:`TTL_SECONDS`;
its secret is still checked against the stored digest on every request.

A key revoked, rotated or re-exposed through :mod:`hortus.accounts.service` in this process is
forgotten at once; another process (the ``hortus keys`` command, a second server worker) sees
the change within :data:`TTL_SECONDS`.
"""

from __future__ import annotations

import threading
import time
import weakref

from hortus.accounts.models import ApiKey
from hortus.db import Database

TTL_SECONDS = 1.0
MAX_KEYS = 10_000

_lock = threading.Lock()
_keys: weakref.WeakKeyDictionary[Database, dict[str, tuple[float, ApiKey]]] = (
    weakref.WeakKeyDictionary()
)


def lookup(database: Database, key_id: str) -> ApiKey | None:
    """The remembered key (revoked ones included), or None when not remembered or stale."""
    hit = _keys.get(database, {}).get(key_id)
    if hit is None or now() - hit[0] >= TTL_SECONDS:
        return None
    return hit[1]


def now() -> float:
    """The clock the cache counts in (take it before reading a key: :func:`remember`)."""
    return time.monotonic()


def remember(database: Database, key: ApiKey, read_at: float | None = None) -> None:
    """Remember a key just read from the database (detached, its account loaded).

    ``read_at`` is :func:`now` taken *before* the read began: the key is forgotten
    TTL_SECONDS after that, so a change committed while the read ran is seen within
    TTL_SECONDS of the change, however long the read took."""
    with _lock:
        keys = _keys.setdefault(database, {})
        if len(keys) >= MAX_KEYS:
            keys.clear()
        keys[key.key_id] = (now() if read_at is None else read_at, key)


def forget_all() -> None:
    """Forget every remembered key (a key changed in this process)."""
    with _lock:
        for keys in _keys.values():
            keys.clear()
