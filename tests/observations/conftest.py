"""Observation fixtures: the identification tests' trained flora (built once per test run and
shared with them), an app on it whose photos go to the database media backend (the flora's
reference media folder, linked into every data directory, stays read-only), and helpers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

# The identification tests' helpers and their trained flora serve here too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "identify"))
from identify_support import TrainedFlora, flora_settings  # noqa: E402
from tests.identify.conftest import flora  # noqa: E402,F401 - the fixture, reused

from hortus.app import create_app  # noqa: E402
from hortus.config import Settings  # noqa: E402


@pytest.fixture
def obs_settings(settings: Settings, flora: TrainedFlora) -> Settings:  # noqa: F811
    return flora_settings(settings, flora, media_backend="database")


@pytest.fixture
def obs_client(obs_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(obs_settings)) as client:
        yield client
