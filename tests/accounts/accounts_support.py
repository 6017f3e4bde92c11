"""Helpers shared by the accounts and web tests (imported by both conftests)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from hortus.accounts import service
from hortus.accounts.keys import NewKey
from hortus.config import Settings
from hortus.db import Database

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class KeyOwner:
    """An account and one of its keys, as the owner saw it once."""

    email: str
    account_id: int
    key: NewKey


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"data_dir": data_dir, "load_starter_data": False,
                                 "environment": "test"}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def make_key(database: Database, email: str | None = None, **exposure: object) -> KeyOwner:
    """A new account (or an existing one) with a new key, optionally exposed."""
    email = email or f"user-{secrets.token_hex(4)}@example.org"
    with database.write() as session:
        account = service.get_or_create_account(session=session, email=email)
        new = service.create_key(session=session, account=account)
        if exposure:
            service.set_exposure(session=session, account=account, key_id=new.key_id,
                                 expose=bool(exposure.get("expose", True)),
                                 domains=str(exposure.get("domains", "")),
                                 ips=str(exposure.get("ips", "")))
        return KeyOwner(email=account.email, account_id=account.id, key=new)


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except Exception:
        return False


