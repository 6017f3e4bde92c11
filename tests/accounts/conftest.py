"""Accounts fixtures: a fresh data directory and app per test, a throwaway PostgreSQL schema.

Names are prefixed ``acct_`` so they never shadow the project-wide fixtures in tests/conftest.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from accounts_support import PG_ADMIN, PG_URL, make_settings, pg_available
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hortus.app import create_app
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.db import Database


@pytest.fixture
def acct_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def acct_database(acct_settings: Settings) -> Iterator[Database]:
    database = prepare_database(acct_settings)
    yield database
    database.dispose()


@pytest.fixture
def acct_app(acct_settings: Settings) -> FastAPI:
    return create_app(acct_settings)


@pytest.fixture
def acct_client(acct_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(acct_app) as client:
        yield client


@pytest.fixture
def acct_db(acct_client: TestClient, acct_app: FastAPI) -> Database:
    """The running app's database."""
    return acct_app.state.database


@pytest.fixture
def acct_pg_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped afterwards; skips without PostgreSQL."""
    if not pg_available():
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    import psycopg

    schema = f"hortus_accounts_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN,
                             autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


