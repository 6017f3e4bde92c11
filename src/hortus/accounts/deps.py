"""Authentication dependencies: each API reads the key where its own document puts it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from hortus.accounts import service
from hortus.accounts.models import ApiKey
from hortus.deps import DatabaseDep
from hortus.errors import NotAuthenticated

PERMAPEOPLE_401 = (
    "Please check your x-permapeople-key-id and x-permapeople-key-secret http headers."
)


def permapeople_key(
    db: DatabaseDep,
    x_permapeople_key_id: Annotated[str | None, Header()] = None,
    x_permapeople_key_secret: Annotated[str | None, Header()] = None,
) -> ApiKey:
    """The key in Permapeople's two headers; 401 with the seed's exact body otherwise."""
    with db.read() as session:
        key = service.authenticate_pair(
            session=session, key_id=x_permapeople_key_id, secret=x_permapeople_key_secret
        )
    if key is None:
        raise NotAuthenticated(PERMAPEOPLE_401, error="not authenticated")
    return key


PermapeopleKeyDep = Annotated[ApiKey, Depends(permapeople_key)]
