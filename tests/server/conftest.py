"""Fixtures of the server tests: ``hortus serve`` processes on a copy of the seeded database."""

from serve_support import serve  # noqa: F401
