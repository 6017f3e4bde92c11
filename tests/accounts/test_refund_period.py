"""A refund goes back to the period its unit was taken from, not to the period it is now.

A request charged at 23:59:59 UTC that fails after midnight gives its unit back to the day (or,
for image analysis, the month) that was charged: the new day's count is not lowered by it, and
the old day does not keep a unit for an answer that was never given. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from accounts_support import make_key

from hortus.accounts import quotas
from hortus.bootstrap import prepare_database
from hortus.config import Settings

BEFORE_MIDNIGHT = datetime(2026, 3, 31, 23, 59, 59, 900_000, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2026, 4, 1, 0, 0, 0, 100_000, tzinfo=UTC)


@pytest.mark.parametrize("api", [quotas.API_IDENTIFY, quotas.API_PLANTS, quotas.API_ANALYSIS])
def test_a_refund_after_midnight_lands_in_the_charged_period(any_settings: Settings,
                                                             api: str) -> None:
    database = prepare_database(any_settings)
    try:
        owner = make_key(database)
        args = {"database": database, "settings": any_settings,
                "account_id": owner.account_id, "api": api}
        charged = quotas.consume(**args, now=BEFORE_MIDNIGHT)
        # Another request of the same account, answered after midnight, counts in the new day.
        quotas.consume(**args, now=AFTER_MIDNIGHT)
        # The first one fails after midnight: its unit goes back where it came from.
        refunded = quotas.refund(**args, charged=charged)
        assert refunded.period_start == charged.period_start
        assert refunded.used == 0
        assert quotas.peek(**args, now=BEFORE_MIDNIGHT).used == 0
        assert quotas.peek(**args, now=AFTER_MIDNIGHT).used == 1
    finally:
        database.dispose()


def test_a_refund_without_the_charge_uses_the_period_at_now(any_settings: Settings) -> None:
    database = prepare_database(any_settings)
    try:
        owner = make_key(database)
        args = {"database": database, "settings": any_settings,
                "account_id": owner.account_id, "api": quotas.API_IDENTIFY}
        quotas.consume(**args, now=BEFORE_MIDNIGHT)
        assert quotas.refund(**args, now=BEFORE_MIDNIGHT).used == 0
        charged = quotas.consume(**args, now=AFTER_MIDNIGHT)
        with pytest.raises(ValueError):  # a unit of one quota is never refunded to another
            quotas.refund(**{**args, "api": quotas.API_PLANTS}, charged=charged)
    finally:
        database.dispose()
