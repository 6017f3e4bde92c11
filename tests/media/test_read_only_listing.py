"""A read-only folder (the packaged thumbnails) answers "which of these exist" from a listing
made once; the layered store asks its configured store only about what the layers lack."""

from __future__ import annotations

import pytest

from hortus.media.factory import LayeredMediaStore
from hortus.media.local import LocalMediaStore
from hortus.media.store import MediaKeyError, photo_key, rendition_key


def test_a_read_only_folder_lists_its_renditions_once(tmp_path, photos):
    writer = LocalMediaStore(tmp_path / "packaged")
    shipped = rendition_key(photo_key(photos[0]), "s")
    original = photo_key(photos[1])
    writer.put(shipped, photos[0])
    writer.put(original, photos[1])
    packaged = LocalMediaStore(tmp_path / "packaged", read_only=True)
    later = rendition_key(photo_key(photos[2]), "s")
    assert packaged.existing([shipped, later, original]) == {shipped, original}
    # Nothing writes a read-only folder under a running process: a file that appears anyway
    # is served, but "exists" keeps the listing made on first use (a restart sees it).
    writer.put(later, photos[2])
    assert packaged.open(later).read() == photos[2]
    assert packaged.existing([shipped, later]) == {shipped}
    assert LocalMediaStore(tmp_path / "packaged", read_only=True).existing([later]) == {later}
    with pytest.raises(MediaKeyError):
        packaged.existing(["not a key"])


def test_layers_and_the_configured_store_answer_together(tmp_path, photos):
    primary = LocalMediaStore(tmp_path / "media")
    writer = LocalMediaStore(tmp_path / "packaged")
    in_layer = rendition_key(photo_key(photos[0]), "m")
    in_primary = rendition_key(photo_key(photos[1]), "m")
    nowhere = rendition_key(photo_key(photos[2]), "m")
    writer.put(in_layer, photos[0])
    primary.put(in_primary, photos[1])
    store = LayeredMediaStore(primary, [LocalMediaStore(tmp_path / "packaged", read_only=True)])
    assert store.existing([in_layer, in_primary, nowhere]) == {in_layer, in_primary}
    assert store.existing([]) == set()
