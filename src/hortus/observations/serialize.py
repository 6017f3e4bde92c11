"""Observation views to Pl@ntNet's answer models (:mod:`hortus.observations.schemas`).

Photos are served by ``/v2/media/references/{sha256}/{size}`` (public, like the reference
photos of identification results: a photo's URL is known only to those who could read the
observation, and the sizes are re-encoded JPEGs without the original's EXIF, GPS included).
"""

from __future__ import annotations

import math
from datetime import datetime

from hortus.identify.serialize import IPNI_LSID, MEDIA_ROUTE
from hortus.observations import schemas
from hortus.observations.licenses import license_url
from hortus.observations.views import ObservationView
from hortus.vision.media import MEDIA_SIZES

PARTNER_ID = "hortus"


def milliseconds(moment: datetime) -> int:
    """A moment as Pl@ntNet's dates: whole milliseconds since the epoch."""
    return math.floor(moment.timestamp() * 1000)


def _species(view: ObservationView) -> schemas.ObservationSpecies:
    record = view.species
    if view.label is None:
        return schemas.ObservationSpecies(name="", author="", common_names=[], family="")
    if record is None:
        return schemas.ObservationSpecies(name=view.label, author="", common_names=[], family="")
    gbif = record.external_ids.get("gbif") or None
    return schemas.ObservationSpecies(
        name=record.scientific_name, author=record.authorship or "",
        common_names=list(record.common_names),
        family=record.family.name if record.family else "",
        genus=record.genus.name if record.genus else None,
        powo_id=(record.external_ids.get("powo") or "").removeprefix(IPNI_LSID) or None,
        gbif_id=gbif)


def _geo(view: ObservationView) -> schemas.Geolocation | None:
    if view.latitude is None or view.longitude is None:
        return None
    return schemas.Geolocation(lat=view.latitude, lon=view.longitude, place=view.place or "",
                               accuracy=view.location_accuracy)


def _images(view: ObservationView, base_url: str) -> list[schemas.ObservationImageOut]:
    images = []
    for image in view.images:
        urls = {size: f"{base_url}{MEDIA_ROUTE}/{image.sha256}/{size}" for size in MEDIA_SIZES}
        images.append(schemas.ObservationImageOut(
            id=image.sha256, organ=image.organ, deleted=image.deleted,
            quality_votes=dict(image.quality_votes), organs_votes=dict(image.organ_votes),
            **urls))
    return images


def _votes(view: ObservationView) -> list[schemas.SpeciesVotes]:
    """Each species voted; the current name's score also carries the aggregation's confidence
    and accuracy (with the AI's vote, when it votes)."""
    total = math.fsum(s.weight for s in view.support)
    votes = []
    for s in view.support:
        score = {"weight": s.weight, "share": s.weight / total if total > 0 else 0.0}
        if s.name == view.label:
            score |= {"confidence": view.confidence, "accuracy": view.accuracy}
        votes.append(schemas.SpeciesVotes(name=s.name, count=s.count, score=score,
                                          selected=s.name == view.label))
    return votes


def partner_observation(view: ObservationView, *, base_url: str) -> schemas.PartnerObservation:
    """Pl@ntNet's ``Partner observation``; ``currentName`` is the aggregated label ("" while
    nobody has named the plant) and ``isRevised`` says it differs from the author's."""
    return schemas.PartnerObservation(
        id=str(view.id), license=view.license, license_url=license_url(view.license),
        current_name=view.label or "", submitted_name=view.submitted,
        species=_species(view), geo=_geo(view), project=view.project,
        is_valid=view.valid,
        is_revised=view.label is not None and view.label != view.submitted,
        deleted=view.deleted,
        identification_results=[schemas.SuggestedSpecies(species=str(s["species"]),
                                                          score=float(s["score"]))
                                for s in view.ai_suggestions],
        author=schemas.ObservationAuthor(
            id=str(view.author_id) if view.author_id is not None else None,
            name=view.author_name),
        date_obs=milliseconds(view.observed_at), date_updated=milliseconds(view.updated_at),
        date_created=milliseconds(view.created_at),
        partner=schemas.PartnerReference(id=PARTNER_ID, observation_id=str(view.id)),
        images=_images(view, base_url), censored=False, votes=_votes(view),
    )
