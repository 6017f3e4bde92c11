"""Contract test: schemathesis fuzzes every operation of ``/openapi.json`` against the ASGI app.

With a valid key (where each family reads it), generated requests — valid ones and ones that
break the documented schema — must never get a 5xx, and every answer must match what the
document says: a documented status, a documented content type, a body valid against the
documented schema (errors in each family's own shape).

Two phases per operation. The coverage phase sends, deterministically, every way of breaking
each parameter and body that schemathesis derives from the document (missing, null, wrong type,
out of range, unknown enum value, unexpected property, malformed content type, undocumented
method); the fuzzing phase sends ``EXAMPLES`` random valid requests. The coverage phase's valid
half (every enum value and every combination of optional parameters, some 700 requests that
took nearly half of the test's time) is left to those random valid requests.
``HORTUS_CONTRACT_EXAMPLES`` raises their number for a longer run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.conftest import make_key

from hortus.accounts.keys import NewKey
from hortus.app import create_app
from hortus.config import Settings

EXAMPLES = int(os.environ.get("HORTUS_CONTRACT_EXAMPLES", "8"))
PHASES = SchemathesisConfig.from_dict({"phases": {
    "coverage": {"generation": {"mode": "negative"}},
    "fuzzing": {"generation": {"mode": "positive"}},
}})
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance,
          content_type_conformance, response_schema_conformance]


# The schema must exist when tests are collected (one test per operation), so the app is
# built at import; its data directory, database, models and key are set up by the fixture
# below, before any request (every pytest-xdist worker imports this module; only the one that
# runs it writes anything). (schemathesis's lazy ``from_fixture`` does not run on pytest 9.2.)
_DATA_DIR = Path(tempfile.gettempdir()) / f"hortus-contract-{uuid.uuid4().hex}"
_SETTINGS = Settings(data_dir=_DATA_DIR / "data", environment="test", warm_up_engine=False,
                     identify_per_day=100_000, analysis_per_month=100_000,
                     plants_per_day=100_000,
                     # Generated image URLs are refused before any DNS lookup: nothing leaves
                     # the machine.
                     identify_url_hosts=["images.invalid"])
APP = create_app(_SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=PHASES)


@pytest.fixture(scope="module")
def contract_key(sqlite_template: Path, shared_models_dir: Path) -> Iterator[NewKey]:
    """A valid key on a seeded database, with the app's lifespan running around the tests."""
    _SETTINGS.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(sqlite_template, _SETTINGS.data_dir / "hortus.db")
    _SETTINGS.models_dir = shared_models_dir  # the backbone converted once per test session
    key = make_key(_SETTINGS, email="contract@example.org")
    with TestClient(APP):  # runs the lifespan: database and inference stay open
        yield key
    shutil.rmtree(_DATA_DIR, ignore_errors=True)


def _authorise(case: schemathesis.Case, key: NewKey) -> None:
    """Put the valid key where the operation's family reads it (unless the case omits it on
    purpose to test a missing key, which the schema does not make required)."""
    path = case.operation.path
    if path.startswith("/v2"):
        case.query = {**(case.query or {}), "api-key": key.api_key}
    elif path.startswith("/v1"):
        headers = {k: v for k, v in (case.headers or {}).items()
                   if k.lower() not in ("api-key", "api_key")}
        case.headers = {**headers, "Api-Key": key.api_key}
    elif path.startswith("/api"):
        headers = {k: v for k, v in (case.headers or {}).items()
                   if not k.lower().startswith("x-permapeople-key")}
        case.headers = {**headers, "x-permapeople-key-id": key.key_id,
                        "x-permapeople-key-secret": key.key_secret}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case: schemathesis.Case,
                                            contract_key: NewKey) -> None:
    _authorise(case, contract_key)
    case.call_and_validate(checks=CHECKS)
