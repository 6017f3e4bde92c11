"""Saving an identification of the identify page as an observation ("Save as observation").

``POST /identify/results/{id}/observation`` (its author, signed in, CSRF): the result's photos
as stored for the page (the 1280 px copies, without the originals' metadata) and the organs
given, the author's determination (one of the suggested species, or "unknown"), the AI's
ranked suggestions with their scores as the result has them, the day it was identified,
optionally where (latitude and longitude), and the photos' licence (default CC BY-SA 4.0).
The form's fields are checked by the API's own form rules
(:func:`hortus.observations.form.check_form`), and the observation is saved by
:func:`hortus.observations.service.save_identified`: nothing is identified again (no quota
is taken), and saving the same photos twice answers the observation saved the first time.
Post/redirect/get: 303 to the observation's page. A form that cannot be saved is answered
with the form again (4xx) saying why.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hortus.db import Database
from hortus.deps import DatabaseDep, SettingsDep
from hortus.errors import HortusError, InvalidInput
from hortus.identify.projects import ALL_PROJECTS
from hortus.identify.upload import UploadedPhoto
from hortus.inference import InferenceDep
from hortus.media.deps import MediaDep
from hortus.media.store import MediaStore
from hortus.observations import service
from hortus.observations.form import ObservationForm, check_form
from hortus.observations.licenses import DEFAULT_LICENSE, LICENSE_URLS
from hortus.observations.names import UNKNOWN
from hortus.observations.serialize import milliseconds
from hortus.plants.taxonomy import normalise_name
from hortus.web import security
from hortus.web.i18n import N_
from hortus.web.i18n import gettext as _
from hortus.web.identify_models import WebIdentification
from hortus.web.identify_results import RESULTS_PATH, problem
from hortus.web.identify_store import get_identification
from hortus.web.identify_view import result_view
from hortus.web.observation_view import license_label
from hortus.web.router import TEMPLATES, Visit, VisitDep, redirect, render

logger = logging.getLogger("hortus")

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form()]


class _LicenseChoices:
    """The licences the form offers, named in the language of the page being rendered."""

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter([(code, license_label(code)) for code in LICENSE_URLS])


LICENSE_CHOICES = _LicenseChoices()
# The result page's form (observation_save_section.html) offers these.
TEMPLATES.env.globals.update(observation_licenses=LICENSE_CHOICES,
                             observation_default_license=DEFAULT_LICENSE)
# The API's messages name its form fields; the page's fields have labels. The messages the
# page's form can meet are said again in the visitor's language; any other keeps the API's
# English, with its fields named by their labels.
FIELD_LABELS = {"lat": N_("The latitude"), "lon": N_("The longitude"),
                "license": N_("The licence")}
FORM_MESSAGES = (
    (re.compile(r'"lat" and "lon" go together: send both or neither\.'),
     N_("Give both the latitude and the longitude, or neither.")),
    (re.compile(r'"(?P<field>lat|lon)" must be a number; (?P<text>.*) is not\.', re.DOTALL),
     N_("%(field)s must be a number; %(text)s is not.")),
    (re.compile(r'"(?P<field>lat|lon)" must be a number from (?P<low>\S+) to (?P<high>\S+)\.'),
     N_("%(field)s must be a number from %(low)s to %(high)s.")),
    (re.compile(r'"license" must be one of (?P<codes>.*) \(or its SPDX identifier, '
                r'e\.g\. (?P<example>\S+)\); (?P<text>.*) is not\.', re.DOTALL),
     N_("The licence must be one of %(codes)s (or its SPDX identifier, e.g. %(example)s); "
        "%(text)s is not.")),
)

class PhotosGone(HortusError):
    status = 404
    error = "photos gone"


def _people_message(exc: HortusError) -> str:
    """An error of the API's form rules as the page says it, in the visitor's language."""
    for pattern, sentence in FORM_MESSAGES:
        if (found := pattern.fullmatch(exc.message)) is not None:
            values = found.groupdict()
            if "field" in values:
                values["field"] = _(FIELD_LABELS[values["field"]])
            return _(sentence) % values
    message = exc.message
    for field, label in FIELD_LABELS.items():
        message = message.replace(f'"{field}"', _(label))
    return message


def _stored_photos(media: MediaStore,
                   identification: WebIdentification) -> tuple[list[UploadedPhoto], list[str]]:
    """The result's photos as stored for its page, and their organs (a photo sent twice is
    kept once); PhotosGone when one is no longer stored (blocking)."""
    photos: list[UploadedPhoto] = []
    organs: list[str] = []
    seen: set[bytes] = set()
    for position, entry in enumerate(identification.photos):
        try:
            body = media.open(str(entry.get("key", "")))
        except ValueError:  # a key the store refuses: nothing is stored under it
            body = None
        if body is None:
            raise PhotosGone(N_("The photos of this identification are no longer stored, "
                                "so it cannot be saved."))
        data = body.read()
        if data in seen:
            continue
        seen.add(data)
        photos.append(UploadedPhoto(filename=f"photo-{position + 1}.jpg", data=data))
        organs.append(str(entry.get("organ") or "auto"))
    return photos, organs


def _determination(identification: WebIdentification, shown: list[str], chosen: str) -> str:
    """The chosen species as the form sends it, when it is one of the result's suggestions, or
    "unknown"; InvalidInput otherwise."""
    text = " ".join(chosen.split())
    if not text:
        raise InvalidInput(_("Choose the plant you think it is, or “I don't know”."),
                           error="no determination")
    if text.lower() == UNKNOWN:
        return UNKNOWN
    offered = {normalise_name(str(c.get("name", ""))).lower() for c in identification.candidates}
    offered |= {normalise_name(name).lower() for name in shown}
    if normalise_name(text).lower() not in offered:
        raise InvalidInput(_("Choose one of the suggested plants, or “I don't know”."),
                           error="invalid determination")
    return text


def _form_again(visit: Visit, db: Database, identification: WebIdentification, *, status: int,
                error: str, draft: dict[str, str]) -> Response:
    assert visit.account is not None
    view = result_view(database=db, identification=identification,
                       account_id=visit.account.id)
    return render(visit, "observation_save.html", status=status, result=view,
                  save_error=error, save_draft=draft)


@router.post(RESULTS_PATH + "/{identification_id}/observation")
async def save_observation(identification_id: str, visit: VisitDep, db: DatabaseDep,
                           settings: SettingsDep, inference: InferenceDep, media: MediaDep,
                           determination: Text = "", license: Text = "", lat: Text = "",
                           lon: Text = "", csrf_token: Text = "") -> Response:
    """Save one's identification as an observation, and redirect to the observation."""
    result_url = f"{RESULTS_PATH}/{identification_id}"
    if visit.account is None:
        return redirect(visit, f"/login?next={result_url}")
    if not security.csrf_valid(visit.secret, visit.token, csrf_token):
        return problem(visit, status=403, title=_("Form expired"), message=_(
            "This form could not be verified: it has expired, was opened in another session, "
            "or did not come from this site. Nothing was saved. Reload the page and try "
            "again."))
    account_id = visit.account.id
    identification = await run_in_threadpool(lambda: get_identification(
        database=db, identification_id=identification_id))
    if identification is None or identification.account_id != account_id:
        # Another person's result may be seen (by its link) but not saved: to them it is not
        # there to save.
        return problem(visit, status=404, title=_("Identification not found"), message=_(
            "You have no identification at this address to save: the link may be mistyped, "
            "the identification was deleted, or it was made by someone else (or while signed "
            "out)."))
    draft = {"determination": determination[:300], "license": license[:40], "lat": lat[:40],
             "lon": lon[:40]}
    try:
        shown = await run_in_threadpool(lambda: [c.scientific_name for c in result_view(
            database=db, identification=identification, account_id=account_id).candidates])
        chosen = _determination(identification, shown, determination)
        photos, organs = await run_in_threadpool(_stored_photos, media, identification)
        new = check_form(ObservationForm(photos=photos, organs=organs, fields={
            "determination": chosen, "lat": lat, "lon": lon, "license": license,
            "date": str(milliseconds(identification.created_at))}))
        saved = await service.save_identified(
            inference=inference, database=db, settings=settings, media=media,
            account_id=account_id, project=ALL_PROJECTS,
            model_version=identification.model_version,
            suggestions=[(str(c["name"]), float(c.get("score", 0)))
                         for c in identification.candidates], new=new)
    except PhotosGone as exc:
        return problem(visit, status=exc.status, title=_("Photos no longer stored"),
                       message=_(exc.message))
    except HortusError as exc:
        status, error = exc.status, _people_message(exc)
        return await run_in_threadpool(lambda: _form_again(
            visit, db, identification, status=status, error=error, draft=draft))
    notice = "saved" if saved.created else "already-saved"
    return redirect(visit, f"/observations/{saved.id}?notice={notice}")
