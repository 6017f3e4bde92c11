"""Analysis pictures stored before migration 0005, as files under ``media/analyses``, adopted
into the media store (``hortus media migrate`` runs this first)."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select, update

from hortus.db import Database
from hortus.diagnose.models import Analysis
from hortus.media.store import MediaStore, photo_key

logger = logging.getLogger("hortus")


def adopt_legacy_pictures(*, database: Database, media_dir: Path, media: MediaStore) -> int:
    """Put each legacy picture file this machine holds into ``media`` under its sha256 and
    record the key on its analysis; returns how many were adopted. Files are left in place;
    analyses whose file is not on this machine are left for the machine that has it."""
    with database.read() as session:
        legacy = session.execute(select(Analysis.id, Analysis.picture_path).where(
            Analysis.picture_sha256.is_(None), Analysis.picture_path.is_not(None))).all()
    adopted = 0
    root = media_dir.resolve()
    for pic_id, relative in legacy:
        path = (root / str(relative)).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            continue
        picture = path.read_bytes()
        key = photo_key(picture)
        media.put(key, picture)
        with database.write() as session:
            session.execute(update(Analysis).where(Analysis.id == pic_id)
                            .values(picture_sha256=key))
        adopted += 1
    if adopted:
        logger.info("adopted %d analysis pictures into the %s media store", adopted,
                    media.backend)
    return adopted
