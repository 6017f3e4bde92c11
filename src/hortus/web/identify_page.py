"""A page for people to identify a plant from their photos (the same engine as /v2/identify).

Signed-in visitors only: each identification counts against their account's daily quota, like
an API call, and refunds itself when it fails.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from hortus.deps import DatabaseDep, SettingsDep
from hortus.errors import HortusError
from hortus.identify import service
from hortus.identify.charge import identification_unit
from hortus.identify.params import IdentifyOptions, check_organs
from hortus.inference import InferenceDep
from hortus.web.router import VisitDep, _csrf_refused, redirect, render

router = APIRouter(include_in_schema=False)
PATH = "/identify"
ORGANS = ("auto", "flower", "leaf", "fruit", "bark")
RESULTS = 5


@router.get(PATH)
def identify_page(visit: VisitDep) -> Response:
    if visit.account is None:
        return redirect(visit, f"/login?next={PATH}")
    return render(visit, "identify.html", organs=ORGANS, results=None, error=None)


@router.post(PATH)
async def identify_photos(
    request: Request,
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
        checked = check_organs([o for _, o in chosen], len(chosen))
        uploads = [(upload.filename or "", await upload.read(settings.max_upload_bytes + 1))
                   for upload, _ in chosen]
        engine = await service.load_engine(inference)
        models = service.resolve_projects(engine, service.ALL_PROJECTS)
        options = IdentifyOptions(nb_results=RESULTS)
        async with identification_unit(request=request, database=db, settings=settings,
                                       account_id=visit.account.id) as unit:
            await unit.taken()
            photos, embeddings = await service.embed_photos(
                inference=inference, engine=engine, uploads=uploads, organs=checked)
            result = await service.identify(inference=inference, database=db, models=models,
                                            project=service.ALL_PROJECTS, photos=photos,
                                            embeddings=embeddings, options=options)
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
