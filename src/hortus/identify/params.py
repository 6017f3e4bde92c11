"""The identification request as typed values: query parameters and the organs of the photos.

Every refusal is an :class:`~hortus.errors.InvalidInput` (400) whose message names the
parameter, as Pl@ntNet's validation messages do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hortus.errors import InvalidInput
from hortus.identify.fusion import ORGANS, PRIMARY_ORGANS, SECONDARY_ORGANS

MAX_IMAGES = 5
DEFAULT_NB_RESULTS = 10
MAX_NB_RESULTS = 1000
TYPES = ("kt", "legacy")
DEFAULT_TYPE = "kt"
# The languages Pl@ntNet's API accepts (OpenAPI 2.2.2, parameter ``lang``).
LANGUAGES = (
    "en", "fr", "es", "pt", "de", "it", "ar", "cs", "nl", "sk", "zh", "ru", "tr", "pl", "uk",
    "he", "el", "fi", "id", "ms", "ca", "ja", "hu", "hr", "da", "ro", "bg", "nb", "sl", "sv",
    "et", "eu", "ur", "ml", "cy", "ku", "gl", "eo", "sat", "zh-tw", "pt-br", "hi", "de-at", "sr",
    "zh-hant", "bn", "fa", "be", "oc", "lt", "en-au", "br",
)
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


@dataclass(frozen=True)
class IdentifyOptions:
    """The query parameters of ``/v2/identify/{project}`` (both methods)."""

    include_related_images: bool = False
    no_reject: bool = False
    nb_results: int = DEFAULT_NB_RESULTS
    lang: str = "en"
    type: str = DEFAULT_TYPE
    detailed: bool = False


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = list(params.get(name, ()))
    if len(values) > 1:
        raise InvalidInput(f'"{name}" must be given once.', error="bad parameter")
    return values[0] if values else None


def parse_bool(name: str, raw: str | None, default: bool = False) -> bool:
    """``true``/``false`` (any case, as R's ``TRUE``; also ``1``/``0``); empty means default."""
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInput(f'"{name}" must be a boolean (true or false), not {raw[:40]!r}.',
                       error="bad parameter")


def parse_int(name: str, raw: str | None, *, default: int, minimum: int, maximum: int) -> int:
    """A bounded integer query value."""
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise InvalidInput(f'"{name}" must be an integer, not {raw[:40]!r}.',
                           error="bad parameter") from None
    if not minimum <= value <= maximum:
        raise InvalidInput(f'"{name}" must be between {minimum} and {maximum}.',
                           error="bad parameter")
    return value


def parse_lang(raw: str | None) -> str:
    """One of Pl@ntNet's languages (default ``en``)."""
    if raw is None or raw.strip() == "":
        return "en"
    value = raw.strip().lower()
    if value not in LANGUAGES:
        raise InvalidInput(f'"lang" must be one of {", ".join(LANGUAGES)}.', error="bad parameter")
    return value


def parse_options(params: Mapping[str, Sequence[str]]) -> IdentifyOptions:
    """All identification query parameters from a multi-valued mapping (name → values)."""
    raw_type = _single(params, "type")
    if raw_type not in (None, "") and raw_type not in TYPES:
        raise InvalidInput('"type" must be one of kt, legacy.', error="bad parameter")
    return IdentifyOptions(
        include_related_images=parse_bool("include-related-images",
                                          _single(params, "include-related-images")),
        no_reject=parse_bool("no-reject", _single(params, "no-reject")),
        nb_results=parse_int("nb-results", _single(params, "nb-results"),
                             default=DEFAULT_NB_RESULTS, minimum=1, maximum=MAX_NB_RESULTS),
        lang=parse_lang(_single(params, "lang")),
        type=raw_type or DEFAULT_TYPE,
        detailed=parse_bool("detailed", _single(params, "detailed")),
    )


def check_organs(organs: Sequence[str], image_count: int) -> list[str]:
    """Validate the organs against the photos (``auto`` for each photo when none are given).

    1 to 5 photos; as many organs as photos; each organ known; ``habit``/``other`` only beside
    at least one primary organ (leaf, flower, fruit, bark, auto).
    """
    if image_count == 0:
        raise InvalidInput('"images" is required: send 1 to 5 photos.', error="no image")
    if image_count > MAX_IMAGES:
        raise InvalidInput(f'"images" must contain at most {MAX_IMAGES} photos.',
                           error="too many images")
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
