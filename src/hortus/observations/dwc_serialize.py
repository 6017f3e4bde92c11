"""Occurrence records (:mod:`hortus.observations.dwc`) to the Darwin Core routes' answers.

A stored photo's ``identifier`` is its served ``o`` size (1280 px JPEG, public like every
observation photo: :mod:`hortus.observations.serialize` says why), with the ``m`` and ``o``
sizes as Pl@ntNet's ``medium_url`` and ``large_url``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hortus.identify.serialize import MEDIA_ROUTE
from hortus.observations import dwc_schemas as wire
from hortus.observations.dwc import MediaRecord, OccurrenceRecord
from hortus.observations.dwc_terms import (
    BASIS_OF_RECORD,
    CASUAL,
    KINGDOM,
    RESEARCH,
    STILL_IMAGE,
    license_uri,
)
from hortus.observations.serialize import PARTNER_ID

GEODETIC_DATUM = "WGS84"
OCCURRENCE_STATUS = "present"


def iso_moment(moment: datetime) -> str:
    """A moment as ISO 8601 in UTC to the second (``2024-04-02T09:30:00Z``)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _media(media: MediaRecord, base_url: str) -> wire.OccurrenceMedia:
    if media.sha256 is None:
        return wire.OccurrenceMedia(type=STILL_IMAGE, identifier=media.url or "",
                             license=media.license, creator=media.creator,
                             rights_holder=media.rights_holder)
    url = f"{base_url}{MEDIA_ROUTE}/{media.sha256}"
    return wire.OccurrenceMedia(type=STILL_IMAGE, format="image/jpeg", identifier=f"{url}/o",
                         medium_url=f"{url}/m", large_url=f"{url}/o",
                         organ=media.organ or None, license=media.license,
                         creator=media.creator, rights_holder=media.rights_holder)


def _taxon(record: OccurrenceRecord, language: str) -> wire.OccurrenceTaxon:
    species = record.species
    gbif = species.external_ids.get("gbif", "") if species is not None else ""
    return wire.OccurrenceTaxon(
        id=int(gbif) if gbif.isdigit() else None, name=record.label or "",
        rank=record.taxon_rank or "", kingdom=KINGDOM, family=record.family,
        genus=record.genus,
        common_names={language: list(species.common_names)} if species is not None else {})


def occurrence(record: OccurrenceRecord, *, base_url: str,
               language: str) -> wire.DarwinCoreOccurrence:
    """Pl@ntNet's ``DarwinCore occurrence`` for one record."""
    located = record.latitude is not None and record.longitude is not None
    return wire.DarwinCoreOccurrence(
        id=str(record.observation_id), event_date=iso_moment(record.observed_at),
        observed_on=record.observed_at.astimezone(UTC).date().isoformat(),
        scientific_name=record.scientific_name or "",
        owner_institution_code_property=PARTNER_ID,
        identification_verification_status=RESEARCH if record.valid else CASUAL,
        basis_of_record=BASIS_OF_RECORD, type=STILL_IMAGE,
        license=license_uri(record.license_code), rights_holder=record.recorded_by,
        occurrence_status=OCCURRENCE_STATUS, occurrence_id=record.occurrence_id,
        modified=iso_moment(record.modified), recorded_by=record.recorded_by,
        identified_by=" | ".join(record.identified_by),
        verbatim_identification=record.verbatim_identification,
        scientific_name_authorship=record.authorship, taxon_rank=record.taxon_rank or "",
        kingdom=KINGDOM, family=record.family, genus=record.genus,
        decimal_latitude=record.latitude if located else None,
        decimal_longitude=record.longitude if located else None,
        geodetic_datum=GEODETIC_DATUM if located else None,
        coordinate_uncertainty_in_meters=record.accuracy if located else None,
        geolocation_accuracy=record.accuracy if located else None,
        locality=record.place or None,
        taxon=_taxon(record, language),
        user=wire.OccurrenceUser(
            id=str(record.author_id) if record.author_id is not None else None),
        media=[_media(m, base_url) for m in record.media],
        votes=[wire.OccurrenceVote(determination=v.name, count=v.count, score=v.weight,
                            selected=v.selected) for v in record.votes],
    )
