"""Votes from the review and observation pages: a determination (agree with the current name,
or propose another species), and each photo's organ and quality.

Each vote goes through the observations service as the API's do
(:func:`hortus.observations.service.cast_vote`): one vote per person per target, a new vote
replacing the old one, the label aggregation updated in the same transaction. Only signed-in
people vote (a signed-out post goes to the sign-in page); a person's determination vote on
their own observation is their determination. Post/redirect/get: a vote answers 303 back to the
page it came from. A species name the server does not know is answered with the names closest
to it (the plant browser's typo-tolerant search, and the identification projects' names), each
one click away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hortus.db import Database
from hortus.deps import DatabaseDep, SettingsDep
from hortus.errors import HortusError, InvalidInput, NotFound
from hortus.inference import Inference, InferenceDep
from hortus.observations import service, views
from hortus.observations.names import MAX_NAME_LENGTH
from hortus.observations.votes import VOTE_ORGANS
from hortus.plants import browse
from hortus.plants.schemas import MAX_QUERY
from hortus.plants.taxonomy import known_records
from hortus.web import security
from hortus.web.i18n import N_, current_language
from hortus.web.i18n import gettext as _
from hortus.web.observation_view import (
    ObservationCard,
    SpeciesName,
    observation_cards,
    species_name,
)
from hortus.web.router import Visit, VisitDep, redirect, render

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form()]
CLOSE_NAMES = 6  # names offered for one that is not known
QUALITIES = {"good": True, "bad": False}


def _back(observation_id: int, back: str, page: str, notice: str, anchor: str = "") -> str:
    """Where a vote returns: the review page it was cast on (same page, at the observation), or
    the observation's page."""
    if back == "review":
        number = page.strip()
        paged = number.isascii() and number.isdigit() and len(number) < 7 and int(number) > 1
        query = f"page={int(number)}&" if paged else ""
        return f"/review?{query}notice={notice}#observation-{observation_id}"
    return f"/observations/{observation_id}?notice={notice}{anchor}"


def sign_in_first(visit: Visit, observation_id: str) -> Response:
    """To the sign-in page, and back to the observation's page (the review page when the id
    names none) after."""
    named = observation_id.isascii() and observation_id.isdigit() and len(observation_id) < 17
    target = f"/observations/{observation_id}" if named else "/review"
    return redirect(visit, f"/login?next={target}")


def _refused(visit: Visit, observation_id: str, csrf_token: str) -> Response | None:
    """The answer when this visitor may not vote (sign in first, or a bad CSRF token)."""
    if visit.account is None:
        return sign_in_first(visit, observation_id)
    if security.csrf_valid(visit.secret, visit.token, csrf_token):
        return None
    return render(visit, "error.html", status=403, title=_("Form expired"), message=_(
        "This form could not be verified: it has expired, was opened in another session, or "
        "did not come from this site. No vote was counted. Reload the page and try again."),
        back={"href": "/review", "text": _("Observations to review")})


def _problem(visit: Visit, exc: HortusError) -> Response:
    if isinstance(exc, NotFound):
        if exc.error == "observation not found":
            title, message = _("Observation not found"), _(
                "There is no observation at this address: the link may be mistyped, or the "
                "observation was deleted.")
        else:
            title, message = _("Photo not found"), _("This observation has no such photo.")
    else:
        title, message = _("Vote not counted"), _(exc.message)
    return render(visit, "error.html", status=exc.status, title=title, message=message,
                  back={"href": "/review", "text": _("Observations to review")})


def close_names(database: Database, typed: str, classes: dict[str, str]) -> list[SpeciesName]:
    """Species whose names come close to ``typed`` (blocking): the plant browser's search among
    species, then the identification projects' names that contain it."""
    words = browse.clean_text(typed)[:MAX_QUERY]
    if not any(character.isalnum() for character in words):
        return []
    found: dict[str, SpeciesName] = {}
    try:
        with database.read() as session:
            page = browse.browse_plants(session=session, query=browse.BrowseQuery(
                q=words, facets={"kind": "species"}))
    except HortusError:
        page = None
    for card in page.cards if page is not None else []:
        plant = card.plant
        found.setdefault(plant.scientific_name, SpeciesName(
            scientific_name=plant.scientific_name,
            common_name=plant.name if plant.name != plant.scientific_name else None,
            profile=f"/plants/{plant.slug}"))
    lowered = words.lower()
    for key, name in sorted(classes.items()):
        if lowered in key and name not in found:
            found[name] = SpeciesName(scientific_name=name, common_name=None, profile=None)
    return list(found.values())[:CLOSE_NAMES]


async def species_choices(inference: Inference, database: Database,
                          cards: Sequence[ObservationCard]) -> list[SpeciesName]:
    """The names the "another species" field offers: every species the identification
    projects know, and those on the page (a name outside them is looked up when sent)."""
    classes = await service.species_classes(inference)
    on_page = [species.scientific_name for card in cards
               for species in [s.species for s in card.suggestions]
               + [s.species for s in card.support]]
    names = sorted(set(classes.values()) | set(on_page))
    language = current_language()

    def named() -> list[SpeciesName]:
        records = known_records(database, names, language)
        choices: dict[str, SpeciesName] = {}
        for name in names:
            choice = species_name(records, name)
            choices.setdefault(choice.scientific_name, replace(choice, profile=None))
        return list(choices.values())

    return await run_in_threadpool(named)


@router.post("/observations/{observation_id}/determination")
async def vote_determination(observation_id: str, visit: VisitDep, db: DatabaseDep,
                             settings: SettingsDep, inference: InferenceDep, name: Text = "",
                             back: Text = "", page: Text = "1",
                             csrf_token: Text = "") -> Response:
    """Vote a species for an observation (agree with its name, or propose another)."""
    if (refused := _refused(visit, observation_id, csrf_token)) is not None:
        return refused
    assert visit.account is not None
    account_id = visit.account.id
    try:
        key = views.parse_id(observation_id)
        typed = " ".join(name.split())[:MAX_NAME_LENGTH + 1]
        classes = await service.species_classes(inference)
        try:
            species = await run_in_threadpool(lambda: service.check_species(
                database=db, name=typed, classes=classes))
        except InvalidInput:
            return await _which_species(visit, db, inference, key, typed, classes,
                                        back, page)
        ballot = service.Ballot(kind="determination", species=species, score=1.0)
        changed = await run_in_threadpool(lambda: service.cast_vote(
            database=db, settings=settings, account_id=account_id, observation_id=key,
            ballot=ballot))
    except HortusError as exc:
        return _problem(visit, exc)
    return redirect(visit, _back(key, back, page, "voted" if changed else "unchanged"))


async def _which_species(visit: Visit, db: Database, inference: Inference,
                         observation_id: int, typed: str, classes: dict[str, str], back: str,
                         page: str) -> Response:
    """A name the server does not know: the observation's page asks which species was meant
    (400), offering the closest names."""
    def read() -> tuple[ObservationCard, list[SpeciesName]]:
        with db.read() as session:
            found = views.get_observation(session=session, observation_id=observation_id)
        account_id = visit.account.id if visit.account is not None else None
        cards = observation_cards(database=db, views=[found], account_id=account_id)
        return cards[0], close_names(db, typed, classes)

    card, names = await run_in_threadpool(read)
    return render(visit, "observation_propose.html", status=400, card=card,
                  typed=typed[:MAX_NAME_LENGTH], names=names,
                  back="review" if back == "review" else "observation", page=page[:6],
                  species_names=await species_choices(inference, db, [card]))


def _photo_vote(visit: Visit, db: Database, settings: SettingsDep, observation_id: str,
                ballot: service.Ballot) -> Response:
    assert visit.account is not None
    try:
        key = views.parse_id(observation_id)
        changed = service.cast_vote(database=db, settings=settings, account_id=visit.account.id,
                                    observation_id=key, ballot=ballot)
    except HortusError as exc:
        return _problem(visit, exc)
    return redirect(visit, _back(key, "observation", "1", "voted" if changed else "unchanged",
                                 anchor=f"#photo-{ballot.image}"))


def _photo_hash(sha256: str) -> str:
    return sha256.strip().lower()[:64]


@router.post("/observations/{observation_id}/photos/{sha256}/organ")
def vote_organ(observation_id: str, sha256: str, visit: VisitDep, db: DatabaseDep,
               settings: SettingsDep, organ: Text = "", csrf_token: Text = "") -> Response:
    """Vote what one photo shows."""
    if (refused := _refused(visit, observation_id, csrf_token)) is not None:
        return refused
    chosen = organ.strip().lower()
    if chosen not in VOTE_ORGANS:
        return _problem(visit, InvalidInput(N_("Choose what the photo shows from the list."),
                                            error="invalid organ"))
    return _photo_vote(visit, db, settings, observation_id, service.Ballot(
        kind="organ", image=_photo_hash(sha256), organ=chosen, score=1.0))


@router.post("/observations/{observation_id}/photos/{sha256}/quality")
def vote_quality(observation_id: str, sha256: str, visit: VisitDep, db: DatabaseDep,
                 settings: SettingsDep, quality: Text = "", csrf_token: Text = "") -> Response:
    """Vote whether one photo is good enough to name the plant from."""
    if (refused := _refused(visit, observation_id, csrf_token)) is not None:
        return refused
    good = QUALITIES.get(quality.strip().lower())
    if good is None:
        return _problem(visit, InvalidInput(N_("Say whether the photo is good or poor."),
                                            error="invalid quality"))
    return _photo_vote(visit, db, settings, observation_id, service.Ballot(
        kind="quality", image=_photo_hash(sha256), good=good))
