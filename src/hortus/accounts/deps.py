"""Authentication dependencies: each API reads the key where its own document puts it.

* Pl@ntNet (``/v2``): the ``api-key`` query parameter → :func:`plantnet_caller`;
* PEAT (``/v1``): the ``Api-Key`` header (or ``api_key``, as PEAT allows) → :func:`peat_caller`;
* Permapeople (``/api``): ``x-permapeople-key-id`` + ``x-permapeople-key-secret`` →
  :func:`permapeople_key`, which also holds one unit of the plant-database quota, metered in
  memory (given back by :func:`refund_plant_unit` when the request fails).

Each checks the key's exposure rules (authorized domains and IPs) and tells the CORS middleware
(:mod:`hortus.accounts.cors`) that the request's origin may read the answer. Failures are domain
errors (NotAuthenticated 401, Forbidden 403, QuotaExceeded 429) that each family renders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from hortus.accounts import keycache, quotas, service
from hortus.accounts.exposure import check_exposure
from hortus.accounts.keys import split_api_key
from hortus.accounts.metering import Charge, QuotaMeter
from hortus.accounts.models import ApiKey
from hortus.db import Database
from hortus.deps import DatabaseDep
from hortus.errors import NotAuthenticated, QuotaExceeded

__all__ = [
    "Caller", "PeatCallerDep", "PermapeopleKeyDep", "PlantnetCallerDep", "check_exposure",
    "PERMAPEOPLE_KEY_PARAMETERS", "note_cors", "note_quota", "peat_caller", "permapeople_key",
    "plantnet_caller", "refund_plant_unit",
]

PERMAPEOPLE_401 = (
    "Please check your x-permapeople-key-id and x-permapeople-key-secret http headers."
)
PLANTNET_401 = "Invalid or missing API key: pass your private API key as the api-key parameter."
PEAT_401 = "No valid Api-Key provided."

# Keys of request.state read by the CORS middleware.
STATE_CORS_ORIGIN = "hortus_cors_origin"
STATE_RATE_LIMIT = "hortus_rate_limit"
# The plant-database unit a request holds (refunded when it fails).
STATE_PLANT_CHARGE = "hortus_plant_charge"

logger = logging.getLogger("hortus")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the live key (its ``account`` loaded) and the account's id."""

    key: ApiKey
    account_id: int


def client_ip(request: Request) -> str:
    """The client's address: the connection's peer, or, when that is a trusted proxy
    (``HORTUS_TRUSTED_PROXIES``), the client the proxy names (:mod:`hortus.server.forwarded`
    has put it in the scope)."""
    return request.client.host if request.client else ""


def note_cors(request: Request, key: ApiKey) -> None:
    """Let the CORS middleware answer this request's Origin (only for an exposed key)."""
    origin = request.headers.get("origin")
    if origin and key.expose:
        setattr(request.state, STATE_CORS_ORIGIN, origin)


def note_quota(request: Request, state: quotas.QuotaState) -> None:
    """Have the response carry RateLimit headers for this state (whatever its status)."""
    setattr(request.state, STATE_RATE_LIMIT, quotas.rate_limit_headers(state))


def note_exceeded(request: Request, exc: QuotaExceeded) -> None:
    """Have a 429 carry Retry-After and RateLimit headers."""
    setattr(request.state, STATE_RATE_LIMIT, quotas.exceeded_headers(exc))


def quota_listener(request: Request) -> Callable[[quotas.QuotaState | QuotaExceeded], None]:
    """For a service that takes a quota unit itself: note where the quota stands afterwards
    (RateLimit headers), or the 429's headers."""
    def listen(outcome: quotas.QuotaState | QuotaExceeded) -> None:
        if isinstance(outcome, QuotaExceeded):
            note_exceeded(request, outcome)
        else:
            note_quota(request, outcome)
    return listen


def _load_key(db: Database, key_id: str) -> ApiKey | None:
    read_at = keycache.now()
    with db.read() as session:
        key = service.find_key(session=session, key_id=key_id)
    if key is not None:
        keycache.remember(db, key, read_at=read_at)
    return key


async def _authenticate(db: Database, key_id: str | None, secret: str | None) -> ApiKey | None:
    """The live key for this id and secret, or None; the database is asked only when the key
    is not in :mod:`hortus.accounts.keycache`, and then in a worker thread."""
    if not service.plausible_pair(key_id, secret):
        return None
    assert key_id is not None and secret is not None
    key = keycache.lookup(db, key_id)
    if key is None:
        key = await run_in_threadpool(_load_key, db, key_id)
    return service.live_key_for_secret(key, secret)


def _touch(db: Database, key: ApiKey) -> None:
    with db.write() as session:
        service.touch_key(session=session, key=key)


async def _admit(request: Request, db: Database, key: ApiKey | None, message: str, *,
                 private_refuses_origin: bool = False) -> Caller:
    if key is None:
        raise NotAuthenticated(message)
    check_exposure(key=key, origin=request.headers.get("origin"), client_ip=client_ip(request),
                   private_refuses_origin=private_refuses_origin)
    note_cors(request, key)
    if service.needs_touch(key):
        await run_in_threadpool(_touch, db, key)
    return Caller(key=key, account_id=key.account_id)


def _split(api_key: str | None) -> tuple[str | None, str | None]:
    parts = split_api_key(api_key) if api_key else None
    return parts if parts is not None else (None, None)


async def plantnet_caller(
    request: Request,
    db: DatabaseDep,
    api_key: Annotated[str | None, Query(alias="api-key", description="Your private API key")]
    = None,
) -> Caller:
    """The caller of a Pl@ntNet route (key in the ``api-key`` query parameter)."""
    key = await _authenticate(db, *_split(api_key))
    return await _admit(request, db, key, PLANTNET_401, private_refuses_origin=True)


async def peat_caller(
    request: Request,
    db: DatabaseDep,
    api_key: Annotated[str | None, Header(alias="Api-Key", description="Your API key")] = None,
    api_key_underscore: Annotated[str | None, Header(
        alias="api_key", description="Your API key, spelled as PEAT's scripts send it "
                                     "(Api-Key wins when both are sent).")] = None,
) -> Caller:
    """The caller of a PEAT route (key in the ``Api-Key`` header, or ``api_key``)."""
    key = await _authenticate(db, *_split(api_key or api_key_underscore))
    return await _admit(request, db, key, PEAT_401)


KEY_ID_HEADER = "x-permapeople-key-id"
KEY_SECRET_HEADER = "x-permapeople-key-secret"


def _header_parameter(name: str, description: str) -> dict[str, Any]:
    """An optional string header as FastAPI documents a ``Header()`` parameter."""
    title = "-".join(part.capitalize() for part in name.split("-"))
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": title,
                       "description": description}}


#: The OpenAPI parameters of :func:`permapeople_key`'s two headers. The dependency reads them
#: from the request itself (FastAPI's per-parameter validation cost more than the rest of a
#: plant read's key check), so the plant routes document them with these
#: (:class:`hortus.plants.routing.PermapeopleRoute`).
PERMAPEOPLE_KEY_PARAMETERS = (
    _header_parameter(KEY_ID_HEADER,
                      "Your API key id (with x-permapeople-key-secret on every request)."),
    _header_parameter(KEY_SECRET_HEADER, "Your API key secret."),
)


async def permapeople_key(request: Request) -> ApiKey:
    """The key in Permapeople's two headers (:data:`PERMAPEOPLE_KEY_PARAMETERS`), holding one
    unit of the daily quota.

    401 with the seed's exact body when the key is missing or wrong, 403 when its exposure rules
    refuse the request, 429 when the plant-database quota is used up. The unit is taken before
    the route runs, from the units this process has leased (:mod:`hortus.accounts.metering`:
    no database write on most requests, and never a unit past the limit), and given back by
    :func:`refund_plant_unit` when the route fails — a 4xx for the caller's input (400, 404,
    413, 415, 422) or our own 5xx — so the quota counts answers only. The plant routes'
    :class:`~hortus.plants.routing.PermapeopleRoute` calls it before the error is answered, so
    the error's RateLimit headers show the unit given back.
    """
    db: Database = request.app.state.database
    headers = request.headers
    key = await _authenticate(db, headers.get(KEY_ID_HEADER), headers.get(KEY_SECRET_HEADER))
    caller = await _admit(request, db, key, PERMAPEOPLE_401)
    meter: QuotaMeter = request.app.state.plant_meter
    try:
        charge = await meter.charge(caller.account_id)
    except QuotaExceeded as exc:
        note_exceeded(request, exc)
        raise
    note_quota(request, charge.state)
    setattr(request.state, STATE_PLANT_CHARGE, charge)
    return caller.key


async def refund_plant_unit(request: Request) -> None:
    """Give back the plant-database unit this request was charged (nothing when it was not):
    the request failed. A failed refund is logged, never raised over the error that caused
    it."""
    charge: Charge | None = getattr(request.state, STATE_PLANT_CHARGE, None)
    if charge is None:
        return
    setattr(request.state, STATE_PLANT_CHARGE, None)
    meter: QuotaMeter = request.app.state.plant_meter
    try:
        state = await meter.refund(charge)
    except Exception:  # noqa: BLE001 - the request's own error is the one to answer
        logger.exception("Could not refund a plant-database unit of account %s",
                         charge.account_id)
        return
    note_quota(request, state)


async def require_permapeople_key(request: Request) -> None:
    """401 for a missing or wrong key *before* a plant route reads its body: a caller without a
    valid key learns that first, not that its body is malformed. (The route's
    :func:`permapeople_key` dependency then checks exposure and takes the quota unit; the key
    is remembered by then, so the second look-up is free.)"""
    database: Database = request.app.state.database
    key = await _authenticate(database, request.headers.get(KEY_ID_HEADER),
                              request.headers.get(KEY_SECRET_HEADER))
    if key is None:
        raise NotAuthenticated(PERMAPEOPLE_401)


PlantnetCallerDep = Annotated[Caller, Depends(plantnet_caller)]
PeatCallerDep = Annotated[Caller, Depends(peat_caller)]
PermapeopleKeyDep = Annotated[ApiKey, Depends(permapeople_key)]
