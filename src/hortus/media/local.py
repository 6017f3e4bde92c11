"""The local folder backend: one file per object under ``HORTUS_DATA_DIR/media``.

Originals live at ``photos/<sha[:2]>/<sha>``; renditions at
``references/<sha[:2]>/<sha>_<name>.jpg``, the layout ``hortus train`` and ``hortus models
media`` have always written, so existing data directories serve unchanged. A file appears
whole or not at all (written beside it, then hard-linked into place, which also refuses to
replace an existing one). ``read_only`` stores (the photos packaged inside Hortus) refuse
writes, and list their renditions once, on first use: nothing changes them under a running
process, so "which of these thumbnails exist" is then answered from memory.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from hortus.media.store import (
    CHUNK_BYTES,
    ByteRange,
    HashingChunks,
    MediaBody,
    MediaInfo,
    check_key,
    is_content_key,
    sniff_content_type,
)


class LocalMediaStore:
    """Objects as files in a folder (today's behaviour, the default with SQLite)."""

    backend = "local"

    def __init__(self, root: Path, *, read_only: bool = False) -> None:
        self.root = Path(root)
        self.read_only = read_only
        self._renditions: frozenset[str] | None = None

    def path(self, key: str) -> Path:
        """The file that holds (or would hold) ``key``."""
        check_key(key)
        if is_content_key(key):
            return self.root / "photos" / key[:2] / key
        return self.root / "references" / key[:2] / f"{key}.jpg"

    def _content_type(self, key: str, path: Path) -> str:
        if not is_content_key(key):
            return "image/jpeg"  # renditions are always JPEG
        with path.open("rb") as handle:
            return sniff_content_type(handle.read(16))

    def stat(self, key: str) -> MediaInfo | None:
        path = self.path(key)
        try:
            size = path.stat().st_size
            return MediaInfo(key=key, size=size, content_type=self._content_type(key, path))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def existing(self, keys: Iterable[str]) -> set[str]:
        if not self.read_only:
            return {key for key in keys if self.path(key).is_file()}
        listed = self._listed_renditions()
        return {key for key in keys
                if (self.path(key).is_file() if is_content_key(check_key(key))
                    else key in listed)}

    def _listed_renditions(self) -> frozenset[str]:
        """Every rendition key of a read-only folder, listed once (originals, such as a
        former local store's analysis pictures, can be many: those are still looked up)."""
        if self._renditions is None:
            self._renditions = frozenset(self._keys_in("references", ".jpg"))
        return self._renditions

    def put(self, key: str, data: bytes | Iterable[bytes], *,
            content_type: str | None = None) -> bool:
        if self.read_only:
            raise PermissionError(f"{self.root} is a read-only media folder")
        path = self.path(key)
        if path.is_file():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        chunks = HashingChunks(data)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            chunks.check(key)
            try:
                os.link(tmp, path)  # never replaces: a concurrent writer's file is kept
            except FileExistsError:
                return False
            except OSError:  # a filesystem without hard links
                os.replace(tmp, path)
            return True
        finally:
            Path(tmp).unlink(missing_ok=True)

    def open(self, key: str, byte_range: ByteRange | None = None) -> MediaBody | None:
        path = self.path(key)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            size = os.fstat(handle.fileno()).st_size
            if is_content_key(key):
                content_type = sniff_content_type(handle.read(16))
            else:
                content_type = "image/jpeg"
            start, end = byte_range.resolve(size) if byte_range else (0, size)
            handle.seek(start)
        except BaseException:
            handle.close()
            raise

        def chunks() -> Iterator[bytes]:
            left = end - start
            while left > 0:
                piece = handle.read(min(CHUNK_BYTES, left))
                if not piece:
                    break
                left -= len(piece)
                yield piece

        info = MediaInfo(key=key, size=size, content_type=content_type)
        return MediaBody(info, start, end, chunks(), handle.close)

    def delete(self, key: str) -> bool:
        if self.read_only:
            raise PermissionError(f"{self.root} is a read-only media folder")
        try:
            self.path(key).unlink()
            return True
        except FileNotFoundError:
            return False

    def iter_keys(self) -> Iterator[str]:
        yield from self._keys_in("photos", "")
        yield from self._keys_in("references", ".jpg")

    def _keys_in(self, folder: str, suffix: str) -> Iterator[str]:
        base = self.root / folder
        if not base.is_dir():
            return
        for shard in sorted(base.iterdir()):
            if not shard.is_dir():
                continue
            for entry in sorted(shard.iterdir()):
                name = entry.name
                if name.startswith(".") or not name.endswith(suffix):
                    continue
                key = name[:len(name) - len(suffix)] if suffix else name
                try:
                    check_key(key)
                except ValueError:
                    continue
                if is_content_key(key) == (folder == "photos"):
                    yield key

    def close(self) -> None:
        return None
