"""One identification, one unit of the daily quota — taken before the model runs, given back
when the request fails.

Pl@ntNet counts successful identifications only. Taking the unit first means concurrent
requests can never spend past the limit together (the take is one atomic statement), and a
caller without quota costs no model work. Any error raised while the unit is held — bad photos
(400/413/415), an image URL that cannot be fetched, "Species not found" (404), an unexpected
failure, a client that hangs up — refunds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
from starlette.concurrency import run_in_threadpool

from hortus.accounts import quotas
from hortus.config import Settings
from hortus.db import Database, utcnow
from hortus.errors import QuotaExceeded

QuotaListener = Callable[[quotas.QuotaState | QuotaExceeded], None]
"""Told where the quota stands after the request (the state, or the refusal), e.g. to put
RateLimit headers on the response."""


def _ignore(_: quotas.QuotaState | QuotaExceeded) -> None:
    pass


class IdentificationUnit:
    """One unit of the daily quota, being taken in the background from the moment the request
    is admitted (so the SQL statement overlaps reading the upload)."""

    def __init__(self, *, database: Database, settings: Settings, account_id: int,
                 listener: QuotaListener) -> None:
        self._listener = listener
        taken_at = utcnow()  # a refund goes back to the day the unit was taken from
        self._refund = lambda: quotas.refund(database=database, settings=settings,
                                             account_id=account_id, api=quotas.API_IDENTIFY,
                                             now=taken_at)
        self._taking = asyncio.ensure_future(run_in_threadpool(
            lambda: quotas.consume(database=database, settings=settings, account_id=account_id,
                                   api=quotas.API_IDENTIFY, now=taken_at)))

    async def taken(self) -> quotas.QuotaState:
        """The quota after taking the unit; QuotaExceeded (429) when none was left.
        Await it before any model work: an over-quota caller costs no inference."""
        try:
            return await asyncio.shield(self._taking)
        except QuotaExceeded as exc:
            self._listener(exc)
            raise

    async def give_back(self) -> None:
        """Refund the unit if it was taken (whatever happens to the request meanwhile)."""
        with anyio.CancelScope(shield=True):
            try:
                await asyncio.shield(self._taking)
            except Exception:  # noqa: BLE001 - not taken (over quota, or the database failed)
                return
            refunded = await run_in_threadpool(self._refund)
        self._listener(refunded)


@asynccontextmanager
async def identification_unit(*, database: Database, settings: Settings, account_id: int,
                              listener: QuotaListener | None = None
                              ) -> AsyncIterator[IdentificationUnit]:
    """Hold one identification unit for the body of the ``async with``; refund on error.

    The body must await :meth:`IdentificationUnit.taken` before running the model; leaving the
    block normally also waits for it (QuotaExceeded, 429, when the daily quota is used up).
    ``listener`` hears the state after the request (or the refusal).
    """
    listen = listener or _ignore
    unit = IdentificationUnit(database=database, settings=settings, account_id=account_id,
                              listener=listen)
    try:
        yield unit
        state = await unit.taken()
    except BaseException:
        await unit.give_back()
        raise
    listen(state)
