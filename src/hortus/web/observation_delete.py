"""Deleting an observation from its page: its author's right, or an operator's.

``GET /observations/{id}/delete`` asks first (a page of its own, no script needed);
its form posts to ``POST /observations/{id}/delete`` with ``confirm=yes`` and the CSRF token
(a post without ``confirm=yes`` shows the question again). The deletion is the observations
service's (:func:`hortus.observations.removal.delete_observation`, as ``DELETE
/v2/observations/{id}``): the observation is marked deleted, its votes removed, the label
aggregation updated, and its photos removed unless another observation shows them. Then 303
to "my observations" (an operator deleting someone else's: to the review page).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from hortus.db import Database
from hortus.deps import DatabaseDep, SettingsDep
from hortus.errors import Forbidden, HortusError, NotFound
from hortus.media.deps import MediaDep
from hortus.observations import removal, views
from hortus.web import security
from hortus.web.i18n import N_
from hortus.web.i18n import gettext as _
from hortus.web.observation_view import ObservationCard, observation_cards
from hortus.web.observation_votes import sign_in_first
from hortus.web.router import Visit, VisitDep, redirect, render

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form()]
BACK_PATH = "/observations/mine"
BACK_TEXT = N_("My observations")


def _back() -> dict[str, str]:
    """The way back from a refusal: to one's observations."""
    return {"href": BACK_PATH, "text": _(BACK_TEXT)}


def _refusal(visit: Visit, exc: HortusError) -> Response:
    if isinstance(exc, NotFound):
        title, message = _("Observation not found"), _(
            "There is no observation at this address: the link may be mistyped, or the "
            "observation was deleted already.")
    elif isinstance(exc, Forbidden):
        title, message = _("Not yours to delete"), _(
            "Only the observation's author, or an operator of this server, may delete it.")
    else:
        title, message = _("Not deleted"), _(exc.message)
    return render(visit, "error.html", status=exc.status, title=title, message=message,
                  back=_back())


def _deletable(visit: Visit, database: Database, observation_id: str) -> ObservationCard:
    """The observation, when the visitor may delete it; NotFound or Forbidden otherwise."""
    assert visit.account is not None
    with database.read() as session:
        found = views.get_observation(session=session,
                                      observation_id=views.parse_id(observation_id))
    if found.author_id != visit.account.id and not visit.account.is_admin:
        raise Forbidden(removal.NOT_YOURS, error="forbidden")
    return observation_cards(database=database, views=[found], account_id=visit.account.id)[0]


def _question(visit: Visit, database: Database, observation_id: str) -> Response:
    try:
        card = _deletable(visit, database, observation_id)
    except HortusError as exc:
        return _refusal(visit, exc)
    return render(visit, "observation_delete.html", card=card)


@router.get("/observations/{observation_id}/delete")
def confirm_delete(observation_id: str, visit: VisitDep, db: DatabaseDep) -> Response:
    """The page that asks before an observation is deleted."""
    if visit.account is None:
        return sign_in_first(visit, observation_id)
    return _question(visit, db, observation_id)


@router.post("/observations/{observation_id}/delete")
def delete_observation(observation_id: str, visit: VisitDep, db: DatabaseDep,
                       settings: SettingsDep, media: MediaDep, confirm: Text = "",
                       csrf_token: Text = "") -> Response:
    if visit.account is None:
        return sign_in_first(visit, observation_id)
    if not security.csrf_valid(visit.secret, visit.token, csrf_token):
        return render(visit, "error.html", status=403, title=_("Form expired"), message=_(
            "This form could not be verified: it has expired, was opened in another session, "
            "or did not come from this site. Nothing was deleted. Reload the page and try "
            "again."), back=_back())
    if confirm != "yes":
        return _question(visit, db, observation_id)
    try:
        card = _deletable(visit, db, observation_id)
        removal.delete_observation(database=db, settings=settings, media=media,
                                   account_id=visit.account.id, observation_id=card.id)
    except HortusError as exc:
        return _refusal(visit, exc)
    if card.own:
        return redirect(visit, "/observations/mine?notice=deleted")
    return redirect(visit, "/review?notice=deleted")
