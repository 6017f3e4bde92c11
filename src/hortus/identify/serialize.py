"""Pl@ntNet's JSON shapes (OpenAPI 2.2.2): "Identification result", "Species", "Project".

Plain functions from domain values to dicts; field names and nesting follow the published
definitions exactly. Hortus adds one field per result, ``plant`` (the knowledge-base plant: id,
link and care attributes), which Pl@ntNet clients ignore.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from hortus.identify.service import Identification
from hortus.plants.taxonomy import SpeciesRecord, TaxonName
from hortus.vision.engine import ReferencePhoto, reference_media_path
from hortus.vision.media import MEDIA_SIZES

MEDIA_ROUTE = "/v2/media/references"
PLANT_ROUTE = "/api/plants"


def scientific_name(name: str, authorship: str | None) -> str:
    """``name`` followed by its authorship when known."""
    return f"{name} {authorship}".strip() if authorship else name


def taxon_object(taxon: TaxonName | None) -> dict[str, str]:
    """Pl@ntNet's ``Genus``/``Family``: name without author, authorship, full name."""
    if taxon is None:
        return {"scientificNameWithoutAuthor": "", "scientificNameAuthorship": "",
                "scientificName": ""}
    return {"scientificNameWithoutAuthor": taxon.name,
            "scientificNameAuthorship": taxon.authorship or "",
            "scientificName": scientific_name(taxon.name, taxon.authorship)}


def species_object(record: SpeciesRecord) -> dict[str, Any]:
    """Pl@ntNet's result ``species`` (Model15)."""
    return {
        "scientificNameWithoutAuthor": record.scientific_name,
        "scientificNameAuthorship": record.authorship or "",
        "scientificName": scientific_name(record.scientific_name, record.authorship),
        "genus": taxon_object(record.genus),
        "family": taxon_object(record.family),
        "commonNames": list(record.common_names),
    }


def _external_ids(record: SpeciesRecord) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    gbif = record.external_ids.get("gbif", "")
    if gbif.isdigit():
        ids["gbif"] = {"id": int(gbif)}
    if record.external_ids.get("powo"):
        ids["powo"] = {"id": record.external_ids["powo"]}
    iucn = record.external_ids.get("iucn")
    if iucn:  # stored as "id:category" (or a bare category)
        ident, _, category = iucn.partition(":")
        ids["iucn"] = {"id": ident, "category": category or ident}
    return ids


def _date(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {"timestamp": 0, "string": ""}
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return {"timestamp": int(moment.timestamp() * 1000), "string": raw}
    except ValueError:
        return {"timestamp": 0, "string": raw}


def image_objects(references: list[ReferencePhoto], *, media_dir: Path,
                  base_url: str) -> list[dict[str, Any]]:
    """Pl@ntNet's ``Image`` for each reference photo whose media files exist (others omitted)."""
    images = []
    for reference in references:
        try:
            paths = {s: reference_media_path(media_dir, reference.sha256, s) for s in MEDIA_SIZES}
        except ValueError:
            continue
        if not all(path.is_file() for path in paths.values()):
            continue
        images.append({
            "organ": reference.organ or "",
            "author": reference.author or "",
            "license": reference.licence or "",
            "date": _date(reference.date),
            "citation": reference.citation or "",
            "url": {s: f"{base_url}{MEDIA_ROUTE}/{reference.sha256}/{s}" for s in MEDIA_SIZES},
        })
    return images


def plant_link(record: SpeciesRecord, base_url: str) -> dict[str, Any] | None:
    """Hortus extension: the knowledge-base plant behind a result, with its care attributes."""
    if record.plant_id is None:
        return None
    return {"id": record.plant_id, "url": f"{base_url}{PLANT_ROUTE}/{record.plant_id}",
            "care": dict(record.care)}


def identification_result(result: Identification, *, language: str, include_images: bool,
                          no_reject: bool, type_: str, detailed: bool, remaining: int,
                          media_dir: Path, base_url: str) -> dict[str, Any]:
    """The whole "Identification result" object."""
    results = []
    for taxon in result.ranked:
        record = result.records.get(taxon.name) or SpeciesRecord(taxon.name, taxon.name)
        entry: dict[str, Any] = {"score": taxon.score, "species": species_object(record)}
        if include_images:
            entry["images"] = image_objects(result.references.get(taxon.name, []),
                                            media_dir=media_dir, base_url=base_url)
        entry.update(_external_ids(record))
        link = plant_link(record, base_url)
        if link is not None:
            entry["plant"] = link
        results.append(entry)
    answer: dict[str, Any] = {
        "query": {
            "project": result.project,
            "images": [p.image_id for p in result.photos],
            "organs": [p.organ for p in result.photos],
            "includeRelatedImages": include_images,
            "noReject": no_reject,
            "type": type_,
        },
        "language": language,
        "preferedReferential": result.preferred_project,
        "bestMatch": results[0]["species"]["scientificName"] if results else "",
        "results": results,
        "version": result.version,
        "remainingIdentificationRequests": remaining,
        "predictedOrgans": [
            {"image": p.image_id, "filename": p.filename, "organ": o.organ, "score": o.score}
            for p, o in zip(result.photos, result.predicted_organs, strict=True)
        ],
    }
    if detailed:
        answer["otherResults"] = _other_results(result)
    return answer


def _other_results(result: Identification) -> dict[str, Any]:
    family_of_genus: dict[str, TaxonName] = {}
    for record in result.records.values():
        if record.genus and record.family:
            family_of_genus.setdefault(record.genus.name, record.family)
    genera = [{"score": g.score,
               "genus": {"scientificName": g.name,
                         "family": taxon_object(family_of_genus.get(g.name)),
                         "commonNames": []}}
              for g in result.genus_scores]
    families = [{"score": f.score, "family": {"scientificName": f.name, "commonNames": []}}
                for f in result.family_scores]
    return {"genus": genera, "family": families}


def species_list_entry(record: SpeciesRecord) -> dict[str, Any]:
    """Pl@ntNet's ``Species`` (list of species a project can identify)."""
    entry: dict[str, Any] = {
        "id": record.scientific_name,
        "scientificNameWithoutAuthor": record.scientific_name,
        "scientificNameAuthorship": record.authorship or "",
        "commonNames": list(record.common_names),
        "genus": record.genus.name if record.genus else "",
        "family": record.family.name if record.family else "",
    }
    gbif = record.external_ids.get("gbif", "")
    if gbif.isdigit():
        entry["gbifId"] = int(gbif)
    if record.external_ids.get("powo"):
        entry["powoId"] = record.external_ids["powo"]
    iucn = record.external_ids.get("iucn")
    if iucn:
        entry["iucnCategory"] = iucn.partition(":")[2] or iucn
    return entry
