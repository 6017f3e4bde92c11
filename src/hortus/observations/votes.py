"""Votes: one per person per target, replaced when cast again, and what they settle.

* A **determination** vote names a species; the determination votes of an observation are the
  input of the label aggregation (:mod:`hortus.review`), updated in the same transaction.
* An **organ** vote says what one photo shows. A photo's organ is the one most people voted,
  ties going to its author's vote, then to the order leaf, flower, fruit, bark, habit, other;
  without votes it stays as declared (``auto`` when the author did not say).
* A **quality** vote says whether one photo is good (true) or bad. A photo's quality score is
  ``1 + 4 * good / (good + bad)``, from 1 (every vote bad) to 5 (every vote good); the
  observation's is its best photo's (None: no quality vote yet). Pl@ntNet validates only
  observations whose quality score is at least 2, so an observation whose every scored photo
  has more than three bad votes for each good one cannot be valid.

Every function here runs inside a write transaction that holds the review lock
(:class:`~hortus.observations.review_store.ReviewTransaction`), so votes on one observation
never race.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hortus.db import utcnow
from hortus.observations.models import Observation, ObservationImage, ObservationVote
from hortus.observations.review_store import ReviewTransaction

VOTE_ORGANS = ("leaf", "flower", "fruit", "bark", "habit", "other")
GOOD, BAD = "good", "bad"


def store_vote(session: Session, *, observation_id: int, account_id: int, kind: str,
               image: str, value: str, score: float | None) -> bool:
    """Insert or replace one person's vote on one target; False when the same vote (value and
    score) was already there."""
    vote = session.scalar(select(ObservationVote).where(
        ObservationVote.observation_id == observation_id,
        ObservationVote.account_id == account_id, ObservationVote.kind == kind,
        ObservationVote.image == image))
    now = utcnow()
    if vote is None:
        session.add(ObservationVote(observation_id=observation_id, account_id=account_id,
                                    kind=kind, image=image, value=value, score=score,
                                    created_at=now, updated_at=now))
        session.flush()
        return True
    if vote.value == value and vote.score == score:
        return False
    vote.value, vote.score, vote.updated_at = value, score, now
    session.flush()
    return True


def _image_votes(session: Session, observation_id: int, kind: str,
                 image: str) -> list[tuple[int, str]]:
    return [(account_id, value) for account_id, value in session.execute(
        select(ObservationVote.account_id, ObservationVote.value).where(
            ObservationVote.observation_id == observation_id, ObservationVote.kind == kind,
            ObservationVote.image == image))]


def settled_organ(votes: list[tuple[int, str]], author_id: int | None, declared: str) -> str:
    """The organ most people voted for a photo (see the module docstring)."""
    if not votes:
        return declared
    counts = Counter(value for _, value in votes)
    best = max(counts.values())
    tied = [organ for organ, count in counts.items() if count == best]
    authors = [value for account_id, value in votes if account_id == author_id]
    if authors and authors[0] in tied:
        return authors[0]
    return min(tied, key=lambda organ: (VOTE_ORGANS.index(organ)
                                         if organ in VOTE_ORGANS else len(VOTE_ORGANS), organ))


def quality_score(votes: list[tuple[int, str]]) -> float | None:
    """A photo's quality score from its votes: 1 + 4 * good / (good + bad); None without."""
    if not votes:
        return None
    good = sum(1 for _, value in votes if value == GOOD)
    return 1.0 + 4.0 * good / len(votes)


def cast_determination(review: ReviewTransaction, observation: Observation, *,
                       account_id: int, species: str, score: float) -> bool:
    """Record a determination vote and bring the aggregation up to date."""
    changed = store_vote(review.session, observation_id=observation.id, account_id=account_id,
                         kind="determination", image="", value=species, score=score)
    current = review.observation(observation.id)
    if current is None or current.votes.get(account_id) != species:
        review.vote(observation.id, account_id, species)
    return changed


def cast_organ(review: ReviewTransaction, observation: Observation, image: ObservationImage,
               *, account_id: int, organ: str, score: float) -> bool:
    """Record an organ vote and settle the photo's organ."""
    session = review.session
    changed = store_vote(session, observation_id=observation.id, account_id=account_id,
                         kind="organ", image=image.sha256, value=organ, score=score)
    image.organ = settled_organ(_image_votes(session, observation.id, "organ", image.sha256),
                                observation.author_id, image.declared_organ)
    return changed


def cast_quality(review: ReviewTransaction, observation: Observation, image: ObservationImage,
                 *, account_id: int, good: bool) -> bool:
    """Record a quality vote, rescore the photo and the observation, and bring the aggregation
    up to date when the observation's score moved (it bears on validity)."""
    session = review.session
    changed = store_vote(session, observation_id=observation.id, account_id=account_id,
                         kind="quality", image=image.sha256, value=GOOD if good else BAD,
                         score=None)
    image.quality_score = quality_score(
        _image_votes(session, observation.id, "quality", image.sha256))
    session.flush()
    best = session.scalar(select(func.max(ObservationImage.quality_score)).where(
        ObservationImage.observation_id == observation.id))
    observation.quality_score = None if best is None else float(best)
    current = review.observation(observation.id)
    if current is not None and current.quality_score != observation.quality_score:
        review.submit(replace(current, quality_score=observation.quality_score))
    return changed
