"""A page for people to diagnose a crop photo, and the stored analysis at its own address.

The same service function as ``/v1/image_analysis`` (:func:`hortus.diagnose.service.analyse`):
the photo is analysed and stored with its answer under a fresh ``pic_id``, and the page
redirects to ``/diagnose/results/<pic_id>`` (post/redirect/get), so Back, reload and bookmarks
show the stored analysis again without analysing anew. Only its owner sees an analysis (anyone
else gets the same 404 as for an unknown one).

Signed-in visitors only: an analysis counts against the account's monthly image-analysis
quota, like an API call, and gives its unit back when it fails. (No per-address allowance for
signed-out visitors exists to share; the page says why an account is needed.)

The disease catalogue pages (:mod:`hortus.web.disease_pages`) come with this router.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hortus.db import Database
from hortus.deps import DatabaseDep, SettingsDep
from hortus.diagnose import catalogue_service, service
from hortus.diagnose.recognition import crop_models
from hortus.diagnose.schemas import StoredAnalysis
from hortus.errors import HortusError, NotFound, QuotaExceeded
from hortus.inference import Inference, InferenceDep
from hortus.media.deps import MediaDep
from hortus.media.http import media_response
from hortus.plants import service as plants
from hortus.plants.taxonomy import known_records
from hortus.web import disease_pages
from hortus.web.disease_pages import disease_href, pathogen_label, problems_link
from hortus.web.i18n import DEFAULT_LANGUAGE, current_language
from hortus.web.i18n import gettext as _
from hortus.web.local_names import disease_name, plant_names
from hortus.web.router import Visit, VisitDep, _csrf_refused, redirect, render
from hortus.web.service_messages import translated

logger = logging.getLogger("hortus")

router = APIRouter(include_in_schema=False)
router.include_router(disease_pages.router)
PATH = "/diagnose"
RESULTS = PATH + "/results"
ACCEPTED = "image/jpeg,image/png,image/webp"
LIKELY = 10  # a problem at this similarity (%) or more is shown with its whole catalogue entry
# The analysis picture is this account's alone: browsers may keep it, shared caches may not.
PRIVATE_PICTURE = "private, max-age=31536000, immutable"


@dataclass(frozen=True)
class CropChoice:
    """A crop the diagnosis service has a model for, as the form offers it."""

    project: str  # what the service's ``crop`` header names it by
    label: str
    scientific_name: str | None


async def crop_choices(inference: Inference) -> list[CropChoice]:
    """The crops the loaded diagnosis models diagnose (none when the engine cannot load)."""
    try:
        models = await run_in_threadpool(lambda: crop_models(inference.engine))
    except Exception:  # noqa: BLE001 - the page still works, with automatic crop choice
        logger.exception("The diagnosis models could not be listed")
        return []
    return sorted((CropChoice(project=m.project,
                              label=m.project.replace("_", " ").replace("-", " ").capitalize(),
                              scientific_name=m.crop) for m in models),
                  key=lambda c: c.label)


def _form(visit: Visit, crops: list[CropChoice], *, status: int = 200, error: str | None = None,
          crop: str = "") -> Response:
    return render(visit, "diagnose.html", status=status, crops=crops, error=error,
                  chosen=crop, accepted=ACCEPTED)


def _in_language(database: Database, crops: list[CropChoice]) -> list[CropChoice]:
    """The crops named in the visitor's language where the knowledge base has the name
    (blocking), in that language's alphabetical order."""
    language = current_language()
    if language == DEFAULT_LANGUAGE or not crops:
        return crops
    records = known_records(database, [c.scientific_name for c in crops if c.scientific_name],
                            language)
    named = []
    for choice in crops:
        record = records.get(choice.scientific_name or "")
        if record is not None and record.common_names:
            choice = replace(choice, label=record.common_names[0])
        named.append(choice)
    return sorted(named, key=lambda c: c.label.lower())


async def _crops(database: Database, inference: Inference) -> list[CropChoice]:
    crops = await crop_choices(inference)
    return await run_in_threadpool(_in_language, database, crops)


@router.get(PATH)
async def diagnose_page(visit: VisitDep, db: DatabaseDep, inference: InferenceDep) -> Response:
    """The photo form; for a signed-out visitor, why an account is needed and how to get one."""
    if visit.account is None:
        return render(visit, "diagnose.html", crops=[], error=None, chosen="",
                      accepted=ACCEPTED)
    return _form(visit, await _crops(db, inference))


def _friendly(exc: HortusError) -> str:
    if isinstance(exc, QuotaExceeded):
        return _("You have used this month's %(limit)s image analyses. The quota renews at the "
                 "start of next month (UTC); your past analyses stay readable.") % {
            "limit": exc.limit}
    if exc.status == 429:
        return _("You already have analyses running. Wait for them to finish, then try again.")
    return translated(exc.message)


@router.post(PATH)
async def diagnose_photo(
    visit: VisitDep,
    db: DatabaseDep,
    settings: SettingsDep,
    inference: InferenceDep,
    media: MediaDep,
    picture: Annotated[UploadFile | None, File()] = None,
    crop: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Analyse the photo, then redirect to its stored result."""
    if visit.account is None:
        return redirect(visit, f"/login?next={PATH}")
    if (refused := _csrf_refused(visit, csrf_token)) is not None:
        return refused
    crops = await _crops(db, inference)
    crop = crop.strip()
    if crop and crop not in {c.project for c in crops}:
        return _form(visit, crops, status=400,
                     error=_("Choose the crop from the list, or let Hortus recognise it."))
    if picture is None or not picture.filename:
        return _form(visit, crops, status=400, crop=crop,
                     error=_("Choose a photo of the sick plant (JPEG, PNG or WebP)."))
    data = await picture.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        return _form(visit, crops, status=413, crop=crop,
                     error=_("The photo is over %(megabytes)s MB: send a smaller one.")
                     % {"megabytes": settings.max_upload_bytes // (1024 * 1024)})
    if not data:
        return _form(visit, crops, status=400, crop=crop, error=_("The photo file is empty."))
    try:
        result = await service.analyse(database=db, settings=settings, inference=inference,
                                       media=media, account_id=visit.account.id, picture=data,
                                       headers={"crop": crop} if crop else {})
    except HortusError as exc:
        return _form(visit, crops, status=exc.status, crop=crop, error=_friendly(exc))
    return redirect(visit, f"{RESULTS}/{result.answer.pic_id}")


def _pic_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if len(text) <= 40 else None
    except ValueError:
        return None


def _not_found(visit: Visit, message: str) -> Response:
    return render(visit, "error.html", status=404, title=_("Analysis not found"),
                  message=message, back={"href": PATH, "text": _("Diagnose a photo")})


def _problems(session: Any, analysis: StoredAnalysis) -> list[dict[str, Any]]:
    """The ranked problems of an analysis, each with its catalogue entry (None when the
    model's class matches none, or the entry was removed since)."""
    problems = []
    for match in analysis.image_analysis:
        entry, href = None, None
        if match.peat_id is not None:
            try:
                entry = catalogue_service.get_disease(session=session, peat_id=match.peat_id)
                href = disease_href(match.peat_id)
            except NotFound:
                entry = None
        problems.append({
            "match": match, "entry": entry, "href": href,
            "name": disease_name(match.name, entry.common_names) if entry else match.name,
            "pathogen": pathogen_label(entry.pathogen_class) if entry else None,
            "likely": match.similarity >= LIKELY or match.rank == 1,
        })
    return problems


def _crop_problems(session: Any, analysis: StoredAnalysis) -> str | None:
    """The catalogue listing of the analysed crop's problems: by the recognised crop's
    scientific name when the knowledge base has its plant, else by the crop's name."""
    crop = analysis.plant_net[0] if analysis.plant_net else None
    asked = analysis.metadata.crop
    if crop is not None and crop.plant_id is not None and (
            asked is None or asked.replace("_", " ").upper() == crop.name):
        try:
            plant = plants.read_plant(session=session, plant_id=crop.plant_id)
            return problems_link(plant.scientific_name)
        except NotFound:
            pass
    name = asked or (crop.name if crop else None)
    return problems_link(name.replace("_", " ").lower()) if name else None


@router.get(RESULTS + "/{pic_id}")
def analysis_page(pic_id: str, visit: VisitDep, db: DatabaseDep) -> Response:
    """A stored analysis of the visitor's account: their photo, the crop, ranked problems."""
    parsed = _pic_id(pic_id)
    if parsed is None:
        return _not_found(visit, _("This address names no analysis."))
    if visit.account is None:
        return redirect(visit, f"/login?next={RESULTS}/{parsed}")
    try:
        with db.read() as session:
            analysis = service.get_analysis(session=session, account_id=visit.account.id,
                                            pic_id=parsed)
            problems = _problems(session, analysis)
            crop_problems = _crop_problems(session, analysis)
            crop = analysis.plant_net[0] if analysis.plant_net else None
            local = plant_names(session=session, plant_ids=[crop.plant_id] if crop and
                                crop.plant_id is not None else [])
    except NotFound:
        return _not_found(visit, _("You have no analysis at this address: it was never made "
                                   "with your account, or it is no longer kept."))
    crop_label = crop.name.capitalize() if crop else None
    asked = analysis.metadata.crop
    asked_label = asked.replace("_", " ").capitalize() if asked else None
    if crop is not None and crop.plant_id in local:
        if asked_label is not None and asked_label.lower() == (crop_label or "").lower():
            asked_label = local[crop.plant_id]
        crop_label = local[crop.plant_id]
    top = problems[0] if problems else None
    looks_healthy = analysis.healthy is not None and (top is None or top["match"].rank != 1)
    return render(visit, "diagnose_result.html", analysis=analysis, problems=problems,
                  crop=crop, crop_label=crop_label, asked=asked, asked_label=asked_label,
                  looks_healthy=looks_healthy, diagnosed=bool(problems) or
                  analysis.healthy is not None,
                  crop_problems=crop_problems,
                  picture=f"{RESULTS}/{parsed}/picture")


@router.get(RESULTS + "/{pic_id}/picture")
def analysis_picture(pic_id: str, request: Request, visit: VisitDep, db: DatabaseDep,
                     media: MediaDep) -> Response:
    """The photo of a stored analysis, to its owner only."""
    parsed = _pic_id(pic_id)
    missing = NotFound(service.PICTURE_MISSING, error="picture not found")
    if parsed is None or visit.account is None:
        raise missing
    with db.read() as session:
        key = service.picture_key(session=session, account_id=visit.account.id, pic_id=parsed)
    return media_response(request, media, key, missing=missing, cache_control=PRIVATE_PICTURE)
