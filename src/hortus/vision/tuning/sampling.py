"""Which training photos each epoch sees, and in which order: balanced and seeded.

An epoch takes from every set ``min(max_per_set, its training photos)`` photos, spread evenly
over the set's classes: a class with fewer photos than its share gives all of them and the rest
goes to the other classes (water-filling). So PlantVillage's 23,000 training photos and
DeepWeeds' 5,800 ``negative`` scenes give a capped, class-balanced share, while a small set
(chilli) is seen whole every epoch. Within a class, photos come from an endless stream of
seeded permutations, one epoch taking the next ``quota`` of them: successive epochs walk
through all of a large class before any photo repeats, and no photo comes twice in an epoch.

Everything is a pure function of ``(seed, epoch)``: the plan of an epoch is recomputed on
resumption rather than stored, and each photo's augmentation has its own seed
``(seed, epoch, position)``, so the photos and pixels of the batches that follow a checkpoint
do not depend on when the run was stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_SHUFFLE = 1_000_003  # seed-stream tags, so that the streams below never coincide
_AUGMENT = 2_000_003


@dataclass(frozen=True)
class TrainingPhoto:
    """One photo the backbone may train on."""

    set_index: int
    label: int  # class index within its set
    path: str


def class_quotas(sizes: Sequence[int], budget: int) -> list[int]:
    """Split ``budget`` photos evenly over classes of ``sizes`` photos, none taking more than
    it has (water-filling); the remainder of an uneven split goes to the first classes."""
    quotas = [0] * len(sizes)
    open_classes = [i for i, n in enumerate(sizes) if n > 0]
    left = min(budget, sum(sizes))
    while left > 0 and open_classes:
        share, extra = divmod(left, len(open_classes))
        still_open = []
        for rank, i in enumerate(open_classes):
            want = share + (1 if rank < extra else 0)
            take = min(want, sizes[i] - quotas[i])
            quotas[i] += take
            left -= take
            if quotas[i] < sizes[i]:
                still_open.append(i)
        if len(still_open) == len(open_classes):
            break  # nobody was capped: the budget is spent
        open_classes = still_open
    return quotas


class EpochPlanner:
    """The photo order of every epoch, from the training photos of each set and class."""

    def __init__(self, photos: Sequence[TrainingPhoto], max_per_set: int, seed: int) -> None:
        self.photos = list(photos)
        self.seed = seed
        by_class: dict[tuple[int, int], list[int]] = {}
        for i, photo in enumerate(self.photos):
            by_class.setdefault((photo.set_index, photo.label), []).append(i)
        self.streams: list[tuple[tuple[int, int], np.ndarray, int]] = []
        self._cycles: dict[tuple[int, int], list[np.ndarray]] = {}
        for set_index in sorted({key[0] for key in by_class}):
            keys = sorted(key for key in by_class if key[0] == set_index)
            quotas = class_quotas([len(by_class[k]) for k in keys], max_per_set)
            for key, quota in zip(keys, quotas, strict=True):
                rows = np.asarray(by_class[key], dtype=np.int64)
                self.streams.append((key, rows, quota))

    @property
    def epoch_size(self) -> int:
        """Photos per epoch (the same every epoch)."""
        return sum(quota for _, _, quota in self.streams)

    def _cycle(self, key: tuple[int, int], n: int, quota: int, cycle: int) -> np.ndarray:
        """The class's ``cycle``-th permutation of its ``n`` photos (positions in ``rows``).

        Each is seeded by ``(seed, set, class, cycle)``; then the photos that the previous
        cycle put into the same epoch (when an epoch's share straddles two cycles) are moved
        to its end, so that no photo comes twice in one epoch.
        """
        cycles = self._cycles.setdefault(key, [])
        while len(cycles) <= cycle:
            c = len(cycles)
            order = np.random.default_rng([self.seed, key[0], key[1], c]).permutation(n)
            straddling = (c * n) % quota if c else 0  # previous cycle's photos in that epoch
            if straddling:
                late = np.isin(order, cycles[-1][n - straddling:])
                order = np.concatenate([order[~late], order[late]])
            cycles.append(order)
        return cycles[cycle]

    def _stream(self, key: tuple[int, int], rows: np.ndarray, quota: int, epoch: int
                ) -> np.ndarray:
        """The class's share of ``epoch``: positions ``epoch * quota`` onwards of the endless
        stream of its cycles."""
        n = len(rows)
        start = epoch * quota
        out = np.empty(quota, dtype=np.int64)
        for offset in range(quota):
            cycle, at = divmod(start + offset, n)
            out[offset] = rows[self._cycle(key, n, quota, cycle)[at]]
        return out

    def epoch(self, epoch: int) -> np.ndarray:
        """Indices into ``photos`` of one epoch, shuffled."""
        parts = [self._stream(key, rows, quota, epoch)
                 for key, rows, quota in self.streams if quota]
        chosen = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        shuffle = np.random.default_rng([self.seed, _SHUFFLE, epoch]).permutation(len(chosen))
        return chosen[shuffle]

    def batches(self, epoch: int, batch_size: int) -> list[np.ndarray]:
        """The epoch in batches of ``batch_size`` (a last batch of one photo is dropped:
        BatchNorm statistics need two)."""
        order = self.epoch(epoch)
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        return [b for b in batches if len(b) >= 2]

    def augmentation_seed(self, epoch: int, position: int) -> list[int]:
        """The seed of the augmentation of the photo at ``position`` of ``epoch``."""
        return [self.seed, _AUGMENT, epoch, position]
