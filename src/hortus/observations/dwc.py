"""Observations as Darwin Core occurrences: one record per observation, ready for the JSON
routes (:mod:`hortus.observations.dwc_router`) and the archive (:mod:`hortus.observations.
dwca_write`).

* ``occurrenceID``: an imported observation keeps the archive's; one made here is
  ``urn:hortus:<dataset identifier>:observation:<id>``, the identifier being a UUID this
  database makes the first time it is asked (:func:`dataset_identifier`), so occurrences of
  two servers never collide and re-importing one's own export is recognised.
* ``scientificName`` is the aggregated label with its authorship, ``identifiedBy`` the people
  whose determination votes are that label (the author first), ``verbatimIdentification`` the
  author's own determination, ``recordedBy`` and ``rightsHolder`` the author's public name (an
  imported observation's recorder as the archive wrote it).
* Photos: each stored photo with its organ, licence and creator (the author, under the
  observation's licence; an imported photo keeps the credits the archive gave it), and the
  photos an archive listed that were not stored (a URL), by their address.

Everything is read in a fixed number of queries per batch of observations.
"""

from __future__ import annotations

import re
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hortus.accounts.models import Account
from hortus.accounts.service import public_name
from hortus.db import Database
from hortus.observations.dwc_models import (
    DATASET_ROW_ID,
    DwcDataset,
    DwcMedia,
    DwcOccurrence,
    DwcPerson,
)
from hortus.observations.dwc_terms import license_from_text, license_uri
from hortus.observations.models import (
    Observation,
    ObservationLabel,
    ObservationVote,
    VoterStanding,
)
from hortus.plants.taxonomy import SpeciesRecord, species_records
from hortus.review.aggregation import user_weight

BATCH = 500
_LOCAL_ID = re.compile(r"^urn:hortus:(?P<dataset>[0-9a-f-]{36}):observation:(?P<id>[0-9]{1,16})$")


# -- the dataset's identifier ------------------------------------------------------------------

_identifiers_lock = threading.Lock()
_identifiers: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def dataset_identifier_in(session: Session) -> str:
    """This database's dataset identifier, made (in a savepoint of ``session``'s write
    transaction) when it has none yet."""
    found = session.scalar(select(DwcDataset.identifier).where(DwcDataset.id == DATASET_ROW_ID))
    if found is not None:
        return found
    try:
        with session.begin_nested():
            session.add(DwcDataset(id=DATASET_ROW_ID, identifier=str(uuid.uuid4())))
    except IntegrityError:  # another process made it first
        pass
    made = session.scalar(select(DwcDataset.identifier).where(DwcDataset.id == DATASET_ROW_ID))
    assert made is not None
    return made


def dataset_identifier(database: Database) -> str:
    """:func:`dataset_identifier_in` for a database (blocking), remembered per engine: it never
    changes once made."""
    with _identifiers_lock:
        known = _identifiers.get(database.engine)
    if known is not None:
        return known
    with database.read() as session:
        found = session.scalar(select(DwcDataset.identifier)
                               .where(DwcDataset.id == DATASET_ROW_ID))
    if found is None:
        with database.write() as session:
            found = dataset_identifier_in(session)
    with _identifiers_lock:
        _identifiers[database.engine] = found
    return found


def local_occurrence_id(dataset: str, observation_id: int) -> str:
    """The ``occurrenceID`` of an observation made on the server whose dataset is ``dataset``."""
    return f"urn:hortus:{dataset}:observation:{observation_id}"


def local_observation_id(dataset: str, occurrence_id: str) -> int | None:
    """The id of this server's observation an ``occurrenceID`` names (None: another's)."""
    match = _LOCAL_ID.match(occurrence_id)
    if match is None or match.group("dataset") != dataset:
        return None
    return int(match.group("id"))


# -- records -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class MediaRecord:
    """One photo of an occurrence: stored (``sha256``) or known by its address (``url``)."""

    sha256: str | None
    url: str | None
    organ: str | None
    license: str  # a URI or a name, as Darwin Core writes it
    license_code: str | None  # the stored code when it is one of ours
    creator: str
    rights_holder: str


@dataclass(frozen=True)
class VoteRecord:
    """One species voted on an occurrence: voters and their summed weight."""

    name: str
    count: int
    weight: float
    selected: bool


@dataclass(frozen=True)
class OccurrenceRecord:
    """Everything Darwin Core says of one observation."""

    observation_id: int
    occurrence_id: str
    author_id: int | None
    recorded_by: str
    identified_by: list[str]
    verbatim_identification: str | None
    label: str | None
    species: SpeciesRecord | None
    observed_at: datetime
    created_at: datetime
    modified: datetime
    latitude: float | None
    longitude: float | None
    accuracy: float | None
    place: str | None
    license_code: str
    valid: bool
    verbatim_name: str | None = None  # an import's name, as the archive wrote it
    media: list[MediaRecord] = field(default_factory=list)
    votes: list[VoteRecord] = field(default_factory=list)

    @property
    def taxon_rank(self) -> str | None:
        """``species`` (also a hybrid), ``subspecies``, ``variety``, ``form`` or ``genus``."""
        if not self.label:
            return None
        words = self.label.split()
        for marker, rank in (("subsp.", "subspecies"), ("var.", "variety"), ("f.", "form")):
            if marker in words[1:]:
                return rank
        return "species" if len(words) > 1 else "genus"

    @property
    def scientific_name(self) -> str | None:
        """The label with its authorship, as Darwin Core's ``scientificName`` wants it."""
        if not self.label:
            return None
        authorship = self.authorship
        return f"{self.label} {authorship}" if authorship else self.label

    @property
    def authorship(self) -> str | None:
        record = self.species
        if record is None or record.scientific_name != self.label:
            return None
        return record.authorship or None

    @property
    def family(self) -> str | None:
        record = self.species
        return record.family.name if record is not None and record.family else None

    @property
    def genus(self) -> str | None:
        record = self.species
        if record is not None and record.genus:
            return record.genus.name
        return self.label.split()[0] if self.label else None


def _chunks(values: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(values), BATCH):
        yield list(values[start:start + BATCH])


@dataclass
class _Batch:
    labels: dict[int, ObservationLabel] = field(default_factory=dict)
    votes: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    weights: dict[int, float] = field(default_factory=dict)
    handles: dict[int, str | None] = field(default_factory=dict)
    people: dict[int, str] = field(default_factory=dict)
    occurrences: dict[int, DwcOccurrence] = field(default_factory=dict)
    media: dict[int, list[DwcMedia]] = field(default_factory=dict)


def _read_batch(session: Session, ids: list[int], authors: set[int]) -> _Batch:
    batch = _Batch()
    batch.labels = {row.observation_id: row for row in session.scalars(
        select(ObservationLabel).where(ObservationLabel.observation_id.in_(ids)))}
    for observation_id, account_id, value in session.execute(
            select(ObservationVote.observation_id, ObservationVote.account_id,
                   ObservationVote.value)
            .where(ObservationVote.observation_id.in_(ids),
                   ObservationVote.kind == "determination")
            .order_by(ObservationVote.id)):
        batch.votes.setdefault(observation_id, []).append((account_id, value))
    people = sorted(authors | {a for votes in batch.votes.values() for a, _ in votes})
    for chunk in _chunks(people):
        batch.weights.update(dict(session.execute(
            select(VoterStanding.account_id, VoterStanding.weight)
            .where(VoterStanding.account_id.in_(chunk))).all()))
        batch.handles.update(dict(session.execute(
            select(Account.id, Account.handle).where(Account.id.in_(chunk))).all()))
        batch.people.update(dict(session.execute(
            select(DwcPerson.account_id, DwcPerson.name)
            .where(DwcPerson.account_id.in_(chunk))).all()))
    batch.occurrences = {row.observation_id: row for row in session.scalars(
        select(DwcOccurrence).where(DwcOccurrence.observation_id.in_(ids)))}
    for row in session.scalars(select(DwcMedia).where(DwcMedia.observation_id.in_(ids))
                               .order_by(DwcMedia.observation_id, DwcMedia.position)):
        batch.media.setdefault(row.observation_id, []).append(row)
    return batch


def person_name(batch: _Batch, account_id: int | None) -> str:
    """How Darwin Core names an account: the name an archive gave it, else its public name."""
    if account_id is None:
        return ""
    if account_id in batch.people:
        return batch.people[account_id]
    return public_name(account_id=account_id, handle=batch.handles.get(account_id)) or ""


def _media(row: Observation, batch: _Batch, author: str) -> list[MediaRecord]:
    listed = {m.sha256: m for m in batch.media.get(row.id, []) if m.sha256}
    media = []
    for image in row.images:
        credit = listed.get(image.sha256)
        licence = (credit.license if credit is not None and credit.license
                   else license_uri(row.license))
        media.append(MediaRecord(
            sha256=image.sha256, url=None, organ=image.organ, license=licence,
            license_code=license_from_text(licence) or row.license,
            creator=(credit.creator if credit is not None and credit.creator else author),
            rights_holder=(credit.rights_holder if credit is not None and credit.rights_holder
                           else author)))
    for credit in batch.media.get(row.id, []):
        if credit.sha256 is None and credit.identifier:  # listed, never stored
            licence = credit.license or license_uri(row.license)
            media.append(MediaRecord(
                sha256=None, url=credit.identifier, organ=None, license=licence,
                license_code=license_from_text(licence),
                creator=credit.creator or "", rights_holder=credit.rights_holder or ""))
    return media


def _record(row: Observation, batch: _Batch, dataset: str,
            records: dict[str, SpeciesRecord]) -> OccurrenceRecord:
    label_row = batch.labels.get(row.id)
    label = label_row.label if label_row is not None else None
    votes = batch.votes.get(row.id, [])
    imported = batch.occurrences.get(row.id)
    author = (imported.recorded_by or "") if imported is not None else \
        person_name(batch, row.author_id)
    agreeing = [a for a, value in votes if label is not None and value == label]
    agreeing.sort(key=lambda a: a != row.author_id)  # the author first, then in vote order
    submitted = next((value for a, value in votes if a == row.author_id), None)
    support: dict[str, list[float]] = {}
    for account_id, value in votes:
        support.setdefault(value, []).append(batch.weights.get(account_id, user_weight(0)))
    return OccurrenceRecord(
        observation_id=row.id,
        occurrence_id=(imported.occurrence_id if imported is not None
                       else local_occurrence_id(dataset, row.id)),
        author_id=row.author_id, recorded_by=author,
        identified_by=[author if a == row.author_id else person_name(batch, a)
                       for a in agreeing],
        verbatim_identification=submitted, label=label,
        species=records.get(label) if label else None,
        observed_at=row.observed_at, created_at=row.created_at, modified=row.updated_at,
        latitude=row.latitude, longitude=row.longitude, accuracy=row.location_accuracy,
        place=row.place, license_code=row.license,
        valid=bool(label_row.valid) if label_row is not None else False,
        verbatim_name=imported.scientific_name if imported is not None else None,
        media=_media(row, batch, author),
        votes=[VoteRecord(name=name, count=len(weights), weight=sum(weights),
                          selected=name == label)
               for name, weights in sorted(support.items(), key=lambda i: (-sum(i[1]), i[0]))],
    )


def occurrence_records(session: Session, rows: Sequence[Observation], *, dataset: str,
                       language: str = "en") -> list[OccurrenceRecord]:
    """The occurrences of ``rows`` (observations, their photos loaded), in their order."""
    records: list[OccurrenceRecord] = []
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        batch = _read_batch(session, [r.id for r in chunk],
                            {r.author_id for r in chunk if r.author_id is not None})
        names = sorted({label.label for label in batch.labels.values() if label.label})
        taxa = species_records(session=session, names=names, language=language) if names else {}
        records.extend(_record(row, batch, dataset, taxa) for row in chunk)
    return records


def iter_observations(session: Session, *, only_valid: bool,
                      batch_size: int = BATCH) -> Iterable[list[Observation]]:
    """Every observation not deleted (``only_valid``: only valid ones), in batches by id."""
    last = 0
    while True:
        query = select(Observation).where(Observation.deleted_at.is_(None),
                                          Observation.id > last)
        if only_valid:
            query = query.join(ObservationLabel,
                               ObservationLabel.observation_id == Observation.id) \
                .where(ObservationLabel.valid.is_(True))
        rows = list(session.scalars(query.order_by(Observation.id).limit(batch_size)))
        if not rows:
            return
        yield rows
        last = rows[-1].id
