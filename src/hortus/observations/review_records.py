"""The label aggregation's records in the database: the observations and votes it reads, and
the label and standing rows it writes (:mod:`hortus.observations.review_store` decides when).

An observation row and its determination votes become a :class:`hortus.review.aggregation.
Observation`; an ``observation_labels`` row is an observation's verdict and its history, a
``reviewer_standings`` row a voter's standing and history (:mod:`hortus.review.state`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from hortus.observations.models import (
    Observation,
    ObservationLabel,
    ObservationVote,
    VoterStanding,
)
from hortus.review import aggregation
from hortus.review.aggregation import AiPrediction, ReviewPolicy
from hortus.review.state import ObservationReview, ReviewerStanding, ReviewState

BATCH = 500
Progress = Callable[[str, int, int], None]  # (phase, done, total)


def author_key(observation_id: int, author_id: int | None) -> aggregation.UserId:
    """The aggregation's author of an observation: the account, or for an observation whose
    author's account is gone, a name no voter can have."""
    return author_id if author_id is not None else f"~{observation_id}"


def ai_prediction(suggestions: Sequence[Mapping[str, Any]], rejected: bool) -> AiPrediction | None:
    """The AI's top suggestion with its probability; None when the open-set rule rejected the
    photos or there is none."""
    if rejected or not suggestions:
        return None
    best = suggestions[0]
    return AiPrediction(species=str(best["species"]), probability=float(best.get("score") or 0))


def aggregation_observation(*, observation_id: int, author_id: int | None,
                            quality_score: float | None, suggestions: Sequence[Mapping[str, Any]],
                            rejected: bool, deleted: bool,
                            votes: Mapping[aggregation.UserId, aggregation.SpeciesId]
                            ) -> aggregation.Observation:
    """An observation and its determination votes as the aggregation sees it (a deleted
    observation keeps its place, without votes)."""
    return aggregation.Observation(
        observation_id=observation_id, author=author_key(observation_id, author_id),
        votes={} if deleted else dict(votes), quality_score=quality_score,
        ai_prediction=ai_prediction(suggestions, rejected),
    )


# -- reading the stored state ------------------------------------------------------------------

def determination_votes(session: Session) -> dict[int, dict[aggregation.UserId, str]]:
    """Every determination vote: species by voter, by observation."""
    votes: dict[int, dict[aggregation.UserId, str]] = {}
    for observation_id, account_id, value in session.execute(
            select(ObservationVote.observation_id, ObservationVote.account_id,
                   ObservationVote.value).where(ObservationVote.kind == "determination")):
        votes.setdefault(observation_id, {})[account_id] = value
    return votes


def review_observations(session: Session) -> Iterator[aggregation.Observation]:
    """Every observation (deleted ones included, without votes) as the aggregation sees it."""
    votes = determination_votes(session)
    rows = session.execute(
        select(Observation.id, Observation.author_id, Observation.quality_score,
               Observation.ai_suggestions, Observation.ai_rejected, Observation.deleted_at)
        .order_by(Observation.id))
    for key, author_id, quality_score, suggestions, rejected, deleted_at in rows:
        yield aggregation_observation(
            observation_id=key, author_id=author_id, quality_score=quality_score,
            suggestions=suggestions, rejected=rejected, deleted=deleted_at is not None,
            votes=votes.get(key, {}))


def stored_state(session: Session, policy: ReviewPolicy, changes_by_round: list[int],
                  observations: Iterable[aggregation.Observation]) -> ReviewState | None:
    """The state the stored records describe; None when they do not describe one (a record
    missing, a voter without a standing)."""
    catalogue: dict[aggregation.ObservationId, aggregation.Observation] = {
        o.observation_id: o for o in observations}
    labels: dict[aggregation.ObservationId, ObservationLabel] = {
        row.observation_id: row for row in session.scalars(select(ObservationLabel))}
    if set(labels) != set(catalogue):
        return None
    reviews = {
        key: ObservationReview(
            observation=observation, label=labels[key].label, conf=labels[key].confidence,
            acc=labels[key].accuracy, valid=labels[key].valid,
            history=[(label, bool(valid)) for label, valid in labels[key].history])
        for key, observation in catalogue.items()}
    votes_by_user: dict[aggregation.UserId,
                        dict[aggregation.ObservationId, aggregation.SpeciesId]] = {}
    for observation in catalogue.values():
        for user, species in observation.votes.items():
            votes_by_user.setdefault(user, {})[observation.observation_id] = species
    standings: dict[aggregation.UserId, VoterStanding] = {
        row.account_id: row for row in session.scalars(select(VoterStanding))}
    if set(standings) != set(votes_by_user):
        return None
    reviewers = {
        user: ReviewerStanding(
            votes=votes, author_species=frozenset(standings[user].author_species),
            voter_species=frozenset(standings[user].voter_species),
            expertise=standings[user].expertise, weight=standings[user].weight,
            history=list(standings[user].history))
        for user, votes in votes_by_user.items()}
    return ReviewState(policy=policy, observations=reviews, reviewers=reviewers,
                       changes_by_round=list(changes_by_round))


# -- writing it --------------------------------------------------------------------------------

def label_values(review: ObservationReview) -> dict[str, Any]:
    """The columns of an ``observation_labels`` row for an observation's review."""
    return {"label": None if review.label is None else str(review.label),
            "confidence": review.conf, "accuracy": review.acc, "valid": review.valid,
            "history": [[label, valid] for label, valid in review.history]}


def standing_values(standing: ReviewerStanding) -> dict[str, Any]:
    """The columns of a ``reviewer_standings`` row for a voter's standing."""
    return {"author_species": sorted(map(str, standing.author_species)),
            "voter_species": sorted(map(str, standing.voter_species)),
            "expertise": standing.expertise, "weight": standing.weight,
            "history": list(standing.history)}


def verdict_of(row: ObservationLabel | None) -> tuple[Any, ...] | None:
    """What partners see of a label row: label, confidence, accuracy, validity."""
    if row is None:
        return None
    return (row.label, row.confidence, row.accuracy, row.valid)


def chunks(keys: Iterable[Any]) -> Iterator[list[Any]]:
    """``keys`` in lists of at most :data:`BATCH` (for ``IN (...)`` clauses)."""
    batch: list[Any] = []
    for key in keys:
        batch.append(key)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def save_observations(session: Session, state: ReviewState, keys: Iterable[Any]) -> set[int]:
    """Upsert the label rows of ``keys``; the ids whose label, confidence, accuracy or validity
    moved."""
    moved: set[int] = set()
    for batch in chunks(sorted(k for k in keys if isinstance(k, int))):
        rows = {row.observation_id: row for row in session.scalars(
            select(ObservationLabel).where(ObservationLabel.observation_id.in_(batch)))}
        for key in batch:
            review = state.observations.get(key)
            row = rows.get(key)
            if review is None:  # not an observation of the state (never the case)
                continue
            values = label_values(review)
            before = verdict_of(row)
            if row is None:
                row = ObservationLabel(observation_id=key, **values)
                session.add(row)
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            if before != verdict_of(row):
                moved.add(key)
    return moved


def save_reviewers(session: Session, state: ReviewState, users: Iterable[Any]) -> None:
    """Upsert the standing rows of ``users``, and delete those of voters who left the state."""
    for batch in chunks(sorted(u for u in users if isinstance(u, int))):
        rows = {row.account_id: row for row in session.scalars(
            select(VoterStanding).where(VoterStanding.account_id.in_(batch)))}
        for user in batch:
            standing, row = state.reviewers.get(user), rows.get(user)
            if standing is None:
                if row is not None:
                    session.delete(row)
                continue
            values = standing_values(standing)
            if row is None:
                session.add(VoterStanding(account_id=user, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)


def save_everything(session: Session, state: ReviewState,
                     progress: Progress | None = None) -> None:
    """Replace every stored record with the state's (after a full recomputation)."""
    session.flush()
    session.execute(delete(ObservationLabel))
    session.execute(delete(VoterStanding))
    labels = [{"observation_id": key, **label_values(review)}
              for key, review in sorted(state.observations.items()) if isinstance(key, int)]
    standings = [{"account_id": user, **standing_values(standing)}
                 for user, standing in sorted(state.reviewers.items(), key=lambda i: str(i[0]))
                 if isinstance(user, int)]
    total, done = len(labels) + len(standings), 0
    for table, rows in ((ObservationLabel, labels), (VoterStanding, standings)):
        for start in range(0, len(rows), BATCH):
            batch = rows[start:start + BATCH]
            session.execute(insert(table), batch)
            done += len(batch)
            if progress is not None:
                progress("saving", done, total)
