"""Valid observations' photos as related images of their species in identification results.

Pl@ntNet shows its users' photos beside each result, with their author and licence; so does
Hortus, once the community has validated an observation. Read at answer time, not copied: one
query over the valid, not deleted observations whose label is one of the ranked species, so a
photo appears the moment its observation becomes valid and disappears the moment it stops
being (a vote, a deletion) — no table to keep in step with the aggregation.

For each species up to :data:`PER_SPECIES` photos, after the model's own reference photos:
those showing an organ the query's photos show first, then the better photos (quality score;
photos voted mostly bad, under 2, are never shown), then the observations whose label is the
most certain, the newest first. Only photos whose o, m and s sizes are stored are offered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from hortus.accounts.models import Account
from hortus.accounts.service import public_name
from hortus.db import Database
from hortus.media.store import MediaStore
from hortus.observations.dwc_models import DwcMedia, DwcPerson
from hortus.observations.dwc_terms import license_from_text
from hortus.observations.models import Observation, ObservationImage, ObservationLabel
from hortus.plants.taxonomy import normalise_name
from hortus.vision.engine import ReferencePhoto
from hortus.vision.media import MEDIA_SIZES, reference_media_key

PER_SPECIES = 3
CANDIDATES = 24  # photos read per species before choosing
MIN_QUALITY = 2.0  # Pl@ntNet's quality threshold
UNSCORED_QUALITY = 3.0  # a photo nobody has judged sits between good and bad


@dataclass(frozen=True)
class _Candidate:
    name: str
    sha256: str
    organ: str
    quality: float
    confidence: float
    observation_id: int
    author_id: int | None
    license: str
    observed_at: str


def _candidates(database: Database, wanted: dict[str, str]) -> list[_Candidate]:
    label = func.lower(ObservationLabel.label)
    ranked = (
        select(ObservationImage.sha256, ObservationImage.organ, ObservationImage.quality_score,
               ObservationLabel.label, ObservationLabel.confidence, Observation.id,
               Observation.author_id, Observation.license, Observation.observed_at,
               func.row_number().over(
                   partition_by=label,
                   order_by=(ObservationLabel.confidence.desc(), Observation.id.desc(),
                             ObservationImage.position)).label("place"))
        .join(Observation, Observation.id == ObservationImage.observation_id)
        .join(ObservationLabel, ObservationLabel.observation_id == Observation.id)
        .where(ObservationLabel.valid.is_(True), Observation.deleted_at.is_(None),
               label.in_(sorted(wanted)),
               or_(ObservationImage.quality_score.is_(None),
                   ObservationImage.quality_score >= MIN_QUALITY))
        .subquery())
    with database.read() as session:
        rows = session.execute(select(ranked).where(ranked.c.place <= CANDIDATES)).all()
    return [_Candidate(
        name=wanted[str(row.label).lower()], sha256=row.sha256, organ=row.organ,
        quality=row.quality_score if row.quality_score is not None else UNSCORED_QUALITY,
        confidence=row.confidence, observation_id=row.id, author_id=row.author_id,
        license=row.license, observed_at=row.observed_at.isoformat())
        for row in rows if str(row.label).lower() in wanted]


def _credits(database: Database, chosen: Sequence[_Candidate]
             ) -> tuple[dict[int, str], dict[tuple[int, str], DwcMedia]]:
    """Each author's public name (an archive's name for an imported one), and the credits an
    archive gave imported photos."""
    authors = sorted({c.author_id for c in chosen if c.author_id is not None})
    observations = sorted({c.observation_id for c in chosen})
    with database.read() as session:
        handles = dict(session.execute(select(Account.id, Account.handle)
                                       .where(Account.id.in_(authors))).all()) if authors else {}
        people = dict(session.execute(select(DwcPerson.account_id, DwcPerson.name)
                                      .where(DwcPerson.account_id.in_(authors))).all()) \
            if authors else {}
        media = {(m.observation_id, m.sha256 or ""): m for m in session.scalars(
            select(DwcMedia).where(DwcMedia.observation_id.in_(observations),
                                   DwcMedia.sha256.is_not(None)))} if observations else {}
    names = {a: people.get(a) or public_name(account_id=a, handle=handles.get(a)) or ""
             for a in authors}
    return names, media


def _keys(sha256: str) -> list[str]:
    return [reference_media_key(sha256, size) for size in MEDIA_SIZES]


def valid_observation_photos(database: Database, media: MediaStore, names: Sequence[str],
                             organs: Sequence[str]) -> dict[str, list[ReferencePhoto]]:
    """Up to :data:`PER_SPECIES` photos of valid observations for each of ``names`` (the
    ranked species, as the identification spells them), by name (blocking)."""
    wanted = {normalise_name(name).lower(): name for name in names if name.strip()}
    if not wanted:
        return {}
    shown = set(organs)
    candidates = sorted(_candidates(database, wanted), key=lambda c: (
        c.name, c.organ not in shown, -c.quality, -c.confidence, -c.observation_id))
    held = media.existing(k for c in candidates for k in _keys(c.sha256))
    chosen: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        picked = chosen.setdefault(candidate.name, [])
        if len(picked) < PER_SPECIES and all(k in held for k in _keys(candidate.sha256)) \
                and all(p.sha256 != candidate.sha256 for p in picked):
            picked.append(candidate)
    authors, credits = _credits(database, [c for picked in chosen.values() for c in picked])
    answer: dict[str, list[ReferencePhoto]] = {}
    for name, picked in chosen.items():
        for c in picked:
            credit = credits.get((c.observation_id, c.sha256))
            author = (credit.creator if credit is not None and credit.creator
                      else authors.get(c.author_id or 0, ""))
            licence = c.license
            if credit is not None and credit.license:
                licence = license_from_text(credit.license) or credit.license
            answer.setdefault(name, []).append(ReferencePhoto(
                sha256=c.sha256, label=name, similarity=0.0, author=author, licence=licence,
                citation=f"{author or 'anonymous'} / Hortus observation {c.observation_id}, "
                         f"{licence}",
                date=c.observed_at, organ=c.organ if c.organ != "auto" else None))
    return answer
