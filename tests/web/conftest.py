"""Web fixtures: the app over TestClient (the browser tests start a live server)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

# The accounts tests' helpers (make_settings, make_key, LiveServer) serve here too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "accounts"))
from accounts_support import make_settings  # noqa: E402
from tests.required import need  # noqa: E402

from hortus.app import create_app  # noqa: E402


@pytest.fixture
def web_app(request: pytest.FixtureRequest, tmp_path: Path, database_backend: str) -> FastAPI:
    """The app on an empty SQLite database (no starter plants); for a test marked
    ``both_databases``, also on a copy of the seeded PostgreSQL template (tests/conftest.py)."""
    if database_backend == "postgresql":
        return create_app(request.getfixturevalue("postgres_settings"))
    return create_app(make_settings(tmp_path / "data"))


@pytest.fixture
def web_client(web_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(web_app, follow_redirects=False) as client:
        yield client


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright (skips when it is not installed; fails
    when HORTUS_REQUIRE names chromium: tests/required.py)."""
    need("chromium", CHROMIUM.exists(), "needs Debian's chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
