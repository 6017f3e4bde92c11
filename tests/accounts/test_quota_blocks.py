"""Plant-database quota leases (hortus.accounts.metering) on real SQLite and PostgreSQL.

A meter leases units of an account's daily quota from the database in blocks and serves them
from memory. What must hold, whatever the interleaving: no unit is ever served past the limit
(every unit served was counted in the database first), units in hand go back to the database
at every flush and at close, a refund costs no write, the last units of a quota are taken one
at a time, and units leased on one day never serve another.

Several processes sharing one database are real processes (``spawn``), each with its own meter.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.synchronize
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from hortus.accounts import quotas, service
from hortus.accounts.metering import LEASE_SHARE, MAX_BLOCK, QuotaMeter
from hortus.accounts.models import UsageCounter
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.db import Database
from hortus.errors import QuotaExceeded

NEVER = 3600.0  # a flush interval no test waits for: flushes are called by hand


@pytest.fixture
def metered(any_settings: Settings) -> Iterator[tuple[Settings, Database]]:
    database = prepare_database(any_settings)
    yield any_settings, database
    database.dispose()


def _account(database: Database, limit: int, email: str = "reader@example.org") -> int:
    """An account whose plant-database limit is ``limit`` a day."""
    with database.write() as session:
        account = service.get_or_create_account(session=session, email=email)
        quotas.set_limits(session=session, account_id=account.id,
                          limits={quotas.API_PLANTS: limit})
        return account.id


def _counted(database: Database, account_id: int, day: str | None = None) -> int:
    """The account's plant-database counter in the database (today's, or ``day``'s)."""
    key = day or quotas.period_for(quotas.API_PLANTS).key
    with database.read() as session:
        return session.scalar(select(UsageCounter.count).where(
            UsageCounter.account_id == account_id, UsageCounter.api == quotas.API_PLANTS,
            UsageCounter.period_start == key)) or 0


def _charges(meter: QuotaMeter, account_id: int, count: int) -> list[quotas.QuotaState]:
    async def run() -> list[quotas.QuotaState]:
        return [(await meter.charge(account_id)).state for _ in range(count)]
    return asyncio.run(run())


def test_units_are_served_from_leases_and_every_one_is_counted(
        metered: tuple[Settings, Database]) -> None:
    settings, database = metered
    account_id = _account(database, 10_000)
    meter = QuotaMeter(database=database, settings=settings, flush_seconds=NEVER)
    states = _charges(meter, account_id, 50)
    in_hand = meter.in_hand(account_id)
    # Leases grew 1, 2, 4, 8, 16, 32: 63 units counted, 50 served, 13 in hand.
    assert in_hand == 13
    assert _counted(database, account_id) == 50 + in_hand
    # The RateLimit state of each answer counts this process's units exactly.
    assert [s.remaining for s in states] == list(range(9_999, 9_949, -1))
    assert states[-1].limit == 10_000 and states[-1].period == "day"
    assert meter.flush() == in_hand
    assert meter.in_hand(account_id) == 0
    assert _counted(database, account_id) == 50
    usage = quotas.peek(database=database, settings=settings, account_id=account_id,
                        api=quotas.API_PLANTS)
    assert (usage.used, usage.remaining) == (50, 9_950)
    # The next lease is sized after the rate seen (a quarter of 50), not from one again.
    _charges(meter, account_id, 1)
    assert meter.in_hand(account_id) == 12 - 1


def test_a_lease_never_takes_more_than_the_block_limit(metered: tuple[Settings, Database]
                                                       ) -> None:
    settings, database = metered
    account_id = _account(database, 1_000_000)
    meter = QuotaMeter(database=database, settings=settings, flush_seconds=NEVER)
    _charges(meter, account_id, 1_000)
    assert 0 <= meter.in_hand(account_id) < MAX_BLOCK
    assert _counted(database, account_id) - 1_000 == meter.in_hand(account_id)


def test_the_last_units_are_taken_one_at_a_time_and_never_past_the_limit(
        metered: tuple[Settings, Database]) -> None:
    settings, database = metered
    limit = 100
    account_id = _account(database, limit)
    meter = QuotaMeter(database=database, settings=settings, flush_seconds=NEVER)
    in_hand_seen: list[int] = []

    async def request() -> bool:
        try:
            charge = await meter.charge(account_id)
        except QuotaExceeded as exc:
            assert exc.limit == limit and exc.api == quotas.API_PLANTS
            return False
        in_hand_seen.append(meter.in_hand(account_id))
        left = limit - charge.state.used
        assert charge.state.remaining >= 0 and left >= 0
        return True

    async def run() -> list[bool]:
        return list(await asyncio.gather(*(request() for _ in range(150))))

    served = asyncio.run(run())
    assert served.count(True) == limit and served.count(False) == 50
    assert _counted(database, account_id) == limit
    assert meter.in_hand(account_id) == 0
    # No lease ever took more than 1/LEASE_SHARE of what was left, so the last units were
    # taken one at a time: none was ever in hand while they were served.
    assert max(in_hand_seen) < limit // LEASE_SHARE
    assert in_hand_seen[-LEASE_SHARE:] == [0] * LEASE_SHARE


def test_a_refund_goes_back_in_hand_and_the_next_flush_returns_it(
        metered: tuple[Settings, Database]) -> None:
    settings, database = metered
    account_id = _account(database, 10)
    meter = QuotaMeter(database=database, settings=settings, flush_seconds=NEVER)

    async def run() -> tuple[quotas.QuotaState, quotas.QuotaState]:
        charge = await meter.charge(account_id)
        return charge.state, await meter.refund(charge)

    charged, refunded = asyncio.run(run())
    assert (charged.remaining, refunded.remaining) == (9, 10)
    assert meter.in_hand(account_id) == 1 and _counted(database, account_id) == 1
    meter.flush()
    assert meter.in_hand(account_id) == 0 and _counted(database, account_id) == 0


def test_close_gives_back_every_unit_in_hand(metered: tuple[Settings, Database]) -> None:
    settings, database = metered
    account_id = _account(database, 5_000)
    other_id = _account(database, 5_000, email="other@example.org")
    meter = QuotaMeter(database=database, settings=settings, flush_seconds=NEVER).start()
    _charges(meter, account_id, 30)
    _charges(meter, other_id, 7)
    held = meter.in_hand(account_id) + meter.in_hand(other_id)
    assert held > 0
    assert meter.close() == held
    assert (_counted(database, account_id), _counted(database, other_id)) == (30, 7)


def test_the_flushing_thread_gives_units_back_on_its_own(metered: tuple[Settings, Database]
                                                         ) -> None:
    settings, database = metered
    account_id = _account(database, 5_000)
    meter = QuotaMeter(database=database, settings=settings, flush_seconds=0.2).start()
    try:
        _charges(meter, account_id, 40)
        deadline = time.monotonic() + 10
        while _counted(database, account_id) != 40:
            assert time.monotonic() < deadline, "the units in hand never went back"
            time.sleep(0.05)
        assert meter.in_hand(account_id) == 0
    finally:
        meter.close()


def test_units_leased_on_one_day_go_back_to_that_day(metered: tuple[Settings, Database]
                                                     ) -> None:
    settings, database = metered
    account_id = _account(database, 10_000)
    now = [datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC).timestamp()]
    meter = QuotaMeter(database=database, settings=settings, flush_seconds=NEVER,
                       clock=lambda: now[0])
    late = _charges(meter, account_id, 10)
    assert late[-1].reset_seconds(datetime.fromtimestamp(now[0], UTC)) == 1
    assert meter.in_hand(account_id) == 5  # leases of 1, 2, 4, 8: 15 counted on March 31st
    now[0] += 1  # midnight: the units in hand count in a day that is over
    early = _charges(meter, account_id, 1)
    assert early[0].period_start == "2026-04-01" and early[0].remaining == 9_999
    assert _counted(database, account_id, "2026-03-31") == 10
    assert _counted(database, account_id, "2026-04-01") == 1
    # A refund of a unit charged before midnight goes to March 31st, not to the units in hand.
    charge_before = late[-1]

    async def refund_late() -> quotas.QuotaState:
        from hortus.accounts.metering import Charge
        return await meter.refund(Charge(account_id=account_id, state=charge_before))

    assert asyncio.run(refund_late()).period_start == "2026-03-31"
    assert _counted(database, account_id, "2026-03-31") == 9
    assert meter.in_hand(account_id) == 0


def test_a_lowered_limit_binds_once_the_units_in_hand_are_back(
        metered: tuple[Settings, Database]) -> None:
    settings, database = metered
    account_id = _account(database, 10_000)
    meter = QuotaMeter(database=database, settings=settings, flush_seconds=NEVER)
    _charges(meter, account_id, 40)
    held = meter.in_hand(account_id)
    assert held == 23  # leases of 1, 2, 4, 8, 16 and 32 units
    with database.write() as session:  # the operator lowers the limit to what was served
        quotas.set_limits(session=session, account_id=account_id,
                          limits={quotas.API_PLANTS: 40})
    # Units already in hand may still be served: at most ``held`` past the new limit ...
    _charges(meter, account_id, held)
    with pytest.raises(QuotaExceeded):
        _charges(meter, account_id, 1)
    # ... and none once they are given back (at the next flush, at most FLUSH_SECONDS later).
    meter.flush()
    assert _counted(database, account_id) == 40 + held
    with pytest.raises(QuotaExceeded):
        _charges(meter, account_id, 1)


# -- several processes on one database -----------------------------------------------------------

LIMIT = 600
PROCESSES = 3
CONCURRENCY = 8
FLUSH = 0.2  # seconds
GIVE_UP = 1.0  # a process stops after refusals this long (units come back within FLUSH)


def _serve_until_spent(url: str, account_id: int, start: multiprocessing.synchronize.Barrier,
                       results: multiprocessing.Queue) -> None:
    """One process: its own meter on the shared database, ``CONCURRENCY`` requests at a time,
    until the quota has been refused for GIVE_UP seconds. Reports the units it served."""
    settings = Settings(database_url=url, environment="test")
    database = Database(url)
    meter = QuotaMeter(database=database, settings=settings, flush_seconds=FLUSH).start()
    start.wait(timeout=120)  # every process ready: none spends the quota before the others

    async def client() -> int:
        served, refused_since = 0, None
        while True:
            try:
                await meter.charge(account_id)
            except QuotaExceeded:
                refused_since = refused_since or time.monotonic()
                if time.monotonic() - refused_since > GIVE_UP:
                    return served
                await asyncio.sleep(0.01)
                continue
            served, refused_since = served + 1, None
            await asyncio.sleep(0)

    async def run() -> int:
        return sum(await asyncio.gather(*(client() for _ in range(CONCURRENCY))))

    try:
        served = asyncio.run(run())
    finally:
        returned = meter.close()
        database.dispose()
    results.put((served, returned))


def test_processes_sharing_one_database_serve_the_quota_exactly(
        metered: tuple[Settings, Database]) -> None:
    """Three processes hammer one account until it is spent: together they serve exactly the
    limit — never more (no process serves a unit the database did not count first), and no
    fewer (units one process held go back and are served by another) — and the counter ends
    at exactly what was served."""
    settings, database = metered
    account_id = _account(database, LIMIT)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start = context.Barrier(PROCESSES)
    workers = [context.Process(target=_serve_until_spent,
                               args=(settings.sqlalchemy_url, account_id, start, results))
               for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    served = [s for s, _ in outcomes]
    assert sum(served) == LIMIT, outcomes
    assert sum(1 for s in served if s) >= 2, outcomes  # they did share it
    assert _counted(database, account_id) == LIMIT
