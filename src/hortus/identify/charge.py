"""One identification, one unit of the daily quota — taken before the model runs, given back
when the request fails.

Pl@ntNet counts successful identifications only. Taking the unit first means concurrent
requests can never spend past the limit together (the take is one atomic statement); any error
raised while the unit is held — bad photos (400/415), "Species not found" (404), an unexpected
failure, a client that hangs up — refunds it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from hortus.accounts import quotas
from hortus.accounts.deps import note_exceeded, note_quota
from hortus.config import Settings
from hortus.db import Database
from hortus.errors import QuotaExceeded


@asynccontextmanager
async def identification_unit(*, request: Request, database: Database, settings: Settings,
                              account_id: int) -> AsyncIterator[quotas.QuotaState]:
    """Hold one identification unit for the body of the ``async with``; refund on error.

    Raises QuotaExceeded (429) when the daily quota is used up. The response carries the
    RateLimit headers of the state after the request.
    """
    try:
        state = await run_in_threadpool(
            lambda: quotas.consume(database=database, settings=settings, account_id=account_id,
                                   api=quotas.API_IDENTIFY))
    except QuotaExceeded as exc:
        note_exceeded(request, exc)
        raise
    try:
        yield state
    except BaseException:
        with anyio.CancelScope(shield=True):
            refunded = await run_in_threadpool(
                lambda: quotas.refund(database=database, settings=settings,
                                      account_id=account_id, api=quotas.API_IDENTIFY))
        note_quota(request, refunded)
        raise
    note_quota(request, state)
