"""Plant-database quota metering in blocks: leased from the database, counted in memory.

Identification and diagnosis take every unit with one atomic statement
(:func:`hortus.accounts.quotas.consume`); their requests cost tens of milliseconds of inference,
so the statement is noise. A plant-database read costs a fraction of a millisecond, and the same
write on every read would be most of its cost (and, on SQLite, every read of every worker would
queue for the one write lock). So each process **leases** units of an account's daily quota:

* A lease is the same atomic statement, taking ``n`` units at once: the counter in the database
  counts units served *and* units leased, and the statement never lets it pass the limit. Units
  are served from memory until the lease runs out, then the next lease is taken. **Nothing can
  be served beyond the limit**, by any number of processes on one database: every unit served
  was counted in the database before it was served (over-spend bound: zero).
* **Block size**: the first lease of a period is one unit (it tells the limit and the count);
  each lease that runs out doubles the next (slow start), at most :data:`MAX_BLOCK`, and never
  more than 1/:data:`LEASE_SHARE` of what the database has left, so the last
  :data:`LEASE_SHARE` x 2 units of a quota are taken one at a time, exactly as identification
  takes them. A lease that cannot be granted in full is retried as one unit.
* **Flush**: every :data:`FLUSH_SECONDS` a thread gives the units in hand back to the database
  (one ``UPDATE`` per account) and sizes the next lease after the rate just seen (a quarter of
  the units served in the interval). On shutdown (the app's lifespan) the same happens once
  more. A process that dies without shutting down loses its units in hand for the rest of the
  day: at most :data:`MAX_BLOCK` per process and account, counted as used, never served.
* **Refunds** (a request that fails gives its unit back) go to the units in hand: no write.

What this costs in exactness, and for how long:

* Usage shown to the account (``usage_summary``, the RateLimit headers of other processes) can
  count units leased and not yet served: at most :data:`MAX_BLOCK` per process serving the
  account, and none :data:`FLUSH_SECONDS` after its last request.
* Another process can refuse (429) while a process holds units of the same account: only when
  the database has fewer than ``LEASE_SHARE`` x 2 units left, and for at most
  :data:`FLUSH_SECONDS` (the holder gives them back at its next flush).
* A lowered limit (``hortus keys`` quota, an override set to 0) binds a process once its units
  in hand are served or given back: within :data:`FLUSH_SECONDS`.
* The RateLimit headers a process sends count its own units exactly and the other processes'
  as of its last lease.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool

from hortus.accounts import quotas
from hortus.config import Settings
from hortus.db import Database
from hortus.errors import QuotaExceeded

logger = logging.getLogger("hortus")

MAX_BLOCK = 100  # units one lease may take
LEASE_SHARE = 16  # a lease takes at most 1/LEASE_SHARE of what the database has left
FLUSH_SECONDS = 1.0  # units in hand go back to the database this often


@dataclass(frozen=True)
class Charge:
    """One unit taken for one request: its account, the period it counts in, and where the
    quota stands after it (for the RateLimit headers)."""

    account_id: int
    state: quotas.QuotaState


@dataclass
class _Account:
    """One account's units in this process."""

    account_id: int
    period: quotas.Period | None = None  # the period the units in hand count in
    period_end: float = 0.0  # its end, in clock seconds
    in_hand: int = 0  # units counted in the database and not served yet
    limit: int = 0  # the limit, as the last lease saw it
    counted: int = 0  # the database's counter, as this process last saw or changed it
    served: int = 0  # units served since the last flush
    block: int = 1  # the size of the next lease
    waiters: int = 0  # requests waiting for a lease (the entry is kept while any waits)
    refilling: asyncio.Lock = field(default_factory=asyncio.Lock)

    def state(self, api: str) -> quotas.QuotaState:
        assert self.period is not None
        remaining = max(0, self.limit - self.counted + self.in_hand)
        return quotas.quota_state(api=api, limit=self.limit, used=self.limit - remaining,
                                  period=self.period)


class QuotaMeter:
    """Leases of one API's quota for the accounts a process serves (see the module docstring).

    :meth:`charge` and :meth:`refund` are called on the event loop; leases and flushes write
    in worker threads. ``clock`` (seconds since the epoch) is there for tests.
    """

    def __init__(self, *, database: Database, settings: Settings, api: str = quotas.API_PLANTS,
                 flush_seconds: float = FLUSH_SECONDS, max_block: int = MAX_BLOCK,
                 clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.settings = settings
        self.api = api
        self.flush_seconds = flush_seconds
        self.max_block = max_block
        self.clock = clock
        self._accounts: dict[int, _Account] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    # -- serving ---------------------------------------------------------------------------

    async def charge(self, account_id: int) -> Charge:
        """Take one unit for a request, from memory when units are in hand, else from a new
        lease (in a worker thread; one lease at a time per account). QuotaExceeded (429) when
        the database has none left."""
        with self._lock:
            account = self._accounts.get(account_id)
            if account is None:
                account = self._accounts[account_id] = _Account(account_id)
            charge = self._take_in_hand(account)
            if charge is not None:
                return charge
            account.waiters += 1
        try:
            async with account.refilling:
                with self._lock:
                    charge = self._take_in_hand(account)
                if charge is not None:
                    return charge
                return await run_in_threadpool(self._lease, account)
        finally:
            with self._lock:
                account.waiters -= 1

    async def refund(self, charge: Charge) -> quotas.QuotaState:
        """Give back the unit of a request that failed: to the units in hand when they count
        in the same period, else to the database (the period has turned since)."""
        with self._lock:
            account = self._accounts.get(charge.account_id)
            if (account is not None and account.period is not None
                    and account.period.key == charge.state.period_start):
                account.in_hand += 1
                account.served = max(0, account.served - 1)
                return account.state(self.api)
        return await run_in_threadpool(
            lambda: quotas.refund(database=self.database, settings=self.settings,
                                  account_id=charge.account_id, api=self.api,
                                  charged=charge.state))

    def _take_in_hand(self, account: _Account) -> Charge | None:
        """A unit from memory, or None (none in hand, or they count in a past period). Called
        with the lock held."""
        if account.in_hand < 1 or self.clock() >= account.period_end:
            return None
        account.in_hand -= 1
        account.served += 1
        return Charge(account_id=account.account_id, state=account.state(self.api))

    def _lease(self, account: _Account) -> Charge:
        """Lease units from the database and serve one of them (in a worker thread)."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        period = quotas.period_for(self.api, now)
        with self._lock:
            stale = account.period is not None and account.period.key != period.key
            leftover, past = (account.in_hand, account.period) if stale else (0, None)
            if stale or account.period is None:
                account.period, account.period_end = period, period.end.timestamp()
                account.in_hand, account.limit, account.counted = 0, 0, 0
                account.block = 1
            amount = self._lease_size(account)
        if leftover and past is not None:
            self._give_back(account.account_id, past, leftover)
        state, taken = self._take(account.account_id, amount, now)
        with self._lock:
            account.limit, account.counted = state.limit, state.used
            account.in_hand += taken - 1
            account.served += 1
            if taken == account.block:  # the last lease ran out and this one was granted in
                account.block = min(account.block * 2, self.max_block)  # full: slow start
            return Charge(account_id=account.account_id, state=account.state(self.api))

    def _lease_size(self, account: _Account) -> int:
        """Units the next lease asks for (lock held): one while the limit is unknown, else the
        block, at most MAX_BLOCK and 1/LEASE_SHARE of what the database has left."""
        if account.limit <= 0:
            return 1
        left = account.limit - account.counted
        return max(1, min(account.block, self.max_block, left // LEASE_SHARE))

    def _take(self, account_id: int, amount: int,
              now: datetime) -> tuple[quotas.QuotaState, int]:
        """``amount`` units, or one when the database has fewer than ``amount`` left (the
        statement takes all or nothing); QuotaExceeded when it has none. Returns where the
        counter stands after, and the units taken."""
        if amount > 1:
            try:
                return quotas.consume(database=self.database, settings=self.settings,
                                      account_id=account_id, api=self.api, amount=amount,
                                      now=now), amount
            except QuotaExceeded:
                pass
        return quotas.consume(database=self.database, settings=self.settings,
                              account_id=account_id, api=self.api, amount=1, now=now), 1

    # -- giving back -------------------------------------------------------------------------

    def flush(self) -> int:
        """Give every account's units in hand back to the database; size the next leases
        after the rate seen since the last flush. Returns the units given back."""
        returns: list[tuple[int, quotas.Period, int]] = []
        with self._lock:
            for account_id, account in list(self._accounts.items()):
                if account.in_hand and account.period is not None:
                    returns.append((account_id, account.period, account.in_hand))
                    account.counted -= account.in_hand
                    account.in_hand = 0
                account.block = max(1, min(self.max_block, account.served // 4))
                idle = not account.served and not account.waiters
                account.served = 0
                if idle and not account.refilling.locked():
                    del self._accounts[account_id]
        given = 0
        for account_id, period, units in returns:
            try:
                self._give_back(account_id, period, units)
                given += units
            except Exception:  # noqa: BLE001 - keep them in hand and try again next time
                logger.exception("Could not give back %d %s units of account %s", units,
                                 self.api, account_id)
                self._keep(account_id, period, units)
        return given

    def _give_back(self, account_id: int, period: quotas.Period, units: int) -> None:
        quotas.refund(database=self.database, settings=self.settings, account_id=account_id,
                      api=self.api, amount=units,
                      charged=quotas.quota_state(api=self.api, limit=0, used=0, period=period))

    def _keep(self, account_id: int, period: quotas.Period, units: int) -> None:
        with self._lock:
            account = self._accounts.setdefault(account_id, _Account(account_id))
            if account.period is None:
                account.period, account.period_end = period, period.end.timestamp()
            if account.period.key == period.key:
                account.in_hand += units
                account.counted += units

    # -- lifetime ----------------------------------------------------------------------------

    def start(self) -> QuotaMeter:
        """Start the flushing thread; returns the meter."""
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._run, name=f"hortus-{self.api}-meter",
                                             daemon=True)
            self._flusher.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the next flush tries again
                logger.exception("The %s quota flush failed", self.api)

    def close(self) -> int:
        """Stop flushing and give back every unit in hand (the server is stopping). Returns the
        units given back."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=max(5.0, 2 * self.flush_seconds))
            self._flusher = None
        return self.flush()

    def in_hand(self, account_id: int) -> int:
        """Units of the account this process holds and has not served (for tests and the
        operations page)."""
        with self._lock:
            account = self._accounts.get(account_id)
            return account.in_hand if account is not None else 0


def open_plant_meter(*, database: Database, settings: Settings) -> QuotaMeter:
    """The plant-database meter of a server process, flushing (the app's lifespan closes it)."""
    return QuotaMeter(database=database, settings=settings, api=quotas.API_PLANTS).start()
