"""Pl@ntNet's account routes as data: ``/v2/subscription``, ``/v2/quota``, ``/v2/quota/daily``.

Field names follow the Pl@ntNet OpenAPI 2.2.2 definitions (``Model4``, ``Model2``, ``Model30``).
A self-hosted server has no contract or billing, so those objects say so plainly: plan
``"self-hosted"``, status ``"active"``, no amount due.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from hortus.accounts import quotas
from hortus.accounts.deps import Caller
from hortus.accounts.exposure import stored_list
from hortus.accounts.models import Account
from hortus.config import Settings
from hortus.db import Database, utcnow
from hortus.errors import InvalidInput


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _identify_counts(count: int, total: int) -> dict[str, int]:
    return {"count": count, "total": total, "remaining": max(0, total - count)}


def subscription_view(*, database: Database, settings: Settings, caller: Caller,
                      now: datetime | None = None) -> dict[str, Any]:
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
    return {
        "account": {
            "id": str(account.id),
            "username": account.email,
            "name": {"first": "", "last": ""},
            "created": _iso(account.created_at),
        },
        "contract": {
            "plan": "self-hosted",
            "status": "active",
            "firstSignatureDate": _iso(account.created_at),
            "latestSignatureDate": _iso(account.created_at),
            "nextSignatureDate": "",
            "indicativeYearlyQuota": daily_limit * 365,
            "currency": "",
        },
        "history": [{
            "period": month.start.strftime("%Y-%m"),
            "startDate": month.start.date().isoformat(),
            "endDate": (month.end - timedelta(days=1)).date().isoformat(),
            "status": "current",
            "count": {"identify": month_count},
            "aboveQuota": {"identify": max(0, month_count - daily_limit * days)},
            "discount": False,
        }],
        "billing": {"nextDueDate": "", "estimatedAmount": 0},
        "security": {
            "exposeKey": bool(key.expose),
            "ips": stored_list(key.authorized_ips),
            "domains": stored_list(key.authorized_domains),
        },
    }


def quota_view(*, database: Database, settings: Settings, caller: Caller,
               now: datetime | None = None) -> dict[str, Any]:
    """``GET /v2/quota``: today's identification count, total and remaining."""
    state = quotas.peek(database=database, settings=settings, account_id=caller.account_id,
                        api=quotas.API_IDENTIFY, now=now)
    return {"quota": {"identify": _identify_counts(state.used, state.limit)}}


def parse_day(raw: str | None, *, now: datetime | None = None) -> date:
    """A ``YYYY-MM-DD`` query value (today, UTC, when absent); InvalidInput otherwise."""
    if raw is None or raw == "":
        return (now or utcnow()).date()
    try:
        if len(raw) != 10:
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"day must be a date in the format YYYY-MM-DD, not {raw[:40]!r}.",
                           error="invalid day") from None


def daily_quota_view(*, database: Database, settings: Settings, caller: Caller,
                     day: date | None = None, now: datetime | None = None) -> dict[str, Any]:
    """``GET /v2/quota/daily?day=YYYY-MM-DD``: that day's identification count (today's limit)."""
    day = day or (now or utcnow()).date()
    with database.read() as session:
        total = quotas.limit_for(session=session, settings=settings,
                                 account_id=caller.account_id, api=quotas.API_IDENTIFY)
        count = quotas.used_on(session=session, account_id=caller.account_id,
                               api=quotas.API_IDENTIFY, day=day)
    return {"day": day.isoformat(), "quota": {"identify": _identify_counts(count, total)}}
