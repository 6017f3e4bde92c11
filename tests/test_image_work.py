"""Per-account limits on image work, on the inference pool itself (no HTTP, no model)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from hortus.config import Settings
from hortus.image_work import QUEUE_FACTOR, ImageWorkBusy
from hortus.inference import Inference


class Jobs:
    """Pool jobs that sleep, counting how many of each account's run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    def job(self, who: str, seconds: float) -> str:
        with self.lock:
            self.running[who] += 1
            self.peak[who] = max(self.peak[who], self.running[who])
        try:
            time.sleep(seconds)
        finally:
            with self.lock:
                self.running[who] -= 1
        return who


def _inference(**settings: object) -> Inference:
    return Inference(Settings(data_dir=Path("/nonexistent"), **settings))  # type: ignore[arg-type]


def test_an_account_runs_at_most_its_share_while_others_run_beside_it() -> None:
    inference = _inference(inference_workers=6, image_work_per_account=2, image_work_wait=30)
    jobs = Jobs()

    async def request(account: int, who: str, photos: int) -> float:
        async with inference.image_work.request(account):
            await asyncio.gather(*(inference.run(jobs.job, who, 0.05) for _ in range(photos)))
        return time.monotonic()

    async def scenario() -> tuple[list[float], float]:
        flood = [asyncio.ensure_future(request(1, "flood", 5)) for _ in range(10)]
        await asyncio.sleep(0.02)
        other = await request(2, "other", 5)
        return list(await asyncio.gather(*flood)), other

    try:
        flood_done, other_done = asyncio.run(scenario())
    finally:
        inference.shutdown()
    assert jobs.peak["flood"] == 2
    assert jobs.peak["other"] == 2  # beside the flood's two, in the pool's free threads
    assert other_done < max(flood_done)
    assert inference.image_work.account(1) is None  # forgotten once idle


def test_requests_beyond_the_queue_or_the_wait_are_refused() -> None:
    inference = _inference(image_work_per_account=1, image_work_wait=0.2)
    limiter = inference.image_work

    async def hold(seconds: float) -> str:
        async with limiter.request(7):
            await asyncio.sleep(seconds)
        return "served"

    async def scenario() -> list[str | BaseException]:
        tasks = [asyncio.ensure_future(hold(1.0))]  # holds the place for a second
        await asyncio.sleep(0.01)
        tasks += [asyncio.ensure_future(hold(0)) for _ in range(QUEUE_FACTOR + 2)]
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    try:
        outcomes = asyncio.run(scenario())
    finally:
        inference.shutdown()
    assert outcomes[0] == "served"
    refused = [o for o in outcomes if isinstance(o, ImageWorkBusy)]
    assert len(refused) == QUEUE_FACTOR + 2  # 2 at once (queue full), the rest after 0.2 s
    assert all(o.status == 429 and o.retry_after == 1 for o in refused)


def test_an_abandoned_job_keeps_its_place_until_it_ends() -> None:
    """A request that goes away (client gone, another photo bad) leaves its running job in a
    pool thread: the account's place is given back when the job ends, not before."""
    inference = _inference(inference_workers=4, image_work_per_account=1, image_work_wait=30)
    jobs = Jobs()

    async def scenario() -> None:
        async def abandon() -> None:
            async with inference.image_work.request(3):
                await inference.run(jobs.job, "acct", 0.4)

        first = asyncio.ensure_future(abandon())
        await asyncio.sleep(0.1)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        async with inference.image_work.request(3):  # the request place is free ...
            await inference.run(jobs.job, "acct", 0.01)  # ... the job place once the job ends

    try:
        asyncio.run(scenario())
    finally:
        inference.shutdown()
    assert jobs.peak["acct"] == 1


def test_no_limit_when_switched_off() -> None:
    inference = _inference(inference_workers=4, image_work_per_account=0)
    jobs = Jobs()

    async def scenario() -> None:
        async def request() -> None:
            async with inference.image_work.request(1):
                await inference.run(jobs.job, "acct", 0.1)

        await asyncio.gather(*(request() for _ in range(4)))

    try:
        asyncio.run(scenario())
    finally:
        inference.shutdown()
    assert jobs.peak["acct"] == 4
