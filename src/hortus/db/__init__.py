"""Database layer: engine and sessions, declarative base, migrations glue, full-text adapter."""

from hortus.db.base import Base, UTCDateTime, utcnow
from hortus.db.engine import Database

__all__ = ["Base", "Database", "UTCDateTime", "utcnow"]
