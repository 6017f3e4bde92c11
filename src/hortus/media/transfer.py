"""Copying every stored photo from one store to another, verified; iterating them for backups.

:func:`copy_media` is what ``hortus media migrate`` runs, and what a backup can run into a
folder (``copy_media(store, LocalMediaStore(folder))``). It is resumable: objects the
destination already holds are not written again (every backend writes an object whole or not
at all, so an interrupted run leaves no half object), and every object, copied or found, is
read back from the destination and its sha256 compared with the source's bytes (for a
content key, with the key itself).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from hortus.media.store import MediaBody, MediaStore, is_content_key

ProgressFn = Callable[[int, int], None]
_BATCH = 200


@dataclass
class CopyReport:
    """What a copy did: objects written, found already there, bytes written, and failures
    (key and reason) — a failure never stops the copy."""

    total: int = 0
    copied: int = 0
    present: int = 0
    bytes_copied: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def verified(self) -> int:
        return self.copied + self.present


def _digest(body: MediaBody) -> tuple[str, int]:
    hasher, size = hashlib.sha256(), 0
    for chunk in body:
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


class _Tee:
    """Chunks passed through, hashed on the way."""

    def __init__(self, body: MediaBody) -> None:
        self.body = body
        self.hasher = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.hasher.update(chunk)
            self.size += len(chunk)
            yield chunk


def _copy_one(source: MediaStore, destination: MediaStore, key: str, held: bool,
              report: CopyReport) -> None:
    body = source.open(key)
    if body is None:
        raise LookupError("the source no longer holds it")
    if held:
        source_sha, source_size = _digest(body)
    else:
        tee = _Tee(body)
        stored = destination.put(key, tee, content_type=body.info.content_type)
        if stored:
            source_sha, source_size = tee.hasher.hexdigest(), tee.size
        else:  # another writer stored it meanwhile: hash the source on its own
            body.close()
            reopened = source.open(key)
            if reopened is None:
                raise LookupError("the source no longer holds it")
            source_sha, source_size = _digest(reopened)
        held = not stored
    if is_content_key(key) and source_sha != key:
        raise ValueError(f"the source's bytes hash to {source_sha}, not to their key")
    if body.info.sha256 and body.info.sha256 != source_sha:
        raise ValueError("the source's bytes do not match the sha256 it recorded")
    copy = destination.open(key)
    if copy is None:
        raise LookupError("the destination does not hold it after writing")
    copy_sha, copy_size = _digest(copy)
    if (copy_sha, copy_size) != (source_sha, source_size):
        raise ValueError(f"the destination's copy hashes to {copy_sha} ({copy_size} bytes), "
                         f"the source's to {source_sha} ({source_size} bytes)")
    if held:
        report.present += 1
    else:
        report.copied += 1
        report.bytes_copied += source_size


def copy_media(source: MediaStore, destination: MediaStore, *,
               keys: Iterable[str] | None = None,
               progress: ProgressFn | None = None) -> CopyReport:
    """Copy every object of ``source`` (or only ``keys``) that ``destination`` lacks, and
    verify each object's sha256 at the destination. Failures are reported, not raised."""
    wanted = sorted(set(keys if keys is not None else source.iter_keys()))
    report = CopyReport(total=len(wanted))
    done = 0
    for i in range(0, len(wanted), _BATCH):
        batch = wanted[i:i + _BATCH]
        held = destination.existing(batch)
        for key in batch:
            try:
                _copy_one(source, destination, key, key in held, report)
            except (OSError, LookupError, ValueError) as exc:
                report.failed.append((key, str(exc)))
            done += 1
            if progress is not None:
                progress(done, report.total)
    return report


def iter_media(store: MediaStore) -> Iterator[MediaBody]:
    """Every object of ``store``, opened one at a time (for backups: stream each body, e.g.
    into a tar member of ``body.info.size`` bytes named ``body.info.key``)."""
    for key in store.iter_keys():
        body = store.open(key)
        if body is not None:
            yield body
