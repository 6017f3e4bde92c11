"""What a test needs from the machine, and whether its absence is a skip or a failure.

On a developer's machine a test whose tool is missing skips. CI must not pass by skipping:
``.ci/run`` sets ``HORTUS_REQUIRE`` to a comma-separated list of the names below (``all`` for
every one), and then a test whose named need is missing fails instead, saying what is missing.

- ``torch``: PyTorch (``pip install -e '.[torch]'``: exactly torch 2.13.0), for the
  ONNX-vs-PyTorch backbone check (tests/vision/test_backbone.py);
- ``node``: Node.js, npm and the npm registry, for the seed's Node.js Pl@ntNet client;
- ``java``: a JDK (``java File.java``), for the seed's Java PEAT client;
- ``ruby``: Ruby, for the seed's Ruby PEAT client;
- ``chromium``: Debian's ``/usr/bin/chromium``, for the web pages in a real browser;
- ``postgresql``: a PostgreSQL server (``HORTUS_TEST_POSTGRES_URL``), for every test's
  ``[postgresql]`` case.
"""

from __future__ import annotations

import os
import shutil

import pytest

NEEDS = ("torch", "node", "java", "ruby", "chromium", "postgresql")


def required() -> frozenset[str]:
    """The needs ``HORTUS_REQUIRE`` names; an unknown name is an error, so that a typo in CI
    cannot quietly require nothing."""
    names = {name.strip() for name in os.environ.get("HORTUS_REQUIRE", "").split(",")}
    names.discard("")
    if "all" in names:
        return frozenset(NEEDS)
    unknown = names - set(NEEDS)
    if unknown:
        raise pytest.UsageError(f"HORTUS_REQUIRE names unknown needs {sorted(unknown)}; "
                                f"known: {', '.join(NEEDS)} or all")
    return frozenset(names)


def need(name: str, available: bool, reason: str) -> None:
    """Return when ``available``; otherwise skip the test, or fail it when ``HORTUS_REQUIRE``
    names ``name``."""
    if name not in NEEDS:
        raise ValueError(f"unknown need {name!r}")
    if available:
        return
    if name in required():
        pytest.fail(f"{reason}, and HORTUS_REQUIRE asks for {name}", pytrace=False)
    pytest.skip(reason)


def need_program(name: str, program: str | None = None) -> str:
    """The path of ``program`` (default ``name``) on PATH, or the skip/failure of ``need``."""
    path = shutil.which(program or name)
    need(name, path is not None, f"{program or name} is not installed")
    assert path is not None
    return path
