"""Tables of the observations domain: observations and their photos, votes, and the state of
the label aggregation (:mod:`hortus.review`) as it persists between votes.

An observation's photos are media objects (:mod:`hortus.media`) named by the sha256 of their
bytes; the row keeps the key, the organ the author declared and the organ and quality the
votes settle on. Every vote is a row, one per person per target (unique), including the
author's own determination and organs: "the author's determination is the author's vote".
``observation_labels`` and ``reviewer_standings`` hold the aggregation's records (label,
confidence, accuracy, validity; expertise count, weight, credited species) with the histories
the incremental update replays; ``review_runs`` holds the loop's per-round changes once, and
its single row is the lock every vote takes (:mod:`hortus.observations.review_store`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hortus.db.base import Base, UTCDateTime, utcnow

DEFAULT_LICENSE = "cc-by-sa"
VOTE_KINDS = ("determination", "organ", "quality")
REVIEW_RUN_ID = 1  # the one row of review_runs


class Observation(Base):
    """A plant someone saw: photos, the author's determination (a vote), the AI's suggestions.

    ``ai_suggestions`` is the identification made when the observation was saved: a list of
    ``{"species", "score"}``, best first (Pl@ntNet's "Identification results list");
    ``ai_rejected`` says the open-set rule found the photos unlike every known species.
    ``quality_score`` is derived from the photos' quality votes (None: never voted).
    """

    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    location_accuracy: Mapped[float | None] = mapped_column(Float)  # metres
    place: Mapped[str | None] = mapped_column(String(300))
    license: Mapped[str] = mapped_column(String(16), default=DEFAULT_LICENSE)
    project: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(200))
    ai_suggestions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    ai_rejected: Mapped[bool] = mapped_column(Boolean, default=False)
    quality_score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped whenever a vote lands on it or its label, confidence or validity moves
    # (GET /v2/observations/sync/latest lists by it).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    images: Mapped[list[ObservationImage]] = relationship(
        order_by="ObservationImage.position", cascade="all, delete-orphan", lazy="selectin")


class ObservationImage(Base):
    """One photo of an observation: its media key (sha256), the organ the author declared, and
    the organ and quality score its votes settle on."""

    __tablename__ = "observation_images"
    __table_args__ = (UniqueConstraint("observation_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    observation_id: Mapped[int] = mapped_column(
        ForeignKey("observations.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    declared_organ: Mapped[str] = mapped_column(String(16))
    organ: Mapped[str] = mapped_column(String(16))
    quality_score: Mapped[float | None] = mapped_column(Float)


class ObservationVote(Base):
    """One person's vote on one target of an observation: its determination (``image`` empty),
    or one photo's organ or quality. Voting again replaces the row's value."""

    __tablename__ = "observation_votes"
    __table_args__ = (
        UniqueConstraint("observation_id", "account_id", "kind", "image"),
        Index("ix_observation_votes_account_id_kind", "account_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    observation_id: Mapped[int] = mapped_column(
        ForeignKey("observations.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # determination | organ | quality
    image: Mapped[str] = mapped_column(String(64), default="")  # a photo's sha256, or ""
    value: Mapped[str] = mapped_column(String(300))  # species name, organ, "good" | "bad"
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ObservationLabel(Base):
    """The aggregation's verdict on one observation: label, confidence (summed weight behind
    it), accuracy (its share), validity, and ``history``: (label, valid) after each round of
    the loop, up to the last change (:mod:`hortus.review.state`)."""

    __tablename__ = "observation_labels"

    observation_id: Mapped[int] = mapped_column(
        ForeignKey("observations.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str | None] = mapped_column(String(300))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    accuracy: Mapped[float] = mapped_column(Float, default=0.0)
    valid: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    history: Mapped[list[Any]] = mapped_column(JSON)


class VoterStanding(Base):
    """One voter's standing: the species credited as author and as voter, the expertise count
    n_u, the weight f(n_u) and ``history``: n_u after each round of the loop."""

    __tablename__ = "reviewer_standings"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    author_species: Mapped[list[str]] = mapped_column(JSON)
    voter_species: Mapped[list[str]] = mapped_column(JSON)
    expertise: Mapped[int] = mapped_column(Integer, default=0)
    weight: Mapped[float] = mapped_column(Float)
    history: Mapped[list[int]] = mapped_column(JSON)


class ReviewRun(Base):
    """The aggregation as a whole (one row): the policy it was computed under, the loop's
    per-round changes, and ``token``, a new random value at every update, by which a process
    knows whether the state it holds in memory is still the stored one."""

    __tablename__ = "review_runs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    policy: Mapped[str] = mapped_column(String(64), default="")
    changes_by_round: Mapped[list[int]] = mapped_column(JSON)
    token: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
