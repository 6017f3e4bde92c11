"""Domain values to Pl@ntNet's answer models (:mod:`hortus.identify.schemas`).

Hortus adds one field per result, ``plant`` (the knowledge-base plant: id, link and care
attributes), which Pl@ntNet clients ignore.
"""

from __future__ import annotations

from datetime import datetime

from hortus.identify import schemas
from hortus.identify.schemas import IdentifyOptions
from hortus.identify.service import Identification
from hortus.plants.taxonomy import SpeciesRecord, TaxonName
from hortus.vision.engine import ReferencePhoto
from hortus.vision.media import MEDIA_SIZES

MEDIA_ROUTE = "/v2/media/references"
PLANT_ROUTE = "/api/plants"


def scientific_name(name: str, authorship: str | None) -> str:
    """``name`` followed by its authorship when known."""
    return f"{name} {authorship}".strip() if authorship else name


def taxon_object(taxon: TaxonName | None) -> schemas.TaxonObject:
    """Pl@ntNet's ``Genus``/``Family``: name without author, authorship, full name."""
    if taxon is None:
        return schemas.TaxonObject(scientific_name_without_author="",
                                   scientific_name_authorship="", scientific_name="")
    return schemas.TaxonObject(scientific_name_without_author=taxon.name,
                               scientific_name_authorship=taxon.authorship or "",
                               scientific_name=scientific_name(taxon.name, taxon.authorship))


def species_object(record: SpeciesRecord) -> schemas.ResultSpecies:
    """Pl@ntNet's result ``species`` (Model15)."""
    return schemas.ResultSpecies(
        scientific_name_without_author=record.scientific_name,
        scientific_name_authorship=record.authorship or "",
        scientific_name=scientific_name(record.scientific_name, record.authorship),
        genus=taxon_object(record.genus), family=taxon_object(record.family),
        common_names=list(record.common_names),
    )


def _iucn(record: SpeciesRecord) -> tuple[str, str] | None:
    """``(id, category)`` from the stored ``"id:category"`` (or a bare category)."""
    iucn = record.external_ids.get("iucn")
    if not iucn:
        return None
    ident, _, category = iucn.partition(":")
    return ident, category or ident


def _date(raw: str | None) -> schemas.ImageDate:
    if not raw:
        return schemas.ImageDate(timestamp=0, string="")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return schemas.ImageDate(timestamp=int(moment.timestamp() * 1000), string=raw)
    except ValueError:
        return schemas.ImageDate(timestamp=0, string=raw)


def image_objects(references: list[ReferencePhoto], *,
                  base_url: str) -> list[schemas.ReferenceImage]:
    """Pl@ntNet's ``Image`` for each reference photo (the service lists only photos whose
    sizes are all in the media store): organ, author, licence, date and citation as the
    photo's credits record them, and the URL of each size."""
    images = []
    for reference in references:
        urls = {s: f"{base_url}{MEDIA_ROUTE}/{reference.sha256}/{s}" for s in MEDIA_SIZES}
        images.append(schemas.ReferenceImage(
            organ=reference.organ or "", author=reference.author or "",
            license=reference.licence or "", date=_date(reference.date),
            citation=reference.citation or "", url=schemas.ImageUrls(**urls),
        ))
    return images


def plant_link(record: SpeciesRecord, base_url: str) -> schemas.PlantLink | None:
    """Hortus extension: the knowledge-base plant behind a result, with its care attributes."""
    if record.plant_id is None:
        return None
    return schemas.PlantLink(id=record.plant_id, url=f"{base_url}{PLANT_ROUTE}/{record.plant_id}",
                             care=dict(record.care))


def _result(result: Identification, name: str, score: float, *, include_images: bool,
            base_url: str) -> schemas.Result:
    record = result.records.get(name) or SpeciesRecord(name, name)
    gbif = record.external_ids.get("gbif", "")
    powo = _powo(record)
    iucn = _iucn(record)
    return schemas.Result(
        score=score, species=species_object(record),
        images=(image_objects(result.references.get(name, []), base_url=base_url)
                if include_images else None),
        gbif=schemas.GbifId(id=int(gbif)) if gbif.isdigit() else None,
        powo=schemas.PowoId(id=powo) if powo else None,
        iucn=schemas.IucnStatus(id=iucn[0], category=iucn[1]) if iucn else None,
        plant=plant_link(record, base_url),
    )


def identification_result(result: Identification, *, options: IdentifyOptions,
                          base_url: str) -> schemas.IdentificationResult:
    """The whole "Identification result"."""
    results = [_result(result, taxon.name, taxon.score,
                       include_images=options.include_related_images, base_url=base_url)
               for taxon in result.ranked]
    return schemas.IdentificationResult(
        query=schemas.IdentificationQuery(
            project=result.project, images=[p.image_id for p in result.photos],
            organs=[p.organ for p in result.photos],
            include_related_images=options.include_related_images,
            no_reject=options.no_reject, type=options.type),
        language=options.lang,
        prefered_referential=result.preferred_project,
        best_match=results[0].species.scientific_name if results else "",
        results=results,
        version=result.version,
        remaining_identification_requests=result.remaining_requests,
        predicted_organs=[
            schemas.PredictedOrgan(image=p.image_id, filename=p.filename, organ=o.organ,
                                   score=o.score)
            for p, o in zip(result.photos, result.predicted_organs, strict=True)
        ],
        other_results=_other_results(result) if options.detailed else None,
    )


def _other_results(result: Identification) -> schemas.OtherResults:
    family_of_genus: dict[str, TaxonName] = {}
    for record in result.records.values():
        if record.genus and record.family:
            family_of_genus.setdefault(record.genus.name, record.family)
    genera = []
    for g in result.genus_scores:
        family = taxon_object(family_of_genus.get(g.name))
        genera.append(schemas.GenusResult(score=g.score, genus=schemas.GenusTaxon(
            scientific_name=g.name, family=family,
            common_names=[])))
    families = [schemas.FamilyResult(score=f.score, family=schemas.FamilyTaxon(
        scientific_name=f.name, common_names=[])) for f in result.family_scores]
    return schemas.OtherResults(genus=genera, family=families)


IPNI_LSID = "urn:lsid:ipni.org:names:"


def _powo(record: SpeciesRecord) -> str | None:
    """The POWO id as Pl@ntNet gives it: the bare IPNI id (``325686-2``); the knowledge base
    may store the full LSID (``urn:lsid:ipni.org:names:325686-2``)."""
    value = record.external_ids.get("powo") or ""
    return value.removeprefix(IPNI_LSID) or None


def species_list_entry(record: SpeciesRecord) -> schemas.SpeciesEntry:
    """Pl@ntNet's ``Species`` (list of species a project can identify)."""
    gbif = record.external_ids.get("gbif", "")
    iucn = _iucn(record)
    return schemas.SpeciesEntry(
        id=record.scientific_name,
        scientific_name_without_author=record.scientific_name,
        scientific_name_authorship=record.authorship or "",
        gbif_id=int(gbif) if gbif.isdigit() else None,
        powo_id=_powo(record),
        iucn_category=iucn[1] if iucn else None,
        common_names=list(record.common_names),
        genus=record.genus.name if record.genus else "",
        family=record.family.name if record.family else "",
    )
