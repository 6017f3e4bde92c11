"""Tables of Darwin Core exchange: where an imported observation came from, the credits of its
photos, the people an archive names, and this server's dataset identity.

An observation created on this server needs none of them: its ``occurrenceID`` is made from the
dataset's identifier and its id (:mod:`hortus.observations.dwc`), its photos are credited to
its author under its licence. An observation imported from a Darwin Core Archive keeps the
archive's ``occurrenceID`` (re-importing it is recognised), the recorder's name as written, and
for each photo listed in the archive its own licence, creator and rights holder — also for
photos that were not imported (a URL that cannot be fetched offline), whose address is kept.
People named by archives (``recordedBy``, ``identifiedBy``) get accounts of their own,
never matched to the server's people (migration 0011).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hortus.db.base import Base, UTCDateTime, utcnow

DATASET_ROW_ID = 1  # the one row of dwc_datasets
MAX_OCCURRENCE_ID = 400
MAX_TEXT = 300
MAX_IDENTIFIER = 2000


class DwcDataset(Base):
    """This server's observations as a dataset: its stable identifier (a UUID made the first
    time it is needed, so every copy of a database made before that gets its own)."""

    __tablename__ = "dwc_datasets"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    identifier: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DwcOccurrence(Base):
    """An observation imported from an archive: the occurrence it was there."""

    __tablename__ = "dwc_occurrences"

    observation_id: Mapped[int] = mapped_column(
        ForeignKey("observations.id", ondelete="CASCADE"), primary_key=True)
    occurrence_id: Mapped[str] = mapped_column(String(MAX_OCCURRENCE_ID), unique=True)
    recorded_by: Mapped[str | None] = mapped_column(String(MAX_TEXT))
    scientific_name: Mapped[str | None] = mapped_column(String(MAX_TEXT))  # as written there
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DwcMedia(Base):
    """One photo an archive listed for an imported observation: its credits as written, the
    stored photo (``sha256``) or why it was not stored (``skipped``)."""

    __tablename__ = "dwc_media"
    __table_args__ = (UniqueConstraint("observation_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    observation_id: Mapped[int] = mapped_column(
        ForeignKey("observations.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    identifier: Mapped[str | None] = mapped_column(String(MAX_IDENTIFIER))
    license: Mapped[str | None] = mapped_column(String(MAX_TEXT))
    creator: Mapped[str | None] = mapped_column(String(MAX_TEXT))
    rights_holder: Mapped[str | None] = mapped_column(String(MAX_TEXT))
    skipped: Mapped[str | None] = mapped_column(String(32))


class DwcPerson(Base):
    """An account made for a person an archive names: the name as written, and its key (the
    sha256 of the name with spacing and case folded), by which later imports find it."""

    __tablename__ = "dwc_people"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_TEXT))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)
