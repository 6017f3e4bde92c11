"""A page for people to identify a plant from their photos: the same service function as
``/v2/identify`` (:func:`hortus.identify.service.identify_photos`).

Signed-in visitors only: each identification counts against their account's daily quota, like
an API call, and refunds itself when it fails.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from hortus.deps import DatabaseDep, SettingsDep
from hortus.errors import HortusError
from hortus.identify import service
from hortus.identify.schemas import IdentifyOptions
from hortus.identify.upload import UploadedPhoto
from hortus.inference import InferenceDep
from hortus.web.router import VisitDep, _csrf_refused, redirect, render

router = APIRouter(include_in_schema=False)
PATH = "/identify"
ORGANS = ("auto", "flower", "leaf", "fruit", "bark")
RESULTS = 5
OPTIONS = IdentifyOptions.model_validate({"nb_results": RESULTS})


@router.get(PATH)
def identify_page(visit: VisitDep) -> Response:
    if visit.account is None:
        return redirect(visit, f"/login?next={PATH}")
    return render(visit, "identify.html", organs=ORGANS, results=None, error=None)


@router.post(PATH)
async def identify_photos(
    visit: VisitDep,
    db: DatabaseDep,
    settings: SettingsDep,
    inference: InferenceDep,
    images: Annotated[list[UploadFile], File()] = [],  # noqa: B006 - FastAPI's form idiom
    organs: Annotated[list[str], Form()] = [],  # noqa: B006
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if visit.account is None:
        return redirect(visit, f"/login?next={PATH}")
    if (refused := _csrf_refused(visit, csrf_token)) is not None:
        return refused
    try:
        chosen = [(f, o) for f, o in zip(images, organs, strict=False) if f.filename]
        photos = [UploadedPhoto(filename=upload.filename or "",
                                data=await upload.read(settings.max_upload_bytes + 1))
                  for upload, _ in chosen]
        result = await service.identify_photos(
            inference=inference, database=db, settings=settings, account_id=visit.account.id,
            project=service.ALL_PROJECTS, options=OPTIONS, photos=photos,
            organs=[organ for _, organ in chosen])
    except HortusError as exc:
        message = exc.message
        if message == service.SPECIES_NOT_FOUND:
            message = ("None of the plants Hortus knows matches these photos (or they show no "
                       "plant). Try a sharper photo of a flower or a leaf.")
        return render(visit, "identify.html", status=exc.status, organs=ORGANS, results=None,
                      error=message)
    results = [
        {"name": taxon.name, "score": taxon.score, "record": result.records.get(taxon.name)}
        for taxon in result.ranked
    ]
    return render(visit, "identify.html", organs=ORGANS, results=results, error=None)
