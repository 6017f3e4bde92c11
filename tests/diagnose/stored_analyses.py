"""Analyses made through the real service (engine, media store, database) at chosen times.

The service's ``clock`` sets when an analysis happens: its quota month and its stored
``created_at``. Photos are generated (smooth coloured noise), so the tests need no photo set.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image
from sqlalchemy import select

from hortus.accounts import quotas
from hortus.accounts import service as accounts
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.db import Database, utcnow
from hortus.diagnose import service
from hortus.diagnose.models import Analysis
from hortus.inference import Inference
from hortus.media import open_media_store
from hortus.media.factory import LayeredMediaStore


def photo(seed: int = 7, size: int = 480) -> bytes:
    """A JPEG of smooth coloured noise: a different photo for each seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC).save(
        buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@dataclass
class Analyses:
    """One data directory's database, media store and engine, and an account analysing."""

    settings: Settings
    database: Database
    media: LayeredMediaStore
    inference: Inference
    account_id: int

    def analyse(self, picture: bytes, at: datetime | None = None) -> service.AnalysisResult:
        """One analysis, as if made at ``at`` (default: now)."""
        moment = at or utcnow()
        return asyncio.run(service.analyse(
            database=self.database, settings=self.settings, inference=self.inference,
            media=self.media, account_id=self.account_id, picture=picture, headers={},
            clock=lambda: moment))

    def used(self, now: datetime | None = None) -> int:
        return quotas.peek(database=self.database, settings=self.settings,
                           account_id=self.account_id, api=quotas.API_ANALYSIS, now=now).used

    def stored_ids(self) -> set[str]:
        with self.database.read() as session:
            return set(session.scalars(select(Analysis.id)))

    def media_keys(self) -> set[str]:
        return set(self.media.primary.iter_keys())


@contextmanager
def analyses(settings: Settings, email: str = "grower@example.org") -> Iterator[Analyses]:
    database = prepare_database(settings)
    media = open_media_store(settings, database)
    inference = Inference(settings)
    with database.write() as session:
        account_id = accounts.get_or_create_account(session=session, email=email).id
    try:
        yield Analyses(settings, database, media, inference, account_id)
    finally:
        inference.shutdown()
        media.close()
        database.dispose()
