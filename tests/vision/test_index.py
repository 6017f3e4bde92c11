"""Reference index: nearest neighbours by class, float16 storage, pickle-free files."""

from __future__ import annotations

import numpy as np

from hortus.vision.heads import l2_normalise
from hortus.vision.index import ReferenceIndex


def make_index(n_per_class: int = 10, dim: int = 16):
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, dim)) * 3
    x = np.concatenate([c + rng.standard_normal((n_per_class, dim)) for c in centres])
    labels = np.repeat(np.arange(3), n_per_class)
    shas = [f"{i:064x}" for i in range(len(x))]
    meta = {"author": [f"author {i}" for i in range(len(x))], "organ": ["leaf"] * len(x)}
    return ReferenceIndex.build(l2_normalise(x), labels, shas, meta), x, labels


def test_nearest_returns_itself_first_and_respects_class():
    index, x, labels = make_index()
    query = l2_normalise(x[13])
    best = index.nearest(query, k=3)
    assert best[0].row == 13 and best[0].similarity > 0.99
    assert best[0].author == "author 13" and best[0].organ == "leaf" and best[0].licence is None
    restricted = index.nearest(query, class_index=2, k=4)
    assert len(restricted) == 4 and all(r.label_index == 2 for r in restricted)
    sims = [r.similarity for r in restricted]
    assert sims == sorted(sims, reverse=True)
    assert index.nearest(query, class_index=7) == []


def test_index_is_float16_and_round_trips_without_pickle(tmp_path):
    index, x, _ = make_index()
    assert index.vectors.dtype == np.float16
    path = tmp_path / "index.npz"
    index.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
    again = ReferenceIndex.load(path)
    assert len(again) == len(index)
    q = l2_normalise(x[5])
    assert [r.sha256 for r in again.nearest(q, k=3)] == [r.sha256 for r in index.nearest(q, k=3)]
    assert again.nearest(q, k=1)[0].author == "author 5"
