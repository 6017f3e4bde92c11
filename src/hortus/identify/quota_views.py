"""Pl@ntNet's account routes: ``/v2/subscription``, ``/v2/quota``, ``/v2/quota/daily`` and
``/v2/quota/history``, as typed answers (:mod:`hortus.identify.schemas`).

A self-hosted server has no contract or billing, so those objects say so plainly: plan
``"self-hosted"``, status ``"active"``, no amount due. Daily counts are the identification
counters the quota is taken from (successful identifications only); ``total`` is the account's
daily quota as it stands today (past limits are not kept).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from hortus.accounts import quotas
from hortus.accounts.deps import Caller
from hortus.accounts.exposure import stored_list
from hortus.accounts.models import Account, UsageCounter
from hortus.accounts.service import public_name
from hortus.config import Settings
from hortus.db import Database, utcnow
from hortus.errors import InvalidInput
from hortus.identify import schemas


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _counts(count: int, total: int) -> schemas.QuotaCounts:
    return schemas.QuotaCounts(identify=schemas.IdentifyCount(
        count=count, total=total, remaining=max(0, total - count)))


def subscription_view(*, database: Database, settings: Settings, caller: Caller,
                      now: datetime | None = None) -> schemas.Subscription:
    """``GET /v2/subscription``: account, contract, this month's history and the key's security."""
    now = now or utcnow()
    month = quotas.period_for(quotas.API_ANALYSIS, now)  # month bounds
    with database.read() as session:
        account = session.get(Account, caller.account_id)
        assert account is not None
        daily_limit = quotas.limit_for(session=session, settings=settings,
                                       account_id=account.id, api=quotas.API_IDENTIFY)
        month_count = quotas.used_this_month(session=session, account_id=account.id,
                                             api=quotas.API_IDENTIFY, now=now)
    days = (month.end - month.start).days
    key = caller.key
    return schemas.Subscription(
        account=schemas.AccountInfo(id=str(account.id),
                                    username=public_name(account_id=account.id,
                                                         handle=account.handle) or "",
                                    name=schemas.AccountName(first="", last=""),
                                    created=_iso(account.created_at)),
        contract=schemas.Contract(
            plan="self-hosted", status="active",
            first_signature_date=_iso(account.created_at),
            latest_signature_date=_iso(account.created_at), next_signature_date="",
            indicative_yearly_quota=daily_limit * 365, currency=""),
        history=[schemas.SubscriptionPeriod(
            period=month.start.strftime("%Y-%m"), start_date=month.start.date().isoformat(),
            end_date=(month.end - timedelta(days=1)).date().isoformat(), status="current",
            count=schemas.IdentifyTally(identify=month_count),
            above_quota=schemas.IdentifyTally(identify=max(0, month_count - daily_limit * days)),
            discount=False)],
        billing=schemas.Billing(next_due_date="", estimated_amount=0),
        security=schemas.KeySecurity(expose_key=bool(key.expose),
                                     ips=stored_list(key.authorized_ips),
                                     domains=stored_list(key.authorized_domains)),
    )


def quota_view(*, database: Database, settings: Settings, caller: Caller,
               now: datetime | None = None) -> schemas.Quota:
    """``GET /v2/quota``: today's identification count, total and remaining."""
    state = quotas.peek(database=database, settings=settings, account_id=caller.account_id,
                        api=quotas.API_IDENTIFY, now=now)
    return schemas.Quota(quota=_counts(state.used, state.limit))


def _day(raw: str | None, now: datetime | None) -> date:
    """A ``YYYY-MM-DD`` value (today, UTC, when absent); InvalidInput for an impossible date."""
    if not raw:
        return (now or utcnow()).date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f'"day" must be a date in the format YYYY-MM-DD, not {raw[:40]!r}.',
                           error="invalid day") from None


def daily_quota_view(*, database: Database, settings: Settings, caller: Caller,
                     day: str | None = None, now: datetime | None = None) -> schemas.DailyQuota:
    """``GET /v2/quota/daily?day=YYYY-MM-DD``: that day's identification count (today's limit)."""
    when = _day(day, now)
    with database.read() as session:
        total = quotas.limit_for(session=session, settings=settings,
                                 account_id=caller.account_id, api=quotas.API_IDENTIFY)
        count = quotas.used_on(session=session, account_id=caller.account_id,
                               api=quotas.API_IDENTIFY, day=when)
    return schemas.DailyQuota(day=when.isoformat(), quota=_counts(count, total))


def quota_history_view(*, database: Database, settings: Settings, caller: Caller,
                       year: str | None = None,
                       now: datetime | None = None) -> list[schemas.DailyQuota]:
    """``GET /v2/quota/history?year=YYYY``: each day of the year with identifications, in
    order (days without any are left out)."""
    which = int(year) if year else (now or utcnow()).year
    if not 1 <= which <= 9999:
        raise InvalidInput(f'"year" must be a year in the format YYYY, not {year!r}.',
                           error="invalid year")
    first, after = f"{which:04d}-01-01", f"{which + 1:04d}-01-01"
    with database.read() as session:
        total = quotas.limit_for(session=session, settings=settings,
                                 account_id=caller.account_id, api=quotas.API_IDENTIFY)
        rows = session.execute(
            select(UsageCounter.period_start, UsageCounter.count)
            .where(UsageCounter.account_id == caller.account_id,
                   UsageCounter.api == quotas.API_IDENTIFY,
                   UsageCounter.period_start >= first, UsageCounter.period_start < after,
                   UsageCounter.count > 0)
            .order_by(UsageCounter.period_start)
        ).all()
    return [schemas.DailyQuota(day=day, quota=_counts(count, total)) for day, count in rows]
