"""Tables of the identification pages: the identifications people made there, and how many a
signed-out address made today (migration 0009).

The pages keep what the answer page needs, not the photos themselves: a result names its
photos by media key (:mod:`hortus.media`), and its candidates by the names the models gave
(names, care facts and profile links are read from the knowledge base when the page is shown,
so they follow its edits).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hortus.db.base import Base, UTCDateTime, utcnow


class WebIdentification(Base):
    """One identification made on the web page, shown at ``/identify/results/{id}``.

    ``id`` is random (128 bits): the link is what lets someone see a result, so it can be
    shared, and cannot be guessed. ``account_id`` is the signed-in author (None for a
    signed-out visitor: such a result is in nobody's history).
    """

    __tablename__ = "web_identifications"
    __table_args__ = (
        Index("ix_web_identifications_account_id_created_at", "account_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    language: Mapped[str] = mapped_column(String(16), default="en")
    model_version: Mapped[str] = mapped_column(String(200), default="")
    # [{"key", "thumb", "organ", "predicted_organ", "top": name|None, "top_score", "rejected"}]
    photos: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # [{"name", "score", "references": [{"sha256", "author", "licence", "organ", ...}]}]
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class WebVisitorCount(Base):
    """Identifications one signed-out client address made on one UTC day.

    ``subject`` is the SHA-256 of the address (an IPv6 address counts by its /64 network), so
    the table names no address. Taking a unit is one atomic statement
    (:func:`hortus.web.identify_store.take_visitor_unit`).
    """

    __tablename__ = "web_visitor_counts"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # ISO date, UTC
    count: Mapped[int] = mapped_column(Integer, default=0)
