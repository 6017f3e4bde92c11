"""The database backend's tables: one row per object, its bytes in rows of 256 KiB.

Chunk rows rather than PostgreSQL large objects: rows are dumped, restored, replicated
(logical replication too, which skips large objects) and deleted (``ON DELETE CASCADE``) like
any other row, need no ``lo_unlink`` bookkeeping against orphans, and work the same on SQLite.
A chunk of 256 KiB keeps a typical photo in one row (one query to serve it) while a large one
streams a row at a time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from hortus.db.base import Base, UTCDateTime, utcnow


class MediaObject(Base):
    """A stored photo: its key, the sha256 and size of its bytes, its type."""

    __tablename__ = "media_objects"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    chunk_bytes: Mapped[int] = mapped_column(Integer)  # every chunk but the last has this size
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MediaChunk(Base):
    """``seq``-th piece of an object's bytes."""

    __tablename__ = "media_chunks"

    key: Mapped[str] = mapped_column(
        ForeignKey("media_objects.key", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
