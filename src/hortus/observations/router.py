"""Pl@ntNet v2 observation routes: save, read, vote, sync, identify again.

Thin, like :mod:`hortus.identify.router`, whose family they belong to: the key is the
``api-key`` query parameter, and every error is Pl@ntNet's ``{statusCode, error, message}``.
``POST /v2/observations`` is a Hortus extension (Pl@ntNet's apps create observations outside
the public API); the other routes follow the Pl@ntNet OpenAPI 2.2.2 description.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from hortus.accounts.deps import quota_listener
from hortus.db import Database
from hortus.deps import DatabaseDep, JsonBody, SettingsDep
from hortus.errors import Forbidden, InvalidInput
from hortus.identify import related
from hortus.identify import serialize as identify_serialize
from hortus.identify.router import (
    IdentifyCallerDep,
    ProjectPath,
    check_uri_length,
    errors,
)
from hortus.identify.schemas import (
    HORTUS_EXTENSION,
    IdentificationResult,
    IdentifyOptions,
    WireModel,
)
from hortus.image_work import ImageWorkBusy, note_busy
from hortus.inference import InferenceDep
from hortus.media.deps import MediaDep
from hortus.observations import reference_photos, removal, service, views
from hortus.observations.form import check_form, read_form
from hortus.observations.removal import NOT_YOURS
from hortus.observations.schemas import (
    CREATE_BODY,
    CreateQuery,
    DeterminationVote,
    ObservationIdentifyQuery,
    OrganVote,
    PartnerObservation,
    PartnerObservations,
    QualityVote,
    SyncQuery,
    VoteResponse,
    vote_body,
)
from hortus.observations.serialize import milliseconds, partner_observation

PREFIX = "/v2"
Body = TypeVar("Body", bound=BaseModel)

# Valid observations' photos are related images of their species in identification results.
related.add_contributor(reference_photos.valid_observation_photos)

router = APIRouter(prefix=PREFIX, tags=["Identification (Pl@ntNet v2)"],
                   dependencies=[Depends(check_uri_length)])

ObservationId = Annotated[str, Path(alias="id", description="Observation ID")]
ImageHash = Annotated[str, Path(description="Image hash: the photo's `id` in the observation "
                                            "(the sha256 of its bytes).")]
_OBSERVATION_404 = '"Observation not found": no observation has this id (or it was deleted).'
_VOTE_404 = (_OBSERVATION_404[:-1] + '; "Image not found": the observation has no photo with '
             "this hash.")


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _parse(model: type[Body], raw: Any) -> Body:
    """A vote body as its model; InvalidInput (400) naming the first field that is wrong."""
    if not isinstance(raw, dict):
        raise InvalidInput("The body must be a JSON object.", error="invalid body")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        if first.get("type") == "missing":
            message = f'"{where}" is required.'
        else:
            message = f'"{where}": {first.get("msg")}'
        raise InvalidInput(message, error=f"invalid {where}") from None


def _view(db: Database, observation_id: int) -> views.ObservationView:
    with db.read() as session:
        return views.get_observation(session=session, observation_id=observation_id)


@router.post(
    "/observations",
    summary="Save an observation (Hortus extension)",
    description=f"{HORTUS_EXTENSION}: saves photos of one plant as an observation. The form is "
                "that of POST /v2/identify/{project} (`images`, `organs`) plus the author's "
                "`determination` (a species, or `unknown`), `date`, `lat`/`lon`, `accuracy`, "
                "`place` and the photos' `license` (default cc-by-sa). The photos are "
                "identified (the AI's suggestions are kept; one unit of the daily "
                "identification quota) and stored. The author's determination and organs "
                "are the author's votes. Answers the saved observation.",
    response_model=PartnerObservation, response_model_exclude_none=True,
    responses={200: {"description": "The saved observation."},
               **errors(400, 401, 403, 404, 413, 414, 415, 429, 500,
                        e404='"Project not found": the project is unknown.')},
    openapi_extra={"requestBody": CREATE_BODY},
)
async def create_observation(query: Annotated[CreateQuery, Query()], request: Request,
                             caller: IdentifyCallerDep, db: DatabaseDep, settings: SettingsDep,
                             inference: InferenceDep, media: MediaDep) -> PartnerObservation:
    form = await read_form(content_type=request.headers.get("content-type"),
                           content_length=request.headers.get("content-length"),
                           stream=request.stream(), max_bytes=settings.max_upload_bytes)
    new = check_form(form)
    try:
        observation_id = await service.create_observation(
            inference=inference, database=db, settings=settings, media=media,
            account_id=caller.account_id, project=query.project, new=new,
            on_quota=quota_listener(request))
    except ImageWorkBusy as exc:
        note_busy(request, exc)
        raise
    view = await run_in_threadpool(_view, db, observation_id)
    return partner_observation(view, base_url=_base_url(request))


@router.get(
    "/observations/sync/latest", summary="Get latest updated observations",
    description="Observations updated (created, voted on, their name or validity changed) "
                "between `startDate` and `endDate` (timestamps in ms, both inclusive), oldest "
                "update first; intended to be called periodically with `startDate` = the last "
                "page's `nextStartDate`. `email` may name only the caller's own address (an "
                "operator's key: anyone's).",
    response_model=PartnerObservations, response_model_exclude_none=True,
    responses=errors(400, 401, 403, 414, 500,
                     e403="Forbidden: `email` names another account, or the key's authorized "
                          "domains or IPs refuse this request."),
)
def sync_latest(query: Annotated[SyncQuery, Query()], request: Request,
                caller: IdentifyCallerDep, db: DatabaseDep) -> PartnerObservations:
    account = caller.key.account
    if query.email is not None and not account.is_admin and \
            query.email.strip().lower() != account.email.lower():
        raise Forbidden("email may only name your own address.", error="forbidden")
    with db.read() as session:
        page = views.latest_updated(session=session, start_ms=query.start_date,
                                    end_ms=query.end_date, owner_email=query.email,
                                    ids=query.ids, offset=query.offset, limit=query.limit)
    base = _base_url(request)
    data = [partner_observation(view, base_url=base) for view in page.views]
    url = request.url.remove_query_params("api-key")
    return PartnerObservations(
        data=data, has_more=page.has_more,
        prev=(str(url.include_query_params(offset=max(0, query.offset - query.limit)))
              if query.offset > 0 else None),
        next=(str(url.include_query_params(offset=query.offset + query.limit))
              if page.has_more else None),
        next_start_date=str(milliseconds(page.views[-1].updated_at)) if page.views else None,
    )


@router.get(
    "/observations/{id}", summary="Get observation",
    description="An observation by id: its photos (with their organ and quality votes), the "
                "author's determination (`submittedName`), the current name the votes settle "
                "on (`currentName`), whether it is valid, the AI's suggestions when it was "
                "saved, and the votes by species.",
    response_model=PartnerObservation, response_model_exclude_none=True,
    responses=errors(400, 401, 403, 404, 414, 500, e404=_OBSERVATION_404),
)
def get_observation(observation_id: ObservationId, request: Request, caller: IdentifyCallerDep,
                    db: DatabaseDep) -> PartnerObservation:
    view = _view(db, views.parse_id(observation_id))
    return partner_observation(view, base_url=_base_url(request))


class DeletedObservation(WireModel):
    """The answer of ``DELETE /v2/observations/{id}`` (a Hortus extension)."""

    id: str
    deleted: bool


@router.delete(
    "/observations/{id}", summary="Delete an observation (Hortus extension)",
    description=f"{HORTUS_EXTENSION}: deletes an observation — its author's right, or an "
                "operator's (a key of an account marked operator, `accounts.is_admin`; on "
                "the server, `hortus observations delete ID`). Every vote on it is removed "
                "and the votes' weights follow; its "
                "photos are removed from the media store (unless another observation shows "
                "the same photo). It stays listed by `sync/latest` with `deleted: true`, and "
                "reading it answers 404.",
    response_model=DeletedObservation,
    responses=errors(400, 401, 403, 404, 414, 500,
                     e403=f"Forbidden: {NOT_YOURS} (or the key's authorized domains or IPs "
                          "refuse this request).",
                     e404=_OBSERVATION_404),
)
def delete_observation(observation_id: ObservationId, caller: IdentifyCallerDep,
                       db: DatabaseDep, settings: SettingsDep,
                       media: MediaDep) -> DeletedObservation:
    key = views.parse_id(observation_id)
    removal.delete_observation(database=db, settings=settings, media=media,
                               account_id=caller.account_id, observation_id=key)
    return DeletedObservation(id=str(key), deleted=True)


_VOTE_ROUTE: dict[str, Any] = {
    "response_model": VoteResponse,
    "responses": errors(400, 401, 403, 404, 413, 414, 415, 500, e404=_VOTE_404),
}


@router.post(
    "/observations/{id}/votes/determination", summary="Determination vote",
    description="Submit a determination vote for an observation. If a vote already exists, "
                "it will be replaced (the author's vote is their determination). `name` must "
                "be a species this server knows (GET /v2/species, or the plant database). "
                "The observation's name and validity follow at once.",
    openapi_extra={"requestBody": vote_body(DeterminationVote)}, **_VOTE_ROUTE,
)
async def vote_determination(observation_id: ObservationId, caller: IdentifyCallerDep,
                             body: JsonBody, db: DatabaseDep, settings: SettingsDep,
                             inference: InferenceDep) -> VoteResponse:
    key = views.parse_id(observation_id)
    vote = _parse(DeterminationVote, body)
    classes = await service.species_classes(inference)
    species = await run_in_threadpool(lambda: service.check_species(
        database=db, name=vote.name, classes=classes))
    ballot = service.Ballot(kind="determination", species=species, score=vote.score)
    updated = await run_in_threadpool(lambda: service.cast_vote(
        database=db, settings=settings, account_id=caller.account_id, observation_id=key,
        ballot=ballot))
    return VoteResponse(updated=updated)


def _hash(value: str) -> str:
    return value.strip().lower()


@router.post(
    "/observations/{id}/votes/image/{hash}/quality", summary="Quality vote",
    description="Submit quality vote for an image. If a vote already exists, it will be "
                "replaced. An observation whose photos are mostly voted bad cannot be valid.",
    openapi_extra={"requestBody": vote_body(QualityVote)}, **_VOTE_ROUTE,
)
def vote_quality(observation_id: ObservationId, hash: ImageHash, caller: IdentifyCallerDep,
                 body: JsonBody, db: DatabaseDep, settings: SettingsDep) -> VoteResponse:
    key = views.parse_id(observation_id)
    vote = _parse(QualityVote, body)
    ballot = service.Ballot(kind="quality", image=_hash(hash), good=vote.quality)
    return VoteResponse(updated=service.cast_vote(
        database=db, settings=settings, account_id=caller.account_id, observation_id=key,
        ballot=ballot))


@router.post(
    "/observations/{id}/votes/image/{hash}/organ", summary="Organ vote",
    description="Submit an organ vote for an image. If a vote already exists, it will be "
                "replaced. The photo's organ is the one most people voted.",
    openapi_extra={"requestBody": vote_body(OrganVote)}, **_VOTE_ROUTE,
)
def vote_organ(observation_id: ObservationId, hash: ImageHash, caller: IdentifyCallerDep,
               body: JsonBody, db: DatabaseDep, settings: SettingsDep) -> VoteResponse:
    key = views.parse_id(observation_id)
    vote = _parse(OrganVote, body)
    ballot = service.Ballot(kind="organ", image=_hash(hash), organ=vote.organ, score=vote.score)
    return VoteResponse(updated=service.cast_vote(
        database=db, settings=settings, account_id=caller.account_id, observation_id=key,
        ballot=ballot))


@router.get(
    "/projects/{project}/observations/{id}/identify", summary="Identification service",
    description="Get identification results for an existing observation (for the given id): "
                "its stored photos and their current organs identified again in `project` "
                "(`best` is answered by all). Counts one identification of the daily quota.",
    response_model=IdentificationResult, response_model_exclude_none=True,
    responses=errors(400, 401, 403, 404, 414, 429, 500,
                     e404='"Observation not found"; "Project not found"; "Species not found": '
                          "the photos match no species."),
)
async def identify_observation(project: ProjectPath, observation_id: ObservationId,
                               query: Annotated[ObservationIdentifyQuery, Query()],
                               request: Request, caller: IdentifyCallerDep, db: DatabaseDep,
                               settings: SettingsDep, inference: InferenceDep,
                               media: MediaDep) -> IdentificationResult:
    key = views.parse_id(observation_id)
    options = IdentifyOptions.model_validate({
        "include-related-images": query.include_similar_images, "lang": query.lang,
        "type": query.type})
    try:
        result = await service.identify_observation(
            inference=inference, database=db, settings=settings, media=media,
            account_id=caller.account_id, project=project, observation_id=key,
            options=options, on_quota=quota_listener(request))
    except ImageWorkBusy as exc:
        note_busy(request, exc)
        raise
    return identify_serialize.identification_result(result, options=options,
                                                    base_url=_base_url(request))
