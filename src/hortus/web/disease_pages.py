"""The disease catalogue for people: browse and search it, one page per crop problem, and the
problems of one plant (for its profile).

The same service functions as ``/v1/diseases`` (:mod:`hortus.diagnose.catalogue_service`),
open to everyone (the catalogue costs no quota). A problem's address is its stable catalogue
key (``/diseases/late-blight-potato-tomato``); an entry without one (added by an operator) is
addressed by its ``peat_id``, and ``/diseases/<peat_id>`` of a keyed entry redirects to its key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from hortus.deps import DatabaseDep
from hortus.diagnose import catalogue_service, schemas
from hortus.diagnose.catalogue import catalogue_keys, catalogue_records, group_keys
from hortus.diagnose.models import PATHOGEN_CLASSES
from hortus.errors import HortusError, NotFound
from hortus.plants import service as plants
from hortus.web.i18n import N_, current_language, language_name
from hortus.web.i18n import gettext as _
from hortus.web.local_names import disease_name, plant_names
from hortus.web.router import VisitDep, redirect, render
from hortus.web.service_messages import translated

router = APIRouter(include_in_schema=False)
PATH = "/diseases"
PER_PAGE = 20
MAX_TEXT = 200  # characters of a search or crop field

PATHOGEN_LABELS = {
    "fungus": N_("Fungus"), "oomycete": N_("Oomycete (water mould)"),
    "bacterium": N_("Bacterium"), "virus": N_("Virus"), "viroid": N_("Viroid"),
    "phytoplasma": N_("Phytoplasma"), "insect": N_("Insect pest"), "mite": N_("Mite"),
    "nematode": N_("Nematode"), "pest": N_("Pest"), "deficiency": N_("Nutrient deficiency"),
    "abiotic": N_("Growing conditions (not an organism)"),
}


@cache
def _keys_by_id() -> dict[int, str]:
    return {peat_id: key for key, peat_id in catalogue_keys().items()}


def disease_href(peat_id: int) -> str:
    """The address of a problem's page: its catalogue key, else its ``peat_id``."""
    return f"{PATH}/{_keys_by_id().get(peat_id, peat_id)}"


def pathogen_label(pathogen_class: str) -> str:
    """A kind of problem in words, in the visitor's language."""
    label = PATHOGEN_LABELS.get(pathogen_class)
    return _(label) if label else pathogen_class.capitalize()


@cache
def catalogue_hosts() -> tuple[str, ...]:
    """The packaged catalogue's host crops (scientific names), for the crop field's hints."""
    return tuple(sorted({str(h) for r in catalogue_records() for h in r.get("hosts") or []}))


@dataclass(frozen=True)
class ProblemLink:
    """A crop problem as a plant profile lists it."""

    name: str
    scientific_name: str | None
    pathogen: str
    href: str


def problems_for_plant(*, session: Session, plant_id: int) -> list[ProblemLink]:
    """The catalogue's problems of one knowledge-base plant, by name (for its profile's
    "Problems of this plant"). A variety has its species' problems; an unknown plant none."""
    try:
        plant = plants.read_plant(session=session, plant_id=plant_id)
    except NotFound:
        return []
    found: list[schemas.Disease] = []
    page = 1
    while True:
        query = schemas.DiseaseQuery.model_validate(
            {"crop": plant.scientific_name, "page": page, "per_page": schemas.MAX_PER_PAGE})
        listing = catalogue_service.list_diseases(session=session, query=query)
        found += listing.diseases
        if page * listing.per_page >= listing.total:
            break
        page += 1
    return sorted((ProblemLink(name=disease_name(d.name, d.common_names),
                               scientific_name=d.scientific_name,
                               pathogen=pathogen_label(d.pathogen_class),
                               href=disease_href(d.peat_id)) for d in found),
                  key=lambda p: p.name.lower())


def problems_link(scientific_name: str) -> str:
    """The catalogue listing filtered to one crop (``/diseases?crop=...``)."""
    return f"{PATH}?{urlencode({'crop': scientific_name})}"


def _listing_error(exc: ValidationError) -> str:
    fields = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
    if "page" in fields:
        return _("The page number must be a whole number from 1.")
    return _("These search terms cannot be used: %(fields)s.") % {
        "fields": ", ".join(sorted(fields))}


@router.get(PATH)
def disease_list(visit: VisitDep, db: DatabaseDep, q: str = "", crop: str = "",
                 kind: str = "", page: str = "1") -> Response:
    """The catalogue, searchable by name (any language) and filtered by crop and kind."""
    error = None
    listing: schemas.DiseasePage | None = None
    if len(q) > MAX_TEXT or len(crop) > MAX_TEXT:
        error = _("Search terms are at most %(count)s characters.") % {"count": MAX_TEXT}
    elif kind and kind not in PATHOGEN_CLASSES:
        error = _("Choose a kind of problem from the list.")
    else:
        try:
            query = schemas.DiseaseQuery.model_validate({
                "q": q.strip(), "crop": crop.strip(), "pathogen_class": kind,
                "page": page.strip() or "1", "per_page": PER_PAGE})
            with db.read() as session:
                listing = catalogue_service.list_diseases(session=session, query=query)
        except ValidationError as exc:
            error = _listing_error(exc)
        except HortusError as exc:
            error = translated(exc.message)
    if listing is None:
        listing = schemas.DiseasePage(page=1, per_page=PER_PAGE, total=0, diseases=[])
    pages = max(1, -(-listing.total // PER_PAGE))
    entries = [{"disease": d, "href": disease_href(d.peat_id),
                "name": disease_name(d.name, d.common_names),
                "pathogen": pathogen_label(d.pathogen_class)} for d in listing.diseases]
    return render(visit, "diseases.html", status=400 if error else 200, q=q[:MAX_TEXT],
                  crop=crop[:MAX_TEXT], kind=kind if kind in PATHOGEN_CLASSES else "",
                  kinds=[(k, pathogen_label(k)) for k in PATHOGEN_CLASSES], error=error,
                  entries=entries, total=listing.total, page=listing.page, pages=pages,
                  hosts=catalogue_hosts())


def _peat_id(key: str) -> int | None:
    if key.isascii() and key.isdigit() and len(key) <= 12:
        return int(key)
    return catalogue_keys().get(key.lower())


@router.get(PATH + "/{key}")
def disease_page(key: str, visit: VisitDep, db: DatabaseDep) -> Response:
    """One crop problem: names, EPPO code, cause, hosts, symptoms, treatment, prevention."""
    peat_id = _peat_id(key)
    try:
        if peat_id is None:
            raise NotFound(_("There is no crop problem %(name)s in the catalogue.")
                           % {"name": repr(key[:80])})
        if disease_href(peat_id) != f"{PATH}/{key}":
            return redirect(visit, disease_href(peat_id))  # the canonical address
        with db.read() as session:
            disease = catalogue_service.get_disease(session=session, peat_id=peat_id)
            linked = [h.plant_id for h in disease.hosts if h.plant_id is not None]
            known = {p.id: p for p in plants.plant_reads(session=session, ids=linked)}
            local = plant_names(session=session, plant_ids=linked)
    except HortusError as exc:
        return render(visit, "error.html", status=exc.status, title=_("Crop problem not found"),
                      message=translated(exc.message),
                      back={"href": PATH, "text": _("All crop problems")})
    hosts = []
    for host in disease.hosts:
        plant = known.get(host.plant_id) if host.plant_id is not None else None
        hosts.append({"scientific_name": host.scientific_name,
                      "name": local.get(plant.id, plant.name) if plant else None,
                      "href": f"/plants/{plant.slug}" if plant else None})
    names = sorted(((language_name(language), language, name)
                    for language, name in disease.common_names.items()),
                   key=lambda row: (row[1] != current_language(), row[0].lower()))
    return render(visit, "disease.html", disease=disease, hosts=hosts, names=names,
                  name=disease_name(disease.name, disease.common_names),
                  pathogen=pathogen_label(disease.pathogen_class),
                  group=_keys_by_id().get(disease.peat_id) in group_keys())
