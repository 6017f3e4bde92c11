"""Password checking and hashing run outside any database transaction.

A sign-in reads the stored hash, closes that read, checks the password, and only then opens its
write transaction; a stored hash with older parameters is hashed again before that write, not
in it. These tests watch the database while a sign-in runs, on a real SQLite file and a real
PostgreSQL server:

* SQLite: from another connection, a checkpoint that resets the WAL (``wal_checkpoint
  (TRUNCATE)``) cannot finish while any connection holds a read snapshot; and the sign-in's own
  transactions (SQLAlchemy's connection events) each last less than one password hash, so none
  holds the write lock every quota count needs while hashing;
* PostgreSQL: ``pg_stat_activity`` shows a connection ``idle in transaction`` while it holds a
  transaction open doing nothing in the database (hashing, say).

The stored hash is made slow to check (argon2id with 10 passes instead of 2, ~0.2 s) and, as a
hash with older parameters, is hashed again at sign-in: a sign-in takes long enough to watch.
"""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from hortus.accounts import passwords, signin
from hortus.accounts import service as accounts
from hortus.accounts.throttle import ThrottlePolicy
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.db import Database

pytestmark = pytest.mark.alone  # it times a password hash against a database lock

EMAIL = "rose@example.org"
PASSWORD = "Tomato-Basil-7"
# Older, slower parameters than the current ones: checking takes ~0.2 s, and the sign-in
# hashes the password again with the current parameters.
OLD_HASHER = PasswordHasher(time_cost=10, memory_cost=19456, parallelism=1)
SIGN_IN_THREAD = "signing-in"


def _account_with_old_hash(database: Database) -> None:
    with database.write() as session:
        account = accounts.get_or_create_account(session=session, email=EMAIL)
        account.password_hash = OLD_HASHER.hash(PASSWORD)


def _sign_in_while(database: Database, watch: Callable[[], None]) -> signin.SignedIn:
    """Sign in (in a thread) and call ``watch()`` again and again until it has ended."""
    outcome: list[object] = []

    def sign_in() -> None:
        outcome.append(signin.sign_in(database=database, policy=ThrottlePolicy(), email=EMAIL,
                                      password=PASSWORD, address="192.0.2.7", old_token=None))

    worker = threading.Thread(target=sign_in, name=SIGN_IN_THREAD)
    worker.start()
    while worker.is_alive():
        watch()
        time.sleep(0.002)
    worker.join()
    assert isinstance(outcome[0], signin.SignedIn), outcome
    return outcome[0]


def _rehashed(database: Database) -> bool:
    """Whether the stored hash now has the current parameters (and still checks)."""
    with database.read() as session:
        account = accounts.get_account(session=session, email=EMAIL)
        assert account is not None and account.password_hash
        stored = account.password_hash
    return passwords.verify_password(PASSWORD, stored) and not passwords.needs_rehash(stored)


def _hash_seconds() -> float:
    """How long one password hash takes on this machine now (median of three)."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        passwords.hash_password(PASSWORD)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _transactions(database: Database, thread: str) -> list[float]:
    """Seconds each transaction the named thread opens on ``database`` stays open (filled in
    as they end), seen through SQLAlchemy's connection events."""
    spans: list[float] = []
    began: dict[int, float] = {}

    def begin(connection) -> None:  # type: ignore[no-untyped-def]
        if threading.current_thread().name == thread:
            began[id(connection)] = time.perf_counter()

    def end(connection) -> None:  # type: ignore[no-untyped-def]
        started = began.pop(id(connection), None)
        if started is not None:
            spans.append(time.perf_counter() - started)

    event.listen(database.engine, "begin", begin)
    event.listen(database.engine, "commit", end)
    event.listen(database.engine, "rollback", end)
    return spans


def test_sqlite_sign_in_holds_no_snapshot_and_no_lock_while_hashing(settings: Settings) -> None:
    database = prepare_database(settings)
    try:
        _account_with_old_hash(database)
        hash_seconds = _hash_seconds()
        transactions = _transactions(database, SIGN_IN_THREAD)
        # Another process's connection: no busy wait, so a held lock or snapshot shows at once.
        probe = sqlite3.connect(settings.data_dir / "hortus.db", timeout=0,
                                isolation_level=None)
        probe.execute("CREATE TABLE probe_writes (n INTEGER)")
        checkpoints: list[bool] = []  # True: a snapshot kept the WAL from being reset

        def watch() -> None:
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("INSERT INTO probe_writes VALUES (1)")  # a frame in the WAL
                probe.execute("COMMIT")
            except sqlite3.OperationalError as exc:  # the sign-in is writing: fine, briefly
                assert "locked" in str(exc)
                return
            busy = probe.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            checkpoints.append(bool(busy))

        _sign_in_while(database, watch)
        probe.close()
        assert _rehashed(database)
    finally:
        database.dispose()

    # Checking the password takes most of the sign-in (~0.2 s): had it run inside a read
    # transaction, nearly every checkpoint would have found that snapshot.
    assert len(checkpoints) >= 10, checkpoints  # 12 on a loaded 2-core machine, 20+ when quiet
    pinned = sum(checkpoints) / len(checkpoints)
    assert pinned < 0.3, f"{pinned:.0%} of {len(checkpoints)} checkpoints blocked by a reader"
    # Every transaction of the sign-in (the read of the hash, the write of the session and the
    # new hash) is a few statements: none lasts twice as long as one hash (a margin for a
    # loaded machine's scheduling), let alone the ~0.2 s check that used to run inside one.
    assert len(transactions) >= 2, transactions
    assert max(transactions) < 2 * hash_seconds, (
        f"a transaction stayed open {max(transactions) * 1000:.1f} ms; one hash takes "
        f"{hash_seconds * 1000:.1f} ms")


@pytest.mark.postgres
def test_postgresql_sign_in_is_never_idle_in_a_transaction(postgres_settings: Settings) -> None:
    database = prepare_database(postgres_settings)
    url = make_url(postgres_settings.sqlalchemy_url)
    observer = create_engine(url, isolation_level="AUTOCOMMIT")
    samples: list[int] = []
    try:
        _account_with_old_hash(database)
        with observer.connect() as connection:
            def watch() -> None:
                samples.append(int(connection.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
                )).scalar_one()))

            _sign_in_while(database, watch)
        assert _rehashed(database)
    finally:
        observer.dispose()
        database.dispose()
    assert len(samples) >= 20, samples
    idle = sum(1 for n in samples if n) / len(samples)
    assert idle < 0.3, f"a transaction sat idle during {idle:.0%} of {len(samples)} samples"


def test_new_password_hashes_are_made_before_the_transaction(settings: Settings) -> None:
    """``hortus accounts create`` and ``set-password`` hash first, then write."""
    database = prepare_database(settings)
    try:
        password_hash = accounts.new_password_hash(email="new@example.org", password=PASSWORD)
        with database.write() as session:
            account = accounts.sign_up(session=session, email="New@Example.org",
                                       password_hash=password_hash)
            assert account.email == "new@example.org"
        with database.read() as session:
            stored = accounts.stored_password(session=session, email="new@example.org")
        assert stored is not None and passwords.verify_password(PASSWORD, stored.password_hash)
        with database.read() as session:
            assert accounts.stored_password(session=session, email="not an address") is None
            assert accounts.stored_password(session=session, email="nobody@example.org") is None
    finally:
        database.dispose()


def _sign_in(database: Database, password: str = PASSWORD) -> object:
    return signin.sign_in(database=database, policy=ThrottlePolicy(), email=EMAIL,
                          password=password, address="192.0.2.7", old_token=None)


def test_a_hash_changed_while_a_password_is_checked_is_checked_again(
        settings: Settings) -> None:
    """Checking outside the transaction, the stored hash may change before the write: two
    sign-ins at once to an account with an old hash both succeed (the second checks the
    first's new hash), and a password changed meanwhile refuses the old one."""
    database = prepare_database(settings)
    try:
        _account_with_old_hash(database)
        outcomes: list[object] = []
        both = [threading.Thread(target=lambda: outcomes.append(_sign_in(database)))
                for _ in range(2)]
        for thread in both:
            thread.start()
        for thread in both:
            thread.join()
        assert all(isinstance(o, signin.SignedIn) for o in outcomes), outcomes
        assert _rehashed(database)

        _account_with_old_hash(database)
        new_hash = accounts.new_password_hash(email=EMAIL, password="Another-Garden-8")
        late: list[object] = []
        worker = threading.Thread(target=lambda: late.append(_sign_in(database)))
        worker.start()
        time.sleep(0.05)  # the old password is being checked (~0.2 s)
        with database.write() as session:
            account = accounts.require_account(session=session, email=EMAIL)
            accounts.set_password(session=session, account=account, password_hash=new_hash)
        worker.join()
        assert late == [None]
        assert isinstance(_sign_in(database, "Another-Garden-8"), signin.SignedIn)
    finally:
        database.dispose()
