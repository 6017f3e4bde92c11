"""An analysis charged on the last second of a month and failing after it gives its unit back
to the month it was charged, through the real service, engine, media store and database (SQLite
and PostgreSQL). The service's ``clock`` says when the analysis starts; the failure and its
refund happen later, in today's month."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from stored_analyses import Analyses, analyses, photo

from hortus.config import Settings
from hortus.diagnose.models import Analysis
from hortus.errors import InvalidInput

MONTH_END = datetime(2026, 1, 31, 23, 59, 59, 900_000, tzinfo=UTC)


@pytest.fixture
def grower(any_settings: Settings) -> Iterator[Analyses]:
    with analyses(any_settings) as made:
        yield made


def test_a_failed_analysis_is_refunded_to_the_month_it_was_charged(grower: Analyses) -> None:
    whole = photo()
    with pytest.raises(InvalidInput):  # cut short: it cannot be decoded once charged
        grower.analyse(whole[: len(whole) // 2], at=MONTH_END)
    assert grower.used(MONTH_END) == 0  # January got its unit back
    assert grower.used() == 0  # and this month was not touched
    assert grower.media_keys() == set()  # nor any picture kept


def test_an_answered_analysis_counts_and_is_stored_at_its_clock(grower: Analyses) -> None:
    answered = grower.analyse(photo(), at=MONTH_END)
    assert answered.quota.period_start == "2026-01-01"
    assert grower.used(MONTH_END) == 1 and grower.used() == 0
    with grower.database.read() as session:
        created_at = session.scalar(select(Analysis.created_at).where(
            Analysis.id == str(answered.answer.pic_id)))
    assert created_at == MONTH_END
