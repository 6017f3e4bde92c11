"""Helpers of the observation tests: keys, saving an observation, voting."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from hortus.accounts import service as accounts
from hortus.accounts.keys import NewKey
from hortus.bootstrap import prepare_database
from hortus.config import Settings

F0 = math.log(2.1)  # a newcomer's weight, f(0) = f(1)
DAFFODIL = "Narcissus pseudonarcissus"
SUNFLOWER = "Helianthus annuus"
SNOWDROP = "Galanthus nivalis"
ERROR_KEYS = {"statusCode", "error", "message"}

Client = TestClient | httpx.Client


def keys(settings: Settings, count: int, prefix: str = "voter") -> list[NewKey]:
    """``count`` new accounts with a key each (one database connection for them all)."""
    database = prepare_database(settings)
    try:
        with database.write() as session:
            return [accounts.create_key(session=session, account=accounts.get_or_create_account(
                session=session, email=f"{prefix}{i}@example.org")) for i in range(count)]
    finally:
        database.dispose()


def photo_files(*photos: Path | bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (f"photo_{i}.jpg", p if isinstance(p, bytes) else p.read_bytes(),
                        "image/jpeg")) for i, p in enumerate(photos)]


def save(client: Client, key: NewKey, *photos: Path | bytes, organs: list[str] | None = None,
         params: dict[str, str] | None = None, **fields: str) -> httpx.Response:
    """POST /v2/observations with the photos, organs and other form fields."""
    data: dict[str, Any] = dict(fields)
    if organs is not None:
        data["organs"] = organs
    return client.post("/v2/observations", params={"api-key": key.api_key, **(params or {})},
                       files=photo_files(*photos), data=data)


def saved(client: Client, key: NewKey, *photos: Path | bytes, **kwargs: Any) -> dict[str, Any]:
    response = save(client, key, *photos, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def vote(client: Client, key: NewKey, observation_id: str, name: str,
         score: float = 1.0) -> httpx.Response:
    return client.post(f"/v2/observations/{observation_id}/votes/determination",
                       params={"api-key": key.api_key}, json={"name": name, "score": score})


def read(client: Client, key: NewKey, observation_id: str) -> dict[str, Any]:
    response = client.get(f"/v2/observations/{observation_id}", params={"api-key": key.api_key})
    assert response.status_code == 200, response.text
    return response.json()


def verdict(observation: dict[str, Any]) -> tuple[float, float]:
    """The aggregation's confidence and accuracy, carried by the current name's vote score."""
    selected = [v for v in observation["votes"] if v["selected"]]
    assert len(selected) == 1, observation["votes"]
    return selected[0]["score"]["confidence"], selected[0]["score"]["accuracy"]
