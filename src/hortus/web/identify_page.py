"""The pages for people to identify a plant from their photos (docs/web.md).

* ``GET /identify``: up to five photos in one multi-select or camera input, what each shows.
* ``POST /identify``: identifies them with the same service as ``/v2/identify``
  (:func:`hortus.identify.service.identify_photos`), keeps the result and the photos, and
  redirects (303) to the result's own page, so Back, reload and sharing the link work. A form
  that cannot be identified gets the form again with a 4xx and a sentence saying why.

The result pages, the history and the site's icon are in :mod:`hortus.web.identify_results`.

A signed-in person's identification counts against their account's daily quota, like an API
call. A signed-out visitor may identify ``web_identify_visitor_per_day`` times a day per client
address (:mod:`hortus.web.identify_store`). Failures give back what they took.
"""

from __future__ import annotations

import logging
import re
from functools import partial

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hortus.accounts import quotas
from hortus.config import Settings
from hortus.db import Database, utcnow
from hortus.deps import DatabaseDep, SettingsDep
from hortus.errors import (
    HortusError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    UnsupportedMedia,
)
from hortus.identify import service
from hortus.identify.fusion import ORGANS
from hortus.identify.params import MAX_IMAGES, check_organs
from hortus.identify.schemas import IdentifyOptions
from hortus.identify.upload import UploadedPhoto
from hortus.image_work import ImageWorkBusy
from hortus.inference import Inference, InferenceDep
from hortus.media.deps import MediaDep
from hortus.media.store import MediaStore
from hortus.vision.decode import sniff_format
from hortus.web import security
from hortus.web.i18n import N_, in_this_language
from hortus.web.i18n import gettext as _
from hortus.web.identify_agreement import PhotoVerdict, photo_verdicts
from hortus.web.identify_photos import (
    SUPPORTED,
    check_photo_count,
    is_heif,
    photo_label,
    photo_media_keys,
    prepared_photo,
    read_identify_form,
    renditions,
)
from hortus.web.identify_results import RESULTS_PATH, problem
from hortus.web.identify_results import router as results_router
from hortus.web.identify_store import (
    VisitorQuotaExceeded,
    new_identification_id,
    refund_visitor_unit,
    save_identification,
    take_visitor_unit,
    visitor_remaining,
    visitors_account_id,
)
from hortus.web.identify_view import ORGAN_CHOICES, reference_entry
from hortus.web.limits import client_address, minutes, throttled
from hortus.web.router import Visit, VisitDep, redirect, render
from hortus.web.service_messages import translated

logger = logging.getLogger("hortus")

router = APIRouter(include_in_schema=False)
router.include_router(results_router)  # the result pages, the history, the favicon
PATH = "/identify"
RESULTS = 5
OPTIONS = IdentifyOptions.model_validate({"nb_results": RESULTS, "include_related_images": True})
NO_MATCH = N_("None of the plants Hortus knows matches these photos (or they show no plant). "
              "Try a sharper photo of a flower, a fruit or a leaf, close up.")
# How the identification service names a photo it cannot read: "image 2 (leaf.jpg): <why>."
_PHOTO_PROBLEM = re.compile(r"image (?P<number>\d+)(?: \((?P<name>.*)\))?: (?P<reason>.*?)\.?"
                            r"(?P<send> Send JPEG or PNG photos\.)?", re.DOTALL)


# ------------------------------------------------------------------------------ the form


def _allowance(visit: Visit, database: Database, settings: Settings) -> dict[str, object]:
    """How many identifications the visitor has left today (blocking)."""
    if visit.account is not None:
        state = quotas.peek(database=database, settings=settings, account_id=visit.account.id,
                            api=quotas.API_IDENTIFY)
        return {"remaining": state.remaining, "limit": state.limit}
    limit = settings.web_identify_visitor_per_day
    remaining = visitor_remaining(database=database, address=client_address(visit.request),
                                  limit=limit)
    return {"remaining": remaining, "limit": limit}


def _diagnosis_available(request: Request) -> bool:
    """Whether a diagnosis page for people is served (another page may point to it)."""
    return any(getattr(route, "path", None) == "/diagnose"
               and "GET" in (getattr(route, "methods", None) or ()) for route in
               request.app.routes)


def _form(visit: Visit, database: Database, settings: Settings, *, status: int = 200,
          error: str | None = None, no_match: bool = False) -> Response:
    response = render(visit, "identify.html", status=status, organs=ORGAN_CHOICES,
                      error=error, no_match=no_match, max_photos=MAX_IMAGES,
                      max_megabytes=max(1, settings.max_upload_bytes // (1024 * 1024)),
                      max_bytes=settings.max_upload_bytes,
                      account_limit=settings.identify_per_day,
                      diagnosis=_diagnosis_available(visit.request),
                      **_allowance(visit, database, settings))
    # The chosen photos' previews are blob: URLs of the visitor's own files.
    policy = response.headers.get("Content-Security-Policy")
    if policy:
        response.headers["Content-Security-Policy"] = policy + "; img-src 'self' blob:"
    return response


async def _form_again(visit: Visit, database: Database, settings: Settings, *, status: int,
                      error: str, no_match: bool = False) -> Response:
    return await run_in_threadpool(lambda: _form(visit, database, settings, status=status,
                                                 error=error, no_match=no_match))


@router.get(PATH)
def identify_page(visit: VisitDep, db: DatabaseDep, settings: SettingsDep) -> Response:
    return _form(visit, db, settings)


def _organs(sent: list[str], count: int) -> list[str]:
    """One organ per photo: the first ``count`` sent (a page without scripts sends one list
    of five), ``auto`` for photos without one; InvalidInput in words for people."""
    organs = [organ.strip().lower() or "auto" for organ in sent[:count]]
    organs += ["auto"] * (count - len(organs))
    for organ in organs:
        if organ not in ORGANS:
            raise InvalidInput(_("Choose what each photo shows from the list."),
                               error="unknown organ")
    try:
        return check_organs(organs, count)
    except InvalidInput as exc:
        if exc.error == "no primary organ":
            raise InvalidInput(_("A photo of the whole plant helps only beside a close-up: add "
                                 "a photo of a flower, leaf, fruit or bark, or choose “Not "
                                 "sure”."), error=exc.error) from None
        raise


def _check_formats(photos: list[UploadedPhoto]) -> None:
    """415 naming the first photo in a format the page does not take (before any work)."""
    for position, photo in enumerate(photos):
        if sniff_format(photo.data) is None and not is_heif(photo.data):
            raise UnsupportedMedia(_("%(photo)s is not a photo Hortus can read: send "
                                     "%(formats)s.") % {
                "photo": photo_label(position, photo.filename), "formats": _(SUPPORTED)},
                error="unsupported media type")


def _people_message(exc: HortusError) -> str:
    """A service error in words for people (the services' messages name API parameters)."""
    if isinstance(exc, ImageWorkBusy):
        return _("Many photos are being identified right now: wait a few seconds and send "
                 "them again.")
    if isinstance(exc, QuotaExceeded):
        return _("You have used your %(limit)s identifications for today; more are possible "
                 "from 00:00 UTC (in %(wait)s).") % {"limit": exc.limit,
                                                    "wait": minutes(exc.reset_seconds)}
    problem = _PHOTO_PROBLEM.fullmatch(exc.message)
    if problem is None:
        return translated(exc.message)
    message = _("%(photo)s: %(reason)s.") % {
        "photo": photo_label(int(problem["number"]) - 1, problem["name"] or ""),
        "reason": translated(problem["reason"])}
    if problem["send"]:
        message += " " + _("Send %(formats)s.") % {"formats": _(SUPPORTED)}
    return message


@router.post(PATH)
async def identify_photos(request: Request, visit: VisitDep, db: DatabaseDep,
                          settings: SettingsDep, inference: InferenceDep,
                          media: MediaDep) -> Response:
    """Identify the photos, keep the result, and redirect to its page."""
    try:
        form = await read_identify_form(
            content_type=request.headers.get("content-type"),
            content_length=request.headers.get("content-length"),
            stream=request.stream(), max_bytes=settings.max_upload_bytes)
    except HortusError as exc:
        error = translated(exc.message)
        if isinstance(exc, PayloadTooLarge):
            error = _("These photos are over the %(megabytes)s MB this server takes at once: "
                      "send fewer or smaller photos.") % {
                "megabytes": max(1, settings.max_upload_bytes // (1024 * 1024))}
        return await _form_again(visit, db, settings, status=exc.status, error=error)
    if not security.csrf_valid(visit.secret, visit.token, form.csrf_token):
        return problem(visit, status=403, title=_("Form expired"), message=_(
            "This form could not be verified: it has expired, was opened in another session, "
            "or did not come from this site. Nothing was identified. Open the identify page "
            "again and choose your photos."))
    try:
        check_photo_count(len(form.photos))
        organs = _organs(form.organs, len(form.photos))
        _check_formats(form.photos)
    except HortusError as exc:
        return await _form_again(visit, db, settings, status=exc.status, error=exc.message)

    account_id = visit.account.id if visit.account is not None else None
    address = client_address(request)
    taken_at = utcnow()
    if account_id is None:
        try:
            await run_in_threadpool(lambda: take_visitor_unit(
                database=db, address=address, limit=settings.web_identify_visitor_per_day,
                now=taken_at))
        except VisitorQuotaExceeded as exc:
            if exc.limit == 0:
                message = _("Identifying needs an account on this server: create a free "
                            "account, or sign in.")
            else:
                message = _("Without an account, %(limit)s identifications a day can be made "
                            "from your address, and they are used up; more are possible in "
                            "%(wait)s. Create a free account to identify more today.") % {
                    "limit": exc.limit, "wait": minutes(exc.reset_seconds)}
            page = await _form_again(visit, db, settings, status=429, error=message)
            return throttled(page, exc.reset_seconds)
        charge_to = await run_in_threadpool(lambda: visitors_account_id(database=db))
    else:
        charge_to = account_id
        state = await run_in_threadpool(lambda: quotas.peek(
            database=db, settings=settings, account_id=charge_to, api=quotas.API_IDENTIFY))
        if state.remaining <= 0:  # before converting any photo (the service would refuse)
            page = await _form_again(visit, db, settings, status=429, error=_people_message(
                QuotaExceeded("", api=quotas.API_IDENTIFY, limit=state.limit,
                              reset_seconds=state.reset_seconds())))
            return throttled(page, state.reset_seconds())

    try:
        identification_id = await _identify_and_keep(
            database=db, settings=settings, inference=inference, media=media,
            account_id=account_id, charge_to=charge_to, photos=form.photos, organs=organs)
    except BaseException as exc:
        if account_id is None:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(lambda: refund_visitor_unit(
                    database=db, address=address, taken_at=taken_at))
        if not isinstance(exc, HortusError):
            raise
        no_match = isinstance(exc, NotFound) and exc.message == service.SPECIES_NOT_FOUND
        page = await _form_again(visit, db, settings, status=exc.status, no_match=no_match,
                                 error=_(NO_MATCH) if no_match else _people_message(exc))
        if isinstance(exc, ImageWorkBusy):
            return throttled(page, exc.retry_after)
        if isinstance(exc, QuotaExceeded):
            return throttled(page, exc.reset_seconds)
        return page
    return redirect(visit, f"{RESULTS_PATH}/{identification_id}")


async def _prepare(inference: Inference, photos: list[UploadedPhoto], charge_to: int,
                   max_pixels: int) -> list[UploadedPhoto]:
    """The photos as the service takes them (HEIC converted), as the account's image work."""
    if not any(is_heif(photo.data) for photo in photos):
        return photos
    async with inference.image_work.request(charge_to):
        # The inference pool's threads do not inherit the request's language: take it along.
        return [await inference.run(in_this_language(partial(
                    prepared_photo, photo, position=position, max_pixels=max_pixels)))
                for position, photo in enumerate(photos)]


async def _verdicts(inference: Inference, settings: Settings, charge_to: int,
                    photos: list[UploadedPhoto], organs: list[str]) -> list[PhotoVerdict]:
    """Each photo's own verdict for the disagreement notice; none when that work is refused
    (the identification itself has succeeded)."""
    try:
        return await photo_verdicts(inference=inference,
                                    project_aliases=settings.project_aliases,
                                    account_id=charge_to,
                                    photos=[(p.data, o) for p, o in zip(photos, organs,
                                                                        strict=True)])
    except HortusError as exc:
        logger.warning("photo verdicts skipped: %s", exc.message)
        return []


def _keep_photos(media: MediaStore, identification_id: str,
                 photos: list[UploadedPhoto]) -> list[dict[str, str]]:
    """Store each photo's copies; their keys by size (blocking)."""
    kept = []
    for photo in photos:
        keys = photo_media_keys(identification_id, photo.data)
        for size, data in renditions(photo.data).items():
            media.put(keys[size], data, content_type="image/jpeg")
        kept.append(keys)
    return kept


async def _identify_and_keep(*, database: Database, settings: Settings, inference: Inference,
                             media: MediaStore, account_id: int | None, charge_to: int,
                             photos: list[UploadedPhoto], organs: list[str]) -> str:
    """Identify, store the photos' copies and the result; returns the result's id."""
    prepared = await _prepare(inference, photos, charge_to, settings.max_full_decode_pixels)
    result = await service.identify_photos(
        inference=inference, database=database, settings=settings, account_id=charge_to,
        project=service.ALL_PROJECTS, options=OPTIONS, photos=prepared, organs=organs,
        media=media)
    verdicts = await _verdicts(inference, settings, charge_to, prepared, organs)
    identification_id = new_identification_id()
    kept = await run_in_threadpool(_keep_photos, media, identification_id, prepared)
    stored_photos = []
    for index, keys in enumerate(kept):
        entry: dict[str, object] = {"key": keys["m"], "thumb": keys["s"], "organ": organs[index],
                                    "predicted_organ": result.predicted_organs[index].organ}
        if verdicts:
            verdict = verdicts[index]
            entry.update(top=verdict.top, top_score=round(verdict.score, 6),
                         rejected=verdict.rejected)
        stored_photos.append(entry)
    candidates = [{"name": taxon.name, "score": round(taxon.score, 6),
                   "references": [reference_entry(r) for r in result.references.get(taxon.name,
                                                                                    [])]}
                  for taxon in result.ranked]
    await run_in_threadpool(lambda: save_identification(
        database=database, identification_id=identification_id, account_id=account_id,
        language=OPTIONS.lang, model_version=result.version, photos=stored_photos,
        candidates=candidates))
    return identification_id
