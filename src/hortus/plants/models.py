"""Tables of the plant knowledge base."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hortus.db.base import Base, UTCDateTime, utcnow

PLANT_TYPES = ("Plant", "Variety")
RELATION_KINDS = ("companion", "antagonist")
EXTERNAL_SYSTEMS = ("gbif", "powo", "eppo", "iucn")


class Taxon(Base):
    """A genus or family with its authorship (the identification API reports both)."""

    __tablename__ = "taxa"
    __table_args__ = (UniqueConstraint("rank", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rank: Mapped[str] = mapped_column(String(16))  # genus | family
    name: Mapped[str] = mapped_column(String(200))
    authorship: Mapped[str | None] = mapped_column(String(200))


class Plant(Base):
    __tablename__ = "plants"
    __table_args__ = (Index("ix_plants_updated_at_id", "updated_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(16), default="Plant")
    scientific_name: Mapped[str] = mapped_column(String(300), index=True)
    authorship: Mapped[str | None] = mapped_column(String(200))
    genus: Mapped[str | None] = mapped_column(String(200), index=True)
    family: Mapped[str | None] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(String(400), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("plants.id", ondelete="SET NULL"), index=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    image_thumb: Mapped[str | None] = mapped_column(String(1000))
    image_title: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    attributes: Mapped[list[PlantAttribute]] = relationship(
        order_by="PlantAttribute.position", cascade="all, delete-orphan", lazy="selectin"
    )
    # By language, then position within it (positions restart at 0 for each language): the
    # same order on every backend, so an export re-imports byte for byte.
    common_names: Mapped[list[CommonName]] = relationship(
        order_by="(CommonName.language, CommonName.position)", cascade="all, delete-orphan"
    )
    external_ids: Mapped[list[ExternalId]] = relationship(cascade="all, delete-orphan")


class PlantAttribute(Base):
    """One ``{key, value}`` pair of a plant's ``data`` array."""

    __tablename__ = "plant_attributes"
    __table_args__ = (
        UniqueConstraint("plant_id", "key"),
        Index("ix_plant_attributes_key_value", "key", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plant_id: Mapped[int] = mapped_column(ForeignKey("plants.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)


class CommonName(Base):
    __tablename__ = "common_names"
    __table_args__ = (
        UniqueConstraint("plant_id", "language", "name"),
        Index("ix_common_names_language_name", "language", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plant_id: Mapped[int] = mapped_column(ForeignKey("plants.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer, default=0)  # 0 = the primary name


class PlantRelation(Base):
    """A directed link; companion links are stored both ways."""

    __tablename__ = "plant_relations"
    __table_args__ = (UniqueConstraint("plant_id", "other_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plant_id: Mapped[int] = mapped_column(ForeignKey("plants.id", ondelete="CASCADE"), index=True)
    other_id: Mapped[int] = mapped_column(ForeignKey("plants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))


class ExternalId(Base):
    __tablename__ = "plant_external_ids"
    __table_args__ = (
        UniqueConstraint("plant_id", "system"),
        Index("ix_plant_external_ids_system_value", "system", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plant_id: Mapped[int] = mapped_column(ForeignKey("plants.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(200))


class PlantImage(Base):
    __tablename__ = "plant_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    plant_id: Mapped[int] = mapped_column(ForeignKey("plants.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(1000))
    author: Mapped[str | None] = mapped_column(String(300))
    licence: Mapped[str | None] = mapped_column(String(100))


class PlantRevision(Base):
    """One accepted create or update: who, when, why, and the plant before and after."""

    __tablename__ = "plant_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    plant_id: Mapped[int] = mapped_column(ForeignKey("plants.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlantSearchDocument(Base):
    """Text that full-text search reads: names (weighted high) and everything else."""

    __tablename__ = "plant_search_documents"

    plant_id: Mapped[int] = mapped_column(
        ForeignKey("plants.id", ondelete="CASCADE"), primary_key=True
    )
    names: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    facets: Mapped[str] = mapped_column(Text, default="")  # facet tokens, see db.fulltext
