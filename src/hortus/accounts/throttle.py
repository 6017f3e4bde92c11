"""Sign-in throttling: growing waits after failed sign-ins, per account and per client address,
and a cap on sign-ups per address.

An account may fail ``free_failures`` sign-ins, then waits 1 s, 2 s, 4 s ... (at most
``max_delay``) before the next try; a client address gets four times the free failures and ten
times the longest wait, which stops one machine spraying guesses over many accounts. While a
wait runs, a sign-in is refused at once (429) without hashing anything: an attacker's guesses
cost the server nothing, and the waits never grow from the refused tries, so the owner is kept
out at most ``max_delay`` after the attacker's last counted guess. A right password clears its
account's count; failures are forgotten after ``FORGET_AFTER`` without any.

The counts live in the database (table ``sign_in_throttle``), not in a process: every worker and
every machine on one PostgreSQL share them, and a restart does not reset them. Subjects are
stored as SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hortus.accounts.models import SignInThrottle
from hortus.config import Settings
from hortus.db import utcnow

ACCOUNT = "account"
ADDRESS = "address"
SIGN_UP = "sign-up"
FORGET_AFTER = timedelta(minutes=15)
SIGN_UP_WINDOW = timedelta(hours=1)
ADDRESS_FREE_FACTOR = 4
ADDRESS_DELAY_FACTOR = 10


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int = 5
    max_delay: float = 60.0
    sign_ups_per_hour: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(free_failures=settings.sign_in_free_failures,
                   max_delay=settings.sign_in_max_delay,
                   sign_ups_per_hour=settings.sign_ups_per_hour)


def penalty(failures: int, *, free: int, cap: float) -> float:
    """Seconds to wait after ``failures`` failures: 0 while free, then 1, 2, 4 ... up to cap."""
    if failures <= free:
        return 0.0
    return float(min(cap, 2 ** min(failures - free - 1, 30)))


class KnownBlocks:
    """The blocks this process has seen, so a refused try needs no database read while its
    wait runs. The database stays the one record: a block set by another process is found there
    on the next try; a right password clears its account's entry here and its row there."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[tuple[str, str], datetime] = {}

    def remember(self, scope: str, subject: str, until: datetime | None) -> None:
        with self._lock:
            if until is None:
                self._until.pop((scope, subject), None)
                return
            if len(self._until) >= self.MAX_ENTRIES:
                now = utcnow()
                self._until = {k: v for k, v in self._until.items() if v > now}
                while len(self._until) >= self.MAX_ENTRIES:
                    self._until.pop(next(iter(self._until)))
            self._until[(scope, subject)] = until

    def wait(self, keys: list[tuple[str, str]], now: datetime) -> float:
        with self._lock:
            untils = [self._until.get(key) for key in keys]
        return max(((u - now).total_seconds() for u in untils if u is not None and u > now),
                   default=0.0)


KNOWN_BLOCKS = KnownBlocks()


def known_wait(*, email: str, address: str, now: datetime | None = None) -> float:
    """The wait this process already knows of for a sign-in (0: ask the database)."""
    return KNOWN_BLOCKS.wait([(ACCOUNT, _digest(email)), (ADDRESS, _digest(address))],
                             now or utcnow())


def _digest(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()


def wait_seconds(*, session: Session, email: str, address: str,
                 now: datetime | None = None) -> float:
    """Seconds before a sign-in for ``email`` from ``address`` may be tried (0: now)."""
    now = now or utcnow()
    rows = session.scalars(select(SignInThrottle).where(or_(
        and_(SignInThrottle.scope == ACCOUNT, SignInThrottle.subject == _digest(email)),
        and_(SignInThrottle.scope == ADDRESS, SignInThrottle.subject == _digest(address)),
    )))
    waits = [0.0]
    for row in rows:
        if row.blocked_until is not None and row.blocked_until > now:
            KNOWN_BLOCKS.remember(row.scope, row.subject, row.blocked_until)
            waits.append((row.blocked_until - now).total_seconds())
    return max(waits)


def _locked_row(session: Session, scope: str, subject: str, now: datetime) -> SignInThrottle:
    """The row of (scope, subject), created when missing, locked for this transaction."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(SignInThrottle).values(
        scope=scope, subject=subject, failures=0, window_start=now, last_at=now,
    ).on_conflict_do_nothing())
    return session.scalars(
        select(SignInThrottle).where(SignInThrottle.scope == scope,
                                     SignInThrottle.subject == subject)
        .with_for_update().execution_options(populate_existing=True)
    ).one()


def record_failure(*, session: Session, policy: ThrottlePolicy, email: str, address: str,
                   now: datetime | None = None) -> float:
    """Count a failed sign-in against the account and the address (in a write transaction);
    returns the wait it imposes."""
    now = now or utcnow()
    longest = 0.0
    for scope, subject, free, cap in (
        (ACCOUNT, email, policy.free_failures, policy.max_delay),
        (ADDRESS, address, policy.free_failures * ADDRESS_FREE_FACTOR,
         policy.max_delay * ADDRESS_DELAY_FACTOR),
    ):
        row = _locked_row(session, scope, _digest(subject), now)
        if now - row.last_at > FORGET_AFTER:
            row.failures, row.window_start = 0, now
        row.failures += 1
        row.last_at = now
        delay = penalty(row.failures, free=free, cap=cap)
        row.blocked_until = now + timedelta(seconds=delay) if delay else None
        KNOWN_BLOCKS.remember(scope, row.subject, row.blocked_until)
        longest = max(longest, delay)
    session.flush()
    return longest


def record_success(*, session: Session, email: str) -> None:
    """A right password: the account's failures are forgotten (the address's are not)."""
    KNOWN_BLOCKS.remember(ACCOUNT, _digest(email), None)
    row = session.get(SignInThrottle, (ACCOUNT, _digest(email)))
    if row is not None:
        session.delete(row)
        session.flush()


def take_sign_up(*, session: Session, policy: ThrottlePolicy, address: str,
                 now: datetime | None = None) -> float:
    """Count one sign-up from ``address`` (in a write transaction). Returns 0 when it may go
    ahead, else the seconds until the address may sign up again (nothing counted)."""
    now = now or utcnow()
    row = _locked_row(session, SIGN_UP, _digest(address), now)
    if now - row.window_start >= SIGN_UP_WINDOW:
        row.failures, row.window_start = 0, now
    if row.failures >= policy.sign_ups_per_hour:
        return max(1.0, math.ceil((row.window_start + SIGN_UP_WINDOW - now).total_seconds()))
    row.failures += 1
    row.last_at = now
    session.flush()
    return 0.0
