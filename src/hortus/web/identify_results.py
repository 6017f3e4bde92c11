"""The identification pages after the form: a result's own page and photos, the history of a
signed-in person's identifications (deleting one), and the site's icon (docs/web.md).

Results are seen by whoever has their link (the id is random); only their author finds them in
the history and may delete them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, Response

from hortus.deps import DatabaseDep
from hortus.errors import HortusError, NotFound
from hortus.media.deps import MediaDep
from hortus.media.http import media_response
from hortus.web import security
from hortus.web.i18n import N_
from hortus.web.i18n import gettext as _
from hortus.web.identify_store import delete_identification, get_identification, history
from hortus.web.identify_view import history_entries, result_view
from hortus.web.router import Visit, VisitDep, notice_text, redirect, render

logger = logging.getLogger("hortus")

router = APIRouter(include_in_schema=False)
RESULTS_PATH = "/identify/results"
HISTORY_PATH = "/identify/history"
HISTORY_PER_PAGE = 20
MAX_HISTORY_PAGE = 100_000
FAVICON = Path(__file__).with_name("static") / "favicon.ico"
HISTORY_NOTICES = {"deleted": N_("The identification and its photos were deleted.")}


def problem(visit: Visit, *, status: int, title: str, message: str) -> Response:
    """A page saying what went wrong, with the way back to identifying."""
    return render(visit, "identify_error.html", status=status, title=title, message=message)


def _missing_result(visit: Visit) -> Response:
    return problem(visit, status=404, title=_("Identification not found"), message=_(
        "There is no identification at this address: the link may be mistyped, or the "
        "identification was deleted."))


@router.get(RESULTS_PATH + "/{identification_id}")
def result_page(identification_id: str, visit: VisitDep, db: DatabaseDep) -> Response:
    found = get_identification(database=db, identification_id=identification_id)
    if found is None:
        return _missing_result(visit)
    account_id = visit.account.id if visit.account is not None else None
    view = result_view(database=db, identification=found, account_id=account_id)
    return render(visit, "identify_result.html", result=view, signed_in=account_id is not None)


@router.get(RESULTS_PATH + "/{identification_id}/photos/{number}/{size}")
def result_photo(identification_id: str, number: str, size: str, request: Request,
                 visit: VisitDep, db: DatabaseDep, media: MediaDep) -> Response:
    """One photo of a result (``m``: 1280 px, ``s``: 320 px): whoever has the result's link."""
    found = get_identification(database=db, identification_id=identification_id)
    index = int(number) - 1 if number.isdigit() and len(number) < 3 else -1
    if found is None or not 0 <= index < len(found.photos) or size not in ("m", "s"):
        return problem(visit, status=404, title=_("Photo not found"),
                       message=_("There is no such photo."))
    key = str(found.photos[index].get("key" if size == "m" else "thumb", ""))
    try:
        return media_response(request, media, key, cache_control="private, max-age=31536000, "
                              "immutable", missing=NotFound("gone", error="photo not found"))
    except HortusError:
        return problem(visit, status=404, title=_("Photo not found"),
                       message=_("This photo is no longer stored."))


@router.post(RESULTS_PATH + "/{identification_id}/delete")
def delete_result(identification_id: str, visit: VisitDep, db: DatabaseDep, media: MediaDep,
                  csrf_token: Annotated[str, Form()] = "") -> Response:
    """Delete one of the signed-in person's identifications and its photos."""
    if visit.account is None:
        return redirect(visit, f"/login?next={HISTORY_PATH}")
    if not security.csrf_valid(visit.secret, visit.token, csrf_token):
        return problem(visit, status=403, title=_("Form expired"), message=_(
            "This form could not be verified: it has expired or did not come from this site. "
            "Nothing was deleted. Reload the page and try again."))
    keys = delete_identification(database=db, account_id=visit.account.id,
                                 identification_id=identification_id)
    if keys is None:
        return _missing_result(visit)
    for key in keys:
        try:
            media.delete(key)
        except Exception:  # noqa: BLE001 - the row is gone; a leftover copy is only space
            logger.warning("could not delete photo %s of a deleted identification", key)
    return redirect(visit, f"{HISTORY_PATH}?notice=deleted")


@router.get(HISTORY_PATH)
def history_page(visit: VisitDep, db: DatabaseDep, page: str = "1",
                 notice: str | None = None) -> Response:
    if visit.account is None:
        return redirect(visit, f"/login?next={HISTORY_PATH}")
    text = page.strip() or "1"
    if not text.isdigit() or not 1 <= int(text) <= MAX_HISTORY_PAGE:
        return problem(visit, status=400, title=_("No such page"), message=_(
            "“%(page)s” is not a page number: pages are numbered from 1.") % {"page": text[:40]})
    found = history(database=db, account_id=visit.account.id, page=int(text),
                    per_page=HISTORY_PER_PAGE)
    return render(visit, "identify_history.html", page=found,
                  entries=history_entries(database=db, items=found.items),
                  notice=notice_text(HISTORY_NOTICES, notice))


# ------------------------------------------------------------------------------ favicon


@router.get("/favicon.ico")
def favicon() -> Response:
    return FileResponse(FAVICON, media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})

