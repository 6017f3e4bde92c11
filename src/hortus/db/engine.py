"""Engine and session factory for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar, Token
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_write_intent: ContextVar[bool] = ContextVar("hortus_write_intent", default=False)


SQLITE_SYNCHRONOUS = ("NORMAL", "FULL")


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SQLITE_SYNCHRONOUS}, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy manage transactions ourselves (pysqlite's implicit BEGIN is deferred,
        # which turns concurrent read-then-write into "database is locked" instead of waiting).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL (WAL): a commit is durable against a crash of the process, not of the machine:
        # a power cut can lose the last commits (never corrupts). FULL syncs every commit.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # IMMEDIATE takes the write lock up front: writers queue on busy_timeout, never deadlock.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


class Database:
    """One engine and its session factory. ``dialect`` is ``"sqlite"`` or ``"postgresql"``."""

    def __init__(self, url: str, *, echo: bool = False, sqlite_synchronous: str = "NORMAL") -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, object] = {"echo": echo, "future": True}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            kwargs["pool_size"] = 20
            kwargs["max_overflow"] = 40
        else:
            kwargs["pool_size"] = 10
            kwargs["max_overflow"] = 40
            kwargs["pool_pre_ping"] = True
        self.engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine, sqlite_synchronous)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Writers of this process queue on a lock, and the
        # next one starts the moment the last commits; left to SQLite, a waiting writer polls
        # in sleeps of 1 to 100 ms (its busy handler). Other processes still meet the busy
        # timeout.
        self._writer = threading.Lock() if self.dialect == "sqlite" else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def session(self) -> Session:
        """A new session for reads (and writes that tolerate SQLite's deferred locking)."""
        return self._sessions()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads; closed at the end."""
        session = self._sessions()
        try:
            yield session
        finally:
            session.close()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that writes: committed on success, rolled back on error.

        On SQLite it starts with ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy
        timeout instead of failing on lock upgrade; on PostgreSQL it is an ordinary transaction.
        """
        with self._writer or nullcontext():
            yield from self._write()

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """Like :meth:`write`, on a Core connection: for hot single statements, where an ORM
        session's bookkeeping would cost more than the statement."""
        with self._writer or nullcontext():
            token = _write_intent.set(True)
            try:
                with self.engine.begin() as connection:
                    yield connection
            finally:
                _write_intent.reset(token)

    def _write(self) -> Iterator[Session]:
        token: Token[bool] | None = _write_intent.set(True)
        session = self._sessions()
        try:
            with session.begin():
                session.connection()  # opens the transaction now, while the intent is set
                _write_intent.reset(token)  # type: ignore[arg-type]
                token = None
                yield session
        finally:
            if token is not None:
                _write_intent.reset(token)
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
