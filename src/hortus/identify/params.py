"""The rules of an identification request that the query models cannot check alone: how many
photos, and their organs.

Every refusal is an :class:`~hortus.errors.InvalidInput` (400) whose message names the
parameter, as Pl@ntNet's validation messages do. The query parameters themselves are typed in
:mod:`hortus.identify.schemas`.
"""

from __future__ import annotations

from collections.abc import Sequence

from hortus.errors import InvalidInput
from hortus.identify.fusion import ORGANS, PRIMARY_ORGANS, SECONDARY_ORGANS

MAX_IMAGES = 5
DEFAULT_NB_RESULTS = 10


def check_image_count(image_count: int) -> None:
    """1 to 5 photos."""
    if image_count == 0:
        raise InvalidInput('"images" is required: send 1 to 5 photos.', error="no image")
    if image_count > MAX_IMAGES:
        raise InvalidInput(f'"images" must contain at most {MAX_IMAGES} photos.',
                           error="too many images")


def check_organs(organs: Sequence[str], image_count: int) -> list[str]:
    """Validate the organs against the photos (``auto`` for each photo when none are given).

    1 to 5 photos; as many organs as photos; each organ known; ``habit``/``other`` only beside
    at least one primary organ (leaf, flower, fruit, bark, auto).
    """
    check_image_count(image_count)
    cleaned = [organ.strip().lower() for organ in organs]
    if not cleaned:
        return ["auto"] * image_count
    if len(cleaned) != image_count:
        raise InvalidInput(f'"organs" must contain one organ per image ({image_count} images, '
                           f'{len(cleaned)} organs).', error="organ count mismatch")
    for organ in cleaned:
        if organ not in ORGANS:
            raise InvalidInput(f'"organs" must contain only {", ".join(ORGANS)}; '
                               f'{organ[:40]!r} is not an organ.', error="unknown organ")
    if all(organ in SECONDARY_ORGANS for organ in cleaned):
        raise InvalidInput(f'"organs" must contain one of {", ".join(PRIMARY_ORGANS)}; '
                           f'{" and ".join(SECONDARY_ORGANS)} only come beside one.',
                           error="no primary organ")
    return cleaned
