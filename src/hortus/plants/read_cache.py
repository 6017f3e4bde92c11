"""Encoded plant objects of a SQLite knowledge base, kept while the database is unchanged.

``GET /api/plants/{id}`` is the busiest plant read, and a plain lookup; reading it through
SQLAlchemy (a connection, a transaction, two statements, the model) costs several times the
rest of the request. So a process keeps the JSON it last answered for a plant, and answers it
again **only while the database file has not changed since it was read**: SQLite's ``PRAGMA
data_version``, asked on a connection of the cache's own that never writes, changes whenever
any other connection — of this process or of any other process on the same file — commits a
change (to any table). Every commit anywhere therefore makes every entry stale: an entry is
never served after a change it could miss, there is no time window. A plant is answered from
memory between two commits, and read again after each.

The version is read before the plant is, so an entry whose read raced with a commit is stored
under the version before that commit, and is read again at its next use.

PostgreSQL has no such counter (a round trip to learn whether anything changed would cost what
reading the plant costs), so there the plant is read every time.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Hashable

from sqlalchemy.engine import make_url

from hortus.db import Database

MAX_ENTRIES = 4096  # about 1-2 KB each; past this the cache starts again empty


class PlantReadCache:
    """Encoded answers by key (plant id and the base URL it was answered on), each with the
    ``data_version`` of the database when it was read."""

    def __init__(self, path: str, max_entries: int = MAX_ENTRIES) -> None:
        # Autocommit: each PRAGMA is its own read transaction, which is what refreshes the
        # counter from the write-ahead log.
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[int, bytes]] = {}
        self.max_entries = max_entries
        self.hits = self.misses = 0  # answers from memory, and reads

    @classmethod
    def for_database(cls, database: Database) -> PlantReadCache | None:
        """The cache of a SQLite database on disk; None for PostgreSQL or an in-memory one."""
        path = make_url(database.url).database
        if not database.is_sqlite or not path or path == ":memory:":
            return None
        return cls(path)

    def version(self) -> int:
        """The database's change counter as this cache sees it now."""
        with self._lock:
            row = self._connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def fetch(self, key: Hashable, read: Callable[[], bytes]) -> bytes:
        """The answer for ``key``: from memory when nothing was committed since it was read,
        else ``read()`` (which may raise: nothing is stored then)."""
        version = self.version()
        hit = self._entries.get(key)
        if hit is not None and hit[0] == version:
            self.hits += 1
            return hit[1]
        self.misses += 1
        body = read()
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (version, body)
        return body

    def close(self) -> None:
        with self._lock:
            self._entries.clear()
            self._connection.close()
