"""Reading observations: one by id, or a page of the latest updated, as views ready to serialise.

A view gathers what an observation's answer shows from five tables (the observation and its
photos, its votes, its label, the voters' weights) and the knowledge base (the current name's
taxonomy), in a fixed number of queries per page whatever its size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from hortus.accounts.models import Account
from hortus.accounts.service import normalise_email, public_name
from hortus.errors import NotFound
from hortus.observations.models import (
    Observation,
    ObservationLabel,
    ObservationVote,
    VoterStanding,
)
from hortus.plants.taxonomy import SpeciesRecord, species_records
from hortus.review.aggregation import user_weight

BATCH = 500
OBSERVATION_NOT_FOUND = "Observation not found"
MAX_ID = 2**53  # larger "ids" name nothing (and do not fit a database integer)


@dataclass(frozen=True)
class ImageView:
    sha256: str
    organ: str
    quality_votes: dict[str, int]
    organ_votes: dict[str, int]
    deleted: bool


@dataclass(frozen=True)
class SpeciesSupport:
    """One species voted on an observation: voters and their summed weight."""

    name: str
    count: int
    weight: float


@dataclass(frozen=True)
class ObservationView:
    """Everything an observation's answer shows."""

    id: int
    author_id: int | None
    author_name: str
    license: str
    project: str
    observed_at: datetime
    created_at: datetime
    updated_at: datetime
    deleted: bool
    latitude: float | None
    longitude: float | None
    location_accuracy: float | None
    place: str | None
    ai_suggestions: list[dict[str, Any]]
    images: list[ImageView]
    label: str | None
    confidence: float
    accuracy: float
    valid: bool
    submitted: str | None  # the author's determination (their vote), None when unknown
    support: list[SpeciesSupport] = field(default_factory=list)
    species: SpeciesRecord | None = None  # the knowledge base on the current name


def parse_id(text: str) -> int:
    """An observation id from a URL; NotFound for anything that names none."""
    value = text.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 16 or int(value) > MAX_ID:
        raise NotFound(OBSERVATION_NOT_FOUND, error="observation not found")
    return int(value)


def _chunks(values: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(values), BATCH):
        yield list(values[start:start + BATCH])


def _views(session: Session, rows: Sequence[Observation]) -> list[ObservationView]:
    ids = [row.id for row in rows]
    labels: dict[int, ObservationLabel] = {}
    votes: dict[int, list[tuple[int, str, str, str]]] = {}
    for batch in _chunks(ids):
        labels.update({label.observation_id: label for label in session.scalars(
            select(ObservationLabel).where(ObservationLabel.observation_id.in_(batch)))})
        for observation_id, account_id, kind, image, value in session.execute(
                select(ObservationVote.observation_id, ObservationVote.account_id,
                       ObservationVote.kind, ObservationVote.image, ObservationVote.value)
                .where(ObservationVote.observation_id.in_(batch))
                .order_by(ObservationVote.id)):
            votes.setdefault(observation_id, []).append((account_id, kind, image, value))
    voters = sorted({account_id for entries in votes.values()
                     for account_id, kind, _, _ in entries if kind == "determination"})
    weights: dict[int, float] = {}
    for batch in _chunks(voters):
        weights.update({account_id: weight for account_id, weight in session.execute(
            select(VoterStanding.account_id, VoterStanding.weight)
            .where(VoterStanding.account_id.in_(batch)))})
    authors = sorted({row.author_id for row in rows if row.author_id is not None})
    handles: dict[int, str | None] = {}
    for batch in _chunks(authors):
        handles.update({account_id: handle for account_id, handle in session.execute(
            select(Account.id, Account.handle).where(Account.id.in_(batch)))})
    names = sorted({label.label for label in labels.values() if label.label})
    records = species_records(session=session, names=names) if names else {}
    return [_view(row, labels.get(row.id), votes.get(row.id, []), weights, handles, records)
            for row in rows]


def _view(row: Observation, label: ObservationLabel | None,
          votes: Iterable[tuple[int, str, str, str]], weights: dict[int, float],
          handles: dict[int, str | None], records: dict[str, SpeciesRecord]) -> ObservationView:
    deleted = row.deleted_at is not None
    support: dict[str, list[float]] = {}
    quality: dict[str, dict[str, int]] = {}
    organs: dict[str, dict[str, int]] = {}
    submitted = None
    for account_id, kind, image, value in votes:
        if kind == "determination":
            support.setdefault(value, []).append(weights.get(account_id, user_weight(0)))
            if account_id == row.author_id:
                submitted = value
        elif kind == "quality":
            counts = quality.setdefault(image, {"good": 0, "bad": 0})
            counts[value] = counts.get(value, 0) + 1
        elif kind == "organ":
            tally = organs.setdefault(image, {})
            tally[value] = tally.get(value, 0) + 1
    current = label.label if label is not None else None
    return ObservationView(
        id=row.id, author_id=row.author_id,
        author_name=public_name(account_id=row.author_id,
                                handle=handles.get(row.author_id) if row.author_id else None)
        or "unknown",
        license=row.license, project=row.project, observed_at=row.observed_at,
        created_at=row.created_at, updated_at=row.updated_at, deleted=deleted,
        latitude=row.latitude, longitude=row.longitude, location_accuracy=row.location_accuracy,
        place=row.place, ai_suggestions=list(row.ai_suggestions),
        images=[ImageView(sha256=image.sha256, organ=image.organ,
                          quality_votes=quality.get(image.sha256, {"good": 0, "bad": 0}),
                          organ_votes=organs.get(image.sha256, {}), deleted=deleted)
                for image in row.images],
        label=current, confidence=label.confidence if label is not None else 0.0,
        accuracy=label.accuracy if label is not None else 0.0,
        valid=bool(label.valid) if label is not None else False,
        submitted=submitted,
        support=[SpeciesSupport(name, len(ws), math.fsum(ws))
                 for name, ws in sorted(support.items(), key=lambda i: (-math.fsum(i[1]), i[0]))],
        species=records.get(current) if current else None,
    )


def get_observation(*, session: Session, observation_id: int,
                    include_deleted: bool = False) -> ObservationView:
    """One observation's view; NotFound when there is none (or it was deleted)."""
    row = session.get(Observation, observation_id)
    if row is None or (row.deleted_at is not None and not include_deleted):
        raise NotFound(OBSERVATION_NOT_FOUND, error="observation not found")
    return _views(session, [row])[0]


def _milliseconds(moment: float) -> datetime:
    return datetime.fromtimestamp(moment / 1000, tz=UTC)


@dataclass(frozen=True)
class SyncPage:
    """One page of ``sync/latest``: the views, whether more follow."""

    views: list[ObservationView]
    has_more: bool


def latest_updated(*, session: Session, start_ms: float, end_ms: float | None,
                   owner_email: str | None, ids: Sequence[str], offset: int,
                   limit: int) -> SyncPage:
    """Observations updated from ``start_ms`` to ``end_ms`` (both inclusive), oldest update
    first (then by id), deleted ones included (``deleted: true`` tells a partner to drop
    them); only the owner's with ``owner_email``, only those listed in ``ids``."""
    query: Select[Any] = select(Observation).where(
        Observation.updated_at >= _milliseconds(start_ms))
    if end_ms is not None:
        # A timestamp in ms names the whole millisecond: updates within it are included.
        query = query.where(Observation.updated_at < _milliseconds(math.floor(end_ms) + 1))
    if owner_email is not None:
        owner = select(Account.id).where(Account.email == normalise_email(owner_email))
        query = query.where(Observation.author_id.in_(owner.scalar_subquery()))
    wanted = [int(i) for i in ids if i.strip().isascii() and i.strip().isdigit()
              and len(i.strip()) <= 16]
    if ids:
        query = query.where(or_(*(Observation.id.in_(batch) for batch in _chunks(wanted)))
                            if wanted else Observation.id.is_(None))
    rows = list(session.scalars(query.order_by(Observation.updated_at, Observation.id)
                                .offset(offset).limit(limit + 1)))
    return SyncPage(views=_views(session, rows[:limit]), has_more=len(rows) > limit)
