"""How knowledge-base values read to people: attribute values and language names.

The API answers values as stored (Permapeople's ``"true"``); pages show them as a gardener
would say them (``Edible: yes``).
"""

from __future__ import annotations

from collections.abc import Iterable

# The languages of the starter knowledge base's common names, in English (the pages' language).
# A small explicit table: no locale-data package is a dependency, and these seven are all the
# data has; a code it lacks is shown as the code itself.
LANGUAGE_NAMES = {
    "de": "German", "en": "English", "es": "Spanish", "fr": "French", "it": "Italian",
    "nl": "Dutch", "pt": "Portuguese",
}
ZONE_KEY = "USDA Hardiness zone"
# The attributes a result card shows, in this order, under shorter labels.
CARD_FACTS = (
    ("Edible", "Edible"), ("Light requirement", "Light"), ("Water requirement", "Water"),
    ("Life cycle", "Life cycle"), ("Layer", "Layer"), (ZONE_KEY, "Zones"),
)


def language_name(code: str) -> str:
    """``de`` → ``German``; ``pt-BR`` → ``Portuguese``; an unknown code as given."""
    lowered = code.strip().lower()
    return LANGUAGE_NAMES.get(lowered) or LANGUAGE_NAMES.get(lowered.split("-")[0]) or code


def readable_value(key: str, value: str) -> str:
    """A value as people read it: ``true``/``false`` as ``yes``/``no``, zone ranges with an en
    dash (``4–8``); anything else as stored."""
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return "yes" if lowered == "true" else "no"
    if key == ZONE_KEY:
        return "–".join(part.strip() for part in value.split("-"))
    return value


def readable_attributes(attributes: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Every ``(key, value)`` with its value made readable, in the given order."""
    return [(key, readable_value(key, value)) for key, value in attributes]


def card_facts(attributes: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The few facts a result shows (``[("Edible", "yes"), ("Light", "Full sun"), ...]``),
    for the attributes the plant has."""
    values = dict(attributes)
    return [(label, readable_value(key, values[key]))
            for key, label in CARD_FACTS if values.get(key, "").strip()]
