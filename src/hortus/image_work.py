"""How much image work one account can make this process do at once.

A photo costs the server far more than the request that carries it: a 200 KB PNG can decode to
150 MB and seconds of CPU, and a refused answer ("Species not found") costs the caller no quota.
So besides the pixel budget of each photo (:class:`hortus.vision.pixel_budget.PixelBudget`), each
account gets, per process:

* at most ``per_account`` **requests** doing image work at once (identifications and analyses);
  a further request waits up to ``wait`` seconds for one to finish, behind at most
  ``QUEUE_FACTOR * per_account`` others, and is otherwise refused with
  :class:`ImageWorkBusy` (429, ``Retry-After``);
* at most ``per_account`` **jobs** (a photo's decoding, embedding, an analysis) running in the
  inference pool at once. The jobs a request queues are charged to its account through a
  context variable that :meth:`ImageWorkLimiter.request` sets, so the pool
  (:meth:`hortus.inference.Inference.run`) needs no account argument; a job's place is given
  back when the job really ends, even when the request that queued it has already gone.

Other accounts' jobs go straight to the pool, where one account never holds more than
``per_account`` of its threads: a flood from one key delays others by at most one of its jobs,
not by its whole queue. Everything here runs on the event loop (one per process): a deployment
of N processes gives each account N times these limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from fastapi import Request

from hortus.accounts.deps import STATE_RATE_LIMIT
from hortus.errors import HortusError

QUEUE_FACTOR = 4  # requests of one account that may wait, per request it may run
RETRY_AFTER = 1  # seconds: a place frees as soon as one of the account's photos is done


class ImageWorkBusy(HortusError):
    """429: the account already has as many image requests running and waiting as it may."""

    status = 429
    error = "too many requests"

    def __init__(self, message: str, *, retry_after: int = RETRY_AFTER) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def note_busy(request: Request, exc: ImageWorkBusy) -> None:
    """Have the 429 carry ``Retry-After`` (beside any RateLimit headers of the quota)."""
    headers = dict(getattr(request.state, STATE_RATE_LIMIT, None) or {})
    headers["Retry-After"] = str(exc.retry_after)
    setattr(request.state, STATE_RATE_LIMIT, headers)


@dataclass
class AccountWork:
    """One account's image work in this process (while it has any)."""

    requests: asyncio.Semaphore
    jobs: asyncio.Semaphore
    waiting: int = 0  # requests waiting for a place
    holders: int = 0  # requests admitted or waiting, and jobs holding a place
    jobs_held: int = 0  # jobs holding a place (waiting for a pool thread or running)


@dataclass(frozen=True)
class Charge:
    """The account a request's pool jobs are charged to."""

    limiter: ImageWorkLimiter
    account_id: int
    work: AccountWork

    def give_back_job(self) -> None:
        """A job of :func:`take_job_place` has ended (call on the event loop)."""
        self.work.jobs_held -= 1
        self.work.jobs.release()
        self.limiter.let_go(self.account_id, self.work)


_charge: ContextVar[Charge | None] = ContextVar("hortus_image_work", default=None)


async def take_job_place() -> Charge | None:
    """Wait for a pool-job place of the account the current request works for, and take it
    (None outside :meth:`ImageWorkLimiter.request`: the job is no account's image work). Give
    it back with :meth:`Charge.give_back_job` once the job has ended."""
    charge = _charge.get()
    if charge is None:
        return None
    work = charge.work
    await work.jobs.acquire()
    work.holders += 1
    work.jobs_held += 1
    return charge


class ImageWorkLimiter:
    """Per-account limits on requests and pool jobs doing image work (``per_account`` 0: none).

    Use :meth:`request` around a request's image work; each pool job started inside it takes
    a job place with :func:`take_job_place` (the inference pool does that for every job).
    """

    def __init__(self, *, per_account: int, wait: float) -> None:
        self.per_account = per_account
        self.wait = wait
        self._accounts: dict[int, AccountWork] = {}

    def account(self, account_id: int) -> AccountWork | None:
        """The account's work in progress, if it has any."""
        return self._accounts.get(account_id)

    def _work(self, account_id: int) -> AccountWork:
        work = self._accounts.get(account_id)
        if work is None:
            work = AccountWork(requests=asyncio.Semaphore(self.per_account),
                               jobs=asyncio.Semaphore(self.per_account))
            self._accounts[account_id] = work
        return work

    def let_go(self, account_id: int, work: AccountWork) -> None:
        """One request or job of the account is done with its place."""
        work.holders -= 1
        if work.holders == 0 and self._accounts.get(account_id) is work:
            del self._accounts[account_id]  # nothing waits on its semaphores any more

    def _busy(self) -> ImageWorkBusy:
        return ImageWorkBusy(
            f"This account already has {self.per_account} image requests in progress on this "
            "server, and more waiting; send the next one when one of them has been answered.")

    @asynccontextmanager
    async def request(self, account_id: int) -> AsyncIterator[None]:
        """Hold one of the account's request places (waiting up to ``wait`` seconds for one)
        for the body of the ``async with``; the pool jobs started in it are the account's.
        Raises ImageWorkBusy when no place comes free in time, or at once when
        ``QUEUE_FACTOR * per_account`` of the account's requests are already waiting."""
        if self.per_account <= 0:
            yield
            return
        work = self._work(account_id)
        work.holders += 1
        try:
            if work.requests.locked():
                if work.waiting >= QUEUE_FACTOR * self.per_account or self.wait <= 0:
                    raise self._busy()
                work.waiting += 1
                try:
                    async with asyncio.timeout(self.wait):
                        await work.requests.acquire()
                except TimeoutError:
                    raise self._busy() from None
                finally:
                    work.waiting -= 1
            else:
                await work.requests.acquire()
            token = _charge.set(Charge(self, account_id, work))
            try:
                yield
            finally:
                _charge.reset(token)
                work.requests.release()
        finally:
            self.let_go(account_id, work)
