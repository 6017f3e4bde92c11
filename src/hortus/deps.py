"""Dependencies shared by every router: settings, database, request bodies.

Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in a
worker thread, a hop that costs more than the lookup itself.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request

from hortus.config import Settings
from hortus.db import Database
from hortus.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia

MAX_JSON_BODY = 1024 * 1024


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_database(request: Request) -> Database:
    return request.app.state.database


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]


async def json_body(request: Request) -> Any:
    """The request's JSON body, or InvalidInput/UnsupportedMedia/PayloadTooLarge saying why not."""
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type.lower():
        raise UnsupportedMedia(
            "Send the body as JSON with content-type: application/json.",
            error="unsupported media type",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_JSON_BODY:
        raise PayloadTooLarge(f"The body is over {MAX_JSON_BODY} bytes.", error="body too large")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_JSON_BODY:
            raise PayloadTooLarge(
                f"The body is over {MAX_JSON_BODY} bytes.", error="body too large"
            )
    if not raw.strip():
        raise InvalidInput("The request body is empty; send a JSON object.", error="invalid body")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInput(
            f"The body is not valid JSON: {str(exc)[:120]}", error="malformed json"
        ) from None


JsonBody = Annotated[Any, Depends(json_body)]
