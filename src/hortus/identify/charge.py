"""One identification, one unit of the daily quota — taken before the model runs, given back
when the request fails.

Pl@ntNet counts successful identifications only. Taking the unit first means concurrent
requests can never spend past the limit together (the take is one atomic statement), and a
caller without quota costs no model work. Any error raised while the unit is held — bad photos
(400/415), "Species not found" (404), an unexpected failure, a client that hangs up — refunds
it.
"""

from __future__ import annotations

import asyncio
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


class IdentificationUnit:
    """One unit of the daily quota, being taken in the background from the moment the request
    is admitted (so the SQL statement overlaps reading the upload)."""

    def __init__(self, *, request: Request, database: Database, settings: Settings,
                 account_id: int) -> None:
        self._request = request
        self._refund = lambda: quotas.refund(database=database, settings=settings,
                                             account_id=account_id, api=quotas.API_IDENTIFY)
        self._taking = asyncio.ensure_future(run_in_threadpool(
            lambda: quotas.consume(database=database, settings=settings, account_id=account_id,
                                   api=quotas.API_IDENTIFY)))

    async def taken(self) -> quotas.QuotaState:
        """The quota after taking the unit; QuotaExceeded (429) when none was left.
        Await it before any model work: an over-quota caller costs no inference."""
        try:
            return await asyncio.shield(self._taking)
        except QuotaExceeded as exc:
            note_exceeded(self._request, exc)
            raise

    async def give_back(self) -> None:
        """Refund the unit if it was taken (whatever happens to the request meanwhile)."""
        with anyio.CancelScope(shield=True):
            try:
                await asyncio.shield(self._taking)
            except Exception:  # noqa: BLE001 - not taken (over quota, or the database failed)
                return
            refunded = await run_in_threadpool(self._refund)
        note_quota(self._request, refunded)


@asynccontextmanager
async def identification_unit(*, request: Request, database: Database, settings: Settings,
                              account_id: int) -> AsyncIterator[IdentificationUnit]:
    """Hold one identification unit for the body of the ``async with``; refund on error.

    The body must await :meth:`IdentificationUnit.taken` before running the model; leaving the
    block normally also waits for it (QuotaExceeded, 429, when the daily quota is used up).
    The response carries the RateLimit headers of the state after the request.
    """
    unit = IdentificationUnit(request=request, database=database, settings=settings,
                              account_id=account_id)
    try:
        yield unit
        state = await unit.taken()
    except BaseException:
        await unit.give_back()
        raise
    note_quota(request, state)
