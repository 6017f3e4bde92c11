"""Tables of the diagnosis domain: the disease catalogue and the stored image analyses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hortus.db.base import Base, UTCDateTime, utcnow

PATHOGEN_CLASSES = (
    "fungus", "oomycete", "bacterium", "virus", "viroid", "phytoplasma", "insect", "mite",
    "nematode", "pest", "deficiency", "abiotic",
)


class Disease(Base):
    """One crop problem. ``id`` is PEAT's ``peat_id``: stable, never reused."""

    __tablename__ = "diseases"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    eppo_code: Mapped[str | None] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(300))
    scientific_name: Mapped[str | None] = mapped_column(String(300), index=True)
    pathogen_class: Mapped[str] = mapped_column(String(32), index=True)
    symptoms: Mapped[str | None] = mapped_column(Text)
    organic_treatment: Mapped[str | None] = mapped_column(Text)
    chemical_treatment: Mapped[str | None] = mapped_column(Text)
    prevention: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    hosts: Mapped[list[DiseaseHost]] = relationship(
        order_by="DiseaseHost.position", cascade="all, delete-orphan", lazy="selectin"
    )
    common_names: Mapped[list[DiseaseCommonName]] = relationship(
        order_by="DiseaseCommonName.language", cascade="all, delete-orphan", lazy="selectin"
    )


class DiseaseHost(Base):
    """A host crop of a disease: its scientific name, linked to the knowledge base when known."""

    __tablename__ = "disease_hosts"
    __table_args__ = (UniqueConstraint("disease_id", "scientific_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    disease_id: Mapped[int] = mapped_column(ForeignKey("diseases.id", ondelete="CASCADE"))
    scientific_name: Mapped[str] = mapped_column(String(300), index=True)
    plant_id: Mapped[int | None] = mapped_column(
        ForeignKey("plants.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class DiseaseCommonName(Base):
    """A disease's common name in one language."""

    __tablename__ = "disease_common_names"
    __table_args__ = (UniqueConstraint("disease_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    disease_id: Mapped[int] = mapped_column(ForeignKey("diseases.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(300))


class Analysis(Base):
    """One answered image analysis: who asked, the metadata headers, the picture (a media
    object, :mod:`hortus.media`) and the answer exactly as it was sent."""

    __tablename__ = "analyses"
    __table_args__ = (Index("ix_analyses_account_id_created_at", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the pic_id (a UUID)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The picture is the media object whose key is its sha256 (migration 0005 on); older
    # analyses name a file relative to the media directory instead.
    picture_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    picture_path: Mapped[str | None] = mapped_column(String(200))
    picture_format: Mapped[str] = mapped_column(String(8))
    picture_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # The metadata headers: every one as sent (by PEAT's spelling of its name; None for rows
    # older than migration 0004), and beside them the parsed values (None when absent or
    # unparsable).
    metadata_raw: Mapped[dict[str, str] | None] = mapped_column(JSON)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    gps_accuracy: Mapped[float | None] = mapped_column(Float)
    eppo: Mapped[str | None] = mapped_column(String(12))
    user_id: Mapped[str | None] = mapped_column(String(200))
    user_name: Mapped[str | None] = mapped_column(String(200))
    crop: Mapped[str | None] = mapped_column(String(200))
    variety: Mapped[str | None] = mapped_column(String(200))
    timestamp: Mapped[str | None] = mapped_column(String(64))  # as sent, if it fits
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # timestamp, parsed
    # Which model answered.
    project: Mapped[str | None] = mapped_column(String(64))
    project_version: Mapped[str | None] = mapped_column(String(64))
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
