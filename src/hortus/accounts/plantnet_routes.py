"""Pl@ntNet's account routes under ``/v2`` (mounted until the identification router owns them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hortus.accounts import plantnet_views
from hortus.accounts.deps import PlantnetCallerDep
from hortus.deps import DatabaseDep, SettingsDep

router = APIRouter(prefix="/v2", tags=["my-api"])


@router.get("/subscription", summary="Check subscription status and details")
def subscription(caller: PlantnetCallerDep, db: DatabaseDep,
                 settings: SettingsDep) -> dict[str, Any]:
    return plantnet_views.subscription_view(database=db, settings=settings, caller=caller)


@router.get("/quota", summary="Check quota consumption")
def quota(caller: PlantnetCallerDep, db: DatabaseDep, settings: SettingsDep) -> dict[str, Any]:
    return plantnet_views.quota_view(database=db, settings=settings, caller=caller)


@router.get("/quota/daily", summary="Check quota consumption for a day")
def quota_daily(caller: PlantnetCallerDep, db: DatabaseDep, settings: SettingsDep,
                day: Annotated[str | None, Query(description="YYYY-MM-DD")] = None
                ) -> dict[str, Any]:
    return plantnet_views.daily_quota_view(database=db, settings=settings, caller=caller,
                                           day=plantnet_views.parse_day(day))
