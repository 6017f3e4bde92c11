"""The pages of community review (docs/web.md, "Observations and community review").

* ``GET /review``: observations not valid yet, newest first, ten a page, each with its photos,
  the AI's suggestions, the votes so far and its current name; signed-in people vote there
  (:mod:`hortus.web.observation_votes`).
* ``GET /observations/{id}``: one observation, its status, votes and licence, and the photo
  votes; ``GET /observations/mine``: a signed-in person's observations with their status.
* Saving an identification as an observation is :mod:`hortus.web.observation_save`; deleting
  one, :mod:`hortus.web.observation_delete`.

Thin handlers: the reading, the votes and the saving are the observations service's
(:mod:`hortus.observations.service`, :mod:`hortus.observations.views`), the same the API uses.
Anyone may read these pages, as anyone with a result's link sees its photos; voting and saving
need an account.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hortus.db import Database
from hortus.deps import DatabaseDep
from hortus.errors import NotFound
from hortus.inference import InferenceDep
from hortus.observations import service, views
from hortus.observations.votes import VOTE_ORGANS
from hortus.web.i18n import N_
from hortus.web.i18n import gettext as _
from hortus.web.observation_delete import router as delete_router
from hortus.web.observation_save import router as save_router
from hortus.web.observation_view import (
    THRESHOLDS,
    ObservationCard,
    observation_cards,
)
from hortus.web.observation_votes import router as votes_router
from hortus.web.observation_votes import species_choices
from hortus.web.router import Visit, VisitDep, notice_text, redirect, render

router = APIRouter(include_in_schema=False)
router.include_router(votes_router)
router.include_router(save_router)
router.include_router(delete_router)

REVIEW_PATH = "/review"
MINE_PATH = "/observations/mine"
REVIEW_PER_PAGE = 10
MINE_PER_PAGE = 20
MAX_PAGE = 100_000
NOTICES = {
    "voted": N_("Your vote was counted."),
    "unchanged": N_("You had voted this already: nothing changed."),
    "saved": N_("Saved as an observation: others can now review it."),
    "already-saved": N_("You had saved these photos already: this is that observation."),
    "deleted": N_("The observation was deleted, with its votes and its photos."),
}


def problem(visit: Visit, *, status: int, title: str, message: str) -> Response:
    """A page saying what went wrong, with the way back to the review page."""
    return render(visit, "error.html", status=status, title=title, message=message,
                  back={"href": REVIEW_PATH, "text": _("Observations to review")})


def missing_observation(visit: Visit) -> Response:
    return problem(visit, status=404, title=_("Observation not found"), message=_(
        "There is no observation at this address: the link may be mistyped, or the "
        "observation was deleted."))


def _page_number(text: str) -> int | None:
    value = text.strip() or "1"
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        return None
    return int(value)


def _bad_page(visit: Visit, text: str) -> Response:
    return problem(visit, status=400, title=_("No such page"), message=_(
        "“%(page)s” is not a page number: pages are numbered from 1.")
        % {"page": text.strip()[:40]})


def _cards(database: Database, visit: Visit,
           found: Sequence[views.ObservationView]) -> list[ObservationCard]:
    """The cards of these views, with the visitor's own votes (blocking)."""
    account_id = visit.account.id if visit.account is not None else None
    my_votes: dict[int, str] = {}
    if account_id is not None:
        with database.read() as session:
            my_votes = service.determinations_by(session=session, account_id=account_id,
                                                 observation_ids=[v.id for v in found])
    return observation_cards(database=database, views=found, account_id=account_id,
                             my_votes=my_votes)


@router.get(REVIEW_PATH)
async def review_page(visit: VisitDep, db: DatabaseDep, inference: InferenceDep,
                      page: str = "1", notice: str | None = None) -> Response:
    number = _page_number(page)
    if number is None:
        return _bad_page(visit, page)

    def read() -> tuple[service.ObservationPage, list[ObservationCard]]:
        with db.read() as session:
            found = service.waiting_for_review(session=session, page=number,
                                               per_page=REVIEW_PER_PAGE)
        return found, _cards(db, visit, found.views)

    found, cards = await run_in_threadpool(read)
    return render(visit, "review.html", page=found, cards=cards,
                  species_names=await species_choices(inference, db, cards),
                  notice=notice_text(NOTICES, notice), thresholds=THRESHOLDS)


@router.get(MINE_PATH)
def my_observations(visit: VisitDep, db: DatabaseDep, page: str = "1",
                    notice: str | None = None) -> Response:
    if visit.account is None:
        return redirect(visit, f"/login?next={MINE_PATH}")
    number = _page_number(page)
    if number is None:
        return _bad_page(visit, page)
    with db.read() as session:
        found = service.observations_by(session=session, account_id=visit.account.id,
                                        page=number, per_page=MINE_PER_PAGE)
    return render(visit, "observation_mine.html", page=found,
                  cards=_cards(db, visit, found.views), thresholds=THRESHOLDS,
                  notice=notice_text(NOTICES, notice))


@router.get("/observations/{observation_id}")
async def observation_page(observation_id: str, visit: VisitDep, db: DatabaseDep,
                           inference: InferenceDep, notice: str | None = None) -> Response:
    def read() -> list[ObservationCard]:
        with db.read() as session:
            found = views.get_observation(session=session,
                                          observation_id=views.parse_id(observation_id))
        return _cards(db, visit, [found])

    try:
        cards = await run_in_threadpool(read)
    except NotFound:
        return missing_observation(visit)
    return render(visit, "observation.html", card=cards[0],
                  species_names=await species_choices(inference, db, cards),
                  organs=VOTE_ORGANS, notice=notice_text(NOTICES, notice),
                  thresholds=THRESHOLDS)
