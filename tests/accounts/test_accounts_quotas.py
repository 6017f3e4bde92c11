"""Quotas: periods, limits, overrides, refunds, headers, and atomic counting under concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from accounts_support import make_key, make_settings

from hortus.accounts import quotas
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.db import Database
from hortus.errors import InvalidInput, QuotaExceeded

NOON = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def test_consume_counts_and_stops_at_the_limit(acct_database: Database,
                                               acct_settings: Settings) -> None:
    acct_settings.identify_per_day = 3
    owner = make_key(acct_database)
    states = [quotas.consume(database=acct_database, settings=acct_settings,
                             account_id=owner.account_id, api=quotas.API_IDENTIFY, now=NOON)
              for _ in range(3)]
    assert [s.used for s in states] == [1, 2, 3]
    assert [s.remaining for s in states] == [2, 1, 0]
    assert states[0].period == "day" and states[0].limit == 3
    assert states[0].reset_at == datetime(2026, 4, 1, tzinfo=UTC)
    with pytest.raises(QuotaExceeded) as caught:
        quotas.consume(database=acct_database, settings=acct_settings,
                       account_id=owner.account_id, api=quotas.API_IDENTIFY, now=NOON)
    assert caught.value.api == "identify" and caught.value.limit == 3
    assert caught.value.reset_seconds == 12 * 3600
    assert caught.value.status == 429
    # A refused request took nothing.
    assert quotas.peek(database=acct_database, settings=acct_settings,
                       account_id=owner.account_id, api="identify", now=NOON).used == 3


def test_daily_quota_resets_at_midnight_utc(acct_database: Database,
                                            acct_settings: Settings) -> None:
    acct_settings.plants_per_day = 1
    owner = make_key(acct_database)
    before = datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
    after = datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC)
    quotas.consume(database=acct_database, settings=acct_settings, account_id=owner.account_id,
                   api=quotas.API_PLANTS, now=before)
    with pytest.raises(QuotaExceeded) as caught:
        quotas.consume(database=acct_database, settings=acct_settings,
                       account_id=owner.account_id, api=quotas.API_PLANTS, now=before)
    assert caught.value.reset_seconds == 1
    state = quotas.consume(database=acct_database, settings=acct_settings,
                           account_id=owner.account_id, api=quotas.API_PLANTS, now=after)
    assert state.used == 1 and state.period_start == "2026-04-01"


def test_monthly_analysis_quota_and_its_exact_message(acct_database: Database,
                                                      acct_settings: Settings) -> None:
    acct_settings.analysis_per_month = 2
    owner = make_key(acct_database)
    early = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    late = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    quotas.consume(database=acct_database, settings=acct_settings, account_id=owner.account_id,
                   api=quotas.API_ANALYSIS, now=early)
    state = quotas.consume(database=acct_database, settings=acct_settings,
                           account_id=owner.account_id, api=quotas.API_ANALYSIS, now=late)
    assert state.period == "month" and state.used == 2
    assert state.reset_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert state.window_seconds == 31 * 86400
    with pytest.raises(QuotaExceeded) as caught:
        quotas.consume(database=acct_database, settings=acct_settings,
                       account_id=owner.account_id, api=quotas.API_ANALYSIS, now=late)
    assert caught.value.message == "You have reached your maximum amount of requests this month"
    assert caught.value.reset_seconds == 3600
    january = quotas.consume(database=acct_database, settings=acct_settings,
                             account_id=owner.account_id, api=quotas.API_ANALYSIS,
                             now=datetime(2027, 1, 1, tzinfo=UTC))
    assert january.used == 1


def test_refund_gives_back_and_never_goes_negative(acct_database: Database,
                                                   acct_settings: Settings) -> None:
    owner = make_key(acct_database)
    args = {"database": acct_database, "settings": acct_settings,
            "account_id": owner.account_id, "api": quotas.API_IDENTIFY, "now": NOON}
    quotas.consume(**args, amount=3)
    assert quotas.refund(**args).used == 2
    assert quotas.refund(**args, amount=10).used == 0
    other = make_key(acct_database)  # never used: refund is a no-op
    assert quotas.refund(**{**args, "account_id": other.account_id}).used == 0


def test_amount_larger_than_the_limit_takes_nothing(acct_database: Database,
                                                    acct_settings: Settings) -> None:
    acct_settings.identify_per_day = 5
    owner = make_key(acct_database)
    args = {"database": acct_database, "settings": acct_settings,
            "account_id": owner.account_id, "api": quotas.API_IDENTIFY, "now": NOON}
    with pytest.raises(QuotaExceeded):
        quotas.consume(**args, amount=6)
    assert quotas.consume(**args, amount=5).remaining == 0
    with pytest.raises(InvalidInput):
        quotas.consume(**args, amount=0)
    with pytest.raises(InvalidInput):
        quotas.consume(**{**args, "api": "teleport"})


def test_per_account_overrides_and_reset(acct_database: Database,
                                         acct_settings: Settings) -> None:
    owner, other = make_key(acct_database), make_key(acct_database)
    with acct_database.write() as session:
        quotas.set_limits(session=session, account_id=owner.account_id,
                          limits={quotas.API_IDENTIFY: 2, quotas.API_PLANTS: 0})
    peek = lambda account_id, api: quotas.peek(  # noqa: E731
        database=acct_database, settings=acct_settings, account_id=account_id, api=api)
    assert peek(owner.account_id, "identify").limit == 2
    assert peek(other.account_id, "identify").limit == acct_settings.identify_per_day
    take = lambda account_id: quotas.consume(  # noqa: E731
        database=acct_database, settings=acct_settings, account_id=account_id, api="identify")
    first = take(owner.account_id)  # the override is what the one statement checks against
    assert (first.limit, first.used, first.remaining) == (2, 1, 1)
    assert take(owner.account_id).remaining == 0
    with pytest.raises(QuotaExceeded) as exceeded:
        take(owner.account_id)
    assert exceeded.value.limit == 2 and peek(owner.account_id, "identify").used == 2
    assert take(other.account_id).limit == acct_settings.identify_per_day
    with pytest.raises(QuotaExceeded):  # a zero limit switches the API off for the account
        quotas.consume(database=acct_database, settings=acct_settings,
                       account_id=owner.account_id, api=quotas.API_PLANTS)
    with acct_database.write() as session:
        quotas.set_limits(session=session, account_id=owner.account_id,
                          limits={quotas.API_IDENTIFY: None, quotas.API_PLANTS: None})
    assert peek(owner.account_id, "identify").limit == acct_settings.identify_per_day
    with pytest.raises(InvalidInput), acct_database.write() as session:
        quotas.set_limits(session=session, account_id=owner.account_id,
                          limits={quotas.API_IDENTIFY: 3, quotas.API_PLANTS: -1})
    assert peek(owner.account_id, "identify").limit == acct_settings.identify_per_day


def test_rate_limit_headers_use_the_structured_field_form() -> None:
    state = quotas.QuotaState(api="identify", period="day", limit=500, used=488, remaining=12,
                              reset_at=datetime(2999, 1, 1, tzinfo=UTC), window_seconds=86400)
    headers = quotas.rate_limit_headers(state)
    assert headers["RateLimit-Policy"] == '"day";q=500;w=86400'
    assert headers["RateLimit"].startswith('"day";r=12;t=')
    assert int(headers["RateLimit"].rsplit("=", 1)[1]) > 0
    exceeded = quotas.exceeded_headers(QuotaExceeded("x", api="analysis", limit=9,
                                                     reset_seconds=60))
    assert exceeded["Retry-After"] == "60"
    assert exceeded["RateLimit"] == '"month";r=0;t=60'
    assert exceeded["RateLimit-Policy"].startswith('"month";q=9;w=')


def _race(database: Database, settings: Settings, account_id: int, attempts: int) -> int:
    def attempt(_: int) -> bool:
        try:
            quotas.consume(database=database, settings=settings, account_id=account_id,
                           api=quotas.API_IDENTIFY)
            return True
        except QuotaExceeded:
            return False

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        return sum(pool.map(attempt, range(attempts)))


def test_200_concurrent_consumers_get_exactly_100_on_sqlite(acct_database: Database,
                                                            acct_settings: Settings) -> None:
    acct_settings.identify_per_day = 100
    owner = make_key(acct_database)
    served = _race(acct_database, acct_settings, owner.account_id, 200)
    assert served == 100
    assert quotas.peek(database=acct_database, settings=acct_settings,
                       account_id=owner.account_id, api="identify").used == 100


@pytest.mark.postgres
def test_200_concurrent_consumers_get_exactly_100_on_postgresql(acct_pg_url: str,
                                                                tmp_path) -> None:
    settings = make_settings(tmp_path / "pg", database_url=acct_pg_url, identify_per_day=100)
    database = prepare_database(settings)
    try:
        owner = make_key(database)
        served = _race(database, settings, owner.account_id, 200)
        assert served == 100
        assert quotas.peek(database=database, settings=settings,
                           account_id=owner.account_id, api="identify").used == 100
        capped = make_key(database)  # an account override, read inside the same statement
        with database.write() as session:
            quotas.set_limits(session=session, account_id=capped.account_id,
                              limits={quotas.API_IDENTIFY: 30})
        assert _race(database, settings, capped.account_id, 80) == 30
    finally:
        database.dispose()
