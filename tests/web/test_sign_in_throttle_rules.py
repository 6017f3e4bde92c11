"""The throttle's rules on both databases: growing waits, a success clears the account, quiet
time forgets, addresses get more room, sign-ups per address are capped per hour."""

from __future__ import annotations

from datetime import timedelta

from hortus.accounts import throttle
from hortus.accounts.throttle import ThrottlePolicy
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.db import utcnow

POLICY = ThrottlePolicy(free_failures=2, max_delay=8, sign_ups_per_hour=3)


def test_throttle_rules(any_settings: Settings) -> None:
    database = prepare_database(any_settings)
    now = utcnow()

    def fail(email: str, address: str, at: timedelta = timedelta()) -> float:
        with database.write() as session:
            return throttle.record_failure(session=session, policy=POLICY, email=email,
                                           address=address, now=now + at)

    def wait(email: str, address: str, at: timedelta = timedelta()) -> float:
        with database.read() as session:
            return throttle.wait_seconds(session=session, email=email, address=address,
                                         now=now + at)

    try:
        waits = [fail("A@example.org", "192.0.2.1") for _ in range(7)]
        assert waits == [0, 0, 1, 2, 4, 8, 8]  # the account's cap
        assert wait("a@example.org ", "198.51.100.9") == 8  # same account, any address
        assert wait("b@example.org", "192.0.2.1") == 0  # the address has more room (8 free)
        assert wait("a@example.org", "192.0.2.1", timedelta(seconds=9)) == 0
        with database.write() as session:
            throttle.record_success(session=session, email="a@example.org")
        assert fail("a@example.org", "192.0.2.1") == 0  # the account starts again
        # Quiet for longer than FORGET_AFTER: the address's count starts again too.
        later = throttle.FORGET_AFTER + timedelta(seconds=1)
        assert [fail("c@example.org", "192.0.2.1", later) for _ in range(3)] == [0, 0, 1]
        assert fail("d@example.org", "192.0.2.1", later) == 0  # address: 4 of 8 free
        with database.write() as session:
            taken = [throttle.take_sign_up(session=session, policy=POLICY,
                                           address="192.0.2.7", now=now) for _ in range(4)]
        assert taken[:3] == [0, 0, 0] and 3500 < taken[3] <= 3600
        with database.write() as session:
            assert throttle.take_sign_up(session=session, policy=POLICY, address="192.0.2.7",
                                         now=now + timedelta(hours=1)) == 0
    finally:
        database.dispose()
