"""The process's media store as a FastAPI dependency (opened by the app's lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hortus.media.store import MediaStore


async def get_media(request: Request) -> MediaStore:
    return request.app.state.media


MediaDep = Annotated[MediaStore, Depends(get_media)]
