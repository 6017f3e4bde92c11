"""Stored photos, for every domain: one content-addressed store, three backends.

:mod:`~hortus.media.store` defines the interface and the keys; :mod:`~hortus.media.local`,
:mod:`~hortus.media.database` and :mod:`~hortus.media.s3` are the backends;
:mod:`~hortus.media.factory` opens the one the settings choose; :mod:`~hortus.media.http`
serves an object; :mod:`~hortus.media.transfer` copies, verifies and exports them.
"""

from hortus.media.factory import open_backend, open_media_store, resolve_backend
from hortus.media.store import (
    ByteRange,
    MediaBody,
    MediaInfo,
    MediaIntegrityError,
    MediaKeyError,
    MediaStore,
    photo_key,
    rendition_key,
)

__all__ = ["ByteRange", "MediaBody", "MediaInfo", "MediaIntegrityError", "MediaKeyError",
           "MediaStore", "open_backend", "open_media_store", "photo_key", "rendition_key",
           "resolve_backend"]
