"""Fixtures of the operations tests: ``hortus serve`` processes (see tests/server)."""

from tests.server.serve_support import serve  # noqa: F401
